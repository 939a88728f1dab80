/**
 * Client-side routes: the address bar is the state (path and query), links move with
 * history.pushState, Back and Forward work, and every route is also a real URL the edge
 * answers with the same page (edge/routes/storefront.ts), so a reload lands in place.
 */
import { store } from './store';

export interface Location { path: string; query: URLSearchParams }

const read = (): Location => ({ path: window.location.pathname, query: new URLSearchParams(window.location.search) });

export const location = store<Location>(read());

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = new URL(to, window.location.href);
  if (url.origin !== window.location.origin) {
    window.location.assign(url.href);
    return;
  }
  if (options.replace) history.replaceState(null, '', url.pathname + url.search);
  else history.pushState(null, '', url.pathname + url.search);
  location.set(read());
  if (!options.replace) window.scrollTo(0, 0);
}

/** Same-origin links are followed in the page; modified clicks, downloads and other tabs are left alone. */
export function interceptLinks(): void {
  window.addEventListener('popstate', () => location.set(read()));
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.('a');
    if (!anchor || anchor.target || anchor.hasAttribute('download') || anchor.getAttribute('rel') === 'external') return;
    const url = new URL(anchor.href, window.location.href);
    if (url.origin !== window.location.origin || url.pathname.startsWith('/v1/') || url.pathname.startsWith('/media/')) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}

/** The page a path shows, with its parameters. */
export type Route =
  | { page: 'home' }
  | { page: 'search' }
  | { page: 'product'; productId: string }
  | { page: 'cart' }
  | { page: 'checkout' }
  | { page: 'login' }
  | { page: 'register' }
  | { page: 'orders' }
  | { page: 'order'; orderId: string }
  | { page: 'seller' }
  | { page: 'not-found' };

export function match(path: string): Route {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second] = parts;
  if (parts.length === 0) return { page: 'home' };
  if (parts.length === 1) {
    switch (first) {
      case 'search': return { page: 'search' };
      case 'cart': return { page: 'cart' };
      case 'checkout': return { page: 'checkout' };
      case 'login': return { page: 'login' };
      case 'register': return { page: 'register' };
      case 'orders': return { page: 'orders' };
      case 'seller': return { page: 'seller' };
    }
  }
  if (parts.length === 2 && first === 'p') return { page: 'product', productId: second! };
  if (parts.length === 2 && first === 'orders') return { page: 'order', orderId: second! };
  return { page: 'not-found' };
}

/** Where to go back to after logging in: a path of this site only. */
export function safeNext(query: URLSearchParams, fallback = '/'): string {
  const next = query.get('next') ?? '';
  return next.startsWith('/') && !next.startsWith('//') ? next : fallback;
}
