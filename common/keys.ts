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

/** Each process's metrics snapshot (field `process|host:pid` -> JSON), merged by the edge's /metrics. */
export const METRICS_SNAPSHOTS_KEY = 'stats:metrics';

/**
 * Set once the hot counters in Redis are whole (after the first build or a rebuild).
 * Its absence means Redis lost its memory: the edge refuses orders (503) until the
 * reconciler has rebuilt the counters from Postgres and Kafka.
 */
export const COUNTERS_READY_KEY = 'sys:counters-ready';

/** Held by the one process rebuilding the counters. */
export const REBUILD_LOCK_KEY = 'sys:rebuild-lock';

/** A user's cart copy (hash: v = version, id = cartId, lines = JSON); Postgres holds the record. */
export function cartKey(userId: string): string {
  return `cart:${userId}`;
}

/** Held for one sweep interval by the edge that checks low-stock thresholds, so one edge sweeps at a time. */
export const LOW_STOCK_SWEEP_KEY = 'sys:low-stock-sweep';

/** Pub/sub channel: the id of a product that changed, so every edge drops its cached copies. */
export const CATALOG_CHANGES_CHANNEL = 'catalog:changes';

/** A rate limiter's counter for one subject in one fixed window (edge/rate-limit.ts). */
export function rateLimitKey(limiter: string, subject: string, window: number): string {
  return `rl:${limiter}:${subject}:${window}`;
}
