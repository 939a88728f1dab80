/**
 * Crashes and outages on the order path, injected for real: the order writer
 * SIGKILLed at its fault points, the edge SIGKILLed between reserve and produce,
 * Kafka stopped and frozen. No accepted order is lost or doubled; no unit is lost.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pool as runPool, Api } from './support/api.js';
import { freePort, startProcess, startReady, type RunningProcess } from './support/processes.js';
import { services } from './support/services.js';
import { eventually, ordersInDb, startStack, type Stack } from './support/stack.js';

let stack: Stack;
let buyer: { token: string; userId: string };

beforeAll(async () => {
  stack = await startStack({ without: ['order-writer'], edgeEnv: { PRODUCE_TIMEOUT_MS: '3000', RESERVATION_HOLD_MS: '4000' } });
  buyer = await stack.api.newUser();
});
afterAll(async () => {
  await services('kafka-resume').catch(() => undefined);
  await stack?.stop();
});

async function placeAccepted(productId: string, count: number): Promise<string[]> {
  const answers = await runPool(count, 10, () => stack.api.order(buyer.token, productId));
  expect(answers.map((a) => a.status)).toEqual(Array(count).fill(202));
  return answers.map((a) => String(a.body.orderId));
}

async function persistedOnce(productId: string, orderIds: string[]): Promise<void> {
  const { rows } = await stack.db.query<{ order_id: string; history: number }>(
    `SELECT o.order_id, (SELECT count(*)::int FROM order_history h WHERE h.order_id = o.order_id) AS history
       FROM orders o JOIN order_items i USING (order_id) WHERE i.product_id = $1`, [productId]);
  expect(rows.map((r) => r.order_id).sort()).toEqual([...orderIds].sort());
  for (const row of rows) expect(row.history).toBe(2); // accepted, pending_payment: once each
}

describe('the order writer killed at a fault point', () => {
  for (const point of ['writer.after-copy', 'writer.after-commit'] as const) {
    it(`loses and doubles nothing when SIGKILLed at ${point}`, async () => {
      const productId = await stack.api.createProduct(stack.adminToken, 100);
      const doomed = await startReady('order-writer', { FAULT_POINT: point });
      const orderIds = await placeAccepted(productId, 20);
      await doomed.waitFor(new RegExp(`FAULT_POINT_REACHED ${point}`), 60_000);
      await doomed.kill('SIGKILL');
      const afterKill = await ordersInDb(stack.db, productId);
      if (point === 'writer.after-copy') expect(afterKill).toBe(0); // the COPY never committed

      const writer = await startReady('order-writer');
      try {
        await eventually(async () => (await ordersInDb(stack.db, productId)) === 20, 60_000, '20 orders persisted');
        await new Promise((r) => setTimeout(r, 1_000)); // any redelivery lands by now
        await persistedOnce(productId, orderIds);
        expect(await stack.api.available(productId)).toBe(80);
      } finally {
        await writer.kill('SIGTERM');
      }
    });
  }
});

describe('Postgres restarted', () => {
  it('keeps taking orders (no Postgres on the order path) and the writer persists them all once it is back', async () => {
    const productId = await stack.api.createProduct(stack.adminToken, 50);
    const writer = await startReady('order-writer');
    try {
      await services('pg-stop');
      let orderIds: string[];
      try {
        orderIds = await placeAccepted(productId, 10);
      } finally {
        await services('pg-start');
      }
      await eventually(async () => (await ordersInDb(stack.db, productId).catch(() => -1)) === 10, 60_000, '10 orders persisted');
      await persistedOnce(productId, orderIds);
      expect(await stack.api.available(productId)).toBe(40);
    } finally {
      await writer.kill('SIGTERM');
    }
  });
});

describe('the edge killed between reserve and produce', () => {
  it('gets its units back from the reconciler once the hold runs out', async () => {
    const productId = await stack.api.createProduct(stack.adminToken, 10);
    const port = await freePort();
    const doomed: RunningProcess = startProcess('edge', { PORT: String(port), HOST: '127.0.0.1', FAULT_POINT: 'edge.after-reserve', RESERVATION_HOLD_MS: '2000' });
    await doomed.waitFor(/edge listening/);
    const api = new Api(`http://127.0.0.1:${port}`);
    const pending = api.order(buyer.token, productId, 3).catch(() => undefined);
    await doomed.waitFor(/FAULT_POINT_REACHED edge.after-reserve/);
    expect(await stack.api.available(productId)).toBe(7);
    await doomed.kill('SIGKILL');
    await pending;
    await eventually(async () => (await stack.api.available(productId)) === 10, 20_000, 'the units back');
    expect(await stack.redis.get(`{p:${productId}}:reserved`)).toBe('0');
    expect(await ordersInDb(stack.db, productId)).toBe(0);
  });
});

describe('Kafka unavailable', () => {
  let writer: RunningProcess;
  beforeAll(async () => { writer = await startReady('order-writer'); });
  afterAll(async () => { await writer?.kill('SIGTERM'); });

  it('answers 503 with Retry-After and puts the stock back when Kafka is stopped', async () => {
    const productId = await stack.api.createProduct(stack.adminToken, 10);
    await services('kafka-stop');
    try {
      const started = Date.now();
      const res = await stack.api.order(buyer.token, productId, 2);
      expect(res.status).toBe(503);
      expect(res.contentType).toContain('application/problem+json');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await stack.api.available(productId)).toBe(10);
      expect(await stack.redis.get(`{p:${productId}}:reserved`)).toBe('0');
      const ready = await stack.api.request('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.down).toEqual(['kafka']);
    } finally {
      await services('kafka-start');
    }
    await eventually(async () => (await stack.api.order(buyer.token, productId, 1)).status === 202, 60_000, 'orders accepted again');
  });

  it('accepts nothing while Kafka is frozen, and keeps every unit accounted for after', async () => {
    const productId = await stack.api.createProduct(stack.adminToken, 30);
    await eventually(async () => (await stack.api.order(buyer.token, productId, 1)).status === 202, 30_000, 'pipeline warm');
    const keys = Array.from({ length: 20 }, () => randomUUID());
    await services('kafka-pause');
    let frozen;
    try {
      frozen = await Promise.all(keys.map((key) => stack.api.order(buyer.token, productId, 1, key)));
    } finally {
      await services('kafka-resume');
    }
    expect(frozen.filter((a) => a.status === 202)).toHaveLength(0);
    for (const res of frozen) {
      expect(res.status).toBe(503);
      // A timed-out send is not a refusal: the answer says the order may be placed and names it.
      expect(String(res.body.detail)).toContain('may still be placed');
      expect(res.body.orderId).toEqual(expect.any(String));
    }

    // A produce the edge gave up on may still land. A retry with the same key
    // returns that very order or says the attempt expired; it never makes another.
    const retries = await Promise.all(keys.map((key) => stack.api.order(buyer.token, productId, 1, key)));
    for (const res of retries) expect([202, 409, 503]).toContain(res.status);
    {
      const retried = retries.filter((r) => r.status === 202).map((r) => String(r.body.orderId));
      retries.forEach((r, i) => { if (r.status === 202) expect(r.body.orderId).toBe(frozen[i]!.body.orderId); });
      await eventually(async () => {
        const reserved = Number(await stack.redis.get(`{p:${productId}}:reserved`));
        return reserved === 0;
      }, 60_000, 'no open reservations');
      const live = await ordersInDb(stack.db, productId, ['pending_payment']);
      // Conservation: available + live units = stock; no oversell.
      expect((await stack.api.available(productId)) + live).toBe(30);
      expect(live).toBe(1 + retried.length);
      const { rows } = await stack.db.query<{ status: string }>(
        'SELECT status FROM orders WHERE order_id = ANY($1::uuid[])', [retried]);
      expect(rows.map((r) => r.status)).toEqual(retried.map(() => 'pending_payment'));
    }
  });
});
