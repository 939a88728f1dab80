/**
 * Fulfilment: POST /v1/orders/{orderId}/shipments and POST /v1/orders/{orderId}/delivered.
 *
 * A shipment carries a carrier and a tracking number and covers units of the order's
 * lines. An admin ships any of them; a seller ships only the lines of their own products
 * (another seller gets 403). Without `items`, a shipment takes every unit of the caller's
 * lines not shipped yet; with `items`, the named lines (a `quantity` may split a line
 * across shipments). A confirmed order turns `shipped` (common/order-status.ts: history
 * and outbox) in the transaction of the shipment that ships its last unit. Each line's
 * units leave from the warehouse holding the most of the product at that moment; that
 * choice is recorded with the shipment (the ledger is not moved: sold units stay counted
 * there until the reconciler's conservation rule changes).
 *
 * Everything happens under the order's row lock, so shipments, the delivered mark and
 * the buyer's cancellation (common/settlement.ts locks the same row) never interleave.
 * An Idempotency-Key makes a retried POST answer with the shipment it created.
 */
import { randomUUID } from 'node:crypto';
import type { Router, RequestContext } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { HttpProblem, problems } from '../problems.js';
import { uuidParam } from '../params.js';
import { withTransaction, type PoolClient } from '../../common/db.js';
import { fingerprint } from '../../common/ids.js';
import { transitionOrder } from '../../common/order-status.js';
import type { OrderStatus } from '../../common/order.js';
import type { AuthUser } from '../auth.js';
import { orUnavailable } from './payments.js';

interface ShipmentBody {
  carrier: string;
  trackingNumber: string;
  items?: { productId: string; quantity?: number }[];
}

interface Line { productId: string; quantity: number; sellerId: string | null; shipped: number }

interface ShipmentView {
  shipmentId: string; orderId: string; carrier: string; trackingNumber: string; shippedAt: string;
  items: { productId: string; quantity: number; warehouseId: string | null }[];
}

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,200}$/;

/**
 * GET /v1/orders/{orderId}'s `trackingNumber` (the latest shipment's) and `shipments`,
 * as columns of a query over `orders o`.
 */
export const SHIPMENT_COLUMNS = `
  (SELECT s.tracking_number FROM shipments s WHERE s.order_id = o.order_id
    ORDER BY s.created_at DESC, s.shipment_id DESC LIMIT 1) AS "trackingNumber",
  COALESCE((SELECT json_agg(json_build_object('shipmentId', s.shipment_id, 'carrier', s.carrier,
            'trackingNumber', s.tracking_number, 'shippedAt', s.created_at,
            'items', (SELECT json_agg(json_build_object('productId', si.product_id, 'quantity', si.quantity,
                             'warehouseId', si.warehouse_id) ORDER BY si.product_id)
                        FROM shipment_items si WHERE si.shipment_id = s.shipment_id)) ORDER BY s.created_at, s.shipment_id)
              FROM shipments s WHERE s.order_id = o.order_id), '[]'::json) AS shipments`;

async function lockOrder(client: PoolClient, orderId: string): Promise<{ status: OrderStatus }> {
  const { rows } = await client.query<{ status: OrderStatus }>('SELECT status FROM orders WHERE order_id = $1 FOR UPDATE', [orderId]);
  if (!rows[0]) throw problems.notFound(`Order ${orderId}`);
  return rows[0];
}

async function linesOf(client: PoolClient, orderId: string): Promise<Line[]> {
  const { rows } = await client.query<Line>(
    `SELECT i.product_id AS "productId", i.quantity, p.seller_id AS "sellerId",
            COALESCE((SELECT sum(si.quantity) FROM shipment_items si
                       WHERE si.order_id = i.order_id AND si.product_id = i.product_id), 0)::int AS shipped
       FROM order_items i LEFT JOIN products p USING (product_id) WHERE i.order_id = $1 ORDER BY i.product_id`, [orderId]);
  return rows;
}

/** The lines `user` may ship or mark delivered: all for an admin, their own products' for a seller (403 when none). */
function linesFor(user: AuthUser, lines: Line[]): Line[] {
  if (user.role === 'admin') return lines;
  const own = lines.filter((l) => l.sellerId === user.userId);
  if (own.length === 0) throw problems.forbidden("Only an admin or a seller of this order's items may do this");
  return own;
}

async function shipmentView(client: PoolClient, shipmentId: string): Promise<ShipmentView> {
  const { rows } = await client.query<ShipmentView>(
    `SELECT s.shipment_id AS "shipmentId", s.order_id AS "orderId", s.carrier, s.tracking_number AS "trackingNumber",
            s.created_at AS "shippedAt",
            (SELECT json_agg(json_build_object('productId', si.product_id, 'quantity', si.quantity, 'warehouseId', si.warehouse_id)
                    ORDER BY si.product_id) FROM shipment_items si WHERE si.shipment_id = s.shipment_id) AS items
       FROM shipments s WHERE s.shipment_id = $1`, [shipmentId]);
  return rows[0]!;
}

/** Units to ship per product: the named items, or everything of `own` not shipped yet. */
function unitsToShip(body: ShipmentBody, lines: Line[], own: Line[]): Map<string, number> {
  const units = new Map<string, number>();
  if (!body.items) {
    for (const line of own) if (line.quantity > line.shipped) units.set(line.productId, line.quantity - line.shipped);
    if (units.size === 0) throw problems.conflict('already-shipped', 'Already shipped', 'Every unit of your items in this order has shipped');
    return units;
  }
  body.items.forEach((item, i) => {
    const productId = item.productId.toLowerCase();
    const field = `items[${i}].productId`;
    if (units.has(productId)) throw problems.badField(field, 'names a product twice; give each line once');
    const line = lines.find((l) => l.productId === productId);
    if (!line) throw problems.badField(field, 'is not an item of this order');
    if (!own.includes(line)) throw problems.forbidden(`Product ${productId} is another seller's item; ship only your own`);
    if (item.quantity !== undefined && item.quantity > line.quantity) {
      throw problems.badField(`items[${i}].quantity`, `is more than the ${line.quantity} unit(s) ordered`);
    }
    const remaining = line.quantity - line.shipped;
    const quantity = item.quantity ?? remaining;
    if (remaining === 0 || quantity > remaining) {
      throw problems.conflict('already-shipped', 'Already shipped',
        `Only ${remaining} unit(s) of product ${productId} are still to ship`, { productId, remaining });
    }
    units.set(productId, quantity);
  });
  return units;
}

interface ShipRequest { orderId: string; user: AuthUser; body: ShipmentBody; key: string | undefined; fingerprint: string }

async function ship(client: PoolClient, req: ShipRequest): Promise<{ view: ShipmentView; status: OrderStatus; replay: boolean }> {
  const order = await lockOrder(client, req.orderId);
  const lines = await linesOf(client, req.orderId);
  const own = linesFor(req.user, lines);
  if (req.key !== undefined) {
    const { rows } = await client.query<{ id: string; fp: string }>(
      `SELECT shipment_id AS id, request_fingerprint AS fp FROM shipments WHERE order_id = $1 AND created_by = $2 AND request_key = $3`,
      [req.orderId, req.user.userId, req.key]);
    if (rows[0]) {
      if (rows[0].fp !== req.fingerprint) {
        throw new HttpProblem(422, 'idempotency-key-reused', 'Idempotency-Key reused',
          'This Idempotency-Key was used with a different shipment; use a new key for a new shipment', { extra: { shipmentId: rows[0].id } });
      }
      return { view: await shipmentView(client, rows[0].id), status: order.status, replay: true };
    }
  }
  if (order.status !== 'confirmed') {
    if (order.status === 'shipped' || order.status === 'delivered') {
      throw problems.conflict('already-shipped', 'Already shipped', `The order is ${order.status}`, { status: order.status });
    }
    throw problems.conflict('order-not-shippable', 'Order cannot ship',
      `The order is ${order.status}; only a confirmed (paid) order ships`, { status: order.status });
  }
  const units = unitsToShip(req.body, lines, own);
  const completes = lines.every((l) => l.shipped + (units.get(l.productId) ?? 0) === l.quantity);
  const shipmentId = randomUUID();
  await client.query(
    `INSERT INTO shipments (shipment_id, order_id, carrier, tracking_number, created_by, request_key, request_fingerprint, completes_order)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [shipmentId, req.orderId, req.body.carrier, req.body.trackingNumber, req.user.userId, req.key ?? null, req.fingerprint, completes]);
  await client.query(
    `INSERT INTO shipment_items (shipment_id, order_id, product_id, quantity, warehouse_id)
     SELECT $1, $2, r.product_id, r.quantity,
            (SELECT w.warehouse_id FROM warehouse_stock w WHERE w.product_id = r.product_id ORDER BY w.stock DESC, w.warehouse_id LIMIT 1)
       FROM unnest($3::uuid[], $4::int[]) AS r(product_id, quantity)`,
    [shipmentId, req.orderId, [...units.keys()], [...units.values()]]);
  let status: OrderStatus = order.status;
  if (completes) {
    await transitionOrder(client, req.orderId, 'shipped', `shipped with ${req.body.carrier}, tracking number ${req.body.trackingNumber}`);
    status = 'shipped';
  }
  return { view: await shipmentView(client, shipmentId), status, replay: false };
}

async function markDelivered(client: PoolClient, orderId: string, user: AuthUser): Promise<{ replay: boolean }> {
  const order = await lockOrder(client, orderId);
  linesFor(user, await linesOf(client, orderId));
  if (order.status === 'delivered') return { replay: true };
  if (order.status !== 'shipped') {
    throw problems.conflict('order-not-shipped', 'Order not shipped',
      `The order is ${order.status}; only a shipped order can be delivered`, { status: order.status });
  }
  await transitionOrder(client, orderId, 'delivered', `delivery confirmed by ${user.role === 'admin' ? 'an admin' : 'the seller'}`);
  return { replay: false };
}

function idempotencyKey(ctx: RequestContext<unknown>): string | undefined {
  const key = ctx.headers['idempotency-key'] || undefined;
  if (key !== undefined && !IDEMPOTENCY_KEY_RE.test(key)) throw problems.badField('Idempotency-Key', 'must be 1 to 200 visible ASCII characters');
  return key;
}

export function shipmentRoutes(router: Router, deps: EdgeDeps): void {
  router.post<ShipmentBody>('/v1/orders/:orderId/shipments', {
    summary: "Ship an order's items with a carrier and tracking number (a seller ships their own items; all by default)",
    access: ['admin', 'seller'],
    body: validator('CreateShipmentRequest'),
    headers: ['idempotency-key'],
    handler: async (ctx) => {
      const orderId = uuidParam(ctx, 'orderId');
      const key = idempotencyKey(ctx);
      const result = await orUnavailable(withTransaction(deps.pool, (client) => ship(client, {
        orderId, user: ctx.user!, body: ctx.body, key, fingerprint: fingerprint(ctx.rawBody),
      })), 'postgres');
      return {
        status: 201,
        body: { success: true, ...result.view, status: result.status },
        headers: { location: `/v1/orders/${orderId}`, ...(result.replay ? { 'idempotent-replayed': 'true' } : {}) },
      };
    },
  });

  router.post('/v1/orders/:orderId/delivered', {
    summary: 'Mark a shipped order delivered',
    access: ['admin', 'seller'],
    handler: async (ctx) => {
      const orderId = uuidParam(ctx, 'orderId');
      const result = await orUnavailable(withTransaction(deps.pool, (client) => markDelivered(client, orderId, ctx.user!)), 'postgres');
      return {
        status: 200,
        body: { success: true, orderId, status: 'delivered' },
        headers: result.replay ? { 'idempotent-replayed': 'true' } : undefined,
      };
    },
  });
}
