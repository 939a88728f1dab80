/**
 * Carts on the real stack: add, set, remove and read with current prices, kept in Redis
 * and Postgres; only their owner reaches them; guest-cart merge; checkout through the
 * same reservation pipeline, all or nothing, emptying the cart only on acceptance.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDRESS, pool as runPool, type ApiResponse } from './support/api.js';
import { eventually, ordersInDb, startStack, type Stack } from './support/stack.js';

let stack: Stack;

beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.stop(); });

const problemType = (res: ApiResponse<unknown>): string => String((res.body as { type?: string }).type ?? '').split('/').pop() ?? '';
const fields = (res: ApiResponse<unknown>): string[] => ((res.body as { errors?: { field: string }[] }).errors ?? []).map((e) => e.field);

interface Line { productId: string; quantity: number; unitPriceCents: number | null; lineTotalCents: number; flashSaleId: string | null; purchasable: boolean }
interface Cart { cartId: string | null; items: Line[]; totalCents: number }
interface User { token: string; userId: string }

const add = (user: User, productId: string, quantity: number) =>
  stack.api.request<{ success: boolean; cart: Cart }>('POST', '/v1/cart', { token: user.token, body: { productId, quantity } });

async function cartOf(user: User): Promise<Cart> {
  const res = await stack.api.request<{ userId: string; cart: Cart }>('GET', `/v1/cart/${user.userId}`, { token: user.token });
  expect(res.status).toBe(200);
  expect(res.body.userId).toBe(user.userId);
  return res.body.cart;
}

const checkout = (user: User, cartId: string, key: string = randomUUID()) =>
  stack.api.request('POST', '/v1/orders', {
    token: user.token, headers: { 'idempotency-key': key },
    body: { cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS },
  });

const quantities = (cart: Cart) => Object.fromEntries(cart.items.map((i) => [i.productId, i.quantity]));

describe('the cart', () => {
  it('adds, sets, removes and reads lines priced with current prices, kept in Redis and Postgres', async () => {
    const { api, adminToken, db, redis } = stack;
    const a = await api.createProduct(adminToken, 50, 1999);
    const b = await api.createProduct(adminToken, 50, 500);
    const user = await api.newUser();

    const added = await add(user, a, 2);
    expect(added.status).toBe(200);
    expect(added.body.cart.items).toEqual([expect.objectContaining({ productId: a, quantity: 2, unitPriceCents: 1999, lineTotalCents: 3998, purchasable: true })]);
    const cartId = added.body.cart.cartId;
    expect(cartId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await add(user, a, 1)).body.cart.items[0]!.quantity).toBe(3);
    expect((await add(user, b, 1)).body.cart.totalCents).toBe(3 * 1999 + 500);

    const set = await api.request<{ cart: Cart }>('PUT', `/v1/cart/${user.userId}`, { token: user.token, body: { productId: a, quantity: 1 } });
    expect([set.status, quantities(set.body.cart)]).toEqual([200, { [a]: 1, [b]: 1 }]);
    const removed = await api.request<{ cart: Cart }>('DELETE', `/v1/cart/${user.userId}/items/${b}`, { token: user.token });
    expect([removed.status, quantities(removed.body.cart)]).toEqual([200, { [a]: 1 }]);
    expect((await api.request('PUT', `/v1/cart/${user.userId}`, { token: user.token, body: { productId: b, quantity: 4 } })).status).toBe(200);
    const zero = await api.request<{ cart: Cart }>('PUT', `/v1/cart/${user.userId}`, { token: user.token, body: { productId: b, quantity: 0 } });
    expect(quantities(zero.body.cart)).toEqual({ [a]: 1 });

    // Current prices: a live sale prices the line at the sale's price.
    const saleId = await api.createSale(adminToken, a, 10, 2);
    const priced = await cartOf(user);
    expect(priced).toMatchObject({ cartId, totalCents: 999 });
    expect(priced.items[0]).toMatchObject({ unitPriceCents: 999, flashSaleId: saleId });

    // Postgres holds the record; the Redis copy comes back after it is lost.
    expect((await db.query('SELECT product_id, quantity FROM cart_items WHERE cart_id = $1', [cartId])).rows).toEqual([{ product_id: a, quantity: 1 }]);
    expect(await redis.exists(`cart:${user.userId}`)).toBe(1);
    await redis.del(`cart:${user.userId}`);
    expect(quantities(await cartOf(user))).toEqual({ [a]: 1 });
    expect(await redis.exists(`cart:${user.userId}`)).toBe(1);
  });

  it('lets only its owner read or change it', async () => {
    const { api, adminToken } = stack;
    const productId = await api.createProduct(adminToken, 5);
    const owner = await api.newUser();
    const other = await api.newUser();
    await add(owner, productId, 1);
    const routes: [string, string, unknown][] = [
      ['GET', `/v1/cart/${owner.userId}`, undefined],
      ['PUT', `/v1/cart/${owner.userId}`, { productId, quantity: 3 }],
      ['DELETE', `/v1/cart/${owner.userId}/items/${productId}`, undefined],
    ];
    for (const [method, path, body] of routes) {
      expect((await api.request(method, path, { body })).status, `${method} anonymous`).toBe(401);
      expect((await api.request(method, path, { body, token: other.token })).status, `${method} other user`).toBe(403);
      expect((await api.request(method, path, { body, token: adminToken })).status, `${method} admin`).toBe(403);
    }
    expect((await api.request('POST', '/v1/cart', { body: { productId, quantity: 1 } })).status).toBe(401);
    expect((await api.request('POST', '/v1/cart/merge', { body: { items: [] } })).status).toBe(401);
    expect(quantities(await cartOf(owner))).toEqual({ [productId]: 1 });
  });

  it('answers bad input with a problem naming the field, and changes nothing', async () => {
    const { api, adminToken } = stack;
    const productId = await api.createProduct(adminToken, 5);
    const user = await api.newUser();
    await add(user, productId, 999);
    const cases: [string, string, unknown, number, string[]][] = [
      ['POST', '/v1/cart', { productId: 'x', quantity: 1 }, 400, ['productId']],
      ['POST', '/v1/cart', { productId, quantity: 0 }, 400, ['quantity']],
      ['POST', '/v1/cart', { productId, quantity: 1001 }, 400, ['quantity']],
      ['POST', '/v1/cart', { productId }, 400, ['quantity']],
      ['POST', '/v1/cart', { productId: randomUUID(), quantity: 1 }, 404, ['productId']],
      ['POST', '/v1/cart', { productId, quantity: 2 }, 409, ['quantity']],
      ['PUT', `/v1/cart/${user.userId}`, { productId, quantity: -1 }, 400, ['quantity']],
      ['PUT', '/v1/cart/not-a-user', { productId, quantity: 1 }, 400, ['userId']],
      ['POST', '/v1/cart/merge', { items: 'lots' }, 400, ['items']],
      ['POST', '/v1/cart/merge', { items: [{ productId, quantity: 1, colour: 'red' }] }, 400, ['items[0].colour']],
    ];
    for (const [method, path, body, status, named] of cases) {
      const res = await api.request(method, path, { token: user.token, body });
      expect([res.status, fields(res)], `${method} ${path} ${JSON.stringify(body)}`).toEqual([status, named]);
      expect(res.contentType).toContain('application/problem+json');
    }
    expect(quantities(await cartOf(user))).toEqual({ [productId]: 999 });
  });

  it('merges a guest cart into the saved one', async () => {
    const { api, adminToken } = stack;
    const [a, b, c] = await Promise.all([api.createProduct(adminToken, 5), api.createProduct(adminToken, 5), api.createProduct(adminToken, 5)]);
    const user = await api.newUser();
    await add(user, a, 2);
    await add(user, c, 600);
    const gone = randomUUID();
    const merged = await api.request<{ cart: Cart; skipped: { productId: string; reason: string }[]; capped: string[] }>('POST', '/v1/cart/merge', {
      token: user.token,
      body: { items: [{ productId: a, quantity: 3 }, { productId: b, quantity: 1 }, { productId: a, quantity: 1 }, { productId: gone, quantity: 1 }, { productId: c, quantity: 700 }] },
    });
    expect(merged.status).toBe(200);
    expect(quantities(merged.body.cart)).toEqual({ [a]: 6, [b]: 1, [c]: 1000 });
    expect(merged.body.skipped).toEqual([{ productId: gone, reason: 'unknown-product' }]);
    expect(merged.body.capped).toEqual([c]);
    expect(quantities(await cartOf(user))).toEqual({ [a]: 6, [b]: 1, [c]: 1000 });
  });

  it('checks a cart out through the reservation pipeline, empties it on acceptance, and replays a retry', async () => {
    const { api, adminToken, db } = stack;
    const a = await api.createProduct(adminToken, 10, 1000);
    const b = await api.createProduct(adminToken, 10, 250);
    const user = await api.newUser();
    await add(user, a, 2);
    const cartId = (await add(user, b, 1)).body.cart.cartId!;

    const both = await api.request('POST', '/v1/orders', { token: user.token, headers: { 'idempotency-key': randomUUID() },
      body: { cartId, items: [{ productId: a, quantity: 1 }], paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } });
    expect([both.status, fields(both)]).toEqual([400, ['items']]);
    const neither = await api.request('POST', '/v1/orders', { token: user.token, headers: { 'idempotency-key': randomUUID() },
      body: { paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } });
    expect([neither.status, fields(neither)]).toEqual([400, ['items']]);
    const badId = await checkout(user, 'cart-1');
    expect([badId.status, fields(badId)]).toEqual([400, ['cartId']]);
    const unknown = await checkout(user, randomUUID());
    expect([unknown.status, problemType(unknown), fields(unknown)]).toEqual([404, 'cart-not-found', ['cartId']]);
    const stranger = await api.newUser();
    expect((await checkout(stranger, cartId)).status).toBe(404);

    const key = randomUUID();
    const placed = await checkout(user, cartId, key);
    expect(placed.status).toBe(202);
    const orderId = String(placed.body.orderId);
    expect(await cartOf(user)).toEqual({ cartId: null, items: [], totalCents: 0, currency: null });
    expect([await api.available(a), await api.available(b)]).toEqual([8, 9]);

    const replay = await checkout(user, cartId, key);
    expect([replay.status, replay.body.orderId, replay.headers.get('idempotent-replayed')]).toEqual([202, orderId, 'true']);
    expect([await api.available(a), await api.available(b)]).toEqual([8, 9]);
    const again = await checkout(user, cartId);
    expect([again.status, problemType(again)]).toEqual([409, 'cart-ordered']);

    await eventually(async () => (await ordersInDb(db, a)) === 1 && (await ordersInDb(db, b)) === 1, 30_000, 'the order persisted');
    const order = await api.request<{ totalCents: number; items: { productId: string; quantity: number }[] }>('GET', `/v1/orders/${orderId}`, { token: user.token });
    expect(order.body.totalCents).toBe(2 * 1000 + 250);

    const next = (await add(user, a, 1)).body.cart.cartId!;
    expect(next).not.toBe(cartId);
    await api.request('DELETE', `/v1/cart/${user.userId}/items/${a}`, { token: user.token });
    const empty = await checkout(user, next);
    expect([empty.status, problemType(empty)]).toEqual([409, 'cart-empty']);
  });

  it('reserves nothing when a product of the cart sells out mid-way, and keeps the cart', async () => {
    const { api, adminToken, redis } = stack;
    const ids = (await Promise.all([1, 2, 3].map(() => api.createProduct(adminToken, 10)))).sort();
    const [first, middle, last] = ids as [string, string, string];
    // The middle product (in the order lines are reserved) has no units left.
    const emptied = await api.request('POST', `/v1/inventory/${middle}/adjustments`, { token: adminToken, body: { delta: -10, reason: 'recall' } });
    expect(emptied.status).toBe(201);
    const user = await api.newUser();
    for (const id of [last, middle, first]) await add(user, id, 2);
    const before = await cartOf(user);

    const res = await checkout(user, before.cartId!);
    expect([res.status, problemType(res), (res.body as { productId?: string }).productId]).toEqual([409, 'sold-out', middle]);
    const orderId = String((res.body as { orderId?: string }).orderId);
    expect(await redis.hmget(`{p:${first}}:res:${orderId}`, 'st', 'why')).toEqual(['released', 'compensated']);
    expect(await redis.exists(`{p:${last}}:res:${orderId}`)).toBe(0);
    for (const id of ids) expect(Number(await redis.get(`{p:${id}}:reserved`) ?? 0)).toBe(0);
    expect([await api.available(first), await api.available(middle), await api.available(last)]).toEqual([10, 0, 10]);
    expect(await cartOf(user)).toEqual(before);
  });

  it('sells a scarce product of many carts checked out at once exactly once per unit', async () => {
    const { api, adminToken, db } = stack;
    const plenty = await api.createProduct(adminToken, 100);
    const scarce = await api.createProduct(adminToken, 4);
    const buyers = await runPool(12, 6, () => api.newUser());
    const carts = await runPool(12, 6, async (i) => {
      await add(buyers[i]!, plenty, 1);
      return (await add(buyers[i]!, scarce, 1)).body.cart.cartId!;
    });

    const answers = await Promise.all(buyers.map((b, i) => checkout(b, carts[i]!)));
    const accepted = answers.map((a, i) => (a.status === 202 ? i : -1)).filter((i) => i >= 0);
    expect(accepted).toHaveLength(4);
    expect(answers.filter((a) => a.status !== 202).every((a) => a.status === 409 && problemType(a) === 'sold-out')).toBe(true);
    expect([await api.available(plenty), await api.available(scarce)]).toEqual([96, 0]);
    for (const [i, b] of buyers.entries()) {
      expect((await cartOf(b)).items.length, `cart of buyer ${i}`).toBe(accepted.includes(i) ? 0 : 2);
    }
    await eventually(async () => (await ordersInDb(db, plenty)) === 4 && (await ordersInDb(db, scarce)) === 4, 30_000, '4 orders persisted');
    for (const id of [plenty, scarce]) {
      await eventually(async () => (await stack.redis.hget('stats:drift', id)) === '0', 30_000, `zero drift for ${id}`);
    }
  });
});
