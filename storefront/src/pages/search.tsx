/** Search: words, category and price facets, sort and pages, all in the address bar (?q=&category=&…&page=). */
import { api } from '../api';
import { money } from '../format';
import { useLoad, useTitle } from '../hooks';
import { location, navigate } from '../router';
import { useStore } from '../store';
import { Alert, Loading, ProductCard } from '../ui';
import type { PriceBandFacet, SearchPage as Results } from '../types';

const PAGE_SIZE = 12;
const SORTS = [
  ['relevance', 'Best match'], ['price_asc', 'Price: low to high'], ['price_desc', 'Price: high to low'],
  ['newest', 'Newest'], ['rating', 'Top rated'],
] as const;
const KEPT = ['q', 'category', 'minPriceCents', 'maxPriceCents', 'sort'] as const;

/** The search URL with `changes` applied (null removes a parameter); any change but the page goes back to page 1. */
function hrefWith(query: URLSearchParams, changes: Record<string, string | null>): string {
  const next = new URLSearchParams();
  for (const key of KEPT) {
    const value = key in changes ? changes[key] : query.get(key);
    if (value) next.set(key, value);
  }
  if (changes.page) next.set('page', changes.page);
  return `/search?${next.toString()}`;
}

function bandLabel(band: PriceBandFacet, currency: string): string {
  if (band.maxPriceCents === null) return `${money(band.minPriceCents, currency)} and up`;
  if (band.minPriceCents === 0) return `Under ${money(band.maxPriceCents + 1, currency)}`;
  return `${money(band.minPriceCents, currency)} to ${money(band.maxPriceCents + 1, currency)}`;
}

function Facets({ results, query }: { results: Results; query: URLSearchParams }) {
  const category = query.get('category');
  const min = query.get('minPriceCents');
  const currency = results.products[0]?.currency ?? 'USD';
  return (
    <aside class="facets" aria-label="Filters">
      <h2>Category</h2>
      <ul>
        {category && <li><a href={hrefWith(query, { category: null })}>All categories</a></li>}
        {results.facets.categories.map((c) => (
          <li key={c.category}>
            <a href={hrefWith(query, { category: c.category })} aria-current={c.category === category ? 'true' : undefined}>
              {c.category} <span class="count">({c.count})</span>
            </a>
          </li>
        ))}
      </ul>
      <h2>Price</h2>
      <ul>
        {min !== null && <li><a href={hrefWith(query, { minPriceCents: null, maxPriceCents: null })}>Any price</a></li>}
        {results.facets.priceBands.filter((b) => b.count > 0).map((b) => (
          <li key={b.band}>
            <a href={hrefWith(query, { minPriceCents: String(b.minPriceCents), maxPriceCents: b.maxPriceCents === null ? null : String(b.maxPriceCents) })}
              aria-current={min === String(b.minPriceCents) ? 'true' : undefined}>
              {bandLabel(b, currency)} <span class="count">({b.count})</span>
            </a>
          </li>
        ))}
      </ul>
    </aside>
  );
}

function Pages({ results, query }: { results: Results; query: URLSearchParams }) {
  const pages = Math.max(1, Math.ceil(results.total / results.limit));
  if (pages <= 1) return null;
  const page = results.page;
  return (
    <nav class="pagination" aria-label="Pages of results">
      {page > 1 ? <a href={hrefWith(query, { page: String(page - 1) })} rel="prev">Previous page</a> : <span />}
      <span>Page {page} of {pages}</span>
      {page < pages ? <a href={hrefWith(query, { page: String(page + 1) })} rel="next">Next page</a> : <span />}
    </nav>
  );
}

export function SearchPage() {
  const { query } = useStore(location);
  const words = query.get('q') ?? '';
  useTitle(words ? `Search: ${words}` : 'All products');
  const params = new URLSearchParams(query);
  params.set('limit', String(PAGE_SIZE));
  const key = params.toString();
  const [results] = useLoad((signal) => api<Results>('GET', `/v1/products?${key}`, { signal }), [key]);
  return (
    <section aria-labelledby="search-title">
      <h1 id="search-title">{words ? <>Results for “{words}”</> : 'All products'}</h1>
      {results.state === 'loading' && <Loading what="results" />}
      {results.state === 'error' && <Alert>The search failed. Check the filters and try again.</Alert>}
      {results.state === 'ok' && (
        <div class="search-layout">
          <Facets results={results.value} query={query} />
          <div>
            <div class="toolbar">
              <p role="status">{results.value.total} {results.value.total === 1 ? 'product' : 'products'}
                {results.value.fuzzy && results.value.correctedQuery && <> for “{results.value.correctedQuery}”</>}</p>
              <label class="sort">Sort by{' '}
                <select value={results.value.sort} onChange={(e) => navigate(hrefWith(query, { sort: (e.currentTarget as HTMLSelectElement).value }))}>
                  {SORTS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
                </select>
              </label>
            </div>
            {results.value.products.length === 0
              ? <p>No products match. Try other words or fewer filters.</p>
              : <ul class="grid">{results.value.products.map((p, i) => <ProductCard key={p.productId} product={p} eager={i < 2} />)}</ul>}
            <Pages results={results.value} query={query} />
          </div>
        </div>
      )}
    </section>
  );
}
