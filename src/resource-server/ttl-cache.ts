/**
 * A small in-memory cache with a bounded number of entries, each with its own expiry. Entries are evicted oldest
 * first when full (Map keeps insertion order), and an expired entry is never returned.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    readonly maxEntries: number,
    private readonly clock: () => number,
    /** Called with each entry evicted before its expiry to make room (a replay cache must know what it forgot). */
    private readonly onEvictLive?: (value: V) => void,
  ) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.clock()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Keep `value` until `expiresAt` (milliseconds since the epoch). Nothing is kept that is already expired. */
  set(key: string, value: V, expiresAt: number): void {
    if (this.maxEntries <= 0 || expiresAt <= this.clock()) return;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const now = this.clock();
      for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
    }
    while (this.entries.size >= this.maxEntries) {
      const [oldest, e] = this.entries.entries().next().value as [string, { value: V; expiresAt: number }];
      this.entries.delete(oldest);
      this.onEvictLive?.(e.value);
    }
    this.entries.set(key, { value, expiresAt });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
