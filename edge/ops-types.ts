/**
 * The shape of GET /v1/ops/stats and of each message of the /ops dashboard's
 * WebSocket (/v1/ops/stream). Types only: the dashboard bundle imports this file.
 */
export type DependencyHealth = 'up' | 'down' | 'rebuilding';

export type Outcome = 'accepted' | 'sold-out' | 'limit-exceeded' | 'rejected' | 'unavailable';

export type Window = '10s' | '1m';

export interface Quantiles { p50: number | null; p99: number | null }

export interface PartitionLag {
  topic: string;
  partition: number;
  committedOffset: number | null;
  logEndOffset: number;
  lag: number;
}

export interface OpsStats {
  /** When this sample was taken (ISO time) and how often samples are taken. */
  at: string;
  sampleMs: number;
  orders: {
    /** Decisions since the edges started, summed over every edge. */
    totals: Record<Outcome, number>;
    /** Decisions per second over the last 10 s and the last minute. */
    perSecond: Record<Window, Record<Outcome, number>>;
    /** Accepted (202) and refused (everything else) per second. */
    acceptRate: Record<Window, number>;
    rejectRate: Record<Window, number>;
    /** POST /v1/orders latency over the last 10 s, ms. */
    latencyMs: Quantiles;
  };
  http: { requestsPerSecond: number; serverErrorsPerSecond: number; latencyMs: Quantiles };
  kafka: {
    /** Per topic: log-end offsets and depth (the backlog of its slowest consumer group). */
    topics: { topic: string; depth: number; partitions: { partition: number; logEndOffset: number }[] }[];
    /** Per consumer group: total lag and lag per topic and partition. */
    groups: { group: string; lag: number; partitions: PartitionLag[] }[];
    /** Kafka send latency of the edges over the last 10 s, ms. */
    produceLatencyMs: Quantiles;
    /** False when the last offsets could not be read (Kafka down): the figures are the last known. */
    fresh: boolean;
  };
  reservations: { openUnits: number; held: number } | null;
  flashSales: {
    flashSaleId: string; productId: string; status: 'live' | 'paused' | 'upcoming';
    quantity: number; remaining: number; sold: number; sellThrough: number; endsAt: string;
  }[];
  payments: { totals: Record<string, number>; perSecond: Record<string, number> };
  drift: { products: { productId: string; drift: number }[]; totalAbs: number; nonZeroForMs: number };
  writer: { batchesPerSecond: number; ordersPerSecond: number; meanBatchSize: number | null; writeLatencyMs: Quantiles };
  dependencies: Record<'redis' | 'postgres' | 'kafka', DependencyHealth>;
  processes: { process: string; instance: string; ageMs: number; eventLoopLagMs: number | null }[];
  alarms: { level: 'critical' | 'warning'; code: string; message: string }[];
}

/** Messages the server sends on /v1/ops/stream. */
export type OpsMessage =
  | { type: 'hello'; userId: string }
  | { type: 'stats'; stats: OpsStats }
  | { type: 'error'; message: string };
