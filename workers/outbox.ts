/**
 * A consumer of the Postgres outbox queue (migrations/005_fulfilment.sql): triggers add
 * one `outbox_queue` row per consumer for each order event, shipment and low-stock alert,
 * in the transaction that wrote it. A consumer takes a batch of its rows with
 * FOR UPDATE SKIP LOCKED, hands them to its handler inside the same transaction, deletes
 * them, and commits: what the handler wrote and the removal of its input commit
 * together or not at all. A worker killed at any moment leaves its batch in the queue
 * for the next attempt (or another instance); nothing is handled twice or skipped.
 */
import type { Pool, PoolClient } from '../common/db.js';
import type { Logger } from '../common/logger.js';
import { retry, sleep } from '../common/retry.js';
import { faultPoint } from '../common/faults.js';

export type OutboxSource = 'order_event' | 'shipment' | 'low_stock_alert';

export interface OutboxEntry { source: OutboxSource; sourceId: string }

/** Writes what a batch produces, in the consumer's transaction; returns a count for the log. */
export type OutboxHandler = (client: PoolClient, entries: OutboxEntry[]) => Promise<number>;

export interface OutboxSettings { batchSize: number; pollMs: number }

/** Source ids of one kind, for `= ANY($1)` queries. */
export function idsOf(entries: OutboxEntry[], source: OutboxSource): string[] {
  return entries.filter((e) => e.source === source).map((e) => e.sourceId);
}

/** Runs `step` until stopped, pausing `pollMs` after any round that did less than `batchSize` (the work ran out). */
export function startPolling(step: () => Promise<number>, batchSize: number, pollMs: number): { stop(): Promise<void> } {
  let running = true;
  let wake: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => { wake = resolve; });
  const loop = (async () => {
    while (running) {
      if ((await step()) < batchSize) await Promise.race([sleep(pollMs), stopped]);
    }
  })();
  return {
    async stop() {
      running = false;
      wake();
      await loop;
    },
  };
}

export class OutboxConsumer {
  private poller: { stop(): Promise<void> } | undefined;

  constructor(
    private readonly pool: Pool,
    readonly consumer: string,
    private readonly handler: OutboxHandler,
    private readonly settings: OutboxSettings,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.poller = startPolling(() => this.step(), this.settings.batchSize, this.settings.pollMs);
  }

  async stop(): Promise<void> {
    await this.poller?.stop();
  }

  /** One batch, retried while Postgres fails; its rows stay queued if it keeps failing. */
  private async step(): Promise<number> {
    try {
      return await retry(() => this.drainOnce(), {
        retries: 5, baseMs: 100, maxMs: 3_000,
        onRetry: (error, attempt, delayMs) => this.log.warn({ err: (error as Error).message, attempt, delayMs }, `${this.consumer}: batch failed; retrying`),
      });
    } catch (error) {
      this.log.error({ err: (error as Error).message }, `${this.consumer}: batch failed after retries; its rows stay queued`);
      return 0;
    }
  }

  /** Handles one batch in one transaction; returns the number of queue rows it consumed. */
  async drainOnce(): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<OutboxEntry>(
        `SELECT source, source_id AS "sourceId" FROM outbox_queue WHERE consumer = $1
          ORDER BY enqueued_at LIMIT $2 FOR UPDATE SKIP LOCKED`, [this.consumer, this.settings.batchSize]);
      if (rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      const produced = await this.handler(client, rows);
      await client.query(
        `DELETE FROM outbox_queue q USING unnest($2::text[], $3::text[]) AS d(source, source_id)
          WHERE q.consumer = $1 AND q.source = d.source AND q.source_id = d.source_id`,
        [this.consumer, rows.map((r) => r.source), rows.map((r) => r.sourceId)]);
      await faultPoint(`${this.consumer}.before-commit`);
      await client.query('COMMIT');
      this.log.debug({ consumed: rows.length, produced }, `${this.consumer}: batch committed`);
      return rows.length;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
