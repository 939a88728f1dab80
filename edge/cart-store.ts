/**
 * Carts: one open cart per user. Postgres is the record, written through on every
 * change (carts, cart_items); Redis holds a copy of each cart (cart:USERID) that reads
 * use, refilled from Postgres after a miss. Every change takes a fresh version from
 * one sequence, and lua/cart-put keeps the newer copy, so a slow writer or a refill
 * never puts an older cart over a newer one. If Redis cannot take the copy the reads
 * fall back to Postgres (the copy is dropped, or runs out after a day).
 *
 * An order placed from a cart (POST /v1/orders with cartId) takes its lines; when
 * the order is accepted, the lines it took leave the cart (the cart is closed as
 * `ordered` when nothing else was added meanwhile) and cart_checkouts remembers them,
 * so a retry with the same Idempotency-Key replays the same lines.
 */
import type { Redis } from 'ioredis';
import { withTransaction, type Pool, type PoolClient } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import { cartKey } from '../common/keys.js';
import { runScript } from '../common/scripts.js';
import { newId } from '../common/ids.js';
import { HttpProblem, problems } from './problems.js';

export const MAX_LINE_QUANTITY = 1000;
export const MAX_LINES = 50;
const COPY_TTL_SECONDS = 86_400;

export interface CartLine { productId: string; quantity: number }

export interface CartSnapshot { cartId: string | null; version: number; lines: CartLine[] }

export interface MergeOutcome { snapshot: CartSnapshot; skipped: { productId: string; reason: string }[]; capped: string[] }

interface ProductFacts { productId: string; currency: string }

type Lines = Map<string, number>;

/** What a change does to the lines; may throw a problem (nothing is written then). */
type Change = (lines: Lines, products: Map<string, ProductFacts>) => void;

export class CartStore {
  constructor(private readonly pool: Pool, private readonly redis: Redis, private readonly log: Logger) {}

  /** The user's open cart (empty, with cartId null, when there is none). */
  async read(userId: string): Promise<CartSnapshot> {
    try {
      const copy = await this.redis.hgetall(cartKey(userId));
      if (copy.v !== undefined) {
        return { cartId: copy.id || null, version: Number(copy.v), lines: JSON.parse(copy.lines ?? '[]') as CartLine[] };
      }
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'cart copy unreadable in Redis; reading Postgres');
    }
    const snapshot = await this.load(this.pool, userId);
    await this.putCopy(userId, snapshot);
    return snapshot;
  }

  add(userId: string, line: CartLine): Promise<CartSnapshot> {
    return this.change(userId, [line.productId], (lines) => {
      const quantity = (lines.get(line.productId) ?? 0) + line.quantity;
      if (quantity > MAX_LINE_QUANTITY) {
        throw new HttpProblem(409, 'cart-line-limit', 'Too many units in one line',
          `A cart line holds at most ${MAX_LINE_QUANTITY} units; this one has ${lines.get(line.productId) ?? 0}`,
          { errors: [{ field: 'quantity', message: `at most ${MAX_LINE_QUANTITY - (lines.get(line.productId) ?? 0)}` }] });
      }
      lines.set(line.productId, quantity);
    });
  }

  /** Sets a line's quantity; 0 removes it. */
  set(userId: string, line: CartLine): Promise<CartSnapshot> {
    return this.change(userId, line.quantity > 0 ? [line.productId] : [], (lines) => {
      if (line.quantity === 0) lines.delete(line.productId);
      else lines.set(line.productId, line.quantity);
    });
  }

  /**
   * Merges a guest cart: quantities of the same product add up, capped at
   * MAX_LINE_QUANTITY; products that no longer exist, or are priced in another currency
   * than the cart's, are left out and named. The merged cart must fit MAX_LINES.
   */
  async merge(userId: string, guest: CartLine[]): Promise<MergeOutcome> {
    const wanted = new Map<string, number>();
    for (const g of guest) wanted.set(g.productId.toLowerCase(), (wanted.get(g.productId.toLowerCase()) ?? 0) + g.quantity);
    const skipped: MergeOutcome['skipped'] = [];
    const capped: string[] = [];
    const snapshot = await this.change(userId, [], (lines, products) => {
      for (const [productId, quantity] of wanted) {
        const product = products.get(productId);
        if (!product) { skipped.push({ productId, reason: 'unknown-product' }); continue; }
        const currency = cartCurrency(lines, products);
        if (currency && product.currency !== currency) { skipped.push({ productId, reason: 'currency-mismatch' }); continue; }
        const total = (lines.get(productId) ?? 0) + quantity;
        if (total > MAX_LINE_QUANTITY) capped.push(productId);
        lines.set(productId, Math.min(total, MAX_LINE_QUANTITY));
      }
    }, [...wanted.keys()]);
    return { snapshot, skipped, capped };
  }

  /**
   * Applies `change` to the user's open cart in one transaction (creating the cart if
   * needed) and stores the result. `mustExist` products are checked (404 naming
   * productId, one currency per cart); `lookUp` products are only looked up.
   */
  private async change(userId: string, mustExist: string[], change: Change, lookUp: string[] = []): Promise<CartSnapshot> {
    const snapshot = await withTransaction(this.pool, async (client) => {
      const cart = await this.openCart(client, userId);
      const before = new Map((await this.items(client, cart.cartId)).map((l) => [l.productId, l.quantity]));
      const products = await this.products(client, [...before.keys(), ...mustExist, ...lookUp]);
      for (const productId of mustExist) {
        const product = products.get(productId);
        if (!product) {
          throw new HttpProblem(404, 'unknown-product', 'Unknown product', `Product ${productId} does not exist`,
            { errors: [{ field: 'productId', message: `${productId} is not a product` }] });
        }
        const currency = cartCurrency(new Map([...before].filter(([id]) => id !== productId)), products);
        if (currency && product.currency !== currency) {
          throw new HttpProblem(409, 'currency-mismatch', 'Another currency',
            `This cart is priced in ${currency}; product ${productId} is priced in ${product.currency}`,
            { errors: [{ field: 'productId', message: `is priced in ${product.currency}, the cart in ${currency}` }] });
        }
      }
      const after = new Map(before);
      change(after, products);
      if (after.size > MAX_LINES && after.size > before.size) {
        throw new HttpProblem(409, 'cart-full', 'Cart full', `A cart holds at most ${MAX_LINES} different products`);
      }
      await this.writeLines(client, cart.cartId, before, after);
      const version = await this.bump(client, cart.cartId);
      return { cartId: cart.cartId, version, lines: await this.items(client, cart.cartId) };
    });
    await this.putCopy(userId, snapshot);
    return snapshot;
  }

  /** The lines an order from `cartId` takes: replayed for a known order, else the open cart's. */
  async linesForOrder(userId: string, cartId: string, orderId: string): Promise<CartLine[]> {
    const done = await this.pool.query<{ lines: CartLine[] }>(
      'SELECT lines FROM cart_checkouts WHERE order_id = $1 AND user_id = $2', [orderId, userId]);
    if (done.rows[0]) return done.rows[0].lines;
    const { rows } = await this.pool.query<{ status: string; order_id: string | null }>(
      'SELECT status, order_id FROM carts WHERE cart_id = $1 AND user_id = $2', [cartId, userId]);
    const cart = rows[0];
    if (!cart) {
      throw new HttpProblem(404, 'cart-not-found', 'Cart not found', `You have no cart ${cartId}`,
        { errors: [{ field: 'cartId', message: 'is not a cart of yours (GET /v1/cart/{userId} names it)' }] });
    }
    if (cart.status !== 'open') {
      throw problems.conflict('cart-ordered', 'Cart already ordered', `Cart ${cartId} became order ${cart.order_id}`, { orderId: cart.order_id });
    }
    const lines = await this.items(this.pool, cartId);
    if (lines.length === 0) throw problems.conflict('cart-empty', 'Cart empty', `Cart ${cartId} has no items to order`);
    return lines;
  }

  /**
   * The order took `lines` from the cart: remember them, take them out, close the cart
   * when it is empty. Idempotent per order.
   */
  async ordered(userId: string, cartId: string, orderId: string, lines: CartLine[]): Promise<void> {
    const snapshot = await withTransaction(this.pool, async (client) => {
      const first = await client.query(
        `INSERT INTO cart_checkouts (order_id, cart_id, user_id, lines) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [orderId, cartId, userId, JSON.stringify(lines)]);
      if (!first.rowCount) return undefined;
      const { rows } = await client.query<{ status: string }>('SELECT status FROM carts WHERE cart_id = $1 FOR UPDATE', [cartId]);
      if (rows[0]?.status !== 'open') return undefined;
      const before = new Map((await this.items(client, cartId)).map((l) => [l.productId, l.quantity]));
      const after = new Map(before);
      for (const line of lines) {
        const left = (after.get(line.productId) ?? 0) - line.quantity;
        if (left > 0) after.set(line.productId, left); else after.delete(line.productId);
      }
      if (after.size === 0) {
        // Emptied: the cart is closed, keeping the lines it was ordered with; the next add opens a new one.
        await client.query(`UPDATE carts SET status = 'ordered', order_id = $2 WHERE cart_id = $1`, [cartId, orderId]);
        return { cartId: null, version: await this.bump(client, cartId), lines: [] };
      }
      await this.writeLines(client, cartId, before, after);
      return { cartId, version: await this.bump(client, cartId), lines: await this.items(client, cartId) };
    });
    if (snapshot) await this.putCopy(userId, snapshot);
  }

  private async openCart(client: PoolClient, userId: string): Promise<{ cartId: string }> {
    for (;;) {
      const { rows } = await client.query<{ cart_id: string }>(
        `SELECT cart_id FROM carts WHERE user_id = $1 AND status = 'open' FOR UPDATE`, [userId]);
      if (rows[0]) return { cartId: rows[0].cart_id };
      const created = await client.query<{ cart_id: string }>(
        `INSERT INTO carts (cart_id, user_id, version) VALUES ($1, $2, nextval('cart_version_seq'))
         ON CONFLICT (user_id) WHERE status = 'open' DO NOTHING RETURNING cart_id`, [newId(), userId]);
      if (created.rows[0]) return { cartId: created.rows[0].cart_id };
    }
  }

  private async items(db: Pool | PoolClient, cartId: string): Promise<CartLine[]> {
    const { rows } = await db.query<CartLine>(
      `SELECT product_id AS "productId", quantity FROM cart_items WHERE cart_id = $1 ORDER BY added_at, product_id`, [cartId]);
    return rows;
  }

  private async products(client: PoolClient, ids: string[]): Promise<Map<string, ProductFacts>> {
    if (ids.length === 0) return new Map();
    const { rows } = await client.query<ProductFacts>(
      `SELECT product_id AS "productId", currency FROM products WHERE product_id = ANY($1::uuid[]) AND deleted_at IS NULL`,
      [[...new Set(ids)]]);
    return new Map(rows.map((p) => [p.productId, p]));
  }

  /** Writes the difference between two sets of lines. */
  private async writeLines(client: PoolClient, cartId: string, before: Lines, after: Lines): Promise<void> {
    const gone = [...before.keys()].filter((id) => !after.has(id));
    const changed = [...after].filter(([id, q]) => before.get(id) !== q);
    if (gone.length) await client.query('DELETE FROM cart_items WHERE cart_id = $1 AND product_id = ANY($2::uuid[])', [cartId, gone]);
    if (changed.length) {
      await client.query(
        `INSERT INTO cart_items (cart_id, product_id, quantity)
         SELECT $1, p, q FROM unnest($2::uuid[], $3::int[]) AS l(p, q)
         ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = EXCLUDED.quantity`,
        [cartId, changed.map(([id]) => id), changed.map(([, q]) => q)]);
    }
  }

  private async bump(client: PoolClient, cartId: string): Promise<number> {
    const { rows } = await client.query<{ version: number }>(
      `UPDATE carts SET version = nextval('cart_version_seq'), updated_at = now() WHERE cart_id = $1 RETURNING version`, [cartId]);
    return rows[0]!.version;
  }

  /** The user's cart as Postgres records it: the open cart, or none at the latest version. */
  private async load(db: Pool, userId: string): Promise<CartSnapshot> {
    const { rows } = await db.query<{ cart_id: string; status: string; version: number }>(
      'SELECT cart_id, status, version FROM carts WHERE user_id = $1 ORDER BY version DESC LIMIT 1', [userId]);
    const latest = rows[0];
    if (!latest || latest.status !== 'open') return { cartId: null, version: latest?.version ?? 0, lines: [] };
    return { cartId: latest.cart_id, version: latest.version, lines: await this.items(db, latest.cart_id) };
  }

  private async putCopy(userId: string, snapshot: CartSnapshot): Promise<void> {
    try {
      await runScript(this.redis, 'cart-put', [cartKey(userId)],
        [snapshot.version, snapshot.cartId ?? '', JSON.stringify(snapshot.lines), COPY_TTL_SECONDS]);
    } catch (error) {
      this.log.warn({ userId, err: (error as Error).message }, 'cart copy not stored in Redis; dropping it so reads use Postgres');
      await this.redis.del(cartKey(userId)).catch(() => undefined);
    }
  }
}

/** The currency of the cart's lines (undefined while it has none). */
function cartCurrency(lines: Lines, products: Map<string, ProductFacts>): string | undefined {
  for (const id of lines.keys()) {
    const currency = products.get(id)?.currency;
    if (currency) return currency;
  }
  return undefined;
}
