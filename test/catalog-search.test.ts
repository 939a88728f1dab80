/**
 * Search on a seeded catalog of 100,000 products (COPY, test/support/catalog-seed.ts):
 * relevance by field weight, typo tolerance, filters, sorts, pagination with total, and
 * facets for the current query. Expected figures come from replaying the seed's generator
 * in memory, not from asking Postgres the same question again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from './support/api.js';
import { serviceEnv } from './support/processes.js';
import { startStack, type Stack } from './support/stack.js';
import { createProductVia, seedCatalog, unseedCatalog, type SeedCatalog, type SeedProduct } from './support/catalog-seed.js';
import { CATALOG_PG_SETTINGS, parseSearch, runSearch } from '../edge/catalog-search.js';
import { createPool } from '../common/db.js';
import type { RequestContext } from '../edge/http.js';

interface Item { productId: string; name: string; priceCents: number; category: string; sellerId: string; rating: number | null; createdAt: string }
interface Facets { categories: { category: string; count: number }[]; priceBands: { band: string; minPriceCents: number; maxPriceCents: number | null; count: number }[] }
interface SearchPage {
  products: Item[]; page: number; limit: number; total: number; sort: string; fuzzy: boolean; correctedQuery: string | null; facets: Facets;
}

let stack: Stack;
let api: Api;
let catalog: SeedCatalog;
let hidden: string[] = [];
/** Products of the relevance checks: the nonce in the name (A), in an attribute (B), in the description (C). */
let nonce: string;
let byField: { name: string; attribute: string; description: string };

beforeAll(async () => {
  stack = await startStack({ without: ['order-writer', 'reconciler'] });
  api = stack.api;
  const seeded = await seedCatalog(serviceEnv().DATABASE_URL!);
  catalog = seeded;
  process.stderr.write(`[catalog-search] ${seeded.products.length} products ${seeded.seededNow ? `seeded with COPY in ${seeded.ms} ms` : 'already seeded'}\n`);
  // Other suites share this database: their products leave the catalog while this one runs
  // (this suite's own edge starts with empty caches), and come back after.
  const { rows } = await stack.db.query<{ product_id: string }>(
    `UPDATE products SET deleted_at = now() WHERE deleted_at IS NULL AND product_id <> ALL($1::uuid[]) RETURNING product_id`,
    [seeded.products.map((p) => p.productId)]);
  hidden = rows.map((r) => r.product_id);
  nonce = `quorbel${Math.floor(Math.random() * 1e6)}x`;
  const seller = await api.newUser('seller');
  byField = {
    description: await createProductVia(api, seller.token, { name: 'Plain lantern', description: `Glows like a ${nonce} at dusk.` }),
    attribute: await createProductVia(api, seller.token, { name: 'Plain candle', attributes: { finish: nonce } }),
    name: await createProductVia(api, seller.token, { name: `The ${nonce} lamp`, description: 'Bright.' }),
  };
}, 180_000);
afterAll(async () => {
  if (hidden.length) await stack.db.query('UPDATE products SET deleted_at = NULL WHERE product_id = ANY($1::uuid[])', [hidden]);
  if (catalog) await unseedCatalog(serviceEnv().DATABASE_URL!, catalog);
  await stack?.stop();
});

async function search(query: string, path = '/v1/products'): Promise<SearchPage> {
  const res = await api.request<SearchPage>('GET', `${path}?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

const where = (keep: (p: SeedProduct) => boolean) => catalog.products.filter(keep);
const bandOf = (facets: Facets, cents: number) => facets.priceBands.findIndex((b) => cents >= b.minPriceCents && (b.maxPriceCents === null || cents <= b.maxPriceCents));
const rating = (p: SeedProduct) => (p.reviewCount ? Math.round((p.ratingSum / p.reviewCount) * 100) / 100 : null);

describe('relevance', () => {
  it('ranks a match in the name above one in the attributes above one in the description', async () => {
    const page = await search(`q=${nonce}`);
    expect(page.fuzzy).toBe(false);
    expect(page.total).toBe(3);
    expect(page.products.map((p) => p.productId)).toEqual([byField.name, byField.attribute, byField.description]);
  });

  it('corrects a misspelt word to the closest word of the catalog when the full text finds nothing', async () => {
    const typo = nonce.slice(0, 3) + nonce.slice(4);
    const page = await search(`q=${typo}`);
    expect(page).toMatchObject({ fuzzy: true, correctedQuery: nonce, total: 3 });
    expect(page.products.map((p) => p.productId)).toEqual([byField.name, byField.attribute, byField.description]);
    const headphones = await search('q=wireless+hedphones&limit=50');
    expect(headphones).toMatchObject({ fuzzy: true, correctedQuery: 'wireless headphones' });
    expect(headphones.total).toBe(where((p) => /wireless/.test(`${p.name} ${p.description}`) && /headphones/.test(`${p.name} ${p.description}`)).length);
    for (const p of headphones.products.slice(0, 10)) expect(p.name).toContain('wireless headphones');
    expect(await search('q=headphones&limit=1')).toMatchObject({ fuzzy: false, correctedQuery: null });
  });

  it('matches every seeded product of a brand (name, description and attributes all name it) and nothing else', async () => {
    const page = await search('q=Zephyr&limit=100');
    expect(page.total).toBe(where((p) => p.attributes.brand === 'Zephyr').length);
    for (const p of page.products) expect(p.name.startsWith('Zephyr ')).toBe(true);
  });

  it('answers the seed\'s alias /v1/products/search?term= exactly as ?q=', async () => {
    expect(await search('term=zephyr&limit=7', '/v1/products/search')).toEqual(await search('q=zephyr&limit=7'));
  });
});

describe('filters', () => {
  it('narrows by category and price range, with the exact total', async () => {
    const expected = where((p) => p.category === 'audio' && p.priceCents >= 5_000 && p.priceCents <= 9_999);
    const page = await search('category=audio&minPriceCents=5000&maxPriceCents=9999&limit=100');
    expect(page.total).toBe(expected.length);
    expect(page.products).toHaveLength(100);
    for (const p of page.products) {
      expect(p.category).toBe('audio');
      expect(p.priceCents).toBeGreaterThanOrEqual(5_000);
      expect(p.priceCents).toBeLessThanOrEqual(9_999);
    }
  });

  it('narrows by seller, together with words', async () => {
    const sellerId = catalog.sellers[3]!;
    const expected = where((p) => p.sellerId === sellerId && p.attributes.brand === 'Nova').map((p) => p.productId);
    expect(expected.length).toBeGreaterThan(0);
    const page = await search(`q=nova&sellerId=${sellerId}&limit=100`);
    expect(page.total).toBe(expected.length);
    expect(page.products.map((p) => p.productId).sort()).toEqual(expected.sort());
  });
});

describe('sorting', () => {
  const kitchen = () => where((p) => p.category === 'kitchen');

  it('by price, both ways', async () => {
    const up = await search('category=kitchen&sort=price_asc&limit=50');
    const prices = up.products.map((p) => p.priceCents);
    expect(prices).toEqual([...prices].sort((a, b) => a - b));
    expect(prices[0]).toBe(Math.min(...kitchen().map((p) => p.priceCents)));
    const down = await search('category=kitchen&sort=price_desc&limit=50');
    expect(down.products[0]!.priceCents).toBe(Math.max(...kitchen().map((p) => p.priceCents)));
    expect(down.products.map((p) => p.priceCents)).toEqual(down.products.map((p) => p.priceCents).sort((a, b) => b - a));
  });

  it('newest first', async () => {
    const page = await search('category=kitchen&sort=newest&limit=50');
    const times = page.products.map((p) => Date.parse(p.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(times[0]).toBe(Math.max(...kitchen().map((p) => p.createdAt.getTime())));
  });

  it('best rated first, unrated last', async () => {
    const page = await search('category=kitchen&sort=rating&limit=50');
    const ratings = page.products.map((p) => p.rating);
    expect(ratings[0]).toBe(Math.max(...kitchen().map((p) => rating(p) ?? 0)));
    expect(ratings.every((r, i) => i === 0 || (r ?? -1) <= (ratings[i - 1] ?? -1))).toBe(true);
    const last = await search(`category=kitchen&sort=rating&limit=10&page=${Math.ceil(kitchen().length / 10)}`);
    expect(last.products.every((p) => p.rating === null)).toBe(true);
  });
});

describe('pagination', () => {
  it('pages follow each other without overlap, with the same total, in the cached window and beyond it', async () => {
    const whole = await search('q=headphones&limit=60');
    const pages = await Promise.all([1, 2, 3].map((n) => search(`q=headphones&limit=20&page=${n}`)));
    expect(pages.flatMap((p) => p.products.map((x) => x.productId))).toEqual(whole.products.map((x) => x.productId));
    for (const p of pages) expect(p.total).toBe(whole.total);
    // Page 6 of 20 lies past the edge's cached window (100 results) and is read from Postgres.
    const deep = await search('q=headphones&limit=20&page=6');
    const second100 = await search('q=headphones&limit=100&page=2');
    expect(deep.products.map((x) => x.productId)).toEqual(second100.products.slice(0, 20).map((x) => x.productId));
    expect(deep.total).toBe(whole.total);
  });

  it('past the last page: no products, the same total', async () => {
    const page = await search('q=zephyr&limit=100&page=50');
    expect(page.products).toEqual([]);
    expect(page.total).toBe(where((p) => p.attributes.brand === 'Zephyr').length);
  });
});

describe('the cached path and Postgres agree', () => {
  it('answers as a plain query of Postgres would, for pages in and beyond the cached window, typos and browsing', async () => {
    const pool = createPool(serviceEnv().DATABASE_URL!, 2, CATALOG_PG_SETTINGS);
    try {
      for (const query of ['q=wireless&page=2', 'q=wireless&page=7&limit=20', 'q=zephyr+kettle', 'q=wireless+hedphones&sort=price_desc',
        'category=toys&sort=rating&page=3&limit=48', 'q=black&minPriceCents=1000&maxPriceCents=4999&sort=newest']) {
        const direct = await runSearch(pool, parseSearch({ query: new URLSearchParams(query) } as RequestContext<unknown>));
        expect(await search(query), query).toEqual(JSON.parse(direct));
        expect(await search(query), query).toEqual(JSON.parse(direct)); // and once more, from the cache
      }
    } finally {
      await pool.end();
    }
  });
});

describe('facets for the current query', () => {
  it('count per category and price band exactly what the query matches', async () => {
    const matches = where((p) => p.attributes.brand === 'Zephyr' && p.priceCents >= 2_000);
    const page = await search('q=zephyr&minPriceCents=2000');
    expect(page.total).toBe(matches.length);
    const categories = new Map<string, number>();
    for (const p of matches) categories.set(p.category, (categories.get(p.category) ?? 0) + 1);
    expect(new Map(page.facets.categories.map((c) => [c.category, c.count]))).toEqual(categories);
    const bands = page.facets.priceBands.map(() => 0);
    for (const p of matches) bands[bandOf(page.facets, p.priceCents)]!++;
    expect(page.facets.priceBands.map((b) => b.count)).toEqual(bands);
    expect(page.facets.priceBands[0]).toMatchObject({ band: 'under-10', minPriceCents: 0, maxPriceCents: 999, count: 0 });
  });

  it('agree with the totals of the narrowed queries', async () => {
    const page = await search('q=wireless');
    const [top] = page.facets.categories;
    expect((await search(`q=wireless&category=${top!.category}`)).total).toBe(top!.count);
    const band = page.facets.priceBands.find((b) => b.count > 0 && b.maxPriceCents !== null)!;
    expect((await search(`q=wireless&minPriceCents=${band.minPriceCents}&maxPriceCents=${band.maxPriceCents}`)).total).toBe(band.count);
  });

  it('cover the whole catalog when browsing without words', async () => {
    const page = await search('limit=5');
    expect(page.total).toBeGreaterThanOrEqual(100_000);
    const counts = new Map(page.facets.categories.map((c) => [c.category, c.count]));
    for (const category of new Set(catalog.products.map((p) => p.category))) {
      expect(counts.get(category)).toBe(where((p) => p.category === category).length);
    }
  });
});
