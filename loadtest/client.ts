/**
 * The Node driver's setup, over the public HTTP contract only (API.md): admin login,
 * the scenario's products and flash sales, buyers registered and signed in, and a probe
 * of each route the mix uses (a route the edge does not have yet answers "No route for").
 */
import { randomUUID } from 'node:crypto';
import { isMissingRoute, probeRequest, problemType, type Action, type Fixture, type Scenario } from './shared/scenario.js';

export interface Answer { status: number; text: string; json: Record<string, unknown> }

export async function call(baseUrl: string, method: string, path: string, options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(baseUrl + path, { method, headers, body: payload });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

/** Setup cannot go on: the server throttles sign-in from this one address (its RATE_LIMIT_PER_IP). */
export class SignInThrottledError extends Error {
  constructor(what: string, answer: Answer, buyers: number) {
    super(`${what}: 429 rate-limited (${String(answer.json.detail ?? answer.text.slice(0, 200))}). The server throttles sign-in `
      + `per client address (RATE_LIMIT_PER_IP, 120 a minute unless set), and setup registers and signs in ${buyers} buyers `
      + 'from this one address: start the stack with RATE_LIMIT_PER_IP=0 for load tests (e.g. `RATE_LIMIT_PER_IP=0 npm start`), '
      + 'or run fewer --buyers. Orders are limited per buyer, never per address, so the answers are the same as a crowd\'s.');
  }
}

function expect(answer: Answer, status: number, what: string, buyers = 0): Answer {
  if (answer.status === 429 && problemType(answer.text) === 'rate-limited') throw new SignInThrottledError(what, answer, buyers);
  if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 300)}`);
  return answer;
}

/** Runs `task` for 0..count-1, `concurrency` at a time; after a failure no new task starts. */
async function inParallel<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  let failed = false;
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count && !failed) {
      const i = next++;
      try {
        results[i] = await task(i);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  }));
  return results;
}

export async function login(baseUrl: string, email: string, password: string, buyers = 0): Promise<{ token: string; userId: string }> {
  const answer = expect(await call(baseUrl, 'POST', '/v1/users/login', { body: { email, password } }), 200, `login ${email}`, buyers);
  return { token: String(answer.json.token), userId: String(answer.json.userId) };
}

/** Creates what the scenario needs, as the admin whose token is given: buyers (`lt-<run>-<i>@loadtest.example`), then products and sales. */
export async function createFixture(baseUrl: string, scenario: Scenario, token: string, buyers: number,
  log: (message: string) => void): Promise<Fixture> {
  const run = randomUUID().slice(0, 8);
  const fixture: Fixture = { products: {}, sales: {}, buyers: [], missingRoutes: [] };
  // Buyers first: a setup that fails there (sign-in throttled, say) leaves no sale behind, and the sales open just before the load.
  const started = Date.now();
  fixture.buyers = await inParallel(buyers, 16, async (i) => {
    const email = `lt-${run}-${i}@loadtest.example`;
    const password = `load-test-${run}`;
    expect(await call(baseUrl, 'POST', '/v1/users/register', { body: { name: `Buyer ${i}`, email, password } }), 201, `register buyer ${i + 1} of ${buyers}`, buyers);
    return login(baseUrl, email, password, buyers);
  });
  log(`${fixture.buyers.length} buyers registered and signed in in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  for (const spec of scenario.products) {
    const ids: string[] = [];
    for (let i = 0; i < (spec.count ?? 1); i++) {
      const words = spec.words ?? [spec.key];
      const created = expect(await call(baseUrl, 'POST', '/v1/products', {
        token, body: {
          name: `${words[i % words.length]} ${spec.key} ${run}-${i}`, description: `Load test ${scenario.name} (${words.join(', ')})`,
          priceCents: spec.priceCents, stock: spec.stock, category: spec.category ?? 'loadtest',
        },
      }), 201, 'create product');
      const productId = String(created.json.productId);
      ids.push(productId);
      if (spec.sale) {
        const startsAt = new Date(Date.now() - 1_000);
        const endsAt = new Date(startsAt.getTime() + (spec.sale.minutes ?? 60) * 60_000);
        const sale = expect(await call(baseUrl, 'POST', '/v1/flash-sales', {
          token, body: { productId, quantity: spec.sale.quantity, perUserLimit: spec.sale.perUserLimit, priceCents: spec.sale.priceCents,
            startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString() },
        }), 201, 'create flash sale');
        fixture.sales[productId] = String(sale.json.flashSaleId);
      }
    }
    fixture.products[spec.key] = ids;
  }
  fixture.missingRoutes = await missingRoutes(baseUrl, scenario, fixture);
  if (fixture.missingRoutes.length > 0) log(`routes missing on this server (their 404s are counted apart): ${fixture.missingRoutes.join(', ')}`);
  return fixture;
}

async function missingRoutes(baseUrl: string, scenario: Scenario, fixture: Fixture): Promise<Action[]> {
  const buyer = fixture.buyers[0] ?? { userId: randomUUID(), token: '' };
  const missing: Action[] = [];
  for (const action of new Set(scenario.mix.map((m) => m.action))) {
    const request = probeRequest(action, fixture, buyer);
    const answer = await call(baseUrl, request.method, request.path, {
      token: buyer.token, raw: request.body, headers: request.idempotent ? { 'idempotency-key': `probe-${randomUUID()}` } : {},
    });
    if (isMissingRoute(answer.status, answer.text)) missing.push(action);
  }
  return missing;
}
