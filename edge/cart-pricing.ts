/**
 * Prices a cart with current prices: each line at what one unit would cost if ordered
 * now (the live flash sale's price while one runs, else the product's price, read by
 * lua/quote from the same counters the order decision uses), with the units available
 * now. Lines of products that were deleted or cannot be ordered stay in the cart,
 * marked `purchasable: false`, and count nothing towards the total.
 */
import type { Redis } from 'ioredis';
import type { Pool } from '../common/db.js';
import type { CartSnapshot } from './cart-store.js';
import { quote } from './inventory-counters.js';

export interface PricedLine {
  productId: string; name: string | null; quantity: number; unitPriceCents: number | null; currency: string | null;
  lineTotalCents: number; available: number; flashSaleId: string | null; purchasable: boolean;
}

export interface PricedCart { cartId: string | null; items: PricedLine[]; totalCents: number; currency: string | null }

export async function priceCart(pool: Pool, redis: Redis, cart: CartSnapshot): Promise<PricedCart> {
  const ids = cart.lines.map((l) => l.productId);
  const [{ rows }, quotes] = await Promise.all([
    ids.length === 0 ? { rows: [] } : pool.query<{ productId: string; name: string }>(
      'SELECT product_id AS "productId", name FROM products WHERE product_id = ANY($1::uuid[]) AND deleted_at IS NULL', [ids]),
    Promise.all(ids.map((id) => quote(redis, id))),
  ]);
  const names = new Map(rows.map((r) => [r.productId, r.name]));
  const items = cart.lines.map((line, i): PricedLine => {
    const q = quotes[i];
    const name = names.get(line.productId) ?? null;
    if (!q || name === null) {
      return { ...line, name, unitPriceCents: null, currency: null, lineTotalCents: 0, available: 0, flashSaleId: null, purchasable: false };
    }
    return {
      ...line, name, unitPriceCents: q.unitPriceCents, currency: q.currency, lineTotalCents: q.unitPriceCents * line.quantity,
      available: q.available, flashSaleId: q.flashSaleId, purchasable: true,
    };
  });
  return {
    cartId: cart.cartId, items,
    totalCents: items.reduce((sum, i) => sum + i.lineTotalCents, 0),
    currency: items.find((i) => i.currency)?.currency ?? null,
  };
}
