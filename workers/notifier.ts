/**
 * The notifier: turns outbox rows (workers/outbox.ts) into notifications for people.
 *
 *   order event confirmed        → the buyer: order_confirmed
 *   order event failed / expired → the buyer: payment_failed
 *   order event cancelled        → the buyer: order_cancelled
 *   order event delivered        → the buyer: order_delivered
 *   shipment                     → the buyer: order_shipped, with carrier and tracking number
 *                                  (one per shipment: an order of several sellers ships in
 *                                  parts; the order's own `shipped` event adds nothing)
 *   low-stock alert              → the product's seller: low_stock
 *
 * Each notification is written in the transaction that consumes its outbox row, and
 * notifications are UNIQUE per (source row, recipient): exactly one per event through
 * redelivery, restarts and concurrent instances. Everyone reads theirs at
 * GET /v1/notifications; with SMTP_URL set they are emailed as well
 * (workers/notification-email.ts, at least once with a stable Message-ID).
 */
import type { PoolClient } from '../common/db.js';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import type { Pool } from '../common/db.js';
import { idsOf, OutboxConsumer, type OutboxEntry } from './outbox.js';
import { NotificationEmailer } from './notification-email.js';

export type NotificationKind = 'order_confirmed' | 'payment_failed' | 'order_shipped' | 'order_delivered' | 'order_cancelled' | 'low_stock';

export interface NewNotification {
  userId: string;
  kind: NotificationKind;
  source: OutboxEntry['source'];
  sourceId: string;
  orderId: string | null;
  productId: string | null;
  title: string;
  body: string;
  data: Record<string, unknown>;
}

interface Line { name: string; quantity: number }

interface OrderEventRow {
  sourceId: string; orderId: string; status: string; reason: string | null; userId: string;
  totalCents: number; currency: string; items: Line[] | null;
}

interface ShipmentRow {
  sourceId: string; orderId: string; userId: string; carrier: string; trackingNumber: string;
  items: Line[] | null; completesOrder: boolean;
}

interface AlertRow { sourceId: string; productId: string; sellerId: string; name: string; available: number; threshold: number }

/** An amount in minor units, in its currency's own number of decimals (JPY 0, USD 2, ...). */
export function formatMoney(cents: number, currency: string): string {
  let digits = 2;
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    // an unknown code: two decimals
  }
  return `${currency} ${(cents / 10 ** digits).toFixed(digits)}`;
}

const shortId = (orderId: string): string => orderId.slice(0, 8);
const listOf = (items: Line[] | null): string => (items ?? []).map((i) => `${i.quantity} x ${i.name}`).join(', ');

/** The notification an order event gives its buyer, or null when it gives none. */
export function orderEventNotification(e: OrderEventRow): NewNotification | null {
  const base = { userId: e.userId, source: 'order_event' as const, sourceId: e.sourceId, orderId: e.orderId, productId: null };
  const order = `order ${shortId(e.orderId)}`;
  const Order = `Order ${shortId(e.orderId)}`;
  const data = { status: e.status, totalCents: e.totalCents, currency: e.currency };
  switch (e.status) {
    case 'confirmed':
      return { ...base, kind: 'order_confirmed', data, title: 'Your order is confirmed',
        body: `We have your payment for ${order}: ${listOf(e.items)}. Total ${formatMoney(e.totalCents, e.currency)}. We will tell you when it ships.` };
    case 'failed':
    case 'expired':
      return { ...base, kind: 'payment_failed', data: { ...data, reason: e.reason }, title: 'Your payment did not go through',
        body: `We could not take the payment for ${order} (${e.reason ?? e.status}), so the order was not placed and nothing was charged. `
          + 'You are welcome to order again with another payment method.' };
    case 'cancelled':
      return { ...base, kind: 'order_cancelled', data: { ...data, reason: e.reason }, title: 'Your order is cancelled',
        body: `${Order} is cancelled (${e.reason ?? 'cancelled'}). Any payment taken is refunded to the original payment method.` };
    case 'delivered':
      return { ...base, kind: 'order_delivered', data, title: 'Your order was delivered',
        body: `${Order} was delivered: ${listOf(e.items)}. Enjoy!` };
    default:
      return null;
  }
}

export function shipmentNotification(s: ShipmentRow): NewNotification {
  const complete = s.completesOrder;
  return {
    userId: s.userId, kind: 'order_shipped', source: 'shipment', sourceId: s.sourceId, orderId: s.orderId, productId: null,
    title: complete ? 'Your order has shipped' : 'Part of your order has shipped',
    body: `${listOf(s.items)} from order ${shortId(s.orderId)} shipped with ${s.carrier}, tracking number ${s.trackingNumber}.`
      + (complete ? '' : ' The rest follows separately.'),
    data: { shipmentId: s.sourceId, carrier: s.carrier, trackingNumber: s.trackingNumber, items: s.items ?? [] },
  };
}

export function lowStockNotification(a: AlertRow): NewNotification {
  return {
    userId: a.sellerId, kind: 'low_stock', source: 'low_stock_alert', sourceId: a.sourceId, orderId: null, productId: a.productId,
    title: `Low stock: ${a.name}`,
    body: `${a.name} has ${a.available} unit(s) left to sell, below your threshold of ${a.threshold}. Restock it to keep selling.`,
    data: { available: a.available, threshold: a.threshold },
  };
}

const ITEM_NAMES = (orderId: string) => `(SELECT json_agg(json_build_object('name', COALESCE(p.name, i.product_id::text), 'quantity', i.quantity)
   ORDER BY i.product_id) FROM order_items i LEFT JOIN products p USING (product_id) WHERE i.order_id = ${orderId})`;

/** The notifications a batch of outbox rows gives, read in the consumer's transaction. */
export async function composeNotifications(client: PoolClient, entries: OutboxEntry[]): Promise<NewNotification[]> {
  const out: NewNotification[] = [];
  const eventIds = idsOf(entries, 'order_event');
  if (eventIds.length) {
    const { rows } = await client.query<OrderEventRow>(
      `SELECT e.event_id::text AS "sourceId", e.order_id AS "orderId", e.status, e.reason, o.user_id AS "userId",
              o.total_cents AS "totalCents", o.currency, ${ITEM_NAMES('o.order_id')} AS items
         FROM order_events e JOIN orders o USING (order_id) WHERE e.event_id = ANY($1::bigint[])`, [eventIds]);
    for (const row of rows) {
      const n = orderEventNotification(row);
      if (n) out.push(n);
    }
  }
  const shipmentIds = idsOf(entries, 'shipment');
  if (shipmentIds.length) {
    const { rows } = await client.query<ShipmentRow>(
      `SELECT s.shipment_id::text AS "sourceId", s.order_id AS "orderId", o.user_id AS "userId", s.carrier,
              s.tracking_number AS "trackingNumber", s.completes_order AS "completesOrder",
              (SELECT json_agg(json_build_object('name', COALESCE(p.name, si.product_id::text), 'quantity', si.quantity) ORDER BY si.product_id)
                 FROM shipment_items si LEFT JOIN products p USING (product_id) WHERE si.shipment_id = s.shipment_id) AS items
         FROM shipments s JOIN orders o USING (order_id) WHERE s.shipment_id = ANY($1::uuid[])`, [shipmentIds]);
    out.push(...rows.map(shipmentNotification));
  }
  const alertIds = idsOf(entries, 'low_stock_alert');
  if (alertIds.length) {
    const { rows } = await client.query<AlertRow>(
      `SELECT a.alert_id::text AS "sourceId", a.product_id AS "productId", a.seller_id AS "sellerId", p.name, a.available, a.threshold
         FROM low_stock_alerts a JOIN products p USING (product_id) WHERE a.alert_id = ANY($1::bigint[])`, [alertIds]);
    out.push(...rows.map(lowStockNotification));
  }
  return out;
}

/** Writes notifications once each (UNIQUE per source row and recipient); returns how many are new. */
export async function insertNotifications(client: PoolClient, list: NewNotification[], emailing: boolean): Promise<number> {
  if (list.length === 0) return 0;
  const { rowCount } = await client.query(
    `INSERT INTO notifications (user_id, kind, source, source_id, order_id, product_id, title, body, data, next_send_at)
     SELECT r."userId", r.kind, r.source, r."sourceId", r."orderId", r."productId", r.title, r.body, r.data,
            CASE WHEN $2::boolean THEN now() END
       FROM jsonb_to_recordset($1::jsonb) AS r("userId" uuid, kind text, source text, "sourceId" text, "orderId" uuid,
                                              "productId" uuid, title text, body text, data jsonb)
     ON CONFLICT (source, source_id, user_id) DO NOTHING`, [JSON.stringify(list), emailing]);
  return rowCount ?? 0;
}

/** Builds and starts the notifier (workers/main.ts). */
export function startNotifier({ config, log, pool }: { config: Config; log: Logger; pool: Pool }): { stop(): Promise<void> } {
  const emailing = config.smtpUrl !== undefined;
  const consumer = new OutboxConsumer(pool, 'notifier',
    async (client, entries) => insertNotifications(client, await composeNotifications(client, entries), emailing),
    { batchSize: 100, pollMs: config.outboxPollMs }, log);
  const emailer = config.smtpUrl
    ? new NotificationEmailer(pool, { smtpUrl: config.smtpUrl, from: config.smtpFrom, leaseMs: config.emailLeaseMs, pollMs: config.outboxPollMs }, log)
    : undefined;
  consumer.start();
  emailer?.start();
  log.info({ email: emailer ? emailer.server : 'off (SMTP_URL unset)' }, 'notifier running');
  return {
    async stop() {
      await consumer.stop();
      await emailer?.stop();
    },
  };
}
