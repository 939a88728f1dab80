/**
 * Configuration from the environment, read once at start-up. Every knob has a
 * default that works with the services `infra/services.sh` starts.
 */
function int(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return value;
}

function str(name: string, fallback: string): string {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

export interface Config {
  port: number;
  host: string;
  redisUrl: string;
  databaseUrl: string;
  kafkaBrokers: string[];
  kafkaClientId: string;
  jwtSecret: string;
  jwtTtlSeconds: number;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  /** Partitions of the accepted-orders topic, created at start-up. */
  orderPartitions: number;
  /** How long a held reservation waits for Kafka before the reconciler may release it. */
  holdMs: number;
  /** Upper bound on one Kafka send, after which the outcome is unknown. */
  produceTimeoutMs: number;
  /** How long the edge gathers orders into one Kafka send. */
  produceLingerMs: number;
  produceMaxBatch: number;
  /** Parallel idempotent producers (each has one request in flight). */
  producers: number;
  /** Seconds an idempotency record (and a refusal) is kept: at least 24 hours. */
  idempotencyTtlSeconds: number;
  maxBodyBytes: number;
  /** Orders one edge decides at once; past it a new order gets a fast 503 instead of a place in a growing queue. */
  maxPendingOrders: number;
  reconcileIntervalMs: number;
  driftIntervalMs: number;
  writerPartitionsConcurrently: number;
  /** Kafka consumer session timeout: how soon a dead worker's partitions move on. */
  kafkaSessionTimeoutMs: number;
  pgPoolSize: number;
  /** Catalog caches of each edge (edge/catalog.ts): product details and search answers, entries and TTL. */
  catalogCacheEntries: number;
  catalogCacheTtlMs: number;
  searchCacheEntries: number;
  searchCacheTtlMs: number;
  /** How often an edge checks low-stock thresholds against the counters (0: never). */
  lowStockIntervalMs: number;
  logLevel: string;
  /** Failed logins per account per 15 minutes before 429 (0: off). */
  rateLimitLoginFailures: number;
  /** Login and register requests per client address per minute before 429 (0: off). */
  rateLimitPerIp: number;
  /** Product media uploads (edge/routes/media.ts) and where they are stored (common/media-storage.ts). */
  media: MediaConfig;
  /** Payments (common/payments.ts): the provider's secret key; unset = no payments in this process. */
  stripeSecretKey: string | undefined;
  /** Secret that signs the provider's webhook events. */
  stripeWebhookSecret: string | undefined;
  /** Sandbox override of the provider's address (e.g. http://127.0.0.1:12111); unset = Stripe itself. */
  stripeApiBase: string | undefined;
  /** Attempts at one payment call (timeouts, 5xx) before its message is dead-lettered. */
  paymentMaxAttempts: number;
  /** How long an order may wait in pending_payment (e.g. for 3-D Secure) before it expires. */
  paymentHoldMs: number;
  /** Deadline of one call to the payment provider. */
  paymentTimeoutMs: number;
  /** Payments the settler has in flight at once (across partitions). */
  paymentConcurrency: number;
  /** Notification email (workers/notifier.ts): the SMTP server's URL (smtp:// or smtps://, credentials in it); unset = no email. */
  smtpUrl: string | undefined;
  /** The From address of notification email. */
  smtpFrom: string;
  /** How long a notifier instance holds a notification it is emailing before another may try it. */
  emailLeaseMs: number;
  /** How often the notifier and analytics workers look for new outbox rows when idle. */
  outboxPollMs: number;
  /** How often the analytics worker writes an inventory snapshot (0: never). */
  inventorySnapshotIntervalMs: number;
}

export interface MediaConfig {
  /** Signs upload URLs: MEDIA_SIGNING_SECRET, else JWT_SECRET. */
  signingSecret: string;
  uploadUrlTtlSeconds: number;
  maxImageBytes: number;
  maxVideoBytes: number;
  /** Upload parts and, with local storage, the stored files: MEDIA_DIR, else DATA_DIR/media. */
  dir: string;
  /** Set (with S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY) to store media in an S3-compatible store. */
  s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string; publicBaseUrl: string } | undefined;
}

function loadMediaConfig(): MediaConfig {
  const endpoint = str('S3_ENDPOINT', '');
  return {
    signingSecret: str('MEDIA_SIGNING_SECRET', str('JWT_SECRET', '')),
    uploadUrlTtlSeconds: int('MEDIA_UPLOAD_URL_TTL_SECONDS', 86_400),
    maxImageBytes: int('MEDIA_MAX_IMAGE_BYTES', 20 * 1024 * 1024),
    maxVideoBytes: int('MEDIA_MAX_VIDEO_BYTES', 2 * 1024 * 1024 * 1024),
    dir: str('MEDIA_DIR', `${str('DATA_DIR', '.data')}/media`),
    s3: endpoint === '' ? undefined : {
      endpoint, bucket: str('S3_BUCKET', ''), region: str('S3_REGION', 'us-east-1'),
      accessKeyId: str('S3_ACCESS_KEY_ID', ''), secretAccessKey: str('S3_SECRET_ACCESS_KEY', ''),
      publicBaseUrl: str('S3_PUBLIC_BASE_URL', ''),
    },
  };
}

export function loadConfig(): Config {
  return {
    port: int('PORT', 8080),
    host: str('HOST', '0.0.0.0'),
    redisUrl: str('REDIS_URL', 'redis://127.0.0.1:6390'),
    databaseUrl: str('DATABASE_URL', 'postgres://postgres@127.0.0.1:5440/flashsale'),
    kafkaBrokers: str('KAFKA_BROKERS', '127.0.0.1:9093').split(',').map((b) => b.trim()).filter(Boolean),
    kafkaClientId: str('KAFKA_CLIENT_ID', 'flashsale'),
    jwtSecret: str('JWT_SECRET', ''),
    jwtTtlSeconds: int('JWT_TTL_SECONDS', 3600),
    adminEmail: process.env.ADMIN_EMAIL || undefined,
    adminPassword: process.env.ADMIN_PASSWORD || undefined,
    orderPartitions: int('ORDER_PARTITIONS', 6),
    holdMs: int('RESERVATION_HOLD_MS', 30_000),
    produceTimeoutMs: int('PRODUCE_TIMEOUT_MS', 3_000),
    produceLingerMs: int('PRODUCE_LINGER_MS', 2),
    produceMaxBatch: int('PRODUCE_MAX_BATCH', 500),
    producers: int('KAFKA_PRODUCERS', 2),
    idempotencyTtlSeconds: int('IDEMPOTENCY_TTL_SECONDS', 86_400),
    maxBodyBytes: int('MAX_BODY_BYTES', 65_536),
    maxPendingOrders: int('MAX_PENDING_ORDERS', 256),
    reconcileIntervalMs: int('RECONCILE_INTERVAL_MS', 1_000),
    driftIntervalMs: int('DRIFT_INTERVAL_MS', 5_000),
    writerPartitionsConcurrently: int('WRITER_PARTITIONS_CONCURRENTLY', 3),
    kafkaSessionTimeoutMs: int('KAFKA_SESSION_TIMEOUT_MS', 10_000),
    pgPoolSize: int('PG_POOL_SIZE', 10),
    catalogCacheEntries: int('CATALOG_CACHE_ENTRIES', 200_000),
    catalogCacheTtlMs: int('CATALOG_CACHE_TTL_MS', 300_000),
    searchCacheEntries: int('SEARCH_CACHE_ENTRIES', 20_000),
    searchCacheTtlMs: int('SEARCH_CACHE_TTL_MS', 60_000),
    lowStockIntervalMs: int('LOW_STOCK_INTERVAL_MS', 5_000),
    logLevel: str('LOG_LEVEL', 'info'),
    rateLimitLoginFailures: int('RATE_LIMIT_LOGIN_FAILURES', 10),
    rateLimitPerIp: int('RATE_LIMIT_PER_IP', 120),
    media: loadMediaConfig(),
    stripeSecretKey: process.env.STRIPE_SECRET_KEY || undefined,
    stripeWebhookSecret: process.env.STRIPE_WEBHOOK_SECRET || undefined,
    stripeApiBase: process.env.STRIPE_API_BASE || undefined,
    paymentMaxAttempts: int('PAYMENT_MAX_ATTEMPTS', 5),
    paymentHoldMs: int('PAYMENT_HOLD_MS', 900_000),
    paymentTimeoutMs: int('PAYMENT_TIMEOUT_MS', 10_000),
    paymentConcurrency: int('PAYMENT_CONCURRENCY', 256),
    smtpUrl: process.env.SMTP_URL || undefined,
    smtpFrom: str('SMTP_FROM', 'Flash Sale Shop <no-reply@flashsale.local>'),
    emailLeaseMs: int('EMAIL_LEASE_MS', 60_000),
    outboxPollMs: int('OUTBOX_POLL_MS', 250),
    inventorySnapshotIntervalMs: int('INVENTORY_SNAPSHOT_INTERVAL_MS', 300_000),
  };
}
