/**
 * POST /v1/payments/webhook: the payment provider's events. The signature (the
 * Stripe-Signature header over the raw body, with STRIPE_WEBHOOK_SECRET) is checked
 * before anything else is read; an event is handled once (by its id) and reconciled
 * with the order's state by common/settlement.ts, however late or out of order it is.
 */
import type { Router } from '../http.js';
import { perEdge, type EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { HttpProblem, problems } from '../problems.js';
import { createPaymentProvider, WebhookSignatureError } from '../../common/payments.js';
import { Settlement } from '../../common/settlement.js';
import { DependencyUnavailableError, PipelineError } from '../../common/errors.js';
import { createPool } from '../../common/db.js';

/** Postgres connections of the edge's payment work (webhooks, cancels), apart from the shop's. */
const SETTLEMENT_POOL_SIZE = 4;

/**
 * The edge's one Settlement (payments provider included, or none without STRIPE_SECRET_KEY).
 * It has a small pool of its own: in a sale the provider's events arrive in bursts, each
 * waiting on the order row the settler is confirming, and they must not take every
 * connection from shoppers' reads (a webhook that waits too long gets a 503, and the
 * provider sends it again).
 */
export const settlementOf = perEdge((deps) => new Settlement({
  pool: createPool(deps.config.databaseUrl, SETTLEMENT_POOL_SIZE), redis: deps.redis,
  provider: createPaymentProvider(deps.config), log: deps.log,
  ttlSeconds: deps.config.idempotencyTtlSeconds,
}));

/** A failure that trying again later can cure (Redis, Postgres, the provider) answers 503, not 500. */
export async function orUnavailable<T>(work: Promise<T>, dependency: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof HttpProblem || error instanceof DependencyUnavailableError) throw error;
    if (error instanceof PipelineError && !error.retriable) throw error;
    throw new DependencyUnavailableError(dependency, error);
  }
}

export function paymentRoutes(router: Router, deps: EdgeDeps): void {
  router.post('/v1/payments/webhook', {
    summary: 'Payment provider events (Stripe-Signature checked; handled once per event id)',
    access: 'anyone',
    body: validator('PaymentWebhookEvent'),
    headers: ['stripe-signature'],
    handler: async (ctx) => {
      const settlement = settlementOf(deps);
      if (!settlement.provider || !deps.config.stripeWebhookSecret) {
        throw problems.unavailable('Payments are not configured on this server (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET)', 60);
      }
      const signature = ctx.headers['stripe-signature'] ?? '';
      if (!signature) throw problems.badField('Stripe-Signature', 'header is required');
      let event;
      try {
        event = settlement.provider.verifyEvent(ctx.rawBody, signature);
      } catch (error) {
        if (!(error instanceof WebhookSignatureError)) throw error;
        throw new HttpProblem(400, 'invalid-signature', 'Invalid signature',
          'The Stripe-Signature header does not match this body and the configured webhook secret',
          { errors: [{ field: 'Stripe-Signature', message: 'does not verify' }] });
      }
      const result = await orUnavailable(settlement.handleEvent(event), 'postgres or redis');
      deps.log.info({ eventId: event.id, type: event.type, orderId: result.orderId, outcome: result.outcome, duplicate: result.duplicate }, 'payment event');
      return { status: 200, body: { received: true, eventId: event.id, duplicate: result.duplicate, outcome: result.outcome } };
    },
  });
}
