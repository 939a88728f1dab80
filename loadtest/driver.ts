/**
 * The Node driver: runs a scenario's arrival profile with autocannon. k6's
 * ramping-arrival-rate is approximated by steps: a constant stage is one autocannon
 * run at that rate (overallRate), a ramp is split into one-second steps at the
 * interpolated rate; each step sends its number of requests and waits for every answer. Each answer is classified with the same check as the k6 script,
 * timed from the moment its request was built, and the metrics come out in k6's
 * summary shape (http_reqs, http_req_duration, http_req_failed, checks, ...).
 */
import autocannon from 'autocannon';
import { randomUUID } from 'node:crypto';
import {
  buildRequest, classify, expectedStatuses, pickWeighted, problemType, seconds, trendValues,
  type Action, type Arrival, type Fixture, type Scenario, type SummaryMetric,
} from './shared/scenario.js';

export interface DriverOptions {
  baseUrl: string;
  scenario: Scenario;
  fixture: Fixture;
  arrival: Arrival;
  /** Most connections autocannon opens (its stand-in for k6's VUs). */
  connections: number;
  log: (message: string) => void;
}

export interface DriverResult {
  metrics: Record<string, SummaryMetric>;
  /** Order ids answered 202. */
  acceptedOrders: string[];
  /** Answers by action and status (with the problem type for 4xx). */
  answers: Record<string, Record<string, number>>;
  durationS: number;
}

interface Step { seconds: number; rate: number }

/** The arrival profile as steps of constant rate (requests per second). */
export function steps(arrival: Arrival): Step[] {
  const perSecond = (n: number) => n / seconds(arrival.timeUnit);
  const out: Step[] = [];
  let rate = perSecond(arrival.startRate);
  for (const stage of arrival.stages) {
    const duration = seconds(stage.duration);
    const target = perSecond(stage.target);
    if (target === rate) {
      out.push({ seconds: duration, rate });
    } else {
      const n = Math.max(1, Math.round(duration));
      for (let i = 0; i < n; i++) out.push({ seconds: duration / n, rate: rate + (target - rate) * ((i + 0.5) / n) });
    }
    rate = target;
  }
  return out;
}

interface Ctx { t0?: number; action?: Action }

export async function drive(options: DriverOptions): Promise<DriverResult> {
  const { scenario, fixture } = options;
  const ok = new Set(expectedStatuses(scenario));
  const latencies: number[] = [];
  const acceptedOrders: string[] = [];
  const answers: Record<string, Record<string, number>> = {};
  const counts = { requests: 0, failed: 0, checksPassed: 0, checksFailed: 0, accepted: 0, soldOut: 0, limitExceeded: 0, rateLimited: 0, missingRoute: 0, planned: 0, errors: 0 };
  const runKey = randomUUID().slice(0, 8);
  let sequence = 0;
  const started = Date.now();

  for (const step of steps(options.arrival)) {
    const rate = Math.round(step.rate);
    // `amount` (not `duration`): autocannon then waits for every answer of the step instead of cutting the
    // requests in flight when the time is up, so no 202 goes unseen.
    const amount = Math.round(step.rate * step.seconds);
    counts.planned += amount;
    if (rate <= 0 || amount <= 0) {
      await new Promise((resolve) => setTimeout(resolve, step.seconds * 1000));
      continue;
    }
    const result = await autocannon({
      url: options.baseUrl,
      connections: Math.max(1, Math.min(options.connections, rate, amount)),
      overallRate: rate,
      amount,
      timeout: 10,
      requests: [{
        setupRequest: (request, context) => {
          const n = sequence++;
          const buyer = fixture.buyers[n % fixture.buyers.length]!;
          const built = buildRequest(scenario, fixture, pickWeighted(scenario.mix, Math.random()), buyer, Math.random);
          const headers: Record<string, string> = { authorization: `Bearer ${buyer.token}` };
          if (built.body !== undefined) headers['content-type'] = 'application/json';
          if (built.idempotent) headers['idempotency-key'] = `lt-${runKey}-${n}`;
          (context as Ctx).t0 = performance.now();
          (context as Ctx).action = built.action;
          return { ...request, method: built.method, path: built.path, body: built.body ?? '', headers };
        },
        onResponse: (status, body, context) => {
          const ctx = context as Ctx;
          latencies.push(performance.now() - (ctx.t0 ?? performance.now()));
          const action = ctx.action ?? 'order';
          counts.requests++;
          if (!ok.has(status)) counts.failed++;
          const kind = classify(scenario, fixture, action, status, body);
          if (kind === 'pass') counts.checksPassed++;
          else if (kind === 'fail') counts.checksFailed++;
          else if (kind === 'rate-limited') counts.rateLimited++;
          else counts.missingRoute++;
          const type = status >= 400 ? problemType(body) : '';
          const key = type ? `${status} ${type}` : String(status);
          (answers[action] ??= {})[key] = (answers[action]![key] ?? 0) + 1;
          if (status === 202) {
            const id = /"orderId":"([\w-]+)"/.exec(body)?.[1];
            if (id) acceptedOrders.push(id);
            counts.accepted++;
          } else if (type === 'sold-out') counts.soldOut++;
          else if (type === 'limit-exceeded') counts.limitExceeded++;
        },
      }],
    });
    counts.errors += result.errors + result.timeouts;
  }

  const durationS = (Date.now() - started) / 1000;
  const sent = counts.requests + counts.errors;
  const counter = (count: number): SummaryMetric => ({ type: 'counter', values: { count, rate: count / durationS } });
  const rate = (trues: number, falses: number): SummaryMetric => ({
    type: 'rate', values: { rate: trues + falses > 0 ? trues / (trues + falses) : 0, passes: trues, fails: falses },
  });
  const metrics: Record<string, SummaryMetric> = {
    http_reqs: counter(sent),
    http_req_duration: { type: 'trend', values: trendValues(latencies) },
    http_req_failed: rate(counts.failed + counts.errors, counts.requests - counts.failed),
    checks: rate(counts.checksPassed, counts.checksFailed),
    orders_accepted: counter(counts.accepted),
    sold_out: counter(counts.soldOut),
    limit_exceeded: counter(counts.limitExceeded),
    rate_limited: counter(counts.rateLimited),
    missing_route: counter(counts.missingRoute),
    dropped_iterations: counter(Math.max(0, counts.planned - sent)),
  };
  options.log(`${sent} requests in ${durationS.toFixed(1)}s (${counts.planned} planned), ${counts.accepted} orders accepted`);
  return { metrics, acceptedOrders, answers, durationS };
}
