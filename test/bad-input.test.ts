/**
 * Bad input gets a clear 4xx application/problem+json naming the problem, and
 * changes nothing: no reservation, no stock moved, no order.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDRESS, type ApiResponse, type RequestOptions } from './support/api.js';
import { serviceEnv } from './support/processes.js';
import { startStack, type Stack } from './support/stack.js';

let stack: Stack;
let buyer: { token: string; userId: string };
let productId: string;
let upcomingProductId: string;

beforeAll(async () => {
  stack = await startStack();
  buyer = await stack.api.newUser();
  productId = await stack.api.createProduct(stack.adminToken, 10);
  await stack.api.createSale(stack.adminToken, productId, 10, 2);
  upcomingProductId = await stack.api.createProduct(stack.adminToken, 10);
  await stack.api.createSale(stack.adminToken, upcomingProductId, 10, 2, { startsInMs: 3_600_000 });
});
afterAll(async () => { await stack?.stop(); });

/**
 * Everything an order could change, for one product and the buyer. A refusal's
 * idempotency memo (state 'refused', so a replay gets the same answer) holds no stock
 * and is not counted.
 */
async function snapshot(id: string): Promise<unknown> {
  const { redis, db, api } = stack;
  const reservations = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{p:${id}}:res:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) if ((await redis.hget(key, 'st')) !== 'refused') reservations.push(key);
  } while (cursor !== '0');
  const { rows } = await db.query('SELECT count(*)::int AS n FROM orders WHERE user_id = $1', [buyer.userId]);
  return {
    available: await api.available(id),
    reserved: await redis.get(`{p:${id}}:reserved`),
    reservations: reservations.length,
    orders: rows[0].n,
  };
}

function order(body: unknown, options: Omit<RequestOptions, 'body'> = {}): Promise<ApiResponse> {
  return stack.api.request('POST', '/v1/orders', {
    token: buyer.token, headers: { 'idempotency-key': randomUUID(), ...options.headers }, body, ...options,
  });
}

const good = () => ({ items: [{ productId, quantity: 1 }], paymentMethod: 'pm_card_visa', shippingAddress: { ...ADDRESS } });

function expectProblem(res: ApiResponse, status: number, typeSlug: string, mentions?: string): void {
  expect(res.status).toBe(status);
  expect(res.contentType).toContain('application/problem+json');
  const body = res.body as { type: string; title: string; status: number; detail: string; errors?: { field: string }[] };
  expect(body.type).toBe(`/problems/${typeSlug}`);
  expect(body.status).toBe(status);
  expect(body.title).toBeTruthy();
  expect(JSON.stringify(body)).not.toMatch(/at .*\.js:\d+/); // no stack trace
  if (mentions) expect(JSON.stringify(body.errors ?? body.detail)).toContain(mentions);
}

function signedToken(claims: Record<string, unknown>): string {
  const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const sig = createHmac('sha256', serviceEnv().JWT_SECRET!).update(`${head}.${payload}`).digest('base64url');
  return `${head}.${payload}.${sig}`;
}

describe('bad orders change nothing', () => {
  const cases: [string, () => Promise<ApiResponse>, number, string, string?][] = [
    ['malformed JSON', () => order(undefined, { rawBody: '{"items": [', headers: { 'content-type': 'application/json' } }), 400, 'malformed-json'],
    ['a missing field', () => order({ paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS }), 400, 'validation-failed', 'items'],
    ['an extra field', () => order({ ...good(), coupon: 'FREE' }), 400, 'validation-failed', 'coupon'],
    ['zero quantity', () => order({ ...good(), items: [{ productId, quantity: 0 }] }), 400, 'validation-failed', 'items[0].quantity'],
    ['negative quantity', () => order({ ...good(), items: [{ productId, quantity: -3 }] }), 400, 'validation-failed', 'items[0].quantity'],
    ['a huge quantity', () => order({ ...good(), items: [{ productId, quantity: 1e12 }] }), 400, 'validation-failed', 'items[0].quantity'],
    ['a fractional quantity', () => order({ ...good(), items: [{ productId, quantity: 1.5 }] }), 400, 'validation-failed', 'items[0].quantity'],
    ['a string quantity', () => order({ ...good(), items: [{ productId, quantity: '1' }] }), 400, 'validation-failed', 'items[0].quantity'],
    ['a product id that is not a UUID', () => order({ ...good(), items: [{ productId: "1' OR '1'='1", quantity: 1 }] }), 400, 'validation-failed', 'items[0].productId'],
    ['a card number instead of a payment token', () => order({ ...good(), paymentMethod: '4242424242424242' }), 400, 'validation-failed', 'paymentMethod'],
    ['a bad country code', () => order({ ...good(), shippingAddress: { ...ADDRESS, country: 'USA' } }), 400, 'validation-failed', 'shippingAddress.country'],
    ['an empty name on the address, in plain words', () => order({ ...good(), shippingAddress: { ...ADDRESS, name: '' } }), 400, 'validation-failed',
      '{"field":"shippingAddress.name","message":"must not be empty"}'],
    ['no Idempotency-Key', () => stack.api.request('POST', '/v1/orders', { token: buyer.token, body: good() }), 400, 'validation-failed', 'Idempotency-Key'],
    ['a body that is not JSON', () => order(undefined, { rawBody: 'items=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported-media-type'],
    ['a body over the size limit', () => order({ ...good(), shippingAddress: { ...ADDRESS, line2: 'x'.repeat(100_000) } }), 413, 'body-too-large'],
    ['no token', () => stack.api.request('POST', '/v1/orders', { headers: { 'idempotency-key': 'k' }, body: good() }), 401, 'unauthorized'],
    ['a token with a bad signature', () => order(good(), { token: `${buyer.token.slice(0, -4)}AAAA` }), 401, 'unauthorized'],
    ['an expired token', () => order(good(), { token: signedToken({ sub: buyer.userId, role: 'customer', iat: 1, exp: 2 }) }), 401, 'unauthorized', 'expired'],
    ['a token with alg none', () => order(good(), {
      token: `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: buyer.userId, role: 'admin', exp: 9e9 })).toString('base64url')}.`,
    }), 401, 'unauthorized'],
    ['an unknown product', () => order({ ...good(), items: [{ productId: randomUUID(), quantity: 1 }] }), 404, 'unknown-product'],
  ];

  for (const [name, send, status, slug, mentions] of cases) {
    it(`rejects ${name}`, async () => {
      const before = await snapshot(productId);
      expectProblem(await send(), status, slug, mentions);
      expect(await snapshot(productId)).toEqual(before);
    });
  }

  it('refuses an order before the sale starts, naming the start', async () => {
    const before = await snapshot(upcomingProductId);
    const res = await order({ ...good(), items: [{ productId: upcomingProductId, quantity: 1 }] });
    expectProblem(res, 409, 'sale-not-started');
    expect((res.body as { startsAt: string }).startsAt).toMatch(/^\d{4}-/);
    expect(await snapshot(upcomingProductId)).toEqual(before);
  });

  it('refuses an order after a sale ended with its units sold', async () => {
    const { api, adminToken } = stack;
    const ended = await api.createProduct(adminToken, 2);
    await api.createSale(adminToken, ended, 2, 5, { startsInMs: -500, lastsMs: 2_500 });
    const other = await api.newUser();
    expect((await api.order(other.token, ended, 2)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 2_500));
    const before = await snapshot(ended);
    expectProblem(await order({ ...good(), items: [{ productId: ended, quantity: 1 }] }), 409, 'sold-out');
    expect(await snapshot(ended)).toEqual(before);
  });
});

describe('bad requests elsewhere', () => {
  it('answers what the fuzzer found with a 4xx: an impossible report day, an asset named after an Object property', async () => {
    for (const date of ['9999-99-99', '2026-02-30', '2026-13-01']) {
      expectProblem(await stack.api.request('GET', `/v1/reports/sales/daily?date=${date}`, { token: stack.adminToken }), 400, 'validation-failed', 'date');
    }
    for (const file of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expectProblem(await stack.api.request('GET', `/ops/assets/${file}`), 404, 'not-found');
    }
  });

  it('names the bad fields of a product', async () => {
    const res = await stack.api.request('POST', '/v1/products', {
      token: stack.adminToken, body: { name: '', priceCents: 9.99, stock: -1, category: 'x', currency: 'usd' },
    });
    expectProblem(res, 400, 'validation-failed');
    const fields = (res.body as { errors: { field: string }[] }).errors.map((e) => e.field).sort();
    expect(fields).toEqual(['currency', 'name', 'priceCents', 'stock']);
  });

  it('keeps customers from creating products and sales', async () => {
    expectProblem(await stack.api.request('POST', '/v1/products', {
      token: buyer.token, body: { name: 'x', priceCents: 1, stock: 1, category: 'x' },
    }), 403, 'forbidden');
    expectProblem(await stack.api.request('POST', '/v1/flash-sales', {
      token: buyer.token, body: { productId, quantity: 1, perUserLimit: 1, startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 1e6).toISOString() },
    }), 403, 'forbidden');
  });

  it('refuses a sale larger than the stock, or overlapping another', async () => {
    const { api, adminToken } = stack;
    const id = await api.createProduct(adminToken, 5);
    const body = (quantity: number) => ({ productId: id, quantity, perUserLimit: 1, startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 1e6).toISOString() });
    expectProblem(await api.request('POST', '/v1/flash-sales', { token: adminToken, body: body(6) }), 409, 'insufficient-stock');
    expect(await api.available(id)).toBe(5);
    expect((await api.request('POST', '/v1/flash-sales', { token: adminToken, body: body(2) })).status).toBe(201);
    expectProblem(await api.request('POST', '/v1/flash-sales', { token: adminToken, body: body(1) }), 409, 'sale-overlaps');
    expectProblem(await api.request('POST', '/v1/flash-sales', {
      token: adminToken, body: { ...body(1), endsAt: '2020-01-01T00:00:00Z', startsAt: '2019-01-01T00:00:00Z' },
    }), 400, 'validation-failed', 'endsAt');
  });

  it('answers unknown routes and ids with problems', async () => {
    expectProblem(await stack.api.request('GET', '/v1/nothing-here'), 404, 'not-found');
    expectProblem(await stack.api.request('GET', '/v1/products/not-a-uuid'), 400, 'validation-failed', 'productId');
    expectProblem(await stack.api.request('GET', `/v1/products/${randomUUID()}`), 404, 'not-found');
    expectProblem(await stack.api.request('GET', `/v1/orders/${randomUUID()}`, { token: buyer.token }), 404, 'not-found');
  });

  it('refuses a duplicate registration and a wrong password', async () => {
    const email = `dup-${randomUUID()}@test.local`;
    const body = { name: 'A', email, password: 'password-123' };
    expect((await stack.api.request('POST', '/v1/users/register', { body })).status).toBe(201);
    expectProblem(await stack.api.request('POST', '/v1/users/register', { body }), 409, 'email-taken');
    expectProblem(await stack.api.request('POST', '/v1/users/login', { body: { email, password: 'wrong-password' } }), 401, 'unauthorized');
    expectProblem(await stack.api.request('POST', '/v1/users/register', { body: { ...body, email: 'not-an-email', role: 'admin' } }), 400, 'validation-failed', 'role');
  });

  it('echoes x-request-id', async () => {
    const res = await stack.api.request('GET', '/healthz', { headers: { 'x-request-id': 'trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
  });
});
