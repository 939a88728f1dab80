/**
 * A fingerprint of everything a request could change, read straight from Postgres and
 * Redis, so "a rejected request changes nothing" is checked by comparing two of them:
 *
 *   - the row count of every table (but those only background jobs write: drift
 *     measurements, inventory snapshots, daily roll-ups);
 *   - the rows of the scope (its products, their sales, stock per warehouse and media;
 *     its users, their carts and orders), as a checksum per table;
 *   - the Redis counters of the scope's products (info, available, reserved, each open
 *     sale). (A cart's copy in Redis is a cache that reads refill: its Postgres rows count.)
 *
 * Used by the fuzzer (faults/fuzz.ts) and the attack matrix (test/attack-matrix.test.ts).
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { productKeys } from '../common/keys.js';

/** Tables written by background jobs on their own clock, not by requests. */
const BACKGROUND_TABLES = new Set(['reconciler_drift', 'inventory_snapshots', 'daily_sales', 'sales_orders', 'schema_migrations']);

export interface StateScope { productIds: string[]; userIds: string[] }

export type Fingerprint = Record<string, string>;

/** The rows of the scope, one checksum per table ($1 = product ids, $2 = user ids). */
const SCOPED_ROWS: Record<string, string> = {
  products: 'SELECT t::text AS r FROM products t WHERE product_id = ANY($1) OR seller_id = ANY($2)',
  flash_sales: 'SELECT t::text AS r FROM flash_sales t WHERE product_id = ANY($1)',
  warehouse_stock: 'SELECT t::text AS r FROM warehouse_stock t WHERE product_id = ANY($1)',
  product_media: 'SELECT t::text AS r FROM product_media t WHERE product_id = ANY($1)',
  users: 'SELECT t::text AS r FROM users t WHERE user_id = ANY($2)',
  carts: 'SELECT t::text AS r FROM carts t WHERE user_id = ANY($2)',
  cart_items: 'SELECT t::text AS r FROM cart_items t JOIN carts c USING (cart_id) WHERE c.user_id = ANY($2)',
  orders: 'SELECT t::text AS r FROM orders t WHERE user_id = ANY($2)',
};

export class StateProbe {
  private sql: string | undefined;

  constructor(private readonly db: pg.Pool, private readonly redis: Redis, readonly scope: StateScope) {}

  /** Everything in scope, as name -> value (compare two with `diff`). */
  async capture(): Promise<Fingerprint> {
    const [database, counters] = await Promise.all([this.database(), this.counters()]);
    return { ...database, ...counters };
  }

  private async database(): Promise<Fingerprint> {
    this.sql ??= await this.buildQuery();
    const { rows } = await this.db.query<{ name: string; value: string }>(this.sql, [this.scope.productIds, this.scope.userIds]);
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }

  private async buildQuery(): Promise<string> {
    const { rows } = await this.db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`);
    const counts = rows.map((r) => r.table_name).filter((t) => !BACKGROUND_TABLES.has(t))
      .map((t) => `SELECT 'count:${t}' AS name, (SELECT count(*) FROM "${t}")::text AS value`);
    const checksums = Object.entries(SCOPED_ROWS)
      .map(([t, rowsSql]) => `SELECT 'rows:${t}', (SELECT md5(coalesce(string_agg(r, '|' ORDER BY r), '')) FROM (${rowsSql}) x)`);
    return [...counts, ...checksums].join('\nUNION ALL\n');
  }

  private async counters(): Promise<Fingerprint> {
    const out: Fingerprint = {};
    await Promise.all(this.scope.productIds.map(async (id) => {
      const k = productKeys(id);
      const [info, avail, reserved, sales] = await Promise.all([
        this.redis.hgetall(k.info), this.redis.get(k.avail), this.redis.get(k.reserved), this.redis.smembers(k.sales),
      ]);
      out[`redis:${id}:info`] = JSON.stringify(Object.entries(info).sort());
      out[`redis:${id}:counters`] = `${avail}/${reserved}`;
      for (const saleId of sales.sort()) {
        out[`redis:${id}:sale:${saleId}`] = JSON.stringify(Object.entries(await this.redis.hgetall(`${k.prefix}:sale:${saleId}`)).sort());
      }
    }));
    return out;
  }
}

/** The names whose values differ between two fingerprints (empty: nothing changed). */
export function diff(before: Fingerprint, after: Fingerprint): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => before[n] !== after[n]).sort();
}

/**
 * Waits until the state stops moving (three equal captures `gapMs` apart) or `timeoutMs`
 * passes: after an accepted write, the workers finish its effects (an order persisted).
 */
export async function settled(probe: StateProbe, timeoutMs = 5_000, gapMs = 200): Promise<Fingerprint> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe.capture();
  let still = 0;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    const next = await probe.capture();
    still = diff(last, next).length === 0 ? still + 1 : 0;
    if (still >= 2 || Date.now() > deadline) return next;
    last = next;
  }
}
