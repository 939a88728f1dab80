/**
 * One test file's running product: an edge on a free port, the order writer and
 * the reconciler, plus direct Postgres and Redis handles for checking invariants.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { Api } from './api.js';
import { METRICS_SNAPSHOTS_KEY } from '../../common/keys.js';
import { SNAPSHOT_MAX_AGE_MS } from '../../common/metrics.js';
import { ADMIN, freePort, serviceEnv, startReady, type ProcessName, type RunningProcess } from './processes.js';

export interface Stack {
  api: Api;
  adminToken: string;
  db: pg.Pool;
  redis: Redis;
  procs: Partial<Record<ProcessName, RunningProcess>>;
  edgeEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts the edge, the order writer and the reconciler (less `without`, plus `with`). */
export async function startStack(options: { edgeEnv?: Record<string, string>; without?: ProcessName[]; with?: ProcessName[] } = {}): Promise<Stack> {
  const env = serviceEnv();
  const port = await freePort();
  const edgeEnv = { PORT: String(port), HOST: '127.0.0.1', ...options.edgeEnv };
  const skip = new Set(options.without ?? []);
  const procs: Partial<Record<ProcessName, RunningProcess>> = {};
  procs.edge = await startReady('edge', edgeEnv);
  if (!skip.has('order-writer')) procs['order-writer'] = await startReady('order-writer');
  if (!skip.has('reconciler')) procs.reconciler = await startReady('reconciler');
  for (const extra of options.with ?? []) procs[extra] = await startReady(extra);
  const api = new Api(`http://127.0.0.1:${port}`);
  // Orders are taken once every dependency answers and the counters in Redis are whole.
  if (!skip.has('reconciler')) await eventually(async () => (await api.request('GET', '/readyz')).status === 200, 60_000, 'the edge ready');
  const { token } = await api.login(ADMIN.email, ADMIN.password);
  const db = new pg.Pool({ connectionString: env.DATABASE_URL, max: 4 });
  db.on('error', () => undefined); // fault tests restart Postgres; idle clients reconnect on next use
  const redis = new Redis(env.REDIS_URL!);
  redis.on('error', () => undefined); // fault tests restart Redis; commands retry on reconnect
  return {
    api, adminToken: token, db, redis, procs, edgeEnv,
    async stop() {
      await Promise.all(Object.values(procs).map((p) => p?.kill('SIGTERM')));
      await db.end();
      redis.disconnect();
    },
  };
}

/** Polls `check` until it returns true or the time runs out. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Waits until the metrics snapshots in Redis count no process of an earlier test file
 * (at most one of each of `processes`): a process killed without its shutdown leaves its
 * last snapshot, summed into /metrics and /v1/ops/stats for up to SNAPSHOT_MAX_AGE_MS.
 */
export async function onlyThisStack(redis: Redis, processes: readonly string[]): Promise<void> {
  await eventually(async () => {
    const counted = Object.values(await redis.hgetall(METRICS_SNAPSHOTS_KEY))
      .map((raw) => JSON.parse(raw) as { process: string; at: number })
      .filter((snapshot) => Date.now() - snapshot.at <= SNAPSHOT_MAX_AGE_MS);
    return processes.every((p) => counted.filter((snapshot) => snapshot.process === p).length <= 1);
  }, 20_000, 'snapshots of earlier stacks to age out');
}

export async function ordersInDb(db: pg.Pool, productId: string, statuses?: string[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM order_items i JOIN orders o USING (order_id)
      WHERE i.product_id = $1 AND ($2::text[] IS NULL OR o.status = ANY($2))`, [productId, statuses ?? null]);
  return rows[0]!.n;
}
