// Which records a live poller already has in Kafka, so the re-read of the lookback publishes only what is new or
// changed: (tenant, natural key) → short hash of the payload text + when the record was last read.
//
// The cache lives in memory only. A restart starts empty and republishes the first re-read window once; that is
// the at-least-once contract (normalize and the ClickHouse table deduplicate by key), so persisting it would buy
// nothing but complexity.
import { createHash } from 'node:crypto';
import { aheadOfClock } from './windows.ts';

/** Default cap: about 250 MB at worst (about 250 bytes an entry, measured with UUID keys). */
export const DEFAULT_RECENT_KEYS_MAX = 1_000_000;

export interface RecentKeysOptions {
  /** An entry not read again for this long is dropped (the poller no longer re-reads its window). */
  ttlMs: number;
  /** Hard cap; beyond it the least recently read entries go first. */
  maxEntries: number;
}

interface Entry {
  hash: string;
  seenAtMs: number;
}

/**
 * First 64 bits of SHA-256 of the payload text (11 base64 characters). Compared per key only, so a correction
 * goes unnoticed only with 2^-64 odds. Not a `slice` of the hex digest: that would keep the whole digest alive.
 */
export function payloadHash(payload: string): string {
  return createHash('sha256').update(payload).digest().toString('base64url', 0, 8);
}

export class RecentKeys {
  /** Insertion order = order of last read (refreshed entries move to the end), so eviction walks from the front. */
  private readonly entries = new Map<string, Entry>();
  private evictedCount = 0;

  constructor(private readonly options: RecentKeysOptions) {}

  get size(): number {
    return this.entries.size;
  }

  /** Entries dropped so far (expired or over the cap). */
  get evicted(): number {
    return this.evictedCount;
  }

  /**
   * True when this exact content was acknowledged by Kafka before (the caller skips it). Refreshes the entry's
   * read time: the record is still inside the re-read window, and what the entry asserts ("this hash is in
   * Kafka") stays true, so this is not an unacknowledged write.
   */
  unchanged(tenant: string, key: string, hash: string, nowMs: number): boolean {
    const id = cacheKey(tenant, key);
    const entry = this.entries.get(id);
    if (!entry || entry.hash !== hash) return false;
    this.entries.delete(id);
    entry.seenAtMs = nowMs;
    this.entries.set(id, entry);
    return true;
  }

  /** Call only once Kafka acknowledged the record with this content. */
  remember(tenant: string, key: string, hash: string, nowMs: number): void {
    const id = cacheKey(tenant, key);
    this.entries.delete(id);
    this.entries.set(id, { hash, seenAtMs: nowMs });
    while (this.entries.size > this.options.maxEntries) this.dropOldest();
  }

  /** Drops entries not read for longer than the TTL. */
  expire(nowMs: number): void {
    const cutoff = nowMs - this.options.ttlMs;
    for (const [id, entry] of this.entries) {
      // Order is by last read. An entry read further ahead of the clock than its slack (while the clock ran ahead, set
      // right since) says nothing of when it was read; kept, it would hold every entry behind it until the clock passed
      // it. Dropped, it costs one republish. One stepped back within the slack only delays eviction a little.
      if (entry.seenAtMs >= cutoff && !aheadOfClock(entry.seenAtMs / 1000, nowMs / 1000)) break;
      this.entries.delete(id);
      this.evictedCount++;
    }
  }

  private dropOldest(): void {
    const oldest = this.entries.keys().next();
    if (oldest.done) return;
    this.entries.delete(oldest.value);
    this.evictedCount++;
  }
}

const cacheKey = (tenant: string, key: string) => `${tenant}\u0000${key}`;
