/**
 * The cart: a guest's lives in this browser (localStorage); a signed-in shopper's is the
 * saved one (/v1/cart). On login the guest cart is merged into the saved one
 * (POST /v1/cart/merge) and emptied here. `cartCount` feeds the header's Cart link.
 */
import { api, session } from './api';
import { readStored, store, writeStored } from './store';
import type { CartLine, FlashSale, PricedCart, PricedLine, Product } from './types';

const GUEST_KEY = 'sf:guest-cart';
const MAX_LINE = 1000;

export const cartCount = store<number>(0);

const guestLines = (): CartLine[] => readStored<CartLine[]>(GUEST_KEY, []);

function saveGuest(lines: CartLine[]): void {
  writeStored(GUEST_KEY, lines.length ? lines : null);
  cartCount.set(lines.reduce((n, l) => n + l.quantity, 0));
}

const units = (cart: PricedCart): number => cart.items.reduce((n, l) => n + l.quantity, 0);

function counted(cart: PricedCart): PricedCart {
  cartCount.set(units(cart));
  return cart;
}

/** A guest line priced like the saved cart's: the live sale's price while one runs. */
async function priceGuestLine(line: CartLine): Promise<PricedLine> {
  try {
    const product = await api<Product>('GET', `/v1/products/${encodeURIComponent(line.productId)}`);
    const sale = product.flashSaleId
      ? await api<FlashSale>('GET', `/v1/flash-sales/${product.flashSaleId}`).catch(() => null)
      : null;
    const unit = sale?.status === 'live' ? sale.priceCents : product.priceCents;
    return {
      ...line, name: product.name, unitPriceCents: unit, currency: product.currency, lineTotalCents: unit * line.quantity,
      available: product.available, flashSaleId: product.flashSaleId, purchasable: true,
    };
  } catch {
    return { ...line, name: null, unitPriceCents: null, currency: null, lineTotalCents: 0, available: 0, flashSaleId: null, purchasable: false };
  }
}

export async function loadCart(): Promise<PricedCart> {
  const user = session.get();
  if (user) {
    const { cart } = await api<{ cart: PricedCart }>('GET', `/v1/cart/${user.userId}`);
    return counted(cart);
  }
  const items = await Promise.all(guestLines().map(priceGuestLine));
  return counted({
    cartId: null, items,
    totalCents: items.reduce((sum, l) => sum + l.lineTotalCents, 0),
    currency: items.find((l) => l.currency)?.currency ?? null,
  });
}

export async function addToCart(productId: string, quantity: number): Promise<void> {
  const user = session.get();
  if (user) {
    counted((await api<{ cart: PricedCart }>('POST', '/v1/cart', { body: { productId, quantity } })).cart);
    return;
  }
  const lines = guestLines();
  const line = lines.find((l) => l.productId === productId);
  if (line) line.quantity = Math.min(MAX_LINE, line.quantity + quantity);
  else lines.push({ productId, quantity: Math.min(MAX_LINE, quantity) });
  saveGuest(lines);
}

/** Sets a line's quantity (0 removes it). */
export async function setQuantity(productId: string, quantity: number): Promise<void> {
  const user = session.get();
  if (user) {
    counted((await api<{ cart: PricedCart }>('PUT', `/v1/cart/${user.userId}`, { body: { productId, quantity } })).cart);
    return;
  }
  const lines = guestLines().map((l) => (l.productId === productId ? { ...l, quantity } : l)).filter((l) => l.quantity > 0);
  saveGuest(lines);
}

/** After login: the guest cart goes into the saved one; what could not be merged is reported. */
export async function mergeGuestCart(): Promise<{ merged: number; skipped: unknown[] }> {
  const items = guestLines();
  if (items.length === 0) {
    await loadCart().catch(() => undefined);
    return { merged: 0, skipped: [] };
  }
  const answer = await api<{ cart: PricedCart; skipped?: unknown[] }>('POST', '/v1/cart/merge', { body: { items } });
  writeStored(GUEST_KEY, null);
  counted(answer.cart);
  return { merged: items.length, skipped: answer.skipped ?? [] };
}

/** The cart was emptied by an accepted order (the server empties the saved one). */
export function cartEmptied(): void {
  if (!session.get()) writeStored(GUEST_KEY, null);
  cartCount.set(0);
}

/** The header's count at start-up and after signing out. */
export function refreshCount(): void {
  if (session.get()) void loadCart().catch(() => undefined);
  else cartCount.set(guestLines().reduce((n, l) => n + l.quantity, 0));
}
