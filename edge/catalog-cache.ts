/**
 * A bounded in-process cache with a time to live, one load per key however many
 * requests miss at once, and invalidation that also covers loads in flight: a load
 * that started before an invalidation answers the requests that were waiting for it
 * but is not kept, and requests arriving after the invalidation start a fresh load.
 * When full, the oldest entry goes (insertion order).
 */
interface Entry<V> { value: V; expiresAt: number }
interface Load<V> { promise: Promise<V>; stale: boolean }

export class LocalCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly loads = new Map<string, Load<V>>();
  hits = 0;
  misses = 0;

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
    this.hits++;
    return entry.value;
  }

  /** Loads a missing key (joining a load already running for it) and keeps the result. */
  load(key: string, loader: () => Promise<V>): Promise<V> {
    this.misses++;
    const running = this.loads.get(key);
    if (running && !running.stale) return running.promise;
    const load: Load<V> = { promise: loader(), stale: false };
    this.loads.set(key, load);
    const settle = () => { if (this.loads.get(key) === load) this.loads.delete(key); };
    load.promise.then((value) => {
      settle();
      if (!load.stale) this.put(key, value);
    }, settle);
    return load.promise;
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
