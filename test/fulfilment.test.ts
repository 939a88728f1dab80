/**
 * Shipments and delivery on the real edge, workers and Postgres: orders reach
 * `confirmed` through the payment sandbox and the real settler; the notifier turns the
 * outbox into the buyer's and seller's notifications.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/stack.js';
import {
  confirmedOrder, placeOrder, readOrder, sellerProduct, startPaidStack, waitForStatus, type PaidStack,
} from './support/fulfilment.js';

let stack: PaidStack;
type User = { token: string; userId: string };
let buyer: User;
let sellerA: User;
let sellerB: User;
let sellerC: User;

interface Notice {
  notificationId: number; kind: string; title: string; body: string; orderId: string | null; productId: string | null;
  data: Record<string, unknown>; email: { status: string };
}

beforeAll(async () => {
  stack = await startPaidStack(['notifier']);
  [buyer, sellerA, sellerB, sellerC] = await Promise.all([
    stack.api.newUser(), stack.api.newUser('seller'), stack.api.newUser('seller'), stack.api.newUser('seller'),
  ]);
});

afterAll(async () => {
  await stack?.stop();
});

function ship(token: string, orderId: string, body: unknown, key?: string) {
  return stack.api.request<Record<string, unknown> & { shipmentId: string; status: string }>('POST', `/v1/orders/${orderId}/shipments`, {
    token, body, headers: key ? { 'idempotency-key': key } : {},
  });
}

const delivered = (token: string, orderId: string) => stack.api.request('POST', `/v1/orders/${orderId}/delivered`, { token });

async function notices(token: string, query = ''): Promise<{ notifications: Notice[]; total: number; page: number; limit: number }> {
  const res = await stack.api.request<{ notifications: Notice[]; total: number; page: number; limit: number }>('GET', `/v1/notifications${query}`, { token });
  expect(res.status).toBe(200);
  return res.body;
}

async function shipmentsOf(orderId: string): Promise<number> {
  const { rows } = await stack.db.query<{ n: number }>('SELECT count(*)::int AS n FROM shipments WHERE order_id = $1', [orderId]);
  return rows[0]!.n;
}

describe('shipments', () => {
  it("ships each seller's own items; the order is shipped only when every item is, then delivered", async () => {
    const [pA, pB] = await Promise.all([sellerProduct(stack, sellerA.token), sellerProduct(stack, sellerB.token)]);
    const orderId = await confirmedOrder(stack, buyer.token, [{ productId: pA, quantity: 2 }, { productId: pB, quantity: 1 }]);
    const tracking = { carrier: 'UPS', trackingNumber: '1Z999AA10123456784' };

    // Who may not ship: the buyer (a customer), a seller of none of its items, a seller naming another's item.
    expect((await ship(buyer.token, orderId, tracking)).status).toBe(403);
    const stranger = await ship(sellerC.token, orderId, tracking);
    expect(stranger.status).toBe(403);
    expect(stranger.contentType).toContain('application/problem+json');
    expect((await ship(sellerA.token, orderId, { ...tracking, items: [{ productId: pB }] })).status).toBe(403);
    expect((await delivered(sellerC.token, orderId)).status).toBe(403);

    // Bad input: a 4xx naming the field, and nothing shipped.
    const cases: [unknown, string][] = [
      [{ trackingNumber: 'X1' }, 'carrier'],
      [{ carrier: 'UPS', trackingNumber: '' }, 'trackingNumber'],
      [{ carrier: 'UPS', trackingNumber: 'bad<tracking>' }, 'trackingNumber'],
      [{ ...tracking, items: [{ productId: randomUUID() }] }, 'items[0].productId'],
      [{ ...tracking, items: [{ productId: pA, quantity: 3 }] }, 'items[0].quantity'],
      [{ ...tracking, items: [{ productId: pA }, { productId: pA }] }, 'items[1].productId'],
      [{ ...tracking, extra: 1 }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const res = await ship(sellerA.token, orderId, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((res.body.errors as { field: string }[]).map((e) => e.field), JSON.stringify(body)).toContain(field);
    }
    expect((await ship(sellerA.token, 'not-a-uuid', tracking)).status).toBe(400);
    expect((await ship(sellerA.token, randomUUID(), tracking)).status).toBe(404);
    expect((await delivered(sellerA.token, orderId)).status).toBe(409); // not shipped yet
    expect(await shipmentsOf(orderId)).toBe(0);

    // Seller A ships one unit, with an Idempotency-Key: a retry answers the same shipment.
    const key = randomUUID();
    const first = await ship(sellerA.token, orderId, { carrier: 'UPS', trackingNumber: 'A-PART-1', items: [{ productId: pA, quantity: 1 }] }, key);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ success: true, orderId, status: 'confirmed', carrier: 'UPS', trackingNumber: 'A-PART-1',
      items: [{ productId: pA, quantity: 1, warehouseId: 'main' }] });
    const replay = await ship(sellerA.token, orderId, { carrier: 'UPS', trackingNumber: 'A-PART-1', items: [{ productId: pA, quantity: 1 }] }, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.shipmentId).toBe(first.body.shipmentId);
    expect((await ship(sellerA.token, orderId, { carrier: 'DHL', trackingNumber: 'OTHER' }, key)).status).toBe(422);

    // The rest of A's units by default; the order waits for B's item.
    const rest = await ship(sellerA.token, orderId, { carrier: 'UPS', trackingNumber: 'A-REST-2' });
    expect(rest.status).toBe(201);
    expect(rest.body).toMatchObject({ status: 'confirmed', items: [{ productId: pA, quantity: 1 }] });
    const again = await ship(sellerA.token, orderId, tracking);
    expect(again.status).toBe(409);
    expect(again.body.type).toBe('/problems/already-shipped');
    let order = await readOrder(stack, buyer.token, orderId);
    expect(order.status).toBe('confirmed');
    expect(order.trackingNumber).toBe('A-REST-2');
    expect(order.shipments.map((s) => s.trackingNumber)).toEqual(['A-PART-1', 'A-REST-2']);

    // Seller B ships the last item: now the order is shipped, and can no longer be cancelled.
    const last = await ship(sellerB.token, orderId, { carrier: 'FedEx', trackingNumber: '7489 1234 5678' });
    expect(last.status).toBe(201);
    expect(last.body.status).toBe('shipped');
    order = await readOrder(stack, buyer.token, orderId);
    expect(order.status).toBe('shipped');
    expect(order.trackingNumber).toBe('7489 1234 5678');
    expect(order.shipments).toHaveLength(3);
    expect(order.shipments[2]).toMatchObject({ carrier: 'FedEx', items: [{ productId: pB, quantity: 1 }] });
    expect(order.history.map((h) => h.status)).toEqual(['accepted', 'pending_payment', 'paid', 'confirmed', 'shipped']);
    expect((await stack.api.request('POST', `/v1/orders/${orderId}/cancel`, { token: buyer.token })).status).toBe(409);
    expect((await ship(sellerB.token, orderId, tracking)).status).toBe(409);

    // Delivered: by a seller of its items; a repeat answers the same.
    const done = await delivered(sellerB.token, orderId);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ success: true, orderId, status: 'delivered' });
    const repeat = await delivered(stack.adminToken, orderId);
    expect(repeat.status).toBe(200);
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    order = await readOrder(stack, buyer.token, orderId);
    expect(order.status).toBe('delivered');
    expect(order.history.at(-1)?.status).toBe('delivered');

    // The buyer hears of each step once: confirmed, three shipments (with tracking), delivered.
    let mine: Notice[] = [];
    await eventually(async () => {
      mine = (await notices(buyer.token, '?limit=100')).notifications.filter((n) => n.orderId === orderId);
      return mine.length === 5;
    }, 15_000, 'five notifications for the order');
    expect(mine.map((n) => n.kind).sort()).toEqual(['order_confirmed', 'order_delivered', 'order_shipped', 'order_shipped', 'order_shipped']);
    const shipped = mine.filter((n) => n.kind === 'order_shipped');
    expect(shipped.map((n) => n.data.trackingNumber).sort()).toEqual(['7489 1234 5678', 'A-PART-1', 'A-REST-2']);
    expect(shipped.find((n) => n.data.trackingNumber === '7489 1234 5678')?.title).toBe('Your order has shipped');
    expect(shipped.find((n) => n.data.trackingNumber === 'A-PART-1')?.title).toBe('Part of your order has shipped');
    expect(shipped.every((n) => n.body.includes(String(n.data.trackingNumber)))).toBe(true);
    expect(mine.every((n) => n.email.status === 'off')).toBe(true); // no SMTP_URL here
  });

  it('an admin ships everything at once; an order that is not confirmed does not ship', async () => {
    const [pA, pB] = await Promise.all([sellerProduct(stack, sellerA.token), sellerProduct(stack, sellerB.token)]);
    const declined = await placeOrder(stack, buyer.token, [{ productId: pA, quantity: 1 }], 'pm_card_chargeDeclined');
    await waitForStatus(stack, buyer.token, declined, 'failed');
    const refused = await ship(stack.adminToken, declined, { carrier: 'UPS', trackingNumber: 'NOPE1' });
    expect(refused.status).toBe(409);
    expect(refused.body.type).toBe('/problems/order-not-shippable');
    expect(await shipmentsOf(declined)).toBe(0);

    const orderId = await confirmedOrder(stack, buyer.token, [{ productId: pA, quantity: 1 }, { productId: pB, quantity: 3 }]);
    const all = await ship(stack.adminToken, orderId, { carrier: 'DHL', trackingNumber: 'JD0146000033' });
    expect(all.status).toBe(201);
    expect(all.body.status).toBe('shipped');
    expect(all.body.items).toEqual([pA, pB].sort().map((productId) => expect.objectContaining({ productId, quantity: productId === pA ? 1 : 3 })));
    const order = await readOrder(stack, stack.adminToken, orderId);
    expect(order).toMatchObject({ status: 'shipped', trackingNumber: 'JD0146000033' });
    expect((await delivered(stack.adminToken, orderId)).status).toBe(200);

    await eventually(async () => {
      const list = (await notices(buyer.token, '?kind=payment_failed')).notifications;
      return list.some((n) => n.orderId === declined);
    }, 15_000, 'the payment_failed notification');
    const failed = (await notices(buyer.token, '?kind=payment_failed')).notifications.filter((n) => n.orderId === declined);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.body).toContain('generic_decline');
  });
});

describe('GET /v1/notifications', () => {
  it("lists a seller's low-stock alerts to that seller only, paginated, filtered by kind", async () => {
    const product = await sellerProduct(stack, sellerC.token, 3);
    const res = await stack.api.request('PUT', `/v1/inventory/${product}`, { token: sellerC.token, body: { lowStockThreshold: 5 } });
    expect(res.status).toBe(200);
    let alerts: Notice[] = [];
    await eventually(async () => (alerts = (await notices(sellerC.token, '?kind=low_stock')).notifications).length === 1,
      15_000, 'the low-stock notification');
    expect(alerts[0]).toMatchObject({ kind: 'low_stock', productId: product, data: { available: 3, threshold: 5 } });
    expect(alerts[0]!.title).toMatch(/^Low stock: /);
    expect((await notices(buyer.token)).notifications.some((n) => n.productId === product)).toBe(false);
    expect((await notices(sellerA.token, '?kind=low_stock')).total).toBe(0);

    const page = await notices(buyer.token, '?page=1&limit=2');
    expect(page.limit).toBe(2);
    expect(page.notifications).toHaveLength(2);
    expect(page.total).toBeGreaterThanOrEqual(7);
    const next = await notices(buyer.token, '?page=2&limit=2');
    expect(next.notifications[0]!.notificationId).toBeLessThan(page.notifications[1]!.notificationId);

    for (const query of ['?kind=bogus', '?limit=0', '?page=x']) {
      const bad = await stack.api.request('GET', `/v1/notifications${query}`, { token: buyer.token });
      expect(bad.status, query).toBe(400);
    }
    expect((await stack.api.request('GET', '/v1/notifications')).status).toBe(401);
  });
});
