-- Fulfilment: shipments, the outbox queue that the notifier and analytics workers
-- consume, notifications, daily sales roll-ups and inventory snapshots.

-- Shipments: a seller (or an admin) ships some units of an order's lines with a carrier
-- and a tracking number. An order is `shipped` once every line's units are in shipments.
-- (order_id, created_by, request_key) makes a retried POST with the same Idempotency-Key
-- find the shipment it created (NULL keys never collide).
CREATE TABLE IF NOT EXISTS shipments (
  shipment_id         uuid PRIMARY KEY,
  order_id            uuid NOT NULL REFERENCES orders (order_id),
  carrier             text NOT NULL,
  tracking_number     text NOT NULL,
  created_by          uuid NOT NULL,
  request_key         text,
  request_fingerprint text,
  -- this shipment took the order's last units: the order turned `shipped` with it
  completes_order     boolean NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (order_id, created_by, request_key)
);
CREATE INDEX IF NOT EXISTS shipments_order_idx ON shipments (order_id, created_at);

-- The units of one order line in one shipment, and the warehouse they leave from (the one
-- holding the most of the product when it shipped). Recorded only: the ledger keeps
-- counting sold units until the reconciler's conservation rule says otherwise.
CREATE TABLE IF NOT EXISTS shipment_items (
  shipment_id  uuid NOT NULL REFERENCES shipments (shipment_id),
  order_id     uuid NOT NULL,
  product_id   uuid NOT NULL,
  quantity     integer NOT NULL CHECK (quantity > 0),
  warehouse_id text REFERENCES warehouses (warehouse_id),
  PRIMARY KEY (shipment_id, product_id),
  FOREIGN KEY (order_id, product_id) REFERENCES order_items (order_id, product_id)
);
CREATE INDEX IF NOT EXISTS shipment_items_order_idx ON shipment_items (order_id, product_id);

-- The outbox queue: one row per (consumer, source row) still to be handled. Triggers add
-- the rows in the same transaction as the source row (an order_events row from
-- transitionOrder, a shipment, a low-stock alert); a consumer claims rows with
-- FOR UPDATE SKIP LOCKED, writes what they produce and deletes them in ONE transaction,
-- so each source row is handled exactly once however often a worker dies or restarts.
-- (A cursor over a bigserial would skip ids whose transactions commit late; a queue has
-- no such gaps, and several instances of a consumer share it without coordination.)
CREATE TABLE IF NOT EXISTS outbox_queue (
  consumer    text NOT NULL,
  source      text NOT NULL CHECK (source IN ('order_event', 'shipment', 'low_stock_alert')),
  source_id   text NOT NULL,
  enqueued_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, source, source_id)
);
CREATE INDEX IF NOT EXISTS outbox_queue_age_idx ON outbox_queue (consumer, enqueued_at);

-- Trigger arguments: the source name, the id column of the row, then each consumer.
CREATE OR REPLACE FUNCTION outbox_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outbox_queue (consumer, source, source_id)
  SELECT consumer, TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[1] FROM unnest(TG_ARGV[2:]) AS consumer
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS order_events_outbox ON order_events;
CREATE TRIGGER order_events_outbox AFTER INSERT ON order_events
  FOR EACH ROW EXECUTE FUNCTION outbox_enqueue('order_event', 'event_id', 'notifier', 'analytics');
DROP TRIGGER IF EXISTS shipments_outbox ON shipments;
CREATE TRIGGER shipments_outbox AFTER INSERT ON shipments
  FOR EACH ROW EXECUTE FUNCTION outbox_enqueue('shipment', 'shipment_id', 'notifier');
DROP TRIGGER IF EXISTS low_stock_alerts_outbox ON low_stock_alerts;
CREATE TRIGGER low_stock_alerts_outbox AFTER INSERT ON low_stock_alerts
  FOR EACH ROW EXECUTE FUNCTION outbox_enqueue('low_stock_alert', 'alert_id', 'notifier');

-- Sales confirmed before this migration still belong in the roll-ups (no notifications
-- for them: those would reach people about old news).
INSERT INTO outbox_queue (consumer, source, source_id)
  SELECT 'analytics', 'order_event', event_id::text FROM order_events WHERE status IN ('confirmed', 'cancelled')
  ON CONFLICT DO NOTHING;

-- Notifications: at most one per (source row, recipient), whatever the redelivery.
-- Email: next_send_at is when the notifier may (re)try (NULL: not to be emailed, because
-- no SMTP server was configured when it was written, or it was given up: send_error);
-- sent_at is set once the SMTP server accepted the message.
CREATE TABLE IF NOT EXISTS notifications (
  notification_id bigserial PRIMARY KEY,
  user_id         uuid NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('order_confirmed', 'payment_failed', 'order_shipped', 'order_delivered',
                                                'order_cancelled', 'low_stock')),
  source          text NOT NULL,
  source_id       text NOT NULL,
  order_id        uuid,
  product_id      uuid,
  title           text NOT NULL,
  body            text NOT NULL,
  data            jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  next_send_at    timestamptz,
  send_attempts   integer NOT NULL DEFAULT 0,
  sent_at         timestamptz,
  send_error      text,
  UNIQUE (source, source_id, user_id)
);
CREATE INDEX IF NOT EXISTS notifications_user_idx ON notifications (user_id, notification_id DESC);
CREATE INDEX IF NOT EXISTS notifications_unsent_idx ON notifications (next_send_at)
  WHERE sent_at IS NULL AND next_send_at IS NOT NULL;

-- Daily sales. A sale is an order that reached `confirmed` (paid, stock committed); it
-- counts on the UTC day of its confirmation, and a later cancellation takes it out of
-- that same day again. sales_orders is the per-order guard: `counted` says whether the
-- order's lines are in daily_sales now, so applying an order's state twice changes nothing.
CREATE TABLE IF NOT EXISTS sales_orders (
  order_id   uuid PRIMARY KEY REFERENCES orders (order_id),
  day        date NOT NULL,
  currency   char(3) NOT NULL,
  counted    boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sales_orders_day_idx ON sales_orders (day) WHERE counted;

CREATE TABLE IF NOT EXISTS daily_sales (
  day           date NOT NULL,
  product_id    uuid NOT NULL,
  currency      char(3) NOT NULL,
  units         bigint NOT NULL DEFAULT 0,
  revenue_cents bigint NOT NULL DEFAULT 0,
  orders        integer NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (day, product_id, currency)
);

-- Periodic per-product counts (workers/analytics.ts): the ledger's stock, the units of
-- live orders, and the Redis counters as read at `taken_at` (NULL when Redis had none);
-- drift = available + in sales + reserved + live - ledger (0 at rest).
CREATE TABLE IF NOT EXISTS inventory_snapshots (
  taken_at        timestamptz NOT NULL,
  product_id      uuid NOT NULL,
  ledger_stock    integer NOT NULL,
  live_units      integer NOT NULL,
  redis_available integer,
  redis_reserved  integer,
  redis_in_sales  integer,
  drift           integer,
  PRIMARY KEY (taken_at, product_id)
);
CREATE INDEX IF NOT EXISTS inventory_snapshots_product_idx ON inventory_snapshots (product_id, taken_at DESC);
