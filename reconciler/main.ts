/** The reconciler process: sweeps holds and sales every tick, measures drift every drift interval. */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { createPool } from '../common/db.js';
import { migrate } from '../common/migrate.js';
import { createRedis } from '../common/redis.js';
import { startProcessMetrics } from '../common/metrics.js';
import { createKafka, ensureTopics } from '../common/kafka.js';
import { sleep } from '../common/retry.js';
import { Reconciler } from './reconciler.js';
import { CounterRebuild } from './rebuild.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('reconciler', config.logLevel);
  const pool = createPool(config.databaseUrl, 4);
  await migrate(pool);
  const redis = createRedis(config.redisUrl);
  const kafka = createKafka(config.kafkaBrokers, `${config.kafkaClientId}-reconciler`, log);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, config.orderPartitions);
  const reconciler = new Reconciler(redis, pool, admin, { idempotencyTtlSeconds: config.idempotencyTtlSeconds }, log);
  const rebuild = new CounterRebuild(redis, pool, kafka, admin, { idempotencyTtlSeconds: config.idempotencyTtlSeconds }, log);

  if (process.argv.includes('--rebuild')) {
    // `npm run rebuild-redis`: drop the product keys and rebuild them now, then exit.
    const report = await rebuild.run({ clearFirst: true });
    process.stdout.write(report ? `rebuilt: ${JSON.stringify(report)}\n` : 'another process is rebuilding; try again shortly\n');
    await Promise.allSettled([admin.disconnect(), redis.quit(), pool.end()]);
    process.exit(report ? 0 : 1);
  }

  let running = true;
  const stop = (signal: string) => {
    log.info({ signal }, 'reconciler stopping');
    running = false;
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const metrics = startProcessMetrics({ process: 'reconciler', redis, pool });
  log.info({ intervalMs: config.reconcileIntervalMs, driftIntervalMs: config.driftIntervalMs }, 'reconciler running');

  let nextDrift = Date.now() + config.driftIntervalMs;
  while (running) {
    try {
      // No ready marker: Redis lost its memory (or never had counters). Rebuild before anything else.
      if (!(await rebuild.ready())) await rebuild.run();
      await reconciler.sweep();
      if (Date.now() >= nextDrift) {
        nextDrift = Date.now() + config.driftIntervalMs;
        const reports = await reconciler.checkDrift();
        const drifting = reports.filter((r) => r.drift !== 0);
        log.info({ products: reports.length, drifting: drifting.length, drift: Object.fromEntries(drifting.map((r) => [r.productId, r.drift])) }, 'drift measured');
      }
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'reconciler pass failed; retrying next tick');
    }
    await sleep(config.reconcileIntervalMs);
  }
  await metrics.stop();
  await Promise.allSettled([admin.disconnect(), redis.quit(), pool.end()]);
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`reconciler failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
