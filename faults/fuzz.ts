/**
 * API fuzzing against a running edge, driven by the OpenAPI document it serves
 * (/openapi.json) and the request schemas in it (faults/fuzz-requests.ts builds the
 * requests with fast-check). Each answer is checked:
 *
 *   - never a 5xx, never a dropped connection;
 *   - every 4xx is application/problem+json with type, title, status and detail;
 *   - a rejected write (a 4xx to anything but GET) changes nothing (faults/state.ts:
 *     row counts, the fixture's rows and its Redis counters before and after).
 *
 * The requests come from one seed: the same seed and run count send the same requests
 * (request i is reproducible). Shared by test/fuzz.test.ts (a short run) and
 * `npm run fuzz` (faults/fuzz-run.ts, long, printing its seed).
 */
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { Api } from '../test/support/api.js';
import { diff, settled, StateProbe, type Fingerprint } from './state.js';
import { requestsFor, routesOf, type FuzzFixture, type FuzzRequest, type OpenApiDoc } from './fuzz-requests.js';

export interface FuzzOptions {
  baseUrl: string;
  fixture: FuzzFixture;
  probe: StateProbe;
  runs: number;
  seed: number;
  /** Per request. */
  timeoutMs?: number;
  /** Called every `every` requests with progress. */
  progress?: (done: number, violations: number) => void;
}

export interface Violation { index: number; rule: string; detail: string; status: number; request: FuzzRequest }

export interface FuzzReport {
  seed: number;
  runs: number;
  ms: number;
  /** Operations of the document, and how many got at least one request. */
  routes: number;
  routesCovered: number;
  /** Answers by status class. */
  statuses: Record<string, number>;
  /** Requests by body kind. */
  bodies: Record<string, number>;
  violations: Violation[];
}

interface Answer { status: number; contentType: string; text: string }

async function send(baseUrl: string, request: FuzzRequest, timeoutMs: number): Promise<Answer> {
  const res = await fetch(baseUrl + request.url, {
    method: request.method, headers: request.headers, body: request.body, signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** What is wrong with a 4xx answer's body, if anything: it must be RFC 9457 problem+json. */
export function problemDefect(answer: Answer): string | undefined {
  if (!answer.contentType.startsWith('application/problem+json')) return `content-type ${answer.contentType || '(none)'}`;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(answer.text) as Record<string, unknown>;
  } catch {
    return 'body is not JSON';
  }
  for (const field of ['type', 'title', 'detail'] as const) if (typeof body[field] !== 'string') return `no ${field}`;
  if (body.status !== answer.status) return `status ${String(body.status)} in the body`;
  return undefined;
}

const short = (request: FuzzRequest): FuzzRequest => ({
  ...request,
  url: request.url.length > 300 ? `${request.url.slice(0, 300)}…` : request.url,
  ...(request.body !== undefined ? { body: request.body.length > 300 ? `${request.body.slice(0, 300)}… (${request.body.length} chars)` : request.body } : {}),
  headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, k === 'authorization' ? `${v.slice(0, 20)}…` : v.slice(0, 120)])),
});

export async function fetchOpenApi(baseUrl: string): Promise<OpenApiDoc> {
  const res = await fetch(`${baseUrl}/openapi.json`);
  if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
  return await res.json() as OpenApiDoc;
}

export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const doc = await fetchOpenApi(options.baseUrl);
  const requests = fc.sample(requestsFor(doc, options.fixture), { seed: options.seed, numRuns: options.runs });
  const report: FuzzReport = {
    seed: options.seed, runs: options.runs, ms: 0, routes: routesOf(doc).length, routesCovered: 0, statuses: {}, bodies: {}, violations: [],
  };
  const covered = new Set<string>();
  let state: Fingerprint = await settled(options.probe);
  for (const [index, request] of requests.entries()) {
    covered.add(request.route);
    report.bodies[request.bodyKind] = (report.bodies[request.bodyKind] ?? 0) + 1;
    const violation = (rule: string, detail: string, status: number) => report.violations.push({ index, rule, detail, status, request: short(request) });
    let answer: Answer;
    try {
      answer = await send(options.baseUrl, request, options.timeoutMs ?? 10_000);
    } catch (error) {
      violation('answered', `no answer: ${(error as Error).message}`, 0);
      state = await settled(options.probe);
      continue;
    }
    const klass = `${Math.floor(answer.status / 100)}xx`;
    report.statuses[klass] = (report.statuses[klass] ?? 0) + 1;
    if (answer.status >= 500) violation('no-5xx', answer.text.slice(0, 300), answer.status);
    if (answer.status >= 400 && answer.status < 500) {
      const defect = problemDefect(answer);
      if (defect) violation('problem+json', defect, answer.status);
    }
    if (request.method === 'GET') {
      // reads change nothing; a settled state stays the baseline
    } else if (answer.status >= 400 && answer.status < 500) {
      const after = await options.probe.capture();
      const changed = diff(state, after);
      if (changed.length > 0) {
        violation('rejected-write-changes-nothing', `changed: ${changed.join(', ')}`, answer.status);
        state = await settled(options.probe);
      }
    } else {
      state = await settled(options.probe); // an accepted write: wait for its effects to land
    }
    if (options.progress && (index + 1) % 250 === 0) options.progress(index + 1, report.violations.length);
  }
  report.routesCovered = covered.size;
  report.ms = Date.now() - started;
  return report;
}

/* ------------------------------------------------------------------ fixture */

export interface Fixture { fuzz: FuzzFixture; scope: { productIds: string[]; userIds: string[] } }

/**
 * What the requests aim at: two customers (one with an order and a cart), a seller with
 * a product and a pending media upload, and an admin's product on a live flash sale.
 */
export async function createFixture(api: Api, adminToken: string, adminId: string): Promise<Fixture> {
  const [customer, other, seller] = await Promise.all([api.newUser(), api.newUser(), api.newUser('seller')]);
  const sellerProduct = await api.createProduct(seller.token, 1_000);
  const saleProduct = await api.createProduct(adminToken, 1_000);
  const saleId = await api.createSale(adminToken, saleProduct, 500, 5);
  const order = await api.order(customer.token, sellerProduct, 1, randomUUID());
  if (order.status !== 202) throw new Error(`fixture order: ${order.status} ${JSON.stringify(order.body)}`);
  const cart = await api.request<{ cart: { cartId: string } }>('POST', '/v1/cart', { token: customer.token, body: { productId: saleProduct, quantity: 1 } });
  const media = await api.request<{ mediaId: string }>('POST', `/v1/products/${sellerProduct}/media`, {
    token: seller.token, body: { contentType: 'image/png', bytes: 1_000, fileName: 'a.png' },
  });
  const ids: Record<string, string[]> = {
    productId: [sellerProduct, saleProduct], flashSaleId: [saleId], orderId: [String(order.body.orderId)],
    userId: [customer.userId, other.userId, seller.userId], file: ['app.js', 'app.css', 'index.html'],
  };
  if (cart.body?.cart?.cartId) ids.cartId = [cart.body.cart.cartId];
  if (media.body?.mediaId) ids.mediaId = [media.body.mediaId];
  return {
    fuzz: {
      callers: { customer, 'other-customer': other, seller, admin: { token: adminToken, userId: adminId } },
      ids,
    },
    scope: { productIds: [sellerProduct, saleProduct], userIds: [customer.userId, other.userId, seller.userId, adminId] },
  };
}
