/**
 * The payment sandbox's model of Stripe, for the calls the project makes:
 * PaymentIntents (create with or without confirm, confirm, retrieve, cancel, search by
 * metadata) and refunds, with Stripe's idempotency semantics and test payment-method
 * tokens whose outcomes are fixed.
 *
 * Idempotency, as Stripe documents it for API v1: the first request with a key that
 * starts executing has its status and body saved; a later request with the same key
 * and the same parameters gets that answer again (header Idempotent-Replayed: true),
 * 500s included; the same key with other parameters is a 400 idempotency_error; a
 * request while another with the key is executing is a 409; a request refused before
 * executing (validation, a 503 in front of the API) saves nothing.
 *
 * Tokens (pm_card_* are Stripe's own test tokens; pm_sandbox_* are the project's):
 *   pm_card_visa, pm_card_mastercard, pm_card_amex, …   succeeds
 *   pm_card_chargeDeclined (+ InsufficientFunds, ExpiredCard, Fraudulent, IncorrectCvc)  declined (402 card_error)
 *   pm_card_threeDSecure2Required, pm_card_authenticationRequired   requires_action (3-D Secure)
 *   pm_sandbox_timeout         never answers and never executes (a request lost on the way)
 *   pm_sandbox_timeoutOnce     the first request executes (the charge succeeds) but its answer
 *                              never comes; a retry with the key gets the saved answer
 *   pm_sandbox_serverError     500 api_error, saved under the key like Stripe's (every retry replays it)
 *   pm_sandbox_serverErrorOnce the first request gets a 503 before executing; a retry succeeds
 *   pm_sandbox_slow            succeeds after a slow answer (SANDBOX_SLOW_MS)
 */
import { randomBytes } from 'node:crypto';
import { canonical, type Form, type FormValue } from './form.js';

export interface SandboxReply {
  status: number;
  body: unknown;
  /** Withhold the answer: the client times out. */
  hang?: boolean;
  /** Extra delay before answering. */
  delayMs?: number;
  headers?: Record<string, string>;
}

export interface SandboxEvent {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
  data: { object: unknown };
}

interface PaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  currency: string;
  status: string;
  client_secret: string;
  confirmation_method: 'automatic';
  capture_method: 'automatic';
  created: number;
  livemode: false;
  description: string | null;
  metadata: Record<string, string>;
  payment_method: string | null;
  payment_method_types: string[];
  next_action: unknown;
  last_payment_error: unknown;
  latest_charge: string | null;
  canceled_at: number | null;
  cancellation_reason: string | null;
}

const SUCCEEDS = new Set(['pm_card_visa', 'pm_card_visa_debit', 'pm_card_mastercard', 'pm_card_amex', 'pm_card_discover', 'pm_card_us',
  'pm_sandbox_timeoutOnce', 'pm_sandbox_serverErrorOnce', 'pm_sandbox_slow']);
const DECLINES: Record<string, { code: string; decline: string; message: string }> = {
  pm_card_chargeDeclined: { code: 'card_declined', decline: 'generic_decline', message: 'Your card was declined.' },
  pm_card_visa_chargeDeclined: { code: 'card_declined', decline: 'generic_decline', message: 'Your card was declined.' },
  pm_card_chargeDeclinedInsufficientFunds: { code: 'card_declined', decline: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  pm_card_chargeDeclinedExpiredCard: { code: 'expired_card', decline: 'expired_card', message: 'Your card has expired.' },
  pm_card_chargeDeclinedFraudulent: { code: 'card_declined', decline: 'fraudulent', message: 'Your card was declined.' },
  pm_card_chargeDeclinedIncorrectCvc: { code: 'incorrect_cvc', decline: 'incorrect_cvc', message: "Your card's security code is incorrect." },
};
/** Tokens whose payment waits for the buyer (3-D Secure): never completed unless authenticated. */
export const NEEDS_ACTION = new Set(['pm_card_threeDSecure2Required', 'pm_card_authenticationRequired']);
const API_VERSION = '2026-02-25.clover';

const id = (prefix: string): string => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
const now = (): number => Math.floor(Date.now() / 1000);
const str = (value: FormValue | undefined): string | undefined => (typeof value === 'string' ? value : undefined);

function stripeError(status: number, error: Record<string, unknown>): SandboxReply {
  return { status, body: { error } };
}
const invalid = (message: string, param?: string, code?: string) =>
  stripeError(400, { type: 'invalid_request_error', message, ...(param ? { param } : {}), ...(code ? { code } : {}) });

interface SavedRequest { fingerprint: string; reply: SandboxReply | null }

export interface KeyStats { requests: number; replays: number; executions: number }

export interface SandboxOptions {
  /** This sandbox's own address, for 3-D Secure pages. */
  baseUrl: string;
  slowMs: number;
  onEvent: (event: SandboxEvent) => void;
}

export class StripeSandbox {
  private readonly intents = new Map<string, PaymentIntent>();
  /** The intents of each order (metadata.order_id): searches and per-order stats need not scan every intent of a long run. */
  private readonly intentsOfOrder = new Map<string, PaymentIntent[]>();
  private readonly saved = new Map<string, SavedRequest>();
  private readonly keyStats = new Map<string, KeyStats>();
  private readonly events: SandboxEvent[] = [];
  private readonly refunds = new Map<string, number>();
  readonly totals = { requests: 0, replays: 0, paymentIntents: 0, charges: 0, declines: 0, refunds: 0, hung: 0, serverErrors: 0 };

  constructor(private readonly options: SandboxOptions) {}

  /**
   * One API request. `execute` runs between the in-flight mark and the save, after
   * `latency` has passed (the provider's own processing time).
   */
  async request(method: string, path: string, params: Form, idempotencyKey: string | undefined, latency: () => Promise<void>): Promise<SandboxReply> {
    this.totals.requests++;
    const stats = idempotencyKey ? this.statsOf(idempotencyKey) : undefined;
    if (stats) stats.requests++;
    if (method !== 'POST' || !idempotencyKey) {
      await latency();
      return this.route(method, path, params, null);
    }
    const fingerprint = `${method} ${path} ${canonical(params)}`;
    const earlier = this.saved.get(idempotencyKey);
    if (earlier) {
      if (earlier.fingerprint !== fingerprint) {
        return stripeError(400, {
          type: 'idempotency_error',
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
        });
      }
      if (!earlier.reply) {
        return stripeError(409, { type: 'invalid_request_error', code: 'idempotency_key_in_use',
          message: 'There is currently another in-progress request using this Stripe token (probably means you clicked twice). Please try again.' });
      }
      this.totals.replays++;
      stats!.replays++;
      await latency();
      return { ...earlier.reply, hang: false, delayMs: 0, headers: { ...earlier.reply.headers, 'idempotent-replayed': 'true' } };
    }
    const token = str(params.payment_method);
    // Refused before executing: nothing is saved, so a retry executes afresh.
    if (token === 'pm_sandbox_timeout') {
      this.totals.hung++;
      return { status: 0, body: null, hang: true };
    }
    if (token === 'pm_sandbox_serverErrorOnce' && stats!.requests === 1) {
      this.totals.serverErrors++;
      return stripeError(503, { type: 'api_error', message: 'The sandbox is briefly unavailable (before executing); retry with the same key.' });
    }
    this.saved.set(idempotencyKey, { fingerprint, reply: null });
    await latency();
    const reply = this.route(method, path, params, idempotencyKey);
    if (reply.status === 400 && !(reply.body as { error: { payment_intent?: unknown } }).error.payment_intent) {
      this.saved.delete(idempotencyKey); // a validation failure saves nothing
      return reply;
    }
    stats!.executions++;
    this.saved.set(idempotencyKey, { fingerprint, reply });
    if (token === 'pm_sandbox_timeoutOnce' && stats!.requests === 1) {
      this.totals.hung++;
      return { ...reply, hang: true };
    }
    return reply;
  }

  private route(method: string, path: string, params: Form, key: string | null): SandboxReply {
    const parts = path.split('/').filter(Boolean); // v1, payment_intents, id, action
    if (parts[1] === 'payment_intents') {
      if (method === 'POST' && parts.length === 2) return this.create(params, key);
      if (method === 'GET' && parts[2] === 'search') return this.search(params);
      const pi = parts[2] ? this.intents.get(parts[2]) : undefined;
      if (!pi) return invalid(`No such payment_intent: '${parts[2] ?? ''}'`, 'intent', 'resource_missing');
      if (method === 'GET' && parts.length === 3) return { status: 200, body: pi };
      if (method === 'POST' && parts[3] === 'confirm') return this.confirm(pi, params, key);
      if (method === 'POST' && parts[3] === 'cancel') return this.cancel(pi, params, key);
    }
    if (parts[1] === 'refunds' && method === 'POST' && parts.length === 2) return this.refund(params, key);
    return stripeError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}). The sandbox serves PaymentIntents and refunds only.` });
  }

  private create(params: Form, key: string | null): SandboxReply {
    const amount = Number(str(params.amount));
    const currency = str(params.currency);
    if (!Number.isInteger(amount) || amount < 1 || amount > 99_999_999) return invalid('Invalid integer: amount', 'amount');
    if (!currency || !/^[a-z]{3}$/i.test(currency)) return invalid('Invalid currency', 'currency');
    const pm = str(params.payment_method) ?? null;
    const metadata = (typeof params.metadata === 'object' && !Array.isArray(params.metadata) ? params.metadata : {}) as Record<string, string>;
    const types = Array.isArray(params.payment_method_types) ? params.payment_method_types.map(String) : ['card'];
    const piId = id('pi');
    const pi: PaymentIntent = {
      id: piId, object: 'payment_intent', amount, amount_received: 0, currency: currency.toLowerCase(),
      status: pm ? 'requires_confirmation' : 'requires_payment_method', client_secret: `${piId}_secret_${randomBytes(12).toString('hex')}`,
      confirmation_method: 'automatic', capture_method: 'automatic', created: now(), livemode: false,
      description: str(params.description) ?? null, metadata, payment_method: pm, payment_method_types: types,
      next_action: null, last_payment_error: null, latest_charge: null, canceled_at: null, cancellation_reason: null,
    };
    if (pm && !this.knownToken(pm)) return invalid(`No such PaymentMethod: '${pm}'`, 'payment_method', 'resource_missing');
    if (pm === 'pm_sandbox_serverError') return this.serverError();
    this.intents.set(pi.id, pi);
    if (metadata.order_id) this.intentsOfOrder.set(metadata.order_id, [...(this.intentsOfOrder.get(metadata.order_id) ?? []), pi]);
    this.totals.paymentIntents++;
    this.emit('payment_intent.created', pi, key);
    if (str(params.confirm) === 'true') return this.confirm(pi, params, key);
    return { status: 200, body: pi };
  }

  private confirm(pi: PaymentIntent, params: Form, key: string | null): SandboxReply {
    if (pi.status !== 'requires_confirmation' && pi.status !== 'requires_payment_method') return this.unexpectedState(pi, 'confirm');
    const pm = str(params.payment_method) ?? pi.payment_method;
    if (!pm) return invalid('You cannot confirm this PaymentIntent because it\'s missing a payment method.', 'payment_method', 'payment_intent_unexpected_state');
    if (!this.knownToken(pm)) return invalid(`No such PaymentMethod: '${pm}'`, 'payment_method', 'resource_missing');
    pi.payment_method = pm;
    pi.last_payment_error = null;
    const decline = DECLINES[pm];
    if (decline) {
      const charge = id('ch');
      pi.status = 'requires_payment_method';
      pi.latest_charge = charge;
      pi.last_payment_error = { type: 'card_error', code: decline.code, decline_code: decline.decline, message: decline.message, charge, payment_method: { id: pm, object: 'payment_method', type: 'card' } };
      this.totals.declines++;
      this.emit('payment_intent.payment_failed', pi, key);
      return stripeError(402, { type: 'card_error', code: decline.code, decline_code: decline.decline, message: decline.message, charge, payment_intent: pi });
    }
    if (NEEDS_ACTION.has(pm)) {
      const url = `${this.options.baseUrl}/_sandbox/payment_intents/${pi.id}/authenticate`;
      const returnUrl = str(params.return_url);
      pi.status = 'requires_action';
      pi.next_action = returnUrl
        ? { type: 'redirect_to_url', redirect_to_url: { url, return_url: returnUrl } }
        : { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: url, source: pi.payment_method } };
      this.emit('payment_intent.requires_action', pi, key);
      return { status: 200, body: pi };
    }
    if (pm === 'pm_sandbox_serverError') return this.serverError();
    this.succeed(pi, key);
    return { status: 200, body: pi, delayMs: pm === 'pm_sandbox_slow' ? this.options.slowMs : 0 };
  }

  /** A 500 after executing began: saved under the key like Stripe's; no intent is left behind. */
  private serverError(): SandboxReply {
    this.totals.serverErrors++;
    return stripeError(500, { type: 'api_error', message: 'An unknown error occurred in the sandbox (saved under the idempotency key, as Stripe does).' });
  }

  private succeed(pi: PaymentIntent, key: string | null): void {
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    pi.latest_charge = id('ch');
    pi.next_action = null;
    this.totals.charges++;
    this.emit('payment_intent.succeeded', pi, key);
  }

  private cancel(pi: PaymentIntent, params: Form, key: string | null): SandboxReply {
    if (!['requires_payment_method', 'requires_confirmation', 'requires_action', 'processing'].includes(pi.status)) return this.unexpectedState(pi, 'cancel');
    pi.status = 'canceled';
    pi.next_action = null;
    pi.canceled_at = now();
    pi.cancellation_reason = str(params.cancellation_reason) ?? null;
    this.emit('payment_intent.canceled', pi, key);
    return { status: 200, body: pi };
  }

  private unexpectedState(pi: PaymentIntent, action: string): SandboxReply {
    return stripeError(400, {
      type: 'invalid_request_error', code: 'payment_intent_unexpected_state', payment_intent: pi,
      message: `You cannot ${action} this PaymentIntent because it has a status of ${pi.status}.`,
    });
  }

  private search(params: Form): SandboxReply {
    const query = str(params.query) ?? '';
    const clauses = [...query.matchAll(/metadata\['([^']+)'\]:'([^']*)'/g)];
    if (clauses.length === 0) return invalid('The sandbox searches by metadata only, e.g. metadata[\'order_id\']:\'…\'', 'query');
    const byOrder = clauses.find(([, k]) => k === 'order_id');
    const candidates = byOrder ? this.intentsOfOrder.get(byOrder[2]!) ?? [] : [...this.intents.values()];
    const data = candidates.filter((pi) => clauses.every(([, k, v]) => pi.metadata[k!] === v));
    return { status: 200, body: { object: 'search_result', url: '/v1/payment_intents/search', has_more: false, next_page: null, data } };
  }

  private refund(params: Form, key: string | null): SandboxReply {
    const pi = this.intents.get(str(params.payment_intent) ?? '');
    if (!pi) return invalid(`No such payment_intent: '${str(params.payment_intent) ?? ''}'`, 'payment_intent', 'resource_missing');
    if (pi.status !== 'succeeded') return invalid(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, 'payment_intent', 'charge_not_refundable');
    const already = this.refunds.get(pi.id) ?? 0;
    const amount = str(params.amount) ? Number(str(params.amount)) : pi.amount - already;
    if (amount <= 0 || already + amount > pi.amount) return invalid(`Charge ${pi.latest_charge ?? ''} has already been refunded.`, undefined, 'charge_already_refunded');
    this.refunds.set(pi.id, already + amount);
    this.totals.refunds++;
    const refund = {
      id: id('re'), object: 'refund', amount, currency: pi.currency, payment_intent: pi.id, charge: pi.latest_charge,
      status: 'succeeded', reason: str(params.reason) ?? null, created: now(), metadata: params.metadata ?? {},
    };
    this.emit('charge.refunded', { id: pi.latest_charge, object: 'charge', amount: pi.amount, amount_refunded: already + amount, payment_intent: pi.id, refunded: already + amount === pi.amount }, key);
    return { status: 200, body: refund };
  }

  /** Finishes a 3-D Secure step, as the customer would: succeed or fail. */
  authenticate(piId: string, result: 'succeed' | 'fail'): SandboxReply {
    const pi = this.intents.get(piId);
    if (!pi) return invalid(`No such payment_intent: '${piId}'`, 'intent', 'resource_missing');
    if (pi.status !== 'requires_action') return this.unexpectedState(pi, 'authenticate');
    if (result === 'succeed') {
      this.succeed(pi, null);
    } else {
      pi.status = 'requires_payment_method';
      pi.next_action = null;
      pi.last_payment_error = { type: 'invalid_request_error', code: 'payment_intent_authentication_failure',
        message: 'The provided PaymentMethod has failed authentication.', payment_method: { id: pi.payment_method, object: 'payment_method', type: 'card' } };
      this.emit('payment_intent.payment_failed', pi, null);
    }
    return { status: 200, body: pi };
  }

  /** What happened for one order (by the intents' metadata and the idempotency key = order id). */
  orderStats(orderId: string): Record<string, unknown> {
    const intents = this.intentsOfOrder.get(orderId) ?? [];
    return {
      orderId,
      paymentIntents: intents.map((pi) => ({ id: pi.id, status: pi.status, amount: pi.amount, currency: pi.currency, refunded: this.refunds.get(pi.id) ?? 0 })),
      charges: intents.filter((pi) => pi.status === 'succeeded').length,
      refunds: intents.filter((pi) => (this.refunds.get(pi.id) ?? 0) > 0).length,
      key: this.keyStats.get(orderId) ?? { requests: 0, replays: 0, executions: 0 },
    };
  }

  eventsOf(piId: string | null): SandboxEvent[] {
    return piId ? this.events.filter((e) => (e.data.object as { id?: string; payment_intent?: string }).id === piId
      || (e.data.object as { payment_intent?: string }).payment_intent === piId) : this.events.slice(-100);
  }

  private knownToken(pm: string): boolean {
    return SUCCEEDS.has(pm) || pm in DECLINES || NEEDS_ACTION.has(pm) || pm === 'pm_sandbox_serverError' || pm === 'pm_sandbox_timeout';
  }

  private statsOf(key: string): KeyStats {
    let stats = this.keyStats.get(key);
    if (!stats) {
      stats = { requests: 0, replays: 0, executions: 0 };
      this.keyStats.set(key, stats);
    }
    return stats;
  }

  private emit(type: string, object: unknown, key: string | null): void {
    const event: SandboxEvent = {
      id: id('evt'), object: 'event', api_version: API_VERSION, created: now(), livemode: false, pending_webhooks: 1,
      request: { id: id('req'), idempotency_key: key }, type,
      data: { object: structuredClone(object) },
    };
    this.events.push(event);
    this.options.onEvent(event);
  }
}
