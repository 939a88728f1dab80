/**
 * What the k6 scripts share: options built from a scenario data file (a
 * ramping-arrival-rate executor and the file's thresholds), setup() (admin login,
 * products and flash sales, buyers registered and signed in, missing routes probed),
 * one iteration of the mix with its check, and handleSummary (JSON + a short report).
 * Runs under k6 only (`k6 run loadtest/k6/<scenario>.ts`); typechecked against @types/k6.
 */
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import type { Options } from 'k6/options';
import {
  buildRequest, classify, expectedStatuses, formatReport, isMissingRoute, pickWeighted, probeRequest, problemType, scaleArrival, seconds,
  withProfile, type Action, type Fixture, type Profile, type Scenario, type SummaryMetric,
} from '../shared/scenario.ts';

export const BASE_URL = (__ENV.BASE_URL ?? 'http://localhost:8080').replace(/\/$/, '');
const SUMMARY_DIR = __ENV.SUMMARY_DIR ?? 'artifacts/loadtest';

const ordersAccepted = new Counter('orders_accepted');
const soldOut = new Counter('sold_out');
const limitExceeded = new Counter('limit_exceeded');
const rateLimited = new Counter('rate_limited');
const missingRoute = new Counter('missing_route');

const JSON_HEADERS = { 'content-type': 'application/json' };

/** k6 provides console; @types/k6 does not declare it. */
declare const console: { warn(...message: unknown[]): void };

/** The scenario as `-e PROFILE=NAME` runs it (thresholds merged) and that profile's defaults. */
export function profiled(data: Scenario): { scenario: Scenario; profile: Profile } {
  return withProfile(data, __ENV.PROFILE);
}

/** k6 options from the data file and the profile; DURATION, RATE_SCALE override the arrival profile. */
export function optionsFor({ scenario, profile }: { scenario: Scenario; profile: Profile }): Options {
  const duration = __ENV.DURATION ?? profile.duration;
  const arrival = scaleArrival(scenario.arrival, duration ? seconds(duration) : undefined, Number(__ENV.RATE_SCALE ?? profile.rateScale ?? 1));
  return {
    scenarios: {
      [scenario.name]: {
        executor: 'ramping-arrival-rate',
        startRate: arrival.startRate,
        timeUnit: arrival.timeUnit,
        preAllocatedVUs: arrival.preAllocatedVUs,
        maxVUs: arrival.maxVUs,
        stages: arrival.stages,
      },
    },
    thresholds: scenario.thresholds,
    setupTimeout: '10m',
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  };
}

function post(path: string, body: unknown, token?: string) {
  return http.post(`${BASE_URL}${path}`, JSON.stringify(body), {
    headers: token ? { ...JSON_HEADERS, authorization: `Bearer ${token}` } : JSON_HEADERS,
    tags: { name: `setup ${path}` },
  });
}

function json(res: { status: number; body: string | ArrayBuffer | null }, status: number, what: string): Record<string, unknown> {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${String(res.body).slice(0, 200)}`);
  return JSON.parse(String(res.body)) as Record<string, unknown>;
}

/** setup(): the buyers signed in (BUYERS, then the profile's, override the count), then the scenario's products and sales. */
export function setupFixture({ scenario, profile }: { scenario: Scenario; profile: Profile }): Fixture {
  const adminEmail = __ENV.ADMIN_EMAIL ?? 'admin@example.com';
  const admin = String(json(post('/v1/users/login', { email: adminEmail, password: __ENV.ADMIN_PASSWORD ?? '' }), 200, 'admin login').token);
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const fixture: Fixture = { products: {}, sales: {}, buyers: [], missingRoutes: [] };
  // Buyers first: a setup that fails there leaves no sale behind, and the sales open just before the load.
  const buyers = Number(__ENV.BUYERS ?? profile.buyers ?? scenario.buyers);
  const password = `load-test-${run}`;
  for (let from = 0; from < buyers; from += 20) {
    const emails = Array.from({ length: Math.min(20, buyers - from) }, (_, i) => `lt-${run}-${from + i}@loadtest.example`);
    const registered = http.batch(emails.map((email, i) => ({
      method: 'POST', url: `${BASE_URL}/v1/users/register`, body: JSON.stringify({ name: `Buyer ${from + i}`, email, password }),
      params: { headers: JSON_HEADERS, tags: { name: 'setup register' } },
    })));
    registered.forEach((res, i) => json(res, 201, `register ${emails[i]} (set RATE_LIMIT_PER_IP=0 on the server)`));
    const logins = http.batch(emails.map((email) => ({
      method: 'POST', url: `${BASE_URL}/v1/users/login`, body: JSON.stringify({ email, password }),
      params: { headers: JSON_HEADERS, tags: { name: 'setup login' } },
    })));
    logins.forEach((res) => {
      const body = json(res, 200, 'buyer login (set RATE_LIMIT_PER_IP=0 on the server)');
      fixture.buyers.push({ userId: String(body.userId), token: String(body.token) });
    });
  }
  for (const spec of scenario.products) {
    const ids: string[] = [];
    for (let i = 0; i < (spec.count ?? 1); i++) {
      const words = spec.words ?? [spec.key];
      const productId = String(json(post('/v1/products', {
        name: `${words[i % words.length]} ${spec.key} ${run}-${i}`, description: `Load test ${scenario.name} (${words.join(', ')})`,
        priceCents: spec.priceCents, stock: spec.stock, category: spec.category ?? 'loadtest',
      }, admin), 201, 'create product').productId);
      ids.push(productId);
      if (spec.sale) {
        const startsAt = new Date(Date.now() - 1_000);
        const endsAt = new Date(startsAt.getTime() + (spec.sale.minutes ?? 60) * 60_000);
        fixture.sales[productId] = String(json(post('/v1/flash-sales', {
          productId, quantity: spec.sale.quantity, perUserLimit: spec.sale.perUserLimit, priceCents: spec.sale.priceCents,
          startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString(),
        }, admin), 201, 'create flash sale').flashSaleId);
      }
    }
    fixture.products[spec.key] = ids;
  }
  const probeBuyer = fixture.buyers[0] ?? { userId: '00000000-0000-4000-8000-000000000000', token: '' };
  for (const action of new Set(scenario.mix.map((m) => m.action))) {
    const request = probeRequest(action, fixture, probeBuyer);
    const res = http.request(request.method, `${BASE_URL}${request.path}`, request.body ?? null, {
      headers: { ...JSON_HEADERS, authorization: `Bearer ${probeBuyer.token}`, 'idempotency-key': `probe-${run}-${action}` },
      tags: { name: `probe ${action}` }, responseCallback: http.expectedStatuses({ min: 200, max: 499 }),
    });
    if (isMissingRoute(res.status, String(res.body))) fixture.missingRoutes.push(action);
  }
  if (fixture.missingRoutes.length > 0) console.warn(`routes missing on this server (their 404s are counted apart): ${fixture.missingRoutes.join(', ')}`);
  return fixture;
}

/** One arrival: a request of the mix by the next buyer, checked. */
export function iteration(scenario: Scenario, fixture: Fixture): void {
  const n = exec.scenario.iterationInTest;
  const buyer = fixture.buyers[n % fixture.buyers.length]!;
  const request = buildRequest(scenario, fixture, pickWeighted(scenario.mix, Math.random()), buyer, Math.random);
  const headers: Record<string, string> = { authorization: `Bearer ${buyer.token}` };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  if (request.idempotent) headers['idempotency-key'] = `k6-${exec.vu.idInTest}-${n}-${Date.now()}`;
  const res = http.request(request.method, `${BASE_URL}${request.path}`, request.body ?? null, {
    headers, tags: { name: request.action, action: request.action },
    responseCallback: http.expectedStatuses(...expectedStatuses(scenario)),
  });
  count(scenario, fixture, request.action, res.status, String(res.body ?? ''));
}

function count(scenario: Scenario, fixture: Fixture, action: Action, status: number, body: string): void {
  const kind = classify(scenario, fixture, action, status, body);
  if (kind === 'rate-limited') rateLimited.add(1);
  else if (kind === 'missing-route') missingRoute.add(1);
  else check(status, { [`${action}: ${(scenario.answers[action] ?? ['200']).join(' | ')}`]: () => kind === 'pass' });
  if (status === 202) ordersAccepted.add(1);
  else if (problemType(body) === 'sold-out') soldOut.add(1);
  else if (problemType(body) === 'limit-exceeded') limitExceeded.add(1);
}

export interface K6Summary { metrics: Record<string, SummaryMetric> }

/** handleSummary(): the JSON summary and the short report, to SUMMARY_DIR and stdout. */
export function summaryFor(scenario: Scenario, data: K6Summary): Record<string, string> {
  const report = formatReport(`${scenario.name} (k6) against ${BASE_URL}`, data.metrics, null,
    'invariants: run `npm run loadtest -- check` where Postgres and Redis are reachable');
  return {
    stdout: report,
    [`${SUMMARY_DIR}/${scenario.name}-k6-summary.json`]: JSON.stringify(data, null, 2),
    [`${SUMMARY_DIR}/${scenario.name}-k6-summary.txt`]: report,
  };
}
