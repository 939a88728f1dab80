/**
 * Rebuilds the hot counters in Redis from the record (Postgres) and the orders still
 * in flight (accepted in Kafka, not yet persisted), after Redis lost its memory or on
 * demand (`npm run rebuild-redis`).
 *
 * While the ready marker is absent the edge answers 503 and the order writer waits,
 * so no order is decided or written against half-built counters. Per product:
 *
 *   sale remaining = sale quantity − its live units − its in-flight units   (open sales)
 *   reserved       = in-flight units (reservations restored as 'queued')
 *   avail          = ledger stock − live units − Σ open-sale remaining − reserved
 *
 * so the conservation invariant holds by construction. Reservation records of the
 * orders accepted within the idempotency window are restored too, so a retry with the
 * same Idempotency-Key still returns its order.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Pool } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import type { AcceptedOrder } from '../common/order.js';
import { LIVE_STATUSES } from '../common/order.js';
import { ACTIVE_PRODUCTS_KEY, COUNTERS_READY_KEY, REBUILD_LOCK_KEY, productKeys, reservationKey } from '../common/keys.js';
import { GROUPS, TOPICS } from '../common/topics.js';
import { parseOrderMessage } from '../common/kafka.js';

/** Marks a restored reservation record whose request fingerprint is unknown: any replay matches. */
const ANY_FINGERPRINT = '*';

interface ProductState {
  price: number;
  currency: string;
  stock: number;
  live: number;
  inFlight: number;
  sales: Map<string, SaleState>;
}

interface SaleState {
  quantity: number; limit: number; price: number; startsAt: number; endsAt: number; state: string;
  sold: number; buyers: Map<string, number>;
}

interface Reservation { productId: string; orderId: string; fields: (string | number)[]; ttl?: number }

export interface RebuildReport { products: number; inFlightOrders: number; restoredReservations: number; ms: number }

export class CounterRebuild {
  constructor(
    private readonly redis: Redis,
    private readonly pool: Pool,
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly settings: { idempotencyTtlSeconds: number },
    private readonly log: Logger,
  ) {}

  /** True when the counters are whole (the ready marker is present). */
  async ready(): Promise<boolean> {
    return (await this.redis.exists(COUNTERS_READY_KEY)) === 1;
  }

  /**
   * Rebuilds under a lock; returns undefined when another process holds it.
   * `clearFirst` drops every product key first (on demand, when Redis still holds data).
   */
  async run(options: { clearFirst?: boolean } = {}): Promise<RebuildReport | undefined> {
    const token = randomUUID();
    if (!(await this.redis.set(REBUILD_LOCK_KEY, token, 'PX', 120_000, 'NX'))) return undefined;
    const started = Date.now();
    try {
      await this.redis.del(COUNTERS_READY_KEY);
      this.log.warn('rebuilding Redis counters from Postgres and the orders in flight in Kafka');
      if (options.clearFirst) await this.clearProductKeys();
      const inFlight = await this.ordersInFlight();
      const products = await this.readRecord(inFlight);
      const reservations = await this.reservations(inFlight);
      await this.write(products, reservations);
      await this.redis.set(COUNTERS_READY_KEY, new Date().toISOString());
      const report = { products: products.size, inFlightOrders: inFlight.length, restoredReservations: reservations.length, ms: Date.now() - started };
      this.log.warn(report, 'Redis counters rebuilt; orders are accepted again');
      return report;
    } finally {
      if ((await this.redis.get(REBUILD_LOCK_KEY)) === token) await this.redis.del(REBUILD_LOCK_KEY);
    }
  }

  private async clearProductKeys(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', '{p:*', 'COUNT', 1000);
      cursor = next;
      if (keys.length) await this.redis.unlink(...keys);
    } while (cursor !== '0');
  }

  /** Accepted orders in Kafka beyond the writer's committed offsets and not in Postgres. */
  private async ordersInFlight(): Promise<AcceptedOrder[]> {
    const topic = TOPICS.ordersAccepted;
    const ends = await this.admin.fetchTopicOffsets(topic);
    const [committed] = await this.admin.fetchOffsets({ groupId: GROUPS.orderWriter, topics: [topic] });
    const from = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    const ranges = ends
      .map((e) => ({ partition: e.partition, start: from.get(e.partition) ?? -1n, end: BigInt(e.high), low: BigInt(e.low) }))
      .map((r) => ({ ...r, start: r.start < r.low ? r.low : r.start }))
      .filter((r) => r.start < r.end);
    if (ranges.length === 0) return [];

    const groupId = `counter-rebuild-${randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId, sessionTimeout: 10_000, maxWaitTimeInMs: 100 });
    const orders = new Map<string, AcceptedOrder>();
    const pending = new Map(ranges.map((r) => [r.partition, r.end]));
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('reading the orders in flight from Kafka timed out')), 60_000);
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const end = pending.get(partition);
            if (end === undefined) return;
            const order = parseOrderMessage(message.value);
            if (order) orders.set(order.orderId, order);
            if (BigInt(message.offset) + 1n >= end) pending.delete(partition);
            if (pending.size === 0) { clearTimeout(timer); resolve(); }
          },
        });
        consumer.on(consumer.events.GROUP_JOIN, () => {
          for (const r of ranges) consumer.seek({ topic, partition: r.partition, offset: r.start.toString() });
        });
      });
      await done;
    } finally {
      await consumer.disconnect();
      await this.admin.deleteGroups([groupId]).catch(() => undefined);
    }
    const ids = [...orders.keys()];
    const { rows } = await this.pool.query<{ order_id: string }>('SELECT order_id FROM orders WHERE order_id = ANY($1::uuid[])', [ids]);
    for (const row of rows) orders.delete(row.order_id);
    return [...orders.values()];
  }

  private async readRecord(inFlight: AcceptedOrder[]): Promise<Map<string, ProductState>> {
    const [products, stock, live, sales, buyers] = await Promise.all([
      this.pool.query<{ product_id: string; price_cents: number; currency: string }>(
        'SELECT product_id, price_cents, currency FROM products WHERE deleted_at IS NULL'),
      this.pool.query<{ product_id: string; stock: number }>(
        'SELECT product_id, sum(delta)::bigint AS stock FROM inventory_ledger GROUP BY product_id'),
      this.pool.query<{ product_id: string; flash_sale_id: string | null; units: number }>(
        `SELECT i.product_id, i.flash_sale_id, sum(i.quantity)::bigint AS units
           FROM order_items i JOIN orders o USING (order_id) WHERE o.status = ANY($1::text[]) GROUP BY 1, 2`, [LIVE_STATUSES]),
      this.pool.query<{ flash_sale_id: string; product_id: string; quantity: number; per_user_limit: number; price_cents: number; starts_at: Date; ends_at: Date; state: string }>(
        `SELECT flash_sale_id, product_id, quantity, per_user_limit, price_cents, starts_at, ends_at, state
           FROM flash_sales WHERE state <> 'ended' AND ends_at > now()`),
      this.pool.query<{ flash_sale_id: string; user_id: string; units: number }>(
        `SELECT i.flash_sale_id, o.user_id, sum(i.quantity)::bigint AS units
           FROM order_items i JOIN orders o USING (order_id)
           JOIN flash_sales s ON s.flash_sale_id = i.flash_sale_id AND s.state <> 'ended' AND s.ends_at > now()
          WHERE o.status = ANY($1::text[]) GROUP BY 1, 2`, [LIVE_STATUSES]),
    ]);
    const state = new Map<string, ProductState>();
    for (const p of products.rows) {
      state.set(p.product_id, { price: p.price_cents, currency: p.currency, stock: 0, live: 0, inFlight: 0, sales: new Map() });
    }
    for (const s of stock.rows) { const p = state.get(s.product_id); if (p) p.stock = Number(s.stock); }
    for (const s of sales.rows) {
      state.get(s.product_id)?.sales.set(s.flash_sale_id, {
        quantity: s.quantity, limit: s.per_user_limit, price: s.price_cents, startsAt: s.starts_at.getTime(),
        endsAt: s.ends_at.getTime(), state: s.state === 'paused' ? 'paused' : 'live', sold: 0, buyers: new Map(),
      });
    }
    const addUnits = (productId: string, saleId: string | null, userId: string | null, units: number, inFlight: boolean) => {
      const p = state.get(productId);
      if (!p) return;
      if (inFlight) p.inFlight += units; else p.live += units;
      const sale = saleId ? p.sales.get(saleId) : undefined;
      if (!sale) return;
      sale.sold += units;
      if (userId) sale.buyers.set(userId, (sale.buyers.get(userId) ?? 0) + units);
    };
    for (const l of live.rows) addUnits(l.product_id, l.flash_sale_id, null, Number(l.units), false);
    const saleOf = new Map(sales.rows.map((s) => [s.flash_sale_id, s.product_id]));
    for (const b of buyers.rows) {
      const sale = state.get(saleOf.get(b.flash_sale_id) ?? '')?.sales.get(b.flash_sale_id);
      sale?.buyers.set(b.user_id, (sale.buyers.get(b.user_id) ?? 0) + Number(b.units));
    }
    for (const order of inFlight) {
      for (const item of order.items) addUnits(item.productId, item.flashSaleId, order.userId, item.quantity, true);
    }
    return state;
  }

  /** In-flight orders come back queued; orders persisted within the idempotency window come back settled. */
  private async reservations(inFlight: AcceptedOrder[]): Promise<Reservation[]> {
    const out: Reservation[] = [];
    for (const order of inFlight) {
      for (const item of order.items) {
        out.push({ productId: item.productId, orderId: order.orderId, fields: [
          'st', 'queued', 'q', item.quantity, 'u', order.userId, 's', item.flashSaleId ?? '', 'p', item.unitPriceCents,
          'c', order.currency, 'h', ANY_FINGERPRINT] });
      }
    }
    const { rows } = await this.pool.query<{ order_id: string; user_id: string; status: string; product_id: string; quantity: number; unit_price_cents: number; flash_sale_id: string | null; currency: string; ttl: number }>(
      `SELECT o.order_id, o.user_id, o.status, i.product_id, i.quantity, i.unit_price_cents, i.flash_sale_id, o.currency,
              GREATEST(60, $1 - extract(epoch FROM now() - o.accepted_at))::int AS ttl
         FROM orders o JOIN order_items i USING (order_id)
        WHERE o.accepted_at > now() - make_interval(secs => $1)`, [this.settings.idempotencyTtlSeconds]);
    const live = new Set<string>(LIVE_STATUSES);
    for (const r of rows) {
      const settled = live.has(r.status) ? ['st', 'committed'] : ['st', 'released', 'why', r.status === 'expired' ? 'expired' : r.status];
      out.push({ productId: r.product_id, orderId: r.order_id, ttl: r.ttl, fields: [
        ...settled, 'q', r.quantity, 'u', r.user_id, 's', r.flash_sale_id ?? '', 'p', r.unit_price_cents, 'c', r.currency, 'h', ANY_FINGERPRINT] });
    }
    return out;
  }

  private async write(products: Map<string, ProductState>, reservations: Reservation[]): Promise<void> {
    const byProduct = new Map<string, Reservation[]>();
    for (const r of reservations) byProduct.set(r.productId, [...(byProduct.get(r.productId) ?? []), r]);
    const ids = [...products.keys()];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      await Promise.all(chunk.map((id) => this.productTransaction(id, products.get(id)!, byProduct.get(id) ?? []).exec()));
    }
    const active = ids.filter((id) => { const p = products.get(id)!; return p.sales.size > 0 || p.inFlight > 0 || p.live > 0; });
    for (let i = 0; i < active.length; i += 1000) await this.redis.sadd(ACTIVE_PRODUCTS_KEY, ...active.slice(i, i + 1000));
  }

  /** One MULTI per product: its counters, sales and reservations appear together, info last. */
  private productTransaction(productId: string, p: ProductState, reservations: Reservation[]): ReturnType<Redis['multi']> {
    const k = productKeys(productId);
    const tx = this.redis.multi();
    tx.del(k.sales, k.held);
    let inSales = 0;
    for (const [saleId, s] of p.sales) {
      const remaining = Math.max(0, s.quantity - s.sold);
      inSales += remaining;
      const saleKey = `${k.prefix}:sale:${saleId}`;
      tx.del(saleKey, `${saleKey}:buyers`);
      tx.hset(saleKey, 'state', s.state, 'closed', '0', 'remaining', remaining, 'limit', s.limit,
        'price', s.price, 'start', s.startsAt, 'end', s.endsAt);
      if (s.buyers.size) tx.hset(`${saleKey}:buyers`, ...[...s.buyers].flat());
      tx.sadd(k.sales, saleId);
    }
    tx.set(k.reserved, p.inFlight);
    tx.set(k.avail, p.stock - p.live - inSales - p.inFlight);
    for (const r of reservations) {
      const key = reservationKey(productId, r.orderId);
      tx.del(key);
      tx.hset(key, ...r.fields);
      if (r.ttl) tx.expire(key, r.ttl);
    }
    tx.hset(k.info, 'price', p.price, 'cur', p.currency);
    return tx;
  }
}
