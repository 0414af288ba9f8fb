import { describe, expect, it } from 'vitest';
import { NonceCache } from './nonce-cache.ts';

describe('NonceCache', () => {
  it('refuses a nonce seen before its expiry, per app, and accepts it again after expiry or release', () => {
    let now = 0;
    const cache = new NonceCache(10, () => now);
    expect(cache.claim('a', 'n1', 1000)).toBe('claimed');
    cache.keep('a', 'n1', 1000);
    expect(cache.claim('a', 'n1', 1000)).toBe('used');
    expect(cache.claim('b', 'n1', 1000)).toBe('claimed');
    now = 999;
    expect(cache.claim('a', 'n1', 1000)).toBe('used');
    now = 1000;
    expect(cache.claim('a', 'n1', 2000)).toBe('claimed');
    cache.release('a', 'n1', 2000);
    expect(cache.claim('a', 'n1', 2000)).toBe('claimed');
  });

  it('tells a nonce whose request has not settled yet (pending) from one kept; released, it is free again', () => {
    let now = 0;
    const cache = new NonceCache(10, () => now);
    expect(cache.claim('a', 'n1', 1000)).toBe('claimed');
    expect(cache.claim('a', 'n1', 1000)).toBe('pending');
    cache.release('a', 'n1', 1000);
    expect(cache.claim('a', 'n1', 1000)).toBe('claimed');
    cache.keep('a', 'n1', 1000);
    expect(cache.claim('a', 'n1', 1000)).toBe('used');
    // Expired, it is free again, and a new claim is pending until it settles.
    now = 1000;
    expect(cache.claim('a', 'n1', 2000)).toBe('claimed');
    expect(cache.claim('a', 'n1', 2000)).toBe('pending');
  });

  it("settles only the claim its request made: an earlier request of the same nonce, outlived by its claim, settles nothing", () => {
    let now = 0;
    const cache = new NonceCache(10, () => now);
    // A first request whose Created was close to stale: its claim expires while Kafka still keeps it waiting, and the
    // sender, reusing the nonce with a fresh Created, claims it anew.
    expect(cache.claim('a', 'n1', 10)).toBe('claimed');
    now = 20;
    expect(cache.claim('a', 'n1', 1000)).toBe('claimed');
    // The first request fails: giving back its claim must not give back the second's, still pending (else a copy of
    // the second's headers would be claimed, and stored with whatever body it carries).
    cache.release('a', 'n1', 10);
    expect(cache.claim('a', 'n1', 1000)).toBe('pending');
    // Nor does the first one's success settle the second: it stays pending until its own request settles.
    cache.keep('a', 'n1', 10);
    expect(cache.claim('a', 'n1', 1000)).toBe('pending');
    cache.keep('a', 'n1', 1000);
    expect(cache.claim('a', 'n1', 1000)).toBe('used');
  });

  it('tells whether a nonce is spent without claiming it', () => {
    let now = 0;
    const cache = new NonceCache(10, () => now);
    expect(cache.used('a', 'n1')).toBe(false);
    expect(cache.claim('a', 'n1', 1000)).toBe('claimed');
    expect([cache.used('a', 'n1'), cache.used('b', 'n1')]).toEqual([true, false]);
    cache.release('a', 'n1', 1000);
    expect(cache.used('a', 'n1')).toBe(false);
    cache.claim('a', 'n1', 1000);
    now = 1000;
    expect(cache.used('a', 'n1')).toBe(false);
  });

  it('forgets each entry at its own expiry, whatever order the expiries were claimed in', () => {
    let now = 0;
    const cache = new NonceCache(10, () => now);
    // A timestamp 10 s short of stale and one a whole window ahead, claimed in either order.
    const expiries = { late: 1_200_001, soon: 10_001, mid: 600_001, soon2: 10_001 };
    for (const [nonce, expiry] of Object.entries(expiries)) expect(cache.claim('a', nonce, expiry)).toBe('claimed');
    const live = () => Object.keys(expiries).filter((n) => cache.used('a', n));
    now = 10_000;
    expect(live()).toEqual(['late', 'soon', 'mid', 'soon2']);
    now = 10_001;
    expect(live()).toEqual(['late', 'mid']);
    // A claim sweeps what has expired, and only that.
    cache.claim('b', 'x', 10_002);
    expect(cache.size).toBe(3);
    now = 600_001;
    cache.claim('b', 'y', 600_002);
    expect([live(), cache.size]).toEqual([['late'], 2]);
    now = 1_200_001;
    cache.claim('b', 'z', 1_200_002);
    expect([live(), cache.size]).toEqual([[], 1]);
  });

  it('stays within its entry cap by refusing new nonces, never by forgetting a live one', () => {
    let now = 0;
    const cache = new NonceCache(5, () => now);
    // The victim's nonces expire at different times, the earliest claimed last.
    for (let i = 0; i < 5; i++) {
      expect(cache.claim('victim', `n${i}`, 60_000 - i)).toBe('claimed');
      cache.keep('victim', `n${i}`, 60_000 - i);
    }
    // A flood of distinct nonces (another app's, signed with its own secret) must not evict the victim's spent
    // nonces: evicted, a captured push of the victim could be replayed, with any body, inside the window.
    for (let i = 0; i < 50; i++) cache.claim('flood', `f${i}`, 120_000);
    for (let i = 0; i < 5; i++) expect(cache.claim('victim', `n${i}`, 60_000)).toBe('used');
    expect(cache.size).toBe(5);
    // The new nonce is refused as such, not as a replay: its push is answered "retry later", not "already used".
    expect(cache.claim('flood', 'f50', 120_000)).toBe('full');
    // Room again as each expires: the one claimed last, expiring first, goes first.
    now = 59_996;
    expect(cache.claim('flood', 'f0', 120_000)).toBe('claimed');
    expect(cache.claim('flood', 'f1', 120_000)).toBe('full');
    expect(cache.used('victim', 'n4')).toBe(false);
    now = 60_000;
    expect(cache.claim('flood', 'f1', 120_000)).toBe('claimed');
    expect(cache.size).toBe(2);
  });

  it('holds its place at the cap for claims given back, however many come and go', () => {
    const now = 0;
    const cache = new NonceCache(5, () => now);
    for (let i = 0; i < 4; i++) cache.claim('a', `live${i}`, 1000);
    // Claims released (their request not stored) free their place at once, never expiring on their own.
    for (let i = 0; i < 10_000; i++) {
      expect(cache.claim('a', `gone${i}`, 1000 + i)).toBe('claimed');
      cache.release('a', `gone${i}`, 1000 + i);
    }
    expect(cache.size).toBe(4);
    expect(cache.claim('a', 'last', 1000)).toBe('claimed');
    expect(cache.claim('a', 'more', 1000)).toBe('full');
  });
});
