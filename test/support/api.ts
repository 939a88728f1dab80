/** A small HTTP client for the public contract (API.md), as tests and load scripts see it. */
import { randomUUID } from 'node:crypto';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  contentType: string;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

export const ADDRESS = { name: 'Ada Buyer', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' };

export class Api {
  constructor(readonly baseUrl: string) {}

  async request<T = Record<string, unknown>>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let payload: string | undefined = options.rawBody;
    if (options.body !== undefined) payload = JSON.stringify(options.body);
    if (payload !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const res = await fetch(this.baseUrl + path, { method, headers, body: payload });
    const text = await res.text();
    const contentType = res.headers.get('content-type') ?? '';
    let body: unknown = text;
    if (contentType.includes('json') && text) body = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: body as T, contentType };
  }

  async login(email: string, password: string): Promise<{ token: string; userId: string }> {
    const res = await this.request<{ token: string; userId: string }>('POST', '/v1/users/login', { body: { email, password } });
    if (res.status !== 200) throw new Error(`login ${email}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async newUser(role: 'customer' | 'seller' = 'customer'): Promise<{ token: string; userId: string; email: string }> {
    const email = `u-${randomUUID()}@test.local`;
    const password = 'password-123';
    const reg = await this.request('POST', '/v1/users/register', { body: { name: 'Test User', email, password, role } });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
    return { ...(await this.login(email, password)), email };
  }

  async createProduct(adminToken: string, stock: number, priceCents = 1999): Promise<string> {
    const res = await this.request<{ productId: string }>('POST', '/v1/products', {
      token: adminToken, body: { name: `Product ${randomUUID().slice(0, 8)}`, description: 'test', priceCents, stock, category: 'test' },
    });
    if (res.status !== 201) throw new Error(`create product: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.productId;
  }

  async createSale(adminToken: string, productId: string, quantity: number, perUserLimit: number,
    window: { startsInMs?: number; lastsMs?: number } = {}): Promise<string> {
    const startsAt = new Date(Date.now() + (window.startsInMs ?? -1_000));
    const endsAt = new Date(startsAt.getTime() + (window.lastsMs ?? 3_600_000));
    const res = await this.request<{ flashSaleId: string }>('POST', '/v1/flash-sales', {
      token: adminToken, body: { productId, quantity, perUserLimit, startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString(), priceCents: 999 },
    });
    if (res.status !== 201) throw new Error(`create sale: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.flashSaleId;
  }

  order(token: string, productId: string, quantity = 1, key: string = randomUUID()): Promise<ApiResponse> {
    return this.request('POST', '/v1/orders', {
      token, headers: { 'idempotency-key': key },
      body: { items: [{ productId, quantity }], paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS },
    });
  }

  async available(productId: string): Promise<number> {
    const res = await this.request<{ available: number }>('GET', `/v1/products/${productId}`);
    if (res.status !== 200) throw new Error(`product ${productId}: ${res.status}`);
    return res.body.available;
  }
}

/** Runs `tasks` with at most `concurrency` in flight. */
export async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  }));
  return results;
}
