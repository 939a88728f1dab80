/**
 * Decodes the request bodies the Stripe SDK sends: application/x-www-form-urlencoded
 * with bracketed keys (`metadata[order_id]=…`, `payment_method_types[0]=card`,
 * `expand[]=…`) into nested objects and arrays.
 */
export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type Form = { [key: string]: FormValue };

export function decodeForm(body: string): Form {
  const root: Form = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const [head, ...rest] = rawKey.split('[');
    const path = [head!, ...rest.map((part) => part.replace(/]$/, ''))];
    assign(root, path, value);
  }
  return root;
}

function assign(target: Form | FormValue[], path: string[], value: string): void {
  const [key, ...rest] = path;
  const slot = key === '' && Array.isArray(target) ? String(target.length) : key!;
  if (rest.length === 0) {
    (target as Record<string, FormValue>)[slot] = value;
    return;
  }
  const container = target as Record<string, FormValue>;
  if (container[slot] === undefined || typeof container[slot] === 'string') {
    container[slot] = rest[0] === '' || /^\d+$/.test(rest[0]!) ? [] : {};
  }
  assign(container[slot] as Form | FormValue[], rest, value);
}

/** A canonical text of a form, to compare the parameters of two requests. */
export function canonical(value: FormValue | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
}
