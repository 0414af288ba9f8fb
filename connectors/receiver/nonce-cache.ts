// Remembers (appKey, nonce) pairs for as long as their `Created` could still pass the freshness check, so a captured
// request cannot be replayed inside the skew window: Huawei's X-AKSK / WSSE nonces, and the LVMS receiver's TOP
// `sign`, which stands in for a nonce TOP does not have. Memory is bounded: entries expire, and at the cap a new nonce is
// refused ('full') rather than a live one forgotten: the signature does not cover the body, so a forgotten nonce would
// let whoever captured its headers push any body under that app until Created goes stale, and whoever can fill the
// cache (any app's secret is enough: the cache is shared) could choose to forget them.

/** One entry per app and nonce, NUL between them: a nonce (Huawei's [0-9A-Za-z], an LVMS sign in hex) holds none. */
const keyOf = (appKey: string, nonce: string) => `${appKey}\u0000${nonce}`;

export class NonceCache {
  private readonly expiries = new Map<string, number>();
  /** Nonces claimed by a request not yet settled (kept or released): its outcome, stored or not, is still to come. */
  private readonly pending = new Set<string>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Reserves the nonce until its request settles (keep or release): 'used' when a request that kept it holds it and it
   * has not expired, 'pending' when a request that claimed it has not settled yet, 'full' when the cap leaves no room.
   */
  claim(appKey: string, nonce: string): 'claimed' | 'pending' | 'used' | 'full' {
    const key = keyOf(appKey, nonce);
    const now = this.now();
    const expiry = this.expiries.get(key);
    if (expiry !== undefined && expiry > now) return this.pending.has(key) ? 'pending' : 'used';
    if (expiry !== undefined) this.forget(key);
    this.evict(now);
    if (this.expiries.size >= this.maxEntries) return 'full';
    this.expiries.set(key, now + this.ttlMs);
    this.pending.add(key);
    return 'claimed';
  }

  /** The nonce's request was stored: the nonce stays spent until it expires. */
  keep(appKey: string, nonce: string): void {
    this.pending.delete(keyOf(appKey, nonce));
  }

  /** Whether the nonce is spent and not expired; records nothing (a request refused before its body is read). */
  used(appKey: string, nonce: string): boolean {
    const expiry = this.expiries.get(keyOf(appKey, nonce));
    return expiry !== undefined && expiry > this.now();
  }

  /**
   * Gives a nonce back when its request was not accepted (e.g. Kafka unavailable → 503): a sender that re-sends the
   * very same headers must not be locked out of a request we never stored.
   */
  release(appKey: string, nonce: string): void {
    this.forget(keyOf(appKey, nonce));
  }

  get size(): number {
    return this.expiries.size;
  }

  private evict(now: number): void {
    // Map iteration is insertion order and every entry has the same TTL, so expired entries sit at the front.
    for (const [key, expiry] of this.expiries) {
      if (expiry > now) break;
      this.forget(key);
    }
  }

  private forget(key: string): void {
    this.expiries.delete(key);
    this.pending.delete(key);
  }
}
