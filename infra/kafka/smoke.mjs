// Kafka smoke test with kafkajs (the client the services use):
//   node infra/kafka/smoke.mjs [brokers]     (default: $KAFKA_BROKERS or 127.0.0.1:9093)
// Creates a 6-partition topic, produces with an idempotent producer (acks -1), consumes it in
// a consumer group, checks the committed offsets, then a transactional produce + abort check
// (read_committed), and deletes the topic. Exits non-zero on any failure.
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const brokers = (process.argv[2] ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:9093').split(',');
const kafka = new Kafka({ clientId: 'infra-smoke', brokers, logLevel: logLevel.NOTHING });
const topic = `infra-smoke-${Date.now()}`;
const N = 600;

function consumeAll(groupId, expected, timeoutMs) {
  const consumer = kafka.consumer({ groupId });
  const seen = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout: consumed ${seen.length}/${expected}`)), timeoutMs);
    (async () => {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value.toString());
          if (seen.length >= expected) { clearTimeout(timer); resolve(seen); }
        },
      });
    })().catch(reject);
  }).finally(() => consumer.disconnect());
}

async function main() {
  const t0 = Date.now();
  const admin = kafka.admin();
  await admin.connect();
  const cluster = await admin.describeCluster();
  console.log(`brokers: ${cluster.brokers.map((b) => `${b.host}:${b.port}`).join(',')} controller ${cluster.controller}`);
  await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 1 }], waitForLeaders: true });
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  if (md.topics[0].partitions.length !== 6) throw new Error('expected 6 partitions');

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const messages = Array.from({ length: N }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
  console.log(`produced ${N} messages (idempotent, acks -1) to 6 partitions`);

  const groupId = `${topic}-group`;
  const seen = await consumeAll(groupId, N, 30000);
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committed = offsets[0].partitions.reduce((sum, p) => sum + Number(p.offset), 0);
  console.log(`consumed ${seen.length} in group ${groupId}; committed offsets sum ${committed}`);
  if (new Set(seen).size !== N || committed !== N) throw new Error('consumer group check failed');

  const tx = kafka.producer({ transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1 });
  await tx.connect();
  const ok = await tx.transaction();
  await ok.send({ topic, messages: [{ key: 'tx', value: 'committed' }] });
  await ok.commit();
  const bad = await tx.transaction();
  await bad.send({ topic, messages: [{ key: 'tx', value: 'aborted' }] });
  await bad.abort();
  await tx.disconnect();
  const txSeen = await consumeAll(`${topic}-group-tx`, N + 1, 30000);
  await new Promise((r) => setTimeout(r, 1000));
  if (txSeen.includes('aborted') || !txSeen.includes('committed')) throw new Error('transaction check failed');
  console.log('transactions: committed record visible, aborted record hidden (read_committed)');

  await admin.deleteTopics({ topics: [topic] });
  await admin.disconnect();
  console.log(`OK in ${Date.now() - t0} ms`);
}

main().catch((err) => {
  console.error('FAIL', err);
  process.exit(1);
});
