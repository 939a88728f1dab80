/** Kafka clients (kafkajs) logging through pino, and the topics created at start-up. */
import { Kafka, logLevel, type Admin, type Batch, type Consumer, type ConsumerConfig, type EachBatchPayload, type logCreator } from 'kafkajs';
import type { Logger } from './logger.js';
import { retry } from './retry.js';
import { TOPICS } from './topics.js';
import type { AcceptedOrder } from './order.js';
import { isUuid } from './ids.js';

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

/**
 * A consumer group member kept running for the life of the process. kafkajs restarts a
 * crashed consumer itself only after a retriable error; after a non-retriable one it emits
 * CRASH with `restart: false` and leaves the consumer disconnected while the process lives
 * on, consuming nothing. A broker frozen or restarted under load does that: "Connection
 * error: connect ECONNREFUSED" wrapped as non-retriable by a nested retrier, or "The
 * coordinator is not aware of this member" from an offset commit after the group moved on.
 * Here such a crash starts a new consumer of the same group (it resumes from the committed
 * offsets), with backoff, until one runs. `launch` connects, subscribes and runs it.
 */
export class SupervisedConsumer {
  private current: Consumer | undefined;
  private stopped = false;
  private relaunching: Promise<void> | undefined;

  constructor(
    private readonly create: () => Consumer,
    private readonly launch: (consumer: Consumer) => Promise<void>,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const consumer = this.create();
    this.current = consumer;
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.stopped || consumer !== this.current) return;
      this.log.error({ err: payload.error.message, groupId: payload.groupId },
        'Kafka consumer crashed with a non-retriable error and kafkajs will not restart it: starting a new consumer');
      this.relaunching = this.relaunch(consumer);
    });
    try {
      await this.launch(consumer);
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  private async relaunch(crashed: Consumer): Promise<void> {
    await crashed.disconnect().catch(() => undefined);
    await retry(async () => {
      if (this.stopped) return;
      await this.start();
      this.log.warn('new Kafka consumer started after a non-retriable crash');
    }, {
      retries: Number.MAX_SAFE_INTEGER, baseMs: 500, maxMs: 5_000,
      onRetry: (error, attempt, delayMs) => this.log.warn({ err: (error as Error).message, attempt, delayMs }, 'starting a new Kafka consumer failed; retrying'),
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.relaunching?.catch(() => undefined);
    await this.current?.disconnect();
  }
}

export interface BatchConsumerOptions {
  groupId: string;
  topic: string;
  sessionTimeoutMs: number;
  partitionsConcurrently: number;
  /** Fetch settings beyond the defaults (a 50 ms wait). */
  fetch?: Pick<ConsumerConfig, 'minBytes' | 'maxBytesPerPartition'>;
  /** Called with each new consumer before it connects (e.g. to listen to its events). */
  onCreate?: (consumer: Consumer) => void;
}

/**
 * A supervised group member consuming `topic` from the beginning in batches, committing
 * offsets itself (autoCommit off, eachBatchAutoResolve off): `onBatch` gets the consumer
 * that fetched the batch, to commit through it.
 */
export function superviseBatchConsumer(kafka: Kafka, options: BatchConsumerOptions,
  onBatch: (consumer: Consumer, payload: EachBatchPayload) => Promise<void>, log: Logger): SupervisedConsumer {
  return new SupervisedConsumer(() => kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    rebalanceTimeout: options.sessionTimeoutMs * 2,
    heartbeatInterval: Math.max(500, Math.floor(options.sessionTimeoutMs / 5)),
    maxWaitTimeInMs: 50,
    ...options.fetch,
    allowAutoTopicCreation: false,
  }), async (consumer) => {
    options.onCreate?.(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently,
      eachBatch: (payload) => onBatch(consumer, payload),
    });
  }, log);
}

/** The accepted order a message carries, or undefined if it carries none (not JSON, no order id). */
export function parseOrderMessage(value: Buffer | null): AcceptedOrder | undefined {
  try {
    const order = JSON.parse(value?.toString('utf8') ?? '') as AcceptedOrder | null;
    return order && isUuid(String(order.orderId)) ? order : undefined;
  } catch {
    return undefined;
  }
}

/** The accepted orders of a batch; a message that is not one is logged and skipped, never left to stall its partition. */
export function readOrders(batch: Batch, log: Logger): AcceptedOrder[] {
  const orders: AcceptedOrder[] = [];
  for (const message of batch.messages) {
    const order = parseOrderMessage(message.value);
    if (order) orders.push(order);
    else log.error({ topic: batch.topic, partition: batch.partition, offset: message.offset }, 'unreadable order message skipped');
  }
  return orders;
}

/** Marks a whole batch done and commits it: Kafka's committed offset is the next one to read. */
export async function commitBatch(consumer: Consumer, { batch, resolveOffset }: Pick<EachBatchPayload, 'batch' | 'resolveOffset'>): Promise<void> {
  const last = batch.messages[batch.messages.length - 1]!.offset;
  resolveOffset(last);
  await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
}
