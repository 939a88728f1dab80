-- The database of record. Applied idempotently at every start (common/migrate.ts);
-- later changes come as numbered files in migrations/, applied once each, in order.
-- Money is integer minor units (bigint) with an ISO 4217 currency.

CREATE TABLE IF NOT EXISTS schema_migrations (
  version    text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
  user_id       uuid PRIMARY KEY,
  email         text NOT NULL,
  name          text NOT NULL,
  password_hash text NOT NULL,
  role          text NOT NULL CHECK (role IN ('customer', 'seller', 'admin')),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email));

CREATE TABLE IF NOT EXISTS products (
  product_id   uuid PRIMARY KEY,
  seller_id    uuid NOT NULL REFERENCES users (user_id),
  name         text NOT NULL,
  description  text NOT NULL DEFAULT '',
  price_cents  bigint NOT NULL CHECK (price_cents >= 0),
  currency     char(3) NOT NULL,
  category     text NOT NULL,
  attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  deleted_at   timestamptz
);
CREATE INDEX IF NOT EXISTS products_seller_idx ON products (seller_id);

-- Every change of a product's stock, with who, why, and the running stock.
-- A product's stock is the sum of its deltas; the reconciler reads it as the truth.
CREATE TABLE IF NOT EXISTS inventory_ledger (
  entry_id     bigserial PRIMARY KEY,
  product_id   uuid NOT NULL REFERENCES products (product_id),
  warehouse_id text NOT NULL DEFAULT 'main',
  delta        integer NOT NULL,
  reason       text NOT NULL,
  actor_id     uuid,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS inventory_ledger_product_idx ON inventory_ledger (product_id);

CREATE TABLE IF NOT EXISTS flash_sales (
  flash_sale_id  uuid PRIMARY KEY,
  product_id     uuid NOT NULL REFERENCES products (product_id),
  quantity       integer NOT NULL CHECK (quantity > 0),
  per_user_limit integer NOT NULL CHECK (per_user_limit > 0),
  price_cents    bigint NOT NULL CHECK (price_cents >= 0),
  starts_at      timestamptz NOT NULL,
  ends_at        timestamptz NOT NULL CHECK (ends_at > starts_at),
  state          text NOT NULL DEFAULT 'scheduled' CHECK (state IN ('scheduled', 'paused', 'ended')),
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS flash_sales_product_idx ON flash_sales (product_id, starts_at);

CREATE TABLE IF NOT EXISTS orders (
  order_id         uuid PRIMARY KEY,
  user_id          uuid NOT NULL,
  status           text NOT NULL CHECK (status IN ('accepted', 'pending_payment', 'paid', 'confirmed',
                                                   'shipped', 'delivered', 'failed', 'cancelled', 'expired')),
  total_cents      bigint NOT NULL CHECK (total_cents >= 0),
  currency         char(3) NOT NULL,
  payment_method   text NOT NULL,
  shipping_address jsonb NOT NULL,
  accepted_at      timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orders_user_idx ON orders (user_id, accepted_at DESC);

CREATE TABLE IF NOT EXISTS order_items (
  order_id         uuid NOT NULL REFERENCES orders (order_id),
  product_id       uuid NOT NULL,
  quantity         integer NOT NULL CHECK (quantity > 0),
  unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
  flash_sale_id    uuid,
  PRIMARY KEY (order_id, product_id)
);
CREATE INDEX IF NOT EXISTS order_items_product_idx ON order_items (product_id);

-- Each status an order passed through, once, with its time and reason.
CREATE TABLE IF NOT EXISTS order_history (
  order_id uuid NOT NULL REFERENCES orders (order_id),
  status   text NOT NULL,
  reason   text,
  at       timestamptz NOT NULL,
  PRIMARY KEY (order_id, status)
);

-- Drift the reconciler measured per product (Redis counters + live units - ledger stock).
CREATE TABLE IF NOT EXISTS reconciler_drift (
  product_id  uuid PRIMARY KEY,
  drift       integer NOT NULL,
  measured_at timestamptz NOT NULL,
  repaired_at timestamptz
);

-- Transactional outbox: one row per order status change, written in the same
-- transaction as the change (common/order-status.ts); notifier and analytics read it.
CREATE TABLE IF NOT EXISTS order_events (
  event_id   bigserial PRIMARY KEY,
  order_id   uuid NOT NULL REFERENCES orders (order_id),
  status     text NOT NULL,
  reason     text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (order_id, status)
);
