/**
 * Reviews: rating 1..5 with a title and a body, one per buyer per product (409 on a
 * second). The product's rating sum and count move in the same transaction as the
 * review, under the product's row lock, so the average and count are always exact.
 */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { problems } from '../problems.js';
import { pageParams, uuidParam } from '../params.js';
import { catalogFor } from '../catalog.js';
import { newId } from '../../common/ids.js';
import { withTransaction } from '../../common/db.js';
import { PAID_STATUSES } from '../../common/order.js';

interface CreateReviewBody { rating: number; title?: string; body?: string }
interface ProductRating { rating: number | null; reviewCount: number }

export function reviewRoutes(router: Router, deps: EdgeDeps): void {
  const catalog = catalogFor(deps);

  router.get('/v1/products/:productId/reviews', {
    summary: "A product's reviews, newest first, with its average rating and count",
    access: 'anyone',
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      const { page, limit, offset } = pageParams(ctx);
      const [product, reviews] = await Promise.all([
        deps.pool.query<ProductRating>(
          `SELECT rating, review_count AS "reviewCount" FROM products
            WHERE product_id = $1 AND deleted_at IS NULL`, [productId]),
        deps.pool.query(
          `SELECT r.review_id AS "reviewId", r.user_id AS "userId", u.name AS author, r.rating, r.title, r.body,
                  r.verified_purchase AS "verifiedPurchase", r.created_at AS "createdAt"
             FROM reviews r JOIN users u USING (user_id)
            WHERE r.product_id = $1 ORDER BY r.created_at DESC, r.review_id LIMIT $2 OFFSET $3`, [productId, limit, offset]),
      ]);
      const stats = product.rows[0];
      if (!stats) throw problems.notFound(`Product ${productId}`);
      return {
        status: 200,
        body: { productId, rating: stats.rating, reviewCount: stats.reviewCount, reviews: reviews.rows, page, limit, total: stats.reviewCount },
      };
    },
  });

  router.post<CreateReviewBody>('/v1/products/:productId/reviews', {
    summary: 'Review a product: rating 1..5, title, body; one review per buyer per product',
    access: 'signed-in',
    body: validator('CreateReviewRequest'),
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      const user = ctx.user!;
      const { rating, title = '', body = '' } = ctx.body;
      const reviewId = newId();
      const stats = await withTransaction(deps.pool, async (client) => {
        const product = await client.query<{ seller_id: string }>(
          'SELECT seller_id FROM products WHERE product_id = $1 AND deleted_at IS NULL FOR UPDATE', [productId]);
        if (!product.rows[0]) throw problems.notFound(`Product ${productId}`);
        if (product.rows[0].seller_id === user.userId) throw problems.forbidden('Sellers may not review their own products');
        const inserted = await client.query(
          `INSERT INTO reviews (review_id, product_id, user_id, rating, title, body, verified_purchase)
           VALUES ($1, $2, $3, $4, $5, $6, EXISTS (
             SELECT 1 FROM order_items i JOIN orders o USING (order_id)
              WHERE i.product_id = $2 AND o.user_id = $3 AND o.status = ANY($7::text[])))
           ON CONFLICT (product_id, user_id) DO NOTHING`,
          [reviewId, productId, user.userId, rating, title, body, PAID_STATUSES]);
        if (!inserted.rowCount) {
          throw problems.conflict('review-exists', 'Already reviewed', 'You have reviewed this product already: one review per buyer per product');
        }
        const { rows } = await client.query<ProductRating>(
          `UPDATE products SET rating_sum = rating_sum + $2, review_count = review_count + 1 WHERE product_id = $1
           RETURNING rating, review_count AS "reviewCount"`, [productId, rating]);
        return rows[0]!;
      });
      await catalog.changed(productId);
      return {
        status: 201,
        body: { success: true, reviewId, productId, rating: stats.rating, reviewCount: stats.reviewCount },
        headers: { location: `/v1/products/${productId}/reviews` },
      };
    },
  });
}
