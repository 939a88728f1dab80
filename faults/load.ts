/**
 * The load of one fault row: a fresh flash sale on a hot product driven at a steady rate
 * by the Node load driver (loadtest/driver.ts, autocannon), and a probe: one order every
 * few hundred ms on a product without a sale, each timed and kept (status, Retry-After,
 * order id, Idempotency-Key), so a row can tell when orders stopped and came back, how
 * long a refusal took, and retry a refused order with its own key.
 */
import { randomUUID } from 'node:crypto';
import { drive, type DriverResult } from '../loadtest/driver.js';
import type { Fixture, Scenario } from '../loadtest/shared/scenario.js';
import { ADDRESS, type Api } from '../test/support/api.js';

export interface Buyer { userId: string; token: string }

export interface RowProducts { saleProduct: string; saleId: string; probeProduct: string; quantity: number; perUserLimit: number }

/** A hot product with a live sale of `quantity` units, and a probe product with plenty of stock and no sale. */
export async function createRowProducts(api: Api, adminToken: string, quantity: number, perUserLimit: number): Promise<RowProducts> {
  const saleProduct = await api.createProduct(adminToken, quantity);
  const saleId = await api.createSale(adminToken, saleProduct, quantity, perUserLimit, { startsInMs: -1_000, lastsMs: 6 * 3_600_000 });
  const probeProduct = await api.createProduct(adminToken, 1_000_000);
  return { saleProduct, saleId, probeProduct, quantity, perUserLimit };
}

/** The steady flash-sale load as a scenario of the load driver (503 is an answer a fault row expects). */
function steadyScenario(): Scenario {
  return {
    name: 'faults-steady', description: 'Steady flash-sale load while one fault is injected', buyers: 0, products: [],
    arrival: { startRate: 0, timeUnit: '1s', preAllocatedVUs: 0, maxVUs: 0, stages: [] },
    mix: [{ action: 'order', product: 'hot', quantity: 1, weight: 1 }],
    answers: { order: ['202', '409 sold-out', '429 limit-exceeded', '503 service-unavailable'] },
    thresholds: {},
  };
}

export interface LoadSpec { baseUrl: string; buyers: Buyer[]; products: RowProducts; rate: number; seconds: number; connections: number }

export function runLoad(spec: LoadSpec, log: (message: string) => void): Promise<DriverResult> {
  const fixture: Fixture = { products: { hot: [spec.products.saleProduct] }, sales: { [spec.products.saleProduct]: spec.products.saleId }, buyers: spec.buyers, missingRoutes: [] };
  return drive({
    baseUrl: spec.baseUrl, scenario: steadyScenario(), fixture, connections: spec.connections, log,
    arrival: { startRate: spec.rate, timeUnit: '1s', preAllocatedVUs: spec.connections, maxVUs: spec.connections, stages: [{ duration: `${spec.seconds}s`, target: spec.rate }] },
  });
}

/** What the load driver's answers add up to. */
export function loadFigures(result: DriverResult): { sent: number; answered: number; byAnswer: Record<string, number>; p50: number; p99: number; max: number } {
  const byAnswer = result.answers.order ?? {};
  const answered = Object.values(byAnswer).reduce((a, b) => a + b, 0);
  const trend = result.metrics.http_req_duration!.values;
  return { sent: result.metrics.http_reqs!.values.count!, answered, byAnswer, p50: trend.med!, p99: trend['p(99)']!, max: trend.max! };
}

/* -------------------------------------------------------------------- probe */

export interface ProbeSample {
  /** When it was sent, ms since the probe's origin. */
  t: number;
  /** 0: no answer (connection refused, reset or timed out). */
  status: number;
  ms: number;
  retryAfter: string | null;
  type: string;
  orderId: string | undefined;
  key: string;
  buyer: number;
  paymentMethod: string;
}

export interface ProbeOptions {
  baseUrl: string;
  buyers: Buyer[];
  productId: string;
  /** Origin of `t` (Date.now() at the row's start). */
  t0: number;
  intervalMs: number;
  /** Payment-method tokens, used in turn. */
  paymentMethods?: string[];
  timeoutMs?: number;
}

export class Probe {
  readonly samples: ProbeSample[] = [];
  private sending = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly pending = new Set<Promise<unknown>>();
  private n = 0;

  constructor(private readonly options: ProbeOptions) {}

  get running(): boolean {
    return this.sending;
  }

  start(): this {
    this.sending = true;
    this.loop = (async () => {
      while (this.sending) {
        void this.track(this.order());
        await new Promise((resolve) => setTimeout(resolve, this.options.intervalMs));
      }
    })();
    return this;
  }

  /** Stops sending and waits for the answers still due. */
  async stop(): Promise<void> {
    this.sending = false;
    await this.loop;
    await Promise.all(this.pending);
  }

  /** `count` orders at once (each with its own key). */
  burst(count: number): Promise<ProbeSample[]> {
    return Promise.all(Array.from({ length: count }, () => this.track(this.order())));
  }

  /** The same order again, with the same buyer and Idempotency-Key. */
  retry(sample: ProbeSample): Promise<ProbeSample> {
    return this.track(this.order({ key: sample.key, buyer: sample.buyer, paymentMethod: sample.paymentMethod }));
  }

  get accepted(): string[] {
    return [...new Set(this.samples.filter((s) => s.status === 202 && s.orderId).map((s) => s.orderId!))];
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
    return promise;
  }

  private async order(again?: { key: string; buyer: number; paymentMethod: string }): Promise<ProbeSample> {
    const n = this.n++;
    const methods = this.options.paymentMethods ?? ['pm_card_visa'];
    const buyer = again?.buyer ?? n % this.options.buyers.length;
    const key = again?.key ?? `probe-${randomUUID()}`;
    const paymentMethod = again?.paymentMethod ?? methods[n % methods.length]!;
    const t = Date.now() - this.options.t0;
    const started = performance.now();
    const sample: ProbeSample = { t, status: 0, ms: 0, retryAfter: null, type: '', orderId: undefined, key, buyer, paymentMethod };
    try {
      const res = await fetch(`${this.options.baseUrl}/v1/orders`, {
        method: 'POST', signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
        headers: { authorization: `Bearer ${this.options.buyers[buyer]!.token}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ items: [{ productId: this.options.productId, quantity: 1 }], paymentMethod, shippingAddress: ADDRESS }),
      });
      const body = await res.json().catch(() => ({})) as { orderId?: string; type?: string };
      Object.assign(sample, { status: res.status, retryAfter: res.headers.get('retry-after'), type: body.type ?? '', orderId: body.orderId });
    } catch (error) {
      sample.type = (error as Error).name === 'TimeoutError' ? 'client-timeout' : 'no-answer';
    }
    sample.ms = performance.now() - started;
    this.samples.push(sample);
    return sample;
  }
}

/** Percentile of a list of numbers (0 for none). */
export function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
