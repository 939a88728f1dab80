/** What route modules are given: the edge's connections and settings, built once in main.ts. */
import type { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';
import type { Pool } from '../common/db.js';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import type { TokenVerifier } from './auth.js';
import type { OrderDecision } from './order-decision.js';
import type { OrderProducer } from './order-producer.js';

export interface EdgeDeps {
  config: Config;
  log: Logger;
  pool: Pool;
  redis: Redis;
  kafkaAdmin: Admin;
  producer: OrderProducer;
  decision: OrderDecision;
  tokens: TokenVerifier;
}

/**
 * One `T` per edge, made on first use: `perEdge(make)` gives the function route modules
 * call to reach the edge's single instance (a sampler, a settlement) from its deps.
 */
export function perEdge<T>(make: (deps: EdgeDeps) => T): (deps: EdgeDeps) => T {
  const made = new WeakMap<EdgeDeps, T>();
  return (deps) => {
    if (!made.has(deps)) made.set(deps, make(deps));
    return made.get(deps)!;
  };
}
