/**
 * Typed calls of the Lua scripts the edge's inventory, flash-sale and cart routes use
 * (lua/stock-adjust, lua/sale-update, lua/quote). They move or read the same
 * counters as the order decision, so a restock is sellable at once and never oversold.
 */
import type { Redis } from 'ioredis';
import { productKeys } from '../common/keys.js';
import { runScript } from '../common/scripts.js';
import { DependencyUnavailableError } from '../common/errors.js';

/** Runs a Redis call; a failure becomes a retriable DependencyUnavailableError (503). */
export async function redisCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new DependencyUnavailableError('redis', error);
  }
}

export type AdjustResult =
  | { kind: 'ok'; availAfter: number }
  | { kind: 'insufficient'; avail: number }
  | { kind: 'unknown' };

/** Moves the product's stock outside sales by `delta`; a removal never takes units nobody may take. */
export async function adjustAvail(redis: Redis, productId: string, delta: number): Promise<AdjustResult> {
  const k = productKeys(productId);
  const reply = await redisCall(() => runScript(redis, 'stock-adjust', [k.avail, k.info], [delta])) as [string, number?];
  if (reply[0] === 'ok') return { kind: 'ok', availAfter: Number(reply[1]) };
  if (reply[0] === 'insufficient') return { kind: 'insufficient', avail: Number(reply[1]) };
  return { kind: 'unknown' };
}

export type SaleOperation = 'pause' | 'resume' | 'end' | 'grow';

export type SaleUpdateResult =
  | { kind: 'ok'; remaining: number; state: string }
  | { kind: 'ended'; remaining: number }
  | { kind: 'insufficient'; avail: number }
  | { kind: 'missing' };

/** Pauses, resumes, ends (then call closeSale) or grows an open sale. */
export async function updateSale(redis: Redis, productId: string, flashSaleId: string, op: SaleOperation, units = 0): Promise<SaleUpdateResult> {
  const k = productKeys(productId);
  const reply = await redisCall(() => runScript(redis, 'sale-update', [k.avail], [k.prefix, flashSaleId, op, units])) as (string | number)[];
  switch (reply[0]) {
    case 'ok': return { kind: 'ok', remaining: Number(reply[1]), state: String(reply[2]) };
    case 'ended': return { kind: 'ended', remaining: Number(reply[1]) };
    case 'insufficient': return { kind: 'insufficient', avail: Number(reply[1]) };
    default: return { kind: 'missing' };
  }
}

export interface Quote { unitPriceCents: number; currency: string; available: number; flashSaleId: string | null; saleState: string | null }

/** What a unit costs if ordered now and how many can be bought; undefined when the product has no counters. */
export async function quote(redis: Redis, productId: string): Promise<Quote | undefined> {
  const k = productKeys(productId);
  const reply = await redisCall(() => runScript(redis, 'quote', [k.info, k.avail, k.sales], [k.prefix])) as (string | number)[];
  if (reply.length === 0) return undefined;
  return {
    unitPriceCents: Number(reply[0]), currency: String(reply[1]), available: Math.max(0, Number(reply[2])),
    flashSaleId: reply[3] ? String(reply[3]) : null, saleState: reply[4] ? String(reply[4]) : null,
  };
}
