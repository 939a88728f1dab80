/**
 * Seeds the demo through the public API: a small catalog and one live flash sale.
 * Runs at every `npm start`; when no flash sale is live, it creates the demo
 * catalog and a sale on its first product.
 */
const base = `http://127.0.0.1:${process.env.PORT ?? 8080}`;

async function call<T>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function waitForEdge(): Promise<void> {
  for (let i = 0; i < 120; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the edge at ${base} did not become ready`);
}

const CATALOG = [
  { name: 'Noise-cancelling headphones', priceCents: 19_900, stock: 500, category: 'audio', description: 'The flash-sale star.' },
  { name: 'Mechanical keyboard', priceCents: 8_900, stock: 200, category: 'computers', description: 'Tactile switches, USB-C.' },
  { name: '4K monitor 27"', priceCents: 32_900, stock: 80, category: 'computers', description: 'IPS panel, 60 Hz.' },
  { name: 'Espresso machine', priceCents: 45_000, stock: 40, category: 'kitchen', description: '15 bar pump.' },
  { name: 'Trail running shoes', priceCents: 12_500, stock: 150, category: 'sports', description: 'Grippy and light.' },
];

async function main(): Promise<void> {
  await waitForEdge();
  const email = process.env.ADMIN_EMAIL;
  const password = process.env.ADMIN_PASSWORD;
  if (!email || !password) throw new Error('ADMIN_EMAIL and ADMIN_PASSWORD are needed to seed the demo');
  const login = await call<{ token: string }>('POST', '/v1/users/login', { email, password });
  if (login.status !== 200) throw new Error(`demo admin login failed (${login.status})`);
  const token = login.body.token;

  const live = await call<{ flashSales: unknown[] }>('GET', '/v1/flash-sales?status=live');
  if (live.body.flashSales.length > 0) {
    console.error(`[seed] a flash sale is live already; demo untouched`);
    return;
  }
  let headline: string | undefined;
  for (const product of CATALOG) {
    const created = await call<{ productId: string }>('POST', '/v1/products', product, token);
    if (created.status !== 201) throw new Error(`creating ${product.name} failed (${created.status})`);
    headline ??= created.body.productId;
  }
  const startsAt = new Date(Date.now() - 1_000);
  const endsAt = new Date(Date.now() + 24 * 3_600_000);
  const sale = await call<{ flashSaleId: string }>('POST', '/v1/flash-sales', {
    productId: headline, quantity: 100, perUserLimit: 2, priceCents: 9_900,
    startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString(),
  }, token);
  if (sale.status !== 201) throw new Error(`creating the demo flash sale failed (${sale.status})`);
  console.error(`[seed] demo catalog of ${CATALOG.length} products; flash sale ${sale.body.flashSaleId} live on product ${headline} (100 units, 2 per buyer)`);
}

main().catch((error: unknown) => {
  console.error(`[seed] ${(error as Error).message}`);
  process.exit(1);
});
