import { describe, expect, it } from 'vitest';
import { goalFigures } from './runs-summary.ts';
import { parseOptions, summarizeRounds, type Measurement, type RoundMode } from './suites/pipeline.ts';

const measured = (rps: number): Measurement => ({ records: 100_000, seconds: 100_000 / rps, rps, cpu_us_per_record: 1_000_000 / rps, load_avg_1m: [1, 1] });
const rounds = (...rps: number[]) => rps.map(measured);

/** Three rounds in which each ratio's median differs from the ratio of the medians. */
function threeRounds(): Record<RoundMode, Measurement[]> {
  return {
    k1: rounds(100, 200, 300),
    k2: rounds(100, 200, 300),
    normalize: rounds(50, 40, 150),
    normalize_w2: rounds(60, 180, 150),
    c1: rounds(1_000, 400, 500),
    sink: rounds(800, 480, 300),
    e2e: rounds(50, 40, 150),
  };
}

describe("the pipeline benchmark's summary of its rounds", () => {
  it('takes each ratio within a round, then its median and range (not the ratio of the medians)', () => {
    const { ratios } = summarizeRounds(threeRounds(), ['k1', 'k2', 'normalize', 'normalize_w2', 'c1', 'sink', 'e2e'], undefined);
    // Per round 0.5, 0.2, 0.5: the medians' ratio would read 50 / 200 = 0.25.
    expect(ratios.e2e_vs_k1).toEqual({ median: 0.5, min: 0.2, max: 0.5 });
    expect(ratios.normalize_vs_k2).toEqual({ median: 0.5, min: 0.2, max: 0.5 });
    expect(ratios.normalize_w2_vs_normalize).toEqual({ median: 1.2, min: 1, max: 4.5 });
    // 0.8, 1.2, 0.6: the medians' ratio would read 480 / 500 = 0.96.
    expect(ratios.sink_vs_c1).toEqual({ median: 0.8, min: 0.6, max: 1.2 });
    expect(ratios).not.toHaveProperty('job_vs_k1_median');
  });

  it("gives each mode's median (the middle two averaged for an even count), range and every round", () => {
    const results = { ...threeRounds(), k1: rounds(300, 100, 200, 1_000) };
    const { figures } = summarizeRounds(results, ['k1', 'e2e'], undefined);
    expect(figures['k1']).toMatchObject({ rps: { median: 250, min: 100, max: 1_000 }, rounds: results.k1 });
    expect(figures['e2e']).toMatchObject({ rps: { median: 50, min: 40, max: 150 } });
    expect(Object.keys(figures)).toEqual(['k1', 'e2e']);
  });

  it('puts the job, run once after the rounds, against the median K1', () => {
    // K1's median 200, its mean 300.
    expect(summarizeRounds({ ...threeRounds(), k1: rounds(100, 600, 200) }, ['k1'], 80).ratios.job_vs_k1_median).toBe(0.4);
    expect(summarizeRounds({ ...threeRounds(), k1: [] }, [], 80).ratios).not.toHaveProperty('job_vs_k1_median');
  });

  it('writes what runs-summary reads as the goals of a full run', () => {
    const { figures, ratios } = summarizeRounds(threeRounds(), ['k1', 'k2', 'normalize', 'normalize_w2', 'c1', 'sink', 'e2e'], 80);
    const defaults = parseOptions({}, {});
    const latency = { offered_cdr_per_s: 2000, receiver: { ack_latency_ms: { p99: 20 } }, push_to_countable_ms: { p99: 1_200 }, job_peak_rss_mb: 990 };
    // The fields run() and bench/run.ts put around them, at the defaults.
    const result = {
      suite: 'pipeline',
      started_at: '2026-12-06T00:00:00.000Z',
      records: defaults.total,
      rounds: defaults.rounds,
      e2e_normalize_workers: defaults.e2eWorkers,
      latency_options: defaults.latency,
      ratios,
      figures: { job: { rps: 80, peak_rss_mb: 1_000 }, latency: [latency], ...figures },
    };
    expect(goalFigures(JSON.parse(JSON.stringify(result)))?.figures).toEqual([0.5, 0.6, 0.8, 0.5, 0.4, 20, undefined, 1_200, undefined, 1_000]);
  });
});
