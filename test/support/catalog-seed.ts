/**
 * A deterministic catalog for search tests and bench:catalog: sellers, reviewers, products
 * (names, descriptions and attributes from a fixed vocabulary, prices per category) and
 * reviews, loaded with COPY in one transaction. Seeding is idempotent: a catalog already
 * there (same seed and size) is left alone, and `unseedCatalog` removes it again. The same
 * generator can be replayed in memory (`generateCatalog`) to know what the database holds
 * without asking it. `createProductVia` makes one product through the API instead.
 */
import pg from 'pg';
import { copyRows, type CopyValue } from '../../common/copy.js';
import { withTransaction } from '../../common/db.js';
import type { Api } from './api.js';

/** Category → its nouns and a typical price in cents. */
export const CATEGORY_NOUNS: Record<string, { nouns: string[]; priceCents: number }> = {
  audio: { nouns: ['headphones', 'speaker', 'soundbar', 'earbuds', 'turntable', 'microphone', 'amplifier', 'subwoofer', 'receiver', 'radio'], priceCents: 9_900 },
  computers: { nouns: ['laptop', 'keyboard', 'mouse', 'monitor', 'webcam', 'router', 'tablet', 'dock', 'printer', 'scanner'], priceCents: 24_900 },
  phones: { nouns: ['smartphone', 'charger', 'case', 'cable', 'powerbank', 'stylus', 'mount', 'adapter', 'smartwatch', 'tracker'], priceCents: 4_900 },
  cameras: { nouns: ['camera', 'lens', 'tripod', 'drone', 'flash', 'gimbal', 'projector', 'binoculars', 'camcorder', 'dashcam'], priceCents: 29_900 },
  kitchen: { nouns: ['blender', 'toaster', 'kettle', 'skillet', 'knife', 'grinder', 'mixer', 'cooker', 'teapot', 'juicer'], priceCents: 5_900 },
  home: { nouns: ['lamp', 'rug', 'curtain', 'pillow', 'blanket', 'mirror', 'vase', 'clock', 'candle', 'humidifier'], priceCents: 3_900 },
  furniture: { nouns: ['sofa', 'chair', 'desk', 'bookshelf', 'bed', 'wardrobe', 'stool', 'dresser', 'bench', 'ottoman'], priceCents: 39_900 },
  garden: { nouns: ['hose', 'shovel', 'planter', 'sprinkler', 'mower', 'trimmer', 'wheelbarrow', 'rake', 'greenhouse', 'birdhouse'], priceCents: 6_900 },
  tools: { nouns: ['drill', 'hammer', 'wrench', 'saw', 'screwdriver', 'toolbox', 'ladder', 'sander', 'level', 'pliers'], priceCents: 7_900 },
  sports: { nouns: ['treadmill', 'dumbbell', 'racket', 'football', 'helmet', 'bicycle', 'skateboard', 'yoga mat', 'kettlebell', 'jump rope'], priceCents: 8_900 },
  outdoors: { nouns: ['tent', 'backpack', 'sleeping bag', 'lantern', 'compass', 'hammock', 'cooler', 'canteen', 'kayak', 'stove'], priceCents: 11_900 },
  toys: { nouns: ['puzzle', 'robot', 'doll', 'kite', 'blocks', 'train set', 'plush', 'yo-yo', 'board game', 'scooter'], priceCents: 2_900 },
  books: { nouns: ['novel', 'cookbook', 'atlas', 'biography', 'notebook', 'journal', 'comic', 'dictionary', 'planner', 'guide'], priceCents: 1_900 },
  beauty: { nouns: ['shampoo', 'perfume', 'lipstick', 'moisturizer', 'serum', 'hairdryer', 'razor', 'sunscreen', 'mascara', 'cologne'], priceCents: 2_400 },
  health: { nouns: ['vitamins', 'thermometer', 'massager', 'scale', 'toothbrush', 'inhaler', 'bandage', 'pillbox', 'brace', 'oximeter'], priceCents: 3_400 },
  clothing: { nouns: ['jacket', 'sweater', 'shirt', 'jeans', 'dress', 'hoodie', 'scarf', 'gloves', 'raincoat', 'socks'], priceCents: 4_400 },
  shoes: { nouns: ['sneakers', 'boots', 'sandals', 'loafers', 'slippers', 'heels', 'trainers', 'clogs', 'moccasins', 'flip-flops'], priceCents: 7_400 },
  jewelry: { nouns: ['necklace', 'ring', 'bracelet', 'earrings', 'watch', 'pendant', 'brooch', 'anklet', 'cufflinks', 'locket'], priceCents: 12_900 },
  automotive: { nouns: ['tire', 'wiper', 'jumper cables', 'car seat', 'floor mats', 'air freshener', 'battery', 'headlight', 'polish', 'jack'], priceCents: 5_400 },
  pets: { nouns: ['leash', 'collar', 'aquarium', 'litter box', 'dog bed', 'scratching post', 'bird cage', 'pet feeder', 'chew toy', 'carrier'], priceCents: 2_900 },
  office: { nouns: ['stapler', 'shredder', 'whiteboard', 'calculator', 'file cabinet', 'desk organizer', 'label maker', 'pen set', 'paper tray', 'laminator'], priceCents: 3_900 },
  baby: { nouns: ['stroller', 'crib', 'high chair', 'baby monitor', 'diaper bag', 'pacifier', 'bottle warmer', 'playmat', 'bassinet', 'teether'], priceCents: 8_400 },
  grocery: { nouns: ['coffee', 'tea', 'olive oil', 'honey', 'chocolate', 'granola', 'pasta', 'spices', 'almonds', 'maple syrup'], priceCents: 1_400 },
  gaming: { nouns: ['console', 'controller', 'headset', 'gaming chair', 'joystick', 'racing wheel', 'capture card', 'mousepad', 'arcade stick', 'vr headset'], priceCents: 14_900 },
};
export const CATEGORIES = Object.keys(CATEGORY_NOUNS);

export const BRANDS = [
  'Acme', 'Aurora', 'Zenith', 'Nordic', 'Vertex', 'Lumina', 'Orion', 'Pinnacle', 'Summit', 'Horizon', 'Apex', 'Nimbus',
  'Cascade', 'Ember', 'Falcon', 'Glacier', 'Harbor', 'Ionic', 'Juniper', 'Kestrel', 'Lotus', 'Meridian', 'Nova', 'Oakridge',
  'Polaris', 'Quantum', 'Redwood', 'Sierra', 'Tundra', 'Umbra', 'Vantage', 'Willow', 'Xenon', 'Yukon', 'Zephyr', 'Atlas',
  'Boreal', 'Cobalt', 'Drift', 'Echo', 'Fjord', 'Granite', 'Halcyon', 'Indigo', 'Jade', 'Kinetic', 'Lark', 'Mosaic',
  'Nectar', 'Onyx', 'Prism', 'Quill', 'Raven', 'Solstice', 'Titan', 'Urban', 'Velvet', 'Wren', 'Yarrow', 'Zest',
];

export const ADJECTIVES = [
  'wireless', 'portable', 'compact', 'premium', 'ergonomic', 'waterproof', 'lightweight', 'durable', 'classic', 'modern',
  'smart', 'foldable', 'rechargeable', 'adjustable', 'vintage', 'deluxe', 'heavy-duty', 'eco-friendly', 'professional', 'mini',
  'ultra', 'cordless', 'insulated', 'stainless', 'handmade', 'organic', 'quiet', 'fast', 'bright', 'soft',
  'rugged', 'slim', 'sturdy', 'elegant', 'minimalist', 'travel', 'outdoor', 'digital', 'magnetic', 'solar',
];

export const COLORS = ['black', 'white', 'silver', 'red', 'blue', 'green', 'grey', 'navy', 'beige', 'gold', 'pink', 'orange', 'purple', 'teal', 'brown'];
export const MATERIALS = ['aluminium', 'steel', 'bamboo', 'leather', 'cotton', 'wool', 'plastic', 'glass', 'ceramic', 'oak', 'silicone', 'linen'];
const USES = ['everyday use', 'travel', 'the office', 'small apartments', 'families', 'beginners', 'professionals', 'gifts', 'weekend trips', 'the kitchen counter'];
const FEATURES = [
  'It has a battery life of up to {n} hours', 'Backed by a {n}-year warranty', 'Rated {n} out of 10 by our testers',
  'Ships in recyclable packaging', 'Easy to clean and assemble', 'Comes with a carrying pouch', 'Water resistant to {n} metres',
  'Includes a quick start guide', 'Works with voice assistants', 'Certified for safety and low energy use',
  'Pairs well with a {noun}', 'A favourite among {use} shoppers', 'Available in {color} and {color2}',
];

export const SEED = { seed: 20_251_125, products: 100_000, sellers: 200, reviewers: 400 } as const;

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function uuidFrom(random: () => number): string {
  const hex = Array.from({ length: 4 }, () => Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0')).join('');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface SeedProduct {
  productId: string; sellerId: string; name: string; description: string; priceCents: number; currency: string;
  category: string; attributes: Record<string, string | number>; createdAt: Date; ratingSum: number; reviewCount: number;
}
export interface SeedReview { reviewId: string; productId: string; userId: string; rating: number; title: string; createdAt: Date }
export interface SeedCatalog { sellers: string[]; reviewers: string[]; products: SeedProduct[]; reviews: SeedReview[] }

const NEWEST = Date.UTC(2025, 9, 1);
const DAY_MS = 86_400_000;

/** The catalog for `size` products, the same every time for the same seed. */
export function generateCatalog(size: number = SEED.products, seed: number = SEED.seed): SeedCatalog {
  const random = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const sellers = Array.from({ length: SEED.sellers }, () => uuidFrom(random));
  const reviewers = Array.from({ length: SEED.reviewers }, () => uuidFrom(random));
  const products: SeedProduct[] = [];
  const reviews: SeedReview[] = [];
  for (let i = 0; i < size; i++) {
    const category = pick(CATEGORIES);
    const { nouns, priceCents: typical } = CATEGORY_NOUNS[category]!;
    const noun = pick(nouns);
    const brand = pick(BRANDS);
    const adjective = pick(ADJECTIVES);
    const color = pick(COLORS);
    const model = random() < 0.6 ? ` ${String.fromCharCode(65 + Math.floor(random() * 26))}${Math.floor(random() * 900) + 100}` : '';
    const name = `${brand} ${adjective} ${noun}${model}`;
    const features = Array.from({ length: 2 + Math.floor(random() * 3) }, () => pick(FEATURES)
      .replace('{n}', String(2 + Math.floor(random() * 40)))
      .replace('{noun}', pick(nouns))
      .replace('{use}', pick(USES))
      .replace('{color}', color)
      .replace('{color2}', pick(COLORS)));
    const description = `A ${pick(ADJECTIVES)} ${noun} by ${brand}, made of ${pick(MATERIALS)}. ${features.join('. ')}. Ideal for ${pick(USES)}.`;
    // Log-normal around the category's typical price, ending in 99 cents.
    const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const priceCents = Math.max(99, Math.round((typical * Math.exp(0.7 * gaussian)) / 100) * 100 - 1);
    const attributes: Record<string, string | number> = { brand, color, material: pick(MATERIALS) };
    if (random() < 0.4) attributes.size = pick(['XS', 'S', 'M', 'L', 'XL']);
    if (random() < 0.5) attributes.warrantyYears = 1 + Math.floor(random() * 5);
    const productId = uuidFrom(random);
    const createdAt = new Date(NEWEST - Math.floor(random() * 730 * DAY_MS));
    let ratingSum = 0;
    let reviewCount = 0;
    if (random() < 0.3) {
      const quality = 1 + random() * 4;
      const count = 1 + Math.floor(random() * 6);
      const start = Math.floor(random() * reviewers.length);
      for (let r = 0; r < count; r++) {
        const rating = Math.min(5, Math.max(1, Math.round(quality + (random() - 0.5) * 2)));
        reviews.push({
          reviewId: uuidFrom(random), productId, userId: reviewers[(start + r * 7) % reviewers.length]!, rating,
          title: rating >= 4 ? `Great ${noun}` : rating <= 2 ? `Disappointing ${noun}` : `Decent ${noun}`,
          createdAt: new Date(createdAt.getTime() + Math.floor(random() * 30 * DAY_MS)),
        });
        ratingSum += rating;
        reviewCount++;
      }
    }
    products.push({
      productId, sellerId: pick(sellers), name, description, priceCents, currency: 'USD', category, attributes, createdAt,
      ratingSum, reviewCount,
    });
  }
  return { sellers, reviewers, products, reviews };
}

const SEED_LOCK = 4_711_101;

/**
 * Loads the catalog into Postgres unless it is there already; returns it either way.
 * Seeded products have no Redis counters (available 0) and no ledger rows.
 */
export async function seedCatalog(databaseUrl: string, size: number = SEED.products): Promise<SeedCatalog & { seededNow: boolean; ms: number }> {
  const started = Date.now();
  const catalog = generateCatalog(size);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    const seededNow = await withTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [SEED_LOCK]);
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM products WHERE seller_id = ANY($1::uuid[])', [catalog.sellers]);
      if (rows[0]!.n === size) return false;
      if (rows[0]!.n !== 0) throw new Error(`a different catalog (${rows[0]!.n} products) is seeded already`);
      const users = (ids: string[], role: string, label: string): CopyValue[][] =>
        ids.map((id, i) => [id, `${label.replace(' ', '-').toLowerCase()}-${i}@seed.local`, `${label} ${i}`, 'disabled', role]);
      await copyRows(client, 'users', [...users(catalog.sellers, 'seller', 'Seed seller'), ...users(catalog.reviewers, 'customer', 'Seed reviewer')],
        ['user_id', 'email', 'name', 'password_hash', 'role']);
      // Building the secondary indexes once after the load is much faster than growing them row by row
      // (above all the GIN ones). The definitions are read from the database, so they come back exactly.
      const { rows: indexes } = await client.query<{ name: string; def: string }>(
        `SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def FROM pg_index
          WHERE indrelid = 'products'::regclass AND NOT indisunique`);
      for (const index of indexes) await client.query(`DROP INDEX ${index.name}`);
      await copyRows(client, 'products', productRows(catalog.products),
        ['product_id', 'seller_id', 'name', 'description', 'price_cents', 'currency', 'category', 'attributes', 'created_at', 'updated_at',
          'rating_sum', 'review_count']);
      await client.query("SET LOCAL maintenance_work_mem = '256MB'");
      for (const index of indexes) await client.query(index.def);
      // The reviews refer to the products and users just copied: their per-row foreign-key
      // checks would cost more than the copy itself, so they are off for this one COPY.
      await client.query('SET LOCAL session_replication_role = replica');
      await copyRows(client, 'reviews', reviewRows(catalog.reviews),
        ['review_id', 'product_id', 'user_id', 'rating', 'title', 'body', 'created_at']);
      await client.query('SET LOCAL session_replication_role = origin');
      return true;
    });
    if (seededNow) await pool.query('ANALYZE products');
    return { ...catalog, seededNow, ms: Date.now() - started };
  } finally {
    await pool.end();
  }
}

function* productRows(products: SeedProduct[]): Generator<CopyValue[]> {
  for (const p of products) {
    const at = p.createdAt.toISOString();
    yield [p.productId, p.sellerId, p.name, p.description, p.priceCents, p.currency, p.category, JSON.stringify(p.attributes), at, at,
      p.ratingSum, p.reviewCount];
  }
}

function* reviewRows(reviews: SeedReview[]): Generator<CopyValue[]> {
  for (const r of reviews) yield [r.reviewId, r.productId, r.userId, r.rating, r.title, '', r.createdAt.toISOString()];
}

/**
 * Removes a seeded catalog (its reviews, products and users), leaving the database as it
 * was. When no other row refers to a seeded product (checked set-wise, table by table),
 * the per-row foreign-key checks of the delete are skipped: they would cost far more
 * than the delete itself.
 */
export async function unseedCatalog(databaseUrl: string, catalog: SeedCatalog): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    await withTransaction(pool, async (client) => {
      await client.query(
        `DELETE FROM reviews WHERE user_id = ANY($1::uuid[])
            OR product_id IN (SELECT product_id FROM products WHERE seller_id = ANY($2::uuid[]))`, [catalog.reviewers, catalog.sellers]);
      const { rows: references } = await client.query<{ tbl: string; col: string }>(
        `SELECT c.conrelid::regclass::text AS tbl, a.attname AS col
           FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
          WHERE c.contype = 'f' AND c.confrelid IN ('products'::regclass, 'users'::regclass)`);
      let referenced = false;
      for (const { tbl, col } of references) {
        const { rowCount } = await client.query(
          `SELECT 1 FROM ${tbl} t WHERE t.${col} IN (SELECT product_id FROM products WHERE seller_id = ANY($1::uuid[])) OR t.${col} = ANY($2::uuid[]) LIMIT 1`,
          [catalog.sellers, [...catalog.sellers, ...catalog.reviewers]]);
        referenced ||= Boolean(rowCount) && tbl !== 'products';
      }
      if (!referenced) await client.query('SET LOCAL session_replication_role = replica');
      await client.query('DELETE FROM products WHERE seller_id = ANY($1::uuid[])', [catalog.sellers]);
      await client.query('DELETE FROM users WHERE user_id = ANY($1::uuid[])', [[...catalog.sellers, ...catalog.reviewers]]);
    });
  } finally {
    await pool.end();
  }
}

export interface NewProduct {
  name: string; description?: string; priceCents?: number; currency?: string; stock?: number; category?: string;
  attributes?: Record<string, unknown>;
}

/** Creates a product through the API (POST /v1/products) and returns its id. */
export async function createProductVia(api: Api, token: string, product: NewProduct): Promise<string> {
  const res = await api.request<{ productId: string }>('POST', '/v1/products', {
    token, body: { description: '', priceCents: 1_999, stock: 10, category: 'catalog-test', ...product },
  });
  if (res.status !== 201) throw new Error(`create product: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.productId;
}
