import { describe, expect, it } from 'vitest';
import { NonceCache } from './nonce-cache.ts';

describe('NonceCache', () => {
  it('refuses a nonce seen within its TTL, per app, and accepts it again after expiry or release', () => {
    let now = 0;
    const cache = new NonceCache(1000, 10, () => now);
    expect(cache.claim('a', 'n1')).toBe(true);
    expect(cache.claim('a', 'n1')).toBe(false);
    expect(cache.claim('b', 'n1')).toBe(true);
    now = 1001;
    expect(cache.claim('a', 'n1')).toBe(true);
    cache.release('a', 'n1');
    expect(cache.claim('a', 'n1')).toBe(true);
  });

  it('tells whether a nonce is spent without claiming it', () => {
    let now = 0;
    const cache = new NonceCache(1000, 10, () => now);
    expect(cache.used('a', 'n1')).toBe(false);
    expect(cache.claim('a', 'n1')).toBe(true);
    expect([cache.used('a', 'n1'), cache.used('b', 'n1')]).toEqual([true, false]);
    cache.release('a', 'n1');
    expect(cache.used('a', 'n1')).toBe(false);
    cache.claim('a', 'n1');
    now = 1001;
    expect(cache.used('a', 'n1')).toBe(false);
  });

  it('stays within its entry cap', () => {
    const cache = new NonceCache(60_000, 5, () => 0);
    for (let i = 0; i < 50; i++) cache.claim('a', `n${i}`);
    expect(cache.size).toBeLessThanOrEqual(5);
    expect(cache.claim('a', 'n49')).toBe(false);
  });
});
