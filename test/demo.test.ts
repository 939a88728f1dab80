/**
 * The README's demo, end to end: the real demo seed (infra/demo-seed.ts, as `npm start`
 * runs it) against the edge, workers, payment sandbox and notifier; a buyer orders from
 * the demo's live flash sale exactly as README's "Try it" does, the order is confirmed
 * through the sandbox, the admin ships it with a tracking number the buyer then sees,
 * and it is delivered.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/stack.js';
import { ADMIN, ROOT, serviceEnv } from './support/processes.js';
import { readOrder, startPaidStack, waitForStatus, type PaidStack } from './support/fulfilment.js';

let stack: PaidStack;

interface Sale { flashSaleId: string; productId: string; status: string; perUserLimit: number; priceCents: number }

beforeAll(async () => {
  stack = await startPaidStack(['notifier']);
});

afterAll(async () => {
  await stack?.stop();
});

async function liveSales(): Promise<Sale[]> {
  const res = await stack.api.request<{ flashSales: Sale[] }>('GET', '/v1/flash-sales?status=live');
  expect(res.status).toBe(200);
  return res.body.flashSales;
}

/** Runs the demo seed as infra/start.sh does: the edge's port and the admin's credentials from the environment. */
async function runDemoSeed(): Promise<string> {
  const { stderr } = await promisify(execFile)(process.execPath, [join(ROOT, 'dist/infra/demo-seed.js')], {
    cwd: ROOT, timeout: 30_000,
    env: { ...process.env, ...serviceEnv(), PORT: stack.edgeEnv.PORT!, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password },
  });
  return stderr;
}

describe('the README demo', () => {
  it("takes a flash-sale order from the seeded demo to confirmed, shipped with tracking, and delivered", async () => {
    // The seed leaves a shop alone when a sale is live; end earlier test files' sales so it seeds afresh, as on a first start.
    // (The list holds at most 200 sales: ask again until none is live.)
    for (let live = await liveSales(); live.length > 0; live = await liveSales()) {
      for (const sale of live) {
        const ended = await stack.api.request('PATCH', `/v1/flash-sales/${sale.flashSaleId}`, { token: stack.adminToken, body: { status: 'ended' } });
        expect(ended.status).toBe(200);
      }
    }
    const seedLog = await runDemoSeed();
    const sales = await liveSales();
    expect(sales).toHaveLength(1);
    const [sale] = sales as [Sale];
    expect(sale).toMatchObject({ perUserLimit: 2, priceCents: 9_900 });
    expect(seedLog).toContain(`flash sale ${sale.flashSaleId} live on product ${sale.productId}`);

    // README: register, log in, order one unit of the sale's product with pm_card_visa.
    const email = `ada-${randomUUID()}@example.com`;
    const registered = await stack.api.request('POST', '/v1/users/register', { body: { name: 'Ada', email, password: 'correct-horse' } });
    expect(registered.status).toBe(201);
    const buyer = await stack.api.login(email, 'correct-horse');
    const placed = await stack.api.request<{ orderId: string; status: string }>('POST', '/v1/orders', {
      token: buyer.token, headers: { 'idempotency-key': randomUUID() },
      body: {
        items: [{ productId: sale.productId, quantity: 1 }], paymentMethod: 'pm_card_visa',
        shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' },
      },
    });
    expect(placed.status).toBe(202);
    expect(placed.body.status).toBe('accepted');
    const { orderId } = placed.body;

    const confirmed = await waitForStatus(stack, buyer.token, orderId, 'confirmed');
    expect(confirmed.trackingNumber).toBeNull();

    // README: the admin (the credentials `npm start` prints) ships it with a tracking number.
    const admin = await stack.api.login(ADMIN.email, ADMIN.password);
    const trackingNumber = '1Z999AA10123456784';
    const shipped = await stack.api.request<{ status: string; carrier: string; trackingNumber: string }>('POST', `/v1/orders/${orderId}/shipments`, {
      token: admin.token, body: { carrier: 'UPS', trackingNumber },
    });
    expect(shipped.status).toBe(201);
    expect(shipped.body).toMatchObject({ status: 'shipped', carrier: 'UPS', trackingNumber });

    const seen = await readOrder(stack, buyer.token, orderId);
    expect(seen).toMatchObject({ status: 'shipped', trackingNumber });
    expect(seen.shipments).toEqual([expect.objectContaining({ carrier: 'UPS', trackingNumber, items: [expect.objectContaining({ productId: sale.productId, quantity: 1 })] })]);

    // The buyer hears of the shipment, tracking number included.
    type Notice = { kind: string; orderId: string | null; body: string; data: Record<string, unknown> };
    let notices: Notice[] = [];
    await eventually(async () => {
      const res = await stack.api.request<{ notifications: Notice[] }>('GET', '/v1/notifications?kind=order_shipped', { token: buyer.token });
      notices = res.body.notifications.filter((n) => n.orderId === orderId);
      return notices.length > 0;
    }, 15_000, 'the shipped notification');
    expect(notices).toHaveLength(1);
    expect(notices[0]!.data.trackingNumber).toBe(trackingNumber);
    expect(notices[0]!.body).toContain(trackingNumber);

    const delivered = await stack.api.request('POST', `/v1/orders/${orderId}/delivered`, { token: admin.token });
    expect(delivered.status).toBe(200);
    const done = await readOrder(stack, buyer.token, orderId);
    expect(done).toMatchObject({ status: 'delivered', trackingNumber });
    expect(done.history.map((h) => h.status)).toEqual(['accepted', 'pending_payment', 'paid', 'confirmed', 'shipped', 'delivered']);
    const times = done.history.map((h) => Date.parse(h.at));
    expect(times.every((t, i) => !Number.isNaN(t) && (i === 0 || t >= times[i - 1]!))).toBe(true);
  });
});
