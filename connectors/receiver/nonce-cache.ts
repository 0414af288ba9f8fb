// Remembers (appKey, nonce) pairs for as long as their `Created` could still pass the freshness check, so a captured
// request cannot be replayed inside the skew window: Huawei's X-AKSK / WSSE nonces, and the LVMS receiver's TOP
// `sign`, which stands in for a nonce TOP does not have. Each entry expires when its own timestamp goes stale (the
// caller says when), not a fixed span after its claim: a request sent on time holds its place for one skew, not two.
// Memory is bounded: entries expire, and at the cap a new nonce is refused ('full') rather than a live one forgotten:
// the signature does not cover the body, so a forgotten nonce would let whoever captured its headers push any body
// under that app until Created goes stale, and whoever can fill the cache (any app's secret is enough: the cache is
// shared) could choose to forget them.

/** One entry per app and nonce, NUL between them: a nonce (Huawei's [0-9A-Za-z], an LVMS sign in hex) holds none. */
const keyOf = (appKey: string, nonce: string) => `${appKey}\u0000${nonce}`;

/** A claim's expiry and key, as queued for eviction. */
type Queued = readonly [expiry: number, key: string];

export class NonceCache {
  private readonly expiries = new Map<string, number>();
  /** Nonces claimed by a request not yet settled (kept or released): its outcome, stored or not, is still to come. */
  private readonly pending = new Set<string>();
  /**
   * Every claim, as a min-heap on expiry, so eviction finds the next to expire in O(log n) whatever order the expiries
   * came in. An item whose key no longer holds its expiry (released, or claimed anew) is stale: skipped when it comes
   * to the top, and dropped all at once when stale items outnumber live ones, so the heap stays under twice the cap.
   */
  private heap: Queued[] = [];

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Reserves the nonce until its request settles (keep or release), and if kept until `expiresAt` (epoch ms; the entry
   * is gone from then on): 'used' when a request that kept it holds it and it has not expired, 'pending' when a request
   * that claimed it has not settled yet, 'full' when the cap leaves no room.
   */
  claim(appKey: string, nonce: string, expiresAt: number): 'claimed' | 'pending' | 'used' | 'full' {
    const key = keyOf(appKey, nonce);
    const now = this.now();
    const expiry = this.expiries.get(key);
    if (expiry !== undefined && expiry > now) return this.pending.has(key) ? 'pending' : 'used';
    if (expiry !== undefined) this.forget(key);
    this.evict(now);
    if (this.expiries.size >= this.maxEntries) return 'full';
    this.expiries.set(key, expiresAt);
    this.pending.add(key);
    this.push([expiresAt, key]);
    return 'claimed';
  }

  /**
   * The nonce's request was stored: the nonce stays spent until it expires. `expiresAt` is the one its claim gave: it
   * names that claim, as a request whose claim expired while it waited on Kafka must not settle a later claim of the
   * same nonce (a Huawei nonce reused with a fresh Created), still pending.
   */
  keep(appKey: string, nonce: string, expiresAt: number): void {
    const key = keyOf(appKey, nonce);
    if (this.expiries.get(key) === expiresAt) this.pending.delete(key);
  }

  /** Whether the nonce is spent and not expired; records nothing (a request refused before its body is read). */
  used(appKey: string, nonce: string): boolean {
    const expiry = this.expiries.get(keyOf(appKey, nonce));
    return expiry !== undefined && expiry > this.now();
  }

  /**
   * Gives a nonce back when its request was not accepted (e.g. Kafka unavailable → 503): a sender that re-sends the
   * very same headers must not be locked out of a request we never stored. `expiresAt` names the claim, as for keep:
   * a later claim of the nonce given back would let a copy of its headers in, with any body.
   */
  release(appKey: string, nonce: string, expiresAt: number): void {
    const key = keyOf(appKey, nonce);
    if (this.expiries.get(key) === expiresAt) this.forget(key);
  }

  get size(): number {
    return this.expiries.size;
  }

  private evict(now: number): void {
    while (this.heap.length > 0 && this.heap[0]![0] <= now) {
      const [expiry, key] = this.pop();
      if (this.expiries.get(key) === expiry) this.forget(key);
    }
  }

  private forget(key: string): void {
    this.expiries.delete(key);
    this.pending.delete(key);
    // Its heap item is stale now. Rebuilt from the live entries once stale items outnumber them: O(1) amortised.
    if (this.heap.length > 2 * this.expiries.size) {
      this.heap = [...this.expiries].map(([k, e]) => [e, k] as const);
      for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
    }
  }

  private push(item: Queued): void {
    const heap = this.heap;
    let i = heap.push(item) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]![0] <= item[0]) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  private pop(): Queued {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && heap[child + 1]![0] < heap[child]![0]) child++;
      if (heap[child]![0] >= item[0]) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = item;
  }
}
