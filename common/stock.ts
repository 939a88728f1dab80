/**
 * Typed calls of the stock scripts that more than one process uses. The order
 * decision itself (reserve, queue) has its one caller in edge/order-decision.ts.
 */
import type { Redis } from 'ioredis';
import { productKeys, reservationKey } from './keys.js';
import { runScript } from './scripts.js';
import { CountersNotReadyError } from './errors.js';

export type ReleaseReason = 'produce-failed' | 'compensated' | 'expired' | 'order-expired'
  // an order's payment failed, it was cancelled, or its payment was not completed in time (common/settlement.ts)
  | 'payment-failed' | 'cancelled' | 'payment-expired';

export interface ReleaseResult { released: boolean; stateFound: string; returnedTo?: 'sale' | 'stock' }

/** An order line as Postgres records it: what a release gives back when the Redis record has expired. */
export interface RecordedLine { quantity: number; flashSaleId: string | null; userId: string }

/**
 * Gives a reservation's units back, if it is in one of `fromStates`. With `recorded`,
 * a record that is gone ('missing', e.g. committed longer ago than its TTL) is released
 * as that line says; once released, the record says so, so a second call does nothing.
 */
export async function releaseReservation(
  redis: Redis, productId: string, orderId: string, reason: ReleaseReason,
  fromStates: readonly string[], ttlSeconds: number, recorded?: RecordedLine,
): Promise<ReleaseResult> {
  const k = productKeys(productId);
  const line = recorded ? [recorded.quantity, recorded.flashSaleId ?? '', recorded.userId] : [];
  const reply = (await runScript(redis, 'release',
    [reservationKey(productId, orderId), k.held, k.reserved, k.avail],
    [k.prefix, orderId, reason, fromStates.join(','), ttlSeconds, ...line])) as string[];
  if (reply[0] === 'released') return { released: true, stateFound: 'released', returnedTo: reply[1] as 'sale' | 'stock' };
  return { released: false, stateFound: reply[0] ?? 'missing' };
}

export type CommitOutcome = 'live' | 'gone' | 'unready';

/**
 * Claims reservations of one product for persisted orders, in one script call: per order
 * 'live'; 'gone' when it was released; 'unready' while Redis is being rebuilt.
 */
export async function commitReservations(redis: Redis, productId: string, orderIds: readonly string[], ttlSeconds: number): Promise<CommitOutcome[]> {
  if (orderIds.length === 0) return [];
  const k = productKeys(productId);
  return (await runScript(redis, 'commit', [k.held, k.reserved, k.info], [k.prefix, ttlSeconds, ...orderIds])) as CommitOutcome[];
}

/** An order's lines as the claim needs them. */
export interface ClaimableOrder { orderId: string; items: readonly { productId: string }[] }

/**
 * Claims every line of many orders with one script call per product: an order is 'live'
 * when all its lines are; one with a line gone is 'expired' and the lines it did claim
 * are given back. Throws CountersNotReadyError while Redis is being rebuilt (claims made
 * so far stay made; calling again is harmless, a committed line answers 'live').
 */
export async function claimOrders(redis: Redis, orders: readonly ClaimableOrder[], ttlSeconds: number): Promise<('live' | 'expired')[]> {
  const byProduct = new Map<string, string[]>();
  for (const order of orders) {
    for (const item of order.items) {
      const ids = byProduct.get(item.productId);
      if (ids) ids.push(order.orderId);
      else byProduct.set(item.productId, [order.orderId]);
    }
  }
  const outcome = new Map<string, CommitOutcome>(); // key: productId + ' ' + orderId
  await Promise.all([...byProduct].map(async ([productId, orderIds]) => {
    const outcomes = await commitReservations(redis, productId, orderIds, ttlSeconds);
    orderIds.forEach((orderId, i) => outcome.set(`${productId} ${orderId}`, outcomes[i]!));
  }));
  const states = orders.map((o) => o.items.map((i) => outcome.get(`${i.productId} ${o.orderId}`)!));
  if (states.some((s) => s.includes('unready'))) throw new CountersNotReadyError();
  await Promise.all(orders.map((order, n) => states[n]!.every((s) => s === 'live') ? undefined
    : Promise.all(order.items.filter((_, i) => states[n]![i] === 'live').map((i) =>
      releaseReservation(redis, i.productId, order.orderId, 'order-expired', ['committed'], ttlSeconds)))));
  return states.map((s) => (s.every((x) => x === 'live') ? 'live' : 'expired'));
}

/** Claims one order's reservation of a product (see commitReservations). */
export async function commitReservation(redis: Redis, productId: string, orderId: string, ttlSeconds: number): Promise<CommitOutcome> {
  return (await commitReservations(redis, productId, [orderId], ttlSeconds))[0]!;
}

export interface Availability { available: number; liveSaleId: string | null; saleState: string | null }

export async function readAvailability(redis: Redis, productId: string): Promise<Availability> {
  const k = productKeys(productId);
  const [available, saleId, state] = (await runScript(redis, 'available', [k.avail, k.sales], [k.prefix])) as [number, string, string];
  return { available: Math.max(0, available), liveSaleId: saleId || null, saleState: state || null };
}

export interface SaleTerms {
  flashSaleId: string; quantity: number; perUserLimit: number; priceCents: number; startsAt: number; endsAt: number;
}

/** Sets the sale's units aside from stock; false (with what is available) when stock is short. */
export async function openSale(redis: Redis, productId: string, sale: SaleTerms): Promise<{ ok: boolean; available: number }> {
  const k = productKeys(productId);
  const reply = (await runScript(redis, 'sale-open', [k.avail, k.sales],
    [k.prefix, sale.flashSaleId, sale.quantity, sale.perUserLimit, sale.priceCents, sale.startsAt, sale.endsAt])) as [string, number?];
  return { ok: reply[0] === 'ok', available: reply[1] ?? sale.quantity };
}

/** Returns an ended sale's unsold units to stock: units moved, or -1 while it still runs. */
export async function closeSale(redis: Redis, productId: string, flashSaleId: string): Promise<number> {
  const k = productKeys(productId);
  return (await runScript(redis, 'sale-close', [k.avail, k.sales], [k.prefix, flashSaleId])) as number;
}

export interface Counters { avail: number; reserved: number; inSales: number; present: boolean }

export async function readCounters(redis: Redis, productId: string): Promise<Counters> {
  const k = productKeys(productId);
  const [avail, reserved, inSales, present] = (await runScript(redis, 'counters', [k.avail, k.reserved, k.sales], [k.prefix])) as number[];
  return { avail: avail ?? 0, reserved: reserved ?? 0, inSales: inSales ?? 0, present: present === 1 };
}

/** Sale ids still open on a product (closed ones leave the set). */
export function openSaleIds(redis: Redis, productId: string): Promise<string[]> {
  return redis.smembers(productKeys(productId).sales);
}

/** Held reservations whose deadline has passed. */
export function overdueHolds(redis: Redis, productId: string, nowMs: number, limit = 500): Promise<string[]> {
  return redis.zrangebyscore(productKeys(productId).held, '-inf', nowMs, 'LIMIT', 0, limit);
}
