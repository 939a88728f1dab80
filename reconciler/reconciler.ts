/**
 * The reconciler keeps Redis (fast, derived counters) in agreement with Postgres
 * (the record):
 *
 * - every tick, releases held reservations past their deadline (never queued ones:
 *   those orders are in Kafka, however far the writer lags), and closes flash sales
 *   whose window has passed (their unsold units go back to stock);
 * - every drift interval, measures per product
 *     drift = Redis (stock + open sale units + open reservations) + live order units − ledger stock
 *   and reports it. A nonzero drift is repaired only when it outlives the orders that
 *   were in flight when it was first seen (the writer's committed offsets have passed
 *   the log-end offsets of that moment) and is still the same number.
 */
import type { Admin } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Pool } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import { ACTIVE_PRODUCTS_KEY, DRIFT_KEY, productKeys } from '../common/keys.js';
import { closeSale, openSaleIds, overdueHolds, readCounters, releaseReservation } from '../common/stock.js';
import { LIVE_STATUSES } from '../common/order.js';
import { GROUPS, TOPICS } from '../common/topics.js';
import { recordDrift } from '../common/metrics.js';

export interface ReconcilerSettings { idempotencyTtlSeconds: number }

export interface DriftReport { productId: string; drift: number; repaired: boolean }

type Offsets = Map<number, bigint>;

interface Suspect { drift: number; logEnd: Offsets }

export class Reconciler {
  private readonly suspects = new Map<string, Suspect>();

  constructor(
    private readonly redis: Redis,
    private readonly pool: Pool,
    private readonly admin: Admin,
    private readonly settings: ReconcilerSettings,
    private readonly log: Logger,
  ) {}

  private products(): Promise<string[]> {
    return this.redis.smembers(ACTIVE_PRODUCTS_KEY);
  }

  /** Releases overdue holds and closes ended sales; returns how many holds were released. */
  async sweep(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    let released = 0;
    for (const productId of await this.products()) {
      for (const orderId of await overdueHolds(this.redis, productId, nowMs)) {
        const result = await releaseReservation(this.redis, productId, orderId, 'expired', ['held'], this.settings.idempotencyTtlSeconds);
        if (result.released) {
          released++;
          this.log.info({ productId, orderId }, 'released a hold that never reached Kafka');
        }
      }
      for (const saleId of await openSaleIds(this.redis, productId)) {
        const units = await closeSale(this.redis, productId, saleId);
        if (units >= 0) this.log.info({ productId, flashSaleId: saleId, unitsReturned: units }, 'flash sale closed');
      }
    }
    return released;
  }

  /** Measures drift for every active product; repairs the drift that outlived the orders in flight. */
  async checkDrift(): Promise<DriftReport[]> {
    const productIds = await this.products();
    if (productIds.length === 0) return [];
    const [logEnd, committed] = await Promise.all([this.logEndOffsets(), this.committedOffsets()]);
    const { rows } = await this.pool.query<{ product_id: string; stock: number; live: number }>(
      `SELECT p.product_id, COALESCE(l.stock, 0)::int AS stock, COALESCE(o.units, 0)::int AS live
         FROM unnest($1::uuid[]) AS p(product_id)
         LEFT JOIN (SELECT product_id, sum(delta) AS stock FROM inventory_ledger
                     WHERE product_id = ANY($1::uuid[]) GROUP BY product_id) l USING (product_id)
         LEFT JOIN (SELECT i.product_id, sum(i.quantity) AS units FROM order_items i JOIN orders o USING (order_id)
                     WHERE i.product_id = ANY($1::uuid[]) AND o.status = ANY($2::text[]) GROUP BY i.product_id) o USING (product_id)`,
      [productIds, LIVE_STATUSES]);
    const reports: DriftReport[] = [];
    for (const row of rows) {
      const counters = await readCounters(this.redis, row.product_id);
      if (!counters.present) continue; // not a product of this store (or Redis lost it: the rebuild's job)
      const drift = counters.avail + counters.inSales + counters.reserved + row.live - row.stock;
      reports.push({ productId: row.product_id, drift, repaired: await this.judge(row.product_id, drift, logEnd, committed) });
    }
    recordDrift(reports);
    await this.record(reports);
    return reports;
  }

  private async judge(productId: string, drift: number, logEnd: Offsets, committed: Offsets): Promise<boolean> {
    if (drift === 0) {
      this.suspects.delete(productId);
      return false;
    }
    const suspect = this.suspects.get(productId);
    if (!suspect || suspect.drift !== drift || !caughtUp(committed, suspect.logEnd)) {
      if (!suspect || suspect.drift !== drift) this.suspects.set(productId, { drift, logEnd });
      this.log.warn({ productId, drift }, 'drift observed; waiting for the orders in flight');
      return false;
    }
    await this.redis.incrby(productKeys(productId).avail, -drift);
    this.suspects.delete(productId);
    this.log.error({ productId, drift }, 'drift outlived the orders in flight; product stock counter repaired');
    return true;
  }

  private async record(reports: DriftReport[]): Promise<void> {
    if (reports.length === 0) return;
    await this.redis.hset(DRIFT_KEY, ...reports.flatMap((r) => [r.productId, String(r.repaired ? 0 : r.drift)]));
    await this.pool.query(
      `INSERT INTO reconciler_drift (product_id, drift, measured_at, repaired_at)
       SELECT product_id, drift, now(), CASE WHEN repaired THEN now() END
         FROM unnest($1::uuid[], $2::int[], $3::bool[]) AS r(product_id, drift, repaired)
       ON CONFLICT (product_id) DO UPDATE SET drift = EXCLUDED.drift, measured_at = EXCLUDED.measured_at,
         repaired_at = COALESCE(EXCLUDED.repaired_at, reconciler_drift.repaired_at)`,
      [reports.map((r) => r.productId), reports.map((r) => r.drift), reports.map((r) => r.repaired)]);
  }

  private async logEndOffsets(): Promise<Offsets> {
    const offsets = await this.admin.fetchTopicOffsets(TOPICS.ordersAccepted);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  }

  private async committedOffsets(): Promise<Offsets> {
    const [topic] = await this.admin.fetchOffsets({ groupId: GROUPS.orderWriter, topics: [TOPICS.ordersAccepted] });
    return new Map((topic?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset === '-1' ? 0 : p.offset)]));
  }
}

function caughtUp(committed: Offsets, target: Offsets): boolean {
  for (const [partition, end] of target) {
    if ((committed.get(partition) ?? 0n) < end) return false;
  }
  return true;
}
