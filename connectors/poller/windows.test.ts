import { describe, expect, it } from 'vitest';
import { nextLiveWindow, backfillWindows } from './windows.ts';

const base = { lookbackSec: 1800, maxCallSec: 600, settleSec: 120, maxWindowSec: 3600 };

describe('nextLiveWindow', () => {
  it('re-reads the lookback in steady state and ends at now - settle', () => {
    const plan = nextLiveWindow({ ...base, watermark: 10_000, polledAt: 10_120, now: 10_180 });
    expect(plan).toEqual({ window: { start: 10_120 - 1800 - 600, end: 10_060 } });
  });

  it('does not re-read when catching up from far behind, and caps the new time per window', () => {
    const plan = nextLiveWindow({ ...base, watermark: 10_000, polledAt: 50_000, now: 100_000 });
    expect(plan).toEqual({ window: { start: 10_000, end: 13_600 } });
  });

  it('returns nothing when the watermark is already at now - settle', () => {
    expect(nextLiveWindow({ ...base, watermark: 10_000, polledAt: 10_120, now: 10_120 })).toBeUndefined();
  });

  it('reports the interval lost behind the retention horizon and starts there', () => {
    const horizon = 1_000_000;
    const plan = nextLiveWindow({ ...base, watermark: 900_000, polledAt: 900_100, now: horizon + 7 * 86_400, horizon });
    expect(plan?.lost).toEqual({ start: 900_000, end: horizon });
    expect(plan?.window).toEqual({ start: horizon, end: horizon + 3600 });
  });

  it('clamps the lookback to the horizon without calling it a loss', () => {
    const plan = nextLiveWindow({ ...base, watermark: 10_000, polledAt: 10_120, now: 10_300, horizon: 9_000 });
    expect(plan?.window.end).toBe(10_180);
    expect(plan?.lost).toBeUndefined();
    expect(plan?.window.start).toBe(9_000);
  });
});

describe('backfillWindows', () => {
  it('covers the range exactly, resuming at the cursor', () => {
    expect(backfillWindows(0, 10_000, 3600)).toEqual([
      { start: 0, end: 3600 },
      { start: 3600, end: 7200 },
      { start: 7200, end: 10_000 },
    ]);
    expect(backfillWindows(0, 10_000, 3600, 7200)).toEqual([{ start: 7200, end: 10_000 }]);
    expect(backfillWindows(0, 10_000, 3600, 10_000)).toEqual([]);
  });
});
