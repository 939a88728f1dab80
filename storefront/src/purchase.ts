/**
 * Placing an order safely under a flash sale.
 *
 * One purchase attempt = one Idempotency-Key, made when the shopper presses the button and
 * kept in sessionStorage with the exact body until the attempt ends, so
 *  - a double click joins the attempt under way (no second request with a new key);
 *  - a reload finds the stored attempt and resumes it with the same key and body: the
 *    edge answers with the order already placed, never a second one;
 *  - a 503 is retried after its Retry-After with the same key (the page says demand is
 *    high meanwhile), and so is a request that got no answer at all (offline, cut);
 *  - a final answer (202, or a 4xx such as sold out or over the limit) ends the attempt.
 */
import { api, ApiError, NetworkError, newKey } from './api';
import { readStored, writeStored } from './store';
import type { OrderRequest } from './types';

export interface Attempt { key: string; body: OrderRequest; startedAt: number }

/** An accepted order, with the request it was placed with (a resumed attempt's may differ from the form's). */
export interface Placed { orderId: string; status: string; request: OrderRequest }

export interface AttemptEvents {
  /** The shop is busy (503) or unreachable: waiting `retryInMs`, then trying again with the same key. */
  onWaiting?: (retryInMs: number, reason: 'busy' | 'offline') => void;
}

/** How long one attempt keeps retrying before it gives the decision back to the shopper. */
const GIVE_UP_AFTER_MS = 5 * 60_000;
const MIN_WAIT_MS = 250;
const MAX_WAIT_MS = 10_000;

const storageKey = (slot: string): string => `sf:attempt:${slot}`;

/** The attempt left by a reload (or another tab of this session), if any. */
export function pendingAttempt(slot: string): Attempt | null {
  const attempt = readStored<Attempt | null>(storageKey(slot), null, sessionStorage);
  return attempt && Date.now() - attempt.startedAt < GIVE_UP_AFTER_MS ? attempt : null;
}

const inFlight = new Map<string, Promise<Placed>>();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => window.setTimeout(resolve, ms));

/**
 * Places the order of `slot` (one slot per button: "buy:<productId>", "checkout"): joins
 * the attempt under way, resumes a stored one, or starts a new one with a new key.
 * Resolves on 202; rejects with the ApiError of a final refusal.
 */
export function placeOrder(slot: string, body: OrderRequest, events: AttemptEvents = {}): Promise<Placed> {
  const running = inFlight.get(slot);
  if (running) return running;
  const attempt = pendingAttempt(slot) ?? { key: newKey(), body, startedAt: Date.now() };
  writeStored(storageKey(slot), attempt, sessionStorage);
  const run = send(attempt, events).then(
    (placed) => { writeStored(storageKey(slot), null, sessionStorage); return placed; },
    (error: unknown) => {
      // A refusal is final for this key; a give-up after retries leaves the attempt stored for a later resume.
      if (error instanceof ApiError && error.status !== 503) writeStored(storageKey(slot), null, sessionStorage);
      throw error;
    },
  ).finally(() => inFlight.delete(slot));
  inFlight.set(slot, run);
  return run;
}

async function send(attempt: Attempt, events: AttemptEvents): Promise<Placed> {
  let backoff = 1000;
  for (;;) {
    try {
      const placed = await api<{ orderId: string; status: string }>('POST', '/v1/orders', {
        body: attempt.body, headers: { 'idempotency-key': attempt.key },
      });
      return { orderId: placed.orderId, status: placed.status, request: attempt.body };
    } catch (error) {
      const busy = error instanceof ApiError && error.status === 503;
      if (!busy && !(error instanceof NetworkError)) throw error;
      if (Date.now() - attempt.startedAt > GIVE_UP_AFTER_MS) throw error;
      const wait = busy && error.retryAfterMs !== null
        ? Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, error.retryAfterMs))
        : Math.min(MAX_WAIT_MS, backoff);
      backoff = Math.min(MAX_WAIT_MS, backoff * 2);
      events.onWaiting?.(wait, busy ? 'busy' : 'offline');
      await sleep(wait);
    }
  }
}

/**
 * What the page says while an attempt waits to be sent again: that it is kept (the same
 * key, so it can never become a second order) and when the next try is.
 */
export function waitingNote(retryInMs: number, reason: 'busy' | 'offline'): string {
  const seconds = Math.ceil(retryInMs / 1000);
  return reason === 'busy'
    ? `Demand is high. Your place is kept: trying again in ${seconds} s with the same order.`
    : `Connection lost. Your order attempt is kept; trying again in ${seconds} s.`;
}

/** What to tell the shopper about a refused order, plainly. */
export function refusalMessage(error: unknown): string {
  if (!(error instanceof ApiError)) return 'We could not reach the shop. Your order was not placed yet; try again.';
  const p = error.problem;
  switch (error.slug) {
    case 'sold-out': return 'Sold out: every unit has been sold.';
    case 'limit-exceeded': {
      const limit = typeof p.perUserLimit === 'number' ? p.perUserLimit : null;
      return limit === null ? 'You have reached the limit per customer for this sale.'
        : `Limit reached: this sale allows ${limit} per customer, and you have them already.`;
    }
    case 'sale-paused': return 'The sale is paused right now. Try again in a moment.';
    case 'sale-not-started': return 'The sale has not started yet.';
    case 'idempotency-key-reused': return 'This order changed while it was being placed. Please place it again.';
    case 'service-unavailable': return 'Demand is very high and the shop could not take your order yet. Try again.';
    default: return p.detail || p.title;
  }
}
