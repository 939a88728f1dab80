/**
 * Overload: the order path's capacity is measured first (autocannon, closed loop, 400
 * connections, 10 s, on a sale of its own, after 10 s of quiet), then the load driver offers twice that rate
 * on up to 1,500 connections. Expected: the edge sheds what it cannot take with fast
 * 503s (or 429s) instead of growing queues; accepted orders keep a bounded p99; the
 * edge's memory stays bounded (its RSS is sampled through the row).
 */
import autocannon from 'autocannon';
import { randomUUID } from 'node:crypto';
import { ADDRESS } from '../test/support/api.js';
import { log, sleep } from './stack.js';
import { backlogPersisted, faultWindow, type RowContext, type RowSpec } from './row.js';

interface Ctx { n?: number }

const CAPACITY_S = 10;

/** Answers per second of the order path at 400 connections; the 202s' ids go to ctx.extraAccepted. */
async function measureCapacity(ctx: RowContext): Promise<number> {
  const productId = await ctx.stack.api.createProduct(ctx.stack.adminToken, 5_000_000);
  await ctx.stack.api.createSale(ctx.stack.adminToken, productId, 5_000_000, 10_000, { startsInMs: -1_000, lastsMs: 3_600_000 });
  ctx.extraProducts.push(productId);
  const body = JSON.stringify({ items: [{ productId, quantity: 1 }], paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS });
  const run = randomUUID().slice(0, 8);
  let seq = 0;
  await sleep(10_000); // the previous row's backlog settles first
  const result = await autocannon({
    url: ctx.plan.baseUrl, connections: 400, duration: CAPACITY_S, timeout: 10,
    requests: [{
      method: 'POST', path: '/v1/orders', body,
      setupRequest: (request, context) => {
        const n = seq++;
        (context as Ctx).n = n;
        return { ...request, headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.buyers[n % ctx.buyers.length]!.token}`, 'idempotency-key': `cap-${run}-${n}` } };
      },
      onResponse: (status, responseBody) => {
        const id = status === 202 ? /"orderId":"([\w-]+)"/.exec(responseBody)?.[1] : undefined;
        if (id) ctx.extraAccepted.push(id);
      },
    }],
  });
  const perSecond = Math.round(result['2xx'] / CAPACITY_S); // accepted orders per second (a shed order is a fast 503, not capacity)
  ctx.note(`capacity: ${perSecond} accepted orders/s at 400 connections (p99 ${result.latency.p99} ms, ${result['2xx']} accepted, ${result.non2xx} other)`);
  log(`capacity ${perSecond}/s`);
  return perSecond;
}

export const overloadRows: RowSpec[] = [
  {
    id: 'overload-2x', family: 'overload', fault: 'twice the measured capacity, offered on up to 1,500 connections',
    command: 'capacity: autocannon -c 400 -d 10; then the load driver at 2× that rate',
    async prepare(ctx) {
      const capacity = await measureCapacity(ctx);
      return { rate: capacity * 2, seconds: 15, connections: 1_500, injectAtMs: 0, quantity: 5_000_000, perUserLimit: 10_000 };
    },
    inject: (ctx) => faultWindow(ctx, () => ctx.loadDone, () => Promise.resolve()),
    recovered: backlogPersisted,
  },
];
