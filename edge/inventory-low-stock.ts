/**
 * Low-stock alerts. A product may have a threshold (products.low_stock_threshold, 0 =
 * none, set with PUT /v1/inventory/{productId}). When the units still sellable (stock
 * outside sales plus the open sales' remaining units, from the same Redis counters the
 * orders move) fall below it, one row lands in low_stock_alerts for the product's
 * seller; `low_stock_alerted` stays set while below, so a crossing records one alert,
 * and clears once the units are back at or above the threshold.
 *
 * Checked right after every inventory change here, and, for the crossings that orders
 * cause, by a periodic sweep that one edge at a time runs (a Redis lock per interval).
 */
import type { Redis } from 'ioredis';
import type { Pool } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import { LOW_STOCK_SWEEP_KEY } from '../common/keys.js';
import { readCounters } from '../common/stock.js';

interface Watched { productId: string; sellerId: string; threshold: number; alerted: boolean }

export interface LowStockDeps { pool: Pool; redis: Redis; log: Logger }

const WATCHED_COLUMNS = `product_id AS "productId", seller_id AS "sellerId", low_stock_threshold AS threshold,
  low_stock_alerted AS alerted`;

/** Alerts recorded by this check (0 or 1 per product). */
async function evaluate(deps: LowStockDeps, watched: Watched[]): Promise<number> {
  const counters = await Promise.all(watched.map((w) => readCounters(deps.redis, w.productId)));
  let alerts = 0;
  for (const [i, w] of watched.entries()) {
    const c = counters[i]!;
    if (!c.present) continue;
    const available = c.avail + c.inSales;
    const below = w.threshold > 0 && available < w.threshold;
    if (below && !w.alerted) {
      // Arming and recording in one statement: concurrent checks record one alert.
      const { rowCount } = await deps.pool.query(
        `WITH armed AS (
           UPDATE products SET low_stock_alerted = true
            WHERE product_id = $1 AND NOT low_stock_alerted AND low_stock_threshold = $2
           RETURNING product_id, seller_id)
         INSERT INTO low_stock_alerts (product_id, seller_id, available, threshold)
         SELECT product_id, seller_id, $3, $2 FROM armed`, [w.productId, w.threshold, available]);
      if (rowCount) {
        alerts++;
        deps.log.info({ productId: w.productId, sellerId: w.sellerId, available, threshold: w.threshold }, 'low-stock alert recorded');
      }
    } else if (!below && w.alerted) {
      await deps.pool.query('UPDATE products SET low_stock_alerted = false WHERE product_id = $1 AND low_stock_alerted', [w.productId]);
    }
  }
  return alerts;
}

/** Checks one product now (after an adjustment or a new threshold); never throws. */
export async function checkLowStock(deps: LowStockDeps, productId: string): Promise<void> {
  try {
    const { rows } = await deps.pool.query<Watched>(
      `SELECT ${WATCHED_COLUMNS} FROM products
        WHERE product_id = $1 AND deleted_at IS NULL AND (low_stock_threshold > 0 OR low_stock_alerted)`, [productId]);
    await evaluate(deps, rows.map((r) => ({ ...r, threshold: r.threshold ?? 0 })));
  } catch (error) {
    deps.log.warn({ productId, err: (error as Error).message }, 'low-stock check failed; the sweep will retry');
  }
}

/** Checks every product with a threshold; returns the alerts recorded. */
export async function sweepLowStock(deps: LowStockDeps): Promise<number> {
  const { rows } = await deps.pool.query<Watched>(
    `SELECT ${WATCHED_COLUMNS} FROM products WHERE low_stock_threshold > 0 AND deleted_at IS NULL`);
  return evaluate(deps, rows);
}

/** Runs the sweep every `intervalMs` on the one edge holding the lock; returns a stop function. */
export function startLowStockSweep(deps: LowStockDeps, intervalMs: number): () => void {
  if (intervalMs <= 0) return () => undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    deps.redis.set(LOW_STOCK_SWEEP_KEY, '1', 'PX', intervalMs, 'NX')
      .then((won) => (won ? sweepLowStock(deps) : 0))
      .catch((error: unknown) => deps.log.warn({ err: (error as Error).message }, 'low-stock sweep failed'))
      .finally(() => { running = false; });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
