/**
 * The order writer: consumes accepted orders in batches and persists each batch in
 * one transaction (COPY into a staging table, then one INSERT … ON CONFLICT DO
 * NOTHING for orders, items and history), committing Kafka offsets only after
 * Postgres commits. Redelivery is harmless: every write is idempotent on order_id.
 *
 * Before writing, each order claims its reservations in Redis (lua/commit). An order
 * whose reservation is gone (its hold ran out before it landed) is recorded
 * `expired`, never live, and any line it did claim is given back.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { withTransaction, type Pool } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import type { AcceptedOrder } from '../common/order.js';
import { claimOrders } from '../common/stock.js';
import { faultPoint } from '../common/faults.js';
import { retry } from '../common/retry.js';
import { CountersNotReadyError } from '../common/errors.js';
import { TOPICS, GROUPS } from '../common/topics.js';
import { copyRows } from '../common/copy.js';
import { observeWriterBatch } from '../common/metrics.js';
import { commitBatch, readOrders, superviseBatchConsumer, type SupervisedConsumer } from '../common/kafka.js';
import { BatchJoiner } from './batch-joiner.js';

export interface OrderWriterSettings {
  idempotencyTtlSeconds: number;
  sessionTimeoutMs: number;
  partitionsConcurrently: number;
}

export interface WriteResult { orders: number; inserted: number; live: number; expired: number }

const STAGING = `CREATE TEMP TABLE IF NOT EXISTS order_staging (
  order_id uuid, user_id uuid, status text, reason text, total_cents bigint, currency text,
  payment_method text, shipping_address jsonb, accepted_at timestamptz, items jsonb
) ON COMMIT DELETE ROWS`;

const INSERT_FROM_STAGING = `
WITH inserted AS (
  INSERT INTO orders (order_id, user_id, status, total_cents, currency, payment_method, shipping_address, accepted_at)
  SELECT order_id, user_id, status, total_cents, currency, payment_method, shipping_address, accepted_at FROM order_staging
  ON CONFLICT (order_id) DO NOTHING
  RETURNING order_id
), items AS (
  INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents, flash_sale_id)
  SELECT s.order_id, i."productId", i.quantity, i."unitPriceCents", i."flashSaleId"
    FROM order_staging s JOIN inserted USING (order_id),
         jsonb_to_recordset(s.items) AS i("productId" uuid, quantity int, "unitPriceCents" bigint, "flashSaleId" uuid)
  RETURNING 1
), history AS (
  INSERT INTO order_history (order_id, status, reason, at)
  SELECT s.order_id, 'accepted', NULL, s.accepted_at FROM order_staging s JOIN inserted USING (order_id)
  UNION ALL
  SELECT s.order_id, s.status, s.reason, now() FROM order_staging s JOIN inserted USING (order_id)
  RETURNING 1
)
SELECT (SELECT count(*) FROM inserted)::int AS inserted, (SELECT count(*) FROM items)::int AS items`;

/** Partition batches smaller than this together are written in one transaction; larger ones in parallel. */
const JOIN_UP_TO_ORDERS = 1_000;

export class OrderWriter {
  private consumer: SupervisedConsumer | undefined;
  /** The partitions' batches handed in together are written in one transaction (workers/batch-joiner.ts). */
  private readonly joiner = new BatchJoiner(async (orders: AcceptedOrder[]) => {
    const started = performance.now();
    const result = await this.write(orders);
    observeWriterBatch(result, started);
    return result;
  }, JOIN_UP_TO_ORDERS);

  constructor(
    private readonly kafka: Kafka,
    private readonly pool: Pool,
    private readonly redis: Redis,
    private readonly settings: OrderWriterSettings,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.consumer = superviseBatchConsumer(this.kafka, {
      groupId: GROUPS.orderWriter, topic: TOPICS.ordersAccepted,
      sessionTimeoutMs: this.settings.sessionTimeoutMs, partitionsConcurrently: this.settings.partitionsConcurrently,
      // Under load the broker answers a fetch once 64 KB (about a hundred orders) are there,
      // else after 50 ms: fewer, larger batches (one transaction each) for the same orders.
      fetch: { minBytes: 64 * 1024, maxBytesPerPartition: 4 * 1024 * 1024 },
    }, (consumer, payload) => this.onBatch(consumer, payload), this.log);
    await this.consumer.start();
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
  }

  private async onBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const result = await this.joiner.run(readOrders(batch, this.log));
    await faultPoint('writer.after-commit');
    await commitBatch(consumer, payload);
    await heartbeat();
    this.log.debug({ partition: batch.partition, ...result }, 'batch persisted (with the batches written alongside)');
  }

  /** Persists a batch of accepted orders (idempotent); exported for benchmarks. */
  async write(batch: AcceptedOrder[]): Promise<WriteResult> {
    const orders = [...new Map(batch.map((o) => [o.orderId, o])).values()];
    const outcomes = await this.claim(orders);
    const inserted = await retry(() => this.persist(orders, outcomes), {
      retries: 8, baseMs: 200, maxMs: 5_000,
      onRetry: (error, attempt, delayMs) => this.log.warn({ err: (error as Error).message, attempt, delayMs }, 'postgres write failed; retrying'),
    });
    const live = outcomes.filter((o) => o === 'live').length;
    return { orders: orders.length, inserted, live, expired: orders.length - live };
  }

  /**
   * Claims every line's reservation, one script call per product (common/stock.ts
   * claimOrders): an order with a line gone is expired and gives back what it claimed.
   * While Redis is being rebuilt after losing its memory, waits (retrying) rather than
   * calling a reservation gone: the rebuild restores the in-flight ones.
   */
  private claim(orders: AcceptedOrder[]): Promise<('live' | 'expired')[]> {
    return retry(() => claimOrders(this.redis, orders, this.settings.idempotencyTtlSeconds), {
      retries: 600, baseMs: 100, maxMs: 1_000,
      isRetriable: (error) => error instanceof CountersNotReadyError,
      onRetry: (_error, attempt) => { if (attempt === 1) this.log.warn({ orders: orders.length }, 'Redis counters are being rebuilt; waiting'); },
    });
  }

  private persist(orders: AcceptedOrder[], outcomes: ('live' | 'expired')[]): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      await client.query(STAGING);
      await copyRows(client, 'order_staging', orders.map((o, i) => {
        const live = outcomes[i] === 'live';
        return [o.orderId, o.userId, live ? 'pending_payment' : 'expired',
          live ? null : 'reservation released before the order was persisted',
          o.totalCents, o.currency, o.paymentMethod, JSON.stringify(o.shippingAddress), o.acceptedAt, JSON.stringify(o.items)];
      }));
      await faultPoint('writer.after-copy');
      const { rows } = await client.query<{ inserted: number }>(INSERT_FROM_STAGING);
      return rows[0]?.inserted ?? 0;
    });
  }
}
