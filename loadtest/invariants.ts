/**
 * The invariant checker: reads the stack's Postgres and Redis directly (it imports
 * nothing of the server) and checks DESIGN.md's invariants after the pipeline drains:
 *
 *   1 no-oversell          per product, units in live orders <= ledger stock; per flash
 *                          sale, units in its live orders <= its quantity
 *   2 accepted-persisted   every order answered 202 is in Postgres, and not `expired`
 *   4 conservation         per product, Redis available + open sale units + open
 *                          reservations + live order units = ledger stock (retried
 *                          until it holds or `settleMs` passes: orders move between
 *                          the stores for a moment)
 *   5 limits-held          per flash sale and buyer, live units <= the sale's per-user limit
 *
 * "Live" orders are those not failed, cancelled or expired.
 *
 * What it relies on (the schema and key names it reads, stated here on purpose):
 *   Postgres  inventory_ledger(product_id, delta)        stock = sum(delta)
 *             orders(order_id, user_id, status)
 *             order_items(order_id, product_id, quantity, flash_sale_id)
 *             flash_sales(flash_sale_id, product_id, quantity, per_user_limit)
 *             products(product_id)
 *   Redis     {p:ID}:info      hash; present when Redis holds the product's counters
 *             {p:ID}:avail     units sellable outside a flash sale
 *             {p:ID}:reserved  units in held or queued reservations
 *             {p:ID}:sales     set of the product's open flash-sale ids
 *             {p:ID}:sale:SID  hash; field `remaining`
 *             order:ORDERID    an accepted order's summary (kept for the idempotency
 *                              TTL): without a list of 202s, these are the 202s checked
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import type { InvariantLine } from './shared/scenario.js';

const LIVE = `o.status NOT IN ('failed', 'cancelled', 'expired')`;

export interface InvariantOptions {
  databaseUrl: string;
  redisUrl: string;
  /** Products to check (default: every product). */
  productIds?: string[];
  /** Order ids answered 202 (default: the `order:*` keys in Redis). */
  acceptedOrderIds?: string[];
  /** How long to wait for accepted orders to reach Postgres, ms. */
  drainMs?: number;
  /** How long conservation may take to settle, ms. */
  settleMs?: number;
  log?: (message: string) => void;
}

export interface InvariantReport { ok: boolean; results: InvariantLine[]; violations: Record<string, unknown[]> }

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function checkInvariants(options: InvariantOptions): Promise<InvariantReport> {
  const db = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  try {
    await redis.connect();
    const productIds = options.productIds ?? (await db.query<{ id: string }>('SELECT product_id AS id FROM products')).rows.map((r) => r.id);
    const accepted = options.acceptedOrderIds ?? await acceptedFromRedis(redis, options.productIds && new Set(productIds));
    const violations: Record<string, unknown[]> = {};
    const results: InvariantLine[] = [];
    const record = (name: string, found: unknown[], detail: string) => {
      violations[name] = found;
      results.push({ name, ok: found.length === 0, detail: found.length === 0 ? detail : `${found.length} violation(s): ${JSON.stringify(found.slice(0, 3))}` });
    };

    const missing = await waitForOrders(db, accepted, options.drainMs ?? 60_000);
    const expired = accepted.length === 0 ? [] : (await db.query<{ order_id: string }>(
      `SELECT order_id FROM orders WHERE order_id = ANY($1::uuid[]) AND status = 'expired'`, [accepted])).rows.map((r) => r.order_id);
    record('accepted-persisted', [...missing.map((id) => ({ orderId: id, problem: 'not in Postgres' })), ...expired.map((id) => ({ orderId: id, problem: 'recorded expired' }))],
      `all ${accepted.length} orders answered 202 are in Postgres`);

    const stock = await ledgerAndLive(db, productIds);
    const oversold: unknown[] = [...stock.values()].filter((s) => s.live > s.stock).map((s) => ({ productId: s.productId, liveUnits: s.live, stock: s.stock }));
    const sales = await db.query<{ flash_sale_id: string; quantity: number; live: number }>(
      `SELECT f.flash_sale_id, f.quantity, COALESCE((SELECT sum(i.quantity) FROM order_items i JOIN orders o USING (order_id)
                                                    WHERE i.flash_sale_id = f.flash_sale_id AND ${LIVE}), 0)::int AS live
         FROM flash_sales f WHERE f.product_id = ANY($1::uuid[])`, [productIds]);
    for (const s of sales.rows) if (s.live > s.quantity) oversold.push({ flashSaleId: s.flash_sale_id, liveUnits: s.live, quantity: s.quantity });
    record('no-oversell', oversold, `${productIds.length} products and ${sales.rowCount} flash sales within their stock`);

    const overLimit = await db.query<{ flash_sale_id: string; user_id: string; units: number; per_user_limit: number }>(
      `SELECT i.flash_sale_id, o.user_id, sum(i.quantity)::int AS units, f.per_user_limit
         FROM order_items i JOIN orders o USING (order_id) JOIN flash_sales f ON f.flash_sale_id = i.flash_sale_id
        WHERE i.product_id = ANY($1::uuid[]) AND ${LIVE}
        GROUP BY i.flash_sale_id, o.user_id, f.per_user_limit HAVING sum(i.quantity) > f.per_user_limit`, [productIds]);
    record('limits-held', overLimit.rows, 'no buyer holds more than a sale\'s per-user limit');

    const drift = await settledDrift(db, redis, productIds, options.settleMs ?? 15_000);
    record('conservation', drift, `Redis available + sale units + reservations + live units = ledger stock for ${productIds.length} products`);

    return { ok: results.every((r) => r.ok), results, violations };
  } finally {
    redis.disconnect();
    await db.end();
  }
}

/**
 * How many of `productIds` the Postgres at `databaseUrl` holds: the run's products all
 * there means it is the stack the load goes to (checked before the load, so invariants
 * are not checked against some other stack's database).
 */
export async function productsFound(databaseUrl: string, productIds: string[]): Promise<number> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products WHERE product_id = ANY($1::uuid[])', [productIds]);
    return rows[0]!.n;
  } finally {
    await db.end();
  }
}

/** Order ids from the `order:*` keys (of the given products only, when given). */
async function acceptedFromRedis(redis: Redis, products?: Set<string>): Promise<string[]> {
  const ids: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'order:*', 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const values = products ? await redis.mget(...keys) : [];
    keys.forEach((key, i) => {
      if (products) {
        const items = (JSON.parse(values[i] ?? '{}') as { items?: { productId: string }[] }).items ?? [];
        if (!items.some((item) => products.has(item.productId))) return;
      }
      ids.push(key.slice('order:'.length));
    });
  } while (cursor !== '0' && ids.length < 1_000_000);
  return ids;
}

/** Waits until every accepted order is in Postgres (or the time runs out); returns the missing. */
async function waitForOrders(db: pg.Pool, ids: string[], drainMs: number): Promise<string[]> {
  const deadline = Date.now() + drainMs;
  let missing = ids;
  for (;;) {
    const still: string[] = [];
    for (let i = 0; i < missing.length; i += 10_000) {
      const chunk = missing.slice(i, i + 10_000);
      const found = new Set((await db.query<{ order_id: string }>('SELECT order_id FROM orders WHERE order_id = ANY($1::uuid[])', [chunk])).rows.map((r) => r.order_id));
      still.push(...chunk.filter((id) => !found.has(id)));
    }
    missing = still;
    if (missing.length === 0 || Date.now() > deadline) return missing;
    await sleep(250);
  }
}

interface StockRow { productId: string; stock: number; live: number }

async function ledgerAndLive(db: pg.Pool, productIds: string[]): Promise<Map<string, StockRow>> {
  const { rows } = await db.query<{ product_id: string; stock: number; live: number }>(
    `SELECT p.product_id,
            COALESCE((SELECT sum(delta) FROM inventory_ledger l WHERE l.product_id = p.product_id), 0)::int AS stock,
            COALESCE((SELECT sum(i.quantity) FROM order_items i JOIN orders o USING (order_id)
                       WHERE i.product_id = p.product_id AND ${LIVE}), 0)::int AS live
       FROM unnest($1::uuid[]) AS p(product_id)`, [productIds]);
  return new Map(rows.map((r) => [r.product_id, { productId: r.product_id, stock: r.stock, live: r.live }]));
}

interface Counters { present: boolean; avail: number; reserved: number; inSales: number }

async function readCounters(redis: Redis, productId: string): Promise<Counters> {
  const prefix = `{p:${productId}}`;
  const [present, avail, reserved, sales] = await Promise.all([
    redis.exists(`${prefix}:info`), redis.get(`${prefix}:avail`), redis.get(`${prefix}:reserved`), redis.smembers(`${prefix}:sales`),
  ]);
  const remaining = await Promise.all(sales.map((id) => redis.hget(`${prefix}:sale:${id}`, 'remaining')));
  return { present: present === 1, avail: Number(avail ?? 0), reserved: Number(reserved ?? 0), inSales: remaining.reduce((sum, r) => sum + Number(r ?? 0), 0) };
}

/** Products whose drift is still nonzero after `settleMs` (each product retried until it holds). */
async function settledDrift(db: pg.Pool, redis: Redis, productIds: string[], settleMs: number): Promise<unknown[]> {
  const deadline = Date.now() + settleMs;
  let pending = productIds;
  for (;;) {
    const stock = await ledgerAndLive(db, pending);
    const drifting: { productId: string; drift: number; redis: Counters; stock: number; liveUnits: number }[] = [];
    for (const productId of pending) {
      const counters = await readCounters(redis, productId);
      if (!counters.present) continue; // Redis does not hold this product (rebuilt or never active)
      const s = stock.get(productId)!;
      const drift = counters.avail + counters.inSales + counters.reserved + s.live - s.stock;
      if (drift !== 0) drifting.push({ productId, drift, redis: counters, stock: s.stock, liveUnits: s.live });
    }
    if (drifting.length === 0 || Date.now() > deadline) return drifting;
    pending = drifting.map((d) => d.productId);
    await sleep(500);
  }
}
