/**
 * Makes accepted orders durable in Kafka. Orders from concurrent requests are
 * gathered into one send per idempotent producer (each keeps one request in
 * flight), every send has its own deadline, and a producer whose send failed is
 * replaced, since kafkajs would reuse its sequence numbers.
 *
 * Each order's promise settles as: resolved (acks=all), ProduceFailedError (the
 * broker surely did not write it), or ProduceTimeoutError (it may still be written).
 */
import type { Kafka, Producer, Message } from 'kafkajs';
import type { Logger } from '../common/logger.js';
import { ProduceFailedError, ProduceTimeoutError } from '../common/errors.js';
import { observeProduce } from '../common/metrics.js';

const RECONNECT_DELAY_MS = 500;

interface Pending { message: Message; resolve: () => void; reject: (error: Error) => void }

interface Slot { producer: Producer; ready: Promise<void>; busy: boolean; connected: boolean }

export interface OrderProducerOptions {
  topic: string;
  producers: number;
  lingerMs: number;
  maxBatch: number;
  timeoutMs: number;
}

/** Errors that prove nothing reached the broker: no connection was ever made. */
function surelyNotWritten(error: unknown): boolean {
  for (let e = error as { name?: string; message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.name === 'KafkaJSConnectionError' && /^(Failed to connect|Not connected|Connection timeout)|ECONNREFUSED/.test(e.message ?? '')) {
      return true;
    }
    if (e.name === 'KafkaJSBrokerNotFound' || e.name === 'KafkaJSLockTimeout') return true;
  }
  return false;
}

export class OrderProducer {
  private readonly slots: Slot[] = [];
  private queue: Pending[] = [];
  private flushScheduled = false;
  private closed = false;
  /** Sends in flight or failed recently; read by /readyz. */
  lastError: Error | undefined;

  constructor(private readonly kafka: Kafka, private readonly options: OrderProducerOptions, private readonly log: Logger) {
    for (let i = 0; i < options.producers; i++) this.slots.push(this.newSlot(i));
  }

  /** Waits for at least one producer to connect (start-up). */
  async connect(): Promise<void> {
    await Promise.any(this.slots.map((s) => s.ready));
  }

  get healthy(): boolean {
    return this.slots.some((s) => s.connected);
  }

  send(key: string, value: string): Promise<void> {
    if (this.closed) return Promise.reject(new ProduceFailedError('producer is shutting down'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ message: { key, value }, resolve, reject });
      if (this.queue.length >= this.options.maxBatch) this.flush();
      else this.scheduleFlush();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.slots.map((s) => s.producer.disconnect()));
  }

  /** A producer in position `index`; one that cannot connect is replaced after a pause, until Kafka is back. */
  private newSlot(index: number): Slot {
    const producer = this.kafka.producer({
      idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 },
    });
    const slot: Slot = { producer, ready: Promise.resolve(), busy: false, connected: false };
    slot.ready = producer.connect().then(() => { slot.connected = true; });
    slot.ready.catch((error: Error) => {
      this.lastError = error;
      this.log.warn({ err: error.message }, 'kafka producer could not connect; trying again shortly');
      setTimeout(() => {
        if (!this.closed && this.slots[index] === slot && !slot.busy) this.slots[index] = this.newSlot(index);
      }, RECONNECT_DELAY_MS).unref();
    });
    return slot;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const run = () => { this.flushScheduled = false; this.flush(); };
    if (this.options.lingerMs > 0) setTimeout(run, this.options.lingerMs);
    else setImmediate(run);
  }

  /** Hands queued orders to every free producer, one batch each. */
  private flush(): void {
    for (let i = 0; i < this.slots.length && this.queue.length > 0; i++) {
      const slot = this.slots[i]!;
      if (slot.busy) continue;
      const batch = this.queue.length <= this.options.maxBatch ? this.queue : this.queue.slice(0, this.options.maxBatch);
      this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
      void this.sendBatch(i, slot, batch);
    }
  }

  private async sendBatch(index: number, slot: Slot, batch: Pending[]): Promise<void> {
    slot.busy = true;
    const sentAt = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ProduceTimeoutError(this.options.timeoutMs)), this.options.timeoutMs);
    });
    try {
      await Promise.race([
        slot.ready.then(() => slot.producer.send({ topic: this.options.topic, acks: -1, messages: batch.map((p) => p.message) })),
        deadline,
      ]);
      this.lastError = undefined;
      observeProduce(this.options.topic, 'ok', sentAt, batch.length);
      for (const p of batch) p.resolve();
    } catch (error) {
      const failure = error instanceof ProduceTimeoutError ? error
        : surelyNotWritten(error) ? new ProduceFailedError(`Kafka refused the send: ${(error as Error).message}`, error)
          : new ProduceTimeoutError(this.options.timeoutMs, error);
      this.lastError = failure;
      observeProduce(this.options.topic, failure instanceof ProduceTimeoutError ? 'timeout' : 'failed', sentAt, batch.length);
      this.log.warn({ err: (error as Error).message, orders: batch.length, outcome: failure.name }, 'kafka send failed; replacing producer');
      for (const p of batch) p.reject(failure);
      // A failed idempotent producer would reuse its sequence numbers: start a fresh one.
      void slot.producer.disconnect().catch(() => undefined);
      if (!this.closed && this.slots[index] === slot) this.slots[index] = this.newSlot(index);
    } finally {
      clearTimeout(timer);
      slot.busy = false;
      if (this.queue.length > 0) this.flush();
    }
  }
}
