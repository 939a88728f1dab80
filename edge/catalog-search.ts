/**
 * Catalog search: the query string of GET /v1/products, checked and normalised, and the
 * one SQL statement that answers it — the page, the total and the facets (per category
 * and per price band) for the same WHERE, in one round trip.
 *
 * Matching: the generated, weighted tsvector (name A, category and attributes B,
 * description C) with websearch_to_tsquery and ts_rank; when that finds nothing, the same
 * search with each word corrected to the most similar word of the catalog (pg_trgm
 * similarity over catalog_words), so "hedphones" finds headphones.
 * Statements are prepared (named by their text), so Postgres plans each shape once per
 * connection.
 */
import { createHash } from 'node:crypto';
import type { Pool } from '../common/db.js';
import { isUuid } from '../common/ids.js';
import { HttpProblem, problems, type FieldError } from './problems.js';
import { pageParams } from './params.js';
import type { RequestContext } from './http.js';

/**
 * Server settings of the connections that run catalog reads. The search statement's
 * generic plan is estimated above Postgres's jit_above_cost, and compiling it took
 * ~60 ms per execution for a query that runs in 2 ms: JIT is off for these short reads.
 * Their generic plans are as good as custom ones (the full-text match always goes
 * through the GIN index), so they are always used: planning costs each search a third
 * of its time otherwise.
 */
export const CATALOG_PG_SETTINGS = { jit: 'off', plan_cache_mode: 'force_generic_plan' } as const;

/** The price bands of the facets, in minor units; each band is [min, next band's min). */
export const PRICE_BANDS = [
  { band: 'under-10', minPriceCents: 0 },
  { band: '10-25', minPriceCents: 1_000 },
  { band: '25-50', minPriceCents: 2_500 },
  { band: '50-100', minPriceCents: 5_000 },
  { band: '100-250', minPriceCents: 10_000 },
  { band: '250-500', minPriceCents: 25_000 },
  { band: '500-plus', minPriceCents: 50_000 },
] as const;
const BAND_BOUNDS = PRICE_BANDS.slice(1).map((b) => b.minPriceCents);

/** Sort orders of the matches `t`; ties go by product id so pages never overlap. */
const ORDER_BY = {
  relevance: 't.score DESC, t.product_id',
  price_asc: 't.price_cents, t.product_id',
  price_desc: 't.price_cents DESC, t.product_id',
  newest: 't.created_at DESC, t.product_id',
  rating: 't.rating DESC NULLS LAST, t.review_count DESC, t.product_id',
} as const;
export type SortOrder = keyof typeof ORDER_BY;
export const SORT_ORDERS = Object.keys(ORDER_BY) as SortOrder[];

const MAX_TEXT = 200;
const MAX_CENTS = 100_000_000_000;
/** Deepest result reachable by paging (offset + limit). */
export const MAX_DEPTH = 10_000;

export interface SearchQuery {
  /** Lower-cased, trimmed, inner whitespace collapsed; null for browsing without words. */
  text: string | null;
  category: string | null;
  sellerId: string | null;
  minPriceCents: number | null;
  maxPriceCents: number | null;
  sort: SortOrder;
  page: number;
  limit: number;
}

function centsParam(ctx: RequestContext<unknown>, name: string): number | null {
  const raw = ctx.query.get(name);
  if (raw === null || raw === '') return null;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value > MAX_CENTS) throw problems.badField(name, `must be an integer from 0 to ${MAX_CENTS} (minor units)`);
  return value;
}

function textParam(ctx: RequestContext<unknown>, name: string, max: number): string | null {
  const raw = ctx.query.get(name);
  if (raw === null) return null;
  const value = raw.trim().replace(/\s+/g, ' ');
  if (value.length > max) throw problems.badField(name, `must be at most ${max} characters`);
  return value === '' ? null : value;
}

/** Reads GET /v1/products' query (the words come as `q`, or `term` on the seed's alias); a 400 names every bad field. */
export function parseSearch(ctx: RequestContext<unknown>): SearchQuery {
  const errors: FieldError[] = [];
  const read = <T>(reader: () => T, fallback: T): T => {
    try {
      return reader();
    } catch (error) {
      if (!(error instanceof HttpProblem) || !error.errors) throw error;
      errors.push(...error.errors);
      return fallback;
    }
  };
  const text = read(() => textParam(ctx, 'q', MAX_TEXT) ?? textParam(ctx, 'term', MAX_TEXT), null);
  const category = read(() => textParam(ctx, 'category', 100), null);
  const sellerId = read(() => {
    const value = textParam(ctx, 'sellerId', 100);
    if (value !== null && !isUuid(value)) throw problems.badField('sellerId', 'must be a UUID');
    return value?.toLowerCase() ?? null;
  }, null);
  const minPriceCents = read(() => centsParam(ctx, 'minPriceCents'), null);
  const maxPriceCents = read(() => centsParam(ctx, 'maxPriceCents'), null);
  if (minPriceCents !== null && maxPriceCents !== null && maxPriceCents < minPriceCents) {
    errors.push({ field: 'maxPriceCents', message: 'must not be below minPriceCents' });
  }
  const sortRaw = ctx.query.get('sort') || null;
  if (sortRaw !== null && !(SORT_ORDERS as string[]).includes(sortRaw)) {
    errors.push({ field: 'sort', message: `must be one of ${SORT_ORDERS.join(', ')}` });
  }
  const { page, limit } = read(() => {
    const params = pageParams(ctx);
    if (params.offset + params.limit > MAX_DEPTH) throw problems.badField('page', `page × limit must be at most ${MAX_DEPTH}; narrow the search instead`);
    return params;
  }, { page: 1, limit: 1, offset: 0 });
  if (errors.length) throw problems.validation(errors);
  // Relevance needs words; without them the newest come first.
  const sort = sortRaw === null || (sortRaw === 'relevance' && text === null) ? (text === null ? 'newest' : 'relevance') : sortRaw as SortOrder;
  return { text: text === null ? null : text.toLowerCase(), category, sellerId, minPriceCents, maxPriceCents, sort, page, limit };
}

/**
 * The cache key of the query's results, apart from the page: every page and page size
 * of the same words, filters and sort share one cached result window.
 */
export function searchKey(q: SearchQuery): string {
  return JSON.stringify([q.text, q.category, q.sellerId, q.minPriceCents, q.maxPriceCents, q.sort]);
}

interface Statement { name: string; text: string; values: unknown[] }

const MATCH_COLUMNS = 'p.product_id, p.price_cents, p.category, p.created_at, p.rating, p.review_count';

/** A product as a search result lists it (JSON text), from `products p`. */
const LIST_ITEM = `json_build_object('productId', p.product_id, 'name', p.name, 'priceCents', p.price_cents,
  'currency', p.currency, 'category', p.category, 'sellerId', p.seller_id, 'rating', p.rating,
  'reviewCount', p.review_count, 'images', p.images, 'createdAt', p.created_at)`;

/** List items of live products by id (the ones missing are gone). */
export async function loadListItems(pool: Pool, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ id: string; item: string }>({
    name: 'catalog-list-items',
    text: `SELECT p.product_id AS id, ${LIST_ITEM}::text AS item FROM products p WHERE p.product_id = ANY($1::uuid[]) AND p.deleted_at IS NULL`,
    values: [ids],
  });
  return new Map(rows.map((r) => [r.id, r.item]));
}

type Param = (value: unknown) => string;

/**
 * The matches of `q` as the CTE `m` (product id, the sort keys, `score`, `fuzzy`), and the
 * SQL of the corrected words. Without words: every product the filters let through. With
 * words: the full-text matches; when there are none, the same search with each word
 * replaced by the most similar word of the catalog (catalog_words, pg_trgm), so
 * "hedphones" finds headphones.
 */
function matchesOf(q: SearchQuery, param: Param, facets: boolean): { ctes: string; correctedWords: string } {
  const text = q.text === null ? null : param(q.text);
  const where = ['p.deleted_at IS NULL'];
  if (q.category !== null) where.push(`p.category = ${param(q.category)}`);
  if (q.sellerId !== null) where.push(`p.seller_id = ${param(q.sellerId)}`);
  if (q.minPriceCents !== null) where.push(`p.price_cents >= ${param(q.minPriceCents)}`);
  if (q.maxPriceCents !== null) where.push(`p.price_cents <= ${param(q.maxPriceCents)}`);
  const filters = where.join(' AND ');
  if (text === null) {
    return {
      // Read once for the page only, the matches stay a view, so an index can give the page
      // in order (category and price, newest) instead of sorting every match.
      ctes: `m AS ${facets ? 'MATERIALIZED' : 'NOT MATERIALIZED'} (SELECT ${MATCH_COLUMNS}, 0::real AS score, false AS fuzzy FROM products p WHERE ${filters})`,
      correctedWords: 'NULL::text',
    };
  }
  // Ranking every match costs more than finding it: only the relevance order needs it.
  const score = q.sort === 'relevance' ? 'ts_rank(p.search, tsq)' : '0::real';
  return {
    ctes: `fts AS MATERIALIZED (
         SELECT ${MATCH_COLUMNS}, ${score} AS score
           FROM websearch_to_tsquery('english', ${text}) AS tsq, products p
          WHERE p.search @@ tsq AND ${filters}),
       corrected AS MATERIALIZED (
         SELECT string_agg(coalesce((SELECT w.word FROM catalog_words w WHERE w.word % t.token
                                      ORDER BY similarity(w.word, t.token) DESC, w.word LIMIT 1), t.token), ' ' ORDER BY t.n) AS words
           FROM regexp_split_to_table(${text}, '[^[:alnum:]]+') WITH ORDINALITY AS t(token, n)
          WHERE t.token <> '' AND NOT EXISTS (SELECT 1 FROM fts)),
       fuzzy AS MATERIALIZED (
         SELECT ${MATCH_COLUMNS}, ${score} AS score
           FROM corrected, websearch_to_tsquery('english', corrected.words) AS tsq, products p
          WHERE corrected.words IS NOT NULL AND p.search @@ tsq AND ${filters}),
       m AS (SELECT *, false AS fuzzy FROM fts UNION ALL SELECT *, true FROM fuzzy)`,
    correctedWords: '(SELECT words FROM corrected)',
  };
}

/**
 * The statement for `q`'s matches from `offset`, `count` of them, as list items or as
 * product ids only (for a caller that keeps the list items itself), and unless `facets`
 * is false, with the total, the facets and the corrected words.
 */
export function searchStatement(q: SearchQuery, offset: number, count: number, rows: 'items' | 'ids', facets = true): Statement {
  const values: unknown[] = [];
  const param: Param = (value) => { values.push(value); return `$${values.length}`; };
  const { ctes, correctedWords } = matchesOf(q, param, facets);
  const order = ORDER_BY[q.sort];
  // The page: a top-N sort of the matches, then its rows in that order.
  const page = `(SELECT ${rows === 'items' ? `coalesce(json_agg(${LIST_ITEM} ORDER BY ${order}), '[]')::text` : `string_agg(t.product_id::text, ',' ORDER BY ${order})`}
          FROM (SELECT * FROM m t ORDER BY ${order} LIMIT ${param(count)} OFFSET ${param(offset)}) t
          ${rows === 'items' ? 'JOIN products p USING (product_id)' : ''}) AS rows`;
  const sql = !facets ? `WITH ${ctes}\nSELECT ${page}` : `WITH ${ctes}
SELECT (SELECT count(*)::int FROM m) AS total,
       (SELECT CASE WHEN bool_or(fuzzy) THEN ${correctedWords} END FROM m) AS corrected,
       (SELECT coalesce(json_agg(json_build_object('category', category, 'count', n) ORDER BY n DESC, category), '[]')::text
          FROM (SELECT category, count(*)::int AS n FROM m GROUP BY category) c) AS categories,
       (SELECT coalesce(json_agg(json_build_array(band, n)), '[]')::text
          FROM (SELECT width_bucket(price_cents, ${param(BAND_BOUNDS)}::bigint[]) AS band, count(*)::int AS n FROM m GROUP BY 1) b) AS bands,
       ${page}`;
  return { name: `catalog-search-${createHash('sha1').update(sql).digest('base64url').slice(0, 16)}`, text: sql, values };
}

/**
 * A stretch of a query's results from `offset` (product ids), its total and facets, and
 * the corrected words when the results are for those. `items` keeps the list items of the
 * ids once they have been rendered, so a cached page is served without looking them up.
 */
export interface SearchResults {
  offset: number;
  /** The product ids, comma-separated (a UUID is 36 characters: id i starts at i × 37); see idAt. */
  ids: string;
  count: number;
  items: (string | undefined)[];
  total: number;
  corrected: string | null;
  facets: string;
}

/** The i-th product id of the results. */
export function idAt(results: SearchResults, i: number): string {
  return results.ids.slice(i * 37, i * 37 + 36);
}

function idList(rows: string | null): { ids: string; count: number } {
  return { ids: rows ?? '', count: rows ? (rows.length + 1) / 37 : 0 };
}

interface SearchRow { total: number; corrected: string | null; categories: string; bands: string; rows: string | null }

async function query(pool: Pool, q: SearchQuery, offset: number, count: number, rows: 'items' | 'ids'): Promise<SearchRow & { facets: string }> {
  const row = (await pool.query<SearchRow>(searchStatement(q, offset, count, rows))).rows[0]!;
  const counts = new Map((JSON.parse(row.bands) as [number, number][]));
  const priceBands = PRICE_BANDS.map((b, i) => ({
    band: b.band, minPriceCents: b.minPriceCents, maxPriceCents: i + 1 < PRICE_BANDS.length ? PRICE_BANDS[i + 1]!.minPriceCents - 1 : null,
    count: counts.get(i) ?? 0,
  }));
  return { ...row, facets: `{"categories":${row.categories},"priceBands":${JSON.stringify(priceBands)}}` };
}

/** `count` of `q`'s results from `offset`, as product ids (for a caller that keeps the list items itself). */
export async function fetchResults(pool: Pool, q: SearchQuery, offset: number, count: number): Promise<SearchResults> {
  const row = await query(pool, q, offset, count, 'ids');
  return { offset, ...idList(row.rows), items: [], total: row.total, corrected: row.corrected, facets: row.facets };
}

/**
 * `count` of `q`'s results from `offset` beyond the first ones: only the ids are read, the
 * total, facets and corrected words are those of `first`, the same query's first results.
 */
export async function fetchMoreResults(pool: Pool, q: SearchQuery, offset: number, count: number, first: SearchResults): Promise<SearchResults> {
  const { rows } = await pool.query<{ rows: string | null }>(searchStatement(q, offset, count, 'ids', false));
  return { ...first, offset, ...idList(rows[0]!.rows), items: [] };
}

/** Where `q`'s page lies in results that hold it (or hold everything there is). */
export function pageSpan(results: SearchResults, q: SearchQuery): { from: number; to: number } {
  const from = Math.min((q.page - 1) * q.limit - results.offset, results.count);
  return { from, to: Math.min(from + q.limit, results.count) };
}

/** The response body for `q`'s page, its list items given as a JSON array. */
export function renderPage(results: Pick<SearchResults, 'total' | 'corrected' | 'facets'>, q: SearchQuery, itemsJson: string): string {
  return `{"products":${itemsJson},"page":${q.page},"limit":${q.limit},` +
    `"total":${results.total},"sort":"${q.sort}","fuzzy":${results.corrected !== null},"correctedQuery":${JSON.stringify(results.corrected)},` +
    `"facets":${results.facets}}`;
}

/** The page `q` asks for, straight from Postgres. */
export async function runSearch(pool: Pool, q: SearchQuery): Promise<string> {
  const row = await query(pool, q, (q.page - 1) * q.limit, q.limit, 'items');
  return renderPage(row, q, row.rows ?? '[]');
}
