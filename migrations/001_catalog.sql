-- Catalog: full-text search with weights, typo tolerance, images, ratings and reviews.
--
-- `search` is generated from the row, so every insert or update of a product is searchable
-- the moment it commits: name weighs A, category and attribute values B, description C.
-- Typos: see catalog_words below.
-- A product's rating is kept as a running sum and count, updated in the same transaction
-- as each review; `rating` (the average, 2 decimals) is derived from them for sorting.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE products
  ADD COLUMN images       jsonb   NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN rating_sum   bigint  NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
  ADD COLUMN review_count integer NOT NULL DEFAULT 0 CHECK (review_count >= 0),
  ADD COLUMN rating       numeric(3, 2) GENERATED ALWAYS AS
    (CASE WHEN review_count > 0 THEN round(rating_sum::numeric / review_count, 2) END) STORED,
  ADD COLUMN search       tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', name), 'A') ||
    setweight(to_tsvector('english', category), 'B') ||
    setweight(jsonb_to_tsvector('english', attributes, '["string"]'), 'B') ||
    setweight(to_tsvector('english', description), 'C')) STORED;

-- Every catalog read filters on deleted_at IS NULL, so the indexes cover live products only.
CREATE INDEX products_search_idx    ON products USING gin (search) WHERE deleted_at IS NULL;
CREATE INDEX products_category_idx  ON products (category, price_cents) WHERE deleted_at IS NULL;
CREATE INDEX products_newest_idx    ON products (created_at DESC, product_id) WHERE deleted_at IS NULL;

CREATE TABLE reviews (
  review_id         uuid PRIMARY KEY,
  product_id        uuid NOT NULL REFERENCES products (product_id),
  user_id           uuid NOT NULL REFERENCES users (user_id),
  rating            smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
  title             text NOT NULL DEFAULT '',
  body              text NOT NULL DEFAULT '',
  verified_purchase boolean NOT NULL DEFAULT false,
  created_at        timestamptz NOT NULL DEFAULT now(),
  -- one review per buyer per product
  UNIQUE (product_id, user_id)
);
CREATE INDEX reviews_product_idx ON reviews (product_id, created_at DESC);

-- Spelling: the words of product names, categories and attribute values (lower-case, not
-- stemmed), with a trigram index. A search whose words match nothing retries with each word
-- replaced by its most similar known word (pg_trgm similarity), as the pg_trgm manual
-- suggests: a few thousand words are searched instead of every product name.
-- Statement-level triggers keep it current, so a COPY of many products adds its words at once.
CREATE TABLE catalog_words (word text PRIMARY KEY);
CREATE INDEX catalog_words_trgm_idx ON catalog_words USING gin (word gin_trgm_ops);

CREATE FUNCTION catalog_words_collect() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO catalog_words (word)
  SELECT DISTINCT w
    FROM changed_rows r,
         unnest(tsvector_to_array(to_tsvector('simple', r.name) || to_tsvector('simple', r.category) ||
                                  jsonb_to_tsvector('simple', r.attributes, '["string"]'))) AS w
   WHERE length(w) >= 3
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER products_words_insert AFTER INSERT ON products
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_words_collect();
CREATE TRIGGER products_words_update AFTER UPDATE ON products
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_words_collect();
