/**
 * What a buyer (or an admin) does to a placed order: POST /v1/orders/{orderId}/cancel.
 * Before shipping only: the stock goes back (to the sale while it is open), a payment
 * taken is refunded, a payment still waiting for the customer is cancelled at the
 * provider (common/settlement.ts). Cancelling a cancelled order answers the same again.
 */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { HttpProblem, problems } from '../problems.js';
import { uuidParam } from '../params.js';
import { acceptedOrderKey } from '../../common/keys.js';
import type { AcceptedOrder } from '../../common/order.js';
import { canSee } from './orders.js';
import { orUnavailable, settlementOf } from './payments.js';

export function orderActionRoutes(router: Router, deps: EdgeDeps): void {
  router.post('/v1/orders/:orderId/cancel', {
    summary: 'Cancel an order before it ships (stock goes back; a payment taken is refunded)',
    access: 'signed-in',
    handler: async (ctx) => {
      const orderId = uuidParam(ctx, 'orderId');
      const user = ctx.user!;
      const { rows } = await orUnavailable(deps.pool.query<{ userId: string }>(
        'SELECT user_id AS "userId" FROM orders WHERE order_id = $1', [orderId]), 'postgres');
      const owner = rows[0]?.userId;
      if (!owner) {
        // Accepted (202) but not persisted yet: it cannot be cancelled for a moment.
        const pending = await orUnavailable(deps.redis.get(acceptedOrderKey(orderId)), 'redis');
        const accepted = pending ? (JSON.parse(pending) as AcceptedOrder) : null;
        if (!accepted || !canSee(user, accepted.userId)) throw problems.notFound(`Order ${orderId}`);
        throw new HttpProblem(409, 'order-not-ready', 'Order still being recorded',
          'The order was accepted and is being recorded; try the cancellation again in a moment', { headers: { 'Retry-After': '1' }, extra: { orderId } });
      }
      if (!canSee(user, owner)) throw problems.notFound(`Order ${orderId}`);
      const settlement = settlementOf(deps);
      const result = await orUnavailable(settlement.cancel(orderId, `cancelled by ${user.role === 'admin' && user.userId !== owner ? 'an admin' : 'the buyer'}`),
        'postgres or redis');
      switch (result.kind) {
        case 'not-found':
          throw problems.notFound(`Order ${orderId}`);
        case 'refused':
          throw problems.conflict(result.status === 'shipped' || result.status === 'delivered' ? 'order-shipped' : 'order-closed',
            'Order cannot be cancelled', `The order is ${result.status}; only orders not yet shipped and still open can be cancelled`,
            { orderId, status: result.status });
        case 'cancelled':
          return {
            status: 200,
            body: { success: true, orderId, status: 'cancelled', refund: result.refund ? { status: result.refund } : null },
            headers: result.replay ? { 'idempotent-replayed': 'true' } : undefined,
          };
      }
    },
  });
}
