/**
 * For the fulfilment, notification and report suites: the product with payments (the
 * payment sandbox standing in for Stripe, and the real settler), orders placed through
 * the API and waited on until their payment is settled, and seller-owned products.
 */
import { randomUUID } from 'node:crypto';
import { ADDRESS } from './api.js';
import { eventually, startStack, type Stack } from './stack.js';
import { freePort, startReady, type ProcessName, type RunningProcess } from './processes.js';

export interface PaidStack extends Stack {
  sandbox: RunningProcess;
}

export interface OrderView {
  orderId: string;
  status: string;
  trackingNumber: string | null;
  shipments: { shipmentId: string; carrier: string; trackingNumber: string; items: { productId: string; quantity: number; warehouseId: string | null }[] }[];
  history: { status: string; at: string; reason: string | null }[];
}

/** Edge, writer, reconciler, payment sandbox and settler, plus `extra` (e.g. notifier, analytics). */
export async function startPaidStack(extra: ProcessName[] = []): Promise<PaidStack> {
  const port = await freePort();
  // Every process spawned from here on inherits these: the SDK talks to the sandbox, never to Stripe.
  Object.assign(process.env, {
    STRIPE_SECRET_KEY: 'sk_test_sandbox', STRIPE_WEBHOOK_SECRET: 'whsec_test_fulfilment_0123456789',
    STRIPE_API_BASE: `http://127.0.0.1:${port}`, PAYMENT_MAX_ATTEMPTS: '3', PAYMENT_TIMEOUT_MS: '2000',
  });
  const sandbox = await startReady('payment-sandbox', { SANDBOX_PORT: String(port), SANDBOX_LATENCY_MS: '0' });
  const stack = await startStack({ with: ['payment-settler', ...extra] });
  return {
    ...stack, sandbox,
    async stop() {
      await stack.stop();
      await sandbox.kill('SIGTERM');
    },
  };
}

/** A product of `sellerToken`'s user, with `stock` units. */
export async function sellerProduct(stack: Stack, sellerToken: string, stock = 20, priceCents = 2_500): Promise<string> {
  return stack.api.createProduct(sellerToken, stock, priceCents);
}

/** Places an order (202) and returns its id. */
export async function placeOrder(stack: Stack, token: string, items: { productId: string; quantity: number }[],
  paymentMethod = 'pm_card_visa'): Promise<string> {
  const res = await stack.api.request('POST', '/v1/orders', {
    token, headers: { 'idempotency-key': randomUUID() }, body: { items, paymentMethod, shippingAddress: ADDRESS },
  });
  if (res.status !== 202) throw new Error(`order: ${res.status} ${JSON.stringify(res.body)}`);
  return String(res.body.orderId);
}

export async function readOrder(stack: Stack, token: string, orderId: string): Promise<OrderView> {
  const res = await stack.api.request<OrderView>('GET', `/v1/orders/${orderId}`, { token });
  if (res.status !== 200) throw new Error(`order ${orderId}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Waits until the order has `status` (e.g. confirmed once its payment is taken). */
export async function waitForStatus(stack: Stack, token: string, orderId: string, status: string): Promise<OrderView> {
  let last: OrderView | undefined;
  await eventually(async () => (last = await readOrder(stack, token, orderId)).status === status, 30_000,
    `order ${orderId} ${status} (last: ${last?.status})`);
  return last!;
}

/** Places an order and waits until it is confirmed (paid through the sandbox). */
export async function confirmedOrder(stack: Stack, token: string, items: { productId: string; quantity: number }[]): Promise<string> {
  const orderId = await placeOrder(stack, token, items);
  await waitForStatus(stack, token, orderId, 'confirmed');
  return orderId;
}

/** Outbox rows still waiting for `consumer` (notifier, analytics). */
export async function backlog(stack: Stack, consumer: string): Promise<number> {
  const { rows } = await stack.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_queue WHERE consumer = $1', [consumer]);
  return rows[0]!.n;
}
