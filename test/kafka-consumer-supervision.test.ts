/**
 * A consumer that kafkajs will not restart (a crash it calls non-retriable: CRASH with
 * `restart: false`) is replaced by common/kafka.ts SupervisedConsumer with a new member
 * of the same group, which resumes from the committed offset. Seen in the fault matrix
 * (kafka-freeze, pg-pause): the order writer's consumer crashed with "The coordinator is
 * not aware of this member" and the process stayed up consuming nothing. Here the crash
 * is provoked for sure: the handler throws a TypeError once, which kafkajs never retries.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Consumer } from 'kafkajs';
import { createKafka, SupervisedConsumer } from '../common/kafka.js';
import { createLogger } from '../common/logger.js';
import { eventually } from './support/stack.js';

const log = createLogger('supervision-test', 'silent');
const kafka = createKafka((process.env.KAFKA_BROKERS ?? '').split(','), 'supervision-test', log);
const admin = kafka.admin();
const topic = `supervision-${randomUUID()}`;
let supervised: SupervisedConsumer | undefined;

afterAll(async () => {
  await supervised?.stop();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
});

describe('SupervisedConsumer', () => {
  it('starts a new consumer after a crash kafkajs does not restart, and the message is consumed', async () => {
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: 'the one message' }] });
    await producer.disconnect();

    const consumers: Consumer[] = [];
    const crashes: boolean[] = [];
    const seen: string[] = [];
    let throwOnce = true;
    const groupId = `supervision-${randomUUID()}`;
    supervised = new SupervisedConsumer(() => kafka.consumer({ groupId, sessionTimeout: 6_000, maxWaitTimeInMs: 50 }), async (consumer) => {
      consumers.push(consumer);
      consumer.on(consumer.events.CRASH, ({ payload }) => crashes.push(payload.restart));
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: ({ message }) => {
          if (throwOnce) {
            throwOnce = false;
            return Promise.reject(new TypeError('a bug in the handler: kafkajs gives up on this consumer for good'));
          }
          seen.push(message.value?.toString() ?? '');
          return Promise.resolve();
        },
      });
    }, log);
    await supervised.start();

    await eventually(() => Promise.resolve(seen.length > 0), 30_000, 'the message consumed by a new consumer');
    expect(crashes[0]).toBe(false); // kafkajs itself would not have restarted it
    expect(consumers.length).toBe(2);
    expect(seen).toEqual(['the one message']);
  }, 60_000);
});
