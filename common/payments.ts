/**
 * The payment-provider interface, the one home of it, and its Stripe implementation on
 * the real `stripe` SDK. Everything else (the settler, the webhook, cancellation) sees
 * only PaymentProvider and the outcomes and typed errors below.
 *
 * With STRIPE_API_BASE set, the SDK is pointed (host, port, protocol) at that address:
 * the project's sandbox (sandbox/payments-server.ts) or stripe-mock. Without it, the
 * same code talks to Stripe itself with STRIPE_SECRET_KEY.
 *
 * The SDK's own network retries are off (maxNetworkRetries 0): retries happen in one
 * place, common/retry.ts, driven by the `retriable` flag of the errors thrown here, and
 * always under the same idempotency key.
 */
import Stripe from 'stripe';
import { PipelineError } from './errors.js';

/** What the client must do to finish a payment that needs the customer (3-D Secure). */
export interface NextAction {
  /** The provider's action type, e.g. use_stripe_sdk or redirect_to_url. */
  type: string;
  /** The PaymentIntent's client secret, for the client-side SDK (handleNextAction). */
  clientSecret: string | null;
  /** Where to send the customer, for redirect actions. */
  url: string | null;
}

/** Where one PaymentIntent stands, as far as the order is concerned. */
export type PaymentOutcome =
  | { kind: 'succeeded'; paymentIntentId: string; amountCents: number; currency: string }
  | { kind: 'requires_action'; paymentIntentId: string; nextAction: NextAction }
  | { kind: 'processing'; paymentIntentId: string }
  | { kind: 'declined'; paymentIntentId: string | null; code: string; message: string }
  | { kind: 'canceled'; paymentIntentId: string }
  /** Created but not (or no longer) being paid: requires_confirmation, requires_payment_method without an error. */
  | { kind: 'open'; paymentIntentId: string; status: string };

export interface ChargeRequest {
  orderId: string;
  amountCents: number;
  /** ISO 4217, any case. */
  currency: string;
  /** A payment-method token (pm_...), never card numbers. */
  paymentMethod: string;
}

/** A verified provider event about a PaymentIntent. */
export interface PaymentEvent {
  id: string;
  type: string;
  occurredAt: Date;
  paymentIntentId: string | null;
  /** From the intent's metadata (set at creation). */
  orderId: string | null;
  /** The intent's state as the event carries it; null for events that are not about one. */
  outcome: PaymentOutcome | null;
}

export interface Refund { refundId: string; status: string }

export interface PaymentProvider {
  /** Creates and confirms the order's PaymentIntent (idempotency key: the order id). */
  charge(request: ChargeRequest): Promise<PaymentOutcome>;
  /** Confirms an intent that was created but not confirmed. */
  confirm(paymentIntentId: string, orderId: string): Promise<PaymentOutcome>;
  retrieve(paymentIntentId: string): Promise<PaymentOutcome>;
  /** Cancels an unfinished intent; an intent that already succeeded answers succeeded. */
  cancel(paymentIntentId: string, orderId: string): Promise<PaymentOutcome>;
  /** The order's intent, found by its metadata (for a charge whose answer was lost); null if none. */
  findByOrder(orderId: string): Promise<PaymentOutcome | null>;
  /** Refunds the whole intent (idempotency key derived from the order id). */
  refund(paymentIntentId: string, orderId: string): Promise<Refund>;
  /** Verifies a webhook's signature over the raw body; throws WebhookSignatureError. */
  verifyEvent(rawBody: string | Buffer, signature: string): PaymentEvent;
}

/** The provider cannot answer now (timeout, connection, 5xx, 429, a concurrent request on the key): retry under the same key. */
export class PaymentUnavailableError extends PipelineError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: true, cause });
  }
}

/** The provider refused the request itself (bad parameters, credentials): retrying cannot help. */
export class PaymentRequestError extends PipelineError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: false, cause });
  }
}

export class WebhookSignatureError extends PipelineError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: false, cause });
  }
}

export interface PaymentSettings {
  secretKey: string;
  webhookSecret: string | undefined;
  /** Sandbox override, e.g. http://127.0.0.1:12111. */
  apiBase: string | undefined;
  timeoutMs: number;
}

/** The SDK's address options for an API base URL (host, port, protocol). */
export function sdkAddress(apiBase: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const url = new URL(apiBase);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443, protocol };
}

/** The configured provider, or null when this process has no STRIPE_SECRET_KEY. */
export function createPaymentProvider(config: {
  stripeSecretKey: string | undefined; stripeWebhookSecret: string | undefined; stripeApiBase: string | undefined; paymentTimeoutMs: number;
}): PaymentProvider | null {
  if (!config.stripeSecretKey) return null;
  return new StripePaymentProvider({
    secretKey: config.stripeSecretKey, webhookSecret: config.stripeWebhookSecret,
    apiBase: config.stripeApiBase, timeoutMs: config.paymentTimeoutMs,
  });
}

export class StripePaymentProvider implements PaymentProvider {
  private readonly stripe: Stripe;

  constructor(private readonly settings: PaymentSettings) {
    this.stripe = new Stripe(settings.secretKey, {
      maxNetworkRetries: 0,
      timeout: settings.timeoutMs,
      telemetry: false,
      appInfo: { name: 'flashsale-pipeline' },
      ...(settings.apiBase ? sdkAddress(settings.apiBase) : {}),
    });
  }

  async charge(request: ChargeRequest): Promise<PaymentOutcome> {
    return this.call(() => this.stripe.paymentIntents.create({
      amount: request.amountCents,
      currency: request.currency.toLowerCase(),
      payment_method: request.paymentMethod,
      payment_method_types: ['card'],
      confirm: true,
      description: `Order ${request.orderId}`,
      metadata: { order_id: request.orderId },
    }, { idempotencyKey: request.orderId }));
  }

  async confirm(paymentIntentId: string, orderId: string): Promise<PaymentOutcome> {
    return this.call(() => this.stripe.paymentIntents.confirm(paymentIntentId, {}, { idempotencyKey: `confirm-${orderId}` }));
  }

  async retrieve(paymentIntentId: string): Promise<PaymentOutcome> {
    return this.call(() => this.stripe.paymentIntents.retrieve(paymentIntentId));
  }

  async cancel(paymentIntentId: string, orderId: string): Promise<PaymentOutcome> {
    return this.call(() => this.stripe.paymentIntents.cancel(paymentIntentId, { cancellation_reason: 'abandoned' },
      { idempotencyKey: `cancel-${orderId}` }));
  }

  async findByOrder(orderId: string): Promise<PaymentOutcome | null> {
    const found = await this.request(() => this.stripe.paymentIntents.search({ query: `metadata['order_id']:'${orderId}'`, limit: 10 }));
    const intents = found.data;
    // One key per order means one intent; should there be more, the one that took money wins.
    const intent = intents.find((pi) => pi.status === 'succeeded') ?? intents[0];
    return intent ? outcomeOf(intent) : null;
  }

  async refund(paymentIntentId: string, orderId: string): Promise<Refund> {
    const refund = await this.request(() => this.stripe.refunds.create(
      { payment_intent: paymentIntentId, metadata: { order_id: orderId } }, { idempotencyKey: `refund-${orderId}` }));
    return { refundId: refund.id, status: refund.status ?? 'pending' };
  }

  verifyEvent(rawBody: string | Buffer, signature: string): PaymentEvent {
    if (!this.settings.webhookSecret) throw new WebhookSignatureError('no webhook secret is configured (STRIPE_WEBHOOK_SECRET)');
    let event: Stripe.Event;
    try {
      event = this.stripe.webhooks.constructEvent(rawBody, signature, this.settings.webhookSecret);
    } catch (error) {
      throw new WebhookSignatureError((error as Error).message, error);
    }
    const object = event.data.object as { object?: string };
    const intent = object.object === 'payment_intent' ? (object as Stripe.PaymentIntent) : null;
    return {
      id: event.id,
      type: event.type,
      occurredAt: new Date(event.created * 1000),
      paymentIntentId: intent?.id ?? null,
      orderId: intent?.metadata?.order_id ?? null,
      outcome: intent ? outcomeOf(intent) : null,
    };
  }

  /** A call that answers with a PaymentIntent; a card decline is an outcome, not an error. */
  private async call(operation: () => Promise<Stripe.PaymentIntent>): Promise<PaymentOutcome> {
    try {
      return outcomeOf(await operation());
    } catch (error) {
      const answer = intentInError(error);
      if (answer) return answer;
      throw classify(error);
    }
  }

  private async request<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw classify(error);
    }
  }
}

/** The order's view of a PaymentIntent. */
export function outcomeOf(pi: Stripe.PaymentIntent): PaymentOutcome {
  switch (pi.status) {
    case 'succeeded':
      return { kind: 'succeeded', paymentIntentId: pi.id, amountCents: pi.amount_received || pi.amount, currency: pi.currency.toUpperCase() };
    case 'requires_action': {
      const action = pi.next_action;
      return {
        kind: 'requires_action', paymentIntentId: pi.id,
        nextAction: { type: action?.type ?? 'use_stripe_sdk', clientSecret: pi.client_secret, url: action?.redirect_to_url?.url ?? null },
      };
    }
    case 'processing':
      return { kind: 'processing', paymentIntentId: pi.id };
    case 'canceled':
      return { kind: 'canceled', paymentIntentId: pi.id };
    default: {
      const failure = pi.last_payment_error;
      if (failure) {
        return { kind: 'declined', paymentIntentId: pi.id, code: failure.decline_code ?? failure.code ?? 'declined', message: failure.message ?? 'The payment was declined' };
      }
      return { kind: 'open', paymentIntentId: pi.id, status: pi.status };
    }
  }
}

/**
 * Errors that still answer the question: a card error (declined), an invalid payment
 * method, or a cancel of an intent that already finished, each carrying the intent.
 */
function intentInError(error: unknown): PaymentOutcome | null {
  if (!(error instanceof Stripe.errors.StripeError)) return null;
  if (error instanceof Stripe.errors.StripeCardError) {
    return {
      kind: 'declined', paymentIntentId: error.payment_intent?.id ?? null,
      code: error.decline_code ?? error.code ?? 'card_declined', message: error.message,
    };
  }
  if (error instanceof Stripe.errors.StripeInvalidRequestError) {
    if (error.code === 'payment_intent_unexpected_state' && error.payment_intent) return outcomeOf(error.payment_intent);
    if (error.param === 'payment_method') {
      return { kind: 'declined', paymentIntentId: error.payment_intent?.id ?? null, code: error.code ?? 'invalid_payment_method', message: error.message };
    }
  }
  return null;
}

/** The provider has no such object (Stripe's `resource_missing`): it never took a payment under it. */
export function isUnknownToProvider(error: unknown): boolean {
  const cause = error instanceof PipelineError ? error.cause : error;
  return cause instanceof Stripe.errors.StripeInvalidRequestError && cause.code === 'resource_missing';
}

/** Maps an SDK error to a typed error that says whether a retry can help. */
export function classify(error: unknown): PipelineError {
  if (error instanceof PipelineError) return error;
  if (!(error instanceof Stripe.errors.StripeError)) return new PaymentUnavailableError(`payment provider call failed: ${String(error)}`, error);
  const status = error.statusCode ?? 0;
  if (error instanceof Stripe.errors.StripeConnectionError || error instanceof Stripe.errors.StripeAPIError
    || error instanceof Stripe.errors.StripeRateLimitError || status === 409 || status >= 500) {
    return new PaymentUnavailableError(`payment provider unavailable (${status || 'no answer'}): ${error.message}`, error);
  }
  return new PaymentRequestError(`payment provider refused the request (${status}, ${error.code ?? error.type}): ${error.message}`, error);
}
