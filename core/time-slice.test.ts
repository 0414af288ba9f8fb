import { describe, expect, it } from 'vitest';
import { TimeSlice } from './time-slice.ts';

describe('TimeSlice', () => {
  it('lets a timer run in the middle of a long loop that yields when its slice is used up', async () => {
    let timerRan = false;
    let itemsBeforeTimer = -1;
    setTimeout(() => (timerRan = true), 0);
    const slice = new TimeSlice(2);
    const items = 400;
    for (let i = 0; i < items; i++) {
      if (slice.due()) await slice.yield();
      if (timerRan && itemsBeforeTimer < 0) itemsBeforeTimer = i;
      const until = performance.now() + 0.1; // ~40 ms of synchronous work in all
      while (performance.now() < until);
    }
    expect(timerRan).toBe(true);
    expect(itemsBeforeTimer).toBeGreaterThan(0);
    expect(itemsBeforeTimer).toBeLessThan(items);
  });

  it('does not yield while the slice lasts', () => {
    const slice = new TimeSlice(60_000);
    expect(slice.due()).toBe(false);
  });
});
