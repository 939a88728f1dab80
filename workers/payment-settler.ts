/**
 * The payment settler: takes each accepted order's payment through the provider
 * (common/payments.ts) and records what came of it (common/settlement.ts).
 *
 * It reads the accepted-orders topic in its own consumer group. A message is settled
 * only once the order writer has persisted its order (the settler waits for the row,
 * which every message gets, live or expired), so an order always exists in Postgres
 * before it turns paid; amount, currency and payment method come from that row. Orders
 * of a batch are settled in parallel, at most `concurrency` payments in flight across
 * all partitions: the provider's latency, not the settler, is what one payment waits
 * for. Offsets are committed once the whole batch is recorded; a redelivered message
 * finds its order settled (or its payment recorded) and is skipped, and a repeated
 * charge is harmless anyway: the idempotency key is the order id.
 *
 * Timeouts and 5xx are retried (common/retry.ts: capped exponential backoff with full
 * jitter) under the same key; after `maxAttempts` the message is dead-lettered (the
 * payments.dead-letter topic and the dead_letters table) and the order fails with the
 * reason. A sweep, every `sweepIntervalMs`, expires orders left unpaid past the hold,
 * issues refunds still owed, and carries out the dead-letter replays operators ask for.
 */
import { paymentOutcomes } from '../common/metrics.js';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { Pool } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import type { AcceptedOrder } from '../common/order.js';
import { PipelineError } from '../common/errors.js';
import { retry, sleep } from '../common/retry.js';
import { GROUPS, TOPICS } from '../common/topics.js';
import { commitBatch, readOrders, superviseBatchConsumer, type SupervisedConsumer } from '../common/kafka.js';
import type { PaymentOutcome } from '../common/payments.js';
import { Settlement, type Applied } from '../common/settlement.js';
import { createPaymentProvider } from '../common/payments.js';
import type { Config } from '../common/config.js';
import type { Redis } from '../common/redis.js';

export interface SettlerSettings {
  maxAttempts: number;
  concurrency: number;
  holdMs: number;
  sessionTimeoutMs: number;
  partitionsConcurrently: number;
  sweepIntervalMs: number;
}

/** Backoff between attempts at one payment call: capped, with full jitter. */
const BACKOFF = { baseMs: 200, maxMs: 5_000 };
/** Backoff for recording an outcome while Postgres or Redis cannot take it. */
const RECORD_BACKOFF = { retries: 8, baseMs: 100, maxMs: 3_000 };

interface Persisted {
  orderId: string;
  status: string;
  totalCents: number;
  currency: string;
  paymentMethod: string;
  paymentStatus: string | null;
}

export interface SettleResult { orderId: string; result: string }

type Confirmation = Parameters<Settlement['confirmMany']>[0][number];

/** Successful payments are recorded together: up to `max` in one transaction, after at most `lingerMs`. */
const CONFIRM_BATCH = { max: 200, lingerMs: 5 };

/**
 * Gathers items and hands them to `flush` together: when `max` are waiting or `lingerMs`
 * after the first; each caller gets its own item's result (or the batch's error).
 */
class Batcher<T, R> {
  private waiting: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly flush: (items: T[]) => Promise<Map<string, R>>,
    private readonly keyOf: (item: T) => string,
    private readonly limits: { max: number; lingerMs: number },
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length >= this.limits.max) this.drain();
      else this.timer ??= setTimeout(() => this.drain(), this.limits.lingerMs);
    });
  }

  private drain(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = [];
    this.flush(batch.map((w) => w.item)).then(
      (results) => batch.forEach((w) => {
        const result = results.get(this.keyOf(w.item));
        if (result === undefined) w.reject(new Error(`no result for ${this.keyOf(w.item)}`));
        else w.resolve(result);
      }),
      (error: unknown) => batch.forEach((w) => w.reject(error)),
    );
  }
}

/** A counting semaphore: at most `limit` tasks run at once. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export class PaymentSettler {
  private consumer: SupervisedConsumer | undefined;
  private producer: Producer | undefined;
  private readonly limiter: Limiter;
  private readonly confirmations: Batcher<Confirmation, Applied>;
  private sweeping: Promise<void> | undefined;
  private running = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly pool: Pool,
    private readonly settlement: Settlement,
    private readonly settings: SettlerSettings,
    private readonly log: Logger,
  ) {
    this.limiter = new Limiter(settings.concurrency);
    this.confirmations = new Batcher((items) => this.settlement.confirmMany(items), (item) => item.orderId, CONFIRM_BATCH);
  }

  async start(): Promise<void> {
    this.running = true;
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await this.producer.connect();
    this.consumer = superviseBatchConsumer(this.kafka, {
      groupId: GROUPS.paymentSettler, topic: TOPICS.ordersAccepted,
      sessionTimeoutMs: this.settings.sessionTimeoutMs, partitionsConcurrently: this.settings.partitionsConcurrently,
      onCreate: (consumer) => consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.log.info(
        { partitions: payload.memberAssignment[TOPICS.ordersAccepted]?.length ?? 0 }, 'payment settler joined its consumer group')),
    }, (consumer, payload) => this.onBatch(consumer, payload), this.log);
    await this.consumer.start();
    this.sweeping = this.sweepLoop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.consumer?.stop();
    await this.sweeping;
    await this.producer?.disconnect();
  }

  private async onBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const orders = new Map(readOrders(batch, this.log).map((order) => [order.orderId, order]));
    const persisted = await this.whenPersisted([...orders.keys()], heartbeat, () => isRunning() && !isStale());
    if (!persisted) return; // stopping or rebalanced: the next owner starts from the committed offset
    await Promise.all([...persisted.values()].map((row) => this.limiter.run(async () => {
      await this.settle(row, orders.get(row.orderId)!);
      await heartbeat().catch(() => undefined);
    })));
    await commitBatch(consumer, payload);
  }

  /** Waits until the writer has persisted every order of the batch; null if the batch is abandoned meanwhile. */
  private async whenPersisted(orderIds: string[], heartbeat: () => Promise<void>, active: () => boolean): Promise<Map<string, Persisted> | null> {
    const started = Date.now();
    let warned = false;
    for (;;) {
      const rows = await this.persisted(orderIds);
      if (rows.length === orderIds.length) return new Map(rows.map((r) => [r.orderId, r]));
      if (!active() || !this.running) return null;
      if (!warned && Date.now() - started > 10_000) {
        warned = true;
        this.log.warn({ missing: orderIds.length - rows.length }, 'waiting for the order writer to persist orders before charging them');
      }
      await heartbeat().catch(() => undefined);
      await sleep(100);
    }
  }

  private async persisted(orderIds: string[]): Promise<Persisted[]> {
    const { rows } = await this.pool.query<Persisted>(
      `SELECT o.order_id AS "orderId", o.status, o.total_cents AS "totalCents", o.currency, o.payment_method AS "paymentMethod",
              p.status AS "paymentStatus"
         FROM orders o LEFT JOIN payments p USING (order_id) WHERE o.order_id = ANY($1::uuid[])`, [orderIds]);
    return rows;
  }

  /** Settles one persisted order (skipped when it is not waiting for a first payment attempt). */
  async settle(row: Persisted, message: unknown): Promise<SettleResult> {
    if (row.status !== 'pending_payment' || row.paymentStatus !== null) {
      return { orderId: row.orderId, result: `skipped: order ${row.status}, payment ${row.paymentStatus ?? 'none'}` };
    }
    const provider = this.settlement.provider!;
    let attempts = 0;
    let outcome: PaymentOutcome;
    try {
      outcome = await retry((attempt) => {
        attempts = attempt + 1;
        return provider.charge({ orderId: row.orderId, amountCents: row.totalCents, currency: row.currency, paymentMethod: row.paymentMethod });
      }, {
        retries: this.settings.maxAttempts - 1, ...BACKOFF,
        isRetriable: (error) => error instanceof PipelineError && error.retriable,
        onRetry: (error, attempt, delayMs) => this.log.warn({ orderId: row.orderId, attempt, delayMs, err: (error as Error).message }, 'payment call failed; retrying under the same key'),
      });
      if (outcome.kind === 'open' && outcome.status === 'requires_confirmation') outcome = await provider.confirm(outcome.paymentIntentId, row.orderId);
    } catch (error) {
      if (!(error instanceof PipelineError)) throw error;
      const id = await this.record(() => this.settlement.deadLetter(
        { orderId: row.orderId, topic: TOPICS.paymentsDeadLetter, payload: message, reason: error.message, attempts },
        (deadLetterId) => this.announceDeadLetter(deadLetterId, row.orderId, message, error.message, attempts)));
      paymentOutcomes.inc({ outcome: 'failed' });
      this.log.error({ orderId: row.orderId, attempts, deadLetterId: id, err: error.message }, 'payment dead-lettered; order failed');
      return { orderId: row.orderId, result: 'dead-lettered' };
    }
    const settled = outcome;
    paymentOutcomes.inc({ outcome: settled.kind });
    const applied = await this.record(() => (settled.kind === 'succeeded'
      ? this.confirmations.add({ orderId: row.orderId, outcome: settled, attempts })
      : this.settlement.apply(row.orderId, settled, attempts)));
    this.log.debug({ orderId: row.orderId, attempts, result: applied.result }, 'payment settled');
    return { orderId: row.orderId, result: applied.result };
  }

  private async announceDeadLetter(deadLetterId: string, orderId: string, payload: unknown, reason: string, attempts: number): Promise<void> {
    await this.producer!.send({
      topic: TOPICS.paymentsDeadLetter,
      acks: -1,
      messages: [{
        key: orderId,
        value: JSON.stringify({ deadLetterId, sourceTopic: TOPICS.ordersAccepted, reason, attempts, payload }),
        headers: { reason, attempts: String(attempts) },
      }],
    });
  }

  /** Records an outcome, retrying while Postgres or Redis cannot take it. */
  private record<T>(work: () => Promise<T>): Promise<T> {
    return retry(work, {
      ...RECORD_BACKOFF,
      isRetriable: (error) => !(error instanceof PipelineError) || error.retriable,
      onRetry: (error, attempt) => this.log.warn({ attempt, err: (error as Error).message }, 'recording a payment outcome failed; retrying'),
    });
  }

  /* ------------------------------------------------------------------ sweep */

  private async sweepLoop(): Promise<void> {
    while (this.running) {
      try {
        await this.sweep();
      } catch (error) {
        this.log.warn({ err: (error as Error).message }, 'payment sweep failed; trying again next round');
      }
      await sleep(this.settings.sweepIntervalMs);
    }
  }

  /** One round: expiries, refunds owed, dead-letter replays. Exported for tests and benchmarks. */
  async sweep(): Promise<void> {
    const overdue = await this.pool.query<{ orderId: string }>(
      `SELECT order_id AS "orderId" FROM orders
        WHERE status = 'pending_payment' AND accepted_at < now() - make_interval(secs => $1::double precision / 1000)
        ORDER BY accepted_at LIMIT 200`, [this.settings.holdMs]);
    // Each order apart: one that cannot be expired now must not hold back the others, the refunds or the replays.
    await Promise.all(overdue.rows.map(({ orderId }) => this.limiter.run(async () => {
      try {
        const result = await this.settlement.expire(orderId, this.settings.holdMs);
        if (result !== 'ignored') this.log.info({ orderId, result }, 'unpaid order past its hold');
      } catch (error) {
        this.log.error({ orderId, err: (error as Error).message }, 'unpaid order could not be expired; trying again next round');
      }
    })));
    const owed = await this.pool.query<{ orderId: string }>(
      `SELECT order_id AS "orderId" FROM payments WHERE refund_status = 'pending' AND updated_at < now() - interval '2 seconds' LIMIT 100`);
    for (const { orderId } of owed.rows) {
      await this.settlement.settleRefund(orderId).catch((error: unknown) =>
        this.log.error({ orderId, err: (error as Error).message }, 'refund owed could not be issued; trying again next round'));
    }
    while (this.running && await this.replayOne()) { /* one dead letter at a time */ }
  }

  /** Carries out one replay an operator asked for; false when none is waiting. */
  private async replayOne(): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string; payload: AcceptedOrder }>(
        `SELECT dead_letter_id AS id, payload FROM dead_letters WHERE state = 'replay_requested' AND topic = $1
          ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED`, [TOPICS.paymentsDeadLetter]);
      const letter = rows[0];
      if (!letter) {
        await client.query('COMMIT');
        return false;
      }
      const outcome = await this.replay(letter.payload);
      await client.query(`UPDATE dead_letters SET state = 'replayed', outcome = $2, resolved_at = now() WHERE dead_letter_id = $1`,
        [letter.id, outcome]);
      await client.query('COMMIT');
      this.log.info({ deadLetterId: letter.id, orderId: letter.payload.orderId, outcome }, 'dead letter replayed');
      return true;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Replays a dead-lettered payment message. An order still waiting is charged again
   * under the same key. An order that failed when its message was dead-lettered is
   * reconciled with the provider: a charge whose answer was lost (a timeout that did
   * reach the provider) is found by the order id and refunded; an unfinished one is
   * cancelled; none found means no money moved.
   */
  private async replay(message: AcceptedOrder): Promise<string> {
    const [row] = await this.persisted([message.orderId]);
    if (!row) return 'no such order';
    if (row.status === 'pending_payment' && row.paymentStatus === null) return (await this.settle(row, message)).result;
    const provider = this.settlement.provider!;
    let found = await provider.findByOrder(row.orderId);
    if (!found) return `no payment at the provider; order stays ${row.status}`;
    if (found.kind === 'open' || found.kind === 'requires_action' || found.kind === 'processing') {
      found = await provider.cancel(found.paymentIntentId, row.orderId);
    }
    const applied = await this.settlement.apply(row.orderId, found);
    return `payment ${found.paymentIntentId} ${found.kind}: ${applied.result} (${applied.detail})`;
  }
}

/** Builds the settler from the process's configuration and connections (workers/main.ts). */
export async function startPaymentSettler({ config, log, pool, redis, kafka }: {
  config: Config; log: Logger; pool: Pool; redis: Redis; kafka: Kafka;
}): Promise<PaymentSettler> {
  const provider = createPaymentProvider(config);
  if (!provider) throw new Error('STRIPE_SECRET_KEY is not set: the payment settler needs a provider (Stripe, or the sandbox through STRIPE_API_BASE)');
  const settlement = new Settlement({ pool, redis, provider, log, ttlSeconds: config.idempotencyTtlSeconds });
  const settler = new PaymentSettler(kafka, pool, settlement, {
    maxAttempts: Math.max(1, config.paymentMaxAttempts),
    concurrency: Math.max(1, config.paymentConcurrency),
    holdMs: config.paymentHoldMs,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
    partitionsConcurrently: config.orderPartitions,
    sweepIntervalMs: Math.min(1_000, Math.max(100, Math.floor(config.paymentHoldMs / 4))),
  }, log);
  await settler.start();
  log.info({ provider: config.stripeApiBase ?? 'stripe', concurrency: config.paymentConcurrency }, 'payment settler consuming');
  return settler;
}
