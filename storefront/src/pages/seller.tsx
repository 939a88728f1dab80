/**
 * Seller pages (GET /seller; a chunk of its own): the seller's products with their stock
 * per warehouse, a new-product form, and media upload through the signed URL with a
 * progress bar, chunked and resumable (upload.ts), ending with the picture on the
 * product page.
 */
import { useRef, useState } from 'preact/hooks';
import { api, messageOf, session } from '../api';
import { money } from '../format';
import { useLoad, useTitle } from '../hooks';
import { useStore } from '../store';
import { interruptedUploads, uploadMedia } from '../upload';
import { Alert, Field, Loading, fieldErrorsOf, mediaUrl, type FieldErrors } from '../ui';
import type { Inventory, ProductSummary, SearchPage } from '../types';

const IMAGE_TYPES = 'image/png,image/jpeg,image/gif,image/webp,video/mp4,video/webm';

function Stock({ productId }: { productId: string }) {
  const [inventory] = useLoad((signal) => api<Inventory>('GET', `/v1/inventory/${productId}`, { signal }), [productId], 10_000);
  if (inventory.state === 'loading') return <span class="muted">…</span>;
  if (inventory.state === 'error') return <span class="muted">{messageOf(inventory.error)}</span>;
  const inv = inventory.value;
  return (
    <>
      <span>{inv.available} available of {inv.stock} ({inv.reserved} reserved)</span>
      <ul class="warehouses" aria-label="Stock per warehouse">
        {inv.warehouses.map((w) => <li key={w.warehouseId}>{w.name}: {w.stock} in stock, {w.available} available</li>)}
      </ul>
    </>
  );
}

function Products({ products }: { products: ProductSummary[] }) {
  if (products.length === 0) return <p>No products yet. Add your first one below.</p>;
  return (
    <div class="table-scroll">
      <table class="seller-products">
        <caption class="visually-hidden">Your products with their stock per warehouse</caption>
        <thead><tr><th scope="col">Product</th><th scope="col">Price</th><th scope="col">Pictures</th><th scope="col">Stock</th></tr></thead>
        <tbody>
          {products.map((p) => (
            <tr key={p.productId}>
              <td><a href={`/p/${p.productId}`}>{p.name}</a><br /><span class="muted">{p.category}</span></td>
              <td>{money(p.priceCents, p.currency)}</td>
              <td>{p.images.length}</td>
              <td><Stock productId={p.productId} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** "12.34" → 1234 minor units (null when it is not an amount); the API checks the rest. */
function toCents(text: string): number | null {
  const match = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? '0').padEnd(2, '0'));
}

function NewProduct({ onCreated }: { onCreated: (productId: string) => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [price, setPrice] = useState('');
  const [stock, setStock] = useState('');
  const [category, setCategory] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [note, setNote] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setNote(null);
    try {
      const priceCents = toCents(price);
      const body = {
        name: name.trim(), description: description.trim(), category: category.trim(),
        priceCents: priceCents ?? -1, stock: stock.trim() === '' ? -1 : Number(stock),
      };
      const created = await api<{ productId: string }>('POST', '/v1/products', { body });
      setNote({ tone: 'success', text: `Created ${body.name}.` });
      setName(''); setDescription(''); setPrice(''); setStock(''); setCategory('');
      onCreated(created.productId);
    } catch (error) {
      setErrors(fieldErrorsOf(error));
      setNote({ tone: 'error', text: messageOf(error) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={create} noValidate aria-labelledby="new-product-title" class="panel">
      <h2 id="new-product-title">New product</h2>
      <Field id="product-name" label="Product name" value={name} onValue={setName} error={errors.name} required maxLength={200} />
      <div class={errors.description ? 'field invalid' : 'field'}>
        <label for="product-description">Description <span class="optional">(optional)</span></label>
        <textarea id="product-description" rows={3} maxLength={5000} value={description}
          onInput={(e) => setDescription((e.currentTarget as HTMLTextAreaElement).value)} />
        {errors.description && <span class="field-error">{errors.description}</span>}
      </div>
      <div class="row">
        <Field id="product-price" label="Price (USD)" value={price} onValue={setPrice} error={errors.priceCents} required inputMode="decimal" hint="For example 19.99" />
        <Field id="product-stock" label="Stock" value={stock} onValue={setStock} error={errors.stock} required inputMode="numeric" />
      </div>
      <Field id="product-category" label="Category" value={category} onValue={setCategory} error={errors.category} required maxLength={100} />
      {note && <Alert tone={note.tone}>{note.text}</Alert>}
      <button type="submit" class="primary" disabled={busy}>Create product</button>
    </form>
  );
}

type UploadState =
  | { kind: 'idle' }
  | { kind: 'uploading'; sent: number; total: number; note: string | null }
  | { kind: 'done'; productId: string; url: string; contentType: string }
  | { kind: 'failed'; message: string };

function MediaUpload({ products, chosen, onChoose, onUploaded }: {
  products: ProductSummary[]; chosen: string; onChoose: (productId: string) => void; onUploaded: () => void;
}) {
  const [state, setState] = useState<UploadState>({ kind: 'idle' });
  const file = useRef<HTMLInputElement>(null);
  const controller = useRef<AbortController | null>(null);
  const start = async (event: Event) => {
    event.preventDefault();
    const picked = file.current?.files?.[0];
    if (!picked || !chosen) {
      setState({ kind: 'failed', message: picked ? 'Choose a product first.' : 'Choose a file first.' });
      return;
    }
    controller.current = new AbortController();
    let note: string | null = null;
    setState({ kind: 'uploading', sent: 0, total: picked.size, note });
    try {
      const done = await uploadMedia(chosen, picked, {
        onProgress: (sent, total) => setState({ kind: 'uploading', sent, total, note }),
        onNote: (text) => {
          note = text;
          setState((s) => (s.kind === 'uploading' ? { ...s, note } : s));
        },
      }, controller.current.signal);
      setState({ kind: 'done', productId: chosen, url: done.url, contentType: done.contentType });
      onUploaded();
    } catch (error) {
      setState({ kind: 'failed', message: (error as Error).name === 'AbortError' ? 'Upload cancelled.' : messageOf(error) });
    }
  };
  const percent = state.kind === 'uploading' && state.total > 0 ? Math.floor((state.sent / state.total) * 100) : 0;
  // Uploads cut short earlier (a reload, a long outage) resume when the same file is chosen again.
  const interrupted = state.kind === 'uploading' || !chosen ? [] : interruptedUploads(chosen);
  return (
    <form onSubmit={start} noValidate aria-labelledby="upload-title" class="panel">
      <h2 id="upload-title">Add a picture or video</h2>
      <div class="field">
        <label for="upload-product">Product</label>
        <select id="upload-product" value={chosen} onChange={(e) => onChoose((e.currentTarget as HTMLSelectElement).value)}>
          {products.map((p) => <option key={p.productId} value={p.productId}>{p.name}</option>)}
        </select>
      </div>
      <div class="field">
        <label for="upload-file">File</label>
        <span id="upload-file-hint" class="hint">PNG, JPEG, GIF or WebP pictures; MP4 or WebM videos. Large files go up in parts and resume after a dropped connection.</span>
        <input id="upload-file" type="file" accept={IMAGE_TYPES} ref={file} aria-describedby="upload-file-hint" />
      </div>
      {interrupted.length > 0 && (
        <p class="hint" data-testid="interrupted-uploads">
          Not finished: {interrupted.join(', ')}. Choose the same file and upload again to go on where it stopped.
        </p>
      )}
      <button type="submit" class="primary" disabled={state.kind === 'uploading' || products.length === 0}>Upload</button>
      {state.kind === 'uploading' && (
        <div class="progress">
          <label for="upload-progress">Upload progress</label>
          <progress id="upload-progress" max={100} value={percent} data-testid="upload-progress">{percent}%</progress>
          <span>{percent}% uploaded</span>
          <span role="status" class="upload-note" data-testid="upload-note">{state.note ?? ''}</span>
          <button type="button" class="link-button" onClick={() => controller.current?.abort()}>Cancel upload</button>
        </div>
      )}
      {state.kind === 'done' && (
        <Alert tone="success">
          Uploaded. <a href={`/p/${state.productId}`}>See it on the product page</a>
          {state.contentType.startsWith('video/')
            ? <video class="upload-preview" src={mediaUrl(state.url)} controls preload="metadata" width={160} height={120} aria-label="The uploaded video" />
            : <img class="upload-preview" src={mediaUrl(state.url)} alt="The uploaded picture" width={160} height={120} />}
        </Alert>
      )}
      {state.kind === 'failed' && <Alert>{state.message}</Alert>}
    </form>
  );
}

export function SellerPage() {
  useTitle('Seller');
  const user = useStore(session);
  const [chosen, setChosen] = useState('');
  const isSeller = user !== null && (user.role === 'seller' || user.role === 'admin');
  const [products, reload] = useLoad(
    (signal) => (isSeller ? api<SearchPage>('GET', `/v1/products?sellerId=${user.userId}&sort=newest&limit=100`, { signal }) : Promise.resolve(null)),
    [user?.userId, isSeller]);
  if (!user) {
    return <section><h1>Seller</h1><p><a href="/login?next=%2Fseller">Log in</a> with your seller account, or <a href="/register?next=%2Fseller">register as a seller</a>.</p></section>;
  }
  if (!isSeller) return <section><h1>Seller</h1><p>This page is for sellers. <a href="/register?next=%2Fseller">Register a seller account</a> to sell here.</p></section>;
  const list = products.state === 'ok' && products.value ? products.value.products : [];
  const selected = chosen || list[0]?.productId || '';
  return (
    <section aria-labelledby="seller-title" class="seller">
      <h1 id="seller-title">Your products</h1>
      {products.state === 'loading' && <Loading what="your products" />}
      {products.state === 'error' && <Alert>{messageOf(products.error)}</Alert>}
      {products.state === 'ok' && <Products products={list} />}
      <div class="seller-forms">
        <NewProduct onCreated={(productId) => { setChosen(productId); reload(); }} />
        <MediaUpload products={list} chosen={selected} onChoose={setChosen} onUploaded={reload} />
      </div>
    </section>
  );
}
