import { describe, expect, it } from 'vitest';
import { RecentKeys, payloadHash } from './recent-keys.ts';
import { recentKeysTtlSec } from './live.ts';

const MIN = 60_000;

describe('RecentKeys', () => {
  it('knows a remembered (tenant, key, hash); a changed hash, another tenant or an unknown key is not unchanged', () => {
    const cache = new RecentKeys({ ttlMs: 10 * MIN, maxEntries: 100 });
    const h1 = payloadHash('{"SessionId":"a","Remark":""}');
    const h2 = payloadHash('{"SessionId":"a","Remark":"call back"}');
    expect(h1).toMatch(/^[\w-]{11}$/);
    expect(h2).not.toBe(h1);
    cache.remember('t1', 'a', h1, 0);
    expect(cache.unchanged('t1', 'a', h1, 1)).toBe(true);
    expect(cache.unchanged('t1', 'a', h2, 1)).toBe(false);
    expect(cache.unchanged('t2', 'a', h1, 1)).toBe(false);
    expect(cache.unchanged('t1', 'b', h1, 1)).toBe(false);
    // The correction is published and remembered; from then on the new content is the unchanged one.
    cache.remember('t1', 'a', h2, 2);
    expect(cache.unchanged('t1', 'a', h2, 3)).toBe(true);
    expect(cache.unchanged('t1', 'a', h1, 3)).toBe(false);
    expect(cache.size).toBe(1);
  });

  it('drops entries not read for longer than the TTL; reading one again keeps it', () => {
    const cache = new RecentKeys({ ttlMs: 10 * MIN, maxEntries: 100 });
    cache.remember('t', 'old', 'h', 0);
    cache.remember('t', 'kept', 'h', 0);
    cache.remember('t', 'new', 'h', 5 * MIN);
    expect(cache.unchanged('t', 'kept', 'h', 8 * MIN)).toBe(true);
    cache.expire(10 * MIN);
    expect(cache.size).toBe(3); // exactly at the TTL: still there
    cache.expire(12 * MIN);
    expect(cache.size).toBe(2);
    expect(cache.unchanged('t', 'old', 'h', 12 * MIN)).toBe(false);
    expect(cache.unchanged('t', 'new', 'h', 12 * MIN)).toBe(true);
    expect(cache.unchanged('t', 'kept', 'h', 12 * MIN)).toBe(true);
    cache.expire(30 * MIN);
    expect(cache.size).toBe(0);
    expect(cache.evicted).toBe(3);
  });

  it('an entry read while the clock ran ahead, set right since, is dropped: it held every entry behind it past its TTL', () => {
    // Expiry walks from the least recently read and stops at the first entry within the TTL. Stamped an hour ahead, the
    // front entries stayed "within" it for an extra hour, and every expired entry behind them with them (a clock that
    // had run a year ahead: for good, the cache filled to its cap).
    const HOUR = 60 * MIN;
    const cache = new RecentKeys({ ttlMs: 10 * MIN, maxEntries: 100 });
    cache.remember('t', 'ahead', 'h', HOUR);
    // Set right: read at 0, then not again for longer than the TTL.
    cache.remember('t', 'old', 'h', 0);
    cache.remember('t', 'recent', 'h', 11 * MIN);
    cache.expire(12 * MIN);
    expect(cache.unchanged('t', 'old', 'h', 12 * MIN)).toBe(false);
    expect(cache.unchanged('t', 'ahead', 'h', 12 * MIN)).toBe(false);
    expect(cache.unchanged('t', 'recent', 'h', 12 * MIN)).toBe(true);
    expect(cache.evicted).toBe(2);
    // Within the clock's slack (a step back of a minute) an entry is believed and kept.
    const believed = new RecentKeys({ ttlMs: 10 * MIN, maxEntries: 100 });
    believed.remember('t', 'slightly-ahead', 'h', 16 * MIN);
    believed.expire(12 * MIN);
    expect(believed.size).toBe(1);
  });

  it('keeps at most maxEntries, dropping the least recently read first', () => {
    const cache = new RecentKeys({ ttlMs: 60 * MIN, maxEntries: 3 });
    cache.remember('t', 'a', 'h', 1);
    cache.remember('t', 'b', 'h', 2);
    cache.remember('t', 'c', 'h', 3);
    expect(cache.unchanged('t', 'a', 'h', 4)).toBe(true); // a is now the most recently read
    cache.remember('t', 'd', 'h', 5);
    expect(cache.size).toBe(3);
    expect(cache.unchanged('t', 'b', 'h', 6)).toBe(false);
    for (const k of ['a', 'c', 'd']) expect(cache.unchanged('t', k, 'h', 6)).toBe(true);
    // Re-remembering an existing key does not grow the cache or evict anything.
    cache.remember('t', 'c', 'h2', 7);
    expect(cache.size).toBe(3);
    expect(cache.evicted).toBe(1);
  });

  it('lives as long as the live re-read can reach a record, plus a margin', () => {
    const ttl = recentKeysTtlSec({ lookbackSec: 1800, maxCallSec: 3600, maxWindowSec: 3600, settleSec: 120, pollIntervalSec: 60 });
    expect(ttl).toBeGreaterThan(1800 + 3600 + 3600);
    expect(ttl).toBeLessThan(1800 + 3600 + 3600 + 3600);
  });
});
