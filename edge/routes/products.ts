/** Catalog: create a product with its initial stock, read one with what is available now. */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { problems } from '../problems.js';
import { uuidParam } from '../params.js';
import { newId } from '../../common/ids.js';
import { productKeys, ACTIVE_PRODUCTS_KEY } from '../../common/keys.js';
import { readAvailability } from '../../common/stock.js';
import { DependencyUnavailableError } from '../../common/errors.js';

interface CreateProductBody {
  name: string; description?: string; priceCents: number; currency?: string; stock: number;
  category: string; attributes?: Record<string, unknown>;
}

export function productRoutes(router: Router, deps: EdgeDeps): void {
  router.post<CreateProductBody>('/v1/products', {
    summary: 'Create a product with its initial stock',
    access: ['admin', 'seller'],
    body: validator('CreateProductRequest'),
    handler: async ({ body, user }) => {
      const productId = newId();
      const currency = body.currency ?? 'USD';
      const client = await deps.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO products (product_id, seller_id, name, description, price_cents, currency, category, attributes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [productId, user!.userId, body.name, body.description ?? '', body.priceCents, currency, body.category, body.attributes ?? {}]);
        await client.query(
          `INSERT INTO inventory_ledger (product_id, delta, reason, actor_id) VALUES ($1, $2, 'initial stock', $3)`,
          [productId, body.stock, user!.userId]);
        // The counters go live before the row commits; a failed commit leaves drift the reconciler reports.
        const k = productKeys(productId);
        await deps.redis.multi()
          .hset(k.info, 'price', body.priceCents, 'cur', currency)
          .incrby(k.avail, body.stock)
          .sadd(ACTIVE_PRODUCTS_KEY, productId)
          .exec()
          .catch((error: unknown) => { throw new DependencyUnavailableError('redis', error); });
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
      return { status: 201, body: { success: true, productId }, headers: { location: `/v1/products/${productId}` } };
    },
  });

  router.get('/v1/products/:productId', {
    summary: 'A product with what is available now',
    access: 'anyone',
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      const [{ rows }, availability] = await Promise.all([
        deps.pool.query(
          `SELECT product_id AS "productId", name, description, price_cents AS "priceCents", currency, category,
                  seller_id AS "sellerId", attributes
             FROM products WHERE product_id = $1 AND deleted_at IS NULL`, [productId]),
        readAvailability(deps.redis, productId).catch((error: unknown) => { throw new DependencyUnavailableError('redis', error); }),
      ]);
      const product = rows[0] as Record<string, unknown> | undefined;
      if (!product) throw problems.notFound(`Product ${productId}`);
      return {
        status: 200,
        body: {
          ...product, available: availability.available, flashSaleId: availability.liveSaleId,
          images: [], rating: null, reviewCount: 0,
        },
      };
    },
  });
}
