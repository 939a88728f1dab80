/**
 * An order placed from a cart (POST /v1/orders with `cartId`): its lines are the
 * cart's, decided by the same OrderDecision as any order (per product, sorted, all or
 * nothing); the cart gives up those lines only once the order is accepted.
 *
 * The request fingerprint covers the lines as well as the body, so a retry with the
 * same Idempotency-Key after the cart changed is a different request (422), while a
 * retry after acceptance replays the lines the order took (cart_checkouts) and gets
 * the same order back.
 */
import { fingerprint, orderIdFor } from '../common/ids.js';
import { retry } from '../common/retry.js';
import type { EdgeDeps } from './deps.js';
import { CartStore, type CartLine } from './cart-store.js';

export interface CartOrder {
  lines: CartLine[];
  fingerprint: string;
  /** Takes the lines out of the cart; call on acceptance (never throws: the order stands). */
  accepted(orderId: string): Promise<void>;
}

export class CartCheckout {
  private readonly carts: CartStore;

  constructor(private readonly deps: Pick<EdgeDeps, 'pool' | 'redis' | 'log'>) {
    this.carts = new CartStore(deps.pool, deps.redis, deps.log);
  }

  async prepare(userId: string, cartId: string, idempotencyKey: string, rawBody: string): Promise<CartOrder> {
    const id = cartId.toLowerCase();
    const lines = await this.carts.linesForOrder(userId, id, orderIdFor(userId, idempotencyKey));
    const signature = lines.map((l) => `${l.productId}*${l.quantity}`).sort().join(',');
    return {
      lines,
      fingerprint: fingerprint(`${rawBody}\n${signature}`),
      accepted: (orderId) => retry(() => this.carts.ordered(userId, id, orderId, lines), { retries: 3, baseMs: 50, maxMs: 500 })
        .catch((error: unknown) => this.deps.log.error({ orderId, cartId: id, err: (error as Error).message },
          'order accepted but its cart was not emptied')),
    };
  }
}
