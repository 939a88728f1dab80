/**
 * Worker processes. `node dist/workers/main.js order-writer` runs the order writer;
 * each worker is its own process so it can be killed, restarted and scaled alone.
 */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { createPool } from '../common/db.js';
import { migrate } from '../common/migrate.js';
import { createRedis } from '../common/redis.js';
import { createKafka, ensureTopics } from '../common/kafka.js';
import { OrderWriter } from './order-writer.js';

const WORKERS = ['order-writer'] as const;
type WorkerName = (typeof WORKERS)[number];

async function main(): Promise<void> {
  const name = process.argv[2] as WorkerName;
  if (!WORKERS.includes(name)) {
    process.stderr.write(`usage: node dist/workers/main.js <${WORKERS.join('|')}>\n`);
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

  const writer = new OrderWriter(kafka, pool, redis, {
    idempotencyTtlSeconds: config.idempotencyTtlSeconds,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
    partitionsConcurrently: config.writerPartitionsConcurrently,
  }, log);
  await writer.start();
  log.info('order writer consuming');

  const stop = async (signal: string) => {
    log.info({ signal }, 'order writer stopping');
    await writer.stop();
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
