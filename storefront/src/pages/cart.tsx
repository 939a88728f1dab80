/** The cart: the guest's (this browser) or the saved one, priced now; quantities, removal, and on to checkout. */
import { useState } from 'preact/hooks';
import { messageOf, session } from '../api';
import { loadCart, setQuantity } from '../cart';
import { money } from '../format';
import { useLoad, useTitle } from '../hooks';
import { navigate } from '../router';
import { useStore } from '../store';
import { Alert, Loading } from '../ui';
import type { PricedLine } from '../types';

function Line({ line, onChange }: { line: PricedLine; onChange: (productId: string, quantity: number) => void }) {
  const name = line.name ?? 'A product no longer sold';
  const id = `qty-${line.productId}`;
  return (
    <li class="cart-line">
      <a href={`/p/${line.productId}`} class="line-name">{name}</a>
      {line.purchasable
        ? <span class="muted">{money(line.unitPriceCents ?? 0, line.currency)} each{line.flashSaleId ? ' (flash sale price)' : ''}{line.available < line.quantity ? ` · only ${line.available} available` : ''}</span>
        : <span class="field-error">Cannot be ordered any more</span>}
      <div class="line-controls">
        <label for={id}>Quantity <span class="visually-hidden">of {name}</span></label>
        <input id={id} type="number" inputMode="numeric" min={0} max={1000} value={line.quantity}
          onChange={(e) => { const n = Number((e.currentTarget as HTMLInputElement).value); if (Number.isInteger(n) && n >= 0) onChange(line.productId, n); }} />
        <button type="button" class="link-button" onClick={() => onChange(line.productId, 0)}>Remove <span class="visually-hidden">{name}</span></button>
      </div>
      <strong class="line-total">{money(line.lineTotalCents, line.currency)}</strong>
    </li>
  );
}

export function CartPage() {
  useTitle('Your cart');
  const user = useStore(session);
  const [cart, reload] = useLoad(() => loadCart(), [user?.userId]);
  const [error, setError] = useState<string | null>(null);
  const change = async (productId: string, quantity: number) => {
    setError(null);
    try {
      await setQuantity(productId, quantity);
    } catch (e) {
      setError(messageOf(e));
    }
    reload();
  };
  return (
    <section aria-labelledby="cart-title">
      <h1 id="cart-title">Your cart</h1>
      {error && <Alert>{error}</Alert>}
      {cart.state === 'loading' && <Loading what="your cart" />}
      {cart.state === 'error' && <Alert>{messageOf(cart.error)}</Alert>}
      {cart.state === 'ok' && cart.value.items.length === 0 && <p>Your cart is empty. <a href="/">Find something you like</a>.</p>}
      {cart.state === 'ok' && cart.value.items.length > 0 && (
        <>
          <ul class="cart-lines">{cart.value.items.map((l) => <Line key={l.productId} line={l} onChange={(id, q) => void change(id, q)} />)}</ul>
          <p class="total">Total <strong data-testid="cart-total">{money(cart.value.totalCents, cart.value.currency)}</strong></p>
          {!user && <p class="hint">You will log in (or register) at checkout; this cart comes with you.</p>}
          <button type="button" class="primary" onClick={() => navigate(user ? '/checkout' : `/login?next=${encodeURIComponent('/checkout')}`)}
            disabled={!cart.value.items.some((l) => l.purchasable)}>Checkout</button>
        </>
      )}
    </section>
  );
}
