/**
 * The Lua scripts as data: each file documents its KEYS, ARGV and return values,
 * declares its key count in its name, and is called by SHA with a NOSCRIPT fallback.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedis } from '../common/redis.js';
import { claimOrders, readAvailability } from '../common/stock.js';
import { CountersNotReadyError } from '../common/errors.js';
import { ROOT, serviceEnv } from './support/processes.js';

const LUA = join(ROOT, 'lua');
const redis = createRedis(serviceEnv().REDIS_URL!);
afterAll(() => redis.disconnect());

describe('lua/', () => {
  const files = readdirSync(LUA).filter((f) => f.endsWith('.lua'));

  it.each(files)('%s opens with a header naming its KEYS, ARGV and return values', (file) => {
    const source = readFileSync(join(LUA, file), 'utf8');
    const header = /^--\[\[([\s\S]*?)\]\]/.exec(source)?.[1];
    expect(header, 'a --[[ … ]] header comes first').toBeTruthy();
    const keyCount = Number(/-(\d+)\.lua$/.exec(file)![1]);
    const documentedKeys = [...header!.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
    expect([...new Set(documentedKeys)].sort()).toEqual(Array.from({ length: keyCount }, (_, i) => i + 1));
    const body = source.slice(source.indexOf(']]') + 2);
    for (const [, n] of body.matchAll(/KEYS\[(\d+)\]/g)) expect(Number(n)).toBeLessThanOrEqual(keyCount);
    for (const [, n] of body.matchAll(/ARGV\[(\d+)\]/g)) expect(header).toContain(`ARGV[${n}]`);
    expect(header).toMatch(/Returns/);
  });

  it('runs a script again after Redis forgot it (NOSCRIPT falls back to EVAL)', async () => {
    const productId = randomUUID();
    await redis.set(`{p:${productId}}:avail`, 7);
    expect((await readAvailability(redis, productId)).available).toBe(7);
    await redis.script('FLUSH');
    expect((await readAvailability(redis, productId)).available).toBe(7);
  });
});

describe('claimOrders (lua/commit, one call per product)', () => {
  /** A reservation record as lua/reserve leaves it, outside any sale. */
  async function reservation(productId: string, orderId: string, state: string, units: number): Promise<void> {
    await redis.hset(`{p:${productId}}:res:${orderId}`, 'st', state, 'q', units, 's', '', 'u', randomUUID());
    if (state === 'held' || state === 'queued') await redis.incrby(`{p:${productId}}:reserved`, units);
    if (state === 'held') await redis.zadd(`{p:${productId}}:held`, Date.now() + 60_000, orderId);
  }
  const product = async (): Promise<string> => {
    const productId = randomUUID();
    await redis.hset(`{p:${productId}}:info`, 'price', 100, 'cur', 'USD');
    await redis.set(`{p:${productId}}:avail`, 10);
    return productId;
  };

  it('commits many orders at once, expires one with a line gone and gives back the line it had claimed', async () => {
    const [a, b] = [await product(), await product()];
    const [held, queued, split, again] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await reservation(a, held, 'held', 2);
    await reservation(a, queued, 'queued', 3);
    await reservation(a, split, 'queued', 1);
    await reservation(b, split, 'released', 4);
    await reservation(a, again, 'committed', 5);
    const orders = [held, queued, split, again].map((orderId) => ({ orderId, items: [{ productId: a }, ...(orderId === split ? [{ productId: b }] : [])] }));

    expect(await claimOrders(redis, orders, 60)).toEqual(['live', 'live', 'expired', 'live']);
    expect(await redis.hget(`{p:${a}}:res:${held}`, 'st')).toBe('committed');
    expect(await redis.hget(`{p:${a}}:res:${split}`, 'st')).toBe('released');
    expect(Number(await redis.get(`{p:${a}}:reserved`))).toBe(0);
    expect(await redis.zcard(`{p:${a}}:held`)).toBe(0);
    expect(Number(await redis.get(`{p:${a}}:avail`))).toBe(11); // the expired order's unit is back
    expect(await redis.ttl(`{p:${a}}:res:${queued}`)).toBeGreaterThan(0);
    // Claimed again (a redelivered batch): the same outcomes, no count moves twice.
    expect(await claimOrders(redis, orders, 60)).toEqual(['live', 'live', 'expired', 'live']);
    expect(Number(await redis.get(`{p:${a}}:avail`))).toBe(11);
  });

  it('waits rather than calling a reservation gone while the product has no counters (Redis lost its memory)', async () => {
    const productId = randomUUID();
    await expect(claimOrders(redis, [{ orderId: randomUUID(), items: [{ productId }] }], 60)).rejects.toBeInstanceOf(CountersNotReadyError);
  });
});
