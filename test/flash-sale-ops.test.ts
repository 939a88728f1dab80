/**
 * Changing a flash sale while it runs (PATCH /v1/flash-sales/{id}) on the real stack:
 * pause, resume, end early (unsold units back to stock), and units added to a live
 * sale that sell at once and never oversell.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pool as runPool, type ApiResponse } from './support/api.js';
import { eventually, ordersInDb, startStack, type Stack } from './support/stack.js';

let stack: Stack;

beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.stop(); });

const problemType = (res: ApiResponse<unknown>): string => String((res.body as { type?: string }).type ?? '').split('/').pop() ?? '';
const fields = (res: ApiResponse<unknown>): string[] => ((res.body as { errors?: { field: string }[] }).errors ?? []).map((e) => e.field);

interface SaleView { flashSaleId: string; status: string; quantity: number; remaining: number }

function patch(saleId: string, body: unknown, token = stack.adminToken): Promise<ApiResponse<SaleView>> {
  return stack.api.request<SaleView>('PATCH', `/v1/flash-sales/${saleId}`, { token, body });
}

async function sale(saleId: string): Promise<SaleView> {
  return (await stack.api.request<SaleView>('GET', `/v1/flash-sales/${saleId}`)).body;
}

const driftIsZero = (productId: string) =>
  eventually(async () => (await stack.redis.hget('stats:drift', productId)) === '0', 30_000, `zero drift for ${productId}`);

describe('PATCH /v1/flash-sales/{id}', () => {
  it('pauses, resumes and ends a sale early, giving its unsold units back to stock', async () => {
    const { api, adminToken, db } = stack;
    const productId = await api.createProduct(adminToken, 20);
    const saleId = await api.createSale(adminToken, productId, 10, 5);
    const buyer = await api.newUser();
    expect((await api.order(buyer.token, productId)).status).toBe(202);

    const paused = await patch(saleId, { status: 'paused' });
    expect([paused.status, paused.body.status, paused.body.remaining]).toEqual([200, 'paused', 9]);
    const refused = await api.order(buyer.token, productId);
    expect([refused.status, problemType(refused)]).toEqual([409, 'sale-paused']);
    expect((await db.query('SELECT state FROM flash_sales WHERE flash_sale_id = $1', [saleId])).rows[0]).toEqual({ state: 'paused' });

    const resumed = await patch(saleId, { status: 'live' });
    expect([resumed.status, resumed.body.status]).toEqual([200, 'live']);
    expect((await api.order(buyer.token, productId)).status).toBe(202);

    const ended = await patch(saleId, { status: 'ended' });
    expect([ended.status, ended.body.status, ended.body.remaining]).toEqual([200, 'ended', 0]);
    expect(await api.available(productId)).toBe(18);
    // Sold from stock now, at the product's own price and without the sale's limit.
    const after = await api.order(buyer.token, productId, 6);
    expect(after.status).toBe(202);
    await eventually(async () => (await api.request('GET', `/v1/orders/${String(after.body.orderId)}`, { token: buyer.token })).status === 200);
    const order = await api.request<{ totalCents: number }>('GET', `/v1/orders/${String(after.body.orderId)}`, { token: buyer.token });
    expect(order.body.totalCents).toBe(6 * 1999);

    const again = await patch(saleId, { status: 'ended' });
    expect(again.status).toBe(200);
    const reopen = await patch(saleId, { status: 'live' });
    expect([reopen.status, problemType(reopen)]).toEqual([409, 'sale-ended']);
    await eventually(async () => (await ordersInDb(db, productId)) === 3, 30_000, '3 orders persisted');
    await driftIsZero(productId);
  });

  it('sells units added to a live sale at once, and never more than the sale holds', async () => {
    const { api, adminToken, db } = stack;
    const productId = await api.createProduct(adminToken, 30);
    const saleId = await api.createSale(adminToken, productId, 5, 1);
    const buyers = await runPool(60, 10, () => api.newUser());
    const first = await Promise.all(buyers.slice(0, 6).map((b) => api.order(b.token, productId)));
    expect(first.filter((a) => a.status === 202)).toHaveLength(5);
    expect(first.filter((a) => problemType(a) === 'sold-out')).toHaveLength(1); // this edge now marks it sold out

    const grown = await patch(saleId, { quantity: 15 });
    expect([grown.status, grown.body.quantity, grown.body.remaining]).toEqual([200, 15, 10]);
    const second = await Promise.all(buyers.slice(5, 30).map((b) => api.order(b.token, productId)));
    expect(second.filter((a) => a.status === 202)).toHaveLength(10);
    expect(second.filter((a) => a.status !== 202).every((a) => problemType(a) === 'sold-out')).toBe(true);

    // Units added while a crowd is buying: every unit is sold once, none twice.
    const [third, grownAgain] = await Promise.all([
      Promise.all(buyers.slice(30).map((b) => api.order(b.token, productId))),
      patch(saleId, { quantity: 20 }),
    ]);
    expect(grownAgain.status).toBe(200);
    const acceptedLate = third.filter((a) => a.status === 202).length;
    expect(acceptedLate + (await sale(saleId)).remaining).toBe(5);
    const accepted = 15 + acceptedLate;
    await eventually(async () => (await ordersInDb(db, productId)) === accepted, 30_000, `${accepted} orders persisted`);
    expect(await ordersInDb(db, productId)).toBe(accepted);
    expect((await db.query('SELECT quantity FROM flash_sales WHERE flash_sale_id = $1', [saleId])).rows[0]).toEqual({ quantity: 20 });
    await driftIsZero(productId);
  });

  it('refuses what it cannot do, naming the field, and changes nothing', async () => {
    const { api, adminToken } = stack;
    const productId = await api.createProduct(adminToken, 12);
    const saleId = await api.createSale(adminToken, productId, 10, 2);
    const seller = await api.newUser('seller');
    const customer = await api.newUser();

    const cases: [unknown, number, string, string[]][] = [
      [{ quantity: 8 }, 400, 'validation-failed', ['quantity']],
      [{ quantity: 10 }, 400, 'validation-failed', ['quantity']],
      [{ quantity: 13 }, 409, 'insufficient-stock', ['quantity']],
      [{}, 400, 'validation-failed', ['status']],
      [{ status: 'over' }, 400, 'validation-failed', ['status']],
      [{ status: 'ended', quantity: 11 }, 400, 'validation-failed', ['quantity']],
      [{ quantity: 11, price: 1 }, 400, 'validation-failed', ['price']],
    ];
    for (const [body, status, type, named] of cases) {
      const res = await patch(saleId, body);
      expect([res.status, problemType(res), fields(res)], JSON.stringify(body)).toEqual([status, type, named]);
    }
    expect((await patch(saleId, { status: 'paused' }, '')).status).toBe(401);
    expect((await patch(saleId, { status: 'paused' }, seller.token)).status).toBe(403);
    expect((await patch(saleId, { status: 'paused' }, customer.token)).status).toBe(403);
    const badId = await patch('not-a-uuid', { status: 'paused' });
    expect([badId.status, fields(badId)]).toEqual([400, ['flashSaleId']]);
    expect((await patch('7b0c3a52-3d0e-4a53-9f6e-3c0b7f1e2a10', { status: 'paused' })).status).toBe(404);

    expect(await sale(saleId)).toMatchObject({ status: 'live', quantity: 10, remaining: 10 });
    expect(await api.available(productId)).toBe(10);
    const extra = await patch(saleId, { quantity: 12 });
    expect([extra.status, extra.body.remaining]).toEqual([200, 12]);
  });
});
