import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

/** A fake clock whose sleep advances time, so the bucket's pacing is checked exactly without waiting. */
function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('TokenBucket', () => {
  it('spaces requests at the configured rate with capacity 1', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 20, now: clock.now, sleep: clock.sleep });
    const times: number[] = [];
    for (let i = 0; i < 41; i++) {
      await bucket.take();
      times.push(clock.now());
    }
    // 41 takes: the first is free, the other 40 need 2 s of refill at 20/s.
    expect(times[40]).toBe(2000);
    // no sliding one-second window ever holds more than 20 + 1 (the boundary request)
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t > times[i]! - 1000 && t <= times[i]!).length;
      expect(inWindow).toBeLessThanOrEqual(20);
    }
  });

  it('lets a burst through up to capacity, then paces', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 10, capacity: 5, now: clock.now, sleep: clock.sleep });
    for (let i = 0; i < 5; i++) expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.waitMs()).toBe(100);
    clock.advance(1000);
    // refill caps at capacity, not 10
    let n = 0;
    while (bucket.tryTake()) n++;
    expect(n).toBe(5);
  });

  it('serves waiters in order and an aborted waiter does not block the next', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 1, now: clock.now, sleep: clock.sleep });
    await bucket.take();
    const ac = new AbortController();
    ac.abort();
    await expect(bucket.take(ac.signal)).rejects.toThrow();
    await bucket.take();
    expect(clock.now()).toBe(1000);
  });

  it('rejects nonsense rates', () => {
    expect(() => new TokenBucket({ ratePerSecond: 0 })).toThrow(/positive/);
    expect(() => new TokenBucket({ ratePerSecond: 5, capacity: 0 })).toThrow(/capacity/);
  });
});
