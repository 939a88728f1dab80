/**
 * Payment-provider storms during the sale, from the payment sandbox: for 10 s a second
 * probe places orders whose payments all fail in one way (the sandbox decides by the
 * payment-method token: sandbox/stripe-sandbox.ts), besides the steady load:
 *
 *   all 500s      pm_sandbox_serverError (500 on every retry), with declines mixed in
 *   all timeouts  the sandbox process frozen (SIGSTOP) for 10 s, so every call of every
 *                 order times out, plus pm_sandbox_timeout orders (never answered)
 *   slow answers  pm_sandbox_slow (1.5 s per call), with 3-D Secure orders nobody
 *                 completes, which expire after PAYMENT_HOLD_MS
 *
 * Expected: retries then dead letters as designed (PAYMENT_MAX_ATTEMPTS), one charge per
 * order at most, declined, failed and expired orders give their units back.
 * (/_sandbox/config switches only the webhook address, not failure modes: the storm is
 * made of tokens and, for timeouts, of a frozen sandbox.)
 */
import { Probe } from './load.js';
import { sleep } from './stack.js';
import { backlogSettled, faultWindow, type RowContext, type RowSpec } from './row.js';

const STORM_MS = 10_000;

async function storm(ctx: RowContext, paymentMethods: string[], during: () => Promise<void> = () => sleep(STORM_MS)): Promise<void> {
  const probe = new Probe({ baseUrl: ctx.plan.baseUrl, buyers: ctx.buyers, productId: ctx.products.probeProduct, t0: ctx.t0, intervalMs: 50, paymentMethods }).start();
  ctx.probes.push(probe);
  try {
    await during();
  } finally {
    await probe.stop();
  }
  ctx.note(`storm: ${probe.accepted.length} orders accepted with ${paymentMethods.join(' / ')}`);
}

export const paymentRows: RowSpec[] = [
  {
    id: 'pay-500', family: 'payments', fault: 'provider answers 500 to every call (plus declines) for 10 s of orders',
    command: 'orders with paymentMethod pm_sandbox_serverError / pm_card_chargeDeclined',
    inject: (ctx) => faultWindow(ctx, () => storm(ctx, ['pm_sandbox_serverError', 'pm_sandbox_serverError', 'pm_card_chargeDeclined']), () => Promise.resolve()),
    recovered: backlogSettled,
  },
  {
    id: 'pay-timeout', family: 'payments', fault: 'provider never answers: sandbox frozen 10 s, plus pm_sandbox_timeout orders',
    command: 'kill -STOP <payment sandbox>; sleep 10; kill -CONT; orders with pm_sandbox_timeout',
    inject: (ctx) => faultWindow(ctx, () => storm(ctx, ['pm_sandbox_timeout', 'pm_card_visa'], async () => {
      ctx.stack.signal('payment-sandbox', 'SIGSTOP');
      await sleep(STORM_MS);
    }), () => Promise.resolve(ctx.stack.signal('payment-sandbox', 'SIGCONT'))),
    recovered: backlogSettled,
  },
  {
    id: 'pay-slow', family: 'payments', fault: 'provider slow (1.5 s a call) for 10 s of orders, 3-D Secure left to expire',
    command: 'orders with pm_sandbox_slow / pm_card_threeDSecure2Required (SANDBOX_SLOW_MS=1500, PAYMENT_HOLD_MS=90000)',
    inject: (ctx) => faultWindow(ctx, () => storm(ctx, ['pm_sandbox_slow', 'pm_sandbox_slow', 'pm_card_threeDSecure2Required']), () => Promise.resolve()),
    recovered: backlogSettled,
  },
];
