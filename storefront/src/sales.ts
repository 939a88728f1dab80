/** Flash sales as the pages read them: every answer also sets the server clock (clock.ts). */
import { api } from './api';
import { sampleServerTime } from './clock';
import type { FlashSale, Product } from './types';

async function timed<T extends { serverTime: string }>(path: string, signal?: AbortSignal): Promise<T> {
  const sentAt = Date.now();
  const answer = await api<T>('GET', path, { signal });
  sampleServerTime(answer.serverTime, sentAt, Date.now());
  return answer;
}

export async function listSales(status: 'live' | 'upcoming', signal?: AbortSignal): Promise<FlashSale[]> {
  return (await timed<{ flashSales: FlashSale[]; serverTime: string }>(`/v1/flash-sales?status=${status}`, signal)).flashSales;
}

export function getSale(flashSaleId: string, signal?: AbortSignal): Promise<FlashSale> {
  return timed<FlashSale>(`/v1/flash-sales/${encodeURIComponent(flashSaleId)}`, signal);
}

const products = new Map<string, Promise<Product>>();

/** A product's detail, fetched once per page load (names and images of sale cards). */
export function productOnce(productId: string): Promise<Product> {
  let found = products.get(productId);
  if (!found) {
    found = api<Product>('GET', `/v1/products/${encodeURIComponent(productId)}`);
    found.catch(() => products.delete(productId));
    products.set(productId, found);
  }
  return found;
}
