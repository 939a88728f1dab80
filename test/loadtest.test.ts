/**
 * loadtest/ against the real stack: a 10-second smoke run of flash-spike through the
 * Node driver (the scenario's `smoke` profile) passes its thresholds and the invariant
 * check, finding the stack's stores and admin the way it does after `npm start` (the
 * local stack's services.env and secrets.env); a run that could not check the invariants
 * stops before the load, and one the server throttles stops at setup naming the fix; the
 * k6 scripts typecheck against @types/k6; and the invariant checker, run on its own,
 * catches a unit sold in Postgres behind the pipeline's back.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, freePort, ROOT, serviceEnv, startReady } from './support/processes.js';
import { ADDRESS } from './support/api.js';
import { eventually, ordersInDb, startStack, type Stack } from './support/stack.js';

const run = promisify(execFile);

let stack: Stack;

beforeAll(async () => { stack = await startStack({ edgeEnv: { RATE_LIMIT_PER_IP: '0' } }); });
afterAll(async () => { await stack?.stop(); });

interface CliResult { code: number; stdout: string; stderr: string }

/** The driver as a user runs it: none of the stack's settings in the environment but those given. */
async function loadtest(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  const inherited = { ...process.env };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS', 'ADMIN_EMAIL', 'ADMIN_PASSWORD', 'DATA_DIR']) delete inherited[name];
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'dist/loadtest/run.js'), ...args], {
      cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...inherited, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The stores, for the checker run on its own. */
const stores = () => ({ DATABASE_URL: serviceEnv().DATABASE_URL!, REDIS_URL: serviceEnv().REDIS_URL! });

/** A data folder as `npm start` leaves it (services.env, secrets.env), for this test stack. */
function localStackDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loadtest-stack-'));
  const { DATABASE_URL, REDIS_URL, KAFKA_BROKERS } = serviceEnv();
  writeFileSync(join(dir, 'services.env'), `export REDIS_URL=${REDIS_URL}\nexport DATABASE_URL=${DATABASE_URL}\nexport KAFKA_BROKERS=${KAFKA_BROKERS}\n`);
  writeFileSync(join(dir, 'secrets.env'), `export JWT_SECRET=unused\nexport ADMIN_EMAIL=${ADMIN.email}\nexport DEMO_ADMIN_PASSWORD=${ADMIN.password}\n`);
  return dir;
}

interface Summary {
  ok: boolean; thresholdsOk: boolean; profile: string | null; settings: string[];
  thresholds: Record<string, string[]>;
  metrics: Record<string, { values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }>;
  invariants: { ok: boolean; results: { name: string; ok: boolean }[] } | null;
  acceptedOrders: string[];
}

describe('npm run loadtest', () => {
  it('runs flash-spike\'s smoke profile through the Node driver with thresholds and invariants passing', async () => {
    const out = mkdtempSync(join(tmpdir(), 'loadtest-'));
    const dir = localStackDir();
    const result = await loadtest(['flash-spike', '--profile', 'smoke', '--base-url', stack.api.baseUrl, '--out', out], { DATA_DIR: dir });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    // It says where the stores and the admin came from: the local stack's files.
    expect(result.stdout).toContain(`DATABASE_URL from ${dir}/services.env`);
    expect(result.stdout).toContain(`REDIS_URL from ${dir}/services.env`);
    expect(result.stdout).toContain(`ADMIN_PASSWORD from ${dir}/secrets.env (DEMO_ADMIN_PASSWORD)`);
    const summary = JSON.parse(readFileSync(join(out, 'flash-spike-node-summary.json'), 'utf8')) as Summary;
    expect(summary.ok).toBe(true);
    expect(summary.profile).toBe('smoke');
    // The smoke profile's latency bounds, from the data file; every other threshold is the full run's.
    expect(summary.thresholds).toMatchObject({ http_req_duration: ['p(95)<5000', 'p(99)<10000'], http_req_failed: ['rate<0.01'], checks: ['rate>0.99'] });
    expect(summary.metrics.http_reqs!.values.count).toBeGreaterThan(200);
    expect(summary.metrics.orders_accepted!.values.count).toBe(summary.acceptedOrders.length);
    expect(summary.acceptedOrders.length).toBeGreaterThan(0);
    expect(summary.metrics.checks!.values.rate).toBe(1);
    for (const [name, metric] of Object.entries(summary.metrics)) {
      for (const [expression, t] of Object.entries(metric.thresholds ?? {})) expect(t.ok, `${name} ${expression}`).toBe(true);
    }
    expect(summary.invariants!.results.map((r) => [r.name, r.ok])).toEqual([
      ['accepted-persisted', true], ['no-oversell', true], ['limits-held', true], ['conservation', true],
    ]);
    expect(readFileSync(join(out, 'flash-spike-node-summary.txt'), 'utf8')).toContain('RESULT: PASSED');
  });

  it('stops before the load when it cannot check the invariants of a stack on this machine', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'loadtest-nostack-'));
    const result = await loadtest(['flash-spike', '--profile', 'smoke', '--base-url', stack.api.baseUrl, '--out', empty],
      { DATA_DIR: empty, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }, 20_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('DATABASE_URL and REDIS_URL are not set');
    expect(result.stderr).toContain('--no-invariants');
    expect(result.stdout).not.toContain('RESULT');
  });

  it('stops at setup, naming RATE_LIMIT_PER_IP=0, when the server throttles sign-in', async () => {
    const port = await freePort();
    const throttled = await startReady('edge', { PORT: String(port), HOST: '127.0.0.1', RATE_LIMIT_PER_IP: '5' });
    try {
      const result = await loadtest(['flash-spike', '--profile', 'smoke', '--base-url', `http://127.0.0.1:${port}`, '--no-invariants'],
        { DATA_DIR: localStackDir() }, 30_000);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('429 rate-limited');
      expect(result.stderr).toContain('RATE_LIMIT_PER_IP=0');
    } finally {
      await throttled.kill('SIGTERM');
    }
  });

  it('fails (exit 1) when a threshold fails, and says which', async () => {
    const out = mkdtempSync(join(tmpdir(), 'loadtest-threshold-'));
    const scenario = JSON.parse(readFileSync(join(ROOT, 'loadtest/scenarios/flash-spike.json'), 'utf8')) as Record<string, unknown>;
    // A bound no run can meet: not a single answer in under a microsecond.
    const file = join(out, 'impossible.json');
    writeFileSync(file, JSON.stringify({ ...scenario, name: 'impossible', profiles: undefined, buyers: 10,
      thresholds: { ...(scenario.thresholds as object), http_req_duration: ['p(99)<0.001'] } }));
    const result = await loadtest([file, '--duration', '3s', '--rate-scale', '0.01', '--base-url', stack.api.baseUrl, '--out', out, '--no-invariants'],
      { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }, 60_000);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    const summary = JSON.parse(readFileSync(join(out, 'impossible-node-summary.json'), 'utf8')) as Summary;
    expect(summary.ok).toBe(false);
    expect(summary.metrics.http_req_duration!.thresholds!['p(99)<0.001']!.ok).toBe(false);
    expect(summary.metrics.checks!.thresholds!['rate>0.99']!.ok).toBe(true);
    expect(readFileSync(join(out, 'impossible-node-summary.txt'), 'utf8')).toContain('RESULT: FAILED');
  });

  it('typechecks the k6 scripts against @types/k6', async () => {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'loadtest/k6/tsconfig.json'],
      { cwd: ROOT, timeout: 60_000 }).catch((e: { stdout: string; stderr: string }) => { throw new Error(e.stdout + e.stderr); });
    expect(stdout + stderr).toBe('');
  });
});

describe('npm run loadtest -- check', () => {
  it('passes on a sold-out sale and catches a unit sold in Postgres behind the pipeline\'s back', async () => {
    const { api, adminToken, db } = stack;
    const productId = await api.createProduct(adminToken, 3);
    const saleId = await api.createSale(adminToken, productId, 3, 3);
    const buyer = await api.newUser();
    const accepted = await Promise.all([1, 2, 3].map(() => api.order(buyer.token, productId)));
    expect(accepted.map((a) => a.status)).toEqual([202, 202, 202]);
    await eventually(async () => (await ordersInDb(db, productId)) === 3, 30_000, 'three orders persisted');

    const clean = await loadtest(['check', '--products', productId, '--settle', '5s'], stores());
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);

    // One more unit "sold" straight into Postgres: no reservation, no Kafka, no Redis counter.
    const orderId = randomUUID();
    await db.query(
      `INSERT INTO orders (order_id, user_id, status, total_cents, currency, payment_method, shipping_address, accepted_at)
       VALUES ($1, $2, 'pending_payment', 999, 'USD', 'pm_card_visa', $3, now())`, [orderId, buyer.userId, JSON.stringify(ADDRESS)]);
    await db.query(
      `INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents, flash_sale_id) VALUES ($1, $2, 1, 999, $3)`,
      [orderId, productId, saleId]);

    const broken = await loadtest(['check', '--products', productId, '--settle', '2s'], stores());
    expect(broken.code).toBe(1);
    const report = JSON.parse(broken.stdout) as { ok: boolean; results: { name: string; ok: boolean }[]; violations: Record<string, unknown[]> };
    expect(report.ok).toBe(false);
    const failed = report.results.filter((r) => !r.ok).map((r) => r.name);
    expect(failed).toContain('no-oversell');
    expect(failed).toContain('limits-held');
    expect(report.violations['no-oversell']).toEqual(expect.arrayContaining([
      { productId, liveUnits: 4, stock: 3 }, { flashSaleId: saleId, liveUnits: 4, quantity: 3 },
    ]));
  });
});
