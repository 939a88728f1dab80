/** Money in minor units, shown in the shopper's locale; dates and statuses in words. */

const formatters = new Map<string, Intl.NumberFormat>();

export function money(cents: number, currency: string | null | undefined): string {
  const code = currency || 'USD';
  let f = formatters.get(code);
  if (!f) {
    try {
      f = new Intl.NumberFormat(undefined, { style: 'currency', currency: code });
    } catch {
      f = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    formatters.set(code, f);
  }
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  return f.format(cents / 10 ** digits);
}

export function dateTime(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

const STATUS_WORDS: Record<string, string> = {
  accepted: 'Accepted', pending_payment: 'Awaiting payment', paid: 'Paid', confirmed: 'Confirmed', shipped: 'Shipped',
  delivered: 'Delivered', failed: 'Failed', cancelled: 'Cancelled', expired: 'Expired',
};

export const statusWord = (status: string): string => STATUS_WORDS[status] ?? status;

/** Statuses after which an order no longer changes by itself (its page stops polling). */
export const FINAL_STATUSES = new Set(['delivered', 'failed', 'cancelled', 'expired']);
