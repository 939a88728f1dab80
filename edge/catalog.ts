/**
 * The catalog's read path, built for read-heavy traffic.
 *
 * Product details, search results and the products as result lists show them are cached
 * in this process (edge/catalog-cache.ts) as ready-to-send JSON text: a hit costs a map
 * lookup, no network hop and no serialisation. `available` is never cached: every detail reads it fresh from the same
 * Redis counters the order pipeline decides on (common/stock.ts readAvailability), so a
 * sold-out product never shows stock. Every change of a product (create, update, delete,
 * review) drops the cached copies on every edge through edge/catalog-changes.ts; entries
 * also expire after a TTL, a backstop for a change notice that could not be published.
 */
import { DependencyUnavailableError } from '../common/errors.js';
import { createPool, type Pool } from '../common/db.js';
import { readAvailability, type Availability } from '../common/stock.js';
import type { EdgeDeps } from './deps.js';
import { LocalCache } from './catalog-cache.js';
import { CatalogChanges } from './catalog-changes.js';
import {
  CATALOG_PG_SETTINGS, fetchMoreResults, fetchResults, idAt, loadListItems, pageSpan, renderPage, runSearch, searchKey, type SearchQuery,
  type SearchResults,
} from './catalog-search.js';
import { completeDocument, loadProductDocument, type ProductDocument } from './catalog-store.js';

export interface CatalogAnswer { body: string; cached: boolean }

/** Results cached per search query: pages 1-5 of 20, 1-2 of 48, 1 of 100. */
export const RESULT_WINDOW = 100;

export class Catalog {
  /** Product id → its document, or null for "no such product" (so unknown ids cost no query either). */
  private readonly documents: LocalCache<ProductDocument | null>;
  /** Normalised query (without the page) → the ids of its first results, total and facets. Any product change drops them all. */
  private readonly searches: LocalCache<SearchResults>;
  /** Product id → the product as search results list it, shared by every query that finds it. */
  private readonly listItems: LocalCache<string>;
  private readonly changes: CatalogChanges;
  /** Reads have a pool of their own: a burst of searches cannot take the connections writes and orders need. */
  private readonly pool: Pool;

  constructor(private readonly deps: Pick<EdgeDeps, 'redis' | 'log' | 'config'>) {
    const { config } = deps;
    this.pool = createPool(config.databaseUrl, config.pgPoolSize, CATALOG_PG_SETTINGS);
    this.documents = new LocalCache(config.catalogCacheEntries, config.catalogCacheTtlMs);
    this.searches = new LocalCache(config.searchCacheEntries, config.searchCacheTtlMs);
    this.listItems = new LocalCache(config.catalogCacheEntries, config.catalogCacheTtlMs);
    this.changes = new CatalogChanges(deps.redis, deps.log, (productId) => {
      if (productId === null) {
        this.documents.clear();
        this.listItems.clear();
      } else {
        this.documents.invalidate(productId);
        this.listItems.invalidate(productId);
      }
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
    const [doc, { available, liveSaleId }] = await Promise.all([loadProductDocument(this.pool, productId), this.availability(productId)]);
    return doc === null ? null : completeDocument(doc, available, liveSaleId);
  }

  /**
   * A search page. The ids of the first RESULT_WINDOW results of each query (words,
   * filters, sort) are cached with its total and facets, so every page and page size
   * inside them is served from one entry; a deeper page is cached on its own, with the
   * facets of the first results. The list items come from a cache of their own, shared
   * by every query that finds the product.
   */
  async search(query: SearchQuery): Promise<CatalogAnswer> {
    if (!this.changes.live) return { body: await runSearch(this.pool, query), cached: false };
    const key = searchKey(query);
    let results = this.searches.get(key);
    let cached = results !== undefined;
    results ??= await this.searches.load(key, () => fetchResults(this.pool, query, 0, RESULT_WINDOW));
    const start = (query.page - 1) * query.limit;
    if (start + query.limit > RESULT_WINDOW && results.count < results.total) {
      const first = results;
      const deepKey = `${key}@${start}+${query.limit}`;
      results = this.searches.get(deepKey);
      cached = results !== undefined;
      results ??= await this.searches.load(deepKey, () => fetchMoreResults(this.pool, query, start, query.limit, first));
    }
    return { body: renderPage(results, query, await this.pageItems(results, query)), cached };
  }

  /**
   * The list items of the page as a JSON array. They are kept on the cached results once
   * looked up (any product change drops both), so a cached page costs no lookups at all.
   * A product deleted meanwhile is left out.
   */
  private async pageItems(results: SearchResults, query: SearchQuery): Promise<string> {
    const { from, to } = pageSpan(results, query);
    const missing: string[] = [];
    for (let i = from; i < to; i++) {
      if (results.items[i] !== undefined) continue;
      const id = idAt(results, i);
      const item = this.listItems.get(id);
      if (item === undefined) missing.push(id);
      else results.items[i] = item;
    }
    if (missing.length) {
      const loaded = await this.listItems.loadMany(missing, (keys) => loadListItems(this.pool, keys));
      for (let i = from; i < to; i++) results.items[i] ??= loaded.get(idAt(results, i));
    }
    const items: string[] = [];
    for (let i = from; i < to; i++) if (results.items[i] !== undefined) items.push(results.items[i]!);
    return `[${items.join(',')}]`;
  }

  /** After a change of the product has committed: every edge drops what it cached of it. */
  changed(productId: string): Promise<void> {
    return this.changes.publish(productId);
  }

  private document(productId: string): Promise<ProductDocument | null> {
    const load = () => loadProductDocument(this.pool, productId);
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
