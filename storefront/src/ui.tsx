/** Small components the pages share: labelled fields with their API errors, alerts, product cards. */
import type { ComponentChildren } from 'preact';
import { money } from './format';
import { ApiError } from './api';
import type { MediaEntry, ProductSummary } from './types';

export type FieldErrors = Record<string, string>;

/**
 * The problem's per-field errors keyed by field path (e.g. "shippingAddress.line1"), with
 * `prefix` taken off, so each message is shown next to its own input.
 */
export function fieldErrorsOf(error: unknown, prefix = ''): FieldErrors {
  const out: FieldErrors = {};
  if (!(error instanceof ApiError)) return out;
  for (const e of error.fieldErrors) {
    const field = prefix && e.field.startsWith(prefix) ? e.field.slice(prefix.length) : e.field;
    out[field] = out[field] ? `${out[field]}; ${e.message}` : e.message;
  }
  return out;
}

/** After the page shows the API's field errors: focus goes to the first field marked invalid. */
export function focusFirstInvalid(): void {
  window.setTimeout(() => document.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), 0);
}

interface FieldProps {
  id: string;
  label: string;
  value: string;
  onValue: (value: string) => void;
  error?: string | undefined;
  type?: 'text' | 'email' | 'password' | 'number' | 'tel';
  autoComplete?: string;
  required?: boolean;
  hint?: string;
  inputMode?: 'text' | 'decimal' | 'numeric' | 'email' | 'tel';
  maxLength?: number;
  min?: number;
}

/** A labelled input; its error (from the API) sits right under it and is tied to it for screen readers. */
export function Field(p: FieldProps) {
  const described = [p.hint ? `${p.id}-hint` : '', p.error ? `${p.id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={p.error ? 'field invalid' : 'field'}>
      <label for={p.id}>{p.label}{p.required ? '' : <span class="optional"> (optional)</span>}</label>
      {p.hint && <span id={`${p.id}-hint`} class="hint">{p.hint}</span>}
      <input
        id={p.id} name={p.id} type={(p.type ?? 'text') as 'text'} value={p.value} required={p.required}
        autoComplete={p.autoComplete} inputMode={p.inputMode} maxLength={p.maxLength} min={p.min}
        aria-invalid={p.error ? 'true' : undefined} aria-describedby={described}
        onInput={(e) => p.onValue((e.currentTarget as HTMLInputElement).value)}
      />
      {p.error && <span id={`${p.id}-error`} class="field-error">{p.error}</span>}
    </div>
  );
}

export function Alert({ children, tone = 'error' }: { children: ComponentChildren; tone?: 'error' | 'info' | 'success' }) {
  return <div class={`alert ${tone}`} role={tone === 'error' ? 'alert' : 'status'}>{children}</div>;
}

export const mediaUrl = (entry: MediaEntry): string => (typeof entry === 'string' ? entry : entry.url);

export function Stars({ rating, count }: { rating: number | null; count: number }) {
  if (rating === null || count === 0) return <span class="stars muted">No reviews yet</span>;
  const rounded = Math.round(rating * 10) / 10;
  return (
    <span class="stars">
      <span aria-hidden="true">{'★'.repeat(Math.round(rating))}{'☆'.repeat(5 - Math.round(rating))}</span>
      <span class="visually-hidden">Rated {rounded} out of 5</span> ({count} {count === 1 ? 'review' : 'reviews'})
    </span>
  );
}

export function ProductCard({ product, eager = false }: { product: ProductSummary; eager?: boolean }) {
  const image = product.images[0];
  return (
    <li class="card">
      <a href={`/p/${product.productId}`} class="card-link">
        {image
          ? <img src={mediaUrl(image)} alt="" width={320} height={240} loading={eager ? 'eager' : 'lazy'} decoding="async" />
          : <span class="placeholder" aria-hidden="true">{product.name.slice(0, 1)}</span>}
        <span class="card-name">{product.name}</span>
      </a>
      <span class="price">{money(product.priceCents, product.currency)}</span>
      <Stars rating={product.rating} count={product.reviewCount} />
    </li>
  );
}

export function Loading({ what }: { what: string }) {
  return <p class="muted" role="status">Loading {what}…</p>;
}
