import { describe, expect, it } from 'vitest';
import { NonceCache } from './nonce-cache.ts';

describe('NonceCache', () => {
  it('refuses a nonce seen within its TTL, per app, and accepts it again after expiry or release', () => {
    let now = 0;
    const cache = new NonceCache(1000, 10, () => now);
    expect(cache.claim('a', 'n1')).toBe('claimed');
    cache.keep('a', 'n1');
    expect(cache.claim('a', 'n1')).toBe('used');
    expect(cache.claim('b', 'n1')).toBe('claimed');
    now = 1001;
    expect(cache.claim('a', 'n1')).toBe('claimed');
    cache.release('a', 'n1');
    expect(cache.claim('a', 'n1')).toBe('claimed');
  });

  it('tells a nonce whose request has not settled yet (pending) from one kept; released, it is free again', () => {
    let now = 0;
    const cache = new NonceCache(1000, 10, () => now);
    expect(cache.claim('a', 'n1')).toBe('claimed');
    expect(cache.claim('a', 'n1')).toBe('pending');
    cache.release('a', 'n1');
    expect(cache.claim('a', 'n1')).toBe('claimed');
    cache.keep('a', 'n1');
    expect(cache.claim('a', 'n1')).toBe('used');
    // Expired, it is free again, and a new claim is pending until it settles.
    now = 1001;
    expect(cache.claim('a', 'n1')).toBe('claimed');
    expect(cache.claim('a', 'n1')).toBe('pending');
  });

  it('tells whether a nonce is spent without claiming it', () => {
    let now = 0;
    const cache = new NonceCache(1000, 10, () => now);
    expect(cache.used('a', 'n1')).toBe(false);
    expect(cache.claim('a', 'n1')).toBe('claimed');
    expect([cache.used('a', 'n1'), cache.used('b', 'n1')]).toEqual([true, false]);
    cache.release('a', 'n1');
    expect(cache.used('a', 'n1')).toBe(false);
    cache.claim('a', 'n1');
    now = 1001;
    expect(cache.used('a', 'n1')).toBe(false);
  });

  it('stays within its entry cap by refusing new nonces, never by forgetting a live one', () => {
    let now = 0;
    const cache = new NonceCache(60_000, 5, () => now);
    for (let i = 0; i < 5; i++) {
      expect(cache.claim('victim', `n${i}`)).toBe('claimed');
      cache.keep('victim', `n${i}`);
    }
    // A flood of distinct nonces (another app's, signed with its own secret) must not evict the victim's spent
    // nonces: evicted, a captured push of the victim could be replayed, with any body, inside the window.
    for (let i = 0; i < 50; i++) cache.claim('flood', `f${i}`);
    for (let i = 0; i < 5; i++) expect(cache.claim('victim', `n${i}`)).toBe('used');
    expect(cache.size).toBe(5);
    // The new nonce is refused as such, not as a replay: its push is answered "retry later", not "already used".
    expect(cache.claim('flood', 'f50')).toBe('full');
    // Room again once the oldest have expired.
    now = 60_001;
    expect(cache.claim('flood', 'f0')).toBe('claimed');
    expect(cache.size).toBe(1);
  });
});
