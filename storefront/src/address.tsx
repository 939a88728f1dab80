/**
 * The shipping address form and the payment-method choice, used by checkout and by
 * "Buy now". The fields are checked by the API, whose problem+json names each bad field
 * (shippingAddress.city…): each message is shown next to its input.
 */
import { readStored, writeStored } from './store';
import { Field, type FieldErrors } from './ui';
import type { ShippingAddress } from './types';

const ADDRESS_KEY = 'sf:address';
const PAYMENT_KEY = 'sf:payment-method';

export const EMPTY_ADDRESS: ShippingAddress = { name: '', line1: '', line2: '', city: '', region: '', postalCode: '', country: '' };

export const savedAddress = (): ShippingAddress => ({ ...EMPTY_ADDRESS, ...readStored<Partial<ShippingAddress>>(ADDRESS_KEY, {}) });

/** The address as sent: trimmed, optional parts left out when empty. */
export function cleanAddress(a: ShippingAddress): ShippingAddress {
  const out: ShippingAddress = {
    name: a.name.trim(), line1: a.line1.trim(), city: a.city.trim(), postalCode: a.postalCode.trim(), country: a.country.trim(),
  };
  if (a.line2?.trim()) out.line2 = a.line2.trim();
  if (a.region?.trim()) out.region = a.region.trim();
  return out;
}

/** Remembered after an accepted order, to fill the next checkout. */
export function rememberAddress(a: ShippingAddress, paymentMethod: string): void {
  writeStored(ADDRESS_KEY, a);
  writeStored(PAYMENT_KEY, paymentMethod);
}

export function isComplete(a: ShippingAddress): boolean {
  return Boolean(a.name.trim() && a.line1.trim() && a.city.trim() && a.postalCode.trim() && a.country.trim());
}

export function AddressFields({ idPrefix, value, onChange, errors }: {
  idPrefix: string; value: ShippingAddress; onChange: (a: ShippingAddress) => void; errors: FieldErrors;
}) {
  const set = (key: keyof ShippingAddress) => (v: string) => onChange({ ...value, [key]: v });
  const id = (key: string) => `${idPrefix}-${key}`;
  return (
    <fieldset class="address">
      <legend>Shipping address</legend>
      <Field id={id('name')} label="Name" value={value.name} onValue={set('name')} error={errors.name} autoComplete="shipping name" required maxLength={100} />
      <Field id={id('line1')} label="Address line 1" value={value.line1} onValue={set('line1')} error={errors.line1} autoComplete="shipping address-line1" required maxLength={200} />
      <Field id={id('line2')} label="Address line 2" value={value.line2 ?? ''} onValue={set('line2')} error={errors.line2} autoComplete="shipping address-line2" maxLength={200} />
      <div class="row">
        <Field id={id('city')} label="City" value={value.city} onValue={set('city')} error={errors.city} autoComplete="shipping address-level2" required maxLength={100} />
        <Field id={id('region')} label="Region" value={value.region ?? ''} onValue={set('region')} error={errors.region} autoComplete="shipping address-level1" maxLength={100} />
      </div>
      <div class="row">
        <Field id={id('postalCode')} label="Postal code" value={value.postalCode} onValue={set('postalCode')} error={errors.postalCode} autoComplete="shipping postal-code" required maxLength={20} />
        <Field id={id('country')} label="Country" value={value.country} onValue={set('country')} error={errors.country}
          autoComplete="shipping country" required maxLength={60} hint="Two-letter code, such as US or DE" />
      </div>
    </fieldset>
  );
}

/** The payment sandbox's test tokens (demo mode): no card numbers ever reach this page. */
export const TEST_PAYMENT_METHODS = [
  { token: 'pm_card_visa', label: 'Visa test card (pays)' },
  { token: 'pm_card_mastercard', label: 'Mastercard test card (pays)' },
  { token: 'pm_card_amex', label: 'American Express test card (pays)' },
  { token: 'pm_card_chargeDeclined', label: 'Declined test card' },
  { token: 'pm_card_chargeDeclinedInsufficientFunds', label: 'Test card with insufficient funds' },
] as const;

export const savedPaymentMethod = (): string => {
  const saved = readStored<string>(PAYMENT_KEY, TEST_PAYMENT_METHODS[0].token);
  return TEST_PAYMENT_METHODS.some((m) => m.token === saved) ? saved : TEST_PAYMENT_METHODS[0].token;
};

export function PaymentChoice({ idPrefix, value, onChange, error }: {
  idPrefix: string; value: string; onChange: (token: string) => void; error?: string | undefined;
}) {
  return (
    <fieldset class="payment" aria-describedby={`${idPrefix}-pm-note${error ? ` ${idPrefix}-pm-error` : ''}`}>
      <legend>Payment method</legend>
      <p id={`${idPrefix}-pm-note`} class="hint">Demo mode: payments go to the payment sandbox. Pick a test card.</p>
      {TEST_PAYMENT_METHODS.map((m) => (
        <label key={m.token} class="choice">
          <input type="radio" name={`${idPrefix}-payment`} value={m.token} checked={value === m.token} onChange={() => onChange(m.token)} />
          {m.label}
        </label>
      ))}
      {error && <span id={`${idPrefix}-pm-error`} class="field-error">{error}</span>}
    </fieldset>
  );
}
