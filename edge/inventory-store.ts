/**
 * Stock per warehouse and its audit ledger: adjustments, transfers, reads.
 *
 * A product's stock is the sum of inventory_ledger.delta (the reconciler's truth);
 * warehouse_stock holds that sum per warehouse (a trigger keeps it and stamps each row
 * with the warehouse's stock before and after). Every change writes ledger rows and
 * moves the Redis counter `avail` consistently, in the order that can never oversell:
 *
 * - a removal (delta < 0) first takes the units from `avail` atomically (lua/stock-adjust:
 *   only units nobody holds, never sale or reserved units), then commits the ledger row;
 *   if the commit fails the units go back;
 * - a restock (delta > 0) commits the ledger row first, then adds to `avail`, so units
 *   are never sellable without a record; if Redis fails after the commit the drift is
 *   one of too few sellable units, which the reconciler reports and repairs;
 * - a transfer writes two rows (−q, +q) with one transfer id; the product total and
 *   Redis do not change.
 *
 * Writes of one product are serialised by a row lock on the product. An optional
 * Idempotency-Key makes a retried write return the first answer and change nothing.
 */
import type { Redis } from 'ioredis';
import { withTransaction, type Pool, type PoolClient } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import type { Queryable } from '../common/order-status.js';
import { COUNTERS_READY_KEY, productKeys } from '../common/keys.js';
import { readCounters } from '../common/stock.js';
import { newId } from '../common/ids.js';
import type { AuthUser } from './auth.js';
import type { Reply } from './http.js';
import { HttpProblem, problems } from './problems.js';
import { adjustAvail, redisCall } from './inventory-counters.js';
import { checkLowStock } from './inventory-low-stock.js';

export interface InventoryDeps { pool: Pool; redis: Redis; log: Logger }

export const DEFAULT_WAREHOUSE = 'main';

export interface LedgerEntry {
  entryId: number; productId: string; warehouseId: string; delta: number; reason: string;
  actorId: string | null; actorRole: string | null; before: number; after: number; transferId: string | null; createdAt: Date;
}

const LEDGER_COLUMNS = `entry_id AS "entryId", product_id AS "productId", warehouse_id AS "warehouseId", delta, reason,
  actor_id AS "actorId", actor_role AS "actorRole", stock_before AS before, stock_after AS after,
  transfer_id AS "transferId", created_at AS "createdAt"`;

/** The product if `user` may manage its stock (an admin, or its seller): 404 or 403 otherwise. */
export async function productForStock(db: Queryable, user: AuthUser, productId: string, lock = false): Promise<{ sellerId: string; threshold: number }> {
  const { rows } = await db.query<{ seller_id: string; threshold: number | null }>(
    `SELECT seller_id, low_stock_threshold AS threshold FROM products
      WHERE product_id = $1 AND deleted_at IS NULL${lock ? ' FOR UPDATE' : ''}`, [productId]);
  const product = rows[0];
  if (!product) throw problems.notFound(`Product ${productId}`);
  if (user.role !== 'admin' && product.seller_id !== user.userId) {
    throw problems.forbidden("Only an admin or the product's seller may see or change its stock");
  }
  return { sellerId: product.seller_id, threshold: product.threshold ?? 0 };
}

/**
 * Splits the units reserved for the product as a whole (open reservations and live
 * orders) over its warehouses the way shipping will take them: each unit from the
 * warehouse with the most units still available (ties: the order given). So the
 * fullest warehouses carry the reservations, and no warehouse is reserved past its stock.
 */
export function splitReserved(stocks: readonly number[], reserved: number): number[] {
  const total = stocks.reduce((a, b) => a + b, 0);
  const take = Math.max(0, Math.min(reserved, total));
  const over = (level: number) => stocks.reduce((sum, s) => sum + Math.max(0, s - level), 0);
  // The lowest level L whose excess fits in `take`; the rest comes one unit each from those at L.
  let lo = 0;
  let hi = Math.max(0, ...stocks);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (over(mid) <= take) hi = mid; else lo = mid + 1;
  }
  const split = stocks.map((s) => Math.max(0, s - lo));
  let rest = take - over(lo);
  const atLevel = stocks.map((s, i) => ({ s, i })).filter(({ s }) => s >= lo && lo > 0)
    .sort((a, b) => b.s - a.s || a.i - b.i);
  for (const { i } of atLevel) {
    if (rest === 0) break;
    split[i]! += 1;
    rest--;
  }
  return split;
}

async function requireCountersReady(redis: Redis): Promise<void> {
  if (!(await redisCall(() => redis.exists(COUNTERS_READY_KEY)))) {
    throw problems.unavailable('The stock counters are being rebuilt; try again shortly', 2);
  }
}

async function requireWarehouse(db: Queryable, warehouseId: string, field: string): Promise<void> {
  const { rowCount } = await db.query('SELECT 1 FROM warehouses WHERE warehouse_id = $1', [warehouseId]);
  if (!rowCount) {
    throw new HttpProblem(404, 'unknown-warehouse', 'Unknown warehouse', `Warehouse ${warehouseId} does not exist`,
      { errors: [{ field, message: `${warehouseId} is not a warehouse (GET /v1/warehouses lists them)` }] });
  }
}

async function stockAt(db: Queryable, productId: string, warehouseId: string): Promise<number> {
  const { rows } = await db.query<{ stock: number }>(
    'SELECT stock FROM warehouse_stock WHERE product_id = $1 AND warehouse_id = $2', [productId, warehouseId]);
  return rows[0]?.stock ?? 0;
}

function shortAt(warehouseId: string, stock: number, wanted: number, field: string): HttpProblem {
  return new HttpProblem(409, 'insufficient-stock', 'Not enough stock',
    `Warehouse ${warehouseId} holds ${stock} units of this product; ${wanted} cannot leave it`,
    { errors: [{ field, message: `at most ${stock}` }], extra: { warehouseId, stock } });
}

async function insertLedger(db: Queryable, row: {
  productId: string; warehouseId: string; delta: number; reason: string; actor: AuthUser; transferId?: string;
}): Promise<LedgerEntry> {
  try {
    const { rows } = await db.query<LedgerEntry>(
      `INSERT INTO inventory_ledger (product_id, warehouse_id, delta, reason, actor_id, actor_role, transfer_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${LEDGER_COLUMNS}`,
      [row.productId, row.warehouseId, row.delta, row.reason, row.actor.userId, row.actor.role, row.transferId ?? null]);
    return rows[0]!;
  } catch (error) {
    // The warehouse_stock CHECK: a warehouse can never hold fewer than zero units.
    if ((error as { code?: string }).code === '23514') {
      throw problems.conflict('insufficient-stock', 'Not enough stock', `Warehouse ${row.warehouseId} does not hold ${-row.delta} units of this product`);
    }
    throw error;
  }
}

interface WriteOutcome { reply: Reply; afterCommit?: () => Promise<void> }

export interface WriteRequest { user: AuthUser; idempotencyKey: string | undefined; fingerprint: string }

/**
 * One inventory write in a transaction, with its Idempotency-Key answer stored in the
 * same transaction; `undo` steps (Redis moves made before the commit) run if it fails.
 */
async function inventoryWrite(deps: InventoryDeps, request: WriteRequest,
  work: (client: PoolClient, undo: (() => Promise<unknown>)[]) => Promise<WriteOutcome>): Promise<Reply> {
  await requireCountersReady(deps.redis);
  const undo: (() => Promise<unknown>)[] = [];
  let outcome: WriteOutcome;
  try {
    outcome = await withTransaction(deps.pool, async (client) => {
      const key = request.idempotencyKey;
      if (key !== undefined) {
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${request.user.userId}:${key}`]);
        const { rows } = await client.query<{ fingerprint: string; status: number; response: unknown }>(
          'SELECT fingerprint, status, response FROM inventory_requests WHERE actor_id = $1 AND request_key = $2', [request.user.userId, key]);
        const prior = rows[0];
        if (prior) {
          if (prior.fingerprint !== request.fingerprint) {
            throw new HttpProblem(422, 'idempotency-key-reused', 'Idempotency-Key reused',
              'This Idempotency-Key was used with a different request; use a new key for a new change');
          }
          return { reply: { status: prior.status, body: prior.response, headers: { 'idempotent-replayed': 'true' } } };
        }
      }
      const done = await work(client, undo);
      if (key !== undefined) {
        await client.query(
          `INSERT INTO inventory_requests (actor_id, request_key, fingerprint, status, response) VALUES ($1, $2, $3, $4, $5)`,
          [request.user.userId, key, request.fingerprint, done.reply.status, JSON.stringify(done.reply.body)]);
      }
      return done;
    });
  } catch (error) {
    for (const step of undo) {
      await step().catch((e: unknown) => deps.log.error({ err: (e as Error).message }, 'could not undo a stock move; the reconciler will see the drift'));
    }
    throw error;
  }
  await outcome.afterCommit?.();
  return outcome.reply;
}

export interface AdjustmentBody { warehouseId?: string; delta: number; reason: string }

export function adjustStock(deps: InventoryDeps, request: WriteRequest, productId: string, body: AdjustmentBody): Promise<Reply> {
  if (body.delta === 0) throw problems.badField('delta', 'must not be 0: a positive number adds units, a negative one removes them');
  const warehouseId = body.warehouseId ?? DEFAULT_WAREHOUSE;
  const k = productKeys(productId);
  return inventoryWrite(deps, request, async (client, undo) => {
    await productForStock(client, request.user, productId, true);
    await requireWarehouse(client, warehouseId, 'warehouseId');
    const here = await stockAt(client, productId, warehouseId);
    if (here + body.delta < 0) throw shortAt(warehouseId, here, -body.delta, 'delta');
    if (body.delta < 0) {
      const moved = await adjustAvail(deps.redis, productId, body.delta);
      if (moved.kind === 'unknown') throw problems.unavailable('The stock counters of this product are not loaded; try again shortly', 2);
      if (moved.kind === 'insufficient') {
        throw new HttpProblem(409, 'insufficient-stock', 'Not enough unreserved stock',
          `Only ${moved.avail} units are free (not reserved, ordered or set aside for a flash sale); ${-body.delta} cannot be removed`,
          { errors: [{ field: 'delta', message: `at least ${-moved.avail}` }], extra: { available: moved.avail } });
      }
      undo.push(() => adjustAvail(deps.redis, productId, -body.delta));
    } else if (!(await redisCall(() => deps.redis.exists(k.info)))) {
      throw problems.unavailable('The stock counters of this product are not loaded; try again shortly', 2);
    }
    const entry = await insertLedger(client, { productId, warehouseId, delta: body.delta, reason: body.reason, actor: request.user });
    const total = await client.query<{ stock: number }>(
      'SELECT COALESCE(sum(stock), 0)::int AS stock FROM warehouse_stock WHERE product_id = $1', [productId]);
    return {
      reply: { status: 201, body: { success: true, entry, stock: total.rows[0]!.stock } },
      afterCommit: async () => {
        if (body.delta > 0) {
          const added = await adjustAvail(deps.redis, productId, body.delta).catch((e: unknown) => ({ kind: 'failed', e }) as const);
          if (added.kind !== 'ok') {
            deps.log.error({ productId, delta: body.delta, outcome: added.kind }, 'restock recorded but the counter did not move; the reconciler repairs the drift');
          }
        }
        await checkLowStock(deps, productId);
      },
    };
  });
}

export interface TransferBody { productId: string; fromWarehouseId: string; toWarehouseId: string; quantity: number; reason?: string }

export function transferStock(deps: InventoryDeps, request: WriteRequest, body: TransferBody): Promise<Reply> {
  if (body.fromWarehouseId === body.toWarehouseId) throw problems.badField('toWarehouseId', 'must differ from fromWarehouseId');
  const productId = body.productId.toLowerCase();
  return inventoryWrite(deps, request, async (client) => {
    await productForStock(client, request.user, productId, true);
    await requireWarehouse(client, body.fromWarehouseId, 'fromWarehouseId');
    await requireWarehouse(client, body.toWarehouseId, 'toWarehouseId');
    const here = await stockAt(client, productId, body.fromWarehouseId);
    if (here < body.quantity) throw shortAt(body.fromWarehouseId, here, body.quantity, 'quantity');
    const transferId = newId();
    const reason = body.reason ?? `transfer ${body.fromWarehouseId} -> ${body.toWarehouseId}`;
    const out = await insertLedger(client, { productId, warehouseId: body.fromWarehouseId, delta: -body.quantity, reason, actor: request.user, transferId });
    const into = await insertLedger(client, { productId, warehouseId: body.toWarehouseId, delta: body.quantity, reason, actor: request.user, transferId });
    return { reply: { status: 201, body: { success: true, transferId, entries: [out, into] } } };
  });
}

export async function readInventory(deps: InventoryDeps, user: AuthUser, productId: string): Promise<Record<string, unknown>> {
  const product = await productForStock(deps.pool, user, productId);
  const [{ rows: warehouses }, counters] = await Promise.all([
    deps.pool.query<{ warehouseId: string; name: string; stock: number }>(
      `SELECT s.warehouse_id AS "warehouseId", w.name, s.stock FROM warehouse_stock s JOIN warehouses w USING (warehouse_id)
        WHERE s.product_id = $1 ORDER BY s.stock DESC, s.warehouse_id`, [productId]),
    redisCall(() => readCounters(deps.redis, productId)),
  ]);
  if (!counters.present) throw problems.unavailable('The stock counters of this product are not loaded; try again shortly', 2);
  const stock = warehouses.reduce((sum, w) => sum + w.stock, 0);
  // Units nobody can buy any more: held by open reservations or in live orders.
  const reserved = Math.max(0, Math.min(stock, stock - counters.avail - counters.inSales));
  const split = splitReserved(warehouses.map((w) => w.stock), reserved);
  return {
    productId, stock, reserved, available: stock - reserved,
    availableOutsideSales: counters.avail, inSales: counters.inSales, openReservations: counters.reserved,
    lowStockThreshold: product.threshold,
    warehouses: warehouses.map((w, i) => ({ ...w, reserved: split[i]!, available: w.stock - split[i]! })),
  };
}

export async function readLedger(deps: InventoryDeps, user: AuthUser, productId: string, page: { limit: number; offset: number }): Promise<{ entries: LedgerEntry[]; total: number }> {
  await productForStock(deps.pool, user, productId);
  const [list, count] = await Promise.all([
    deps.pool.query<LedgerEntry>(
      `SELECT ${LEDGER_COLUMNS} FROM inventory_ledger WHERE product_id = $1 ORDER BY entry_id DESC LIMIT $2 OFFSET $3`,
      [productId, page.limit, page.offset]),
    deps.pool.query<{ total: number }>('SELECT count(*)::int AS total FROM inventory_ledger WHERE product_id = $1', [productId]),
  ]);
  return { entries: list.rows, total: count.rows[0]?.total ?? 0 };
}

/** Sets the low-stock threshold (0: none); a new threshold is judged afresh at once. */
export async function setThreshold(deps: InventoryDeps, user: AuthUser, productId: string, threshold: number): Promise<void> {
  await withTransaction(deps.pool, async (client) => {
    await productForStock(client, user, productId, true);
    await client.query('UPDATE products SET low_stock_threshold = $2, low_stock_alerted = false WHERE product_id = $1', [productId, threshold]);
  });
  await checkLowStock(deps, productId);
}
