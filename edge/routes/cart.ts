/**
 * Carts: add, set, remove, read (priced with current prices) and merge a guest cart.
 * Each user reaches only their own cart. Checkout is POST /v1/orders with the cartId.
 */
import type { Router, RequestContext, Reply } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { problems } from '../problems.js';
import { uuidParam } from '../params.js';
import { CartStore, type CartLine, type CartSnapshot } from '../cart-store.js';
import { priceCart } from '../cart-pricing.js';

/** The path's userId, which must be the signed-in user's own (403 otherwise, admins too). */
function ownUserId(ctx: RequestContext<unknown>): string {
  const userId = uuidParam(ctx, 'userId');
  if (userId !== ctx.user!.userId) throw problems.forbidden('You may see and change only your own cart');
  return userId;
}

export function cartRoutes(router: Router, deps: EdgeDeps): void {
  const carts = new CartStore(deps.pool, deps.redis, deps.log);
  const answer = async (userId: string, snapshot: CartSnapshot, extra: Record<string, unknown> = {}): Promise<Reply> => ({
    status: 200, body: { success: true, userId, cart: await priceCart(deps.pool, deps.redis, snapshot), ...extra },
  });

  router.post<CartLine>('/v1/cart', {
    summary: 'Add units of a product to your cart',
    access: 'signed-in',
    body: validator('AddCartItemRequest'),
    handler: async ({ body, user }) =>
      answer(user!.userId, await carts.add(user!.userId, { productId: body.productId.toLowerCase(), quantity: body.quantity })),
  });

  router.get('/v1/cart/:userId', {
    summary: 'Your cart, priced with current prices',
    access: 'signed-in',
    handler: async (ctx) => {
      const userId = ownUserId(ctx);
      return { status: 200, body: { userId, cart: await priceCart(deps.pool, deps.redis, await carts.read(userId)) } };
    },
  });

  router.put<CartLine>('/v1/cart/:userId', {
    summary: 'Set a line of your cart to a quantity (0 removes it)',
    access: 'signed-in',
    body: validator('SetCartItemRequest'),
    handler: async (ctx) => {
      const userId = ownUserId(ctx);
      return answer(userId, await carts.set(userId, { productId: ctx.body.productId.toLowerCase(), quantity: ctx.body.quantity }));
    },
  });

  router.delete('/v1/cart/:userId/items/:productId', {
    summary: 'Remove a product from your cart',
    access: 'signed-in',
    handler: async (ctx) => {
      const userId = ownUserId(ctx);
      return answer(userId, await carts.set(userId, { productId: uuidParam(ctx, 'productId'), quantity: 0 }));
    },
  });

  router.post<{ items: CartLine[] }>('/v1/cart/merge', {
    summary: 'Merge a guest cart into yours (quantities add up, capped per line)',
    access: 'signed-in',
    body: validator('MergeCartRequest'),
    handler: async ({ body, user }) => {
      const { snapshot, skipped, capped } = await carts.merge(user!.userId, body.items);
      return answer(user!.userId, snapshot, { skipped, capped });
    },
  });
}
