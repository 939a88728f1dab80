/**
 * Worker processes: `node dist/workers/main.js <name>`. Each worker is its own
 * process, so it can be killed, restarted and scaled alone. A worker is a factory
 * in WORKERS that starts consuming and returns how to stop.
 */
import { loadConfig, type Config } from '../common/config.js';
import { createLogger, type Logger } from '../common/logger.js';
import { createPool, type Pool } from '../common/db.js';
import { migrate } from '../common/migrate.js';
import { createRedis, type Redis } from '../common/redis.js';
import { startProcessMetrics } from '../common/metrics.js';
import { createKafka, ensureTopics } from '../common/kafka.js';
import type { Kafka } from 'kafkajs';
import { OrderWriter } from './order-writer.js';
import { startPaymentSettler } from './payment-settler.js';
import { startNotifier } from './notifier.js';
import { startAnalytics } from './analytics.js';

export interface WorkerContext { config: Config; log: Logger; pool: Pool; redis: Redis; kafka: Kafka }
type Worker = (ctx: WorkerContext) => Promise<{ stop(): Promise<void> }>;

const WORKERS: Record<string, Worker> = {
  'order-writer': async ({ config, log, pool, redis, kafka }) => {
    const writer = new OrderWriter(kafka, pool, redis, {
      idempotencyTtlSeconds: config.idempotencyTtlSeconds,
      sessionTimeoutMs: config.kafkaSessionTimeoutMs,
      partitionsConcurrently: config.writerPartitionsConcurrently,
    }, log);
    await writer.start();
    log.info('order writer consuming');
    return writer;
  },
  'payment-settler': (ctx) => startPaymentSettler(ctx),
  notifier: (ctx) => Promise.resolve(startNotifier(ctx)),
  analytics: (ctx) => Promise.resolve(startAnalytics(ctx)),
};

async function main(): Promise<void> {
  const name = process.argv[2] ?? '';
  const start = WORKERS[name];
  if (!start) {
    process.stderr.write(`usage: node dist/workers/main.js <${Object.keys(WORKERS).join('|')}>\n`);
    process.exit(2);
  }
  const config = loadConfig();
  const log = createLogger(name, config.logLevel);
  const pool = createPool(config.databaseUrl, config.pgPoolSize);
  await migrate(pool);
  const redis = createRedis(config.redisUrl);
  const kafka = createKafka(config.kafkaBrokers, `${config.kafkaClientId}-${name}`, log);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, config.orderPartitions);
  await admin.disconnect();

  const worker = await start({ config, log, pool, redis, kafka });
  const metrics = startProcessMetrics({ process: name, redis, pool });
  const stop = async (signal: string) => {
    log.info({ signal }, `${name} stopping`);
    await worker.stop();
    await metrics.stop();
    await Promise.allSettled([redis.quit(), pool.end()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
