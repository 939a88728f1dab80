/**
 * A product: media, price, what is available, reviews and a review form, "Add to cart",
 * and during a live flash sale "Buy now" (purchase.ts: one Idempotency-Key per attempt,
 * 503s retried after Retry-After, sold out and over-the-limit told at once). While a sale
 * runs its remaining units refresh every second.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, messageOf, session } from '../api';
import { addToCart } from '../cart';
import { money, dateTime } from '../format';
import { useLoad, useTitle, type Loaded } from '../hooks';
import { getSale } from '../sales';
import { SaleFigures, saleStatusNow } from '../sale-figures';
import { pendingAttempt, placeOrder, refusalMessage, waitingNote, type Placed } from '../purchase';
import {
  AddressFields, PaymentChoice, cleanAddress, isComplete, rememberAddress, savedAddress, savedPaymentMethod, TEST_PAYMENT_METHODS,
} from '../address';
import { navigate } from '../router';
import { useStore } from '../store';
import { Alert, Field, Loading, Stars, fieldErrorsOf, focusFirstInvalid, mediaUrl, type FieldErrors } from '../ui';
import type { FlashSale, MediaEntry, Product, ReviewPage } from '../types';

/** The product's videos, each with its own controls; only their metadata loads until one is played. */
function Videos({ name, videos }: { name: string; videos: MediaEntry[] }) {
  if (videos.length === 0) return null;
  return (
    <ul class="videos" aria-label={`Videos of ${name}`}>
      {videos.map((video, i) => (
        <li key={mediaUrl(video)}>
          <video class="product-video" src={mediaUrl(video)} controls preload="metadata" playsInline width={640} height={360}
            aria-label={`Product video ${i + 1}`} />
        </li>
      ))}
    </ul>
  );
}

function Gallery({ name, images, videos }: { name: string; images: MediaEntry[]; videos: MediaEntry[] }) {
  const [shown, setShown] = useState(0);
  const current = images[Math.min(shown, images.length - 1)];
  if (!current) {
    return (
      <div class="gallery">
        {videos.length === 0 && <span class="placeholder large" aria-hidden="true">{name.slice(0, 1)}</span>}
        <Videos name={name} videos={videos} />
      </div>
    );
  }
  return (
    <div class="gallery">
      <img class="main-image" src={mediaUrl(current)} alt={`${name}, picture ${shown + 1} of ${images.length}`} width={640} height={480} fetchpriority="high" />
      {images.length > 1 && (
        <ul class="thumbs" aria-label="Pictures">
          {images.map((image, i) => (
            <li key={mediaUrl(image)}>
              <button type="button" aria-pressed={i === shown} aria-label={`Show picture ${i + 1}`} onClick={() => setShown(i)}>
                <img src={mediaUrl(image)} alt="" width={64} height={48} loading="lazy" />
              </button>
            </li>
          ))}
        </ul>
      )}
      <Videos name={name} videos={videos} />
    </div>
  );
}

function QuantityInput({ id, value, max, onValue }: { id: string; value: number; max: number; onValue: (n: number) => void }) {
  return (
    <div class="field quantity">
      <label for={id}>Quantity</label>
      <input id={id} type="number" inputMode="numeric" min={1} max={Math.max(1, max)} value={value}
        onInput={(e) => { const n = Number((e.currentTarget as HTMLInputElement).value); if (Number.isInteger(n) && n >= 1) onValue(n); }} />
    </div>
  );
}

type BuyState =
  | { kind: 'idle' }
  | { kind: 'placing'; waiting: string | null }
  | { kind: 'placed'; placed: Placed }
  | { kind: 'refused'; message: string; slug: string };

/** "Buy now" during a live sale: address and test card (remembered from the last order), then one attempt at a time. */
function BuyNow({ product, sale, quantity, onSoldOut }: { product: Product; sale: FlashSale; quantity: number; onSoldOut: () => void }) {
  const user = useStore(session);
  const slot = `buy:${product.productId}`;
  const [address, setAddress] = useState(savedAddress);
  const [payment, setPayment] = useState(savedPaymentMethod);
  const [editing, setEditing] = useState(() => !isComplete(savedAddress()));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [state, setState] = useState<BuyState>({ kind: 'idle' });
  const busy = useRef(false);

  const run = (attempt: Promise<Placed>) => {
    busy.current = true;
    setState({ kind: 'placing', waiting: null });
    attempt.then(
      (placed) => {
        rememberAddress(placed.request.shippingAddress, placed.request.paymentMethod);
        setState({ kind: 'placed', placed });
      },
      (error: unknown) => {
        const fields = fieldErrorsOf(error, 'shippingAddress.');
        setErrors(fields);
        if (Object.keys(fields).length) { setEditing(true); focusFirstInvalid(); }
        const slug = error instanceof ApiError ? error.slug : '';
        if (slug === 'sold-out') onSoldOut();
        setState({ kind: 'refused', message: refusalMessage(error), slug });
      },
    ).finally(() => { busy.current = false; });
  };
  const events = {
    onWaiting: (ms: number, reason: 'busy' | 'offline') => setState({ kind: 'placing', waiting: waitingNote(ms, reason) }),
  };

  // A reload in the middle of a purchase picks it up again with the same key: still one order.
  useEffect(() => {
    if (user && pendingAttempt(slot)) run(placeOrder(slot, pendingAttempt(slot)!.body, events));
  }, []);

  const buy = (event: Event) => {
    event.preventDefault();
    if (busy.current) return; // a double click joins the attempt under way
    if (!user) {
      navigate(`/login?next=${encodeURIComponent(`/p/${product.productId}`)}`);
      return;
    }
    setErrors({});
    run(placeOrder(slot, {
      items: [{ productId: product.productId, quantity }], paymentMethod: payment, shippingAddress: cleanAddress(address),
    }, events));
  };

  const status = saleStatusNow(sale);
  const soldOut = sale.remaining <= 0;
  const canBuy = status === 'live' && !soldOut;
  const cardLabel = TEST_PAYMENT_METHODS.find((m) => m.token === payment)?.label ?? payment;

  if (state.kind === 'placed') {
    return (
      <div class="buy-now">
        <Alert tone="success">
          Order placed. Order number <strong data-testid="order-id">{state.placed.orderId}</strong>, status {state.placed.status}.{' '}
          <a href={`/orders/${state.placed.orderId}`}>View your order</a>
        </Alert>
        <button type="button" class="secondary" onClick={() => setState({ kind: 'idle' })}>Buy again</button>
      </div>
    );
  }
  return (
    <form class="buy-now" onSubmit={buy} noValidate aria-label="Buy now">
      {user && !editing && (
        <p class="deliver-to">
          Deliver to {address.name}, {address.line1}, {address.city} {address.postalCode}, {address.country}. Pay with {cardLabel}.{' '}
          <button type="button" class="link-button" onClick={() => setEditing(true)}>Change address or card</button>
        </p>
      )}
      {user && editing && (
        <>
          <AddressFields idPrefix="buy" value={address} onChange={setAddress} errors={errors} />
          <PaymentChoice idPrefix="buy" value={payment} onChange={setPayment} error={errors.paymentMethod} />
        </>
      )}
      <button type="submit" class="primary buy" disabled={!canBuy || state.kind === 'placing'} aria-disabled={!canBuy}>Buy now</button>
      {!user && <p class="hint">You will be asked to log in first.</p>}
      {state.kind === 'placing' && (
        <p class="status" role="status" data-testid="buy-status">{state.waiting ?? 'Placing your order…'}</p>
      )}
      {state.kind === 'refused' && <Alert>{state.message}</Alert>}
      {soldOut && state.kind !== 'refused' && <p class="sold-out" role="status">Sold out</p>}
    </form>
  );
}

function AddToCart({ product, quantity }: { product: Product; quantity: number }) {
  const [note, setNote] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const add = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      await addToCart(product.productId, quantity);
      setNote({ tone: 'success', text: `Added ${quantity} to your cart.` });
    } catch (error) {
      setNote({ tone: 'error', text: messageOf(error) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="add-to-cart" onSubmit={add} noValidate aria-label="Add to cart">
      <button type="submit" class="secondary" disabled={busy || product.available <= 0}>Add to cart</button>
      {note && <Alert tone={note.tone}>{note.text} {note.tone === 'success' && <a href="/cart">Go to your cart</a>}</Alert>}
    </form>
  );
}

function ReviewForm({ productId, onPosted }: { productId: string; onPosted: () => void }) {
  const user = useStore(session);
  const [rating, setRating] = useState('5');
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [note, setNote] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);
  if (!user) return <p><a href={`/login?next=${encodeURIComponent(`/p/${productId}`)}`}>Log in</a> to write a review.</p>;
  const post = async (event: Event) => {
    event.preventDefault();
    setErrors({});
    try {
      await api('POST', `/v1/products/${productId}/reviews`, { body: { rating: Number(rating), title: title.trim(), body: body.trim() } });
      setNote({ tone: 'success', text: 'Thank you: your review is posted.' });
      setTitle('');
      setBody('');
      onPosted();
    } catch (error) {
      setErrors(fieldErrorsOf(error));
      setNote({ tone: 'error', text: messageOf(error) });
    }
  };
  return (
    <form class="review-form" onSubmit={post} noValidate aria-labelledby="review-form-title">
      <h3 id="review-form-title">Write a review</h3>
      <div class="field">
        <label for="review-rating">Rating</label>
        <select id="review-rating" value={rating} onChange={(e) => setRating((e.currentTarget as HTMLSelectElement).value)}
          aria-invalid={errors.rating ? 'true' : undefined}>
          {[5, 4, 3, 2, 1].map((n) => <option key={n} value={n}>{n} {n === 1 ? 'star' : 'stars'}</option>)}
        </select>
        {errors.rating && <span class="field-error">{errors.rating}</span>}
      </div>
      <Field id="review-title" label="Title" value={title} onValue={setTitle} error={errors.title} maxLength={200} />
      <div class={errors.body ? 'field invalid' : 'field'}>
        <label for="review-body">Review <span class="optional">(optional)</span></label>
        <textarea id="review-body" rows={4} maxLength={5000} value={body} aria-invalid={errors.body ? 'true' : undefined}
          aria-describedby={errors.body ? 'review-body-error' : undefined}
          onInput={(e) => setBody((e.currentTarget as HTMLTextAreaElement).value)} />
        {errors.body && <span id="review-body-error" class="field-error">{errors.body}</span>}
      </div>
      <button type="submit" class="secondary">Post review</button>
      {note && <Alert tone={note.tone}>{note.text}</Alert>}
    </form>
  );
}

function Reviews({ product }: { product: Product }) {
  const [reviews, reload] = useLoad((signal) => api<ReviewPage>('GET', `/v1/products/${product.productId}/reviews?limit=10`, { signal }), [product.productId]);
  return (
    <section aria-labelledby="reviews-title" class="reviews">
      <h2 id="reviews-title">Reviews</h2>
      {reviews.state === 'loading' && <Loading what="reviews" />}
      {reviews.state === 'ok' && (
        <>
          <p><Stars rating={reviews.value.rating} count={reviews.value.reviewCount} /></p>
          <ul class="review-list">
            {reviews.value.reviews.map((r) => (
              <li key={r.reviewId}>
                <p><strong>{r.title || `${r.rating} stars`}</strong> <span aria-hidden="true">{'★'.repeat(r.rating)}</span>
                  <span class="visually-hidden">{r.rating} out of 5</span></p>
                {r.body && <p>{r.body}</p>}
                <p class="muted">{r.author}{r.verifiedPurchase ? ' · verified purchase' : ''} · {dateTime(r.createdAt)}</p>
              </li>
            ))}
          </ul>
        </>
      )}
      <ReviewForm productId={product.productId} onPosted={reload} />
    </section>
  );
}

export function ProductPage({ productId }: { productId: string }) {
  // The product and its live sale come together, so the page renders whole (no layout shift); then the sale refreshes every second.
  const [loaded] = useLoad(async (signal) => {
    const p = await api<Product>('GET', `/v1/products/${encodeURIComponent(productId)}`, { signal });
    return { p, sale: p.flashSaleId ? await getSale(p.flashSaleId, signal).catch(() => null) : null };
  }, [productId], 10_000);
  const product: Loaded<Product> = loaded.state === 'ok' ? { state: 'ok', value: loaded.value.p } : loaded;
  const saleId = loaded.state === 'ok' ? loaded.value.p.flashSaleId : null;
  const [polled] = useLoad((signal) => (saleId ? getSale(saleId, signal) : Promise.resolve(null)), [saleId], saleId ? 1000 : 0);
  // Until the first refresh of this sale is in, the sale read with the product stands in.
  const fresh = polled.state === 'ok' && polled.value?.flashSaleId === saleId;
  const saleLoad: Loaded<FlashSale | null> = fresh || loaded.state !== 'ok' ? polled : { state: 'ok', value: loaded.value.sale };
  const [soldOutSeen, setSoldOutSeen] = useState(false);
  const [quantity, setQuantity] = useState(1);
  useTitle(product.state === 'ok' ? product.value.name : 'Product');
  if (product.state === 'loading') return <Loading what="the product" />;
  if (product.state === 'error') {
    const missing = product.error instanceof ApiError && (product.error.status === 404 || product.error.status === 400);
    return <section><h1>{missing ? 'Product not found' : 'The product could not be loaded'}</h1><p><a href="/">Back to the shop</a></p></section>;
  }
  const p = product.value;
  const loadedSale = saleLoad.state === 'ok' ? saleLoad.value : null;
  // A refusal "sold out" is shown at once, before the next refresh says so.
  const sale = loadedSale && soldOutSeen ? { ...loadedSale, remaining: 0 } : loadedSale;
  const onSale = sale !== null && saleStatusNow(sale) !== 'ended';
  const available = onSale ? sale.remaining : p.available;
  return (
    <article class="product" aria-labelledby="product-title">
      <Gallery name={p.name} images={p.images} videos={p.videos ?? []} />
      <div class="details">
        <h1 id="product-title">{p.name}</h1>
        <p class="muted">{p.category} · <Stars rating={p.rating} count={p.reviewCount} /></p>
        <p class="price large">
          {onSale
            ? <><span class="sale-price">{money(sale.priceCents, p.currency)}</span> <s class="was"><span class="visually-hidden">was </span>{money(p.priceCents, p.currency)}</s> <span class="tag">Flash sale</span></>
            : money(p.priceCents, p.currency)}
        </p>
        {onSale
          ? <SaleFigures sale={sale} idPrefix="product-sale" />
          : (
            <p class="available" data-testid="available">
              {available > 0 ? <>Available: <strong>{available}</strong></> : <strong class="sold-out-text">Sold out</strong>}
            </p>
          )}
        <QuantityInput id="quantity" value={quantity} max={Math.max(1, onSale ? Math.min(available, sale.perUserLimit) : available)} onValue={setQuantity} />
        <AddToCart product={{ ...p, available }} quantity={quantity} />
        {onSale && <BuyNow product={p} sale={sale} quantity={quantity} onSoldOut={() => setSoldOutSeen(true)} />}
        {p.description && <><h2>About this product</h2><p class="description">{p.description}</p></>}
        {Object.keys(p.attributes ?? {}).length > 0 && (
          <dl class="attributes">
            {Object.entries(p.attributes).map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd></div>)}
          </dl>
        )}
      </div>
      <Reviews product={p} />
    </article>
  );
}
