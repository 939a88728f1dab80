/**
 * The analytics worker: daily sales roll-ups from the order outbox, and periodic
 * inventory snapshots.
 *
 * Sales. What counts: an order that reached `confirmed` (its payment taken and its stock
 * committed; `paid` and `confirmed` are written in one transaction, so counting `paid`
 * too would count twice). When: the UTC day of its confirmation (order_history), not
 * the day it was accepted: revenue is booked when the money is. A later cancellation
 * (with its refund) takes the order out of that same day again, so a day's figures are
 * "sales confirmed that day and still standing". Revenue is quantity x unit price of each
 * line, in the order's currency (roll-ups are per currency).
 *
 * How: each order event in the outbox (workers/outbox.ts) makes the worker look at its
 * order again. sales_orders remembers per order whether its lines are in daily_sales
 * now (`counted`); the wanted state is "reached confirmed and still paid" (PAID_STATUSES).
 * Only a difference moves the roll-up, by + or - the order's lines, in the same
 * transaction that consumes the events. Replaying an event, events out of order, or two
 * workers at once change nothing beyond the order's current state: the roll-ups are
 * incremental, idempotent, and always equal to an aggregate over the orders themselves.
 *
 * Inventory snapshots. Every INVENTORY_SNAPSHOT_INTERVAL_MS one worker (an advisory lock,
 * and the age of the last snapshot) writes, per product with ledger entries, the ledger
 * stock, the units of live orders, and the Redis counters (common/stock.ts readCounters),
 * with the drift they give (the reconciler's formula: 0 at rest). Kept 30 days.
 */
import type { Pool, PoolClient } from '../common/db.js';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import type { Redis } from '../common/redis.js';
import { LIVE_STATUSES, PAID_STATUSES } from '../common/order.js';
import { readCounters, type Counters } from '../common/stock.js';
import { withTransaction } from '../common/db.js';
import { idsOf, OutboxConsumer, startPolling, type OutboxEntry } from './outbox.js';

const SNAPSHOT_LOCK = 4_711_201;
const SNAPSHOT_RETENTION = '30 days';
/** Counters read from Redis at once while snapshotting. */
const COUNTER_CHUNK = 200;

/** Brings daily_sales in line with the current state of the orders these events are about; returns orders moved. */
export async function applySales(client: PoolClient, entries: OutboxEntry[]): Promise<number> {
  const eventIds = idsOf(entries, 'order_event');
  if (eventIds.length === 0) return 0;
  const touched = 'SELECT DISTINCT order_id FROM order_events WHERE event_id = ANY($1::bigint[])';
  await client.query(
    `INSERT INTO sales_orders (order_id, day, currency)
     SELECT o.order_id, (h.at AT TIME ZONE 'UTC')::date, o.currency
       FROM orders o JOIN order_history h ON h.order_id = o.order_id AND h.status = 'confirmed'
      WHERE o.order_id IN (${touched})
     ON CONFLICT (order_id) DO NOTHING`, [eventIds]);
  const { rows } = await client.query<{ moved: number }>(
    `WITH changed AS (
       UPDATE sales_orders s SET counted = NOT s.counted, updated_at = now()
         FROM orders o
        WHERE s.order_id IN (${touched}) AND o.order_id = s.order_id AND s.counted <> (o.status = ANY($2::text[]))
       RETURNING s.order_id, s.day, s.currency, CASE WHEN s.counted THEN 1 ELSE -1 END AS sign
     ), rolled AS (
       INSERT INTO daily_sales AS d (day, product_id, currency, units, revenue_cents, orders)
       SELECT c.day, i.product_id, c.currency, sum(c.sign * i.quantity), sum(c.sign * i.quantity * i.unit_price_cents), sum(c.sign)
         FROM changed c JOIN order_items i USING (order_id)
        GROUP BY c.day, i.product_id, c.currency
        ORDER BY c.day, i.product_id, c.currency
       ON CONFLICT (day, product_id, currency) DO UPDATE SET
         units = d.units + EXCLUDED.units, revenue_cents = d.revenue_cents + EXCLUDED.revenue_cents,
         orders = d.orders + EXCLUDED.orders, updated_at = now()
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM changed)::int AS moved, (SELECT count(*) FROM rolled)::int AS rows`,
    [eventIds, PAID_STATUSES]);
  return rows[0]?.moved ?? 0;
}

export interface SnapshotResult { takenAt: string | null; products: number }

/** Writes one inventory snapshot unless another worker wrote one less than `minAgeMs` ago. */
export async function takeInventorySnapshot(pool: Pool, redis: Redis, minAgeMs: number): Promise<SnapshotResult> {
  return withTransaction(pool, async (client) => {
    const { rows: [lock] } = await client.query<{ ok: boolean; due: boolean }>(
      `SELECT pg_try_advisory_xact_lock($1) AS ok,
              COALESCE((SELECT max(taken_at) FROM inventory_snapshots) < now() - make_interval(secs => $2::double precision / 1000), true) AS due`,
      [SNAPSHOT_LOCK, minAgeMs]);
    if (!lock?.ok || !lock.due) return { takenAt: null, products: 0 };
    const { rows } = await client.query<{ productId: string; stock: number; live: number }>(
      `SELECT l.product_id AS "productId", l.stock::int AS stock, COALESCE(o.units, 0)::int AS live
         FROM (SELECT product_id, sum(delta) AS stock FROM inventory_ledger GROUP BY product_id) l
         LEFT JOIN (SELECT i.product_id, sum(i.quantity) AS units FROM order_items i JOIN orders o USING (order_id)
                     WHERE o.status = ANY($1::text[]) GROUP BY i.product_id) o USING (product_id)
        ORDER BY l.product_id`, [LIVE_STATUSES]);
    const counters: Counters[] = [];
    for (let i = 0; i < rows.length; i += COUNTER_CHUNK) {
      counters.push(...await Promise.all(rows.slice(i, i + COUNTER_CHUNK).map((r) => readCounters(redis, r.productId))));
    }
    const present = (i: number): Counters | null => (counters[i]!.present ? counters[i]! : null);
    const { rows: [taken] } = await client.query<{ takenAt: string }>(
      `WITH snap AS (SELECT clock_timestamp() AS at),
       ins AS (
         INSERT INTO inventory_snapshots (taken_at, product_id, ledger_stock, live_units, redis_available, redis_reserved, redis_in_sales, drift)
         SELECT snap.at, r.product_id, r.stock, r.live, r.avail, r.reserved, r.in_sales, r.avail + r.in_sales + r.reserved + r.live - r.stock
           FROM snap, unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[]) AS r(product_id, stock, live, avail, reserved, in_sales)
         RETURNING 1)
       SELECT (SELECT at FROM snap) AS "takenAt", (SELECT count(*) FROM ins)`,
      [rows.map((r) => r.productId), rows.map((r) => r.stock), rows.map((r) => r.live),
        rows.map((_, i) => present(i)?.avail ?? null), rows.map((_, i) => present(i)?.reserved ?? null), rows.map((_, i) => present(i)?.inSales ?? null)]);
    await client.query(`DELETE FROM inventory_snapshots WHERE taken_at < now() - interval '${SNAPSHOT_RETENTION}'`);
    return { takenAt: taken?.takenAt ?? null, products: rows.length };
  });
}

/** Builds and starts the analytics worker (workers/main.ts). */
export function startAnalytics({ config, log, pool, redis }: { config: Config; log: Logger; pool: Pool; redis: Redis }): { stop(): Promise<void> } {
  const consumer = new OutboxConsumer(pool, 'analytics', applySales, { batchSize: 200, pollMs: config.outboxPollMs }, log);
  consumer.start();
  const interval = config.inventorySnapshotIntervalMs;
  const snapshots = interval > 0 ? startPolling(async () => {
    try {
      const result = await takeInventorySnapshot(pool, redis, interval * 0.9);
      if (result.takenAt) log.info(result, 'inventory snapshot taken');
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'inventory snapshot failed; trying again next interval');
    }
    return 0;
  }, 1, interval) : undefined;
  log.info({ snapshotIntervalMs: interval }, 'analytics running');
  return {
    async stop() {
      await Promise.all([consumer.stop(), snapshots?.stop()]);
    },
  };
}
