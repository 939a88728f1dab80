/**
 * GET /v1/notifications: the signed-in user's notifications, newest first (the notifier
 * writes them from the outbox: workers/notifier.ts). A buyer sees order and shipping
 * news; a seller also the low-stock alerts of their products. `?kind=` narrows the list;
 * `email.status` says whether it was emailed too: sent, pending, failed, or off (no SMTP
 * server was configured when it was written).
 */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { problems } from '../problems.js';
import { pageParams } from '../params.js';
import { orUnavailable } from './payments.js';

/** The kinds the notifier writes (the CHECK of notifications.kind in migrations/005_fulfilment.sql). */
const KINDS = ['order_confirmed', 'payment_failed', 'order_shipped', 'order_delivered', 'order_cancelled', 'low_stock'];

export function notificationRoutes(router: Router, deps: EdgeDeps): void {
  router.get('/v1/notifications', {
    summary: "The signed-in user's notifications, newest first (sellers: low-stock alerts too); ?kind= filters",
    access: 'signed-in',
    handler: async (ctx) => {
      const { page, limit, offset } = pageParams(ctx);
      const kind = ctx.query.get('kind') || null;
      if (kind !== null && !KINDS.includes(kind)) throw problems.badField('kind', `must be one of ${KINDS.join(', ')}`);
      const userId = ctx.user!.userId;
      const [list, count] = await orUnavailable(Promise.all([
        deps.pool.query(
          `SELECT notification_id AS "notificationId", kind, title, body, order_id AS "orderId", product_id AS "productId",
                  data, created_at AS "createdAt",
                  json_build_object('status', CASE WHEN sent_at IS NOT NULL THEN 'sent' WHEN next_send_at IS NOT NULL THEN 'pending'
                                                   WHEN send_error IS NOT NULL THEN 'failed' ELSE 'off' END,
                                    'sentAt', sent_at) AS email
             FROM notifications WHERE user_id = $1 AND ($2::text IS NULL OR kind = $2)
            ORDER BY notification_id DESC LIMIT $3 OFFSET $4`, [userId, kind, limit, offset]),
        deps.pool.query<{ total: number }>(
          'SELECT count(*)::int AS total FROM notifications WHERE user_id = $1 AND ($2::text IS NULL OR kind = $2)', [userId, kind]),
      ]), 'postgres');
      return { status: 200, body: { notifications: list.rows, page, limit, total: count.rows[0]?.total ?? 0 } };
    },
  });
}
