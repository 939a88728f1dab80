/**
 * Redis restarted with its memory lost: the edge refuses orders (503) and /readyz
 * says "rebuilding" until the reconciler has rebuilt the counters from Postgres and
 * the orders still in Kafka; then limits, idempotency and stock are as before, and
 * the orders that were in flight persist as live orders, not expired ones.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, serviceEnv, startReady } from './support/processes.js';
import { services } from './support/services.js';
import { eventually, ordersInDb, startStack, type Stack } from './support/stack.js';

let stack: Stack;

beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.stop(); });

async function loseRedisMemory(): Promise<void> {
  await services('redis-stop');
  await rm(join(process.env.DATA_DIR!, 'redis', 'appendonlydir'), { recursive: true, force: true });
  await services('redis-start');
}

describe('Redis memory loss', () => {
  it('refuses orders until the counters are rebuilt, then sells exactly what is left', async () => {
    const { api, adminToken, db } = stack;
    const hot = await api.createProduct(adminToken, 20);
    await api.createSale(adminToken, hot, 20, 5);
    const plain = await api.createProduct(adminToken, 10);
    const buyer = await api.newUser();
    const firstKey = randomUUID();
    expect((await api.order(buyer.token, hot, 3, firstKey)).status).toBe(202);
    expect((await api.order(buyer.token, plain, 2)).status).toBe(202);
    await eventually(async () => (await ordersInDb(db, hot)) === 1 && (await ordersInDb(db, plain)) === 1, 30_000, 'first orders persisted');

    // Orders in flight: accepted into Kafka while the writer is down.
    await stack.procs['order-writer']!.kill('SIGTERM');
    expect((await api.order(buyer.token, hot, 2)).status).toBe(202);

    await stack.procs.reconciler!.kill('SIGTERM');
    await loseRedisMemory();
    await eventually(async () => (await api.request('GET', '/readyz')).status === 503, 10_000, 'readyz to notice');
    const ready = await api.request('GET', '/readyz');
    expect((ready.body.dependencies as Record<string, string>).redis).toBe('rebuilding');
    const refused = await api.order(buyer.token, plain, 1);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();

    stack.procs.reconciler = await startReady('reconciler');
    await eventually(async () => (await api.request('GET', '/readyz')).status === 200, 60_000, 'counters rebuilt');

    expect(await api.available(hot)).toBe(15);
    expect(await api.available(plain)).toBe(8);
    // The per-buyer count survived: 5 of 5 used.
    const over = await api.order(buyer.token, hot, 1);
    expect(over.status).toBe(429);
    // A retry of an accepted order still returns that order.
    const replay = await api.order(buyer.token, hot, 3, firstKey);
    expect(replay.status).toBe(202);

    stack.procs['order-writer'] = await startReady('order-writer');
    await eventually(async () => (await ordersInDb(db, hot, ['pending_payment'])) === 2, 60_000, 'in-flight order persisted live');
    expect(await ordersInDb(db, hot, ['expired'])).toBe(0);
    await eventually(async () => (await stack.redis.hget('stats:drift', hot)) === '0', 20_000, 'no drift');
  });

  it('rebuilds on demand with npm run rebuild-redis, changing no count', async () => {
    const { api, adminToken } = stack;
    const product = await api.createProduct(adminToken, 9);
    const buyer = await api.newUser();
    expect((await api.order(buyer.token, product, 4)).status).toBe(202);
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/reconciler/main.js'), '--rebuild'], {
      env: { ...process.env, ...serviceEnv() }, timeout: 90_000,
    });
    expect(stdout).toMatch(/rebuilt/);
    expect(await api.available(product)).toBe(5);
    await eventually(async () => (await api.request('GET', '/readyz')).status === 200, 10_000, 'ready again');
  });
});
