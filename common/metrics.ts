/**
 * The one home of the project's Prometheus metrics (prom-client): the registry and
 * every metric definition. Each process imports this module, moves the metrics that
 * concern it, and calls `startProcessMetrics` once at start-up.
 *
 * Where the figures are served (see README "Metrics"): every process writes a snapshot
 * of its registry into Redis each second (hash `stats:metrics`, one field per process
 * instance), and the edge's GET /metrics serves its own live registry merged with the
 * snapshots of every process seen in the last few seconds, each series labelled with
 * its `process`. So Prometheus scrapes one target: any edge. A process may also serve
 * its own registry on METRICS_PORT (its own port, e.g. for a sidecar); that is optional.
 *
 * METRICS=off turns every recorder into a no-op (for measuring what counting costs):
 * the hot path then checks one boolean per request.
 */
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import client from 'prom-client';
import type { Redis } from 'ioredis';
import type { Pool } from './db.js';
import { METRICS_SNAPSHOTS_KEY } from './keys.js';

export const metricsEnabled = process.env.METRICS !== 'off';

export const registry = new client.Registry();
const registers = [registry];

/** Metrics that only some processes move: the others leave them out of their output (no misleading zeros). */
const OWNERS = new Map<string, readonly string[]>();
function only<M>(processes: readonly string[], metric: M): M {
  OWNERS.set((metric as unknown as { name: string }).name, processes);
  return metric;
}
const EDGE = ['edge'] as const;

/** Seconds, from half a millisecond (a Redis decision) to ten seconds (a stuck send). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/* ---------------------------------------------------------------- the edge */

/** Request count (`_count`) and latency per route pattern and status. */
export const httpRequestDuration = only(EDGE, new client.Histogram({
  name: 'flashsale_http_request_duration_seconds',
  help: 'HTTP requests answered by the edge: latency by method, route pattern and status (the _count series is the request count)',
  labelNames: ['method', 'route', 'status'] as const, buckets: LATENCY_BUCKETS, registers,
}));

export type DecisionOutcome = 'accepted' | 'sold-out' | 'limit-exceeded' | 'rejected' | 'unavailable';
export const DECISION_OUTCOMES: readonly DecisionOutcome[] = ['accepted', 'sold-out', 'limit-exceeded', 'rejected', 'unavailable'];

/** POST /v1/orders decisions: accepted (202), sold-out (409), limit-exceeded (429), rejected (other refusals), unavailable (503). */
export const orderDecisions = only(EDGE, new client.Counter({
  name: 'flashsale_order_decisions_total',
  help: 'Order decisions by outcome: accepted (202), sold-out (409), limit-exceeded (429), rejected (other refusals), unavailable (503)',
  labelNames: ['outcome'] as const, registers,
}));

export const kafkaProduceDuration = only(EDGE, new client.Histogram({
  name: 'flashsale_kafka_produce_duration_seconds',
  help: 'One Kafka send (a batch of orders, acks=all) from hand-over to acknowledgement or failure, by topic and outcome',
  labelNames: ['topic', 'outcome'] as const, buckets: LATENCY_BUCKETS, registers,
}));

export const kafkaProduceBatchSize = only(EDGE, new client.Histogram({
  name: 'flashsale_kafka_produce_batch_messages',
  help: 'Messages in one Kafka send of the edge',
  labelNames: ['topic'] as const, buckets: BATCH_BUCKETS, registers,
}));

/* ------------------------------------------------ sampled by the edge (ops) */

export const kafkaLogEndOffset = only(EDGE, new client.Gauge({
  name: 'flashsale_kafka_log_end_offset',
  help: 'Log-end offset (next offset to be written) per topic and partition',
  labelNames: ['topic', 'partition'] as const, registers, aggregator: 'max',
}));

export const kafkaCommittedOffset = only(EDGE, new client.Gauge({
  name: 'flashsale_kafka_consumer_committed_offset',
  help: 'Offset committed by a consumer group per topic and partition',
  labelNames: ['group', 'topic', 'partition'] as const, registers, aggregator: 'max',
}));

export const kafkaConsumerLag = only(EDGE, new client.Gauge({
  name: 'flashsale_kafka_consumer_lag_messages',
  help: 'Consumer lag: log-end offset minus committed offset, per group, topic and partition (kafkajs admin)',
  labelNames: ['group', 'topic', 'partition'] as const, registers, aggregator: 'max',
}));

export const reservationsOpen = only(EDGE, new client.Gauge({
  name: 'flashsale_reservations_open_units',
  help: 'Units in open reservations (held or queued, not yet claimed by the order writer) over active products',
  registers, aggregator: 'max',
}));

export const reservationsHeld = only(EDGE, new client.Gauge({
  name: 'flashsale_reservations_held',
  help: 'Reservations held (reserved, not yet acknowledged by Kafka) over active products',
  registers, aggregator: 'max',
}));

export const flashSaleRemaining = only(EDGE, new client.Gauge({
  name: 'flashsale_flash_sale_remaining_units',
  help: 'Units left in each live or paused flash sale',
  labelNames: ['flash_sale_id', 'product_id'] as const, registers, aggregator: 'max',
}));

export const flashSaleQuantity = only(EDGE, new client.Gauge({
  name: 'flashsale_flash_sale_quantity_units',
  help: 'Units set aside for each live or paused flash sale',
  labelNames: ['flash_sale_id', 'product_id'] as const, registers, aggregator: 'max',
}));

export const dependencyUp = only(EDGE, new client.Gauge({
  name: 'flashsale_dependency_up',
  help: 'Whether a dependency answers its probe (1) or not (0): redis, postgres, kafka',
  labelNames: ['dependency'] as const, registers, aggregator: 'min',
}));

/* ------------------------------------------------------------------ workers */

export const writerBatchSize = only(['order-writer'], new client.Histogram({
  name: 'flashsale_order_writer_batch_size',
  help: 'Orders in one batch the order writer persisted',
  buckets: BATCH_BUCKETS, registers,
}));

export const writerWriteDuration = only(['order-writer'], new client.Histogram({
  name: 'flashsale_order_writer_write_duration_seconds',
  help: 'Time to persist one batch: claiming reservations and the Postgres transaction',
  buckets: LATENCY_BUCKETS, registers,
}));

export const writerOrders = only(['order-writer'], new client.Counter({
  name: 'flashsale_order_writer_orders_total',
  help: 'Orders the order writer persisted, by the status they got (live or expired)',
  labelNames: ['outcome'] as const, registers,
}));

/**
 * Payment outcomes, for the payment settler to increment:
 * `paymentOutcomes.inc({ outcome: 'succeeded' })`. Outcomes: the provider's answer
 * (succeeded, declined, requires_action, processing, canceled, open) or failed (no
 * answer after every retry: dead-lettered).
 */
export const paymentOutcomes = new client.Counter({
  name: 'flashsale_payment_outcomes_total',
  help: 'Payments settled by outcome (succeeded, declined, requires_action, failed, ...)',
  labelNames: ['outcome'] as const, registers,
});

/* --------------------------------------------------------------- reconciler */

export const reconcilerDrift = only(['reconciler'], new client.Gauge({
  name: 'flashsale_reconciler_drift_units',
  help: 'Drift per product as last measured: Redis (stock + open sale units + open reservations) + live order units - ledger stock',
  labelNames: ['product_id'] as const, registers, aggregator: 'average',
}));

export const reconcilerRepairs = only(['reconciler'], new client.Counter({
  name: 'flashsale_reconciler_drift_repairs_total',
  help: 'Product stock counters the reconciler repaired after a drift outlived the orders in flight',
  registers,
}));

/* -------------------------------------------------------- connection pools */

interface Watched { pools: Map<string, Pool>; redis: Map<string, Redis> }
const watched: Watched = { pools: new Map(), redis: new Map() };

new client.Gauge({
  name: 'flashsale_pg_pool_clients',
  help: 'Postgres pool use per pool: total and idle connections, requests waiting for one, and the maximum',
  labelNames: ['pool', 'state'] as const, registers,
  collect() {
    this.reset();
    for (const [name, pool] of watched.pools) {
      this.set({ pool: name, state: 'total' }, pool.totalCount);
      this.set({ pool: name, state: 'idle' }, pool.idleCount);
      this.set({ pool: name, state: 'waiting' }, pool.waitingCount);
      this.set({ pool: name, state: 'max' }, pool.options.max ?? 10);
    }
  },
});

new client.Gauge({
  name: 'flashsale_redis_connected',
  help: 'Whether a Redis connection is ready (1) or not (0)',
  labelNames: ['connection'] as const, registers, aggregator: 'min',
  collect() {
    this.reset();
    for (const [name, redis] of watched.redis) this.set({ connection: name }, redis.status === 'ready' ? 1 : 0);
  },
});

new client.Gauge({
  name: 'flashsale_redis_pending_commands',
  help: 'Commands sent to Redis and not yet answered, plus commands queued while disconnected',
  labelNames: ['connection'] as const, registers,
  collect() {
    this.reset();
    for (const [name, redis] of watched.redis) {
      const offline = (redis as unknown as { offlineQueue?: { length: number } }).offlineQueue?.length ?? 0;
      this.set({ connection: name }, redis.commandQueue.length + offline);
    }
  },
});

/* ------------------------------------------------------------ HTTP timing */

/** Times one route: a child histogram per status, made once, so a request costs one observe. */
export class RouteTimer {
  private readonly byStatus = new Map<number, client.Histogram.Internal<'method' | 'route' | 'status'>>();
  constructor(private readonly method: string, private readonly route: string) {}

  observe(status: number, startedMs: number): void {
    let child = this.byStatus.get(status);
    if (!child) {
      child = httpRequestDuration.labels(this.method, this.route, String(status));
      this.byStatus.set(status, child);
    }
    child.observe((performance.now() - startedMs) / 1000);
  }
}

/** A timer for a route, or undefined when metrics are off. */
export function routeTimer(method: string, route: string): RouteTimer | undefined {
  return metricsEnabled ? new RouteTimer(method.toUpperCase(), route) : undefined;
}

/** Counts one order decision (no-op when metrics are off). */
const decisionChildren = new Map<DecisionOutcome, client.Counter.Internal>(
  DECISION_OUTCOMES.map((o) => [o, orderDecisions.labels(o)]));
export function countDecision(outcome: DecisionOutcome): void {
  if (metricsEnabled) decisionChildren.get(outcome)!.inc();
}

/* ------------------------------------------------- snapshots and serving */

export interface ProcessMetricsOptions {
  /** The process's role: edge, order-writer, reconciler, payment-settler, ... */
  process: string;
  redis: Redis;
  pool?: Pool;
  /** Serve this registry on http://METRICS_HOST:port/metrics too (default: env METRICS_PORT; 0: do not). */
  port?: number;
  snapshotIntervalMs?: number;
}

export interface Snapshot { process: string; instance: string; at: number; metrics: client.MetricObjectWithValues<client.MetricValue<string>>[] }

/** How old a snapshot may be before its process counts as gone. */
export const SNAPSHOT_MAX_AGE_MS = 10_000;

export const instanceId = `${hostname()}:${process.pid}`;

let started: { process: string; stop(): Promise<void> } | undefined;

/** This process's metrics as JSON, less the ones only other processes move. */
export async function ownMetrics(): Promise<MetricJson[]> {
  const all = await registry.getMetricsAsJSON();
  const role = started?.process;
  return role === undefined ? all : all.filter((m) => OWNERS.get(m.name)?.includes(role) ?? true);
}

/** The Prometheus text of this process's own metrics merged with other processes' snapshots. */
export async function metricsText(others: Snapshot[]): Promise<string> {
  return mergeMetrics(await ownMetrics(), others).metrics();
}

/**
 * Labels the registry with the process role, watches its pools, writes a snapshot
 * to Redis every second and, with a port, serves /metrics. Returns how to stop.
 */
export function startProcessMetrics(options: ProcessMetricsOptions): { stop(): Promise<void> } {
  if (started) return started;
  registry.setDefaultLabels({ process: options.process });
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  watched.redis.set('main', options.redis);
  if (options.pool) watched.pools.set('main', options.pool);
  const field = `${options.process}|${instanceId}`;
  let stopping = false;
  let writing: Promise<void> = Promise.resolve();
  const write = async () => {
    const snapshot: Snapshot = { process: options.process, instance: instanceId, at: Date.now(), metrics: await ownMetrics() };
    if (!stopping) await options.redis.hset(METRICS_SNAPSHOTS_KEY, field, JSON.stringify(snapshot));
  };
  const timer = metricsEnabled
    ? setInterval(() => { writing = write().catch(() => undefined); }, options.snapshotIntervalMs ?? 1_000)
    : undefined;
  timer?.unref();
  let server: Server | undefined;
  const port = options.port ?? Number(process.env.METRICS_PORT ?? 0);
  if (metricsEnabled && port > 0) {
    server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      metricsText([]).then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end());
    });
    server.listen(port, process.env.METRICS_HOST ?? '0.0.0.0');
    server.unref();
  }
  started = {
    process: options.process,
    async stop() {
      stopping = true;
      if (timer) clearInterval(timer);
      server?.close();
      // A snapshot being written as the process stops must not land after its removal
      // (it would be summed into /metrics for SNAPSHOT_MAX_AGE_MS as if the process ran on).
      await writing;
      await options.redis.hdel(METRICS_SNAPSHOTS_KEY, field).catch(() => undefined);
    },
  };
  return started;
}

/** Snapshots of the other processes seen recently (this one excluded); prunes old ones. */
export async function readSnapshots(redis: Redis): Promise<Snapshot[]> {
  const all = await redis.hgetall(METRICS_SNAPSHOTS_KEY);
  const now = Date.now();
  const fresh: Snapshot[] = [];
  const stale: string[] = [];
  for (const [field, raw] of Object.entries(all)) {
    let snapshot: Snapshot;
    try {
      snapshot = JSON.parse(raw) as Snapshot;
    } catch {
      stale.push(field);
      continue;
    }
    if (now - snapshot.at > 6 * SNAPSHOT_MAX_AGE_MS) stale.push(field);
    else if (now - snapshot.at <= SNAPSHOT_MAX_AGE_MS && snapshot.instance !== instanceId) fresh.push(snapshot);
  }
  if (stale.length > 0) await redis.hdel(METRICS_SNAPSHOTS_KEY, ...stale);
  return fresh;
}

export type MetricJson = client.MetricObjectWithValues<client.MetricValue<string>>;

/** This process's metrics (as JSON) merged with other processes' snapshots: series with equal labels are combined by each metric's aggregator. */
export function mergeMetrics(own: MetricJson[], others: Snapshot[]): client.Registry {
  return client.AggregatorRegistry.aggregate([own, ...others.map((s) => s.metrics)]);
}

export const METRICS_CONTENT_TYPE = registry.contentType;

/** Records one Kafka send of the edge: its latency by outcome (ok, failed, timeout) and its size. */
export function observeProduce(topic: string, outcome: 'ok' | 'failed' | 'timeout', startedMs: number, messages: number): void {
  if (!metricsEnabled) return;
  kafkaProduceDuration.observe({ topic, outcome }, (performance.now() - startedMs) / 1000);
  kafkaProduceBatchSize.observe({ topic }, messages);
}

/** Records one batch the order writer persisted. */
export function observeWriterBatch(result: { orders: number; live: number; expired: number }, startedMs: number): void {
  if (!metricsEnabled) return;
  writerBatchSize.observe(result.orders);
  writerWriteDuration.observe((performance.now() - startedMs) / 1000);
  writerOrders.inc({ outcome: 'live' }, result.live);
  writerOrders.inc({ outcome: 'expired' }, result.expired);
}

/** Records the drift of each product the reconciler measured (0 once repaired). */
export function recordDrift(reports: { productId: string; drift: number; repaired: boolean }[]): void {
  if (!metricsEnabled) return;
  for (const r of reports) {
    reconcilerDrift.set({ product_id: r.productId }, r.repaired ? 0 : r.drift);
    if (r.repaired) reconcilerRepairs.inc();
  }
}
