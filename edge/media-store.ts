/**
 * Product media rows in Postgres (migrations/003_media.sql): created pending, then
 * ready (listed on the product in the same transaction) or failed.
 */
import type { Pool, PoolClient } from '../common/db.js';
import { withTransaction } from '../common/db.js';
import type { MediaKind } from './media-types.js';

export type MediaStatus = 'pending' | 'ready' | 'failed';

export interface MediaRow {
  mediaId: string;
  productId: string;
  kind: MediaKind;
  contentType: string;
  sizeBytes: number;
  fileName: string | null;
  storageKey: string;
  status: MediaStatus;
  url: string | null;
  failure: string | null;
  createdAt: string;
  uploadedAt: string | null;
}

const COLUMNS = `media_id AS "mediaId", product_id AS "productId", kind, content_type AS "contentType",
  size_bytes AS "sizeBytes", file_name AS "fileName", storage_key AS "storageKey", status, url, failure,
  created_at AS "createdAt", uploaded_at AS "uploadedAt"`;

export async function insertMedia(client: PoolClient, media: Pick<MediaRow, 'mediaId' | 'productId' | 'kind' | 'contentType' | 'sizeBytes' | 'fileName' | 'storageKey'>,
  uploaderId: string): Promise<void> {
  await client.query(
    `INSERT INTO product_media (media_id, product_id, uploader_id, kind, content_type, size_bytes, file_name, storage_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [media.mediaId, media.productId, uploaderId, media.kind, media.contentType, media.sizeBytes, media.fileName, media.storageKey]);
}

export async function findMedia(db: Pool, mediaId: string): Promise<MediaRow | null> {
  const { rows } = await db.query<MediaRow>(`SELECT ${COLUMNS} FROM product_media WHERE media_id = $1`, [mediaId]);
  return rows[0] ?? null;
}

export async function mediaOfProduct(db: Pool, productId: string): Promise<MediaRow[]> {
  const { rows } = await db.query<MediaRow>(`SELECT ${COLUMNS} FROM product_media WHERE product_id = $1 ORDER BY created_at, media_id`, [productId]);
  return rows;
}

/** How a ready medium is listed on its product (`images` or `videos` of the product detail). */
function listedEntry(media: MediaRow, url: string): Record<string, unknown> {
  return { mediaId: media.mediaId, url, contentType: media.contentType, bytes: media.sizeBytes };
}

/** pending → ready, listed on its product; false when it was no longer pending. */
export async function markReady(pool: Pool, media: MediaRow, url: string): Promise<boolean> {
  return withTransaction(pool, async (client) => {
    const updated = await client.query(
      `UPDATE product_media SET status = 'ready', url = $2, uploaded_at = now() WHERE media_id = $1 AND status = 'pending'`,
      [media.mediaId, url]);
    if (!updated.rowCount) return false;
    const entry = JSON.stringify([listedEntry(media, url)]);
    await client.query(
      `UPDATE products SET images = CASE WHEN $2 = 'image' THEN images || $3::jsonb ELSE images END,
                           videos = CASE WHEN $2 = 'video' THEN videos || $3::jsonb ELSE videos END,
                           updated_at = now()
        WHERE product_id = $1`,
      [media.productId, media.kind, entry]);
    return true;
  });
}

/** pending → failed, with the reason. */
export async function markFailed(pool: Pool, mediaId: string, failure: string): Promise<void> {
  await pool.query(`UPDATE product_media SET status = 'failed', failure = $2 WHERE media_id = $1 AND status = 'pending'`, [mediaId, failure]);
}
