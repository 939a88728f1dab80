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
import { commitReservation, releaseReservation } from '../common/stock.js';
import { faultPoint } from '../common/faults.js';
import { retry } from '../common/retry.js';
import { CountersNotReadyError } from '../common/errors.js';
import { TOPICS, GROUPS } from '../common/topics.js';
import { copyRows } from '../common/copy.js';
import { observeWriterBatch } from '../common/metrics.js';

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

export class OrderWriter {
  private consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly pool: Pool,
    private readonly redis: Redis,
    private readonly settings: OrderWriterSettings,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: GROUPS.orderWriter,
      sessionTimeout: this.settings.sessionTimeoutMs,
      rebalanceTimeout: this.settings.sessionTimeoutMs * 2,
      heartbeatInterval: Math.max(500, Math.floor(this.settings.sessionTimeoutMs / 5)),
      maxWaitTimeInMs: 50,
      maxBytesPerPartition: 4 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: TOPICS.ordersAccepted, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.settings.partitionsConcurrently,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const orders: AcceptedOrder[] = [];
    for (const message of batch.messages) {
      try {
        orders.push(JSON.parse(message.value?.toString('utf8') ?? '') as AcceptedOrder);
      } catch {
        this.log.error({ partition: batch.partition, offset: message.offset }, 'unreadable order message skipped');
      }
    }
    const started = performance.now();
    const result = await this.write(orders);
    observeWriterBatch(result, started);
    const last = batch.messages[batch.messages.length - 1]!.offset;
    await faultPoint('writer.after-commit');
    resolveOffset(last);
    await this.consumer!.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
    await heartbeat();
    this.log.debug({ partition: batch.partition, ...result, ms: Math.round(performance.now() - started) }, 'batch persisted');
  }

  /** Persists a batch of accepted orders (idempotent); exported for benchmarks. */
  async write(batch: AcceptedOrder[]): Promise<WriteResult> {
    const orders = [...new Map(batch.map((o) => [o.orderId, o])).values()];
    const outcomes = await Promise.all(orders.map((o) => this.claim(o)));
    const inserted = await retry(() => this.persist(orders, outcomes), {
      retries: 8, baseMs: 200, maxMs: 5_000,
      onRetry: (error, attempt, delayMs) => this.log.warn({ err: (error as Error).message, attempt, delayMs }, 'postgres write failed; retrying'),
    });
    const live = outcomes.filter((o) => o === 'live').length;
    return { orders: orders.length, inserted, live, expired: orders.length - live };
  }

  /**
   * Claims every line's reservation; if any is gone, gives back the ones claimed.
   * While Redis is being rebuilt after losing its memory, waits (retrying) rather
   * than calling a reservation gone: the rebuild restores the in-flight ones.
   */
  private claim(order: AcceptedOrder): Promise<'live' | 'expired'> {
    const ttl = this.settings.idempotencyTtlSeconds;
    return retry(async () => {
      const states = await Promise.all(order.items.map((i) => commitReservation(this.redis, i.productId, order.orderId, ttl)));
      if (states.includes('unready')) throw new CountersNotReadyError();
      if (states.every((s) => s === 'live')) return 'live';
      await Promise.all(order.items.filter((_, i) => states[i] === 'live').map((i) =>
        releaseReservation(this.redis, i.productId, order.orderId, 'order-expired', ['committed'], ttl)));
      return 'expired';
    }, {
      retries: 600, baseMs: 100, maxMs: 1_000,
      isRetriable: (error) => error instanceof CountersNotReadyError,
      onRetry: (_error, attempt) => { if (attempt === 1) this.log.warn({ orderId: order.orderId }, 'Redis counters are being rebuilt; waiting'); },
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
