/** Kafka clients (kafkajs) logging through pino, and the topics created at start-up. */
import { Kafka, logLevel, type Admin, type logCreator } from 'kafkajs';
import type { Logger } from './logger.js';
import { TOPICS } from './topics.js';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error', [logLevel.WARN]: 'warn', [logLevel.INFO]: 'info', [logLevel.DEBUG]: 'debug',
};

export function createKafka(brokers: string[], clientId: string, logger: Logger): Kafka {
  const toPino: logCreator = () => ({ level, log }) => {
    const { message, ...extra } = log;
    logger[LEVELS[level] ?? 'info']({ kafka: extra }, String(message));
  };
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
    logLevel: logLevel.WARN,
    logCreator: toPino,
  });
}

/** Creates the project's topics when missing (several partitions, so writers scale out). */
export async function ensureTopics(admin: Admin, partitions: number): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = Object.values(TOPICS).filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
  });
}
