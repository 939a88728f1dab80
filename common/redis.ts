/** Redis connections with the project's scripts defined, failing fast when Redis is down. */
import { Redis } from 'ioredis';
import { defineScripts } from './scripts.js';

export function createRedis(url: string, options: { autoPipelining?: boolean } = {}): Redis {
  const redis = new Redis(url, {
    enableAutoPipelining: options.autoPipelining ?? true,
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
    lazyConnect: false,
  });
  defineScripts(redis);
  // Connection errors surface on the commands themselves (as 503s, retries, or a rebuild).
  redis.on('error', () => undefined);
  return redis;
}
export type { Redis };
