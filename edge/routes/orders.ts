/** Orders: place one through the pipeline, read one (from the moment of its 202), list a buyer's. */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { HttpProblem, problems } from '../problems.js';
import { pageParams, uuidParam } from '../params.js';
import { fingerprint } from '../../common/ids.js';
import { acceptedOrderKey } from '../../common/keys.js';
import type { AcceptedOrder, ShippingAddress } from '../../common/order.js';
import { decisionOutcome, type Decision } from '../order-decision.js';
import { countDecision } from '../../common/metrics.js';
import { DependencyUnavailableError } from '../../common/errors.js';
import type { AuthUser } from '../auth.js';
import { CartCheckout } from '../cart-checkout.js';
import { SHIPMENT_COLUMNS } from './shipments.js';

interface CreateOrderBody {
  /** Either items or cartId (edge/schemas.ts). */
  items?: { productId: string; quantity: number }[];
  cartId?: string;
  paymentMethod: string;
  shippingAddress: ShippingAddress;
}

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,200}$/;

function refusalProblem(decision: Extract<Decision, { kind: 'refused' }>): HttpProblem {
  const extra = { orderId: decision.orderId, productId: decision.productId };
  switch (decision.code) {
    case 'sold-out':
      return new HttpProblem(409, 'sold-out', 'Sold out', `Product ${decision.productId} has no units left`, { extra });
    case 'limit-exceeded':
      return new HttpProblem(429, 'limit-exceeded', 'Per-buyer limit reached',
        `This sale allows ${decision.detail} units per buyer`, { extra: { ...extra, perUserLimit: Number(decision.detail) } });
    case 'sale-paused':
      return new HttpProblem(409, 'sale-paused', 'Sale paused', 'The flash sale of this product is paused; try again later', { extra });
    case 'sale-not-started':
      return new HttpProblem(409, 'sale-not-started', 'Sale not started',
        `The flash sale of this product starts at ${new Date(Number(decision.detail)).toISOString()}`,
        { extra: { ...extra, startsAt: new Date(Number(decision.detail)).toISOString() } });
    case 'unknown-product':
      return new HttpProblem(404, 'unknown-product', 'Unknown product', `Product ${decision.productId} does not exist`,
        { errors: [{ field: 'items.productId', message: `${decision.productId} is not a product` }], extra });
    case 'mixed-currency':
      return new HttpProblem(409, 'mixed-currency', 'Mixed currencies',
        `An order is paid in one currency; these products are priced in ${decision.detail.replace(',', ' and ')}: order them separately`, { extra });
  }
}

export function canSee(user: AuthUser, ownerId: string): boolean {
  return user.role === 'admin' || user.userId === ownerId;
}

/**
 * The order's payment as the buyer sees it (common/settlement.ts keeps the payments
 * table): pending until the first attempt, then the intent's status, refund_pending or
 * refunded; paymentAction is what the client must do for a payment that needs the
 * customer (3-D Secure): {type, clientSecret, url}.
 */
const PAYMENT_COLUMNS = `
  COALESCE((SELECT CASE p.refund_status WHEN 'succeeded' THEN 'refunded' WHEN 'pending' THEN 'refund_pending' ELSE p.status END
              FROM payments p WHERE p.order_id = o.order_id),
           CASE WHEN o.status = 'pending_payment' THEN 'pending' END) AS "paymentStatus",
  (SELECT p.next_action FROM payments p
    WHERE p.order_id = o.order_id AND p.status = 'requires_action' AND o.status = 'pending_payment') AS "paymentAction"`;

export function orderRoutes(router: Router, deps: EdgeDeps): void {
  const cartCheckout = new CartCheckout(deps);
  router.post<CreateOrderBody>('/v1/orders', {
    summary: 'Place an order (202 once durable in Kafka)',
    access: 'signed-in',
    body: validator('CreateOrderRequest'),
    headers: ['idempotency-key'],
    handler: async (ctx) => {
      const key = ctx.headers['idempotency-key'] ?? '';
      if (!IDEMPOTENCY_KEY_RE.test(key)) {
        throw problems.badField('Idempotency-Key', 'header is required: 1 to 200 visible ASCII characters, one per purchase attempt');
      }
      const fromCart = ctx.body.cartId === undefined ? undefined
        : await cartCheckout.prepare(ctx.user!.userId, ctx.body.cartId, key, ctx.rawBody);
      const merged = new Map<string, number>();
      for (const item of ctx.body.items ?? []) merged.set(item.productId.toLowerCase(), (merged.get(item.productId.toLowerCase()) ?? 0) + item.quantity);
      let decision: Decision;
      try {
        decision = await deps.decision.place({
          userId: ctx.user!.userId,
          idempotencyKey: key,
          fingerprint: fromCart?.fingerprint ?? fingerprint(ctx.rawBody),
          lines: fromCart?.lines ?? [...merged].map(([productId, quantity]) => ({ productId, quantity })),
          paymentMethod: ctx.body.paymentMethod,
          shippingAddress: ctx.body.shippingAddress,
        });
      } catch (error) {
        if (error instanceof DependencyUnavailableError) countDecision('unavailable');
        throw error;
      }
      countDecision(decisionOutcome(decision));
      switch (decision.kind) {
        case 'accepted':
          await fromCart?.accepted(decision.orderId);
          return {
            status: 202,
            body: { success: true, orderId: decision.orderId, status: 'accepted' },
            headers: { location: `/v1/orders/${decision.orderId}`, ...(decision.replay ? { 'idempotent-replayed': 'true' } : {}) },
          };
        case 'refused':
          throw refusalProblem(decision);
        case 'key-reused':
          throw new HttpProblem(422, 'idempotency-key-reused', 'Idempotency-Key reused',
            'This Idempotency-Key was used with a different request body; use a new key for a new order', { extra: { orderId: decision.orderId } });
        case 'key-expired':
          throw problems.conflict('idempotency-key-expired', 'Attempt expired',
            'An earlier attempt with this Idempotency-Key was not confirmed in time and was dropped; use a new key', { orderId: decision.orderId });
        case 'unavailable':
          if (decision.mayBePlaced) {
            throw problems.unavailable('The order pipeline did not confirm this order in time, and it may still be placed: '
              + 'retry with the same Idempotency-Key to learn its outcome (never with a new key)', 1, { orderId: decision.orderId });
          }
          throw problems.unavailable('The order pipeline cannot take orders right now; retry with the same Idempotency-Key', 1);
      }
    },
  });

  router.get('/v1/orders/:orderId', {
    summary: 'An order, from the moment of its 202',
    access: 'signed-in',
    handler: async (ctx) => {
      const orderId = uuidParam(ctx, 'orderId');
      const { rows } = await deps.pool.query(
        `SELECT o.order_id AS "orderId", o.user_id AS "userId", o.status, o.total_cents AS "totalCents", o.currency,
                o.shipping_address AS "shippingAddress", o.accepted_at AS "acceptedAt",
                (SELECT json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity,
                        'unitPriceCents', i.unit_price_cents, 'flashSaleId', i.flash_sale_id) ORDER BY i.product_id)
                   FROM order_items i WHERE i.order_id = o.order_id) AS items,
                (SELECT json_agg(json_build_object('status', h.status, 'at', h.at, 'reason', h.reason) ORDER BY h.at, h.status)
                   FROM order_history h WHERE h.order_id = o.order_id) AS history,
                ${PAYMENT_COLUMNS},
                ${SHIPMENT_COLUMNS}
           FROM orders o WHERE o.order_id = $1`, [orderId]);
      const row = rows[0] as ({ userId: string } & Record<string, unknown>) | undefined;
      if (row) {
        if (!canSee(ctx.user!, row.userId)) throw problems.notFound(`Order ${orderId}`);
        return { status: 200, body: row };
      }
      // Accepted but not yet persisted: answer from the edge's record of the 202.
      const pending = await deps.redis.get(acceptedOrderKey(orderId))
        .catch((error: unknown) => { throw new DependencyUnavailableError('redis', error); });
      if (!pending) throw problems.notFound(`Order ${orderId}`);
      const order = JSON.parse(pending) as AcceptedOrder;
      if (!canSee(ctx.user!, order.userId)) throw problems.notFound(`Order ${orderId}`);
      return {
        status: 200,
        body: {
          orderId, userId: order.userId, status: 'accepted', totalCents: order.totalCents, currency: order.currency,
          shippingAddress: order.shippingAddress, acceptedAt: order.acceptedAt, items: order.items,
          history: [{ status: 'accepted', at: order.acceptedAt, reason: null }],
          paymentStatus: null, trackingNumber: null, shipments: [],
        },
      };
    },
  });

  router.get('/v1/orders/user/:userId', {
    summary: "A buyer's orders, newest first",
    access: 'signed-in',
    handler: async (ctx) => {
      const userId = uuidParam(ctx, 'userId');
      if (!canSee(ctx.user!, userId)) throw problems.forbidden('You may list only your own orders');
      const { limit, offset, page } = pageParams(ctx);
      const [list, count] = await Promise.all([
        deps.pool.query(
          `SELECT order_id AS "orderId", status, total_cents AS "totalCents", currency, accepted_at AS "acceptedAt"
             FROM orders WHERE user_id = $1 ORDER BY accepted_at DESC, order_id LIMIT $2 OFFSET $3`, [userId, limit, offset]),
        deps.pool.query<{ total: number }>('SELECT count(*)::int AS total FROM orders WHERE user_id = $1', [userId]),
      ]);
      return { status: 200, body: { userId, orders: list.rows, page, limit, total: count.rows[0]?.total ?? 0 } };
    },
  });
}
