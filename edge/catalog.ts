/**
 * The catalog's read path, built for read-heavy traffic.
 *
 * Product details and search answers are cached in this process (edge/catalog-cache.ts)
 * as ready-to-send JSON text: a hit costs a map lookup, no network hop and no
 * serialisation. `available` is never cached: every detail reads it fresh from the same
 * Redis counters the order pipeline decides on (common/stock.ts readAvailability), so a
 * sold-out product never shows stock. Every change of a product (create, update, delete,
 * review) drops the cached copies on every edge through edge/catalog-changes.ts; entries
 * also expire after a TTL, a backstop for a change notice that could not be published.
 */
import { DependencyUnavailableError } from '../common/errors.js';
import { readAvailability, type Availability } from '../common/stock.js';
import type { EdgeDeps } from './deps.js';
import { LocalCache } from './catalog-cache.js';
import { CatalogChanges } from './catalog-changes.js';
import { fetchResults, renderPage, runSearch, searchKey, type SearchQuery, type SearchResults } from './catalog-search.js';
import { completeDocument, loadProductDocument, type ProductDocument } from './catalog-store.js';

export interface CatalogAnswer { body: string; cached: boolean }

/** Results cached per search query: pages 1-5 of 20, 1-2 of 48, 1 of 100. */
export const RESULT_WINDOW = 100;

export class Catalog {
  /** Product id → its document, or null for "no such product" (so unknown ids cost no query either). */
  private readonly documents: LocalCache<ProductDocument | null>;
  /** Normalised query (without the page) → its first results, total and facets. Any product change drops them all. */
  private readonly searches: LocalCache<SearchResults>;
  private readonly changes: CatalogChanges;

  constructor(private readonly deps: Pick<EdgeDeps, 'pool' | 'redis' | 'log' | 'config'>) {
    const { config } = deps;
    this.documents = new LocalCache(config.catalogCacheEntries, config.catalogCacheTtlMs);
    this.searches = new LocalCache(config.searchCacheEntries, config.searchCacheTtlMs);
    this.changes = new CatalogChanges(deps.redis, deps.log, (productId) => {
      if (productId === null) this.documents.clear();
      else this.documents.invalidate(productId);
      this.searches.clear();
    });
  }

  /** The product's detail as JSON text, or null when there is no such product. */
  async product(productId: string): Promise<CatalogAnswer | null> {
    const availability = this.availability(productId);
    const hit = this.changes.live ? this.documents.get(productId) : undefined;
    if (hit !== undefined) {
      const { available, liveSaleId } = await availability;
      return hit === null ? null : { body: completeDocument(hit, available, liveSaleId), cached: true };
    }
    const [doc, { available, liveSaleId }] = await Promise.all([this.document(productId), availability]);
    return doc === null ? null : { body: completeDocument(doc, available, liveSaleId), cached: false };
  }

  /** The detail read straight from Postgres (after a write, to answer with what was written). */
  async freshProduct(productId: string): Promise<string | null> {
    const [doc, { available, liveSaleId }] = await Promise.all([loadProductDocument(this.deps.pool, productId), this.availability(productId)]);
    return doc === null ? null : completeDocument(doc, available, liveSaleId);
  }

  /**
   * A search page. The first RESULT_WINDOW results of each query (words, filters, sort)
   * are cached with its total and facets, so every page and page size inside them is
   * served from one entry; a deeper page is cached on its own.
   */
  async search(query: SearchQuery): Promise<CatalogAnswer> {
    if (!this.changes.live) return { body: await runSearch(this.deps.pool, query), cached: false };
    const start = (query.page - 1) * query.limit;
    const inWindow = start + query.limit <= RESULT_WINDOW;
    const key = inWindow ? searchKey(query) : `${searchKey(query)}@${start}+${query.limit}`;
    const hit = this.searches.get(key);
    if (hit !== undefined) return { body: renderPage(hit, query), cached: true };
    const results = await this.searches.load(key, () => (inWindow
      ? fetchResults(this.deps.pool, query, 0, RESULT_WINDOW)
      : fetchResults(this.deps.pool, query, start, query.limit)));
    return { body: renderPage(results, query), cached: false };
  }

  /** After a change of the product has committed: every edge drops what it cached of it. */
  changed(productId: string): Promise<void> {
    return this.changes.publish(productId);
  }

  stats(): Record<string, number> {
    return {
      productEntries: this.documents.size, productHits: this.documents.hits, productMisses: this.documents.misses,
      searchEntries: this.searches.size, searchHits: this.searches.hits, searchMisses: this.searches.misses,
    };
  }

  private document(productId: string): Promise<ProductDocument | null> {
    const load = () => loadProductDocument(this.deps.pool, productId);
    return this.changes.live ? this.documents.load(productId, load) : load();
  }

  private availability(productId: string): Promise<Availability> {
    return readAvailability(this.deps.redis, productId).catch((error: unknown) => { throw new DependencyUnavailableError('redis', error); });
  }
}

const catalogs = new WeakMap<object, Catalog>();

/** The edge's one catalog (both the product and the review routes use it). */
export function catalogFor(deps: EdgeDeps): Catalog {
  let catalog = catalogs.get(deps);
  if (!catalog) {
    catalog = new Catalog(deps);
    catalogs.set(deps, catalog);
  }
  return catalog;
}
