-- Browsing the catalog by rating and by category, page by page.
--
-- `rating` becomes double precision instead of numeric(3, 2): sorting thousands of matches
-- by rating stays cheap, and the driver reads it as a number. Still the average of the
-- running sum and count, rounded to 2 decimals.
ALTER TABLE products ALTER COLUMN rating TYPE double precision;

-- Each sort order of a category's pages (price, newest, rating) reads the page in order
-- from an index instead of sorting every product of the category (edge/catalog-search.ts
-- keeps such a page's matches a view, not a materialised set).
DROP INDEX IF EXISTS products_category_idx, products_category_newest_idx, products_category_rating_idx;
CREATE INDEX products_category_idx        ON products (category, price_cents, product_id) WHERE deleted_at IS NULL;
CREATE INDEX products_category_newest_idx ON products (category, created_at DESC, product_id) WHERE deleted_at IS NULL;
CREATE INDEX products_category_rating_idx ON products (category, rating DESC NULLS LAST, review_count DESC, product_id)
  WHERE deleted_at IS NULL;
