/**
 * What a payment outcome does to its order: the one place where payments meet the
 * order state machine and the stock. The settler (workers/payment-settler.ts), the
 * provider's webhook and the cancel route (edge/routes/) all go through here, so a
 * late, repeated or out-of-order answer is judged by the same rules wherever it comes
 * from:
 *
 * - succeeded, order pending_payment → paid → confirmed (its reservation must still be
 *   committed in Redis); succeeded for an order that is no longer live (cancelled,
 *   expired, failed) → a refund is owed; succeeded for a paid order → nothing.
 * - declined or canceled, order pending_payment → failed, and the reservation is
 *   released; for any other order → nothing (a success is never undone by a stale
 *   failure).
 * - requires_action / processing, order pending_payment → it waits, with the action for
 *   the client; for an order that is no longer live → the intent is cancelled.
 *
 * Every status change goes through transitionOrder (history + outbox). A change that
 * takes the order out of the live statuses releases its reservations (lua/release,
 * from 'committed') inside the same Postgres transaction, just before COMMIT, so
 * Postgres and Redis disagree only for that instant. Calls to the provider happen
 * outside transactions; a refund owed is recorded first (refund_status 'pending') and
 * settled afterwards, by the caller or by the settler's sweep.
 */
import type { Redis } from 'ioredis';
import { withTransaction, type Pool, type PoolClient } from './db.js';
import type { Logger } from './logger.js';
import { isLive, PAID_STATUSES, type OrderStatus } from './order.js';
import { transitionOrder, transitionOrders } from './order-status.js';
import { commitReservation, releaseReservation, type ReleaseReason } from './stock.js';
import { CountersNotReadyError, DependencyUnavailableError } from './errors.js';
import { isUuid } from './ids.js';
import type { PaymentEvent, PaymentOutcome, PaymentProvider } from './payments.js';
import { isUnknownToProvider } from './payments.js';

export type PaymentStatus = 'requires_action' | 'processing' | 'succeeded' | 'declined' | 'canceled' | 'failed';

interface LockedOrder {
  orderId: string;
  status: OrderStatus;
  userId: string;
  totalCents: number;
  currency: string;
  /** The lines, by product id, as recorded (what a cancel gives back if the Redis record has expired). */
  lines: { productId: string; quantity: number; flashSaleId: string | null }[];
  payment: { status: PaymentStatus; paymentIntentId: string | null; refundStatus: string | null } | null;
}

/** What applying an outcome did; `refund` and `cancelIntent` are owed after COMMIT. */
export interface Applied {
  result: 'confirmed' | 'already-paid' | 'refund-owed' | 'awaiting-customer' | 'failed' | 'cancel-intent' | 'ignored' | 'unknown-order';
  detail: string;
  refund: boolean;
  cancelIntent: string | null;
}

export type CancelResult =
  | { kind: 'cancelled'; replay: boolean; refund: 'pending' | 'succeeded' | null }
  | { kind: 'not-found' }
  | { kind: 'refused'; status: OrderStatus };

export interface SettlementDeps {
  pool: Pool;
  redis: Redis;
  provider: PaymentProvider | null;
  log: Logger;
  /** Seconds a released reservation record is kept (the idempotency TTL). */
  ttlSeconds: number;
}

/** Records payments (one row per order; arrays of equal length, one element each for one order). */
const UPSERT_PAYMENTS = `
INSERT INTO payments (order_id, payment_intent_id, status, amount_cents, currency, attempts, reason, next_action)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::text[], $8::jsonb[])
ON CONFLICT (order_id) DO UPDATE SET
  payment_intent_id = COALESCE(payments.payment_intent_id, EXCLUDED.payment_intent_id),
  -- a success is final: a stale failure or action event never overwrites it
  status      = CASE WHEN payments.status = 'succeeded' THEN payments.status ELSE EXCLUDED.status END,
  reason      = CASE WHEN payments.status = 'succeeded' THEN payments.reason ELSE EXCLUDED.reason END,
  next_action = CASE WHEN payments.status = 'succeeded' THEN NULL ELSE EXCLUDED.next_action END,
  attempts    = payments.attempts + EXCLUDED.attempts,
  updated_at  = now()`;

/** Locks orders (in order_id order: no deadlock between batches) with what deciding about their payment needs. */
const LOCK_ORDERS = `
SELECT o.order_id AS "orderId", o.status, o.user_id AS "userId", o.total_cents AS "totalCents", o.currency,
       (SELECT COALESCE(json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity, 'flashSaleId', i.flash_sale_id)
          ORDER BY i.product_id), '[]') FROM order_items i WHERE i.order_id = o.order_id) AS lines,
       (SELECT json_build_object('status', p.status, 'paymentIntentId', p.payment_intent_id, 'refundStatus', p.refund_status)
          FROM payments p WHERE p.order_id = o.order_id) AS payment
  FROM orders o WHERE o.order_id = ANY($1::uuid[]) ORDER BY o.order_id FOR UPDATE OF o`;

const CONFIRMED_REASON = 'payment taken and stock committed';

export class Settlement {
  constructor(private readonly deps: SettlementDeps) {}

  get provider(): PaymentProvider | null {
    return this.deps.provider;
  }

  /** Records an outcome (from a charge, a webhook, a sweep) and carries out what it owes. */
  async apply(orderId: string, outcome: PaymentOutcome, attempts = 0): Promise<Applied> {
    const applied = await withTransaction(this.deps.pool, (client) => this.applyIn(client, orderId, outcome, attempts));
    await this.afterCommit(orderId, applied);
    return applied;
  }

  /** Like apply, inside the caller's transaction; the caller runs afterCommit once it commits. */
  async applyIn(client: PoolClient, orderId: string, outcome: PaymentOutcome, attempts: number): Promise<Applied> {
    const order = await lockOrder(client, orderId);
    if (!order) return applied('unknown-order', 'no such order');
    const paymentStatus = order.payment?.status ?? null;
    switch (outcome.kind) {
      case 'succeeded': {
        await this.recordPayment(client, orderId, order, outcome.paymentIntentId, 'succeeded', attempts, null, null);
        checkAmount(this.deps.log, order, outcome);
        if (order.status === 'pending_payment') {
          if (!(await this.reservationsCommitted(order))) {
            await this.closeOrder(client, orderId, order, 'cancelled', 'paid, but its stock reservation was gone', 'cancelled');
            await markRefund(client, orderId, 'the order lost its stock before the payment was recorded');
            return { ...applied('refund-owed', `payment ${outcome.paymentIntentId} succeeded without stock`), refund: true };
          }
          await transitionOrder(client, orderId, 'paid', `payment ${outcome.paymentIntentId} succeeded`);
          await transitionOrder(client, orderId, 'confirmed', CONFIRMED_REASON);
          return applied('confirmed', `payment ${outcome.paymentIntentId} succeeded`);
        }
        if (isLive(order.status)) return applied('already-paid', `order already ${order.status}`);
        const owed = await markRefund(client, orderId, `payment succeeded after the order was ${order.status}`);
        return { ...applied('refund-owed', `payment succeeded for a ${order.status} order`), refund: owed || order.payment?.refundStatus === 'pending' };
      }
      case 'requires_action':
      case 'processing': {
        if (order.status === 'pending_payment' && !isFinalPayment(paymentStatus)) {
          const action = outcome.kind === 'requires_action' ? JSON.stringify(outcome.nextAction) : null;
          await this.recordPayment(client, orderId, order, outcome.paymentIntentId, outcome.kind, attempts, null, action);
          return applied('awaiting-customer', `payment ${outcome.paymentIntentId} is ${outcome.kind}`);
        }
        if (!isLive(order.status)) {
          return { ...applied('cancel-intent', `order is ${order.status}; its payment must not complete`), cancelIntent: outcome.paymentIntentId };
        }
        return applied('ignored', `order is ${order.status}; payment ${paymentStatus ?? 'unknown'}`);
      }
      case 'declined':
      case 'canceled': {
        const reason = outcome.kind === 'declined' ? `payment declined: ${outcome.code}` : 'payment canceled at the provider';
        if (outcome.kind === 'canceled' && order.status === 'pending_payment' && paymentStatus === 'canceled') {
          return applied('ignored', 'the payment hold expired: the expiry sweep closes the order');
        }
        if (order.status === 'pending_payment' && paymentStatus !== 'succeeded') {
          await this.recordPayment(client, orderId, order, outcome.paymentIntentId, outcome.kind, attempts,
            outcome.kind === 'declined' ? `${outcome.code}: ${outcome.message}` : null, null);
          await this.closeOrder(client, orderId, order, 'failed', reason, 'payment-failed');
          return applied('failed', reason);
        }
        if (order.payment === null) await this.recordPayment(client, orderId, order, outcome.paymentIntentId, outcome.kind, attempts, reason, null);
        return applied('ignored', `order is ${order.status}; ${reason} changes nothing`);
      }
      case 'open':
        return applied('ignored', `payment ${outcome.paymentIntentId} is ${outcome.status}`);
    }
  }

  /**
   * Confirms many paid orders in one transaction (the settler's common case, for
   * throughput): the same rules as apply, in a few statements for the whole batch.
   * Orders that are not simply waiting for this payment (or whose stock is gone) are
   * handed to apply one by one afterwards.
   */
  async confirmMany(items: readonly { orderId: string; outcome: Extract<PaymentOutcome, { kind: 'succeeded' }>; attempts: number }[]): Promise<Map<string, Applied>> {
    const results = new Map<string, Applied>();
    const others: typeof items[number][] = [];
    const seen = new Set<string>();
    await withTransaction(this.deps.pool, async (client) => {
      const orders = await lockOrders(client, items.map((i) => i.orderId));
      const waiting = items.filter((i) => {
        const order = orders.get(i.orderId);
        const simple = order?.status === 'pending_payment' && order.payment === null && !seen.has(i.orderId);
        seen.add(i.orderId);
        if (!simple) others.push(i);
        return simple;
      });
      const committed = await Promise.all(waiting.map((i) => this.reservationsCommitted(orders.get(i.orderId)!)));
      const ready: typeof waiting = [];
      waiting.forEach((i, k) => (committed[k] ? ready : others).push(i));
      if (ready.length === 0) return;
      for (const i of ready) checkAmount(this.deps.log, orders.get(i.orderId)!, i.outcome);
      await recordPayments(client, ready.map((i) => ({
        orderId: i.orderId, paymentIntentId: i.outcome.paymentIntentId, status: 'succeeded', order: orders.get(i.orderId)!,
        attempts: i.attempts, reason: null, nextAction: null,
      })));
      await transitionOrders(client, ready.map((i) => ({ orderId: i.orderId, reason: `payment ${i.outcome.paymentIntentId} succeeded` })), 'paid');
      await transitionOrders(client, ready.map((i) => ({ orderId: i.orderId, reason: CONFIRMED_REASON })), 'confirmed');
      for (const i of ready) results.set(i.orderId, applied('confirmed', `payment ${i.outcome.paymentIntentId} succeeded`));
    });
    for (const i of others) results.set(i.orderId, await this.apply(i.orderId, i.outcome, i.attempts));
    return results;
  }

  /** Refunds owed and intents to cancel, once the transaction that decided them has committed. */
  async afterCommit(orderId: string, result: Applied): Promise<void> {
    if (result.cancelIntent && this.deps.provider) {
      const outcome = await this.deps.provider.cancel(result.cancelIntent, orderId);
      // The customer finished paying meanwhile: that success is recorded (and refunded).
      if (outcome.kind === 'succeeded') await this.apply(orderId, outcome);
      else {
        await this.deps.pool.query(
          `UPDATE payments SET status = 'canceled', next_action = NULL, updated_at = now()
            WHERE order_id = $1 AND status IN ('requires_action', 'processing')`, [orderId]);
      }
    }
    if (result.refund) await this.settleRefund(orderId);
  }

  /** afterCommit for callers that answer someone now: a refund that fails stays owed for the settler's sweep. */
  private async afterCommitOrLater(orderId: string, result: Applied): Promise<void> {
    try {
      await this.afterCommit(orderId, result);
    } catch (error) {
      this.deps.log.warn({ orderId, err: (error as Error).message }, 'refund or intent cancel failed; a refund owed is left to the sweep');
    }
  }

  /**
   * Gives up on an order's payment after every attempt (the message goes to the dead
   * letters): the order fails with the reason and its stock goes back. `announce` runs
   * before COMMIT (e.g. the dead-letter topic), so a crash repeats it rather than loses it.
   */
  async deadLetter(input: { orderId: string; topic: string; payload: unknown; reason: string; attempts: number },
    announce: (deadLetterId: string) => Promise<void>): Promise<string> {
    return withTransaction(this.deps.pool, async (client) => {
      const order = await lockOrder(client, input.orderId);
      const reason = `payment failed after ${input.attempts} attempt(s): ${input.reason}`;
      if (order) {
        await this.recordPayment(client, input.orderId, order, null, 'failed', input.attempts, input.reason, null);
        if (order.status === 'pending_payment') await this.closeOrder(client, input.orderId, order, 'failed', reason, 'payment-failed');
      }
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO dead_letters (dead_letter_id, topic, message_key, payload, reason, attempts)
         VALUES (gen_random_uuid(), $1, $2, $3, $4, $5) RETURNING dead_letter_id AS id`,
        [input.topic, input.orderId, JSON.stringify(input.payload), input.reason, input.attempts]);
      const id = rows[0]!.id;
      await announce(id);
      return id;
    });
  }

  /**
   * Expires an order whose payment was not completed within the hold: an unfinished
   * intent is cancelled at the provider first (one that succeeded meanwhile wins and
   * confirms the order), then the order expires and its stock goes back.
   */
  async expire(orderId: string, holdMs: number): Promise<string> {
    const { rows } = await this.deps.pool.query<{ status: PaymentStatus; pi: string | null }>(
      'SELECT status, payment_intent_id AS pi FROM payments WHERE order_id = $1', [orderId]);
    const payment = rows[0];
    if (payment?.pi && !isFinalPayment(payment.status) && this.deps.provider) {
      let outcome = await this.deps.provider.retrieve(payment.pi).catch((error: unknown) => {
        // An intent the provider does not know took no money (e.g. a sandbox restarted and forgot it): expire.
        if (isUnknownToProvider(error)) return undefined;
        throw error;
      });
      if (!outcome) return this.expireUnpaid(orderId, holdMs);
      if (outcome.kind === 'requires_action' || outcome.kind === 'processing' || outcome.kind === 'open') {
        // Recorded before the provider is asked, so its "canceled" event (webhook) finds the
        // cancellation already ours and leaves the order to expire here, not to fail.
        const pi = payment.pi;
        await withTransaction(this.deps.pool, async (client) => {
          const order = await lockOrder(client, orderId);
          if (order?.status === 'pending_payment') await this.recordPayment(client, orderId, order, pi, 'canceled', 0, 'payment hold expired', null);
        });
        outcome = await this.deps.provider.cancel(payment.pi, orderId);
      }
      if (outcome.kind === 'succeeded') return (await this.apply(orderId, outcome)).result;
    }
    return this.expireUnpaid(orderId, holdMs);
  }

  /** Closes an order still pending payment as `expired`, its payment cancelled and its stock back. */
  private async expireUnpaid(orderId: string, holdMs: number): Promise<string> {
    const reason = `payment not completed within ${Math.round(holdMs / 1000)} s`;
    return withTransaction(this.deps.pool, async (client) => {
      const order = await lockOrder(client, orderId);
      if (!order || order.status !== 'pending_payment') return 'ignored';
      if (order.payment && !isFinalPayment(order.payment.status)) {
        await this.recordPayment(client, orderId, order, null, 'canceled', 0, reason, null);
      }
      await this.closeOrder(client, orderId, order, 'expired', reason, 'payment-expired');
      return 'expired';
    });
  }

  /**
   * Cancels an order before it ships: its stock goes back, a payment taken is refunded,
   * a payment still waiting for the customer is cancelled at the provider.
   */
  async cancel(orderId: string, reason: string): Promise<CancelResult> {
    const decided = await withTransaction(this.deps.pool, async (client) => {
      const order = await lockOrder(client, orderId);
      if (!order) return { kind: 'not-found' } as const;
      if (order.status === 'cancelled') return { kind: 'cancelled', replay: true, applied: applied('ignored', 'already cancelled') } as const;
      if (order.status !== 'pending_payment' && order.status !== 'paid' && order.status !== 'confirmed') {
        return { kind: 'refused', status: order.status } as const;
      }
      // A partly shipped order stays `confirmed`, but what left the warehouse cannot be cancelled.
      const shipped = await client.query('SELECT 1 FROM shipments WHERE order_id = $1 LIMIT 1', [orderId]);
      if (shipped.rowCount) return { kind: 'refused', status: 'shipped' } as const;
      await this.closeOrder(client, orderId, order, 'cancelled', reason, 'cancelled');
      const paid = PAID_STATUSES.includes(order.status) || order.payment?.status === 'succeeded';
      if (paid) await markRefund(client, orderId, 'order cancelled');
      const waiting = order.payment && !isFinalPayment(order.payment.status) ? order.payment.paymentIntentId : null;
      return { kind: 'cancelled', replay: false, applied: { ...applied('refund-owed', reason), refund: paid, cancelIntent: waiting } } as const;
    });
    if (decided.kind !== 'cancelled') return decided;
    if (!decided.replay) await this.afterCommitOrLater(orderId, decided.applied);
    const { rows } = await this.deps.pool.query<{ refund: 'pending' | 'succeeded' | null }>(
      'SELECT refund_status AS refund FROM payments WHERE order_id = $1', [orderId]);
    return { kind: 'cancelled', replay: decided.replay, refund: rows[0]?.refund ?? null };
  }

  /** Applies a verified provider event once (idempotent on its id). */
  async handleEvent(event: PaymentEvent): Promise<{ duplicate: boolean; outcome: string; orderId: string | null }> {
    const result = await withTransaction(this.deps.pool, async (client) => {
      const inserted = await client.query(
        `INSERT INTO payment_events (event_id, type, payment_intent_id, order_id, outcome, occurred_at)
         VALUES ($1, $2, $3, NULL, 'received', $4) ON CONFLICT (event_id) DO NOTHING`,
        [event.id, event.type, event.paymentIntentId, event.occurredAt]);
      if (inserted.rowCount === 0) return { duplicate: true, orderId: null, applied: applied('ignored', 'event already handled') };
      let orderId = event.orderId;
      if (!orderId && event.paymentIntentId) {
        const { rows } = await client.query<{ orderId: string }>(
          'SELECT order_id AS "orderId" FROM payments WHERE payment_intent_id = $1', [event.paymentIntentId]);
        orderId = rows[0]?.orderId ?? null;
      }
      const result = !orderId || !event.outcome || !isUuid(orderId)
        ? applied('ignored', event.outcome ? 'no order for this payment' : `${event.type} is not about a payment`)
        : await this.applyIn(client, orderId, event.outcome, 0);
      await client.query('UPDATE payment_events SET order_id = $2, outcome = $3 WHERE event_id = $1',
        [event.id, orderId && isUuid(orderId) ? orderId : null, `${result.result}: ${result.detail}`]);
      return { duplicate: false, orderId, applied: result };
    });
    if (result.orderId && !result.duplicate) await this.afterCommitOrLater(result.orderId, result.applied);
    return { duplicate: result.duplicate, outcome: `${result.applied.result}: ${result.applied.detail}`, orderId: result.orderId };
  }

  /** Issues a refund owed (idempotent at the provider); false when none is owed or there is no provider. */
  async settleRefund(orderId: string): Promise<boolean> {
    const { rows } = await this.deps.pool.query<{ pi: string | null }>(
      `SELECT payment_intent_id AS pi FROM payments WHERE order_id = $1 AND refund_status = 'pending'`, [orderId]);
    const pi = rows[0]?.pi;
    if (!pi || !this.deps.provider) return false;
    const refund = await this.deps.provider.refund(pi, orderId);
    await this.deps.pool.query(
      `UPDATE payments SET refund_status = 'succeeded', refund_id = $2, updated_at = now() WHERE order_id = $1`, [orderId, refund.refundId]);
    this.deps.log.info({ orderId, paymentIntentId: pi, refundId: refund.refundId }, 'payment refunded');
    return true;
  }

  /** Moves a live order to a closed status and releases its reservations, before the caller commits. */
  private async closeOrder(client: PoolClient, orderId: string, order: LockedOrder, to: 'failed' | 'cancelled' | 'expired',
    reason: string, why: ReleaseReason): Promise<void> {
    const change = await transitionOrder(client, orderId, to, reason);
    if (!change.changed) return;
    try {
      // A live order's reservation is committed; its record may have expired (an order cancelled
      // days later): then the units the order recorded go back all the same.
      for (const line of order.lines) {
        const result = await releaseReservation(this.deps.redis, line.productId, orderId, why, ['committed', 'missing'],
          this.deps.ttlSeconds, { quantity: line.quantity, flashSaleId: line.flashSaleId, userId: order.userId });
        if (!result.released && result.stateFound !== 'released') {
          this.deps.log.warn({ orderId, productId: line.productId, state: result.stateFound }, 'no committed reservation to release');
        }
      }
    } catch (error) {
      throw new DependencyUnavailableError('redis', error);
    }
  }

  /** True while every line's reservation is still committed to this order. */
  private async reservationsCommitted(order: LockedOrder): Promise<boolean> {
    let states: string[];
    try {
      states = await Promise.all(order.lines.map((l) => commitReservation(this.deps.redis, l.productId, order.orderId, this.deps.ttlSeconds)));
    } catch (error) {
      throw new DependencyUnavailableError('redis', error);
    }
    if (states.includes('unready')) throw new CountersNotReadyError();
    return states.every((s) => s === 'live');
  }

  private async recordPayment(client: PoolClient, orderId: string, order: LockedOrder, paymentIntentId: string | null,
    status: PaymentStatus, attempts: number, reason: string | null, nextAction: string | null): Promise<void> {
    await recordPayments(client, [{ orderId, paymentIntentId, status, order, attempts, reason, nextAction }]);
  }
}

async function lockOrders(client: PoolClient, orderIds: string[]): Promise<Map<string, LockedOrder>> {
  const { rows } = await client.query<LockedOrder>(LOCK_ORDERS, [orderIds]);
  return new Map(rows.map((r) => [r.orderId, r]));
}

async function lockOrder(client: PoolClient, orderId: string): Promise<LockedOrder | null> {
  return (await lockOrders(client, [orderId])).get(orderId) ?? null;
}

interface PaymentRow {
  orderId: string; paymentIntentId: string | null; status: PaymentStatus; order: LockedOrder;
  attempts: number; reason: string | null; nextAction: string | null;
}

async function recordPayments(client: PoolClient, payments: PaymentRow[]): Promise<void> {
  await client.query(UPSERT_PAYMENTS, [
    payments.map((p) => p.orderId), payments.map((p) => p.paymentIntentId), payments.map((p) => p.status),
    payments.map((p) => p.order.totalCents), payments.map((p) => p.order.currency), payments.map((p) => p.attempts),
    payments.map((p) => p.reason), payments.map((p) => p.nextAction),
  ]);
}

function checkAmount(log: Logger, order: LockedOrder, paid: Extract<PaymentOutcome, { kind: 'succeeded' }>): void {
  if (paid.amountCents !== order.totalCents || paid.currency !== order.currency.toUpperCase()) {
    log.error({ orderId: order.orderId, paid, order: { totalCents: order.totalCents, currency: order.currency } },
      'payment amount differs from the order total');
  }
}

/** Owes a refund once; false when one was already owed or issued. */
async function markRefund(client: PoolClient, orderId: string, reason: string): Promise<boolean> {
  const { rowCount } = await client.query(
    `UPDATE payments SET refund_status = 'pending', refund_reason = $2, updated_at = now()
      WHERE order_id = $1 AND status = 'succeeded' AND refund_status IS NULL`, [orderId, reason]);
  return (rowCount ?? 0) > 0;
}

/** A payment status after which the intent will not move again by itself. */
function isFinalPayment(status: PaymentStatus | null): boolean {
  return status === 'succeeded' || status === 'declined' || status === 'canceled' || status === 'failed';
}

function applied(result: Applied['result'], detail: string): Applied {
  return { result, detail, refund: false, cancelIntent: null };
}
