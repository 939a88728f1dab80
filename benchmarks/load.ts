/**
 * The load every flash benchmark target gets: autocannon, N connections for D seconds,
 * POST /v1/orders with the real body, a fresh Idempotency-Key per request and a buyer
 * token rotating over the buyers. The same generator drives the pipeline, the baseline
 * and the ceiling, so the client costs the same for each.
 */
import autocannon from 'autocannon';

export interface Buyer { userId: string; token: string }

export interface LoadSpec {
  name: string;
  url: string;
  connections: number;
  durationS: number;
  /** Stop after this many requests instead of after `durationS`. */
  amount?: number;
  buyers: Buyer[];
  productId: string;
  /** Prefix of every Idempotency-Key of this run (keys are `${keyPrefix}-${n}`). */
  keyPrefix: string;
  /**
   * Send one constant request (first buyer, one key) instead: no per-request rebuild in the
   * client. Only for targets that ignore the headers (the ceiling), to show the client's cost.
   */
  constant?: boolean;
}

export interface LoadResult {
  name: string;
  durationS: number;
  requests: number;
  accepted: number;
  non202: number;
  byStatus: Record<string, number>;
  errors: number;
  timeouts: number;
  ordersPerSec: number;
  requestsPerSec: number;
  /** Latency of every answered request (202 or not), ms. */
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** Sequence numbers n of the requests answered 202: buyer n % buyers, key `${keyPrefix}-${n}`. */
  acceptedSeq: number[];
}

export const SHIPPING = { name: 'Ada Buyer', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' };

export function orderBody(productId: string): string {
  return JSON.stringify({ items: [{ productId, quantity: 1 }], paymentMethod: 'pm_card_visa', shippingAddress: SHIPPING });
}

interface Ctx { n?: number }

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const body = Buffer.from(orderBody(spec.productId));
  const auth = spec.buyers.map((b) => `Bearer ${b.token}`);
  const acceptedSeq: number[] = [];
  let seq = 0;
  const started = Date.now();
  const constant: autocannon.Request = {
    method: 'POST', path: '/v1/orders', body,
    headers: { 'content-type': 'application/json', authorization: auth[0]!, 'idempotency-key': `${spec.keyPrefix}-constant` },
  };
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.durationS,
    ...(spec.amount ? { amount: spec.amount } : {}),
    timeout: 10,
    requests: spec.constant ? [constant] : [{
      method: 'POST',
      path: '/v1/orders',
      headers: { 'content-type': 'application/json' },
      body,
      setupRequest: (request, context) => {
        const n = seq++;
        (context as Ctx).n = n;
        // autocannon hands a fresh headers object to every call: set the two varying headers in place.
        const headers = request.headers!;
        headers.authorization = auth[n % auth.length]!;
        headers['idempotency-key'] = `${spec.keyPrefix}-${n}`;
        return request;
      },
      onResponse: (status, _body, context) => {
        if (status === 202) acceptedSeq.push((context as Ctx).n!);
      },
    }],
  });
  const elapsedS = (Date.now() - started) / 1000;
  const byStatus: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) byStatus[code] = stat.count ?? 0;
  const answered = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const accepted = byStatus['202'] ?? 0;
  if (!spec.constant && accepted !== acceptedSeq.length) throw new Error(`autocannon counted ${accepted} 202s but onResponse saw ${acceptedSeq.length}`);
  const durationS = result.duration || elapsedS;
  return {
    name: spec.name,
    durationS,
    requests: answered,
    accepted,
    non202: answered - accepted,
    byStatus,
    errors: result.errors,
    timeouts: result.timeouts,
    ordersPerSec: accepted / durationS,
    requestsPerSec: answered / durationS,
    latencyMs: { mean: result.latency.mean, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    acceptedSeq,
  };
}
