-- Browsing a category page by page in each sort order (price, newest, rating) reads the
-- page in order from an index instead of sorting every product of the category
-- (edge/catalog-search.ts keeps such a page's matches a view, not a materialised set).
DROP INDEX IF EXISTS products_category_idx;
CREATE INDEX products_category_idx        ON products (category, price_cents, product_id) WHERE deleted_at IS NULL;
CREATE INDEX products_category_newest_idx ON products (category, created_at DESC, product_id) WHERE deleted_at IS NULL;
CREATE INDEX products_category_rating_idx ON products (category, rating DESC NULLS LAST, review_count DESC, product_id)
  WHERE deleted_at IS NULL;
