/**
 * bench:persist — how fast the real order writer drains a backlog of accepted orders
 * into Postgres, against the conventional way: one INSERT per row from 10 concurrent
 * clients, for the same orders.
 *
 * The backlog is made by the real product, so every order is exactly what production
 * would hold: with no writer running, the real edge takes N orders over HTTP (a product
 * and a live flash sale created through the API, signed-in buyers); each one is reserved
 * in Redis (lua/reserve, then lua/queue after Kafka's ack) and sits in the real
 * `orders.accepted` topic. The edge is then stopped and the real writer process
 * (dist/workers/main.js order-writer, default settings) is started and timed until its
 * committed offsets cover the backlog, i.e. until Postgres has committed every order.
 * The writer does all its per-order work: the Kafka fetch, the Redis claim (lua/commit),
 * the COPY + INSERT … SELECT batch, the offset commit.
 *
 * The baseline writes the same orders (read back from Postgres: the order, its item,
 * its two history rows) into structural copies of the tables (same columns, keys,
 * checks, indexes, foreign keys), one INSERT per row and one transaction per order, from
 * a pool of 10 clients. It claims nothing in Redis: that work counts for the writer only.
 *
 * env: BENCH_ORDERS (100000), BENCH_DRAIN_TIMEOUT (s, 600), BENCH_QUIET_WAIT (s, 120),
 *      BENCH_PROFILE=1 (the writer under --cpu-prof, summarised; its figures then include the profiler's overhead), and
 *      DATA_DIR / *_PORT or REDIS_URL / DATABASE_URL / KAFKA_BROKERS as for bench:flash.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { productKeys } from '../common/keys.js';
import { TOPICS, GROUPS } from '../common/topics.js';
import {
  ARTIFACTS, CpuMeter, type CpuReport, OWN_PROCESSES, ensureServices, intEnv, log, machine, round, runBenchmark, sleep,
  table, waitForQuiet, writeArtifact,
} from './support.js';
import { runLoad } from './load.js';
import { acceptedOrderIds, setUpSale, startPipeline } from './stack.js';
import { monotonicUs, summariseProfile } from './profile.js';

const ORDERS = intEnv('BENCH_ORDERS', 100_000);
const DRAIN_TIMEOUT_S = intEnv('BENCH_DRAIN_TIMEOUT', 600);
const QUIET_WAIT_S = Number(process.env.BENCH_QUIET_WAIT ?? 120);
const PROFILE = process.env.BENCH_PROFILE === '1';
const BASELINE_CLIENTS = 10;
/** Rows each order becomes: the order, its one item, its history (accepted, pending_payment). */
const ROWS_PER_ORDER = 4;
const PER_USER_LIMIT = 10_000; // the API's maximum

interface StoredOrder {
  order_id: string; user_id: string; status: string; total_cents: number; currency: string; payment_method: string;
  shipping_address: unknown; accepted_at: Date; product_id: string; quantity: number; unit_price_cents: number; flash_sale_id: string | null;
}

interface BaselineResult { orders: number; seconds: number; ordersPerSec: number; rowsPerSec: number; cpu: CpuReport }

const MIRRORS = ['orders', 'order_items', 'order_history'] as const;

async function createMirrors(db: pg.Pool, prefix: string): Promise<void> {
  for (const name of MIRRORS) await db.query(`CREATE TABLE ${prefix}${name} (LIKE ${name} INCLUDING ALL)`);
  await db.query(`ALTER TABLE ${prefix}order_items ADD FOREIGN KEY (order_id) REFERENCES ${prefix}orders (order_id)`);
  await db.query(`ALTER TABLE ${prefix}order_history ADD FOREIGN KEY (order_id) REFERENCES ${prefix}orders (order_id)`);
}

async function runBaseline(db: pg.Pool, url: string, prefix: string, orders: StoredOrder[]): Promise<BaselineResult> {
  const pool = new pg.Pool({ connectionString: url, max: BASELINE_CLIENTS });
  const insertOrder = `INSERT INTO ${prefix}orders (order_id, user_id, status, total_cents, currency, payment_method, shipping_address, accepted_at)
                       VALUES ($1, $2, 'pending_payment', $3, $4, $5, $6, $7)`;
  const insertItem = `INSERT INTO ${prefix}order_items (order_id, product_id, quantity, unit_price_cents, flash_sale_id) VALUES ($1, $2, $3, $4, $5)`;
  const insertHistory = `INSERT INTO ${prefix}order_history (order_id, status, reason, at) VALUES ($1, $2, NULL, $3)`;
  let next = 0;
  let seconds = 0;
  let cpu: CpuReport | undefined;
  const meter = new CpuMeter(OWN_PROCESSES);
  meter.start();
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: BASELINE_CLIENTS }, async () => {
      const client = await pool.connect();
      try {
        while (next < orders.length) {
          const o = orders[next++]!;
          await client.query('BEGIN');
          await client.query(insertOrder, [o.order_id, o.user_id, o.total_cents, o.currency, o.payment_method, JSON.stringify(o.shipping_address), o.accepted_at]);
          await client.query(insertItem, [o.order_id, o.product_id, o.quantity, o.unit_price_cents, o.flash_sale_id]);
          await client.query(insertHistory, [o.order_id, 'accepted', o.accepted_at]);
          await client.query(insertHistory, [o.order_id, 'pending_payment', new Date()]);
          await client.query('COMMIT');
        }
      } finally {
        client.release();
      }
    }));
    seconds = (performance.now() - t0) / 1000;
    cpu = meter.stop(); // before the pool ends, so its Postgres backends are still seen
  } finally {
    await pool.end();
  }
  const count = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${prefix}orders`)).rows[0]!.n;
  if (count !== orders.length) throw new Error(`baseline wrote ${count} orders, expected ${orders.length}`);
  return { orders: orders.length, seconds: round(seconds, 2), ordersPerSec: orders.length / seconds, rowsPerSec: (orders.length * ROWS_PER_ORDER) / seconds, cpu: cpu! };
}

runBenchmark('bench:persist', async (cleanup) => {
  const urls = ensureServices(cleanup);
  const startedAt = new Date().toISOString();
  const db = new pg.Pool({ connectionString: urls.DATABASE_URL, max: 2 });
  cleanup.add('close pg', () => db.end());
  const redis = new Redis(urls.REDIS_URL, { maxRetriesPerRequest: 2 });
  cleanup.add('close redis', () => { redis.disconnect(); });
  const kafka = new Kafka({ clientId: 'bench-persist', brokers: urls.KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  cleanup.add('disconnect kafka admin', () => admin.disconnect());

  // 1. The backlog, made by the real edge with no writer running (the reconciler runs, as in production).
  const runId = randomUUID().slice(0, 8);
  const profileFile = join(ARTIFACTS, 'profiles', `order-writer-${runId}.cpuprofile`);
  const stack = await startPipeline(cleanup, urls, {
    writer: false, reconciler: true,
    writerNodeFlags: PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${dirname(profileFile)}`, `--cpu-prof-name=${basename(profileFile)}`] : [],
  });
  const buyerCount = Math.max(20, Math.ceil((ORDERS * 2) / PER_USER_LIMIT));
  const sale = await setUpSale(stack.api, { stock: 10_000_000, saleQuantity: Math.min(10_000_000, ORDERS * 2), perUserLimit: PER_USER_LIMIT, buyers: buyerCount });
  const lagOf = async () => {
    const [high, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(TOPICS.ordersAccepted),
      admin.fetchOffsets({ groupId: GROUPS.orderWriter, topics: [TOPICS.ordersAccepted] }),
    ]);
    const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset === '-1' ? null : BigInt(p.offset)]));
    return {
      lag: high.reduce((sum, p) => sum + Number(BigInt(p.high) - (at.get(p.partition) ?? BigInt(p.low))), 0),
      ends: new Map(high.map((p) => [p.partition, BigInt(p.high)])),
    };
  };
  const priorLag = (await lagOf()).lag;
  if (priorLag > 0) log(`note: the writer group already lags ${priorLag} messages; the writer drains those too (the timing is then pessimistic)`);

  log(`backlog: ${ORDERS} orders through the edge (order writer stopped)`);
  const load = await runLoad({ name: 'backlog', url: stack.ordersUrl, connections: 100, durationS: 3_600, amount: ORDERS, buyers: sale.buyers, productId: sale.productId, keyPrefix: runId });
  log(`backlog: ${load.accepted} accepted (${JSON.stringify(load.byStatus)}) at ${round(load.ordersPerSec)} orders/s`);
  if (load.accepted === 0) throw new Error(`the edge accepted no order: ${JSON.stringify(load.byStatus)}`);
  await stack.edge.stop();
  const { lag: backlog, ends } = await lagOf();
  log(`backlog: ${backlog} messages in ${TOPICS.ordersAccepted} for the writer`);

  // 2. The writer, timed from its start until its committed offsets reach the end of the backlog
  //    (it commits offsets only after Postgres commits).
  const caughtUp = async () => {
    const [topic] = await admin.fetchOffsets({ groupId: GROUPS.orderWriter, topics: [TOPICS.ordersAccepted] });
    const at = new Map((topic?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset === '-1' ? 0 : p.offset)]));
    return [...ends].every(([partition, end]) => (at.get(partition) ?? 0n) >= end);
  };
  const joined = async () => {
    const { groups } = await admin.describeGroups([GROUPS.orderWriter]);
    return groups[0]?.state === 'Stable' && groups[0].members.length > 0;
  };
  await waitForQuiet(QUIET_WAIT_S);
  log('order writer: starting on the backlog');
  const meter = new CpuMeter(OWN_PROCESSES);
  meter.start();
  const spawned = performance.now();
  const writer = await stack.startWriter();
  let owning = 0;
  let owningUs = 0;
  const deadline = Date.now() + DRAIN_TIMEOUT_S * 1000;
  for (;;) {
    if (!owning && await joined()) {
      owning = performance.now();
      owningUs = monotonicUs();
    }
    if (owning && await caughtUp()) break;
    if (Date.now() > deadline) throw new Error(`the writer did not drain the backlog of ${backlog} in ${DRAIN_TIMEOUT_S}s`);
    await sleep(owning ? 50 : 20);
  }
  const done = performance.now();
  const cpu = meter.stop();
  const window = { fromUs: owningUs, toUs: monotonicUs() };
  await writer.stop();
  const profile = PROFILE && existsSync(profileFile) ? summariseProfile(profileFile, 25, window) : undefined;
  const drainSeconds = (done - owning) / 1000;
  const wallSeconds = (done - spawned) / 1000;
  const drain = {
    orders: backlog,
    startupSeconds: round((owning - spawned) / 1000, 2),
    drainSeconds: round(drainSeconds, 2),
    wallSeconds: round(wallSeconds, 2),
    ordersPerSec: backlog / drainSeconds,
    rowsPerSec: (backlog * ROWS_PER_ORDER) / drainSeconds,
    ordersPerSecWithStartup: backlog / wallSeconds,
    cpu,
  };
  log(`writer: owned its partitions ${drain.startupSeconds}s after spawn, then drained ${backlog} orders in ${drain.drainSeconds}s = ${round(drain.ordersPerSec)} orders/s`);

  // Every accepted order is in Postgres, live; no reservation is left open.
  const ids = acceptedOrderIds(sale.buyers, [{ seq: load.acceptedSeq, prefix: runId }]);
  const byStatus: Record<string, number> = {};
  for (let i = 0; i < ids.length; i += 20_000) {
    const { rows } = await db.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM orders WHERE order_id = ANY($1::uuid[]) GROUP BY status', [ids.slice(i, i + 20_000)]);
    for (const r of rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + r.n;
  }
  const k = productKeys(sale.productId);
  const [reserved, held] = await Promise.all([redis.get(k.reserved), redis.zcard(k.held)]);
  const { rows: stored } = await db.query<StoredOrder>(
    `SELECT o.order_id, o.user_id, o.status, o.total_cents, o.currency, o.payment_method, o.shipping_address, o.accepted_at,
            i.product_id, i.quantity, i.unit_price_cents, i.flash_sale_id
       FROM order_items i JOIN orders o USING (order_id) WHERE i.product_id = $1 ORDER BY o.accepted_at`, [sale.productId]);
  const history = (await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM order_history h JOIN order_items i USING (order_id) WHERE i.product_id = $1', [sale.productId])).rows[0]!.n;
  const check = {
    accepted202: ids.length, byStatus, productOrdersInPostgres: stored.length, historyRows: history,
    openReservations: Number(reserved ?? 0), heldReservations: held,
    ok: byStatus.pending_payment === ids.length && Object.keys(byStatus).length === 1 && stored.length === backlog - priorLag
      && history === stored.length * 2 && Number(reserved ?? 0) === 0 && held === 0,
  };
  log(`writer check: ${JSON.stringify(check)}`);

  // 3. The baseline: the same orders, one INSERT per row, 10 clients, into copies of the tables.
  const prefix = `bench_${runId}_`;
  cleanup.add('drop the baseline tables', async () => {
    await db.query(`DROP TABLE IF EXISTS ${[...MIRRORS].reverse().map((m) => prefix + m).join(', ')}`);
  });
  await createMirrors(db, prefix);
  await waitForQuiet(QUIET_WAIT_S);
  log(`baseline: ${stored.length} orders, one INSERT per row, ${BASELINE_CLIENTS} clients`);
  const baseline = await runBaseline(db, urls.DATABASE_URL, prefix, stored);
  log(`baseline: ${round(baseline.ordersPerSec)} orders/s over ${baseline.seconds}s`);

  const ratio = drain.rowsPerSec / baseline.rowsPerSec;
  const ratioWithStartup = drain.ordersPerSecWithStartup / baseline.ordersPerSec;
  const usPerOrder = (c: CpuReport, n: number) => round(((c.machineBusyPct - c.foreignPct) / 100) * c.seconds * 1e6 / n);
  process.stdout.write([
    '',
    `bench:persist — a backlog of ${backlog} accepted orders (${ROWS_PER_ORDER} rows each), ${String(machine().cpus)} CPUs`,
    table(['persistence', 'orders/s', 'rows/s', 'seconds', 'machine CPU %', 'others\' CPU %', 'CPU µs/order'], [
      ['order writer (Kafka → COPY batch)', round(drain.ordersPerSec), round(drain.rowsPerSec), drain.drainSeconds, '-', '-', '-'],
      ['order writer, incl. its start-up', round(drain.ordersPerSecWithStartup), round(drain.ordersPerSecWithStartup * ROWS_PER_ORDER), drain.wallSeconds,
        cpu.machineBusyPct, cpu.foreignPct, usPerOrder(cpu, backlog)],
      [`baseline: INSERT per row, ${BASELINE_CLIENTS} clients`, round(baseline.ordersPerSec), round(baseline.rowsPerSec), baseline.seconds,
        baseline.cpu.machineBusyPct, baseline.cpu.foreignPct, usPerOrder(baseline.cpu, baseline.orders)],
    ]),
    '(CPU in % of one core; "others\'" = processes that are not this benchmark or its services; CPU µs/order counts the whole machine but them)',
    '',
    `writer / baseline = ${round(ratio, 2)}× (target ≥ 10×: ${ratio >= 10 ? 'met' : 'MISSED'}); counting the writer's start-up (${drain.startupSeconds}s): ${round(ratioWithStartup, 2)}×`,
    `writer check      = ${check.accepted202} accepted orders: ${JSON.stringify(byStatus)}, ${history} history rows, open reservations ${check.openReservations}: ${check.ok ? 'OK' : 'FAILED'}`,
    '',
    'CPU from the writer\'s spawn to its last commit (% of one core):',
    table(['process', '% core'], [...cpu.groups.filter((g) => g.own).map((g) => [g.name, g.cpuPct]), ['other people\'s processes', cpu.foreignPct]]),
    '',
    'CPU during the baseline (% of one core):',
    table(['process', '% core'], [...baseline.cpu.groups.filter((g) => g.own).map((g) => [g.name, g.cpuPct]), ['other people\'s processes', baseline.cpu.foreignPct]]),
    ...(profile ? [
      '', `order writer CPU profile while draining (${profileFile}): its JS thread ${round(profile.busyShare * 100)}% busy; self time by area:`,
      table(['share', 'area'], profile.byArea.slice(0, 12).map((a) => [`${round(a.share * 100)}%`, a.area])),
      '', 'top functions (self time):',
      table(['share', 'function', 'where'], profile.top.slice(0, 15).map((f) => [`${round(f.share * 100)}%`, f.name, f.where])),
    ] : []),
  ].join('\n') + '\n');

  const file = writeArtifact('bench-persist.json', {
    startedAt, machine: machine(),
    settings: { orders: ORDERS, rowsPerOrder: ROWS_PER_ORDER, baselineClients: BASELINE_CLIENTS, topic: TOPICS.ordersAccepted, priorLag },
    backlog: { productId: sale.productId, saleId: sale.saleId, buyers: sale.buyers.length, accepted: load.accepted, byStatus: load.byStatus,
      edgeOrdersPerSec: load.ordersPerSec, messages: backlog },
    writer: { ...drain, check, profile },
    baseline,
    ratios: { writerOverBaseline: ratio, writerWithStartupOverBaseline: ratioWithStartup },
    targets: { writerOverBaseline: { target: '>= 10', value: round(ratio, 2), met: ratio >= 10 } },
  });
  log(`results written to ${file}`);
  if (!check.ok) throw new Error('writer check failed: not every accepted order reached Postgres as a live order');
});
