/**
 * The payment provider's calls as Stripe sees them.
 *
 * 1. Against stripe-mock (Stripe's own mock, which validates every request against
 *    Stripe's OpenAPI description): each call common/payments.ts makes through the
 *    real SDK is a valid Stripe request. stripe-mock comes from the Go module proxy,
 *    pinned, installed on first use into Go's bin folder.
 * 2. Against the project's sandbox, in process: the same calls give the outcomes the
 *    test tokens promise, with Stripe's idempotency semantics.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import {
  PaymentRequestError, PaymentUnavailableError, StripePaymentProvider, WebhookSignatureError, classify, sdkAddress,
} from '../common/payments.js';
import { startSandbox } from '../sandbox/payments-server.js';
import { freePort } from './support/processes.js';

const STRIPE_MOCK = 'github.com/stripe/stripe-mock@v0.203.0';

function stripeMockBinary(): string {
  const bin = join(execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim(), 'bin', 'stripe-mock');
  if (!existsSync(bin)) execFileSync('go', ['install', STRIPE_MOCK], { stdio: 'inherit', timeout: 300_000 });
  return bin;
}

const provider = (apiBase: string, timeoutMs = 5_000) =>
  new StripePaymentProvider({ secretKey: 'sk_test_contract', webhookSecret: 'whsec_contract', apiBase, timeoutMs });

describe('against stripe-mock', () => {
  let mock: ChildProcess;
  let base: string;

  beforeAll(async () => {
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${httpPort}`;
    mock = spawn(stripeMockBinary(), ['-http-addr', `127.0.0.1:${httpPort}`, '-https-addr', `127.0.0.1:${httpsPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('stripe-mock did not start')), 60_000);
      const onData = (chunk: Buffer) => { if (chunk.toString().includes('Listening for HTTP')) { clearTimeout(timer); resolve(); } };
      mock.stdout?.on('data', onData);
      mock.stderr?.on('data', onData);
      mock.on('exit', (code) => reject(new Error(`stripe-mock exited (${code})`)));
    });
  }, 360_000);

  afterAll(() => { mock?.kill('SIGTERM'); });

  it('accepts every call the provider makes', async () => {
    const stripe = provider(base);
    const orderId = '0b7e7a4e-3c1f-4d55-8f3e-2a7b9c1d0e11';
    const charged = await stripe.charge({ orderId, amountCents: 1999, currency: 'USD', paymentMethod: 'pm_card_visa' });
    expect(charged.paymentIntentId).toMatch(/^pi_/);
    const pi = charged.paymentIntentId!;
    await expect(stripe.retrieve(pi)).resolves.toMatchObject({ paymentIntentId: pi });
    await expect(stripe.confirm(pi, orderId)).resolves.toHaveProperty('kind');
    await expect(stripe.cancel(pi, orderId)).resolves.toHaveProperty('kind');
    await expect(stripe.findByOrder(orderId)).resolves.toHaveProperty('paymentIntentId');
    await expect(stripe.refund(pi, orderId)).resolves.toMatchObject({ refundId: expect.stringMatching(/^re_/) });
  });

  it('would notice an invalid request (the check can fail)', async () => {
    const raw = new Stripe('sk_test_contract', { maxNetworkRetries: 0, ...sdkAddress(base) });
    const error = await raw.paymentIntents.create({ amount: 1999, currency: 'usd', confirm: 'maybe' } as unknown as Stripe.PaymentIntentCreateParams)
      .then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(classify(error)).toBeInstanceOf(PaymentRequestError);
  });
});

describe('against the sandbox', () => {
  let sandbox: Awaited<ReturnType<typeof startSandbox>>;

  beforeAll(async () => {
    sandbox = await startSandbox({
      port: 0, host: '127.0.0.1', latencyMs: [0, 0], slowMs: 50, hangMs: 5_000,
      webhookUrl: undefined, webhookSecret: 'whsec_contract', log: () => undefined,
    });
  });

  afterAll(async () => { await sandbox?.close(); });

  const order = () => randomUUID();

  it('gives each test token its fixed outcome', async () => {
    const stripe = provider(sandbox.url);
    const charge = (paymentMethod: string) => stripe.charge({ orderId: order(), amountCents: 500, currency: 'EUR', paymentMethod });
    await expect(charge('pm_card_visa')).resolves.toMatchObject({ kind: 'succeeded', amountCents: 500, currency: 'EUR' });
    await expect(charge('pm_card_chargeDeclined')).resolves.toMatchObject({ kind: 'declined', code: 'generic_decline' });
    await expect(charge('pm_card_chargeDeclinedInsufficientFunds')).resolves.toMatchObject({ kind: 'declined', code: 'insufficient_funds' });
    await expect(charge('pm_card_threeDSecure2Required')).resolves.toMatchObject({ kind: 'requires_action', nextAction: { type: 'use_stripe_sdk' } });
    await expect(charge('pm_card_unknownToken')).resolves.toMatchObject({ kind: 'declined', code: 'resource_missing' });
    await expect(charge('pm_sandbox_serverError')).rejects.toBeInstanceOf(PaymentUnavailableError);
    await expect(charge('pm_sandbox_slow')).resolves.toMatchObject({ kind: 'succeeded' });
    await expect(provider(sandbox.url, 300).charge({ orderId: order(), amountCents: 500, currency: 'EUR', paymentMethod: 'pm_sandbox_timeout' }))
      .rejects.toBeInstanceOf(PaymentUnavailableError);
  });

  it('replays an idempotent request, refuses the key with other parameters, and 409s a concurrent one', async () => {
    const stripe = provider(sandbox.url, 300);
    const orderId = order();
    const request = { orderId, amountCents: 700, currency: 'USD', paymentMethod: 'pm_sandbox_timeoutOnce' };
    await expect(stripe.charge(request)).rejects.toBeInstanceOf(PaymentUnavailableError); // executed, answer lost
    const replayed = await stripe.charge(request);
    expect(replayed).toMatchObject({ kind: 'succeeded' });
    await expect(stripe.charge({ ...request, amountCents: 701 })).rejects.toBeInstanceOf(PaymentRequestError);
    const stats = sandbox.sandbox.orderStats(orderId) as { paymentIntents: unknown[]; charges: number; key: { replays: number } };
    expect(stats.paymentIntents).toHaveLength(1);
    expect(stats.charges).toBe(1);
    expect(stats.key.replays).toBe(1);

    const twin = { orderId: order(), amountCents: 700, currency: 'USD', paymentMethod: 'pm_card_visa' };
    const slowSandbox = await startSandbox({
      port: 0, host: '127.0.0.1', latencyMs: [200, 200], slowMs: 0, hangMs: 1_000, webhookUrl: undefined, webhookSecret: undefined, log: () => undefined,
    });
    try {
      const both = await Promise.allSettled([provider(slowSandbox.url).charge(twin), provider(slowSandbox.url).charge(twin)]);
      expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(PaymentUnavailableError);
      // Retrying the refused twin under its key gets the first one's answer: still one intent.
      await expect(provider(slowSandbox.url).charge(twin)).resolves.toMatchObject({ kind: 'succeeded' });
      expect((slowSandbox.sandbox.orderStats(twin.orderId) as { paymentIntents: unknown[] }).paymentIntents).toHaveLength(1);
    } finally {
      await slowSandbox.close();
    }
  });

  it('completes or cancels an intent that needs the customer, refunds once, and signs its events', async () => {
    const stripe = provider(sandbox.url);
    const orderId = order();
    const waiting = await stripe.charge({ orderId, amountCents: 900, currency: 'USD', paymentMethod: 'pm_card_threeDSecure2Required' });
    expect(waiting.kind).toBe('requires_action');
    const pi = waiting.paymentIntentId!;
    expect(sandbox.sandbox.authenticate(pi, 'succeed').status).toBe(200);
    await expect(stripe.retrieve(pi)).resolves.toMatchObject({ kind: 'succeeded' });
    await expect(stripe.cancel(pi, orderId)).resolves.toMatchObject({ kind: 'succeeded' }); // too late to cancel
    await expect(stripe.findByOrder(orderId)).resolves.toMatchObject({ paymentIntentId: pi, kind: 'succeeded' });
    const first = await stripe.refund(pi, orderId);
    await expect(stripe.refund(pi, orderId)).resolves.toEqual(first); // same key: the same refund
    expect((sandbox.sandbox.orderStats(orderId) as { refunds: number }).refunds).toBe(1);

    const event = sandbox.sandbox.eventsOf(pi).find((e) => e.type === 'payment_intent.succeeded')!;
    const payload = JSON.stringify(event);
    const header = new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: 'whsec_contract' });
    expect(stripe.verifyEvent(payload, header)).toMatchObject({ id: event.id, orderId, outcome: { kind: 'succeeded' } });
    expect(() => stripe.verifyEvent(payload.replace('succeeded', 'canceled'), header)).toThrow(WebhookSignatureError);
  });
});
