/**
 * Checkout: the saved cart, a shipping address whose errors come from the API's
 * problem+json (shown next to each field), a test card, and "Place order": one
 * Idempotency-Key per attempt (purchase.ts), so a double click or a reload places one
 * order. Then the order's own page, which follows its status live.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { messageOf, session } from '../api';
import { cartEmptied, loadCart } from '../cart';
import { money } from '../format';
import { useLoad, useTitle } from '../hooks';
import { pendingAttempt, placeOrder, refusalMessage, waitingNote, type Placed } from '../purchase';
import { AddressFields, PaymentChoice, cleanAddress, rememberAddress, savedAddress, savedPaymentMethod } from '../address';
import { navigate } from '../router';
import { useStore } from '../store';
import { Alert, Loading, fieldErrorsOf, focusFirstInvalid, type FieldErrors } from '../ui';

const SLOT = 'checkout';

export function CheckoutPage() {
  useTitle('Checkout');
  const user = useStore(session);
  useEffect(() => { if (!user) navigate(`/login?next=${encodeURIComponent('/checkout')}`, { replace: true }); }, [user]);
  const [cart] = useLoad(() => (user ? loadCart() : Promise.reject(new Error('Log in first'))), [user?.userId]);
  const [address, setAddress] = useState(savedAddress);
  const [payment, setPayment] = useState(savedPaymentMethod);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [waiting, setWaiting] = useState<string | null>(null);
  const [placing, setPlacing] = useState(false);
  const busy = useRef(false);

  const done = (placed: Placed) => {
    rememberAddress(placed.request.shippingAddress, placed.request.paymentMethod);
    cartEmptied();
    navigate(`/orders/${placed.orderId}?placed=1`);
  };
  const run = (attempt: Promise<Placed>) => {
    busy.current = true;
    setPlacing(true);
    setProblem(null);
    attempt.then(done, (error: unknown) => {
      const fields = fieldErrorsOf(error, 'shippingAddress.');
      setErrors(fields);
      setProblem(Object.keys(fields).length ? 'Please correct the marked fields.' : refusalMessage(error));
      focusFirstInvalid();
    }).finally(() => {
      busy.current = false;
      setPlacing(false);
      setWaiting(null);
    });
  };
  const events = {
    onWaiting: (ms: number, reason: 'busy' | 'offline') => setWaiting(waitingNote(ms, reason)),
  };
  // A reload while the order was being placed resumes that same attempt.
  useEffect(() => {
    const left = pendingAttempt(SLOT);
    if (user && left) run(placeOrder(SLOT, left.body, events));
  }, []);

  if (!user) return <Loading what="the login page" />;
  const submit = (event: Event) => {
    event.preventDefault();
    if (busy.current || cart.state !== 'ok' || !cart.value.cartId) return; // a double click joins the attempt under way
    setErrors({});
    run(placeOrder(SLOT, { cartId: cart.value.cartId, paymentMethod: payment, shippingAddress: cleanAddress(address) }, events));
  };
  return (
    <section aria-labelledby="checkout-title">
      <h1 id="checkout-title">Checkout</h1>
      {cart.state === 'loading' && <Loading what="your cart" />}
      {cart.state === 'error' && <Alert>{messageOf(cart.error)}</Alert>}
      {cart.state === 'ok' && cart.value.items.length === 0 && !placing && <p>Your cart is empty. <a href="/">Keep shopping</a>.</p>}
      {cart.state === 'ok' && (cart.value.items.length > 0 || placing) && (
        <form class="checkout" onSubmit={submit} noValidate>
          <section aria-labelledby="summary-title" class="summary">
            <h2 id="summary-title">Your order</h2>
            <ul>
              {cart.value.items.map((l) => (
                <li key={l.productId}>{l.quantity} × {l.name ?? 'Unavailable product'} <span>{money(l.lineTotalCents, l.currency)}</span></li>
              ))}
            </ul>
            <p class="total">Total <strong>{money(cart.value.totalCents, cart.value.currency)}</strong></p>
          </section>
          <AddressFields idPrefix="ship" value={address} onChange={setAddress} errors={errors} />
          <PaymentChoice idPrefix="checkout" value={payment} onChange={setPayment} error={errors.paymentMethod} />
          {problem && <Alert>{problem}</Alert>}
          {placing && <p role="status" class="status" data-testid="checkout-status">{waiting ?? 'Placing your order…'}</p>}
          <button type="submit" class="primary" disabled={placing}>Place order</button>
        </form>
      )}
    </section>
  );
}
