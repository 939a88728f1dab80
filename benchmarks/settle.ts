/**
 * bench:settle — settlement throughput: orders/s from accepted (persisted, pending_payment)
 * to confirmed, through the real payment settler, the real stripe SDK and the payment
 * sandbox answering each call after a realistic 100–300 ms (SANDBOX_LATENCY_MS).
 *
 * For each level "concurrency:orders" (BENCH_LEVELS, default "1:40,32:1500,256:10000"):
 *   1. places `orders` orders through the edge (one product with enough stock) and waits
 *      until the writer has persisted them all as pending_payment, with no settler running;
 *   2. starts the settler with PAYMENT_CONCURRENCY=concurrency, and measures how fast it
 *      drains that backlog: (orders − 1) / (last confirmed − first confirmed), from the
 *      times order_history records;
 *   3. checks that every order is confirmed with exactly one PaymentIntent and one charge
 *      (the sandbox's counts), and that the reconciler sees no drift for the product;
 *   4. stops the settler (its offsets are committed, so the next level starts past them).
 * Concurrency 1 is one-at-a-time settlement: the provider's latency bounds it (≈ 5/s).
 *
 * env: BENCH_LEVELS, SANDBOX_LATENCY_MS ("100-300"), BENCH_QUIET_WAIT (s, 30), plus
 *      infra/services.sh's DATA_DIR / *_PORT, or REDIS_URL / DATABASE_URL / KAFKA_BROKERS.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { ADDRESS, pool as inParallel } from '../test/support/api.js';
import { DRIFT_KEY } from '../common/keys.js';
import {
  BENCH_ADMIN, CpuMeter, type CpuReport, OWN_PROCESSES, ensureServices, freePort, log, machine, round, runBenchmark,
  sleep, startReady, table, waitForQuiet, writeArtifact, type Cleanup,
} from './support.js';
import { startPipeline, type Pipeline } from './stack.js';

const LATENCY = process.env.SANDBOX_LATENCY_MS || '100-300';
const QUIET_WAIT_S = Number(process.env.BENCH_QUIET_WAIT ?? 30);
const LEVELS = (process.env.BENCH_LEVELS ?? '1:40,32:1500,256:10000').split(',').map((level) => {
  const [concurrency, orders] = level.split(':').map(Number);
  if (!Number.isInteger(concurrency) || !Number.isInteger(orders) || concurrency! < 1 || orders! < 2) {
    throw new Error(`BENCH_LEVELS: "${level}" is not concurrency:orders`);
  }
  return { concurrency: concurrency!, orders: orders! };
});

interface LevelResult {
  concurrency: number;
  orders: number;
  confirmed: number;
  seconds: number;
  ordersPerSecond: number;
  paymentIntents: number;
  charges: number;
  drift: string | null;
  cpu: CpuReport;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

async function sandboxTotals(sandboxUrl: string): Promise<{ paymentIntents: number; charges: number }> {
  return (await (await fetch(`${sandboxUrl}/_sandbox/stats`)).json()) as { paymentIntents: number; charges: number };
}

async function countByStatus(db: pg.Pool, productId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>(
    `SELECT o.status, count(*)::int AS n FROM orders o JOIN order_items i USING (order_id)
      WHERE i.product_id = $1 GROUP BY o.status`, [productId]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

async function runLevel(cleanup: Cleanup, pipeline: Pipeline, db: pg.Pool, redis: Redis, sandboxUrl: string,
  level: { concurrency: number; orders: number }): Promise<LevelResult> {
  const { api } = pipeline;
  const { token: adminToken } = await api.login(BENCH_ADMIN.email, BENCH_ADMIN.password);
  const productId = await api.createProduct(adminToken, level.orders + 10, 1999);
  const buyer = await api.newUser('customer');
  log(`level ${level.concurrency}: placing ${level.orders} orders for product ${productId}`);
  const answers = await inParallel(level.orders, 64, () => api.request('POST', '/v1/orders', {
    token: buyer.token, headers: { 'idempotency-key': randomUUID() },
    body: { items: [{ productId, quantity: 1 }], paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS },
  }));
  const refused = answers.filter((a) => a.status !== 202).length;
  if (refused > 0) throw new Error(`${refused} orders were not accepted (first: ${JSON.stringify(answers.find((a) => a.status !== 202)?.body)})`);
  await waitUntil('the writer to persist every order', async () => ((await countByStatus(db, productId)).pending_payment ?? 0) === level.orders, 300_000);

  await waitForQuiet(QUIET_WAIT_S);
  const before = await sandboxTotals(sandboxUrl);
  const meter = new CpuMeter(OWN_PROCESSES);
  meter.start();
  const settler = await startReady(cleanup, `payment-settler-c${level.concurrency}`, 'dist/workers/main.js', ['payment-settler'],
    { ...pipeline.env, PAYMENT_CONCURRENCY: String(level.concurrency), PAYMENT_HOLD_MS: '3600000' }, /payment settler consuming/);
  await waitUntil('every order confirmed', async () => ((await countByStatus(db, productId)).confirmed ?? 0) === level.orders,
    Math.max(120_000, level.orders * 400 / level.concurrency + 60_000));
  const cpu = meter.stop();
  await settler.stop();

  const { rows } = await db.query<{ first: Date; last: Date; n: number }>(
    `SELECT min(h.at) AS first, max(h.at) AS last, count(*)::int AS n FROM order_history h JOIN order_items i USING (order_id)
      WHERE i.product_id = $1 AND h.status = 'confirmed'`, [productId]);
  const { first, last, n } = rows[0]!;
  const seconds = (last.getTime() - first.getTime()) / 1000;
  // Only this level's orders used the sandbox meanwhile: with every order confirmed (one charge
  // at least each), as many intents and charges as orders means exactly one of each per order.
  const after = await sandboxTotals(sandboxUrl);
  const paymentIntents = after.paymentIntents - before.paymentIntents;
  const charges = after.charges - before.charges;
  await waitUntil('the reconciler to measure the product', async () => (await redis.hget(DRIFT_KEY, productId)) !== null, 30_000).catch(() => undefined);
  const drift = await redis.hget(DRIFT_KEY, productId);
  const result = {
    concurrency: level.concurrency, orders: level.orders, confirmed: n, seconds: round(seconds, 2),
    ordersPerSecond: round((n - 1) / seconds, 1), paymentIntents, charges, drift, cpu,
  };
  log(`level ${level.concurrency}: ${result.ordersPerSecond} orders/s (${n} confirmed in ${result.seconds}s; ${paymentIntents} intents, ${charges} charges, drift ${drift})`);
  return result;
}

runBenchmark('bench:settle', async (cleanup) => {
  const urls = ensureServices(cleanup);
  const sandboxPort = await freePort();
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  // The product's processes inherit these: the real SDK, pointed at the sandbox.
  Object.assign(process.env, {
    STRIPE_SECRET_KEY: 'sk_test_bench', STRIPE_WEBHOOK_SECRET: 'whsec_bench_0123456789', STRIPE_API_BASE: sandboxUrl,
  });
  await startReady(cleanup, 'payment-sandbox', 'dist/sandbox/payments-server.js', [],
    { SANDBOX_PORT: String(sandboxPort), SANDBOX_LATENCY_MS: LATENCY }, /payment sandbox listening/);
  const pipeline = await startPipeline(cleanup, urls, { writer: true, reconciler: true });
  const db = new pg.Pool({ connectionString: urls.DATABASE_URL, max: 4 });
  const redis = new Redis(urls.REDIS_URL);
  cleanup.add('close bench connections', async () => { await db.end(); redis.disconnect(); });
  // Orders left waiting by another run (bench:flash, say) sit ahead of this run's in the
  // settler's stream, and it would spend the levels on them: ask for a fresh data folder.
  const { rows: [waiting] } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM orders WHERE status = 'pending_payment'");
  if (waiting!.n > 0) {
    throw new Error(`${waiting!.n} orders of an earlier run are waiting for payment in this database; `
      + 'the settler would take them before this run\'s own: run bench:settle on a fresh DATA_DIR');
  }

  const results: LevelResult[] = [];
  for (const level of LEVELS) results.push(await runLevel(cleanup, pipeline, db, redis, sandboxUrl, level));

  const baseline = results.find((r) => r.concurrency === 1) ?? results[0]!;
  const rows = results.map((r) => [
    r.concurrency, r.orders, r.ordersPerSecond, `${round(r.ordersPerSecond / baseline.ordersPerSecond, 1)}×`, r.seconds,
    `${r.paymentIntents}/${r.charges}`, r.drift ?? '?', r.cpu.machineBusyPct,
    r.cpu.groups.slice(0, 4).map((g) => `${g.name.replace(/^node .*dist\//, '')} ${g.cpuPct}%`).join(', '),
  ]);
  process.stdout.write(`\nbench:settle — sandbox latency ${LATENCY} ms per call; backlog drained by the payment settler\n\n`);
  process.stdout.write(table(['concurrency', 'orders', 'orders/s', 'vs 1', 'seconds', 'intents/charges', 'drift', 'cpu %', 'top cpu (% of a core)'], rows) + '\n\n');
  const artifact = writeArtifact('bench-settle.json', { latencyMs: LATENCY, machine: machine(), results });
  log(`results in ${artifact}`);
  for (const r of results) {
    if (r.confirmed !== r.orders || r.paymentIntents !== r.orders || r.charges !== r.orders) {
      throw new Error(`level ${r.concurrency}: ${r.confirmed} confirmed, ${r.paymentIntents} intents, ${r.charges} charges for ${r.orders} orders`);
    }
  }
});
