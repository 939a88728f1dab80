/**
 * The edge: a uWebSockets.js server that decides orders in Redis, makes them durable
 * in Kafka and answers at once. No Postgres on the order path.
 */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { createPool } from '../common/db.js';
import { migrate } from '../common/migrate.js';
import { createRedis } from '../common/redis.js';
import { createKafka, ensureTopics } from '../common/kafka.js';
import { TOPICS } from '../common/topics.js';
import { loadUws } from './uws.js';
import { Router } from './http.js';
import { TokenVerifier } from './auth.js';
import { OrderProducer } from './order-producer.js';
import { OrderDecision } from './order-decision.js';
import type { EdgeDeps } from './deps.js';
import { healthRoutes } from './routes/health.js';
import { userRoutes, ensureAdmin } from './routes/users.js';
import { productRoutes } from './routes/products.js';
import { reviewRoutes } from './routes/reviews.js';
import { flashSaleRoutes } from './routes/flash-sales.js';
import { orderRoutes } from './routes/orders.js';
import { orderActionRoutes } from './routes/order-actions.js';
import { paymentRoutes } from './routes/payments.js';
import { deadLetterRoutes } from './routes/ops-dead-letters.js';
import { opsRoutes } from './routes/ops.js';
import { cartRoutes } from './routes/cart.js';
import { inventoryRoutes } from './routes/inventory.js';
import { shipmentRoutes } from './routes/shipments.js';
import { notificationRoutes } from './routes/notifications.js';
import { reportRoutes } from './routes/reports.js';
import { mediaRoutes } from './routes/media.js';
import { docsRoutes } from './routes/docs.js';
import { storefrontRoutes } from './routes/storefront.js';
import { startLowStockSweep } from './inventory-low-stock.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('edge', config.logLevel);
  const uws = loadUws();

  const pool = createPool(config.databaseUrl, config.pgPoolSize);
  await migrate(pool);
  const redis = createRedis(config.redisUrl);
  const kafka = createKafka(config.kafkaBrokers, `${config.kafkaClientId}-edge`, log);
  const kafkaAdmin = kafka.admin();
  await kafkaAdmin.connect();
  await ensureTopics(kafkaAdmin, config.orderPartitions);
  const producer = new OrderProducer(kafka, {
    topic: TOPICS.ordersAccepted, producers: config.producers, lingerMs: config.produceLingerMs,
    maxBatch: config.produceMaxBatch, timeoutMs: config.produceTimeoutMs,
  }, log);
  await producer.connect();
  const decision = new OrderDecision(redis, producer, {
    holdMs: config.holdMs, idempotencyTtlSeconds: config.idempotencyTtlSeconds, maxPending: config.maxPendingOrders,
  }, log);
  decision.watchCounters();
  const tokens = new TokenVerifier(config.jwtSecret, config.jwtTtlSeconds);
  const deps: EdgeDeps = { config, log, pool, redis, kafkaAdmin, producer, decision, tokens };
  await ensureAdmin(deps);

  const app = uws.App();
  const router = new Router(app, tokens, log, config.maxBodyBytes);
  healthRoutes(router, deps);
  userRoutes(router, deps);
  productRoutes(router, deps);
  flashSaleRoutes(router, deps);
  orderRoutes(router, deps);
  opsRoutes(router, deps, app);
  reviewRoutes(router, deps);
  cartRoutes(router, deps);
  inventoryRoutes(router, deps);
  orderActionRoutes(router, deps);
  paymentRoutes(router, deps);
  deadLetterRoutes(router, deps);
  shipmentRoutes(router, deps);
  notificationRoutes(router, deps);
  reportRoutes(router, deps);
  mediaRoutes(router, deps);
  // New route modules are registered above this line.
  const stopLowStockSweep = startLowStockSweep(deps, config.lowStockIntervalMs);
  docsRoutes(router, deps); // /openapi.json and /docs: built once start-up has registered every route
  storefrontRoutes(router, deps); // the pages at / and their client routes; /v1, /ops, /docs… match first (more specific)
  router.fallback();

  const listenSocket = await new Promise<unknown>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => (socket ? resolve(socket) : reject(new Error(`cannot listen on ${config.host}:${config.port}`))));
  });
  log.info({ port: config.port }, `edge listening on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.port}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'edge stopping');
    uws.us_listen_socket_close(listenSocket as never);
    decision.stopWatching();
    stopLowStockSweep();
    await producer.close();
    await Promise.allSettled([kafkaAdmin.disconnect(), redis.quit(), pool.end()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`edge failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
