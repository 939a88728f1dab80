/**
 * /metrics on the real stack: the series the operators need are there (edge, order
 * writer and reconciler merged by the edge), they move when orders flow (payment outcomes
 * too, with the payment settler and the payment sandbox in the stack), consumer lag
 * rises while the order writer is paused and returns to zero after it resumes, and
 * every Grafana panel and Prometheus alert rule names series that /metrics exposes.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, ROOT, serviceEnv, startReady, type RunningProcess } from './support/processes.js';
import { createRedis } from '../common/redis.js';
import { ADDRESS, pool as runPool } from './support/api.js';
import { eventually, onlyThisStack, startStack, type Stack } from './support/stack.js';

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Exposition { types: Map<string, string>; samples: Sample[] }

function parse(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) continue;
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

function total(e: Exposition, name: string, where: Record<string, string> = {}): number {
  return e.samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Every series name /metrics can answer with (histograms add _bucket, _sum, _count). */
function seriesNames(e: Exposition): Set<string> {
  const names = new Set<string>();
  for (const [name, type] of e.types) {
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** Metric names a PromQL expression reads: identifiers that are not functions, keywords, labels or durations. */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][\w:]*/g)) {
    const after = stripped.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

let stack: Stack;

async function scrape(): Promise<Exposition> {
  const res = await stack.api.request<string>('GET', '/metrics');
  expect(res.status).toBe(200);
  expect(res.contentType).toContain('text/plain');
  return parse(res.body);
}

/** /metrics once every process (edge, order writer, reconciler) has a fresh snapshot in it. */
async function scrapeAll(): Promise<Exposition> {
  let e: Exposition | undefined;
  await eventually(async () => {
    e = await scrape();
    return ['edge', 'order-writer', 'reconciler'].every((p) => e!.samples.some((s) => s.labels.process === p && s.name === 'nodejs_eventloop_lag_seconds'));
  }, 20_000, 'every process in /metrics');
  return e!;
}

const redis = createRedis(serviceEnv().REDIS_URL!);
let sandbox: RunningProcess;
beforeAll(async () => {
  // Payments settle against the project's payment sandbox (no webhooks needed: the settler counts the provider's answer).
  const port = await freePort();
  Object.assign(process.env, { STRIPE_SECRET_KEY: 'sk_test_sandbox', STRIPE_WEBHOOK_SECRET: 'whsec_test_metrics_0123456789', STRIPE_API_BASE: `http://127.0.0.1:${port}` });
  sandbox = await startReady('payment-sandbox', { SANDBOX_PORT: String(port), SANDBOX_LATENCY_MS: '0' });
  stack = await startStack({ edgeEnv: { OPS_LAG_ALARM: '5' }, with: ['payment-settler'] });
});
afterAll(async () => { await stack?.stop(); await sandbox?.kill('SIGTERM'); redis.disconnect(); });

/** The processes this suite's stack runs: /metrics must sum no earlier file's. */
const PROCESSES = ['edge', 'order-writer', 'reconciler', 'payment-settler'];

describe('/metrics', () => {
  it('exposes the series operators need, from the edge, the order writer and the reconciler', async () => {
    const e = await scrapeAll();
    const names = seriesNames(e);
    for (const name of [
      'flashsale_http_request_duration_seconds', 'flashsale_order_decisions_total', 'flashsale_kafka_produce_duration_seconds',
      'flashsale_kafka_consumer_lag_messages', 'flashsale_kafka_log_end_offset', 'flashsale_kafka_consumer_committed_offset',
      'flashsale_reservations_open_units', 'flashsale_reservations_held', 'flashsale_order_writer_batch_size',
      'flashsale_order_writer_write_duration_seconds', 'flashsale_payment_outcomes_total', 'flashsale_reconciler_drift_units',
      'flashsale_flash_sale_remaining_units', 'flashsale_dependency_up', 'nodejs_eventloop_lag_seconds',
      'flashsale_pg_pool_clients', 'flashsale_redis_pending_commands', 'flashsale_redis_connected',
    ]) expect(names, name).toContain(name);
    expect(total(e, 'flashsale_dependency_up')).toBe(3);
    expect(e.samples.some((s) => s.name === 'flashsale_pg_pool_clients' && s.labels.process === 'order-writer' && s.labels.state === 'max')).toBe(true);
  });

  it('moves when orders flow: decisions by outcome, latency, Kafka sends, writer batches, sale stock, drift', async () => {
    const { api, adminToken } = stack;
    const productId = await api.createProduct(adminToken, 5);
    const saleId = await api.createSale(adminToken, productId, 5, 2);
    await onlyThisStack(redis, PROCESSES);
    const before = await scrape();
    const buyers = await runPool(4, 4, () => api.newUser());
    // Two buyers try three times (two accepted each, the third over the limit), a third buyer takes the last unit, a fourth finds it sold out.
    const answers = [];
    for (const [i, b] of buyers.entries()) {
      for (let n = 0; n < (i < 2 ? 3 : 1); n++) answers.push(await api.order(b.token, productId));
    }
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
    expect(statuses.filter((s) => s === 409)).toHaveLength(1);

    await eventually(async () => {
      const e = await scrape();
      return total(e, 'flashsale_order_writer_batch_size_count') > total(before, 'flashsale_order_writer_batch_size_count')
        && total(e, 'flashsale_order_writer_orders_total', { outcome: 'live' }) - total(before, 'flashsale_order_writer_orders_total', { outcome: 'live' }) >= 5
        && e.samples.some((s) => s.name === 'flashsale_reconciler_drift_units' && s.labels.product_id === productId);
    }, 30_000, 'writer and reconciler figures');
    const after = await scrape();
    const delta = (name: string, where: Record<string, string> = {}) => total(after, name, where) - total(before, name, where);
    expect(delta('flashsale_order_decisions_total', { outcome: 'accepted' })).toBe(5);
    expect(delta('flashsale_order_decisions_total', { outcome: 'limit-exceeded' })).toBe(2);
    expect(delta('flashsale_order_decisions_total', { outcome: 'sold-out' })).toBe(1);
    expect(delta('flashsale_http_request_duration_seconds_count', { route: '/v1/orders', method: 'POST', status: '202' })).toBe(5);
    expect(delta('flashsale_http_request_duration_seconds_count', { route: '/v1/orders', method: 'POST', status: '429' })).toBe(2);
    expect(delta('flashsale_kafka_produce_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(delta('flashsale_kafka_produce_batch_messages_sum')).toBe(5);
    expect(delta('flashsale_order_writer_write_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    await eventually(async () => total(await scrape(), 'flashsale_reconciler_drift_units', { product_id: productId }) === 0,
      20_000, 'drift back to 0 once the orders are persisted');
    await eventually(async () => {
      const sale = (await scrape()).samples.find((s) => s.name === 'flashsale_flash_sale_remaining_units' && s.labels.flash_sale_id === saleId);
      return sale?.value === 0;
    }, 10_000, 'sale stock gauge at 0');
  });

  it('counts payment outcomes: one for a confirmed order, one for a declined one', async () => {
    const { api, adminToken } = stack;
    const productId = await api.createProduct(adminToken, 10);
    const buyer = await api.newUser();
    const outcomes = (e: Exposition) => ({
      succeeded: total(e, 'flashsale_payment_outcomes_total', { outcome: 'succeeded' }),
      declined: total(e, 'flashsale_payment_outcomes_total', { outcome: 'declined' }),
    });
    // The settler may still be settling orders of earlier tests: wait until it has none left and its count stands still.
    await onlyThisStack(redis, PROCESSES);
    let before = await scrape();
    await eventually(async () => {
      await new Promise((r) => setTimeout(r, 1_200)); // longer than a snapshot's period
      const now = await scrape();
      const still = total(now, 'flashsale_kafka_consumer_lag_messages', { group: 'payment-settler' }) === 0
        && JSON.stringify(outcomes(now)) === JSON.stringify(outcomes(before));
      before = now;
      return still;
    }, 60_000, 'the payment settler idle');

    const place = (paymentMethod: string) => api.request<{ orderId: string }>('POST', '/v1/orders', {
      token: buyer.token, headers: { 'idempotency-key': randomUUID() },
      body: { items: [{ productId, quantity: 1 }], paymentMethod, shippingAddress: ADDRESS },
    });
    const paid = await place('pm_card_visa');
    const declined = await place('pm_card_chargeDeclined');
    expect([paid.status, declined.status]).toEqual([202, 202]);
    const statusOf = async (orderId: string) =>
      (await api.request<{ status: string }>('GET', `/v1/orders/${orderId}`, { token: buyer.token })).body.status;
    await eventually(async () => (await statusOf(paid.body.orderId)) === 'confirmed' && (await statusOf(declined.body.orderId)) === 'failed',
      30_000, 'one order confirmed and one failed');
    let moved = { succeeded: 0, declined: 0 };
    await eventually(async () => {
      const now = outcomes(await scrape());
      const then = outcomes(before);
      moved = { succeeded: now.succeeded - then.succeeded, declined: now.declined - then.declined };
      return moved.succeeded >= 1 && moved.declined >= 1;
    }, 10_000, 'the payment outcomes in /metrics');
    expect(moved).toEqual({ succeeded: 1, declined: 1 });
  });

  it('shows consumer lag rising while the order writer is paused and back at zero after it resumes', async () => {
    const { api, adminToken } = stack;
    const writer = stack.procs['order-writer']!;
    const productId = await api.createProduct(adminToken, 100);
    const buyer = await api.newUser();
    const lag = async () => total(await scrape(), 'flashsale_kafka_consumer_lag_messages', { group: 'order-writer', topic: 'orders.accepted' });
    await eventually(async () => (await lag()) === 0, 30_000, 'no lag before the pause');

    writer.child.kill('SIGSTOP');
    try {
      const answers = await Promise.all(Array.from({ length: 12 }, () => api.order(buyer.token, productId)));
      expect(answers.every((a) => a.status === 202)).toBe(true);
      await eventually(async () => (await lag()) >= 12, 10_000, 'lag of the 12 orders');
      const stats = await api.request<{ kafka: { groups: { group: string; lag: number }[] }; alarms: { code: string }[] }>(
        'GET', '/v1/ops/stats', { token: adminToken });
      expect(stats.body.kafka.groups.find((g) => g.group === 'order-writer')!.lag).toBeGreaterThanOrEqual(12);
      expect(stats.body.alarms.map((a) => a.code)).toContain('lag-growing');
    } finally {
      writer.child.kill('SIGCONT');
    }
    await eventually(async () => (await lag()) === 0, 45_000, 'lag back to zero after the writer resumed');
  });
});

describe('Grafana dashboard and Prometheus alert rules', () => {
  it('query only series that /metrics exposes', async () => {
    const names = seriesNames(await scrapeAll());
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'grafana/dashboards/flashsale.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const rules = readFileSync(join(ROOT, 'prometheus/alerts.yml'), 'utf8');
    const queries = [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
      ...[...rules.matchAll(/^\s*-?\s*alert: (\S+)\s*\n\s*expr: (.+)$/gm)].map((m) => ({ where: `rule ${m[1]}`, expr: m[2]! })),
    ];
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    expect(queries.filter((q) => q.where.startsWith('rule')).length).toBeGreaterThanOrEqual(4);
    for (const { where, expr } of queries) {
      const used = metricNamesIn(expr);
      expect(used.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of used) expect(names.has(name), `${where} reads ${name}, which /metrics does not expose`).toBe(true);
    }
  });
});
