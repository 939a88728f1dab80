/**
 * loadtest/ against the real stack: a 10-second smoke run of flash-spike through the
 * Node driver passes its thresholds and the invariant check; the k6 scripts typecheck
 * against @types/k6; and the invariant checker, run on its own, catches a unit sold in
 * Postgres behind the pipeline's back.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ROOT, serviceEnv } from './support/processes.js';
import { ADDRESS } from './support/api.js';
import { eventually, ordersInDb, startStack, type Stack } from './support/stack.js';

const run = promisify(execFile);

let stack: Stack;

beforeAll(async () => { stack = await startStack({ edgeEnv: { RATE_LIMIT_PER_IP: '0' } }); });
afterAll(async () => { await stack?.stop(); });

interface CliResult { code: number; stdout: string; stderr: string }

async function loadtest(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  const { DATABASE_URL, REDIS_URL } = serviceEnv();
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'dist/loadtest/run.js'), ...args], {
      cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, DATABASE_URL, REDIS_URL },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface Summary {
  ok: boolean; thresholdsOk: boolean;
  metrics: Record<string, { values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }>;
  invariants: { ok: boolean; results: { name: string; ok: boolean }[] } | null;
  acceptedOrders: string[];
}

describe('npm run loadtest', () => {
  it('runs flash-spike for 10 seconds through the Node driver with thresholds and invariants passing', async () => {
    const out = mkdtempSync(join(tmpdir(), 'loadtest-'));
    // The smoke run keeps every check and error-rate threshold of flash-spike, but its latency
    // bounds are loosened: speed is measured by benchmarks, not by a test on a shared machine.
    const scenario = JSON.parse(readFileSync(join(ROOT, 'loadtest/scenarios/flash-spike.json'), 'utf8')) as { thresholds: Record<string, string[]> };
    scenario.thresholds.http_req_duration = ['p(95)<5000', 'p(99)<10000'];
    const scenarioFile = join(out, 'flash-spike.json');
    writeFileSync(scenarioFile, JSON.stringify(scenario));
    const result = await loadtest([scenarioFile, '--duration', '10s', '--rate-scale', '0.05', '--buyers', '60',
      '--base-url', stack.api.baseUrl, '--out', out]);
    const summary = JSON.parse(readFileSync(join(out, 'flash-spike-node-summary.json'), 'utf8')) as Summary;
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(summary.ok).toBe(true);
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

    const clean = await loadtest(['check', '--products', productId, '--settle', '5s']);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);

    // One more unit "sold" straight into Postgres: no reservation, no Kafka, no Redis counter.
    const orderId = randomUUID();
    await db.query(
      `INSERT INTO orders (order_id, user_id, status, total_cents, currency, payment_method, shipping_address, accepted_at)
       VALUES ($1, $2, 'pending_payment', 999, 'USD', 'pm_card_visa', $3, now())`, [orderId, buyer.userId, JSON.stringify(ADDRESS)]);
    await db.query(
      `INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents, flash_sale_id) VALUES ($1, $2, 1, 999, $3)`,
      [orderId, productId, saleId]);

    const broken = await loadtest(['check', '--products', productId, '--settle', '2s']);
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
