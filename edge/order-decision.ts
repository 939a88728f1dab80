/**
 * The order decision: the one TypeScript caller of lua/reserve and lua/queue.
 *
 *   reserve every product line (sorted, compensating on the first refusal)
 *   -> produce the order to Kafka (acks=all)
 *   -> mark the reservations queued -> accepted
 *
 * The order id is derived from (buyer, Idempotency-Key), so the reservation
 * script decides idempotency atomically; concurrent duplicates inside this edge
 * also share one in-flight decision.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../common/logger.js';
import { productKeys, reservationKey, acceptedOrderKey, ACTIVE_PRODUCTS_KEY, COUNTERS_READY_KEY } from '../common/keys.js';
import { runScript } from '../common/scripts.js';
import { releaseReservation } from '../common/stock.js';
import { ProduceFailedError, ProduceTimeoutError, DependencyUnavailableError } from '../common/errors.js';
import { faultPoint } from '../common/faults.js';
import { orderIdFor } from '../common/ids.js';
import type { AcceptedOrder, OrderLine, ShippingAddress } from '../common/order.js';
import type { OrderProducer } from './order-producer.js';
import type { DecisionOutcome } from '../common/metrics.js';
import { SoldOutFlags } from './sold-out-flags.js';

export type RefusalCode = 'unknown-product' | 'sold-out' | 'limit-exceeded' | 'sale-paused' | 'sale-not-started' | 'mixed-currency';

export type Decision =
  | { kind: 'accepted'; orderId: string; replay: boolean }
  | { kind: 'refused'; orderId: string; code: RefusalCode; productId: string; detail: string }
  | { kind: 'key-reused'; orderId: string }
  | { kind: 'key-expired'; orderId: string }
  /** `mayBePlaced`: Kafka may still have written the order (a send timed out); a retry with the same key tells. */
  | { kind: 'unavailable'; orderId: string; reason: string; mayBePlaced?: boolean };

/** A decision as the metrics count it: sold-out and limit-exceeded apart, other refusals `rejected`, 503s `unavailable`. */
export function decisionOutcome(decision: Decision): DecisionOutcome {
  switch (decision.kind) {
    case 'accepted': return 'accepted';
    case 'unavailable': return 'unavailable';
    case 'refused': return decision.code === 'sold-out' || decision.code === 'limit-exceeded' ? decision.code : 'rejected';
    default: return 'rejected';
  }
}

export interface OrderRequest {
  userId: string;
  idempotencyKey: string;
  /** Fingerprint of the request body: the same key with another body is refused. */
  fingerprint: string;
  lines: { productId: string; quantity: number }[];
  paymentMethod: string;
  shippingAddress: ShippingAddress;
}

export interface DecisionSettings {
  holdMs: number;
  idempotencyTtlSeconds: number;
  /** Decisions in flight at once; past it, a new order is shed (503) at once: overload must not grow a queue. */
  maxPending: number;
}

type LineReply =
  | { productId: string; quantity: number; code: 'ok'; saleId: string; price: number; currency: string }
  | { productId: string; quantity: number; code: 'dup'; state: string; saleId: string; price: number; currency: string; reason: string }
  | { productId: string; quantity: number; code: 'reused' }
  | { productId: string; quantity: number; code: 'refused'; refusal: RefusalCode; detail: string };

export class OrderDecision {
  private readonly inFlight = new Map<string, Promise<Decision>>();
  private readonly activeProducts = new Set<string>();
  readonly soldOut = new SoldOutFlags(250);
  /** Whether Redis holds whole counters (the rebuild marker), refreshed every half second. */
  countersReady = true;
  private readyTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly producer: OrderProducer,
    private readonly settings: DecisionSettings,
    private readonly log: Logger,
  ) {}

  /** Watches the ready marker: while Redis is being rebuilt, orders get 503. */
  watchCounters(intervalMs = 500): void {
    const check = () => {
      this.redis.exists(COUNTERS_READY_KEY).then(
        (n) => { this.countersReady = n === 1; },
        () => { /* Redis down: the order calls themselves fail with 503 */ },
      );
    };
    check();
    this.readyTimer = setInterval(check, intervalMs);
    this.readyTimer.unref();
  }

  stopWatching(): void {
    clearInterval(this.readyTimer);
  }

  place(request: OrderRequest): Promise<Decision> {
    const orderId = orderIdFor(request.userId, request.idempotencyKey);
    const running = this.inFlight.get(orderId);
    if (running) return running;
    if (this.inFlight.size >= this.settings.maxPending) return Promise.resolve({ kind: 'unavailable', orderId, reason: 'overloaded' });
    const decision = this.decide(orderId, request).finally(() => this.inFlight.delete(orderId));
    this.inFlight.set(orderId, decision);
    return decision;
  }

  private async decide(orderId: string, request: OrderRequest): Promise<Decision> {
    if (!this.countersReady) return { kind: 'unavailable', orderId, reason: 'stock counters are being rebuilt' };
    const lines = [...request.lines].sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
    const flagged = lines.find((l) => this.soldOut.isSet(l.productId));
    // A product known to be sold out costs one EXISTS (is this a replay?) instead of the script.
    if (flagged && !(await this.redisCall(() => this.redis.exists(reservationKey(flagged.productId, orderId))))) {
      return { kind: 'refused', orderId, code: 'sold-out', productId: flagged.productId, detail: '' };
    }

    const replies: LineReply[] = [];
    for (const line of lines) {
      const reply = await this.reserveLine(orderId, request, line);
      replies.push(reply);
      if (reply.code === 'refused' || reply.code === 'reused') break;
    }
    const fresh = replies.filter((r) => r.code === 'ok');
    const stop = replies.find((r) => r.code === 'refused' || r.code === 'reused');
    if (stop) {
      await this.releaseAll(orderId, fresh, 'compensated');
      if (stop.code === 'reused') return { kind: 'key-reused', orderId };
      if (stop.code === 'refused') {
        if (stop.refusal === 'sold-out') this.soldOut.set(stop.productId);
        if (stop.refusal === 'unknown-product' && !(await this.redisCall(() => this.redis.exists(COUNTERS_READY_KEY)))) {
          this.countersReady = false; // Redis lost its memory: not an unknown product, a rebuild to wait for
          return { kind: 'unavailable', orderId, reason: 'stock counters are being rebuilt' };
        }
        return { kind: 'refused', orderId, code: stop.refusal, productId: stop.productId, detail: stop.detail };
      }
    }
    const currencies = new Set(replies.map((r) => (r as Extract<LineReply, { code: 'ok' | 'dup' }>).currency));
    if (currencies.size > 1) {
      // One order, one currency: a total across currencies would mean nothing.
      await this.releaseAll(orderId, fresh, 'compensated');
      return { kind: 'refused', orderId, code: 'mixed-currency', productId: replies[replies.length - 1]!.productId, detail: [...currencies].join(',') };
    }
    const dups = replies.filter((r): r is Extract<LineReply, { code: 'dup' }> => r.code === 'dup');
    if (dups.some((d) => d.state === 'released' && d.reason === 'expired')) return { kind: 'key-expired', orderId };
    if (dups.length > 0 && dups.every((d) => d.state !== 'held')) {
      // Every line was queued or settled before: the order exists already.
      return { kind: 'accepted', orderId, replay: true };
    }

    this.noteActive(lines.map((l) => l.productId));
    await faultPoint('edge.after-reserve');

    const order = JSON.stringify(this.buildOrder(orderId, request, replies));
    try {
      await this.producer.send(orderId, order);
    } catch (error) {
      if (error instanceof ProduceFailedError) {
        // Nothing reached Kafka: the units go back now. (A timeout leaves the hold to run out.)
        await this.releaseAll(orderId, replies, 'produce-failed').catch((e: unknown) =>
          this.log.warn({ orderId, err: (e as Error).message }, 'release after failed produce did not finish; the hold will run out'));
      }
      return { kind: 'unavailable', orderId, reason: (error as Error).message, mayBePlaced: error instanceof ProduceTimeoutError };
    }

    const states = await this.redisCall(() => Promise.all([
      ...lines.map((l) => runScript(this.redis, 'queue', [reservationKey(l.productId, orderId), productKeys(l.productId).held], [orderId])),
      this.redis.set(acceptedOrderKey(orderId), order, 'EX', this.settings.idempotencyTtlSeconds),
    ]));
    const lost = lines.filter((_, i) => states[i] !== 'queued' && states[i] !== 'committed');
    if (lost.length > 0) {
      // The hold ran out before Kafka answered; the writer will record the order expired.
      this.log.warn({ orderId, states }, 'reservation released before the produce was acknowledged');
      return { kind: 'unavailable', orderId, reason: 'reservation hold ran out' };
    }
    return { kind: 'accepted', orderId, replay: dups.length > 0 };
  }

  private async reserveLine(orderId: string, request: OrderRequest, line: { productId: string; quantity: number }): Promise<LineReply> {
    const k = productKeys(line.productId);
    const reply = await this.redisCall(() => runScript(this.redis, 'reserve',
      [k.info, k.avail, k.reserved, k.sales, reservationKey(line.productId, orderId), k.held],
      [k.prefix, orderId, request.userId, line.quantity, request.fingerprint, this.settings.holdMs, this.settings.idempotencyTtlSeconds],
    )) as string[];
    const base = { productId: line.productId, quantity: line.quantity };
    switch (reply[0]) {
      case 'ok':
        return { ...base, code: 'ok', saleId: reply[1] ?? '', price: Number(reply[2]), currency: reply[3] ?? 'USD' };
      case 'dup':
        return { ...base, code: 'dup', state: reply[1] ?? '', saleId: reply[2] ?? '', price: Number(reply[3]), currency: reply[4] ?? 'USD', reason: reply[5] ?? '' };
      case 'reused':
        return { ...base, code: 'reused' };
      default:
        return { ...base, code: 'refused', refusal: reply[1] as RefusalCode, detail: reply[2] ?? '' };
    }
  }

  private buildOrder(orderId: string, request: OrderRequest, replies: LineReply[]): AcceptedOrder {
    const items: OrderLine[] = replies.map((r) => {
      const priced = r as Extract<LineReply, { code: 'ok' | 'dup' }>;
      return { productId: r.productId, quantity: r.quantity, unitPriceCents: priced.price, flashSaleId: priced.saleId || null };
    });
    const first = replies[0] as Extract<LineReply, { code: 'ok' | 'dup' }>;
    return {
      orderId, userId: request.userId, items,
      totalCents: items.reduce((sum, i) => sum + i.unitPriceCents * i.quantity, 0),
      currency: first.currency,
      paymentMethod: request.paymentMethod,
      shippingAddress: request.shippingAddress,
      acceptedAt: new Date().toISOString(),
    };
  }

  private async releaseAll(orderId: string, lines: { productId: string }[], reason: 'compensated' | 'produce-failed'): Promise<void> {
    await Promise.all(lines.map((l) =>
      releaseReservation(this.redis, l.productId, orderId, reason, ['held'], this.settings.idempotencyTtlSeconds)));
  }

  /** Records products with orders so the reconciler watches them (once per product per process). */
  private noteActive(productIds: string[]): void {
    const added = productIds.filter((id) => !this.activeProducts.has(id));
    if (added.length === 0) return;
    for (const id of added) this.activeProducts.add(id);
    this.redis.sadd(ACTIVE_PRODUCTS_KEY, ...added).catch(() => { for (const id of added) this.activeProducts.delete(id); });
  }

  private async redisCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new DependencyUnavailableError('redis', error);
    }
  }
}
