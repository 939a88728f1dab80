/**
 * Product changes across edges. After a change commits, the edge that made it drops its
 * own cached copies at once and publishes the product id on a Redis channel; every edge
 * subscribes and drops theirs, so a change reaches every cache within milliseconds.
 *
 * Pub/sub forgets messages sent while a subscriber is away, so the caches are trusted only
 * while the subscription is live: when the connection drops, `live` turns false and the
 * catalog reads Postgres directly; when it is back, every cached entry is dropped (the
 * `null` change) before the caches are used again.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../common/logger.js';
import { CATALOG_CHANGES_CHANNEL } from '../common/keys.js';
import { retry } from '../common/retry.js';

/** A product id, or null for "anything may have changed". */
export type ChangeListener = (productId: string | null) => void;

export class CatalogChanges {
  private subscribed = false;
  private readonly subscriber: Redis;

  constructor(private readonly redis: Redis, private readonly log: Logger, private readonly onChange: ChangeListener) {
    this.subscriber = redis.duplicate({ enableAutoPipelining: false, autoResubscribe: false });
    this.subscriber.on('message', (_channel: string, productId: string) => onChange(productId));
    this.subscriber.on('ready', () => void this.subscribe());
    this.subscriber.on('close', () => { this.subscribed = false; });
    this.subscriber.on('error', (error: Error) => log.debug({ err: error.message }, 'catalog change feed: connection error'));
  }

  /** True while changes are being received: only then may cached products be served. */
  get live(): boolean { return this.subscribed; }

  /** Drops this edge's copies of the product, then tells every other edge. */
  async publish(productId: string): Promise<void> {
    this.onChange(productId);
    try {
      await retry(() => this.redis.publish(CATALOG_CHANGES_CHANNEL, productId), { retries: 3, baseMs: 50, maxMs: 500 });
    } catch (error) {
      this.log.error({ productId, err: error }, 'catalog change not published: other edges keep their copy until it expires');
    }
  }

  close(): void {
    this.subscriber.disconnect();
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(CATALOG_CHANGES_CHANNEL);
      this.onChange(null);
      this.subscribed = true;
    } catch (error) {
      this.log.warn({ err: error }, 'catalog change feed: subscribe failed; serving without caches until it reconnects');
    }
  }
}
