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
