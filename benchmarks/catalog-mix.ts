/**
 * The request mix of bench:catalog, drawn from the seeded catalog's own vocabulary.
 *
 * Detail: product ids drawn uniformly from the whole catalog.
 *
 * Search: a shop's query log is skewed — a few queries are very common, most are rare,
 * and many are seen once. The mix models that with a universe of `intents` (words,
 * filters and sort), ranked by popularity and drawn with a Zipf law (weight 1/rank^s);
 * each draw then picks a page (most people stay on page 1) and a page size. Generic
 * intents (one noun, a brand, a category to browse) tend to rank higher than specific
 * ones, as in real logs, but every kind is spread over the whole ranking. On top,
 * `uniqueShare` of the requests are one-off queries (two random words, a random price
 * range) that no cache can have seen. The same seed gives the same sequence, so every
 * target of the benchmark gets exactly the same requests in the same order.
 */
import { ADJECTIVES, BRANDS, CATEGORIES, CATEGORY_NOUNS, COLORS, MATERIALS, prng, type SeedCatalog } from '../test/support/catalog-seed.js';
import { PRICE_BANDS } from '../edge/catalog-search.js';

export interface SearchMixOptions { intents: number; zipfExponent: number; uniqueShare: number; seed: number }

export const DEFAULT_MIX: SearchMixOptions = { intents: 20_000, zipfExponent: 1, uniqueShare: 0.05, seed: 7 };

type Random = () => number;
const pickFrom = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

/** Drops, doubles or swaps one letter of a word longer than four letters. */
function typo(random: Random, word: string): string {
  if (word.length < 5) return word;
  const i = 1 + Math.floor(random() * (word.length - 2));
  const kind = Math.floor(random() * 3);
  if (kind === 0) return word.slice(0, i) + word.slice(i + 1);
  if (kind === 1) return word.slice(0, i) + word[i] + word.slice(i);
  return word.slice(0, i - 1) + word[i] + word[i - 1] + word.slice(i + 1);
}

interface Intent { params: [string, string][]; generic: boolean }

function drawIntent(random: Random, sellers: string[]): Intent {
  const category = pickFrom(random, CATEGORIES);
  const noun = pickFrom(random, CATEGORY_NOUNS[category]!.nouns);
  const roll = random();
  let q: string | null;
  let generic = false;
  if (roll < 0.22) { q = noun; generic = true; }
  else if (roll < 0.32) { q = pickFrom(random, BRANDS).toLowerCase(); generic = true; }
  else if (roll < 0.40) { q = null; generic = true; }
  else if (roll < 0.55) q = `${pickFrom(random, ADJECTIVES)} ${noun}`;
  else if (roll < 0.67) q = `${pickFrom(random, BRANDS).toLowerCase()} ${noun}`;
  else if (roll < 0.77) q = `${pickFrom(random, COLORS)} ${noun}`;
  else if (roll < 0.83) q = `${pickFrom(random, MATERIALS)} ${noun}`;
  else if (roll < 0.93) q = typo(random, noun);
  else q = `${pickFrom(random, ADJECTIVES)} ${pickFrom(random, COLORS)} ${noun}`;
  const params: [string, string][] = [];
  if (q !== null) params.push(['q', q]);
  if (q === null || random() < 0.12) params.push(['category', category]);
  if (random() < 0.2) {
    const band = Math.floor(random() * (PRICE_BANDS.length - 1));
    params.push(['minPriceCents', String(PRICE_BANDS[band]!.minPriceCents)], ['maxPriceCents', String(PRICE_BANDS[band + 1]!.minPriceCents - 1)]);
  }
  if (random() < 0.03) params.push(['sellerId', pickFrom(random, sellers)]);
  const sortRoll = random();
  const sort = q === null
    ? pickFrom(random, ['newest', 'price_asc', 'price_desc', 'rating'])
    : sortRoll < 0.6 ? null : sortRoll < 0.72 ? 'price_asc' : sortRoll < 0.8 ? 'price_desc' : sortRoll < 0.9 ? 'newest' : 'rating';
  if (sort) params.push(['sort', sort]);
  return { params, generic };
}

function drawUnique(random: Random): [string, string][] {
  const words = [pickFrom(random, ADJECTIVES), pickFrom(random, [...BRANDS.map((b) => b.toLowerCase()), ...COLORS, ...MATERIALS])];
  const min = Math.floor(random() * 200) * 100;
  return [['q', words.join(' ')], ['minPriceCents', String(min)], ['maxPriceCents', String(min + 1_000 + Math.floor(random() * 50_000))]];
}

function drawPage(random: Random): [string, string][] {
  const roll = random();
  const page = roll < 0.75 ? 1 : roll < 0.9 ? 2 : roll < 0.96 ? 3 : 4 + Math.floor(random() * 7);
  const limit = random() < 0.9 ? 20 : 48;
  return [['page', String(page)], ['limit', String(limit)]];
}

/** Cumulative Zipf weights over `n` ranks. */
function zipfTable(n: number, s: number): Float64Array {
  const cumulative = new Float64Array(n);
  let sum = 0;
  for (let rank = 1; rank <= n; rank++) { sum += 1 / rank ** s; cumulative[rank - 1] = sum; }
  for (let i = 0; i < n; i++) cumulative[i]! /= sum;
  return cumulative;
}

function drawRank(random: Random, cumulative: Float64Array): number {
  const target = random();
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < target) lo = mid + 1; else hi = mid;
  }
  return lo;
}

const toPath = (params: [string, string][]): string => `/v1/products?${new URLSearchParams(params).toString()}`;

/** `count` search paths of the mix, in order. */
export function searchPaths(catalog: SeedCatalog, count: number, options: SearchMixOptions = DEFAULT_MIX): string[] {
  const random = prng(options.seed);
  const intents = Array.from({ length: options.intents }, () => drawIntent(random, catalog.sellers))
    .map((intent) => ({ intent, key: random() * (intent.generic ? 0.3 : 1) }))
    .sort((a, b) => a.key - b.key)
    .map((ranked) => ranked.intent);
  const cumulative = zipfTable(intents.length, options.zipfExponent);
  return Array.from({ length: count }, () => {
    const base = random() < options.uniqueShare ? drawUnique(random) : intents[drawRank(random, cumulative)]!.params;
    return toPath([...base, ...drawPage(random)]);
  });
}

/** `count` detail paths over products drawn uniformly from the catalog. */
export function detailPaths(catalog: SeedCatalog, count: number, seed = 11): string[] {
  const random = prng(seed);
  return Array.from({ length: count }, () => `/v1/products/${pickFrom(random, catalog.products).productId}`);
}

/** How repetitive a stretch of paths is: distinct paths and the share of requests whose path occurs once. */
export function describePaths(paths: string[]): { requests: number; distinct: number; seenOnceShare: number } {
  const counts = new Map<string, number>();
  for (const path of paths) counts.set(path, (counts.get(path) ?? 0) + 1);
  let once = 0;
  for (const n of counts.values()) if (n === 1) once++;
  return { requests: paths.length, distinct: counts.size, seenOnceShare: paths.length ? once / paths.length : 0 };
}
