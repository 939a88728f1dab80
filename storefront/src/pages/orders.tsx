/** My orders, and one order whose status and history follow the pipeline live (polled every second until settled). */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, messageOf, session } from '../api';
import { dateTime, FINAL_STATUSES, money, statusWord } from '../format';
import { useLoad, useTitle } from '../hooks';
import { location, navigate } from '../router';
import { productOnce } from '../sales';
import { useStore } from '../store';
import { Alert, Loading } from '../ui';
import type { Order, OrderSummary } from '../types';

function useSignedIn(next: string): boolean {
  const user = useStore(session);
  useEffect(() => { if (!user) navigate(`/login?next=${encodeURIComponent(next)}`, { replace: true }); }, [user]);
  return user !== null;
}

export function OrdersPage() {
  useTitle('My orders');
  const signedIn = useSignedIn('/orders');
  const user = session.get();
  const [orders] = useLoad(() => (user ? api<{ orders: OrderSummary[] }>('GET', `/v1/orders/user/${user.userId}?limit=50`) : Promise.resolve({ orders: [] })), [user?.userId], 5000);
  if (!signedIn) return <Loading what="the login page" />;
  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">My orders</h1>
      {orders.state === 'loading' && <Loading what="your orders" />}
      {orders.state === 'error' && <Alert>{messageOf(orders.error)}</Alert>}
      {orders.state === 'ok' && orders.value.orders.length === 0 && <p>No orders yet.</p>}
      {orders.state === 'ok' && orders.value.orders.length > 0 && (
        <table class="orders">
          <caption class="visually-hidden">Your orders, newest first</caption>
          <thead><tr><th scope="col">Order</th><th scope="col">Placed</th><th scope="col">Status</th><th scope="col">Total</th></tr></thead>
          <tbody>
            {orders.value.orders.map((o) => (
              <tr key={o.orderId}>
                <td><a href={`/orders/${o.orderId}`}>{o.orderId.slice(0, 8)}</a></td>
                <td>{dateTime(o.acceptedAt)}</td>
                <td>{statusWord(o.status)}</td>
                <td>{money(o.totalCents, o.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ItemName({ productId }: { productId: string }) {
  const [name, setName] = useState<string | null>(null);
  useEffect(() => { void productOnce(productId).then((p) => setName(p.name), () => setName(null)); }, [productId]);
  return <a href={`/p/${productId}`}>{name ?? 'Product'}</a>;
}

export function OrderPage({ orderId }: { orderId: string }) {
  useTitle('Your order');
  const signedIn = useSignedIn(`/orders/${orderId}`);
  const { query } = useStore(location);
  // Every second until the order settles (confirmed or final), then every ten.
  const status = useRef<string | null>(null);
  const [order] = useLoad((signal) => api<Order>('GET', `/v1/orders/${encodeURIComponent(orderId)}`, { signal }), [orderId],
    () => (status.current === 'confirmed' || FINAL_STATUSES.has(status.current ?? '') ? 10_000 : 1000));
  status.current = order.state === 'ok' ? order.value.status : null;
  if (!signedIn) return <Loading what="the login page" />;
  if (order.state === 'loading') return <Loading what="your order" />;
  if (order.state === 'error') {
    const missing = order.error instanceof ApiError && (order.error.status === 404 || order.error.status === 400);
    return <section><h1>{missing ? 'Order not found' : 'The order could not be loaded'}</h1><p><a href="/orders">My orders</a></p></section>;
  }
  const o = order.value;
  const failure = o.history?.find((h) => h.status === o.status)?.reason;
  return (
    <section aria-labelledby="order-title" class="order">
      {query.get('placed') === '1' && <Alert tone="success">Thank you: your order is placed.</Alert>}
      <h1 id="order-title">Order <span data-testid="order-id">{o.orderId}</span></h1>
      <p class="order-status" role="status" aria-live="polite">
        Status: <strong data-testid="order-status" data-status={o.status}>{statusWord(o.status)}</strong>
        {o.paymentStatus && <span class="muted"> · payment {o.paymentStatus.replace(/_/g, ' ')}</span>}
      </p>
      {(o.status === 'failed' || o.status === 'expired') && failure && <Alert>{failure}</Alert>}
      <h2>Items</h2>
      <ul class="order-items">
        {(o.items ?? []).map((i) => (
          <li key={i.productId}>{i.quantity} × <ItemName productId={i.productId} /> at {money(i.unitPriceCents, o.currency)}{i.flashSaleId ? ' (flash sale)' : ''}</li>
        ))}
      </ul>
      <p class="total">Total <strong>{money(o.totalCents, o.currency)}</strong></p>
      {o.trackingNumber && <p>Tracking number: {o.trackingNumber}</p>}
      {o.shippingAddress && (
        <>
          <h2>Shipping to</h2>
          <address>{o.shippingAddress.name}<br />{o.shippingAddress.line1}<br />{o.shippingAddress.line2 && <>{o.shippingAddress.line2}<br /></>}
            {o.shippingAddress.postalCode} {o.shippingAddress.city}<br />{o.shippingAddress.country}</address>
        </>
      )}
      <h2>History</h2>
      <ol class="history" data-testid="order-history">
        {(o.history ?? []).map((h) => (
          <li key={`${h.status}-${h.at}`}><strong>{statusWord(h.status)}</strong> <time dateTime={h.at}>{dateTime(h.at)}</time>{h.reason ? ` · ${h.reason}` : ''}</li>
        ))}
      </ol>
      <p><a href="/orders">All my orders</a></p>
    </section>
  );
}
