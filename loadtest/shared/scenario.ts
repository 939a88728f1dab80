/**
 * What both drivers (the k6 scripts and the Node driver on autocannon) share: the shape
 * of a scenario data file (loadtest/scenarios/*.json), request building, answer checks,
 * thresholds in k6's syntax, and the short human-readable report. Plain TypeScript with
 * no imports, so k6 and Node load the same code.
 */

export interface ProductSpec {
  /** Name the mix refers to. */
  key: string;
  /** How many products of this kind (default 1). */
  count?: number;
  stock: number;
  priceCents: number;
  category?: string;
  /** Words for names, so search finds them. */
  words?: string[];
  /** A live flash sale on each product of this kind. */
  sale?: { quantity: number; perUserLimit: number; priceCents: number; minutes?: number };
}

export interface Stage { duration: string; target: number }

export interface Arrival {
  /** Requests per timeUnit at the start, then linear ramps to each stage's target (k6's ramping-arrival-rate). */
  startRate: number;
  timeUnit: string;
  preAllocatedVUs: number;
  maxVUs: number;
  stages: Stage[];
}

export type Action = 'order' | 'catalog' | 'search' | 'product' | 'cart-add' | 'cart-view' | 'checkout';

export interface MixEntry { action: Action; weight: number; product?: string; quantity?: number }

/**
 * A named variant of a scenario (`--profile NAME`, k6 `-e PROFILE=NAME`): defaults for the
 * run's options (a command-line option still wins) and thresholds that replace the
 * scenario's, metric by metric.
 */
export interface Profile {
  description?: string;
  duration?: string;
  rateScale?: number;
  buyers?: number;
  thresholds?: Record<string, string[]>;
}

export interface Scenario {
  name: string;
  description: string;
  buyers: number;
  products: ProductSpec[];
  arrival: Arrival;
  mix: MixEntry[];
  /** Per action, the answers that pass the check: "202", or "409 sold-out" (status and problem type). */
  answers: Partial<Record<Action, string[]>>;
  /** k6 thresholds: metric -> expressions such as "p(95)<300", "rate<0.01", "count>0". */
  thresholds: Record<string, string[]>;
  searchTerms?: string[];
  profiles?: Record<string, Profile>;
}

/** The products a run created: key -> ids, and each id's sale (if any). */
export interface Fixture {
  products: Record<string, string[]>;
  sales: Record<string, string>;
  buyers: { userId: string; token: string }[];
  /** Routes that answered the router's "No route for" 404 when probed: their 404s are tolerated. */
  missingRoutes: Action[];
}

export interface Request { method: 'GET' | 'POST'; path: string; body?: string; idempotent: boolean; action: Action }

export const SHIPPING_ADDRESS = { name: 'Load Tester', line1: '1 Bench Street', city: 'Springfield', postalCode: '12345', country: 'US' };

/* ----------------------------------------------------------------- durations */

/** "90s", "2m", "1h30m", "500ms" -> seconds. */
export function seconds(duration: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let matched = '';
  for (let m = re.exec(duration); m; m = re.exec(duration)) {
    matched += m[0];
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : n * 3600;
  }
  if (matched !== duration.trim() || matched === '') throw new Error(`not a duration: "${duration}" (use e.g. 30s, 2m, 1h)`);
  return total;
}

export function totalSeconds(stages: Stage[]): number {
  return stages.reduce((sum, s) => sum + seconds(s.duration), 0);
}

/** The same arrival profile squeezed or stretched to `totalS` seconds, its rates times `rateScale`. */
export function scaleArrival(arrival: Arrival, totalS?: number, rateScale = 1): Arrival {
  const factor = totalS ? totalS / totalSeconds(arrival.stages) : 1;
  return {
    ...arrival,
    startRate: Math.round(arrival.startRate * rateScale),
    stages: arrival.stages.map((s) => ({
      duration: `${Math.max(1, Math.round(seconds(s.duration) * factor))}s`, target: Math.round(s.target * rateScale),
    })),
  };
}

/** The scenario as a profile runs it (its thresholds merged in), and the profile's option defaults. */
export function withProfile(scenario: Scenario, name?: string): { scenario: Scenario; profile: Profile } {
  if (!name) return { scenario, profile: {} };
  const profile = scenario.profiles?.[name];
  if (!profile) {
    throw new Error(`scenario ${scenario.name} has no profile "${name}" (it has: ${Object.keys(scenario.profiles ?? {}).join(', ') || 'none'})`);
  }
  return { scenario: { ...scenario, thresholds: { ...scenario.thresholds, ...profile.thresholds } }, profile };
}

/* --------------------------------------------------------- picking requests */

export function pickWeighted(mix: MixEntry[], r: number): MixEntry {
  const total = mix.reduce((sum, m) => sum + m.weight, 0);
  let at = r * total;
  for (const entry of mix) {
    at -= entry.weight;
    if (at < 0) return entry;
  }
  return mix[mix.length - 1]!;
}

function pick<T>(items: T[], r: number): T {
  return items[Math.min(items.length - 1, Math.floor(r * items.length))]!;
}

function productOf(fixture: Fixture, entry: MixEntry, r: number): string {
  const ids = fixture.products[entry.product ?? ''] ?? Object.values(fixture.products).flat();
  if (ids.length === 0) throw new Error(`no product for mix entry ${entry.action} (${entry.product ?? 'any'})`);
  return pick(ids, r);
}

/** One request of the mix, for a buyer; `r` draws random numbers in [0, 1). */
export function buildRequest(scenario: Scenario, fixture: Fixture, entry: MixEntry, buyer: { userId: string }, r: () => number): Request {
  const quantity = entry.quantity ?? 1;
  switch (entry.action) {
    case 'order':
    case 'checkout':
      return {
        method: 'POST', path: '/v1/orders', idempotent: true, action: entry.action,
        body: JSON.stringify({ items: [{ productId: productOf(fixture, entry, r()), quantity }], paymentMethod: 'pm_card_visa', shippingAddress: SHIPPING_ADDRESS }),
      };
    case 'catalog':
      return { method: 'GET', path: `/v1/products?page=${1 + Math.floor(r() * 3)}&limit=20`, idempotent: false, action: entry.action };
    case 'search': {
      const term = pick(scenario.searchTerms ?? ['deal'], r());
      return { method: 'GET', path: `/v1/products/search?term=${encodeURIComponent(term)}`, idempotent: false, action: entry.action };
    }
    case 'product':
      return { method: 'GET', path: `/v1/products/${productOf(fixture, entry, r())}`, idempotent: false, action: entry.action };
    case 'cart-add':
      return {
        method: 'POST', path: '/v1/cart', idempotent: false, action: entry.action,
        body: JSON.stringify({ productId: productOf(fixture, entry, r()), quantity }),
      };
    case 'cart-view':
      return { method: 'GET', path: `/v1/cart/${buyer.userId}`, idempotent: false, action: entry.action };
  }
}

/** The request each action's route is probed with at setup (does the route exist?). */
export function probeRequest(action: Action, fixture: Fixture, buyer: { userId: string }): Request {
  const product = Object.values(fixture.products).flat()[0] ?? '00000000-0000-4000-8000-000000000000';
  const scenario: Scenario = { name: 'probe', description: '', buyers: 0, products: [], arrival: { startRate: 0, timeUnit: '1s', preAllocatedVUs: 0, maxVUs: 0, stages: [] }, mix: [], answers: {}, thresholds: {} };
  const probeFixture: Fixture = { ...fixture, products: { probe: [product] } };
  const request = buildRequest(scenario, probeFixture, { action, weight: 1, product: 'probe' }, buyer, () => 0);
  // Probing must not buy anything: an order route is probed with an empty body (a 400 proves it exists).
  return request.action === 'order' || request.action === 'checkout' ? { ...request, body: '{}' } : request;
}

/** A "No route for ..." 404 of the edge's router: the route does not exist (yet). */
export function isMissingRoute(status: number, body: string): boolean {
  return status === 404 && /"detail":"No route for /.test(body);
}

/* ------------------------------------------------------------------- checks */

export type AnswerClass = 'pass' | 'fail' | 'rate-limited' | 'missing-route';

export function problemType(body: string): string {
  const match = /"type":"[^"]*?([\w-]+)"/.exec(body);
  return match ? match[1]! : '';
}

/** Classifies one answer: passes the action's check, fails it, or is counted apart. */
export function classify(scenario: Scenario, fixture: Fixture, action: Action, status: number, body: string): AnswerClass {
  if (status === 429 && problemType(body) === 'rate-limited') return 'rate-limited';
  if (fixture.missingRoutes.includes(action) && isMissingRoute(status, body)) return 'missing-route';
  const expected = scenario.answers[action] ?? ['200'];
  const type = status >= 400 ? problemType(body) : '';
  return expected.some((e) => {
    const [code, slug] = e.split(' ');
    return Number(code) === status && (slug === undefined || slug === type);
  }) ? 'pass' : 'fail';
}

/** Statuses that do not count as failed requests (k6's http_req_failed): every status the answers name. */
export function expectedStatuses(scenario: Scenario): number[] {
  const all = Object.values(scenario.answers).flat().map((e) => Number(e!.split(' ')[0]));
  return [...new Set([200, ...all])];
}

/* -------------------------------------------------------------- thresholds */

export type MetricValues = Record<string, number>;

export interface SummaryMetric { type: 'trend' | 'rate' | 'counter'; values: MetricValues; thresholds?: Record<string, { ok: boolean }> }

/** Evaluates one k6 threshold expression ("p(95)<300", "rate<0.01", "count>=1") against a metric's values. */
export function thresholdOk(expression: string, values: MetricValues): boolean {
  const match = /^\s*([\w().]+)\s*(<=|>=|==|!=|<|>)\s*(-?[\d.]+)\s*$/.exec(expression);
  if (!match) throw new Error(`unsupported threshold "${expression}"`);
  const value = values[match[1]!];
  if (value === undefined) throw new Error(`threshold "${expression}": the metric has no "${match[1]}"`);
  const bound = Number(match[3]);
  switch (match[2]) {
    case '<': return value < bound;
    case '<=': return value <= bound;
    case '>': return value > bound;
    case '>=': return value >= bound;
    case '==': return value === bound;
    default: return value !== bound;
  }
}

/** Adds threshold results to the metrics (in place) and says whether all passed. */
export function applyThresholds(thresholds: Record<string, string[]>, metrics: Record<string, SummaryMetric>): boolean {
  let ok = true;
  for (const [name, expressions] of Object.entries(thresholds)) {
    const metric = metrics[name] ?? { type: 'counter' as const, values: { count: 0, rate: 0 } };
    metrics[name] = metric;
    metric.thresholds = {};
    for (const expression of expressions) {
      const passed = thresholdOk(expression, metric.values);
      metric.thresholds[expression] = { ok: passed };
      ok &&= passed;
    }
  }
  return ok;
}

/** Trend values from raw samples (ms), with the percentiles k6 reports plus p(95) and p(99). */
export function trendValues(samples: number[]): MetricValues {
  if (samples.length === 0) return { avg: 0, min: 0, med: 0, max: 0, 'p(90)': 0, 'p(95)': 0, 'p(99)': 0 };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { avg: sum / sorted.length, min: sorted[0]!, med: at(0.5), max: sorted[sorted.length - 1]!, 'p(90)': at(0.9), 'p(95)': at(0.95), 'p(99)': at(0.99) };
}

/* ------------------------------------------------------------------ report */

export interface InvariantLine { name: string; ok: boolean; detail: string }

/** The short human-readable report both drivers print and write. */
export function formatReport(title: string, metrics: Record<string, SummaryMetric>, invariants?: InvariantLine[] | null, note?: string): string {
  const lines = [`${title}`, ''];
  const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 3 : 1));
  const names = Object.keys(metrics).sort();
  for (const name of names) {
    const m = metrics[name]!;
    const values = m.type === 'trend'
      ? ['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'].filter((k) => k in m.values).map((k) => `${k}=${fmt(m.values[k]!)}ms`)
      : Object.entries(m.values).map(([k, v]) => `${k}=${fmt(v)}`);
    lines.push(`  ${name.padEnd(22)} ${values.join(' ')}`);
    for (const [expression, result] of Object.entries(m.thresholds ?? {})) {
      lines.push(`    ${result.ok ? 'ok  ' : 'FAIL'} threshold ${expression}`);
    }
  }
  if (invariants) {
    lines.push('', '  invariants (DESIGN.md 1, 2, 4, 5):');
    for (const inv of invariants) lines.push(`    ${inv.ok ? 'ok  ' : 'FAIL'} ${inv.name}: ${inv.detail}`);
  }
  if (note) lines.push('', `  ${note}`);
  const failed = Object.values(metrics).some((m) => Object.values(m.thresholds ?? {}).some((t) => !t.ok)) || (invariants ?? []).some((i) => !i.ok);
  lines.push('', failed ? 'RESULT: FAILED' : 'RESULT: PASSED', '');
  return lines.join('\n');
}
