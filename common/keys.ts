/**
 * The one home of Redis key names. Every key of a product carries the hash tag
 * {p:ID}, so the Lua scripts that touch them run on Redis Cluster too.
 */
export interface ProductKeys {
  /** The hash-tagged prefix, passed to scripts that build sale keys from it. */
  prefix: string;
  info: string;
  avail: string;
  reserved: string;
  sales: string;
  held: string;
}

export function productKeys(productId: string): ProductKeys {
  const prefix = `{p:${productId}}`;
  return {
    prefix,
    info: `${prefix}:info`,
    avail: `${prefix}:avail`,
    reserved: `${prefix}:reserved`,
    sales: `${prefix}:sales`,
    held: `${prefix}:held`,
  };
}

export function reservationKey(productId: string, orderId: string): string {
  return `{p:${productId}}:res:${orderId}`;
}

/** An accepted order's summary, readable by id until the writer has persisted it. */
export function acceptedOrderKey(orderId: string): string {
  return `order:${orderId}`;
}

/** Products that have seen orders or sales: the reconciler's work list. */
export const ACTIVE_PRODUCTS_KEY = 'idx:active-products';

/** Drift per product as the reconciler last measured it (productId -> units). */
export const DRIFT_KEY = 'stats:drift';

/**
 * Set once the hot counters in Redis are whole (after the first build or a rebuild).
 * Its absence means Redis lost its memory: the edge refuses orders (503) until the
 * reconciler has rebuilt the counters from Postgres and Kafka.
 */
export const COUNTERS_READY_KEY = 'sys:counters-ready';

/** Held by the one process rebuilding the counters. */
export const REBUILD_LOCK_KEY = 'sys:rebuild-lock';
