/**
 * Catalog writes and the read path: who may create, update and delete products; bad
 * input; the detail served from the edge's cache with `available` always fresh; changes
 * reaching another edge's cache and search within a second; reviews and ratings.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, pool as inParallel, type ApiResponse } from './support/api.js';
import { freePort, startReady, type RunningProcess } from './support/processes.js';
import { startStack, type Stack } from './support/stack.js';
import { createProductVia } from './support/catalog-seed.js';

interface Product {
  productId: string; name: string; description: string; priceCents: number; currency: string; category: string;
  sellerId: string; attributes: Record<string, unknown>; available: number; images: unknown[]; rating: number | null; reviewCount: number;
}
interface SearchPage { products: Product[]; total: number; page: number; limit: number }

let stack: Stack;
let api: Api;
/** A second edge on the same services: its caches must hear about changes made through the first. */
let otherEdge: RunningProcess;
let other: Api;
let seller: { token: string; userId: string };
let otherSeller: { token: string; userId: string };
let customer: { token: string; userId: string };

beforeAll(async () => {
  stack = await startStack();
  api = stack.api;
  const port = await freePort();
  otherEdge = await startReady('edge', { PORT: String(port), HOST: '127.0.0.1' });
  other = new Api(`http://127.0.0.1:${port}`);
  [seller, otherSeller, customer] = await Promise.all([api.newUser('seller'), api.newUser('seller'), api.newUser('customer')]);
});
afterAll(async () => {
  await otherEdge?.kill('SIGTERM');
  await stack?.stop();
});

const word = () => `w${randomUUID().replace(/-/g, '').slice(0, 10)}`;

function expectProblem(res: ApiResponse, status: number, field?: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.contentType).toContain('application/problem+json');
  if (field) expect((res.body as { errors?: { field: string }[] }).errors?.map((e) => e.field)).toContain(field);
}

async function detail(via: Api, productId: string): Promise<ApiResponse<Product>> {
  return via.request<Product>('GET', `/v1/products/${productId}`);
}

/** Polls until `check` holds; returns how long it took (ms), or fails after `withinMs`. */
async function within(withinMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > withinMs) throw new Error(`not within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('products: create, read, update, delete', () => {
  it('creates a product and reads it back with the fields of API.md', async () => {
    const productId = await createProductVia(api, seller.token, {
      name: 'Walnut desk lamp', description: 'Warm light', priceCents: 4_550, currency: 'EUR', stock: 7, category: 'catalog-home',
      attributes: { color: 'walnut', watts: 40 },
    });
    const res = await detail(api, productId);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      productId, name: 'Walnut desk lamp', description: 'Warm light', priceCents: 4_550, currency: 'EUR', category: 'catalog-home',
      sellerId: seller.userId, attributes: { color: 'walnut', watts: 40 }, available: 7, images: [], rating: null, reviewCount: 0,
    });
    expect((await detail(api, randomUUID())).status).toBe(404);
  });

  it('answers HEAD like GET, without the body', async () => {
    const productId = await createProductVia(api, seller.token, { name: 'Head lamp', stock: 3 });
    const [get, head, missing] = await Promise.all([
      fetch(`${api.baseUrl}/v1/products/${productId}`),
      fetch(`${api.baseUrl}/v1/products/${productId}`, { method: 'HEAD' }),
      fetch(`${api.baseUrl}/v1/products/${randomUUID()}`, { method: 'HEAD' }),
    ]);
    const body = await get.text();
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
    expect(Number(head.headers.get('content-length'))).toBe(Buffer.byteLength(body));
    expect(await head.text()).toBe('');
    expect(missing.status).toBe(404);
  });

  it('updates only the fields given, and orders take the new price', async () => {
    const productId = await createProductVia(api, seller.token, { name: 'Old name', description: 'kept', priceCents: 1_000, attributes: { a: 'b' } });
    const res = await api.request<{ success: boolean; product: Product }>('PUT', `/v1/products/${productId}`, {
      token: seller.token, body: { name: 'New name', priceCents: 1_250 },
    });
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
    expect(res.body.product).toMatchObject({ productId, name: 'New name', priceCents: 1_250, description: 'kept', attributes: { a: 'b' }, available: 10 });
    expect(await stack.redis.hget(`{p:${productId}}:info`, 'price')).toBe('1250');
    expect((await detail(api, productId)).body.name).toBe('New name');
  });

  it('deletes a product: gone from reads and search, and orders for it are refused', async () => {
    const name = word();
    const productId = await createProductVia(api, seller.token, { name: `Doomed ${name}` });
    expect((await api.request<SearchPage>('GET', `/v1/products?q=${name}`)).body.total).toBe(1);
    const res = await api.request('DELETE', `/v1/products/${productId}`, { token: seller.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, productId });
    expect((await detail(api, productId)).status).toBe(404);
    expect((await api.request<SearchPage>('GET', `/v1/products?q=${name}`)).body.total).toBe(0);
    const order = await api.order(customer.token, productId, 1);
    expect(order.status).toBe(404);
    expect((order.body as { type: string }).type).toBe('/problems/unknown-product');
    expect(await stack.redis.get(`{p:${productId}}:reserved`)).toBeNull();
    expectProblem(await api.request('PUT', `/v1/products/${productId}`, { token: seller.token, body: { name: 'x' } }), 404);
    expectProblem(await api.request('DELETE', `/v1/products/${productId}`, { token: seller.token }), 404);
  });
});

describe('who may write', () => {
  let productId: string;
  beforeAll(async () => { productId = await createProductVia(api, seller.token, { name: 'Guarded' }); });

  const writes = (id: () => string) => [
    ['PUT', () => `/v1/products/${id()}`, { name: 'Hijacked' }],
    ['DELETE', () => `/v1/products/${id()}`, undefined],
  ] as const;

  it('answers 401 without a token and 403 for a customer or another seller, changing nothing', async () => {
    for (const [method, path, body] of writes(() => productId)) {
      expectProblem(await api.request(method, path(), { body }), 401);
      expectProblem(await api.request(method, path(), { body, token: customer.token }), 403);
      expectProblem(await api.request(method, path(), { body, token: otherSeller.token }), 403);
    }
    expectProblem(await api.request('POST', '/v1/products', { token: customer.token, body: { name: 'x', priceCents: 1, stock: 1, category: 'c' } }), 403);
    const res = await detail(api, productId);
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('Guarded');
  });

  it('lets an admin change any product', async () => {
    const res = await api.request<{ product: Product }>('PUT', `/v1/products/${productId}`, { token: stack.adminToken, body: { category: 'curated' } });
    expect(res.status).toBe(200);
    expect(res.body.product).toMatchObject({ category: 'curated', sellerId: seller.userId });
    expect((await api.request('DELETE', `/v1/products/${productId}`, { token: stack.adminToken })).status).toBe(200);
  });
});

describe('bad input is a 400 naming the field and changes nothing', () => {
  let productId: string;
  beforeAll(async () => { productId = await createProductVia(api, seller.token, { name: 'Stable', priceCents: 500 }); });

  it.each([
    ['an empty update', {}, '(body)'],
    ['a negative price', { priceCents: -1 }, 'priceCents'],
    ['a fractional price', { priceCents: 1.5 }, 'priceCents'],
    ['a price as a string', { priceCents: '12.00' }, 'priceCents'],
    ['a lower-case currency', { currency: 'usd' }, 'currency'],
    ['an empty name', { name: '' }, 'name'],
    ['stock (changed through inventory)', { stock: 5 }, 'stock'],
    ['an unknown field', { colour: 'red' }, 'colour'],
    ['attributes that are not an object', { attributes: ['a'] }, 'attributes'],
  ])('PUT with %s', async (_what, body, field) => {
    expectProblem(await api.request('PUT', `/v1/products/${productId}`, { token: seller.token, body }), 400, field);
    expect((await detail(api, productId)).body).toMatchObject({ name: 'Stable', priceCents: 500 });
  });

  it('rejects a product id that is not a UUID', async () => {
    expectProblem(await api.request('GET', '/v1/products/not-a-uuid'), 400, 'productId');
    expectProblem(await api.request('PUT', '/v1/products/not-a-uuid', { token: seller.token, body: { name: 'x' } }), 400, 'productId');
  });

  it.each([
    ['sort=cheapest', 'sort'],
    ['minPriceCents=-5', 'minPriceCents'],
    ['maxPriceCents=12.5', 'maxPriceCents'],
    ['minPriceCents=500&maxPriceCents=100', 'maxPriceCents'],
    ['sellerId=42', 'sellerId'],
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['page=0', 'page'],
    ['page=501&limit=20', 'page'],
    [`q=${'x'.repeat(201)}`, 'q'],
  ])('GET /v1/products?%s', async (query, field) => {
    expectProblem(await api.request('GET', `/v1/products?${query}`), 400, field);
  });

  it('takes odd search words as words, never as query syntax', async () => {
    for (const q of ['"', '-', '!!!', "it's", 'a & b | !c', '\\', '%', '<->', 'café:*', '(x']) {
      const res = await api.request<SearchPage>('GET', `/v1/products?q=${encodeURIComponent(q)}`);
      expect(res.status, q).toBe(200);
      expect(res.body.products, q).toBeInstanceOf(Array);
    }
  });

  it('names every bad search parameter at once', async () => {
    const res = await api.request<{ errors: { field: string }[] }>('GET', '/v1/products?sort=x&limit=0&minPriceCents=y');
    expectProblem(res, 400);
    expect(res.body.errors.map((e) => e.field).sort()).toEqual(['limit', 'minPriceCents', 'sort']);
  });
});

describe('read path: cached detail, fresh availability, changes everywhere within a second', () => {
  it('serves the detail from the cache but never its stock: a sell-out shows at once', async () => {
    const productId = await createProductVia(api, seller.token, { name: 'Last one', stock: 1 });
    expect((await detail(api, productId)).body.available).toBe(1);
    const cached = await detail(api, productId);
    expect(cached.headers.get('x-cache')).toBe('hit');
    expect(cached.body.available).toBe(1);
    expect((await api.order(customer.token, productId, 1)).status).toBe(202);
    const after = await detail(api, productId);
    expect(after.headers.get('x-cache')).toBe('hit');
    expect(after.body.available).toBe(0);
    expect((await api.order(customer.token, productId, 1)).status).toBe(409);
  });

  it('an update through one edge reaches the other edge\'s detail and search within a second', async () => {
    const [before, after] = [word(), word()];
    const productId = await createProductVia(api, seller.token, { name: `Lamp ${before}`, priceCents: 3_000 });
    // Warm the other edge's caches: detail and search are answered from memory.
    await detail(other, productId);
    expect((await detail(other, productId)).headers.get('x-cache')).toBe('hit');
    await other.request('GET', `/v1/products?q=${before}`);
    const warm = await other.request<SearchPage>('GET', `/v1/products?q=${before}`);
    expect(warm.headers.get('x-cache')).toBe('hit');
    expect(warm.body.total).toBe(1);

    const put = await api.request('PUT', `/v1/products/${productId}`, { token: seller.token, body: { name: `Lamp ${after}`, priceCents: 2_500 } });
    expect(put.status).toBe(200);
    const tookMs = await within(1_000, async () => {
      const [d, oldWord, newWord] = await Promise.all([
        detail(other, productId),
        other.request<SearchPage>('GET', `/v1/products?q=${before}`),
        other.request<SearchPage>('GET', `/v1/products?q=${after}`),
      ]);
      return d.body.name === `Lamp ${after}` && d.body.priceCents === 2_500 && oldWord.body.total === 0 && newWord.body.total === 1;
    });
    expect(tookMs).toBeLessThan(1_000);
  });

  it('a new product and a deletion reach the other edge\'s search within a second', async () => {
    const tag = word();
    await createProductVia(api, seller.token, { name: `First ${tag}` });
    await other.request('GET', `/v1/products?q=${tag}`);
    expect((await other.request<SearchPage>('GET', `/v1/products?q=${tag}`)).body.total).toBe(1);
    const second = await createProductVia(api, seller.token, { name: `Second ${tag}` });
    await within(1_000, async () => (await other.request<SearchPage>('GET', `/v1/products?q=${tag}`)).body.total === 2);
    await detail(other, second);
    expect((await api.request('DELETE', `/v1/products/${second}`, { token: seller.token })).status).toBe(200);
    await within(1_000, async () => (await detail(other, second)).status === 404
      && (await other.request<SearchPage>('GET', `/v1/products?q=${tag}`)).body.total === 1);
  });
});

describe('reviews', () => {
  it('keeps one review per buyer per product and the average and count exact', async () => {
    const productId = await createProductVia(api, seller.token, { name: 'Reviewed kettle' });
    await detail(api, productId); // cached with no reviews
    const buyers = await inParallel(3, 3, () => api.newUser('customer'));
    for (const [i, rating] of [5, 4, 2].entries()) {
      const res = await api.request('POST', `/v1/products/${productId}/reviews`, {
        token: buyers[i]!.token, body: { rating, title: `Rated ${rating}`, body: 'Boils water.' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ success: true, productId, reviewCount: i + 1 });
    }
    const again = await api.request('POST', `/v1/products/${productId}/reviews`, { token: buyers[0]!.token, body: { rating: 1 } });
    expectProblem(again, 409);
    expect((again.body as { type: string }).type).toBe('/problems/review-exists');

    const product = (await detail(api, productId)).body;
    expect(product.reviewCount).toBe(3);
    expect(product.rating).toBe(3.67);
    const list = await api.request<{ reviews: { rating: number; title: string; userId: string }[]; total: number; rating: number }>(
      'GET', `/v1/products/${productId}/reviews?limit=2`);
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(3);
    expect(list.body.rating).toBe(3.67);
    expect(list.body.reviews.map((r) => r.rating)).toEqual([2, 4]);
  });

  it('counts every one of many reviews posted at once', async () => {
    const productId = await createProductVia(api, seller.token, { name: 'Popular kettle' });
    const buyers = await inParallel(12, 6, () => api.newUser('customer'));
    const statuses = await Promise.all(buyers.map((b, i) => api.request('POST', `/v1/products/${productId}/reviews`, {
      token: b.token, body: { rating: (i % 5) + 1 },
    }).then((r) => r.status)));
    expect(statuses.every((s) => s === 201)).toBe(true);
    const product = (await detail(api, productId)).body;
    expect(product.reviewCount).toBe(12);
    // ratings 1,2,3,4,5,1,2,3,4,5,1,2 → 33 / 12
    expect(product.rating).toBe(2.75);
  });

  it('refuses bad reviews', async () => {
    const productId = await createProductVia(api, seller.token, { name: 'Unreviewed' });
    const post = (body: unknown, token?: string) => api.request('POST', `/v1/products/${productId}/reviews`, { token, body });
    expectProblem(await post({ rating: 4 }), 401);
    for (const rating of [0, 6, 2.5, '5']) expectProblem(await post({ rating }, customer.token), 400, 'rating');
    expectProblem(await post({ title: 'no rating' }, customer.token), 400, 'rating');
    expectProblem(await post({ rating: 5 }, seller.token), 403);
    expectProblem(await api.request('POST', `/v1/products/${randomUUID()}/reviews`, { token: customer.token, body: { rating: 5 } }), 404);
    const product = (await detail(api, productId)).body;
    expect(product).toMatchObject({ reviewCount: 0, rating: null });
  });
});
