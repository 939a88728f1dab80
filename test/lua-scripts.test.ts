/**
 * The Lua scripts as data: each file documents its KEYS, ARGV and return values,
 * declares its key count in its name, and is called by SHA with a NOSCRIPT fallback.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedis } from '../common/redis.js';
import { readAvailability } from '../common/stock.js';
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
