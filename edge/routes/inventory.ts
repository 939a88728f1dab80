/**
 * Inventory: stock per warehouse, adjustments and transfers with their audit ledger,
 * the low-stock threshold, and the warehouses themselves. Admins, and sellers for
 * their own products (edge/inventory-store.ts holds the rules).
 */
import type { Router, RequestContext } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { problems } from '../problems.js';
import { pageParams, uuidParam } from '../params.js';
import { fingerprint } from '../../common/ids.js';
import {
  adjustStock, readInventory, readLedger, setThreshold, transferStock,
  type AdjustmentBody, type TransferBody, type WriteRequest,
} from '../inventory-store.js';

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,200}$/;

/** Who writes, with the optional Idempotency-Key and the request's fingerprint. */
function writeRequest(ctx: RequestContext<unknown>): WriteRequest {
  const key = ctx.headers['idempotency-key'] || undefined;
  if (key !== undefined && !IDEMPOTENCY_KEY_RE.test(key)) {
    throw problems.badField('Idempotency-Key', 'must be 1 to 200 visible ASCII characters');
  }
  return { user: ctx.user!, idempotencyKey: key, fingerprint: fingerprint(`${ctx.path}\n${ctx.rawBody}`) };
}

export function inventoryRoutes(router: Router, deps: EdgeDeps): void {
  router.get('/v1/inventory/:productId', {
    summary: "A product's stock, reserved and available units per warehouse",
    access: ['admin', 'seller'],
    handler: async (ctx) => ({ status: 200, body: await readInventory(deps, ctx.user!, uuidParam(ctx, 'productId')) }),
  });

  router.put<{ lowStockThreshold: number }>('/v1/inventory/:productId', {
    summary: "Set a product's low-stock threshold (0: none)",
    access: ['admin', 'seller'],
    body: validator('InventorySettingsRequest'),
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      await setThreshold(deps, ctx.user!, productId, ctx.body.lowStockThreshold);
      return { status: 200, body: { success: true, productId, lowStockThreshold: ctx.body.lowStockThreshold } };
    },
  });

  router.post<AdjustmentBody>('/v1/inventory/:productId/adjustments', {
    summary: 'Add or remove units in a warehouse, with a reason (sellable or withdrawn at once)',
    access: ['admin', 'seller'],
    body: validator('InventoryAdjustmentRequest'),
    headers: ['idempotency-key'],
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      const reply = await adjustStock(deps, writeRequest(ctx), productId, ctx.body);
      if (ctx.body.delta > 0) deps.decision.soldOut.clear(productId); // a restock sells at once here
      return reply;
    },
  });

  router.post<TransferBody>('/v1/inventory/transfers', {
    summary: 'Move units of a product between warehouses (its total stock does not change)',
    access: ['admin', 'seller'],
    body: validator('InventoryTransferRequest'),
    headers: ['idempotency-key'],
    handler: (ctx) => transferStock(deps, writeRequest(ctx), ctx.body),
  });

  router.get('/v1/inventory/:productId/ledger', {
    summary: "A product's audit trail: who, when, why, before and after, newest first",
    access: ['admin', 'seller'],
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      const page = pageParams(ctx);
      const { entries, total } = await readLedger(deps, ctx.user!, productId, page);
      return { status: 200, body: { productId, entries, page: page.page, limit: page.limit, total } };
    },
  });

  router.get('/v1/warehouses', {
    summary: 'The warehouses stock can be kept in',
    access: ['admin', 'seller'],
    handler: async () => {
      const { rows } = await deps.pool.query(
        'SELECT warehouse_id AS "warehouseId", name, created_at AS "createdAt" FROM warehouses ORDER BY warehouse_id');
      return { status: 200, body: { warehouses: rows } };
    },
  });

  router.post<{ warehouseId: string; name: string }>('/v1/warehouses', {
    summary: 'Add a warehouse',
    access: ['admin'],
    body: validator('CreateWarehouseRequest'),
    handler: async ({ body }) => {
      const { rowCount } = await deps.pool.query(
        'INSERT INTO warehouses (warehouse_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [body.warehouseId, body.name]);
      if (!rowCount) throw problems.conflict('warehouse-exists', 'Warehouse exists', `Warehouse ${body.warehouseId} exists already`);
      return { status: 201, body: { success: true, warehouseId: body.warehouseId } };
    },
  });
}
