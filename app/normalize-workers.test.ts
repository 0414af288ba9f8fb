// What the main thread takes from a normalize worker's `committed` report: counts it can add to the stage's counters and
// to Prometheus counters, or nothing (a broken report from a worker is logged, never counted).
import { describe, expect, it } from 'vitest';
import { reportedCounts } from './normalize-workers.ts';
import { AppMetrics } from './metrics.ts';

describe('reportedCounts', () => {
  it('accepts what the normalize service reports', () => {
    const counts = { records: 10, deadLettered: 3, recordFailures: 2, contractViolations: 1 };
    expect(reportedCounts(counts)).toEqual(counts);
    expect(reportedCounts({ records: 0, deadLettered: 0 })).toEqual({ records: 0, deadLettered: 0 });
  });

  it.each([
    ['NaN records', { records: NaN, deadLettered: 0 }],
    ['negative records', { records: -5, deadLettered: 0 }],
    ['1e308 records', { records: 1e308, deadLettered: 0 }],
    ['Infinity dead letters', { records: 1, deadLettered: Infinity }],
    ['records as a string', { records: '5', deadLettered: 0 }],
    ['a fraction', { records: 1.5, deadLettered: 0 }],
    ['more dead letters than records (records out below 0)', { records: 2, deadLettered: 3 }],
    ['more failures than dead letters', { records: 5, deadLettered: 1, recordFailures: 2 }],
    ['more contract violations than failures', { records: 5, deadLettered: 2, recordFailures: 1, contractViolations: 2 }],
    ['no counts at all', undefined],
    ['an array', [1, 0]],
  ])('refuses %s', (_what, counts) => {
    expect(reportedCounts(counts)).toBeUndefined();
  });

  it('keeps the metrics whole: every accepted report counts, and a counter never throws or turns NaN', async () => {
    const m = new AppMetrics();
    const reports: unknown[] = [{ records: 4, deadLettered: 1 }, { records: -1, deadLettered: 0 }, { records: NaN, deadLettered: 0 }, { records: 3, deadLettered: 4 }, { records: 6, deadLettered: 0 }];
    for (const r of reports) {
      const c = reportedCounts(r);
      if (c) m.stageCommitted('normalize', c);
    }
    const value = async (name: string) => (await m.registry.getSingleMetric(name)!.get()).values.find((v) => v.labels['stage'] === 'normalize')!.value;
    expect(await value('cdrflow_stage_records_in_total')).toBe(10);
    expect(await value('cdrflow_stage_records_out_total')).toBe(9);
    expect(await value('cdrflow_stage_dead_lettered_total')).toBe(1);
  });
});
