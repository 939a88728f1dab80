-- Inventory per warehouse, a fuller audit ledger, low-stock thresholds and alerts, and carts.
--
-- A product's stock stays the sum of inventory_ledger.delta (the reconciler's truth);
-- warehouse_stock is that sum per warehouse, kept by a trigger on every ledger insert
-- (whoever writes the row), which also stamps the row with the warehouse's stock before
-- and after it. A warehouse never holds fewer than zero units (CHECK).

CREATE TABLE IF NOT EXISTS warehouses (
  warehouse_id text PRIMARY KEY,
  name         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO warehouses (warehouse_id, name) VALUES ('main', 'Main warehouse') ON CONFLICT DO NOTHING;
INSERT INTO warehouses (warehouse_id, name)
  SELECT DISTINCT warehouse_id, warehouse_id FROM inventory_ledger ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS warehouse_stock (
  product_id   uuid NOT NULL REFERENCES products (product_id),
  warehouse_id text NOT NULL REFERENCES warehouses (warehouse_id),
  stock        integer NOT NULL CHECK (stock >= 0),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (product_id, warehouse_id)
);

-- Who (actor_id, actor_role: filled from users when the writer leaves it out), when
-- (created_at), why (reason), before and after (the warehouse's stock around this row);
-- transfer_id pairs the two rows of a transfer.
ALTER TABLE inventory_ledger ADD COLUMN IF NOT EXISTS actor_id uuid;
ALTER TABLE inventory_ledger ADD COLUMN IF NOT EXISTS actor_role text;
ALTER TABLE inventory_ledger ADD COLUMN IF NOT EXISTS stock_before integer;
ALTER TABLE inventory_ledger ADD COLUMN IF NOT EXISTS stock_after integer;
ALTER TABLE inventory_ledger ADD COLUMN IF NOT EXISTS transfer_id uuid;
CREATE INDEX IF NOT EXISTS inventory_ledger_product_time_idx ON inventory_ledger (product_id, entry_id DESC);

-- Rows written before this migration: per-warehouse sums and running before/after.
INSERT INTO warehouse_stock (product_id, warehouse_id, stock)
  SELECT product_id, warehouse_id, sum(delta) FROM inventory_ledger GROUP BY product_id, warehouse_id
  ON CONFLICT DO NOTHING;
UPDATE inventory_ledger l SET stock_after = r.after, stock_before = r.after - l.delta
  FROM (SELECT entry_id, sum(delta) OVER (PARTITION BY product_id, warehouse_id ORDER BY entry_id) AS after
          FROM inventory_ledger) r
 WHERE l.entry_id = r.entry_id AND l.stock_after IS NULL;

CREATE OR REPLACE FUNCTION inventory_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  after_stock integer;
BEGIN
  -- UPDATE first: an INSERT's CHECK would judge the bare delta, refusing every removal.
  UPDATE warehouse_stock SET stock = stock + NEW.delta, updated_at = now()
   WHERE product_id = NEW.product_id AND warehouse_id = NEW.warehouse_id
  RETURNING stock INTO after_stock;
  IF NOT FOUND THEN
    INSERT INTO warehouse_stock AS w (product_id, warehouse_id, stock)
    VALUES (NEW.product_id, NEW.warehouse_id, NEW.delta)
    ON CONFLICT (product_id, warehouse_id) DO UPDATE SET stock = w.stock + EXCLUDED.stock, updated_at = now()
    RETURNING w.stock INTO after_stock;
  END IF;
  NEW.stock_before := after_stock - NEW.delta;
  NEW.stock_after := after_stock;
  IF NEW.actor_role IS NULL AND NEW.actor_id IS NOT NULL THEN
    SELECT role INTO NEW.actor_role FROM users WHERE user_id = NEW.actor_id;
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS inventory_ledger_apply ON inventory_ledger;
CREATE TRIGGER inventory_ledger_apply BEFORE INSERT ON inventory_ledger
  FOR EACH ROW EXECUTE FUNCTION inventory_ledger_apply();

-- Idempotency-Key answers of inventory writes (adjustments, transfers).
CREATE TABLE IF NOT EXISTS inventory_requests (
  actor_id    uuid NOT NULL,
  request_key text NOT NULL,
  fingerprint text NOT NULL,
  status      integer NOT NULL,
  response    jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor_id, request_key)
);

-- Low stock: a threshold per product; an alert row for the seller each time the units
-- still sellable (outside and inside open sales) fall below it. `low_stock_alerted`
-- is set while below, so one crossing records one alert; it clears once back at or above.
ALTER TABLE products ADD COLUMN IF NOT EXISTS low_stock_threshold integer CHECK (low_stock_threshold >= 0);
ALTER TABLE products ADD COLUMN IF NOT EXISTS low_stock_alerted boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS products_low_stock_idx ON products (product_id) WHERE low_stock_threshold > 0;

CREATE TABLE IF NOT EXISTS low_stock_alerts (
  alert_id   bigserial PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES products (product_id),
  seller_id  uuid NOT NULL,
  available  integer NOT NULL,
  threshold  integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS low_stock_alerts_seller_idx ON low_stock_alerts (seller_id, created_at DESC);

-- Carts: Postgres is the record (written on every change), Redis holds a copy for reads.
-- `version` comes from one sequence, so a newer copy of a user's cart always has a
-- larger number and an older one never overwrites it in Redis. One open cart per user;
-- an ordered cart keeps its lines; cart_checkouts remembers which lines each order took
-- (an Idempotency-Key retry replays them).
CREATE SEQUENCE IF NOT EXISTS cart_version_seq;

CREATE TABLE IF NOT EXISTS carts (
  cart_id    uuid PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users (user_id),
  status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ordered')),
  version    bigint NOT NULL,
  order_id   uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS carts_open_user_key ON carts (user_id) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS carts_user_idx ON carts (user_id, version DESC);

CREATE TABLE IF NOT EXISTS cart_items (
  cart_id    uuid NOT NULL REFERENCES carts (cart_id),
  product_id uuid NOT NULL REFERENCES products (product_id),
  quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
  added_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (cart_id, product_id)
);

CREATE TABLE IF NOT EXISTS cart_checkouts (
  order_id   uuid PRIMARY KEY,
  cart_id    uuid NOT NULL REFERENCES carts (cart_id),
  user_id    uuid NOT NULL,
  lines      jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
