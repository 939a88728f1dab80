/** Home: the flash sales live now (remaining stock and countdown, refreshed every second), upcoming ones, new products. */
import { api } from '../api';
import { money } from '../format';
import { useLoad, useTitle } from '../hooks';
import { listSales, productOnce } from '../sales';
import { SaleFigures } from '../sale-figures';
import { Alert, Loading, ProductCard, mediaUrl } from '../ui';
import type { FlashSale, Product, SearchPage } from '../types';

interface SaleWithProduct { sale: FlashSale; product: Product | null }

/** Sales with their products' names and pictures (each product fetched once), so every card renders whole at once. */
async function salesWithProducts(status: 'live' | 'upcoming', signal: AbortSignal): Promise<SaleWithProduct[]> {
  const sales = await listSales(status, signal);
  return Promise.all(sales.map(async (sale) => ({ sale, product: await productOnce(sale.productId).catch(() => null) })));
}

function SaleCard({ sale, product, eager }: SaleWithProduct & { eager: boolean }) {
  const image = product?.images[0];
  const name = product?.name ?? 'Flash sale';
  return (
    <li class="card sale-card" aria-labelledby={`sale-${sale.flashSaleId}-name`}>
      <a href={`/p/${sale.productId}`} class="card-link">
        {image
          ? <img src={mediaUrl(image)} alt="" width={320} height={240} loading={eager ? 'eager' : 'lazy'} decoding="async" />
          : <span class="placeholder" aria-hidden="true">{name.slice(0, 1)}</span>}
        <span class="card-name" id={`sale-${sale.flashSaleId}-name`}>{name}</span>
      </a>
      <p class="price">
        <span class="sale-price">{money(sale.priceCents, product?.currency)}</span>{' '}
        {product && product.priceCents > sale.priceCents && <s class="was"><span class="visually-hidden">was </span>{money(product.priceCents, product.currency)}</s>}
      </p>
      <SaleFigures sale={sale} idPrefix={`sale-${sale.flashSaleId}`} />
    </li>
  );
}

function SaleList({ sales, empty }: { sales: SaleWithProduct[]; empty: string }) {
  if (sales.length === 0) return <p class="muted">{empty}</p>;
  return <ul class="grid">{sales.map((s, i) => <SaleCard key={s.sale.flashSaleId} {...s} eager={i < 2} />)}</ul>;
}

export function HomePage() {
  useTitle('');
  const [live] = useLoad((signal) => salesWithProducts('live', signal), [], 1000);
  const [upcoming] = useLoad((signal) => salesWithProducts('upcoming', signal), [], 5000);
  const [fresh] = useLoad((signal) => api<SearchPage>('GET', '/v1/products?sort=newest&limit=8', { signal }), []);
  // The page appears whole once its first answers are in: nothing moves under the shopper's eyes (no layout shift).
  if (live.state === 'loading' || upcoming.state === 'loading' || fresh.state === 'loading') return <Loading what="the shop" />;
  return (
    <>
      <section aria-labelledby="live-title">
        <h1 id="live-title">Flash sales live now</h1>
        {live.state === 'error' && <Alert>The flash sales could not be loaded. They will show as soon as the shop answers.</Alert>}
        {live.state === 'ok' && <SaleList sales={live.value} empty="No flash sale is running right now." />}
      </section>
      {upcoming.state === 'ok' && upcoming.value.length > 0 && (
        <section aria-labelledby="upcoming-title">
          <h2 id="upcoming-title">Coming up</h2>
          <SaleList sales={upcoming.value} empty="" />
        </section>
      )}
      {fresh.state === 'ok' && (
        <section aria-labelledby="new-title">
          <h2 id="new-title">New in the shop</h2>
          <ul class="grid">{fresh.value.products.map((p) => <ProductCard key={p.productId} product={p} />)}</ul>
        </section>
      )}
    </>
  );
}
