/**
 * Inventory on the real edge, Redis, Kafka, writer and Postgres: stock per warehouse,
 * adjustments and transfers with their audit ledger, who may write, bad input, a
 * restock that sells at once and never oversells, and low-stock alerts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pool as runPool, type ApiResponse } from './support/api.js';
import { eventually, ordersInDb, startStack, type Stack } from './support/stack.js';

let stack: Stack;

beforeAll(async () => { stack = await startStack({ edgeEnv: { LOW_STOCK_INTERVAL_MS: '300' } }); });
afterAll(async () => { await stack?.stop(); });

const problemType = (res: ApiResponse<unknown>): string => String((res.body as { type?: string }).type ?? '').split('/').pop() ?? '';
const fields = (res: ApiResponse<unknown>): string[] => ((res.body as { errors?: { field: string }[] }).errors ?? []).map((e) => e.field);

interface Entry { entryId: number; warehouseId: string; delta: number; reason: string; actorId: string; actorRole: string; before: number; after: number; transferId: string | null }
interface WarehouseView { warehouseId: string; stock: number; reserved: number; available: number }
interface InventoryView {
  stock: number; reserved: number; available: number; availableOutsideSales: number; inSales: number; lowStockThreshold: number;
  warehouses: WarehouseView[];
}

function adjust(token: string, productId: string, body: unknown, key?: string): Promise<ApiResponse<{ entry: Entry; stock: number }>> {
  return stack.api.request('POST', `/v1/inventory/${productId}/adjustments`, { token, body, headers: key ? { 'idempotency-key': key } : {} });
}

function transfer(token: string, body: unknown): Promise<ApiResponse<{ transferId: string; entries: Entry[] }>> {
  return stack.api.request('POST', '/v1/inventory/transfers', { token, body });
}

async function inventory(token: string, productId: string): Promise<InventoryView> {
  const res = await stack.api.request<InventoryView>('GET', `/v1/inventory/${productId}`, { token });
  expect(res.status).toBe(200);
  return res.body;
}

async function ledger(token: string, productId: string): Promise<{ entries: Entry[]; total: number }> {
  const res = await stack.api.request<{ entries: Entry[]; total: number }>('GET', `/v1/inventory/${productId}/ledger?limit=100`, { token });
  expect(res.status).toBe(200);
  return res.body;
}

async function newWarehouse(): Promise<string> {
  const warehouseId = `wh-${randomUUID().slice(0, 8)}`;
  const res = await stack.api.request('POST', '/v1/warehouses', { token: stack.adminToken, body: { warehouseId, name: 'East' } });
  expect(res.status).toBe(201);
  return warehouseId;
}

const driftIsZero = (productId: string) =>
  eventually(async () => (await stack.redis.hget('stats:drift', productId)) === '0', 30_000, `zero drift for ${productId}`);

describe('inventory', () => {
  it('shows stock per warehouse and records every adjustment: who, why, before, after', async () => {
    const { api } = stack;
    const seller = await api.newUser('seller');
    const productId = await api.createProduct(seller.token, 10);

    const start = await inventory(seller.token, productId);
    expect(start).toMatchObject({ stock: 10, reserved: 0, available: 10 });
    expect(start.warehouses).toEqual([expect.objectContaining({ warehouseId: 'main', stock: 10, reserved: 0, available: 10 })]);

    const restock = await adjust(seller.token, productId, { delta: 5, reason: 'restock' });
    expect(restock.status).toBe(201);
    expect(restock.body.entry).toMatchObject({ warehouseId: 'main', delta: 5, reason: 'restock', actorId: seller.userId, actorRole: 'seller', before: 10, after: 15 });
    expect(restock.body.stock).toBe(15);
    const damaged = await adjust(stack.adminToken, productId, { warehouseId: 'main', delta: -3, reason: 'damaged' });
    expect(damaged.status).toBe(201);
    expect(damaged.body.entry).toMatchObject({ delta: -3, before: 15, after: 12, actorRole: 'admin' });
    expect(await api.available(productId)).toBe(12);

    const trail = await ledger(seller.token, productId);
    expect(trail.total).toBe(3);
    expect(trail.entries.map((e) => [e.delta, e.reason, e.before, e.after, e.actorRole])).toEqual([
      [-3, 'damaged', 15, 12, 'admin'], [5, 'restock', 10, 15, 'seller'], [10, 'initial stock', 0, 10, 'seller'],
    ]);

    const buyer = await api.newUser();
    expect((await api.order(buyer.token, productId, 2)).status).toBe(202);
    expect(await inventory(seller.token, productId)).toMatchObject({ stock: 12, reserved: 2, available: 10 });
    await driftIsZero(productId);
  });

  it('transfers units between warehouses without changing the total, reserved units on the fullest', async () => {
    const { api, adminToken } = stack;
    const seller = await api.newUser('seller');
    const productId = await api.createProduct(seller.token, 12);
    const east = await newWarehouse();
    expect((await adjust(seller.token, productId, { warehouseId: east, delta: 4, reason: 'first delivery east' })).status).toBe(201);

    const moved = await transfer(seller.token, { productId, fromWarehouseId: 'main', toWarehouseId: east, quantity: 6 });
    expect(moved.status).toBe(201);
    expect(moved.body.entries.map((e) => [e.warehouseId, e.delta, e.before, e.after, e.transferId])).toEqual([
      ['main', -6, 12, 6, moved.body.transferId], [east, 6, 4, 10, moved.body.transferId],
    ]);
    expect(await api.available(productId)).toBe(16);

    const buyer = await api.newUser();
    expect((await api.order(buyer.token, productId, 3)).status).toBe(202);
    const view = await inventory(seller.token, productId);
    expect(view).toMatchObject({ stock: 16, reserved: 3, available: 13 });
    const byId = Object.fromEntries(view.warehouses.map((w) => [w.warehouseId, w]));
    expect(byId[east]).toMatchObject({ stock: 10, reserved: 3, available: 7 });
    expect(byId.main).toMatchObject({ stock: 6, reserved: 0, available: 6 });

    const before = (await ledger(adminToken, productId)).total;
    const tooMany = await transfer(seller.token, { productId, fromWarehouseId: 'main', toWarehouseId: east, quantity: 7 });
    expect([tooMany.status, problemType(tooMany), fields(tooMany)]).toEqual([409, 'insufficient-stock', ['quantity']]);
    const nowhere = await transfer(seller.token, { productId, fromWarehouseId: 'main', toWarehouseId: 'nowhere', quantity: 1 });
    expect([nowhere.status, problemType(nowhere), fields(nowhere)]).toEqual([404, 'unknown-warehouse', ['toWarehouseId']]);
    const same = await transfer(seller.token, { productId, fromWarehouseId: 'main', toWarehouseId: 'main', quantity: 1 });
    expect([same.status, fields(same)]).toEqual([400, ['toWarehouseId']]);
    expect((await ledger(adminToken, productId)).total).toBe(before);
    await driftIsZero(productId);
  });

  it('removes only units nobody holds: never reserved or set aside for a sale', async () => {
    const { api, adminToken } = stack;
    const productId = await api.createProduct(adminToken, 6);
    await api.createSale(adminToken, productId, 3, 5);
    const buyer = await api.newUser();
    expect((await api.order(buyer.token, productId, 1)).status).toBe(202);

    const refused = await adjust(adminToken, productId, { delta: -4, reason: 'audit' });
    expect([refused.status, problemType(refused), fields(refused)]).toEqual([409, 'insufficient-stock', ['delta']]);
    expect((refused.body as { available?: number }).available).toBe(3);
    expect((await ledger(adminToken, productId)).total).toBe(1);
    expect(await inventory(adminToken, productId)).toMatchObject({ stock: 6, availableOutsideSales: 3, inSales: 2, reserved: 1 });

    expect((await adjust(adminToken, productId, { delta: -3, reason: 'audit' })).status).toBe(201);
    expect(await inventory(adminToken, productId)).toMatchObject({ stock: 3, availableOutsideSales: 0, inSales: 2, reserved: 1, available: 2 });
    await driftIsZero(productId);
  });

  it('sells a restock at once and never oversells it', async () => {
    const { api, adminToken, db } = stack;
    const productId = await api.createProduct(adminToken, 3);
    const buyers = await runPool(25, 10, () => api.newUser());
    for (const b of buyers.slice(0, 3)) expect((await api.order(b.token, productId)).status).toBe(202);
    const soldOut = await api.order(buyers[3]!.token, productId);
    expect([soldOut.status, problemType(soldOut)]).toEqual([409, 'sold-out']);

    expect((await adjust(adminToken, productId, { delta: 5, reason: 'restock' })).status).toBe(201);
    const answers = await Promise.all(buyers.slice(3).map((b) => api.order(b.token, productId)));
    expect(answers.filter((a) => a.status === 202)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 409 && problemType(a) === 'sold-out')).toHaveLength(17);
    expect(await api.available(productId)).toBe(0);
    await eventually(async () => (await ordersInDb(db, productId)) === 8, 30_000, '8 orders persisted');
    await driftIsZero(productId);
  });

  it('lets only admins and the product\'s seller read or change its stock', async () => {
    const { api, adminToken } = stack;
    const owner = await api.newUser('seller');
    const otherSeller = await api.newUser('seller');
    const customer = await api.newUser();
    const productId = await api.createProduct(owner.token, 10);
    const east = await newWarehouse();
    const calls: [string, string, unknown][] = [
      ['GET', `/v1/inventory/${productId}`, undefined],
      ['GET', `/v1/inventory/${productId}/ledger`, undefined],
      ['POST', `/v1/inventory/${productId}/adjustments`, { delta: 1, reason: 'r' }],
      ['POST', '/v1/inventory/transfers', { productId, fromWarehouseId: 'main', toWarehouseId: east, quantity: 1 }],
      ['PUT', `/v1/inventory/${productId}`, { lowStockThreshold: 1 }],
    ];
    for (const [method, path, body] of calls) {
      expect((await api.request(method, path, { body })).status, `${method} ${path} anonymous`).toBe(401);
      expect((await api.request(method, path, { body, token: customer.token })).status, `${method} ${path} customer`).toBe(403);
      expect((await api.request(method, path, { body, token: otherSeller.token })).status, `${method} ${path} other seller`).toBe(403);
    }
    expect((await ledger(adminToken, productId)).total).toBe(1);
    for (const token of [owner.token, adminToken]) {
      for (const [method, path, body] of calls) {
        expect((await api.request(method, path, { body, token })).status, `${method} ${path}`).toBeLessThan(300);
      }
    }
    expect((await ledger(adminToken, productId)).total).toBe(1 + 2 * 3);
    const warehouse = { warehouseId: `wh-${randomUUID().slice(0, 8)}`, name: 'West' };
    expect((await api.request('POST', '/v1/warehouses', { body: warehouse })).status).toBe(401);
    expect((await api.request('POST', '/v1/warehouses', { body: warehouse, token: owner.token })).status).toBe(403);
    expect((await api.request('GET', '/v1/warehouses', { token: customer.token })).status).toBe(403);
    expect((await api.request('GET', '/v1/warehouses', { token: owner.token })).status).toBe(200);
  });

  it('answers bad input with a problem naming the field, and changes nothing', async () => {
    const { api, adminToken } = stack;
    const productId = await api.createProduct(adminToken, 10);
    const cases: [unknown, number, string[]][] = [
      [{ delta: 0, reason: 'nothing' }, 400, ['delta']],
      [{ delta: 1 }, 400, ['reason']],
      [{ delta: 1.5, reason: 'half' }, 400, ['delta']],
      [{ delta: 1, reason: '' }, 400, ['reason']],
      [{ delta: 1, reason: 'r', colour: 'red' }, 400, ['colour']],
      [{ delta: 1, reason: 'r', warehouseId: 'Not An Id!' }, 400, ['warehouseId']],
      [{ delta: 1, reason: 'r', warehouseId: 'nowhere' }, 404, ['warehouseId']],
      [{ delta: -11, reason: 'too many' }, 409, ['delta']],
    ];
    for (const [body, status, named] of cases) {
      const res = await adjust(adminToken, productId, body);
      expect([res.status, fields(res)], JSON.stringify(body)).toEqual([status, named]);
      expect(res.contentType).toContain('application/problem+json');
    }
    const badId = await adjust(adminToken, 'not-a-uuid', { delta: 1, reason: 'r' });
    expect([badId.status, fields(badId)]).toEqual([400, ['productId']]);
    expect((await adjust(adminToken, randomUUID(), { delta: 1, reason: 'r' })).status).toBe(404);
    const threshold = await api.request('PUT', `/v1/inventory/${productId}`, { token: adminToken, body: { lowStockThreshold: -1 } });
    expect([threshold.status, fields(threshold)]).toEqual([400, ['lowStockThreshold']]);
    const noQuantity = await transfer(adminToken, { productId, fromWarehouseId: 'main', toWarehouseId: 'main' });
    expect([noQuantity.status, fields(noQuantity)]).toEqual([400, ['quantity']]);
    const key = await api.request('POST', `/v1/inventory/${productId}/adjustments`,
      { token: adminToken, body: { delta: 1, reason: 'r' }, headers: { 'idempotency-key': 'bad key with spaces' } });
    expect([key.status, fields(key)]).toEqual([400, ['Idempotency-Key']]);

    expect((await ledger(adminToken, productId)).total).toBe(1);
    expect(await api.available(productId)).toBe(10);
  });

  it('applies an adjustment once per Idempotency-Key', async () => {
    const { api, adminToken } = stack;
    const productId = await api.createProduct(adminToken, 1);
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 5 }, () => adjust(adminToken, productId, { delta: 4, reason: 'restock' }, key)));
    expect(answers.map((a) => a.status)).toEqual(Array(5).fill(201));
    expect(new Set(answers.map((a) => a.body.entry.entryId)).size).toBe(1);
    const reused = await adjust(adminToken, productId, { delta: 5, reason: 'restock' }, key);
    expect([reused.status, problemType(reused)]).toEqual([422, 'idempotency-key-reused']);
    expect((await ledger(adminToken, productId)).total).toBe(2);
    expect(await api.available(productId)).toBe(5);
  });

  it('records one low-stock alert for the seller each time the units fall below the threshold', async () => {
    const { api, db } = stack;
    const seller = await api.newUser('seller');
    const productId = await api.createProduct(seller.token, 10);
    const alerts = async () => (await db.query<{ seller_id: string; available: number; threshold: number }>(
      'SELECT seller_id, available, threshold FROM low_stock_alerts WHERE product_id = $1 ORDER BY alert_id', [productId])).rows;

    expect((await api.request('PUT', `/v1/inventory/${productId}`, { token: seller.token, body: { lowStockThreshold: 5 } })).status).toBe(200);
    expect((await inventory(seller.token, productId)).lowStockThreshold).toBe(5);
    const buyer = await api.newUser();
    expect((await api.order(buyer.token, productId, 6)).status).toBe(202); // 4 left: below 5
    await eventually(async () => (await alerts()).length === 1, 15_000, 'a low-stock alert');
    expect(await alerts()).toEqual([{ seller_id: seller.userId, available: 4, threshold: 5 }]);

    expect((await api.order(buyer.token, productId, 1)).status).toBe(202); // still below: no second alert
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await alerts()).toHaveLength(1);

    expect((await adjust(seller.token, productId, { delta: 10, reason: 'restock' })).status).toBe(201); // 13: above again
    expect((await adjust(seller.token, productId, { delta: -10, reason: 'recall' })).status).toBe(201); // 3: below again
    await eventually(async () => (await alerts()).length === 2, 15_000, 'a second low-stock alert');
    expect((await alerts())[1]).toEqual({ seller_id: seller.userId, available: 3, threshold: 5 });
  });
});
