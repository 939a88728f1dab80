/**
 * A bounded in-process cache with a time to live, one load per key however many
 * requests miss at once, and invalidation that also covers loads in flight: a load
 * that started before an invalidation answers the requests that were waiting for it
 * but is not kept, and requests arriving after the invalidation start a fresh load.
 * When full, the oldest entry goes (insertion order).
 */
interface Entry<V> { value: V; expiresAt: number }
interface Load<V> { promise: Promise<V | undefined>; stale: boolean }

export class LocalCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly loads = new Map<string, Load<V>>();

  constructor(private readonly maxEntries: number, private readonly ttlMs: number) {}

  get size(): number { return this.entries.size; }

  /** The cached value if it is fresh. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Loads a missing key (joining a load already running for it) and keeps the result. */
  load(key: string, loader: () => Promise<V>): Promise<V> {
    const running = this.loads.get(key);
    return (running && !running.stale ? running.promise : this.track(key, loader())) as Promise<V>;
  }

  /** Keeps what `promise` gives for `key` (if anything), unless the key is invalidated meanwhile. */
  private track(key: string, promise: Promise<V | undefined>): Promise<V | undefined> {
    const load: Load<V> = { promise, stale: false };
    this.loads.set(key, load);
    const settle = () => { if (this.loads.get(key) === load) this.loads.delete(key); };
    promise.then((value) => {
      settle();
      if (!load.stale && value !== undefined) this.put(key, value);
    }, settle);
    return promise;
  }

  /**
   * Loads missing keys with one call of `loader` (joining loads already running for some
   * of them); a key the loader does not return has no value and is not kept.
   */
  async loadMany(keys: string[], loader: (keys: string[]) => Promise<Map<string, V>>): Promise<Map<string, V>> {
    const fresh = new Set(keys.filter((key) => { const running = this.loads.get(key); return !running || running.stale; }));
    const batch = fresh.size ? loader([...fresh]) : undefined;
    const promises = keys.map((key) => (batch && fresh.has(key) ? this.track(key, batch.then((found) => found.get(key))) : this.loads.get(key)!.promise));
    const values = await Promise.all(promises);
    const found = new Map<string, V>();
    keys.forEach((key, i) => { if (values[i] !== undefined) found.set(key, values[i]!); });
    return found;
  }

  invalidate(key: string): void {
    this.entries.delete(key);
    const load = this.loads.get(key);
    if (load) load.stale = true;
  }

  clear(): void {
    this.entries.clear();
    for (const load of this.loads.values()) load.stale = true;
  }

  private put(key: string, value: V): void {
    if (this.ttlMs <= 0 || this.maxEntries <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expiresAt: Date.now() + this.ttlMs });
  }
}
