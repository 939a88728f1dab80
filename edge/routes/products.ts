/**
 * Catalog: create a product with its initial stock, search and browse, read one with
 * what is available now, update it, delete it. Reads go through the edge's catalog
 * (edge/catalog.ts: in-process caches, `available` always fresh from Redis); every
 * write tells the catalog once it has committed.
 */
import type { Redis } from 'ioredis';
import type { Reply, RequestContext, Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { problems } from '../problems.js';
import { uuidParam } from '../params.js';
import { catalogFor, type CatalogAnswer } from '../catalog.js';
import { parseSearch } from '../catalog-search.js';
import { lockOwnedProduct, softDeleteProduct, updateProduct, type ProductPatch } from '../catalog-store.js';
import { newId } from '../../common/ids.js';
import { withTransaction } from '../../common/db.js';
import { productKeys, ACTIVE_PRODUCTS_KEY } from '../../common/keys.js';
import { DependencyUnavailableError } from '../../common/errors.js';

interface CreateProductBody extends Required<Pick<ProductPatch, 'name' | 'priceCents' | 'category'>> {
  description?: string; currency?: string; stock: number; attributes?: Record<string, unknown>;
}

/** A catalog answer as it is sent: JSON text, and whether this edge's cache had it. */
function catalogReply(answer: CatalogAnswer): Reply {
  return { status: 200, body: answer.body, contentType: 'application/json', headers: { 'x-cache': answer.cached ? 'hit' : 'miss' } };
}

function redisCall<T>(call: () => Promise<T>): Promise<T> {
  return call().catch((error: unknown) => { throw new DependencyUnavailableError('redis', error); });
}

/** The price an order is accepted at (lua/reserve reads it); products without counters have none to change. */
async function repriceOrders(redis: Redis, productId: string, priceCents: number, currency: string): Promise<void> {
  const { info } = productKeys(productId);
  if (await redisCall(() => redis.exists(info))) await redisCall(() => redis.hset(info, 'price', priceCents, 'cur', currency));
}

export function productRoutes(router: Router, deps: EdgeDeps): void {
  const catalog = catalogFor(deps);

  router.post<CreateProductBody>('/v1/products', {
    summary: 'Create a product with its initial stock',
    access: ['admin', 'seller'],
    body: validator('CreateProductRequest'),
    handler: async ({ body, user }) => {
      const productId = newId();
      const currency = body.currency ?? 'USD';
      await withTransaction(deps.pool, async (client) => {
        await client.query(
          `INSERT INTO products (product_id, seller_id, name, description, price_cents, currency, category, attributes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [productId, user!.userId, body.name, body.description ?? '', body.priceCents, currency, body.category, body.attributes ?? {}]);
        await client.query(
          `INSERT INTO inventory_ledger (product_id, delta, reason, actor_id) VALUES ($1, $2, 'initial stock', $3)`,
          [productId, body.stock, user!.userId]);
        // The counters go live before the row commits; a failed commit leaves drift the reconciler reports.
        const k = productKeys(productId);
        await redisCall(() => deps.redis.multi()
          .hset(k.info, 'price', body.priceCents, 'cur', currency)
          .incrby(k.avail, body.stock)
          .sadd(ACTIVE_PRODUCTS_KEY, productId)
          .exec());
      });
      await catalog.changed(productId);
      return { status: 201, body: { success: true, productId }, headers: { location: `/v1/products/${productId}` } };
    },
  });

  const search = async (ctx: RequestContext<unknown>): Promise<Reply> => catalogReply(await catalog.search(parseSearch(ctx)));
  router.get('/v1/products', {
    summary: 'Search and browse products: ?q= full text, category, sellerId, minPriceCents, maxPriceCents, sort, page, limit; with facets',
    access: 'anyone',
    handler: search,
  });
  router.get('/v1/products/search', {
    summary: 'The seed\'s alias of GET /v1/products, with the words as ?term=',
    access: 'anyone',
    handler: search,
  });

  router.get('/v1/products/:productId', {
    summary: 'A product with what is available now',
    access: 'anyone',
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      const answer = await catalog.product(productId);
      if (!answer) throw problems.notFound(`Product ${productId}`);
      return catalogReply(answer);
    },
  });

  router.put<ProductPatch>('/v1/products/:productId', {
    summary: 'Update some of a product\'s fields (admin, or the seller of the product)',
    access: ['admin', 'seller'],
    body: validator('UpdateProductRequest'),
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      const patch = ctx.body;
      await withTransaction(deps.pool, async (client) => {
        const current = await lockOwnedProduct(client, productId, ctx.user!);
        await updateProduct(client, productId, patch);
        const priceCents = patch.priceCents ?? current.priceCents;
        const currency = patch.currency ?? current.currency;
        if (priceCents !== current.priceCents || currency !== current.currency) await repriceOrders(deps.redis, productId, priceCents, currency);
      });
      await catalog.changed(productId);
      const product = await catalog.freshProduct(productId);
      if (product === null) throw problems.notFound(`Product ${productId}`);
      return { status: 200, body: `{"success":true,"product":${product}}`, contentType: 'application/json' };
    },
  });

  router.delete('/v1/products/:productId', {
    summary: 'Delete a product (admin, or its seller): it leaves the catalog and can no longer be ordered',
    access: ['admin', 'seller'],
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      await withTransaction(deps.pool, async (client) => {
        await lockOwnedProduct(client, productId, ctx.user!);
        await softDeleteProduct(client, productId);
        // Without its info lua/reserve answers unknown-product; the stock counters stay for the reconciler.
        await redisCall(() => deps.redis.del(productKeys(productId).info));
      });
      await catalog.changed(productId);
      return { status: 200, body: { success: true, productId } };
    },
  });
}
