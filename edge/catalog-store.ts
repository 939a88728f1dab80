/**
 * Products in Postgres: the detail document (built by Postgres as JSON text, so a cached
 * copy is served without serialising), the ownership check of writes, partial updates
 * and the soft delete.
 */
import type { Pool, PoolClient } from '../common/db.js';
import type { AuthUser } from './auth.js';
import { problems } from './problems.js';

/**
 * A product's detail as JSON text without the closing brace, so the fields read fresh
 * per request (`available`, `flashSaleId`) are appended to it.
 */
export type ProductDocument = string;

const DOCUMENT = `json_build_object('productId', product_id, 'name', name, 'description', description,
  'priceCents', price_cents, 'currency', currency, 'category', category, 'sellerId', seller_id, 'attributes', attributes,
  'images', images, 'videos', videos, 'rating', rating, 'reviewCount', review_count, 'createdAt', created_at, 'updatedAt', updated_at)::text`;

/** The product's document, or null when there is no such (live) product. */
export async function loadProductDocument(db: Pool | PoolClient, productId: string): Promise<ProductDocument | null> {
  const { rows } = await db.query<{ doc: string }>({
    name: 'catalog-product-document',
    text: `SELECT ${DOCUMENT} AS doc FROM products WHERE product_id = $1 AND deleted_at IS NULL`,
    values: [productId],
  });
  return rows[0] ? rows[0].doc.slice(0, -1) : null;
}

/** The full detail: the document plus what is available now and the live sale, if any. */
export function completeDocument(doc: ProductDocument, available: number, flashSaleId: string | null): string {
  return `${doc},"available":${available},"flashSaleId":${flashSaleId === null ? 'null' : JSON.stringify(flashSaleId)}}`;
}

export interface OwnedProduct { sellerId: string; priceCents: number; currency: string }

/**
 * Locks a live product for a write by `user`: admins may change any product, sellers
 * only their own. 404 when there is no such product, 403 when it is someone else's.
 */
export async function lockOwnedProduct(client: PoolClient, productId: string, user: AuthUser): Promise<OwnedProduct> {
  const { rows } = await client.query<OwnedProduct>(
    `SELECT seller_id AS "sellerId", price_cents AS "priceCents", currency
       FROM products WHERE product_id = $1 AND deleted_at IS NULL FOR UPDATE`, [productId]);
  const product = rows[0];
  if (!product) throw problems.notFound(`Product ${productId}`);
  if (user.role !== 'admin' && product.sellerId !== user.userId) {
    throw problems.forbidden('Sellers may change only their own products');
  }
  return product;
}

export interface ProductPatch {
  name?: string; description?: string; priceCents?: number; currency?: string; category?: string;
  attributes?: Record<string, unknown>;
}

const COLUMN_OF: Record<keyof ProductPatch, string> = {
  name: 'name', description: 'description', priceCents: 'price_cents', currency: 'currency', category: 'category',
  attributes: 'attributes',
};

/** Applies the fields present in `patch` (at least one, as the request schema requires). */
export async function updateProduct(client: PoolClient, productId: string, patch: ProductPatch): Promise<void> {
  const values: unknown[] = [productId];
  const sets = (Object.keys(COLUMN_OF) as (keyof ProductPatch)[])
    .filter((field) => patch[field] !== undefined)
    .map((field) => { values.push(patch[field]); return `${COLUMN_OF[field]} = $${values.length}`; });
  await client.query(`UPDATE products SET ${sets.join(', ')}, updated_at = now() WHERE product_id = $1`, values);
}

export async function softDeleteProduct(client: PoolClient, productId: string): Promise<void> {
  await client.query('UPDATE products SET deleted_at = now(), updated_at = now() WHERE product_id = $1', [productId]);
}

