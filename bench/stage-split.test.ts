import { describe, expect, it } from 'vitest';
import { stagesOf, type CdrPath } from './job-bench.ts';

// A CDR received at `r`, its raw record `a` ms later, its normalized record `b` ms after that, countable `c` after.
const path = (r: number, a: number, b: number, c: number): CdrPath => ({ received: r, raw: r + a, normalized: r + a + b, countable: r + a + b + c });

describe('push → countable by stage', () => {
  it('splits each CDR into receive → raw, raw → normalized and normalized → countable', () => {
    const s = stagesOf([path(1_000, 2, 100, 700), path(1_010, 4, 1_200, 900), path(1_020, 1, 90, 650)]);
    expect(s.whole_run.n).toBe(3);
    expect(s.whole_run.receive_to_raw).toEqual({ p50: 2, p99: 4, max: 4 });
    expect(s.whole_run.raw_to_normalized).toEqual({ p50: 100, p99: 1_200, max: 1_200 });
    expect(s.whole_run.normalized_to_countable).toEqual({ p50: 700, p99: 900, max: 900 });
  });

  it('slices by 2 s of the receive time from the first CDR, keeping an empty slice in its place', () => {
    // Out of order, as rows come back from a table: 10,500 and 12,499 in the first slice, 12,500 in the second.
    const s = stagesOf([path(12_500, 1, 100, 600), path(16_600, 1, 80, 500), path(10_500, 1, 1_500, 600), path(12_499, 1, 120, 650)]);
    expect(s.by_2s_slice.map((x) => x.n)).toEqual([2, 1, 0, 1]);
    expect(s.by_2s_slice[0]!.raw_to_normalized).toEqual({ p50: 120, p99: 1_500, max: 1_500 });
    expect(s.by_2s_slice[1]!.raw_to_normalized.max).toBe(100);
    expect(s.by_2s_slice[2]!.raw_to_normalized.p99).toBeNaN();
    expect(s.by_2s_slice[3]!.normalized_to_countable.max).toBe(500);
  });
});
