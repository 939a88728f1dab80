-- order_history loses its foreign key to orders. Every row is written in the same
-- transaction as the order it describes: by the order writer, joined to the orders its
-- statement inserted, and by common/order-status.ts right after locking and updating the
-- order. So the key only ever re-checked what the code guarantees, and it was the order
-- writer's largest cost: Postgres 15 checks a foreign key per row (a key-share lock on
-- the order), 12.5 µs of the 54 µs per order in a 20,000-order batch, for two history
-- rows per order (BENCHMARKS.md, bench:persist). Orders are never deleted.
ALTER TABLE order_history DROP CONSTRAINT IF EXISTS order_history_order_id_fkey;
