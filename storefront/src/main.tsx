/**
 * The storefront: one page app over the public API (API.md). The header (search, cart,
 * account) stays; the main area shows the page of the current path (router.ts). The
 * seller pages are a separate chunk, loaded only when visited.
 */
import { render, type ComponentType } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import './style.css';
import { session } from './api';
import { cartCount, refreshCount } from './cart';
import { interceptLinks, location, match, navigate, type Route } from './router';
import { useStore } from './store';
import { HomePage } from './pages/home';
import { SearchPage } from './pages/search';
import { ProductPage } from './pages/product';
import { CartPage } from './pages/cart';
import { CheckoutPage } from './pages/checkout';
import { LoginPage, RegisterPage } from './pages/account';
import { OrderPage, OrdersPage } from './pages/orders';
import { Loading } from './ui';

function Header() {
  const user = useStore(session);
  const count = useStore(cartCount);
  const { path, query } = useStore(location);
  const [q, setQ] = useState(path === '/search' ? query.get('q') ?? '' : '');
  useEffect(() => { if (path === '/search') setQ(query.get('q') ?? ''); }, [path, query]);
  const logOut = () => {
    session.set(null);
    refreshCount();
    navigate('/');
  };
  return (
    <header class="site-header">
      <a class="skip" href="#main">Skip to content</a>
      <div class="bar">
        <a class="brand" href="/">Flash Sale Shop</a>
        <form role="search" class="search" onSubmit={(e) => { e.preventDefault(); navigate(`/search?q=${encodeURIComponent(q.trim())}`); }}>
          <label for="search-box" class="visually-hidden">Search</label>
          <input id="search-box" type="search" name="q" value={q} placeholder="Search products" autoComplete="off"
            onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} />
          <button type="submit">Search</button>
        </form>
        <nav aria-label="Account" class="account">
          <a href="/cart" class="cart-link" aria-describedby="cart-count">Cart</a>
          <span id="cart-count" class="badge">{count}<span class="visually-hidden"> {count === 1 ? 'item' : 'items'} in your cart</span></span>
          {user && <a href="/orders">My orders</a>}
          {user && (user.role === 'seller' || user.role === 'admin') && <a href="/seller">Sell</a>}
          {user
            ? <button type="button" class="link-button" onClick={logOut}>Log out</button>
            : <a href={`/login?next=${encodeURIComponent(path === '/login' || path === '/register' ? '/' : path)}`}>Log in</a>}
        </nav>
      </div>
    </header>
  );
}

/** The seller pages, fetched on first visit (most shoppers never need their code). */
function SellerPage() {
  const [Page, setPage] = useState<ComponentType | null>(null);
  useEffect(() => {
    let live = true;
    void import('./pages/seller').then((m) => { if (live) setPage(() => m.SellerPage); });
    return () => { live = false; };
  }, []);
  return Page ? <Page /> : <Loading what="the seller pages" />;
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>There is nothing here. <a href="/">Back to the shop</a></p>
    </section>
  );
}

function pageOf(route: Route) {
  switch (route.page) {
    case 'home': return <HomePage />;
    case 'search': return <SearchPage />;
    case 'product': return <ProductPage key={route.productId} productId={route.productId} />;
    case 'cart': return <CartPage />;
    case 'checkout': return <CheckoutPage />;
    case 'login': return <LoginPage />;
    case 'register': return <RegisterPage />;
    case 'orders': return <OrdersPage />;
    case 'order': return <OrderPage key={route.orderId} orderId={route.orderId} />;
    case 'seller': return <SellerPage />;
    case 'not-found': return <NotFound />;
  }
}

function App() {
  const { path } = useStore(location);
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  // After moving to another page, focus goes to its content (keyboard and screen-reader users start there).
  useEffect(() => {
    if (first.current) { first.current = false; return; }
    main.current?.focus({ preventScroll: true });
  }, [path]);
  return (
    <>
      <Header />
      <main id="main" ref={main} tabIndex={-1}>{pageOf(match(path))}</main>
      <footer class="site-footer"><p>Flash Sale Shop · demo mode: payments go to a test sandbox, never a real card.</p></footer>
    </>
  );
}

interceptLinks();
refreshCount();
render(<App />, document.getElementById('app')!);
