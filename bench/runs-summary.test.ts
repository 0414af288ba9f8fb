import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../core/repo-root.ts';
import { goalFigures, readRuns, RESULTS_DIR, summarizeRuns } from './runs-summary.ts';

const run = (startedAt: string, e2e: number, ackP99: number, first?: { ack: number; countable: number }) => ({
  suite: 'pipeline',
  started_at: startedAt,
  records: 100_000,
  rounds: 3,
  e2e_normalize_workers: 2,
  latency_options: { rates: [500, 2000], seconds: 20, batch: 4, connections: 32, drainTimeoutSec: 600, rampSeconds: 10 },
  ratios: {
    normalize_vs_k2: { median: 0.45, min: 0.4, max: 0.5 },
    normalize_w2_vs_k2: { median: 0.6, min: 0.5, max: 0.7 },
    sink_vs_c1: { median: 0.9, min: 0.8, max: 1 },
    e2e_vs_k1: { median: e2e, min: e2e, max: e2e },
    job_vs_k1_median: 0.3,
  },
  figures: {
    job: { peak_rss_mb: 900 },
    latency: [
      { offered_cdr_per_s: 500, receiver: { ack_latency_ms: { p99: 5 } }, push_to_countable_ms: { p99: 1000 }, job_peak_rss_mb: 700 },
      {
        offered_cdr_per_s: 2000,
        receiver: { ack_latency_ms: { p99: ackP99 } },
        push_to_countable_ms: { p99: 1300 },
        job_peak_rss_mb: 1000,
        ...(first ? { first_seconds_at_the_rate: { receiver: { ack_latency_ms: { p99: first.ack } }, push_to_countable_ms: { p99: first.countable } } } : {}),
      },
    ],
  },
});

describe('runs summary', () => {
  it('reads a full run: the ratios, the 2,000 CDR/s latency, and the higher peak RSS of the job and latency modes', () => {
    expect(goalFigures(run('2026-12-05T01:00:00Z', 0.41, 30, { ack: 70, countable: 1500 }))?.figures).toEqual([0.45, 0.6, 0.9, 0.41, 0.3, 30, 70, 1300, 1500, 1000]);
  });

  it('is not fooled by a partial run, another suite or a hostile file', () => {
    const partial = run('2026-12-05T01:00:00Z', 0.4, 30) as Record<string, unknown>;
    delete (partial['ratios'] as Record<string, unknown>)['e2e_vs_k1'];
    const noRate = run('2026-12-05T01:00:00Z', 0.4, 30);
    noRate.figures.latency = noRate.figures.latency.slice(0, 1);
    for (const other of [partial, noRate, { ...run('x', 0.4, 30), suite: 'normalize' }, null, 42, 'pipeline', [], { __proto__: { suite: 'pipeline' } }]) {
      expect(goalFigures(other)).toBeUndefined();
    }
  });

  it('leaves out a run made at another size than the defaults, and keeps one with more rounds', () => {
    const other = [
      { records: 2_000 },
      { rounds: 1 },
      { e2e_normalize_workers: 1 },
      { latency_options: { ...run('x', 0.4, 30).latency_options, seconds: 5 } },
      { latency_options: { ...run('x', 0.4, 30).latency_options, rampSeconds: 0 } },
      { latency_options: undefined },
    ];
    for (const change of other) expect(goalFigures({ ...run('2026-12-05T01:00:00Z', 0.4, 30), ...change }), JSON.stringify(change)).toBeUndefined();
    expect(goalFigures({ ...run('2026-12-05T01:00:00Z', 0.4, 30), rounds: 5 })).toBeDefined();
  });

  it('gives each goal its median, range and the runs that met it, in time order, leaving out what a run did not measure', () => {
    const runs = [run('2026-12-05T03:00:00Z', 0.35, 120), run('2026-12-05T01:00:00Z', 0.41, 30, { ack: 70, countable: 1500 }), run('2026-12-05T02:00:00Z', 0.38, 40)].map((r) => goalFigures(r)!);
    const table = summarizeRuns(runs);
    expect(table).toContain('3 full runs, 2026-12-05T01:00:00Z to 2026-12-05T03:00:00Z');
    expect(table).toContain('| end to end / K1 | 0.380 | 0.350–0.410 | 1 of 3 | ≥ 0.4 |');
    expect(table).toContain('| receiver push-ack p99 at 2,000 CDR/s | 40 ms | 30–120 ms | 2 of 3 | ≤ 100 ms |');
    expect(table).toContain('| … in its first 10 s at the rate | 70 ms | 70–70 ms | 1 of 1 | ≤ 100 ms |');
    expect(summarizeRuns([])).toContain('0 full runs');
  });
});

describe("the README's \"Across runs\"", () => {
  it('is what runs-summary prints for the range its command names, over the committed results', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Across runs'), readme.indexOf('\n### ', readme.indexOf('### Across runs') + 1));
    const command = /runs-summary\.ts\s+--since (\S+)\s+--until ([^\s`]+)`/.exec(section);
    expect(command, 'the section names its range with --since and --until').not.toBeNull();
    const table = section.split('\n').filter((l) => l.startsWith('|'));
    const runs = readRuns(RESULTS_DIR, new Date(command![1]!), new Date(command![2]!));
    expect(table.join('\n')).toBe(summarizeRuns(runs).split('\n').slice(2).join('\n'));
  });
});

describe("the README's \"One run in full\"", () => {
  it("shows where the CPU went exactly as the run it names rendered it (its thread_table)", () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('### One run in full');
    const section = readme.slice(start, readme.indexOf('\n### ', start + 1));
    const file = /`bench\/results\/(pipeline-[^`]+\.json)`/.exec(section)![1]!;
    const result = JSON.parse(readFileSync(join(RESULTS_DIR, file), 'utf8')) as { thread_table: string };
    const rendered = result.thread_table.split('\n').slice(1).join('\n');
    expect(section).toContain(`\n${rendered}\n`);
  });
});
