-- Product media (images and videos, seeds' ProductMedia): one row per upload. `pending`
-- from POST /v1/products/{id}/media until its last byte is stored and its first bytes
-- matched the declared type, then `ready` (with its URL and upload time), or `failed`
-- (with the reason). Ready media are also appended to the product row (`images` or
-- `videos`) in the same transaction, so the catalog's product detail lists them with
-- no further query.
CREATE TABLE IF NOT EXISTS product_media (
  media_id     uuid PRIMARY KEY,
  product_id   uuid NOT NULL REFERENCES products (product_id),
  uploader_id  uuid NOT NULL REFERENCES users (user_id),
  kind         text NOT NULL CHECK (kind IN ('image', 'video')),
  content_type text NOT NULL,
  size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
  file_name    text,
  storage_key  text NOT NULL,
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed')),
  url          text,
  failure      text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  uploaded_at  timestamptz,
  CHECK ((status = 'ready') = (url IS NOT NULL AND uploaded_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS product_media_product_idx ON product_media (product_id, created_at);

ALTER TABLE products ADD COLUMN IF NOT EXISTS videos jsonb NOT NULL DEFAULT '[]'::jsonb;
