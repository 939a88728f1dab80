/**
 * The flash sale under a crowd, on the real edge, Redis, Kafka, writer and Postgres:
 * no oversell, per-buyer limits, idempotency.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pool as runPool, type ApiResponse } from './support/api.js';
import { eventually, ordersInDb, startStack, type Stack } from './support/stack.js';
import { createKafka } from '../common/kafka.js';
import { createLogger } from '../common/logger.js';
import { TOPICS } from '../common/topics.js';

let stack: Stack;

beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.stop(); });

function problemType(res: ApiResponse): string {
  return String((res.body as { type?: string }).type ?? '').split('/').pop() ?? '';
}

describe('a flash sale of 100 units', () => {
  it('takes exactly 100 of 2,000 concurrent attempts from 200 buyers', async () => {
    const { api, adminToken, db } = stack;
    const productId = await api.createProduct(adminToken, 100);
    await api.createSale(adminToken, productId, 100, 2);
    const buyers = await runPool(200, 20, () => api.newUser());

    const answers = await runPool(2_000, 200, (i) => api.order(buyers[i % 200]!.token, productId));

    const accepted = answers.filter((a) => a.status === 202);
    const others = answers.filter((a) => a.status !== 202);
    expect(accepted).toHaveLength(100);
    for (const res of others) {
      expect(res.contentType).toContain('application/problem+json');
      const type = problemType(res);
      expect([[409, 'sold-out'], [429, 'limit-exceeded']]).toContainEqual([res.status, type]);
    }
    const ids = new Set(accepted.map((a) => a.body.orderId));
    expect(ids.size).toBe(100);

    // Per-buyer limit held: nobody got more than 2.
    const perBuyer = new Map<string, number>();
    answers.forEach((a, i) => { if (a.status === 202) perBuyer.set(buyers[i % 200]!.userId, (perBuyer.get(buyers[i % 200]!.userId) ?? 0) + 1); });
    expect(Math.max(...perBuyer.values())).toBeLessThanOrEqual(2);

    await eventually(async () => (await ordersInDb(db, productId)) >= 100, 60_000, '100 orders in Postgres');
    expect(await ordersInDb(db, productId)).toBe(100);
    expect(await ordersInDb(db, productId, ['pending_payment'])).toBe(100);
    expect(await api.available(productId)).toBe(0);
    // Every accepted id is one of the persisted ones.
    const { rows } = await db.query<{ order_id: string }>(
      'SELECT order_id FROM order_items WHERE product_id = $1', [productId]);
    expect(new Set(rows.map((r) => r.order_id))).toEqual(ids);
  });

  it('holds the per-user limit under concurrent attempts by one buyer', async () => {
    const { api, adminToken, db } = stack;
    const productId = await api.createProduct(adminToken, 50);
    await api.createSale(adminToken, productId, 50, 3);
    const buyer = await api.newUser();

    const answers = await Promise.all(Array.from({ length: 30 }, () => api.order(buyer.token, productId)));

    expect(answers.filter((a) => a.status === 202)).toHaveLength(3);
    for (const res of answers.filter((a) => a.status !== 202)) {
      expect(res.status).toBe(429);
      expect(problemType(res)).toBe('limit-exceeded');
    }
    expect(await api.available(productId)).toBe(47);
    await eventually(async () => (await ordersInDb(db, productId)) === 3, 30_000, '3 orders persisted');
  });

  it('gives one order and one reservation for one Idempotency-Key sent 20 times at once', async () => {
    const { api, adminToken, db, redis } = stack;
    const productId = await api.createProduct(adminToken, 10);
    const buyer = await api.newUser();
    const key = randomUUID();

    const answers = await Promise.all(Array.from({ length: 20 }, () => api.order(buyer.token, productId, 2, key)));

    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    expect(new Set(answers.map((a) => a.body.orderId)).size).toBe(1);
    const orderId = String(answers[0]!.body.orderId);
    expect(await api.available(productId)).toBe(8);
    expect(await redis.exists(`{p:${productId}}:res:${orderId}`)).toBe(1);
    await eventually(async () => (await ordersInDb(db, productId)) === 1, 30_000, 'the order persisted');

    // Later replays answer the same order; the same key with another body is refused.
    const replay = await api.order(buyer.token, productId, 2, key);
    expect(replay.status).toBe(202);
    expect(replay.body.orderId).toBe(orderId);
    const reused = await api.order(buyer.token, productId, 1, key);
    expect(reused.status).toBe(422);
    expect(problemType(reused)).toBe('idempotency-key-reused');
    expect(await api.available(productId)).toBe(8);
    expect(await ordersInDb(db, productId)).toBe(1);
  });

  it('answers GET for an order from the moment of its 202, and lists the buyer\'s orders', async () => {
    const { api, adminToken } = stack;
    const productId = await api.createProduct(adminToken, 5);
    const buyer = await api.newUser();
    const other = await api.newUser();
    const placed = await api.order(buyer.token, productId, 1);
    expect(placed.status).toBe(202);
    expect(placed.headers.get('location')).toBe(`/v1/orders/${placed.body.orderId}`);

    const read = await api.request('GET', `/v1/orders/${placed.body.orderId}`, { token: buyer.token });
    expect(read.status).toBe(200);
    expect(['accepted', 'pending_payment']).toContain(read.body.status);
    expect(read.body.totalCents).toBe(1999);

    const hidden = await api.request('GET', `/v1/orders/${placed.body.orderId}`, { token: other.token });
    expect(hidden.status).toBe(404);

    await eventually(async () => {
      const list = await api.request<{ orders: { orderId: string; status: string }[]; total: number }>(
        'GET', `/v1/orders/user/${buyer.userId}`, { token: buyer.token });
      return list.status === 200 && list.body.total === 1 && list.body.orders[0]?.status === 'pending_payment';
    }, 30_000, 'the order listed as pending_payment');
    const forbidden = await api.request('GET', `/v1/orders/user/${buyer.userId}`, { token: other.token });
    expect(forbidden.status).toBe(403);
  });

  it('sells a product with no sale through the same pipeline, without a per-user limit', async () => {
    const { api, adminToken, db } = stack;
    const productId = await api.createProduct(adminToken, 5);
    const buyer = await api.newUser();
    const answers = await Promise.all(Array.from({ length: 8 }, () => api.order(buyer.token, productId)));
    expect(answers.filter((a) => a.status === 202)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 409 && problemType(a) === 'sold-out')).toHaveLength(3);
    expect(await api.available(productId)).toBe(0);
    await eventually(async () => (await ordersInDb(db, productId)) === 5, 30_000, '5 orders persisted');
  });

  it('skips a message on the order stream that is not an order, and persists the orders after it', async () => {
    const { api, adminToken, db } = stack;
    const kafka = createKafka((process.env.KAFKA_BROKERS ?? '').split(','), 'poison-test', createLogger('poison-test', 'silent'));
    const admin = kafka.admin();
    const producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
    try {
      const { partitions } = (await admin.fetchTopicMetadata({ topics: [TOPICS.ordersAccepted] })).topics[0]!;
      const junk = ['not json', '{}', '{"orderId":"not-a-uuid"}', 'null'];
      await producer.send({
        topic: TOPICS.ordersAccepted,
        messages: partitions.flatMap((p) => junk.map((value) => ({ partition: p.partitionId, value }))),
      });
    } finally {
      await Promise.all([admin.disconnect(), producer.disconnect()]);
    }
    const productId = await api.createProduct(adminToken, 20);
    const buyer = await api.newUser();
    const answers = await Promise.all(Array.from({ length: 12 }, () => api.order(buyer.token, productId)));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
    await eventually(async () => (await ordersInDb(db, productId)) === 12, 30_000, 'the 12 orders after the junk persisted');
  });

  it('measures zero drift once the orders are persisted', async () => {
    const { api, adminToken, redis } = stack;
    const productId = await api.createProduct(adminToken, 7);
    const buyer = await api.newUser();
    await api.order(buyer.token, productId, 2);
    await eventually(async () => (await redis.hget('stats:drift', productId)) === '0', 20_000, 'drift measured as 0');
  });
});
