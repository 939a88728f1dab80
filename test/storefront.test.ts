/**
 * The storefront in real Chromium (playwright-core, /usr/bin/chromium) against the real
 * edge, Redis, Kafka, order writer, reconciler, payment settler, payment sandbox and
 * Postgres: the shopper's path from search to a confirmed order, "Buy now" under a flash
 * sale (sold out, the per-buyer limit, a 503 retried with the same Idempotency-Key), a
 * double click on "Place order", a seller's resumable upload (through a several-second
 * outage, and through a reload), a video on the product page, live polls on a fixed
 * cadence, the pages' headers, an axe-core check of each page and screenshots at
 * 1280×800 and 375×812 (artifacts/storefront/).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { ADDRESS } from './support/api.js';
import { eventually, startStack, type Stack } from './support/stack.js';
import { freePort, startReady, type RunningProcess } from './support/processes.js';
import { launchChromium, noisePng, screenshots, seriousViolations, DESKTOP, type AxeViolation } from './support/browser.js';
import { COUNTERS_READY_KEY, REBUILD_LOCK_KEY } from '../common/keys.js';
import { contentSecurityPolicy } from '../edge/routes/storefront.js';

/** A real VP8 WebM (64×48, ten frames), recorded once from a canvas with Chromium's MediaRecorder. */
const CLIP = readFileSync(new URL('./fixtures/clip.webm', import.meta.url));

let stack: Stack;
let sandbox: RunningProcess;
let browser: Browser;
let base: string;
const contexts: BrowserContext[] = [];
/** Console errors of every page (a CSP violation shows up here). */
const consoleErrors: string[] = [];
/** axe-core findings per page, checked at the end of each flow. */
const axeFindings = new Map<string, AxeViolation[]>();

const PASSWORD = 'password-123';
const WORD = `lumen${randomUUID().slice(0, 6)}`;

beforeAll(async () => {
  const port = await freePort();
  Object.assign(process.env, {
    STRIPE_SECRET_KEY: 'sk_test_sandbox', STRIPE_WEBHOOK_SECRET: 'whsec_test_storefront_0123456789',
    STRIPE_API_BASE: `http://127.0.0.1:${port}`, PAYMENT_TIMEOUT_MS: '2000',
  });
  sandbox = await startReady('payment-sandbox', { SANDBOX_PORT: String(port), SANDBOX_LATENCY_MS: '0' });
  [stack, browser] = await Promise.all([startStack({ with: ['payment-settler'] }), launchChromium()]);
  base = stack.api.baseUrl;
});

afterAll(async () => {
  await Promise.allSettled(contexts.map((c) => c.close()));
  await browser?.close();
  await stack?.stop();
  await sandbox?.kill('SIGTERM');
});

/* ------------------------------------------------------------------ helpers */

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: DESKTOP, baseURL: base });
  context.setDefaultTimeout(20_000);
  contexts.push(context);
  const page = await context.newPage();
  // Refused requests (4xx, 503) and the test's own cut connection are expected; anything else (a CSP refusal, a script error) is not.
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  return page;
}

/** axe-core on the page as it stands, and its screenshots. */
async function audit(page: Page, name: string): Promise<void> {
  axeFindings.set(name, await seriousViolations(page));
  await screenshots(page, name);
}

async function newUser(role: 'customer' | 'seller' = 'customer'): Promise<{ email: string; userId: string; token: string }> {
  const email = `sf-${randomUUID()}@test.local`;
  const reg = await stack.api.request<{ userId: string }>('POST', '/v1/users/register', { body: { name: 'Shopper', email, password: PASSWORD, role } });
  expect(reg.status).toBe(201);
  const { token, userId } = await stack.api.login(email, PASSWORD);
  return { email, userId, token };
}

async function createProduct(fields: { name: string; priceCents: number; stock: number; category: string; description?: string }): Promise<string> {
  const res = await stack.api.request<{ productId: string }>('POST', '/v1/products', { token: stack.adminToken, body: { description: '', ...fields } });
  expect(res.status).toBe(201);
  return res.body.productId;
}

async function logIn(page: Page, email: string): Promise<void> {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

async function fillAddress(page: Page, address: Record<string, string> = ADDRESS): Promise<void> {
  await page.getByLabel('Name', { exact: true }).fill(address.name!);
  await page.getByLabel('Address line 1').fill(address.line1!);
  await page.getByLabel('City').fill(address.city!);
  await page.getByLabel('Postal code').fill(address.postalCode!);
  await page.getByLabel('Country').fill(address.country!);
}

async function ordersOf(userId: string): Promise<{ order_id: string; status: string }[]> {
  const { rows } = await stack.db.query<{ order_id: string; status: string }>('SELECT order_id, status FROM orders WHERE user_id = $1', [userId]);
  return rows;
}

/** The edge serves, at a page's media URL, exactly the bytes that were uploaded. */
async function expectServed(src: string | null, bytes: Buffer, contentType: string): Promise<void> {
  const served = await fetch(new URL(src ?? '', base));
  expect(served.status).toBe(200);
  expect(served.headers.get('content-type')).toBe(contentType);
  const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
  expect(sha256(Buffer.from(await served.arrayBuffer()))).toBe(sha256(bytes));
}

/** From the seller page's "uploaded" note to the product page, which shows the uploaded 900×900 PNG as its one picture. */
async function seeOnProductPage(page: Page, name: string, png: Buffer): Promise<void> {
  await page.getByRole('link', { name: 'See it on the product page' }).click();
  await page.getByRole('heading', { name, level: 1 }).waitFor();
  const image = page.getByRole('img', { name: `${name}, picture 1 of 1` });
  await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(900);
  await expectServed(await image.getAttribute('src'), png, 'image/png');
}

/** The Idempotency-Key of every POST /v1/orders the page sends. */
function orderKeys(page: Page): string[] {
  const keys: string[] = [];
  page.on('request', (request: Request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/v1/orders') keys.push(request.headers()['idempotency-key'] ?? '');
  });
  return keys;
}

/* -------------------------------------------------------------------- tests */

describe('storefront served by the edge', () => {
  it('serves the pages and hashed assets with their caching and security headers, next to the API', async () => {
    const html = await fetch(`${base}/`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('cache-control')).toBe('no-cache');
    const csp = html.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("media-src 'self' blob:");
    expect(contentSecurityPolicy('https://media.example')).toMatch(/img-src [^;]*https:\/\/media\.example;.*media-src [^;]*https:\/\/media\.example;/);
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    expect(html.headers.get('x-frame-options')).toBe('DENY');
    const text = await html.text();
    expect(text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    const scripts = [...text.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(scripts.some((s) => /\/assets\/index-[\w-]{6,}\.js$/.test(s))).toBe(true);

    for (const path of scripts) {
      const asset = await fetch(base + path, { headers: { 'accept-encoding': 'gzip' } });
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(asset.headers.get('content-encoding')).toBe('gzip');
    }
    // Client routes answer the same page; other paths keep their own answers.
    for (const path of ['/p/00000000-0000-0000-0000-000000000000', '/cart', '/checkout', '/orders/x', '/seller', '/login', '/search?q=x']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(200);
      expect(await res.text(), path).toBe(text);
    }
    const expectations: [string, number, RegExp][] = [
      ['/v1/products?limit=1', 200, /^application\/json/], ['/healthz', 200, /json/], ['/readyz', 200, /json/],
      ['/openapi.json', 200, /json/], ['/docs', 200, /^text\/html/], ['/ops', 200, /^text\/html/], ['/metrics', 200, /^text\/plain/],
      ['/assets/missing.js', 404, /problem\+json/], ['/no-such-page', 404, /problem\+json/],
    ];
    for (const [path, status, type] of expectations) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(status);
      expect(res.headers.get('content-type'), path).toMatch(type);
    }
  });
});

describe('shopping', () => {
  it('search → product → add to cart as a guest (keyboard) → log in, cart merged → checkout with an API field error → order confirmed live', async () => {
    const name = `Desk lamp ${WORD}`;
    const productId = await createProduct({ name, priceCents: 2_450, stock: 20, category: 'lighting', description: `A warm ${WORD} lamp.` });
    await createProduct({ name: `Floor lamp ${WORD}`, priceCents: 8_900, stock: 5, category: 'lighting' });
    await Promise.all(Array.from({ length: 12 }, (_, i) => createProduct({ name: `Bulb ${WORD} ${i + 1}`, priceCents: 300 + i, stock: 5, category: 'bulbs' })));
    const buyer = await newUser();
    const page = await newPage();

    await page.goto('/');
    await page.getByRole('heading', { name: 'Flash sales live now' }).waitFor();
    await audit(page, 'home');
    await page.getByRole('searchbox', { name: 'Search' }).fill(WORD);
    await page.getByRole('searchbox', { name: 'Search' }).press('Enter');
    await page.getByRole('status').filter({ hasText: '14 products' }).waitFor();
    expect(page.url()).toContain(`/search?q=${WORD}`);
    // Sort by price, highest first: the floor lamp leads; 12 a page, so a second page holds the last two.
    await page.getByLabel('Sort by').selectOption('price_desc');
    await expect.poll(() => page.locator('.card-name').first().textContent()).toBe(`Floor lamp ${WORD}`);
    expect(await page.locator('.card-name').count()).toBe(12);
    await audit(page, 'search');
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.getByText('Page 2 of 2').waitFor();
    expect(await page.locator('.card-name').count()).toBe(2);
    expect(new URL(page.url()).searchParams.get('sort')).toBe('price_desc');
    // The category facet narrows the results to the two lamps.
    await page.getByRole('complementary', { name: 'Filters' }).getByRole('link', { name: /^lighting/ }).click();
    await page.getByRole('status').filter({ hasText: '2 products' }).waitFor();

    await page.getByRole('link', { name }).click();
    await page.getByRole('heading', { name, level: 1 }).waitFor();
    await page.getByText('Available: 20').waitFor();
    await audit(page, 'product');
    // Keyboard only: Tab to "Add to cart" and press Enter.
    await page.locator('body').focus();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent === 'Add to cart');
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    await page.getByText('Added 1 to your cart.').waitFor();
    expect(await page.getByRole('link', { name: 'Cart', exact: true }).getAttribute('href')).toBe('/cart');
    await page.getByRole('link', { name: 'Cart', exact: true }).click();
    await page.getByRole('link', { name }).waitFor();
    await audit(page, 'cart-guest');

    await page.getByRole('button', { name: 'Checkout' }).click();
    await page.waitForURL(/\/login\?next=%2Fcheckout/);
    await audit(page, 'login');
    await logIn(page, buyer.email);
    await page.waitForURL(/\/checkout$/);
    await page.getByRole('heading', { name: 'Checkout' }).waitFor();
    // The guest cart was merged into the saved one.
    await page.getByText(`1 × ${name}`).waitFor();
    const saved = await stack.api.request<{ cart: { items: { productId: string; quantity: number }[] } }>('GET', `/v1/cart/${buyer.userId}`, { token: buyer.token });
    expect(saved.body.cart.items).toEqual([expect.objectContaining({ productId, quantity: 1 })]);

    // A country the API refuses: its problem+json error shows next to the Country field.
    await fillAddress(page, { ...ADDRESS, country: 'USA' });
    await page.getByRole('button', { name: 'Place order' }).click();
    const country = page.getByLabel('Country');
    await expect.poll(() => country.getAttribute('aria-invalid')).toBe('true');
    const describedBy = (await country.getAttribute('aria-describedby')) ?? '';
    const fieldError = page.locator(`#${describedBy.split(' ').find((id) => id.endsWith('-error'))}`);
    expect(await fieldError.textContent()).toMatch(/pattern|must/);
    expect(await ordersOf(buyer.userId)).toEqual([]);
    await audit(page, 'checkout-errors');

    await country.fill('US');
    await page.getByRole('radio', { name: /Mastercard/ }).check();
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.waitForURL(/\/orders\/[0-9a-f-]{36}\?placed=1$/);
    const orderId = new URL(page.url()).pathname.split('/').pop()!;
    expect(await page.getByTestId('order-id').textContent()).toBe(orderId);
    // The page follows the order live until the settler confirms it.
    await page.locator('[data-testid="order-status"][data-status="confirmed"]').waitFor({ timeout: 30_000 });
    await page.getByTestId('order-history').getByText('Confirmed').waitFor();
    expect(await page.getByTestId('order-history').locator('li').count()).toBe(4);
    await audit(page, 'order-confirmed');
    expect(await ordersOf(buyer.userId)).toEqual([{ order_id: orderId, status: 'confirmed' }]);
    expect(await page.getByRole('link', { name: 'Cart', exact: true }).getAttribute('aria-describedby')).toBe('cart-count');
    expect(await page.locator('#cart-count').textContent()).toMatch(/^0/);

    await page.getByRole('link', { name: 'My orders', exact: true }).click();
    await page.getByRole('link', { name: orderId.slice(0, 8) }).waitFor();
    await audit(page, 'my-orders');

    // A review of what was bought: posted through the form, listed as a verified purchase.
    await page.goto(`/p/${productId}`);
    await page.getByLabel('Rating').selectOption('4');
    await page.getByLabel('Title').fill('Warm light');
    await page.getByRole('textbox', { name: /^Review/ }).fill('Just right for reading.');
    await page.getByRole('button', { name: 'Post review' }).click();
    await page.getByText('Thank you: your review is posted.').waitFor();
    await page.getByRole('listitem').filter({ hasText: 'Warm light' }).getByText('verified purchase').waitFor();
  });

  it('a double click on "Place order" makes one order, sent under one Idempotency-Key', async () => {
    const productId = await createProduct({ name: `Mug ${WORD}`, priceCents: 1_200, stock: 10, category: 'kitchen' });
    const buyer = await newUser();
    expect((await stack.api.request('POST', '/v1/cart', { token: buyer.token, body: { productId, quantity: 2 } })).status).toBe(200);
    const page = await newPage();
    const keys = orderKeys(page);
    await page.goto('/login?next=%2Fcart');
    await logIn(page, buyer.email);
    await page.getByRole('link', { name: `Mug ${WORD}` }).waitFor();
    await audit(page, 'cart-signed-in');
    await page.getByRole('button', { name: 'Checkout' }).click();
    await page.getByText(`2 × Mug ${WORD}`).waitFor();
    await fillAddress(page);
    await page.getByRole('button', { name: 'Place order' }).dblclick();
    await page.waitForURL(/\/orders\/[0-9a-f-]{36}/);
    await page.locator('[data-testid="order-status"][data-status="confirmed"]').waitFor({ timeout: 30_000 });
    const orders = await ordersOf(buyer.userId);
    expect(orders).toHaveLength(1);
    expect(keys.length).toBeGreaterThanOrEqual(1);
    expect(new Set(keys).size).toBe(1);
    const { rows } = await stack.db.query<{ n: number }>('SELECT sum(quantity)::int AS n FROM order_items WHERE product_id = $1', [productId]);
    expect(rows[0]!.n).toBe(2);
  });

  it('live sales refresh on a fixed one-second cadence whatever the round trip; a path no page has says "Page not found"', async () => {
    const page = await newPage();
    // Each answer takes 600 ms: polls that waited for the previous answer would start every 1.6 s.
    const started: number[] = [];
    await page.route('**/v1/flash-sales?status=live*', async (route) => {
      started.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, 600));
      await route.continue().catch(() => undefined);
    });
    await page.goto('/');
    await page.getByRole('heading', { name: 'Flash sales live now' }).waitFor();
    await eventually(async () => started.length >= 7, 15_000, 'seven polls');
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    const gaps = started.slice(1, 7).map((at, i) => at - started[i]!).sort((a, b) => a - b);
    const median = (gaps[2]! + gaps[3]!) / 2;
    expect(median, JSON.stringify(gaps)).toBeGreaterThan(800);
    expect(median, JSON.stringify(gaps)).toBeLessThan(1_400);

    // A client route the router does not know (the edge answers unknown paths itself, with a 404 problem).
    await page.evaluate(() => {
      history.pushState(null, '', '/p/nowhere/at-all');
      dispatchEvent(new PopStateEvent('popstate'));
    });
    await page.getByRole('heading', { name: 'Page not found', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Back to the shop' }).waitFor();
    await audit(page, 'not-found');
  });
});

describe('flash sale', () => {
  it('"Buy now" until the sale sells out: live remaining units, then "Sold out" at once; the per-buyer limit is told plainly', async () => {
    const productId = await createProduct({ name: `Headphones ${WORD}`, priceCents: 19_900, stock: 50, category: 'audio' });
    await stack.api.createSale(stack.adminToken, productId, 3, 3);
    const limited = await createProduct({ name: `Speaker ${WORD}`, priceCents: 5_900, stock: 50, category: 'audio' });
    await stack.api.createSale(stack.adminToken, limited, 10, 1);
    const buyer = await newUser();
    const page = await newPage();
    const keys = orderKeys(page);

    // Home shows the sale with its units left, refreshed live, and a countdown on the server's clock:
    // this browser's clock is two hours fast, yet the hour-long sale still shows about 59 minutes to go.
    const fast = await newPage();
    await fast.clock.setSystemTime(new Date(Date.now() + 2 * 3_600_000));
    await fast.goto('/');
    const card = fast.getByRole('listitem').filter({ has: fast.getByText(`Headphones ${WORD}`) });
    await card.getByText('3 of 3 left').waitFor();
    expect(await card.getByTestId('countdown').textContent()).toMatch(/^5\d:\d{2}$/);

    await page.goto(`/p/${productId}`);
    await page.getByRole('button', { name: 'Buy now' }).click();
    await page.waitForURL(/\/login\?next=/);
    await logIn(page, buyer.email);
    await page.waitForURL(new RegExp(`/p/${productId}$`));
    await fillAddress(page);
    await audit(page, 'product-flash-sale');
    const buyOne = async () => {
      await page.getByRole('button', { name: 'Buy now' }).click();
      await page.getByText('Order placed.').waitFor();
      await page.getByRole('button', { name: 'Buy again' }).click();
    };
    await buyOne();
    await page.getByText('2 of 3 left').waitFor({ timeout: 5_000 }); // the remaining units follow within a second
    await buyOne();
    await page.getByText('1 of 3 left').waitFor({ timeout: 5_000 });

    // A second buyer's page shows the last unit; its sale figures stop refreshing (held on the way), so only
    // the refusal can tell it the sale is over.
    const late = await newUser();
    const other = await newPage();
    await other.goto('/login');
    await logIn(other, late.email);
    await other.goto(`/p/${productId}`);
    await fillAddress(other);
    await other.getByText('1 of 3 left').waitFor();
    let held!: () => void;
    const refreshHeld = new Promise<void>((resolve) => { held = resolve; });
    await other.route('**/v1/flash-sales/**', async (route) => {
      held();
      await new Promise((resolve) => setTimeout(resolve, 8_000));
      await route.continue().catch(() => undefined);
    });
    // Once a refresh is held, none answered before the last unit sells can tell this page.
    await refreshHeld;

    await buyOne(); // the last unit
    await page.getByText('Sold out').first().waitFor({ timeout: 5_000 });
    expect(await page.getByRole('button', { name: 'Buy now' }).isDisabled()).toBe(true);
    await audit(page, 'product-sold-out');
    expect(new Set(keys).size).toBe(3);
    expect(await ordersOf(buyer.userId).then((o) => o.length)).toBe(3);

    const told = Date.now();
    await other.getByRole('button', { name: 'Buy now' }).click();
    await other.getByRole('alert').filter({ hasText: 'Sold out: every unit has been sold.' }).waitFor({ timeout: 4_000 });
    expect(Date.now() - told).toBeLessThan(4_000);
    expect(await other.getByRole('button', { name: 'Buy now' }).isDisabled()).toBe(true);
    await other.unrouteAll({ behavior: 'ignoreErrors' });
    expect(await ordersOf(late.userId)).toEqual([]);
    const { rows } = await stack.db.query<{ n: number }>(
      `SELECT coalesce(sum(i.quantity), 0)::int AS n FROM order_items i JOIN orders o USING (order_id)
        WHERE i.product_id = $1 AND o.status NOT IN ('failed', 'cancelled', 'expired')`, [productId]);
    expect(rows[0]!.n).toBe(3);

    // The per-buyer limit: a second purchase past it is refused and told plainly.
    await other.goto(`/p/${limited}`);
    await fillAddress(other); // nothing was remembered: no order went through yet
    await other.getByRole('button', { name: 'Buy now' }).click();
    await other.getByText('Order placed.').waitFor();
    await other.getByRole('button', { name: 'Buy again' }).click();
    await other.getByRole('button', { name: 'Buy now' }).click();
    await other.getByRole('alert').filter({ hasText: 'Limit reached: this sale allows 1 per customer' }).waitFor();
    await audit(other, 'product-limit-reached');
    expect(await ordersOf(late.userId).then((o) => o.length)).toBe(1);
  });

  it('a 503 is retried after its Retry-After with the same Idempotency-Key while the page says demand is high, through a reload: one order', async () => {
    const productId = await createProduct({ name: `Console ${WORD}`, priceCents: 29_900, stock: 10, category: 'games' });
    await stack.api.createSale(stack.adminToken, productId, 5, 2);
    const [buyer, prober] = await Promise.all([newUser(), newUser()]);
    const page = await newPage();
    const keys = orderKeys(page);
    await page.goto('/login');
    await logIn(page, buyer.email);
    await page.goto(`/p/${productId}`);
    await fillAddress(page);
    await page.getByRole('button', { name: 'Buy now' }).waitFor();

    // The counters "being rebuilt": the edge answers orders 503 with Retry-After (the lock keeps the reconciler off).
    await stack.redis.set(REBUILD_LOCK_KEY, 'storefront-test', 'PX', 60_000);
    await stack.redis.del(COUNTERS_READY_KEY);
    try {
      await eventually(async () => (await stack.api.order(prober.token, productId, 1)).status === 503, 10_000, 'orders answered 503');
      await page.getByRole('button', { name: 'Buy now' }).click();
      await page.getByTestId('buy-status').filter({ hasText: 'Demand is high' }).waitFor();
      await eventually(async () => keys.length >= 2, 10_000, 'a retry');
      // A reload in the middle of the attempt picks it up again: same key, same order.
      await page.reload();
      await page.getByTestId('buy-status').filter({ hasText: 'Demand is high' }).waitFor();
    } finally {
      await stack.redis.set(COUNTERS_READY_KEY, new Date().toISOString());
      await stack.redis.del(REBUILD_LOCK_KEY);
    }
    await page.getByText('Order placed.').waitFor({ timeout: 15_000 });
    expect(new Set(keys).size).toBe(1);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    await eventually(async () => (await ordersOf(buyer.userId)).length === 1, 15_000, 'the order persisted');
    expect(await ordersOf(buyer.userId)).toHaveLength(1);
  });
});

describe('seller', () => {
  it('registers, creates a product, uploads an image in resumable chunks with a progress bar (through a 3 s outage that cuts chunks and status reads alike), and sees it on the product page', async () => {
    const page = await newPage();
    const email = `seller-${randomUUID()}@test.local`;
    await page.goto('/register');
    await page.getByLabel('Name').fill('Sam Seller');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByLabel('I want to sell on this shop').check();
    await audit(page, 'register');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.waitForURL(/\/seller$/);
    await page.getByRole('heading', { name: 'Your products' }).waitFor();

    const name = `Poster ${WORD}`;
    await page.getByLabel('Product name').fill(name);
    await page.getByLabel('Price (USD)').fill('abc');
    await page.getByLabel('Stock', { exact: true }).fill('7');
    await page.getByLabel('Category').fill('art');
    await page.getByRole('button', { name: 'Create product' }).click();
    await expect.poll(() => page.getByLabel('Price (USD)').getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel('Price (USD)').fill('12.50');
    await page.getByRole('button', { name: 'Create product' }).click();
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name }) });
    await row.getByText('7 available of 7').waitFor();
    await row.getByRole('list', { name: 'Stock per warehouse' }).waitFor();
    await audit(page, 'seller');

    // A 2.4 MB picture in 1 MiB chunks. On the second chunk the connection goes down for 3 s: every
    // chunk and every status read in that time is cut, and the upload still completes.
    const png = noisePng(900, 900, 7);
    let downUntil = 0;
    const cut: string[] = [];
    const puts: string[] = [];
    await page.route('**/v1/media/*/upload*', async (route) => {
      const method = route.request().method();
      const range = route.request().headers()['content-range'] ?? '';
      if (method === 'PUT') puts.push(range);
      if (method === 'PUT' && !range.startsWith('bytes 0-') && downUntil === 0) downUntil = Date.now() + 3_000;
      if (Date.now() < downUntil) {
        cut.push(`${method} ${range}`);
        await route.abort('internetdisconnected');
        return;
      }
      await route.continue();
    });
    await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'poster.png', mimeType: 'image/png', buffer: png });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('progressbar', { name: 'Upload progress' }).waitFor();
    await page.getByTestId('upload-note').filter({ hasText: /^Connection lost, retrying in \d+ s$/ }).waitFor();
    await page.getByRole('link', { name: 'See it on the product page' }).waitFor({ timeout: 30_000 });
    const total = png.length;
    expect(puts[0]).toBe(`bytes 0-1048575/${total}`);
    expect(cut[0]).toBe(`PUT bytes 1048576-2097151/${total}`);
    expect(cut.filter((c) => c.startsWith('GET')).length, JSON.stringify(cut)).toBeGreaterThanOrEqual(2); // the status read was retried too
    // Cut once, then resumed from the same offset; nothing was sent twice from byte 0.
    expect(puts.filter((r) => r.startsWith('bytes 1048576-')), JSON.stringify(puts)).toHaveLength(2);
    expect(puts.filter((r) => r.startsWith('bytes 0-'))).toHaveLength(1);
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await audit(page, 'seller-uploaded');

    await seeOnProductPage(page, name, png);
    await audit(page, 'product-with-media');
  });

  it("resumes an upload cut by a reload from the server's offset once the same file is chosen again, and shows an uploaded WebM as a video on the product page", async () => {
    const seller = await newUser('seller');
    const name = `Lamp film ${WORD}`;
    const created = await stack.api.request<{ productId: string }>('POST', '/v1/products', {
      token: seller.token, body: { name, description: '', priceCents: 4_500, stock: 3, category: 'lighting' },
    });
    expect(created.status).toBe(201);
    const { productId } = created.body;
    // Files on disk, as a seller picks them: chosen again, a file has the same name, size and last-modified time.
    const dir = mkdtempSync(join(tmpdir(), 'sf-upload-'));
    const png = noisePng(900, 900, 11);
    const [picture, clip] = [join(dir, 'lamp.png'), join(dir, 'lamp.webm')];
    writeFileSync(picture, png);
    writeFileSync(clip, CLIP);

    const page = await newPage();
    await page.goto('/login?next=%2Fseller');
    await logIn(page, seller.email);
    await page.getByRole('heading', { name: 'Your products' }).waitFor();
    // The first chunk lands; the second is still under way (held, never reaching the edge) when the page is reloaded.
    let underWay!: () => void;
    let reloaded!: () => void;
    const secondChunk = new Promise<void>((resolve) => { underWay = resolve; });
    const afterReload = new Promise<void>((resolve) => { reloaded = resolve; });
    await page.route('**/v1/media/*/upload*', async (route) => {
      if (route.request().method() === 'PUT' && !(route.request().headers()['content-range'] ?? '').startsWith('bytes 0-')) {
        underWay();
        await afterReload;
        await route.abort().catch(() => undefined);
        return;
      }
      await route.continue();
    });
    await page.getByLabel('File', { exact: true }).setInputFiles(picture);
    await page.getByRole('button', { name: 'Upload' }).click();
    await secondChunk;
    await page.reload();
    reloaded();
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await page.getByTestId('interrupted-uploads').filter({ hasText: 'lamp.png' }).waitFor();

    const puts: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'PUT' && request.url().includes('/upload')) puts.push(request.headers()['content-range'] ?? '');
    });
    await page.getByLabel('File', { exact: true }).setInputFiles(picture);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('link', { name: 'See it on the product page' }).waitFor({ timeout: 30_000 });
    expect(puts[0]).toBe(`bytes 1048576-2097151/${png.length}`); // from the server's offset, not from 0
    expect(puts.some((r) => r.startsWith('bytes 0-'))).toBe(false);
    expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('sf:upload:')))).toEqual([]); // done: forgotten

    // A video: previewed as one, listed among the product's media next to the one picture (the reload made no second medium).
    await page.getByLabel('File', { exact: true }).setInputFiles(clip);
    await page.getByRole('button', { name: 'Upload' }).click();
    const preview = page.getByLabel('The uploaded video');
    await preview.waitFor({ timeout: 30_000 });
    expect(await preview.evaluate((v) => v.tagName)).toBe('VIDEO');
    const media = await stack.api.request<{ media: { contentType: string; status: string }[] }>('GET', `/v1/products/${productId}/media`, { token: seller.token });
    expect(media.body.media.map((m) => `${m.contentType} ${m.status}`).sort()).toEqual(['image/png ready', 'video/webm ready']);
    await audit(page, 'seller-uploaded-video');

    await seeOnProductPage(page, name, png);
    const video = page.getByLabel('Product video 1');
    expect(await video.evaluate((v) => v.tagName)).toBe('VIDEO');
    expect(await video.getAttribute('preload')).toBe('metadata');
    expect(await video.getAttribute('controls')).not.toBeNull();
    // Chromium read the video's header: the served bytes are a playable WebM, allowed by the page's CSP.
    await expect.poll(() => video.evaluate((v: HTMLVideoElement) => (v.readyState >= 1 ? v.videoWidth : 0))).toBe(64);
    await expectServed(await video.getAttribute('src'), CLIP, 'video/webm');
    await audit(page, 'product-with-video');
  });
});

describe('every page', () => {
  it('has no serious or critical axe-core violation, and no console error (CSP included)', () => {
    expect([...axeFindings.keys()].length).toBeGreaterThanOrEqual(19);
    const serious = [...axeFindings].filter(([, v]) => v.length > 0).map(([page, v]) => ({ page, violations: v }));
    expect(serious).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
