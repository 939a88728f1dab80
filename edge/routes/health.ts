/** Liveness and readiness: /readyz names each dependency and whether it answers. */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';

export type Health = 'up' | 'down' | 'rebuilding';

async function probe(check: () => Promise<unknown>, timeoutMs = 1_000): Promise<Health> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([check(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), timeoutMs); })]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

/** Probes Redis, Postgres and Kafka (one second each, in parallel): /readyz and the ops sampler. */
export async function dependencyHealth(deps: EdgeDeps): Promise<{ redis: Health; postgres: Health; kafka: Health }> {
  const [redis, postgres, kafka] = await Promise.all([
    probe(() => deps.redis.ping()),
    probe(() => deps.pool.query('SELECT 1')),
    probe(async () => {
      await deps.kafkaAdmin.describeCluster();
      if (!deps.producer.healthy) throw new Error('no producer connected');
    }),
  ]);
  return { redis, postgres, kafka };
}

export function healthRoutes(router: Router, deps: EdgeDeps): void {
  router.get('/healthz', { summary: 'Liveness', access: 'anyone', handler: () => ({ status: 200, body: { status: 'ok' } }) });

  router.get('/readyz', {
    summary: 'Readiness, naming each dependency that is down',
    access: 'anyone',
    handler: async () => {
      const { redis: redisUp, postgres, kafka } = await dependencyHealth(deps);
      // Redis answering without whole counters is rebuilding: orders wait for it (503).
      const redis: Health = redisUp === 'up' && !deps.decision.countersReady ? 'rebuilding' : redisUp;
      const dependencies = { redis, postgres, kafka };
      const down = Object.entries(dependencies).filter(([, h]) => h !== 'up').map(([name]) => name);
      return down.length === 0
        ? { status: 200, body: { status: 'ready', dependencies } }
        : { status: 503, body: { status: 'not-ready', down, dependencies }, headers: { 'retry-after': '1' } };
    },
  });
}
