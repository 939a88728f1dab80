/**
 * `npm run faults`: the fault matrix. Brings the services and every process of the
 * product up, signs in buyers, then for each row: a fresh flash sale under a steady load
 * from the load driver, one fault injected and undone, the pipeline drained, and the
 * invariants counted (faults/checks.ts). Figures go to artifacts/faults/results.json
 * and RELIABILITY.md. Exit 1 when a row broke or an invariant was violated.
 *
 *   npm run faults                               every row (about half an hour)
 *   npm run faults -- --rows kafka-freeze,pg     rows by id or family
 *   npm run faults -- --list                     the rows
 *   npm run faults -- --seconds 20 --rate 100    a lighter load
 *
 * Services: DATA_DIR / REDIS_PORT / PG_PORT / KAFKA_PORT (default .data/faults, ports
 * 6396 / 5446 / 9196), started when not running and stopped again at the end unless
 * --keep-services. Not part of `npm test`.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { parseArgs } from 'node:util';
import { pool as inParallel } from '../test/support/api.js';
import { retry } from '../common/retry.js';
import { checkRow } from './checks.js';
import { createRowProducts, loadFigures, percentile, Probe, runLoad, type Buyer } from './load.js';
import { acceptedAgain, type FaultWindow, type LoadPlan, type RowContext, type RowSpec } from './row.js';
import { saveResult, writeReliabilityTables, type RowResult } from './report.js';
import { log, processTree, rssMiB, service, servicePid, servicesDown, servicesUp, sleep, Stack } from './stack.js';
import { processRows } from './process-faults.js';
import { kafkaRows } from './kafka-faults.js';
import { redisRows } from './redis-faults.js';
import { postgresRows } from './postgres-faults.js';
import { networkRows } from './network-faults.js';
import { paymentRows } from './payment-faults.js';
import { overloadRows } from './overload.js';

export const ROWS: RowSpec[] = [...processRows, ...kafkaRows, ...redisRows, ...postgresRows, ...networkRows, ...paymentRows, ...overloadRows];

const BUYERS = 200;
const RECOVERY_LIMIT_MS = 120_000;

function defaultPlan(stack: Stack, options: { rate: number; seconds: number }): LoadPlan {
  return {
    baseUrl: stack.api.baseUrl, rate: options.rate, seconds: options.seconds, connections: 200, probeIntervalMs: 200, injectAtMs: 5_000,
    quantity: 0, perUserLimit: 0,
  };
}

/** Polls `recovered` from the window's end; the time it took, or null when it did not within the limit. */
async function timeToRecover(row: RowSpec, ctx: RowContext, window: FaultWindow): Promise<number | null> {
  const recovered = row.recovered ?? acceptedAgain;
  for (;;) {
    if (await recovered(ctx, window).catch(() => false)) return Math.max(0, ctx.now() - window.end);
    if (ctx.now() - window.end > RECOVERY_LIMIT_MS) return null;
    await sleep(250);
  }
}

async function runRow(row: RowSpec, stack: Stack, db: pg.Pool, redis: Redis, buyers: Buyer[], options: { rate: number; seconds: number }): Promise<RowResult> {
  const base: RowResult = { id: row.id, family: row.family, fault: row.fault, command: row.command, at: new Date().toISOString() };
  const skipped = row.skip?.();
  if (skipped) return { ...base, skipped };
  const t0 = Date.now();
  const notes: string[] = [];
  const ctx = {
    stack, db, redis, buyers, t0, probes: [] as Probe[], extraProducts: [] as string[], extraAccepted: [] as string[], plan: defaultPlan(stack, options),
    edgePid: () => stack.pid('edge'), now: () => Date.now() - t0, note: (text: string) => { notes.push(text); log(`${row.id}: ${text}`); },
  } as RowContext;
  let result: RowResult;
  const rss: number[] = [];
  const sampler = setInterval(() => { const v = rssMiB(ctx.edgePid()); if (v > 0) rss.push(v); }, 500);
  try {
    ctx.plan = { ...ctx.plan, ...(await row.prepare?.(ctx) ?? {}) };
    const plan = ctx.plan;
    plan.quantity ||= Math.round(plan.rate * plan.seconds * 0.9);
    plan.perUserLimit ||= Math.min(10_000, Math.ceil((plan.quantity / buyers.length) * 1.3));
    ctx.products = await createRowProducts(stack.api, stack.adminToken, plan.quantity, plan.perUserLimit);
    ctx.probe = new Probe({ baseUrl: plan.baseUrl, buyers, productId: ctx.products.probeProduct, t0, intervalMs: plan.probeIntervalMs }).start();
    ctx.probes.push(ctx.probe);
    log(`${row.id}: ${row.fault}; load ${plan.rate}/s for ${plan.seconds} s on ${plan.baseUrl}`);
    const load = runLoad({ baseUrl: plan.baseUrl, buyers, products: ctx.products, rate: plan.rate, seconds: plan.seconds, connections: plan.connections }, (m) => log(`${row.id}: ${m}`));
    ctx.loadDone = load.then(() => undefined, () => undefined);
    await sleep(plan.injectAtMs);
    const window = await row.inject(ctx);
    log(`${row.id}: fault from ${(window.start / 1000).toFixed(1)} s to ${(window.end / 1000).toFixed(1)} s`);
    const recovery = timeToRecover(row, ctx, window);
    const driven = await load;
    await Promise.all(ctx.probes.map((p) => p.stop()));
    await row.after?.(ctx, window);
    const recoveryMs = await recovery;
    clearInterval(sampler);

    const figures = loadFigures(driven);
    const planned = Math.round(plan.rate * plan.seconds);
    const samples = ctx.probes.flatMap((p) => p.samples);
    const otherAnswers: Record<string, number> = {};
    for (const [answer, count] of Object.entries(figures.byAnswer)) if (answer !== '202' && !answer.startsWith('503')) otherAnswers[answer] = count;
    for (const s of samples.filter((x) => x.status !== 202 && x.status !== 503 && x.status !== 0)) {
      const key = `${s.status} ${s.type.split('/').pop() ?? ''}`.trim();
      otherAnswers[key] = (otherAnswers[key] ?? 0) + 1;
    }
    const refused = samples.filter((s) => s.status === 503);
    log(`${row.id}: load done; draining and checking the invariants`);
    const check = await checkRow({
      db, redis, databaseUrl: process.env.DATABASE_URL!, redisUrl: process.env.REDIS_URL!, sandboxUrl: `http://127.0.0.1:${stack.ports.sandbox}`,
      productIds: [ctx.products.saleProduct, ctx.products.probeProduct, ...ctx.extraProducts],
      acceptedOrderIds: [...new Set([...driven.acceptedOrders, ...ctx.probes.flatMap((p) => p.accepted), ...ctx.extraAccepted])], log,
    });
    result = {
      ...base, windowS: (window.end - window.start) / 1000, load: { rate: plan.rate, seconds: plan.seconds, connections: plan.connections },
      // autocannon sends again on a new connection when one is refused or reset, until each planned order is answered.
      attempted: planned + samples.length,
      connectionErrors: Math.max(0, figures.sent - planned),
      accepted: (figures.byAnswer['202'] ?? 0) + samples.filter((s) => s.status === 202).length,
      refused503: Object.entries(figures.byAnswer).filter(([k]) => k.startsWith('503')).reduce((sum, [, v]) => sum + v, 0) + refused.length,
      otherAnswers, noAnswer: Math.max(0, planned - figures.answered) + samples.filter((s) => s.status === 0).length,
      latencyMs: { p50: figures.p50, p99: figures.p99, max: figures.max },
      probe: {
        sent: samples.length, accepted: samples.filter((s) => s.status === 202).length,
        acceptedP99Ms: percentile(samples.filter((s) => s.status === 202).map((s) => s.ms), 0.99),
        max503Ms: Math.max(0, ...refused.map((s) => s.ms)), maxMs: Math.max(0, ...samples.map((s) => s.ms)),
        missingRetryAfter: refused.filter((s) => !s.retryAfter).length,
      },
      recoveryS: recoveryMs === null ? null : recoveryMs / 1000,
      edgeRssMiB: { start: rss[0] ?? 0, max: Math.max(0, ...rss), end: rss[rss.length - 1] ?? 0 },
      check, notes,
    };
  } catch (error) {
    const cause = (error as Error).cause as { message?: string; code?: string } | undefined;
    log(`${row.id} broke: ${(error as Error).stack ?? String(error)}${cause ? `\n  cause: ${cause.code ?? ''} ${cause.message ?? String(cause)}` : ''}`);
    // "fetch failed" says nothing by itself: the cause (ECONNREFUSED, other side closed, …) does.
    result = { ...base, error: `${(error as Error).message}${cause ? ` (${cause.code ?? cause.message ?? String(cause)})` : ''}`, notes };
  } finally {
    clearInterval(sampler);
    await Promise.all(ctx.probes.map((p) => p.stop()));
    await row.cleanup?.(ctx).catch((error: unknown) => log(`${row.id} cleanup: ${(error as Error).message}`));
  }
  notes.push(...await heal(stack));
  return result;
}

/**
 * Whatever a row left broken is mended before the next: services up and thawed, every
 * process running and consuming, the edge ready. Says what it had to restart.
 */
async function heal(stack: Stack): Promise<string[]> {
  const mended: string[] = [];
  await service('kafka-resume').catch(() => undefined);
  for (const pid of safePgTree()) try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  stack.signal('payment-sandbox', 'SIGCONT');
  servicesUp();
  const stalled = stack.stalledConsumers();
  const rejoining = stack.rejoiningConsumers();
  if (rejoining.length > 0) {
    // Seen after a SIGKILL of the broker: its group coordinator stays out of sync for a consumer group until a clean restart.
    mended.push(`${rejoining.join(', ')} still could not join ${rejoining.length > 1 ? 'their' : 'its'} consumer group (kafkajs "Restarting the consumer" over and over): the runner restarted Kafka cleanly`);
    log(mended[mended.length - 1]!);
    await service('kafka-stop');
    await service('kafka-start');
  }
  for (const [name, proc] of stack.procs) {
    const dead = proc.child.exitCode !== null || proc.child.signalCode !== null;
    if (!dead && !stalled.includes(name) && !rejoining.includes(name)) continue;
    mended.push(dead ? `${name} had exited: the runner started it again`
      : rejoining.includes(name) ? `${name} restarted after the broker's restart`
        : `${name}'s Kafka consumer had crashed without restarting (kafkajs non-retriable error; the process stayed up, consuming nothing): the runner restarted the process`);
    log(mended[mended.length - 1]!);
    await proc.kill('SIGKILL');
    await stack.start(name);
  }
  await stack.waitReady();
  stack.trimOutput();
  return mended;
}

function safePgTree(): number[] {
  try { return processTree(servicePid('postgres')); } catch { return []; }
}

async function registerBuyers(stack: Stack): Promise<Buyer[]> {
  const started = Date.now();
  // On a busy machine a sign-up can time out waiting for a connection (a 500, see RELIABILITY.md): try again.
  const buyers = await inParallel(BUYERS, 4, async () => {
    const user = await retry(() => stack.api.newUser(), { retries: 5, baseMs: 500, maxMs: 5_000 });
    return { userId: user.userId, token: user.token };
  });
  log(`${buyers.length} buyers signed in (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return buyers;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { rows: { type: 'string' }, list: { type: 'boolean' }, seconds: { type: 'string' }, rate: { type: 'string' }, 'keep-services': { type: 'boolean' } },
  });
  if (values.list) {
    for (const row of ROWS) process.stdout.write(`${row.id.padEnd(18)} ${row.family.padEnd(9)} ${row.fault}\n`);
    return 0;
  }
  const wanted = values.rows?.split(',').map((w) => w.trim()).filter(Boolean);
  const rows = wanted ? ROWS.filter((r) => wanted.includes(r.id) || wanted.includes(r.family)) : ROWS;
  if (rows.length === 0) throw new Error(`no row matches ${values.rows}; see --list`);
  const options = { rate: Number(values.rate ?? 150), seconds: Number(values.seconds ?? 30) };

  const services = servicesUp();
  let stack: Stack | undefined;
  const db = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
  db.on('error', () => undefined); // Postgres restarts during rows
  const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  const shutdown = async () => {
    await service('kafka-resume').catch(() => undefined);
    for (const pid of safePgTree()) try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
    await stack?.stop();
    await db.end().catch(() => undefined);
    redis.disconnect();
    if (services.startedHere && !values['keep-services']) servicesDown();
  };
  process.once('SIGINT', () => { log('interrupted: cleaning up'); void shutdown().then(() => process.exit(130)); });
  let failed = false;
  try {
    stack = await Stack.start();
    const buyers = await registerBuyers(stack);
    for (const row of rows) {
      const result = await runRow(row, stack, db, redis, buyers, options);
      const all = saveResult(result, ROWS.map((r) => r.id));
      writeReliabilityTables(all);
      const bad = result.check ? Object.entries(result.check.counts).filter(([, v]) => v > 0) : [];
      failed ||= Boolean(result.error) || bad.length > 0;
      log(`${row.id}: ${result.skipped ? `not run (${result.skipped})` : result.error ? `BROKE: ${result.error}`
        : `${result.accepted} accepted of ${result.attempted}, ${result.refused503} × 503, recovered in ${result.recoveryS ?? '>120'} s; invariants ${bad.length ? `VIOLATED ${JSON.stringify(Object.fromEntries(bad))}` : 'all 0'}`}`);
    }
  } finally {
    await shutdown();
  }
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (error: unknown) => {
  log(`faults: ${(error as Error).stack ?? String(error)}`);
  process.exit(2);
});
