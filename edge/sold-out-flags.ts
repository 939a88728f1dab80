/**
 * A local, short-lived "sold out" mark per product, so the crowd that keeps
 * pressing "Buy now" after a sale sells out costs no script run in Redis. Marks
 * fade after `ttlMs`, so units that come back (a release, more sale units) are
 * sellable again within that time.
 */
export class SoldOutFlags {
  private readonly until = new Map<string, number>();

  constructor(private readonly ttlMs: number) {}

  set(productId: string): void {
    this.until.set(productId, Date.now() + this.ttlMs);
  }

  isSet(productId: string): boolean {
    const expiry = this.until.get(productId);
    if (expiry === undefined) return false;
    if (expiry > Date.now()) return true;
    this.until.delete(productId);
    return false;
  }

  clear(productId: string): void {
    this.until.delete(productId);
  }
}
