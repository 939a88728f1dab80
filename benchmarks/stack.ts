/**
 * The real product for the benchmarks: edge, order writer and reconciler from dist/ as
 * child processes, a product with a live flash sale created through the API, and
 * signed-in buyers.
 */
import { Api, pool as inParallel } from '../test/support/api.js';
import { orderIdFor } from '../common/ids.js';
import { BENCH_ADMIN, type Child, type Cleanup, type ServiceUrls, freePort, log, productEnv, round, sleep, startReady } from './support.js';
import type { Buyer } from './load.js';

export interface Pipeline {
  port: number;
  /** POST target of the order load. */
  ordersUrl: string;
  api: Api;
  env: Record<string, string>;
  edge: Child;
  reconciler: Child | undefined;
  writer: Child | undefined;
  startWriter(): Promise<Child>;
}

export async function startPipeline(cleanup: Cleanup, urls: ServiceUrls,
  options: { writer: boolean; reconciler: boolean; edgeNodeFlags?: string[]; writerNodeFlags?: string[] }): Promise<Pipeline> {
  const port = await freePort();
  const env = {
    ...productEnv(urls), PORT: String(port), HOST: '127.0.0.1',
    // The set-up registers hundreds of buyers from one address: sign-in throttling off (orders are not throttled by it).
    RATE_LIMIT_PER_IP: '0',
    // Start-up noise of kafkajs v2 that says nothing about the run.
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
  };
  const edge = await startReady(cleanup, 'edge', 'dist/edge/main.js', [], env, /edge listening/, options.edgeNodeFlags ?? []);
  const startWriter = () => startReady(cleanup, 'order-writer', 'dist/workers/main.js', ['order-writer'], env, /order writer consuming/,
    options.writerNodeFlags ?? []);
  const writer = options.writer ? await startWriter() : undefined;
  const reconciler = options.reconciler
    ? await startReady(cleanup, 'reconciler', 'dist/reconciler/main.js', [], env, /reconciler running/)
    : undefined;
  const api = new Api(`http://127.0.0.1:${port}`);
  await waitReady(api);
  return { port, ordersUrl: `http://127.0.0.1:${port}/v1/orders`, api, env, edge, writer, reconciler, startWriter };
}

/**
 * Waits until /readyz answers 200: every dependency up and Redis holding whole counters
 * (the reconciler sets the ready marker, rebuilding first when it is missing).
 */
async function waitReady(api: Api, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.request('GET', '/readyz');
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`the edge is not ready after ${timeoutMs} ms: ${JSON.stringify(res.body)}`);
    await sleep(250);
  }
}

export interface SaleSpec { stock: number; saleQuantity: number; perUserLimit: number; buyers: number }

export interface Sale { productId: string; saleId: string; buyers: Buyer[] }

/** A product with `stock`, a flash sale live now for `saleQuantity` units, and `buyers` signed-in customers. */
export async function setUpSale(api: Api, spec: SaleSpec): Promise<Sale> {
  const { token: adminToken } = await api.login(BENCH_ADMIN.email, BENCH_ADMIN.password);
  const productId = await api.createProduct(adminToken, spec.stock, 1999);
  const saleId = await api.createSale(adminToken, productId, spec.saleQuantity, spec.perUserLimit, { startsInMs: -1_000, lastsMs: 6 * 3_600_000 });
  log(`product ${productId} (stock ${spec.stock}), flash sale ${saleId} (${spec.saleQuantity} units, ${spec.perUserLimit} per buyer)`);
  const t0 = Date.now();
  // Registration and sign-in cost two scrypt hashes each: bounded concurrency.
  const buyers = await inParallel(spec.buyers, 16, async () => {
    const user = await api.newUser('customer');
    return { userId: user.userId, token: user.token };
  });
  log(`${buyers.length} buyers registered and signed in in ${round((Date.now() - t0) / 1000)}s`);
  return { productId, saleId, buyers };
}

/** Requests answered 202 in one load run: sequence numbers n, keys `${prefix}-${n}` (benchmarks/load.ts). */
export interface AcceptedRun { seq: number[]; prefix: string }

/** The order ids of those requests, as the edge derives them from (buyer, Idempotency-Key). */
export function acceptedOrderIds(buyers: Buyer[], runs: AcceptedRun[]): string[] {
  const ids: string[] = [];
  for (const { seq, prefix } of runs) {
    for (const n of seq) ids.push(orderIdFor(buyers[n % buyers.length]!.userId, `${prefix}-${n}`));
  }
  return ids;
}
