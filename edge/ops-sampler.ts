/**
 * The edge's operations sampler: once a second (OPS_SAMPLE_MS) it reads
 *   - the merged metrics of every process (this edge's registry + the snapshots the
 *     others write to Redis): order decisions, latencies, writer batches, payments;
 *   - Kafka offsets through the admin client: log-end offset per topic and partition,
 *     committed offset per consumer group, lag = log-end − committed;
 *   - Redis: open reservations over active products, each live sale's remaining units,
 *     the reconciler's drift per product;
 *   - Postgres: the live, paused and upcoming flash sales;
 *   - each dependency's health;
 * sets the sampled gauges (lag, offsets, reservations, sale stock, dependency up),
 * keeps a minute of history for rates and windowed quantiles, raises alarms, and
 * hands each OpsStats to its listeners (GET /v1/ops/stats, the /ops WebSocket).
 * A change an operator makes (a flash sale paused, resumed, ended or grown) asks for a
 * sample at once (refresh()), so the dashboard shows it without waiting for the next tick.
 * Nothing here runs on the order path.
 */
import { perEdge, type EdgeDeps } from './deps.js';
import type { OpsStats, Outcome, PartitionLag, Window } from './ops-types.js';
import { dependencyHealth } from './routes/health.js';
import { bucketDelta, histogram, maxBy, ms, quantile, sumBy, type Buckets } from './ops-figures.js';
import {
  DECISION_OUTCOMES, dependencyUp, flashSaleQuantity, flashSaleRemaining, instanceId, kafkaCommittedOffset,
  kafkaConsumerLag, kafkaLogEndOffset, mergeMetrics, ownMetrics, readSnapshots, reservationsHeld, reservationsOpen,
  type MetricJson, type Snapshot,
} from '../common/metrics.js';
import { ACTIVE_PRODUCTS_KEY, DRIFT_KEY, productKeys } from '../common/keys.js';
import { GROUPS, TOPICS } from '../common/topics.js';
import { createPool, type Pool } from '../common/db.js';

const HISTORY_MS = 70_000;
const MAX_PRODUCTS_SCANNED = 5_000;
const ORDER_ROUTE = (l: Record<string, string | number>) => l.route === '/v1/orders' && l.method === 'POST';

interface Reading {
  t: number;
  decisions: Record<Outcome, number>;
  orderLatency: Buckets;
  httpLatency: Buckets;
  http5xx: number;
  produce: Buckets;
  writerBatch: Buckets;
  writerWrite: Buckets;
  writerOrders: number;
  payments: Record<string, number>;
  groupLag: Record<string, number>;
}

interface KafkaReading { topics: OpsStats['kafka']['topics']; groups: OpsStats['kafka']['groups'] }

interface SaleRow { flashSaleId: string; productId: string; quantity: number; state: string; startsAt: Date; endsAt: Date }

export interface SamplerSettings { sampleMs: number; lagAlarm: number; driftAlarmMs: number; expectedProcesses: string[] }

export function samplerSettings(env = process.env): SamplerSettings {
  return {
    sampleMs: Number(env.OPS_SAMPLE_MS ?? 1_000),
    lagAlarm: Number(env.OPS_LAG_ALARM ?? 100),
    driftAlarmMs: Number(env.OPS_DRIFT_ALARM_MS ?? 30_000),
    expectedProcesses: (env.OPS_EXPECTED_PROCESSES ?? 'order-writer,reconciler').split(',').map((s) => s.trim()).filter(Boolean),
  };
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([work, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), timeoutMs); })])
    .finally(() => clearTimeout(timer));
}

const unique = <T>(items: T[]): T[] => [...new Set(items)];

export class OpsSampler {
  private history: Reading[] = [];
  private latestStats: OpsStats | undefined;
  private readonly listeners = new Set<(stats: OpsStats) => void>();
  private timer: NodeJS.Timeout | undefined;
  private groups: string[] = Object.values(GROUPS);
  private groupsListedAt = 0;
  /** The broker's topics, listed with the groups. */
  private topics = new Set<string>();
  private kafkaRead: Promise<KafkaReading> | undefined;
  private lastKafka: KafkaReading = { topics: [], groups: [] };
  private driftSince: number | undefined;
  private running = false;
  /** The sample being taken by the tick loop, and whether another was asked for meanwhile. */
  private sampling: Promise<void> | undefined;
  private again = false;
  /**
   * Postgres connections of the sampler's own (while it runs): under a spike, request
   * traffic (payment webhooks, say) can hold every connection of the edge's pool for
   * seconds, and the figures must keep coming, without a false "postgres is down".
   */
  private ownPool: Pool | undefined;

  constructor(private readonly deps: EdgeDeps, private readonly settings: SamplerSettings) {}

  get latest(): OpsStats | undefined { return this.latestStats; }

  onSample(listener: (stats: OpsStats) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.ownPool = createPool(this.deps.config.databaseUrl, 2);
    void this.tick();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    void this.ownPool?.end().catch(() => undefined);
    this.ownPool = undefined;
  }

  private get pool(): Pool {
    return this.ownPool ?? this.deps.pool;
  }

  /**
   * A sample now instead of at the next tick (something an operator watches just changed);
   * when one is being taken, another follows it at once, since it may have read too early.
   * The regular ticks go on a full period after it.
   */
  refresh(): void {
    if (!this.running) return;
    if (this.sampling) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    void this.tick();
  }

  private async tick(): Promise<void> {
    const began = Date.now();
    this.sampling = this.sample().then(() => undefined, (error: unknown) => {
      this.deps.log.warn({ err: (error as Error).message }, 'ops sample failed');
    });
    await this.sampling;
    this.sampling = undefined;
    if (!this.running) return;
    if (this.again) {
      this.again = false;
      void this.tick();
      return;
    }
    this.timer = setTimeout(() => void this.tick(), Math.max(50, this.settings.sampleMs - (Date.now() - began)));
    this.timer.unref();
  }

  /** Takes one sample now and hands it to the listeners. */
  async sample(): Promise<OpsStats> {
    const t = Date.now();
    const [others, own, kafka, redisFigures, sales, dependencies] = await Promise.all([
      readSnapshots(this.deps.redis).catch((): Snapshot[] => []),
      ownMetrics(),
      this.readKafka(),
      this.readRedis().catch(() => undefined),
      this.readSales().catch((): OpsStats['flashSales'] => []),
      dependencyHealth({ ...this.deps, pool: this.pool }),
    ]);
    const merged = others.length > 0 ? await mergeMetrics(own, others).getMetricsAsJSON() : own;
    const reading = this.read(t, merged, kafka.reading);
    this.history.push(reading);
    while (this.history.length > 2 && t - this.history[0]!.t > HISTORY_MS) this.history.shift();

    this.setGauges(kafka.reading, redisFigures, sales, dependencies);
    const stats = this.compose(t, reading, others, own, kafka, redisFigures, sales, dependencies);
    this.latestStats = stats;
    for (const listener of this.listeners) listener(stats);
    return stats;
  }

  private read(t: number, metrics: MetricJson[], kafka: KafkaReading): Reading {
    const decisions = sumBy(metrics, 'flashsale_order_decisions_total', 'outcome');
    return {
      t,
      decisions: Object.fromEntries(DECISION_OUTCOMES.map((o) => [o, decisions[o] ?? 0])) as Record<Outcome, number>,
      orderLatency: histogram(metrics, 'flashsale_http_request_duration_seconds', ORDER_ROUTE),
      httpLatency: histogram(metrics, 'flashsale_http_request_duration_seconds'),
      http5xx: histogram(metrics, 'flashsale_http_request_duration_seconds', (l) => String(l.status).startsWith('5')).count,
      produce: histogram(metrics, 'flashsale_kafka_produce_duration_seconds', (l) => l.outcome === 'ok'),
      writerBatch: histogram(metrics, 'flashsale_order_writer_batch_size'),
      writerWrite: histogram(metrics, 'flashsale_order_writer_write_duration_seconds'),
      writerOrders: Object.values(sumBy(metrics, 'flashsale_order_writer_orders_total', 'outcome')).reduce((a, b) => a + b, 0),
      payments: sumBy(metrics, 'flashsale_payment_outcomes_total', 'outcome'),
      groupLag: Object.fromEntries(kafka.groups.map((g) => [g.group, g.lag])),
    };
  }

  /** The reading closest to `ago` ms before the last one (the oldest when history is shorter). */
  private before(agoMs: number): Reading {
    const last = this.history[this.history.length - 1]!;
    let pick = this.history[0]!;
    for (const r of this.history) {
      if (last.t - r.t >= agoMs) pick = r;
      else break;
    }
    return pick;
  }

  private compose(t: number, now: Reading, others: Snapshot[], own: MetricJson[],
    kafka: { reading: KafkaReading; fresh: boolean }, redisFigures: RedisFigures | undefined,
    flashSales: OpsStats['flashSales'], dependencies: OpsStats['dependencies']): OpsStats {
    const windows: Record<Window, Reading> = { '10s': this.before(10_000), '1m': this.before(60_000) };
    const perSecond = (w: Window) => {
      const then = windows[w];
      const seconds = Math.max(1, (now.t - then.t) / 1000);
      return Object.fromEntries(DECISION_OUTCOMES.map((o) => [o, round2(Math.max(0, now.decisions[o] - then.decisions[o]) / seconds)])) as Record<Outcome, number>;
    };
    const rates = { '10s': perSecond('10s'), '1m': perSecond('1m') };
    const refused = (r: Record<Outcome, number>) => round2(r['sold-out'] + r['limit-exceeded'] + r.rejected + r.unavailable);
    const ten = windows['10s'];
    const tenSeconds = Math.max(1, (now.t - ten.t) / 1000);
    const orderLatency = bucketDelta(now.orderLatency, ten.orderLatency);
    const httpLatency = bucketDelta(now.httpLatency, ten.httpLatency);
    const produce = bucketDelta(now.produce, ten.produce);
    const writerBatch = bucketDelta(now.writerBatch, ten.writerBatch);
    const writerWrite = bucketDelta(now.writerWrite, ten.writerWrite);
    const minute = windows['1m'];
    const minuteSeconds = Math.max(1, (now.t - minute.t) / 1000);

    const driftProducts = redisFigures?.drift ?? [];
    const totalAbs = driftProducts.reduce((sum, d) => sum + Math.abs(d.drift), 0);
    if (totalAbs === 0) this.driftSince = undefined;
    else this.driftSince ??= t;

    const lagOwn = maxBy(own, 'nodejs_eventloop_lag_seconds', 'process');
    const processes: OpsStats['processes'] = [
      { process: 'edge', instance: instanceId, ageMs: 0, eventLoopLagMs: ms(lagOwn.edge ?? null) },
      ...others.map((s) => ({
        process: s.process, instance: s.instance, ageMs: t - s.at,
        eventLoopLagMs: ms(Object.values(maxBy(s.metrics, 'nodejs_eventloop_lag_seconds', 'process'))[0] ?? null),
      })),
    ];

    const stats: OpsStats = {
      at: new Date(t).toISOString(),
      sampleMs: this.settings.sampleMs,
      orders: {
        totals: now.decisions,
        perSecond: rates,
        acceptRate: { '10s': rates['10s'].accepted, '1m': rates['1m'].accepted },
        rejectRate: { '10s': refused(rates['10s']), '1m': refused(rates['1m']) },
        latencyMs: { p50: ms(quantile(0.5, orderLatency)), p99: ms(quantile(0.99, orderLatency)) },
      },
      http: {
        requestsPerSecond: round2(httpLatency.count / tenSeconds),
        serverErrorsPerSecond: round2(Math.max(0, now.http5xx - ten.http5xx) / tenSeconds),
        latencyMs: { p50: ms(quantile(0.5, httpLatency)), p99: ms(quantile(0.99, httpLatency)) },
      },
      kafka: {
        ...kafka.reading,
        produceLatencyMs: { p50: ms(quantile(0.5, produce)), p99: ms(quantile(0.99, produce)) },
        fresh: kafka.fresh,
      },
      reservations: redisFigures ? { openUnits: redisFigures.openUnits, held: redisFigures.held } : null,
      flashSales,
      payments: {
        totals: now.payments,
        perSecond: Object.fromEntries(Object.entries(now.payments).map(([k, v]) =>
          [k, round2(Math.max(0, v - (minute.payments[k] ?? 0)) / minuteSeconds)])),
      },
      drift: { products: driftProducts, totalAbs, nonZeroForMs: this.driftSince === undefined ? 0 : t - this.driftSince },
      writer: {
        batchesPerSecond: round2(writerBatch.count / tenSeconds),
        ordersPerSecond: round2(Math.max(0, now.writerOrders - ten.writerOrders) / tenSeconds),
        meanBatchSize: writerBatch.count > 0 ? round2(writerBatch.sum / writerBatch.count) : null,
        writeLatencyMs: { p50: ms(quantile(0.5, writerWrite)), p99: ms(quantile(0.99, writerWrite)) },
      },
      dependencies,
      processes,
      alarms: [],
    };
    stats.alarms = this.alarms(stats, ten);
    return stats;
  }

  private alarms(stats: OpsStats, tenSecondsAgo: Reading): OpsStats['alarms'] {
    const alarms: OpsStats['alarms'] = [];
    for (const [name, health] of Object.entries(stats.dependencies)) {
      if (health !== 'up') alarms.push({ level: 'critical', code: 'dependency-down', message: `${name} is ${health}` });
    }
    for (const group of stats.kafka.groups) {
      const before = tenSecondsAgo.groupLag[group.group] ?? 0;
      if (group.lag >= this.settings.lagAlarm && group.lag > before) {
        alarms.push({ level: 'warning', code: 'lag-growing', message: `consumer group ${group.group} lags ${group.lag} messages and growing (it was ${before} ten seconds ago)` });
      }
    }
    if (!stats.kafka.fresh) alarms.push({ level: 'critical', code: 'kafka-offsets-stale', message: 'Kafka offsets could not be read; lag figures are the last known' });
    const seen = new Set(stats.processes.map((p) => p.process));
    for (const expected of this.settings.expectedProcesses) {
      if (!seen.has(expected)) alarms.push({ level: 'critical', code: 'process-missing', message: `no ${expected} has reported in the last 10 s` });
    }
    if (stats.drift.nonZeroForMs >= this.settings.driftAlarmMs) {
      alarms.push({ level: 'warning', code: 'drift-persisting', message: `drift of ${stats.drift.totalAbs} units for ${Math.round(stats.drift.nonZeroForMs / 1000)} s` });
    }
    if (stats.orders.perSecond['10s'].unavailable > 0) {
      alarms.push({ level: 'warning', code: 'orders-unavailable', message: `${stats.orders.perSecond['10s'].unavailable} orders/s answered 503` });
    }
    return alarms;
  }

  private setGauges(kafka: KafkaReading, redisFigures: RedisFigures | undefined, sales: OpsStats['flashSales'],
    dependencies: OpsStats['dependencies']): void {
    kafkaLogEndOffset.reset();
    kafkaCommittedOffset.reset();
    kafkaConsumerLag.reset();
    for (const topic of kafka.topics) {
      for (const p of topic.partitions) kafkaLogEndOffset.set({ topic: topic.topic, partition: String(p.partition) }, p.logEndOffset);
    }
    for (const group of kafka.groups) {
      for (const p of group.partitions) {
        const labels = { group: group.group, topic: p.topic, partition: String(p.partition) };
        kafkaConsumerLag.set(labels, p.lag);
        if (p.committedOffset !== null) kafkaCommittedOffset.set(labels, p.committedOffset);
      }
    }
    if (redisFigures) {
      reservationsOpen.set(redisFigures.openUnits);
      reservationsHeld.set(redisFigures.held);
    }
    flashSaleRemaining.reset();
    flashSaleQuantity.reset();
    for (const s of sales) {
      flashSaleRemaining.set({ flash_sale_id: s.flashSaleId, product_id: s.productId }, s.remaining);
      flashSaleQuantity.set({ flash_sale_id: s.flashSaleId, product_id: s.productId }, s.quantity);
    }
    for (const [name, health] of Object.entries(dependencies)) dependencyUp.set({ dependency: name }, health === 'up' ? 1 : 0);
  }

  /** Kafka offsets; a read still running from an earlier tick (Kafka slow or down) is not started twice. */
  private async readKafka(): Promise<{ reading: KafkaReading; fresh: boolean }> {
    this.kafkaRead ??= this.readOffsets().then((reading) => { this.lastKafka = reading; return reading; })
      .finally(() => { this.kafkaRead = undefined; });
    try {
      return { reading: await withTimeout(this.kafkaRead, Math.max(200, this.settings.sampleMs * 0.8)), fresh: true };
    } catch {
      return { reading: this.lastKafka, fresh: false };
    }
  }

  private async readOffsets(): Promise<KafkaReading> {
    const admin = this.deps.kafkaAdmin;
    if (Date.now() - this.groupsListedAt > 10_000) {
      const { groups } = await admin.listGroups();
      this.groups = unique([...Object.values(GROUPS), ...groups.filter((g) => g.protocolType === 'consumer').map((g) => g.groupId)]).sort();
      this.topics = new Set(await admin.listTopics());
      this.groupsListedAt = Date.now();
    }
    const committed = await Promise.all(this.groups.map(async (groupId) => ({ groupId, topics: await admin.fetchOffsets({ groupId }) })));
    // Only topics that exist: a group keeps offsets of a deleted topic, and asking the broker
    // about that topic logs an error from kafkajs on every sample.
    const topicNames = unique([...Object.values(TOPICS), ...committed.flatMap((g) => g.topics.map((t) => t.topic))])
      .filter((topic) => this.topics.has(topic)).sort();
    const ends = (await Promise.all(topicNames.map(async (topic) => {
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        return { topic, partitions: offsets.map((o) => ({ partition: o.partition, logEndOffset: Number(o.high), logStartOffset: Number(o.low) }))
          .sort((a, b) => a.partition - b.partition) };
      } catch {
        return undefined; // not created yet
      }
    }))).filter((t) => t !== undefined);
    // Every partition of each topic a group has committed on: one it never committed on lags from the log start.
    const groups = committed.map(({ groupId, topics }) => {
      const partitions: PartitionLag[] = [];
      for (const topic of topics) {
        const given = new Map(topic.partitions.map((p) => [p.partition, Number(p.offset)]));
        for (const end of ends.find((t) => t.topic === topic.topic)?.partitions ?? []) {
          const offset = given.get(end.partition) ?? -1;
          const committedOffset = offset >= 0 ? offset : null;
          partitions.push({ topic: topic.topic, partition: end.partition, committedOffset, logEndOffset: end.logEndOffset,
            lag: Math.max(0, end.logEndOffset - (committedOffset ?? end.logStartOffset)) });
        }
      }
      return { group: groupId, lag: partitions.reduce((sum, p) => sum + p.lag, 0), partitions };
    }).filter((g) => g.partitions.length > 0);
    const topics = ends.map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p) => ({ partition: p.partition, logEndOffset: p.logEndOffset })),
      depth: Math.max(0, ...groups.map((g) => g.partitions.filter((p) => p.topic === t.topic).reduce((sum, p) => sum + p.lag, 0))),
    }));
    return { topics, groups };
  }

  private async readRedis(): Promise<RedisFigures> {
    const redis = this.deps.redis;
    const [products, driftHash] = await Promise.all([
      redis.srandmember(ACTIVE_PRODUCTS_KEY, MAX_PRODUCTS_SCANNED), redis.hgetall(DRIFT_KEY),
    ]);
    const pipeline = redis.pipeline();
    for (const id of products) {
      const k = productKeys(id);
      pipeline.get(k.reserved);
      pipeline.zcard(k.held);
    }
    const replies = products.length > 0 ? (await pipeline.exec()) ?? [] : [];
    let openUnits = 0;
    let held = 0;
    replies.forEach(([, value], i) => {
      if (i % 2 === 0) openUnits += Number(value ?? 0);
      else held += Number(value ?? 0);
    });
    const drift = Object.entries(driftHash).map(([productId, v]) => ({ productId, drift: Number(v) }))
      .filter((d) => d.drift !== 0).sort((a, b) => Math.abs(b.drift) - Math.abs(a.drift));
    return { openUnits, held, drift };
  }

  private async readSales(): Promise<OpsStats['flashSales']> {
    const { rows } = await this.pool.query<SaleRow>(
      `SELECT flash_sale_id AS "flashSaleId", product_id AS "productId", quantity, state, starts_at AS "startsAt", ends_at AS "endsAt"
         FROM flash_sales WHERE state <> 'ended' AND ends_at > now() ORDER BY starts_at, flash_sale_id LIMIT 50`);
    if (rows.length === 0) return [];
    const pipeline = this.deps.redis.pipeline();
    for (const s of rows) pipeline.hmget(`${productKeys(s.productId).prefix}:sale:${s.flashSaleId}`, 'remaining', 'state');
    const replies = (await pipeline.exec()) ?? [];
    const now = Date.now();
    const sales: OpsStats['flashSales'] = [];
    rows.forEach((s, i) => {
      const [remainingRaw, redisState] = (replies[i]?.[1] ?? [null, null]) as [string | null, string | null];
      if (redisState === 'ended') return;
      const status = s.state === 'paused' || redisState === 'paused' ? 'paused' : s.startsAt.getTime() > now ? 'upcoming' : 'live';
      const remaining = remainingRaw === null ? (status === 'upcoming' ? s.quantity : 0) : Number(remainingRaw);
      const sold = Math.max(0, s.quantity - remaining);
      sales.push({
        flashSaleId: s.flashSaleId, productId: s.productId, status, quantity: s.quantity, remaining, sold,
        sellThrough: s.quantity > 0 ? round2(sold / s.quantity) : 0, endsAt: s.endsAt.toISOString(),
      });
    });
    return sales;
  }
}

interface RedisFigures { openUnits: number; held: number; drift: { productId: string; drift: number }[] }

/** The edge's one sampler (the ops routes run it; the flash-sale routes ask it to refresh). */
export const samplerFor = perEdge((deps) => new OpsSampler(deps, samplerSettings()));

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
