import { describe, expect, it } from 'vitest';
import { backfillStartProblem, planBackfill, resumePoint } from './backfill.ts';

const iso = (s: number) => new Date(s * 1000).toISOString();
const base = { windowSec: 3600, settleSec: 120 };

describe('planBackfill', () => {
  it('a past range: every window, nothing left', () => {
    const plan = planBackfill({ ...base, from: 0, to: 7200, cursor: 0, now: 100_000 });
    expect(plan).toEqual({ windows: [{ start: 0, end: 3600 }, { start: 3600, end: 7200 }], readTo: 7200 });
  });

  it('a range reaching past now - settle: windows up to there, the rest left unsettled', () => {
    const plan = planBackfill({ ...base, from: 0, to: 20_000, cursor: 3600, now: 5000 });
    expect(plan).toEqual({ windows: [{ start: 3600, end: 4880 }], readTo: 4880, unsettled: { start: 4880, end: 20_000 } });
  });

  it('nothing new settled since the last run: no window, still unsettled', () => {
    expect(planBackfill({ ...base, from: 0, to: 20_000, cursor: 4880, now: 5000 })).toEqual({ windows: [], readTo: 4880, unsettled: { start: 4880, end: 20_000 } });
  });

  it('with a longest call: the range read up to now - settle, but open from now - settle - maxCallSec', () => {
    // Ended 100 s before now - settle: all read, yet a call that started in its last hour may still have been running.
    expect(planBackfill({ ...base, maxCallSec: 3600, from: 0, to: 4780, cursor: 0, now: 5000 })).toEqual({
      windows: [{ start: 0, end: 3600 }, { start: 3600, end: 4780 }],
      readTo: 4780,
      unsettled: { start: 1280, end: 4780 },
    });
    // Long enough ago: nothing open.
    expect(planBackfill({ ...base, maxCallSec: 3600, from: 0, to: 4780, cursor: 0, now: 8500 }).unsettled).toBeUndefined();
  });

  it('refuses a range starting at or after now - settle', () => {
    expect(() => planBackfill({ ...base, from: 4880, to: 20_000, cursor: 4880, now: 5000 })).toThrow(/has not settled yet/);
    expect(() => planBackfill({ ...base, from: 4879, to: 20_000, cursor: 4879, now: 5000 })).not.toThrow();
  });

  it('the part before the horizon is lost; entirely before it, nothing is read', () => {
    expect(planBackfill({ ...base, from: 0, to: 7200, cursor: 0, now: 100_000, horizon: 1000 })).toEqual({
      windows: [{ start: 1000, end: 4600 }, { start: 4600, end: 7200 }],
      readTo: 7200,
      lost: { start: 0, end: 1000 },
    });
    expect(planBackfill({ ...base, from: 0, to: 7200, cursor: 0, now: 100_000, horizon: 9000 })).toEqual({ windows: [], readTo: 7200, lost: { start: 0, end: 7200 } });
    // Resumed past the horizon, or the range already read: nothing lost now.
    expect(planBackfill({ ...base, from: 0, to: 7200, cursor: 7200, now: 100_000, horizon: 9000 })).toEqual({ windows: [], readTo: 7200 });
  });
});

describe('backfillStartProblem', () => {
  it('names the time up to which records have settled and when the --from will have', () => {
    expect(backfillStartProblem(new Date(5000_000), 5000_000, 120)).toBe(
      `--from ${iso(5000)} has not settled yet: the vendor's records are read only up to now - 120 s (settleSec), ${iso(4880)} at the moment; give an earlier --from, or run after ${iso(5121)}`,
    );
    expect(backfillStartProblem(new Date(4879_000), 5000_000, 120)).toBeUndefined();
  });
});

describe('resumePoint', () => {
  it('trusts a watermark that had settled when it was read', () => {
    expect(resumePoint({ watermark: iso(4000), updatedAt: iso(9000), polledAt: iso(4200) }, 0, 120, 3600, 9000)).toBe(4000);
    expect(resumePoint({ watermark: iso(4000), updatedAt: iso(9000) }, 0, 120, 3600, 9000)).toBe(4000);
  });

  it('goes back where a checkpoint covers time that had not settled when read (older versions marked such ranges done)', () => {
    expect(resumePoint({ watermark: iso(20_000), updatedAt: iso(9000) }, 0, 120, 3600, 9000)).toBe(9000 - 120 - 3600);
    expect(resumePoint({ watermark: iso(20_000), updatedAt: iso(1000) }, 500, 120, 3600, 9000)).toBe(500);
    expect(resumePoint({ watermark: iso(5000), updatedAt: iso(9000), polledAt: iso(5060) }, 0, 120, 3600, 9000)).toBe(4940);
  });

  it('vouches for nothing of a checkpoint read by a clock ahead of this one, or with no readable read time', () => {
    expect(resumePoint({ watermark: iso(4000), updatedAt: iso(9000), polledAt: iso(9000 + 86_400) }, 500, 120, 3600, 9000)).toBe(500);
    expect(resumePoint({ watermark: iso(4000), updatedAt: iso(9000 + 86_400) }, 500, 120, 3600, 9000)).toBe(500);
    expect(resumePoint({ watermark: iso(4000), updatedAt: iso(9000), polledAt: 'soon' }, 500, 120, 3600, 9000)).toBe(500);
    // A clock stepped back a little (within CLOCK_SLACK_SEC) is believed.
    expect(resumePoint({ watermark: iso(4000), updatedAt: iso(9000), polledAt: iso(9200) }, 500, 120, 3600, 9000)).toBe(4000);
  });
});
