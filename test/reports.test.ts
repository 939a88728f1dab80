/**
 * Daily sales reports and inventory snapshots on the real services: orders confirmed
 * through the payment sandbox and settler, the analytics worker rolling them up from
 * the outbox, and the report checked against an aggregate over the orders themselves,
 * also after redelivered events and an analytics worker killed mid-batch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/stack.js';
import { startProcess, startReady, type RunningProcess } from './support/processes.js';
import {
  backlog, confirmedOrder, placeOrder, sellerProduct, startPaidStack, waitForStatus, type PaidStack,
} from './support/fulfilment.js';

let stack: PaidStack;
let analytics: RunningProcess;
const SNAPSHOT_ENV = { INVENTORY_SNAPSHOT_INTERVAL_MS: '1000' };

interface ReportRow { productId: string; name: string | null; currency: string; units: number; revenueCents: number; orders: number }
interface Report { date: string; products: ReportRow[]; totals: { currency: string; units: number; revenueCents: number; orders: number }[]; total: number }

beforeAll(async () => {
  stack = await startPaidStack();
  analytics = await startReady('analytics', SNAPSHOT_ENV);
});

afterAll(async () => {
  await analytics?.kill('SIGTERM');
  await stack?.stop();
});

/** Sales per product of one UTC day, straight from the orders: confirmed that day and still paid. */
async function fromOrders(day: string): Promise<ReportRow[]> {
  const { rows } = await stack.db.query<ReportRow>(
    `SELECT i.product_id AS "productId", p.name, o.currency, sum(i.quantity)::int AS units,
            sum(i.quantity * i.unit_price_cents)::int AS "revenueCents", count(DISTINCT o.order_id)::int AS orders
       FROM orders o JOIN order_history h ON h.order_id = o.order_id AND h.status = 'confirmed'
       JOIN order_items i ON i.order_id = o.order_id LEFT JOIN products p ON p.product_id = i.product_id
      WHERE (h.at AT TIME ZONE 'UTC')::date = $1::date AND o.status IN ('confirmed', 'shipped', 'delivered')
      GROUP BY i.product_id, p.name, o.currency
      ORDER BY sum(i.quantity * i.unit_price_cents) DESC, i.product_id`, [day]);
  return rows;
}

async function ordersOn(day: string): Promise<number> {
  const { rows } = await stack.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM orders o JOIN order_history h ON h.order_id = o.order_id AND h.status = 'confirmed'
      WHERE (h.at AT TIME ZONE 'UTC')::date = $1::date AND o.status IN ('confirmed', 'shipped', 'delivered')`, [day]);
  return rows[0]!.n;
}

async function report(day: string, token = stack.adminToken): Promise<Report> {
  const res = await stack.api.request<Report>('GET', `/v1/reports/sales/daily?date=${day}&limit=1000`, { token });
  expect(res.status).toBe(200);
  return res.body;
}

/** The days on which these orders were confirmed (normally one: today, UTC). */
async function daysOf(orderIds: string[]): Promise<string[]> {
  const { rows } = await stack.db.query<{ day: string }>(
    `SELECT DISTINCT to_char((at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day FROM order_history
      WHERE status = 'confirmed' AND order_id = ANY($1::uuid[])`, [orderIds]);
  return rows.map((r) => r.day);
}

/** Once analytics has drained the outbox, the report of each day equals the aggregate over the orders. */
async function expectReportsMatchOrders(days: string[]): Promise<void> {
  await eventually(async () => (await backlog(stack, 'analytics')) === 0, 20_000, 'analytics to drain the outbox');
  for (const day of days) {
    const got = await report(day);
    expect(got.products).toEqual(await fromOrders(day));
    expect(got.totals.reduce((sum, t) => sum + t.orders, 0)).toBe(await ordersOn(day));
    expect(got.total).toBe(got.products.length);
  }
}

describe('daily sales report', () => {
  const orderIds: string[] = [];
  let days: string[] = [];

  it('equals an aggregate over the orders: confirmed sales count, declined and cancelled ones do not', async () => {
    const seller = await stack.api.newUser('seller');
    const [buyer1, buyer2] = await Promise.all([stack.api.newUser(), stack.api.newUser()]);
    const [p1, p2, p3] = await Promise.all([
      sellerProduct(stack, seller.token, 50, 1_500), sellerProduct(stack, seller.token, 50, 4_999), sellerProduct(stack, seller.token, 50, 250),
    ]);
    orderIds.push(...await Promise.all([
      confirmedOrder(stack, buyer1.token, [{ productId: p1, quantity: 2 }]),
      confirmedOrder(stack, buyer1.token, [{ productId: p1, quantity: 1 }, { productId: p2, quantity: 1 }]),
      confirmedOrder(stack, buyer2.token, [{ productId: p2, quantity: 3 }, { productId: p3, quantity: 4 }]),
      confirmedOrder(stack, buyer2.token, [{ productId: p3, quantity: 1 }]),
    ]));
    // Declined: never a sale. Cancelled after confirmation (refunded): taken out again.
    const declined = await placeOrder(stack, buyer2.token, [{ productId: p1, quantity: 5 }], 'pm_card_chargeDeclined');
    const cancelled = await confirmedOrder(stack, buyer1.token, [{ productId: p2, quantity: 2 }]);
    await waitForStatus(stack, buyer2.token, declined, 'failed');
    days = await daysOf([...orderIds, cancelled]);
    await expectReportsMatchOrders(days); // the cancelled one counted, first
    const cancel = await stack.api.request('POST', `/v1/orders/${cancelled}/cancel`, { token: buyer1.token });
    expect(cancel.status).toBe(200);
    await expectReportsMatchOrders(days);

    const today = await report(days[0]!);
    const mine = today.products.filter((r) => [p1, p2, p3].includes(r.productId));
    if (days.length === 1) {
      expect(mine).toEqual([
        expect.objectContaining({ productId: p2, units: 4, revenueCents: 4 * 4_999, orders: 2, currency: 'USD' }),
        expect.objectContaining({ productId: p1, units: 3, revenueCents: 3 * 1_500, orders: 2 }),
        expect.objectContaining({ productId: p3, units: 5, revenueCents: 5 * 250, orders: 2 }),
      ]);
    }
  });

  it('serves CSV with the same rows, to admins only, and refuses bad dates', async () => {
    const day = days[0]!;
    const json = await report(day);
    const res = await stack.api.request<string>('GET', `/v1/reports/sales/daily?date=${day}&format=csv`, { token: stack.adminToken });
    expect(res.status).toBe(200);
    expect(res.contentType).toContain('text/csv');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="sales-${day}.csv"`);
    const [header, ...lines] = res.body.trimEnd().split('\r\n');
    expect(header).toBe('date,product_id,product_name,currency,units,revenue_cents,orders');
    expect(lines.map((l) => { const f = l.split(','); return [f[0], f[1], f.at(-4), Number(f.at(-3)), Number(f.at(-2)), Number(f.at(-1))]; }))
      .toEqual(json.products.map((p) => [day, p.productId, p.currency, p.units, p.revenueCents, p.orders]));

    const seller = await stack.api.newUser('seller');
    expect((await stack.api.request('GET', `/v1/reports/sales/daily?date=${day}`, { token: seller.token })).status).toBe(403);
    expect((await stack.api.request('GET', `/v1/reports/sales/daily?date=${day}`)).status).toBe(401);
    for (const query of ['', '?date=2025-02-30', '?date=yesterday', '?date=2025-1-05', `?date=${day}&format=xml`, `?date=${day}&limit=0`]) {
      const bad = await stack.api.request<{ errors: { field: string }[] }>('GET', `/v1/reports/sales/daily${query}`, { token: stack.adminToken });
      expect(bad.status, query).toBe(400);
      expect(bad.contentType).toContain('application/problem+json');
    }
    const empty = await report('2001-01-01');
    expect(empty).toMatchObject({ date: '2001-01-01', products: [], totals: [], total: 0 });
  });

  it('stays equal through redelivered events and an analytics worker killed mid-batch', async () => {
    // Every order event delivered to analytics again: the roll-ups must not move.
    await analytics.kill('SIGKILL');
    await stack.db.query(
      `INSERT INTO outbox_queue (consumer, source, source_id) SELECT 'analytics', 'order_event', event_id::text FROM order_events
       ON CONFLICT DO NOTHING`);
    const buyer = await stack.api.newUser();
    const seller = await stack.api.newUser('seller');
    const product = await sellerProduct(stack, seller.token, 10, 999);
    const extra = await confirmedOrder(stack, buyer.token, [{ productId: product, quantity: 2 }]);
    const queued = await backlog(stack, 'analytics');
    expect(queued).toBeGreaterThan(1);
    // Killed after writing a batch, before its COMMIT: none of it may stick.
    const doomed = startProcess('analytics', { ...SNAPSHOT_ENV, FAULT_POINT: 'analytics.before-commit' });
    await doomed.waitFor(/FAULT_POINT_REACHED analytics.before-commit/);
    await doomed.kill('SIGKILL');
    expect(await backlog(stack, 'analytics')).toBe(queued);
    analytics = await startReady('analytics', SNAPSHOT_ENV);
    await expectReportsMatchOrders([...new Set([...days, ...await daysOf([extra])])]);
    const row = (await report((await daysOf([extra]))[0]!)).products.find((r) => r.productId === product);
    expect(row).toMatchObject({ units: 2, revenueCents: 1_998, orders: 1 });
  });
});

describe('inventory snapshots', () => {
  it('record ledger stock, live units and the Redis counters per product, with no drift at rest', async () => {
    const seller = await stack.api.newUser('seller');
    const buyer = await stack.api.newUser();
    const product = await sellerProduct(stack, seller.token, 12, 700);
    await confirmedOrder(stack, buyer.token, [{ productId: product, quantity: 3 }]);
    const since = new Date();
    interface Snap { ledger_stock: number; live_units: number; redis_available: number | null; redis_reserved: number | null; redis_in_sales: number | null; drift: number | null }
    let snap: Snap | undefined;
    await eventually(async () => {
      const { rows } = await stack.db.query<Snap>(
        `SELECT ledger_stock, live_units, redis_available, redis_reserved, redis_in_sales, drift FROM inventory_snapshots
          WHERE product_id = $1 AND taken_at > $2 ORDER BY taken_at DESC LIMIT 1`, [product, since]);
      snap = rows[0];
      return snap !== undefined;
    }, 15_000, 'a snapshot of the product');
    expect(snap).toEqual({ ledger_stock: 12, live_units: 3, redis_available: 9, redis_reserved: 0, redis_in_sales: 0, drift: 0 });
    // One snapshot per interval across the product: never two rows at the same instant.
    const { rows } = await stack.db.query<{ n: number; distinct: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT taken_at)::int AS distinct FROM inventory_snapshots WHERE product_id = $1', [product]);
    expect(rows[0]!.n).toBe(rows[0]!.distinct);
  });
});
