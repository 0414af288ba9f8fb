// `node bin/run-ts.mjs bench/runs-summary.ts [--since ISO] [--until ISO] [--dir DIR]`: every goal of the pipeline
// benchmark across the full runs kept in bench/results/ (those with every round mode, the job and the latency mode at
// 2,000 CDR/s, at the default size: records, rounds, end-to-end members and latency load as `npm run bench -- pipeline
// --modes all` sets them): median, range and in how many runs it was met. One run says what an hour gave; this says what the code
// gives on this machine, which is what the README's goals are judged by. The README's "Across runs" table is this
// output for the range it names (a unit test holds it so); --until closes the range, as results are git-ignored and a
// later local run would otherwise join it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { isoDateTime, parseFlags } from '../cli/args.ts';
import { UsageError } from '../cli/command.ts';
import { REPO_ROOT } from '../core/repo-root.ts';
import { parseOptions } from './suites/pipeline.ts';

const range = z.object({ median: z.number() });
const at2000 = z.object({
  offered_cdr_per_s: z.number(),
  receiver: z.object({ ack_latency_ms: z.object({ p99: z.number() }) }),
  push_to_countable_ms: z.object({ p99: z.number() }),
  job_peak_rss_mb: z.number().optional(),
  first_seconds_at_the_rate: z
    .object({ receiver: z.object({ ack_latency_ms: z.object({ p99: z.number() }) }), push_to_countable_ms: z.object({ p99: z.number() }) })
    .optional(),
});

/**
 * The pipeline benchmark's defaults. A run made smaller or otherwise (`--records 2000`, `--e2e-workers 1`, a shorter
 * latency load, fewer rounds) measured something else: its ratios and latencies are not the goals' and stay out.
 */
const DEFAULTS = parseOptions({}, {});

/** The fields of a pipeline result this summary reads (bench/suites/pipeline.ts writes them); a run without one is not a full run. */
const FullRun = z.object({
  suite: z.literal('pipeline'),
  started_at: z.string(),
  records: z.literal(DEFAULTS.total),
  rounds: z.int().min(DEFAULTS.rounds),
  e2e_normalize_workers: z.literal(DEFAULTS.e2eWorkers),
  latency_options: z.object({
    seconds: z.literal(DEFAULTS.latency.seconds),
    batch: z.literal(DEFAULTS.latency.batch),
    connections: z.literal(DEFAULTS.latency.connections),
    rampSeconds: z.literal(DEFAULTS.latency.rampSeconds),
  }),
  ratios: z.object({ normalize_vs_k2: range, normalize_w2_vs_k2: range, sink_vs_c1: range, e2e_vs_k1: range, job_vs_k1_median: z.number() }),
  figures: z.object({ job: z.object({ peak_rss_mb: z.number() }), latency: z.array(z.unknown()) }),
});

interface Goal {
  name: string;
  goal: string;
  met: (v: number) => boolean;
  unit: string;
}

const GOALS: Goal[] = [
  { name: 'normalize, one member / K2', goal: '≥ 0.5', met: (v) => v >= 0.5, unit: '' },
  { name: 'normalize, two members / K2', goal: '≥ 0.5', met: (v) => v >= 0.5, unit: '' },
  { name: 'sink / C1', goal: '≥ 0.8', met: (v) => v >= 0.8, unit: '' },
  { name: 'end to end / K1', goal: '≥ 0.4', met: (v) => v >= 0.4, unit: '' },
  { name: '`cdrflow start` on the backlog / K1', goal: '≥ 0.4 (the same path)', met: (v) => v >= 0.4, unit: '' },
  { name: 'receiver push-ack p99 at 2,000 CDR/s', goal: '≤ 100 ms', met: (v) => v <= 100, unit: ' ms' },
  { name: '… in its first 10 s at the rate', goal: '≤ 100 ms', met: (v) => v <= 100, unit: ' ms' },
  { name: 'push → countable p99 at 2,000 CDR/s', goal: '≤ 2 s', met: (v) => v <= 2000, unit: ' ms' },
  { name: '… in its first 10 s at the rate', goal: '≤ 2 s', met: (v) => v <= 2000, unit: ' ms' },
  { name: 'job peak RSS', goal: '< 1.5 GB', met: (v) => v < 1536, unit: ' MiB' },
];

/** One full run's figure per goal (in GOALS' order; undefined where the run did not measure it), or undefined when it is not a full run. */
export function goalFigures(result: unknown): { startedAt: string; figures: (number | undefined)[] } | undefined {
  const run = FullRun.safeParse(result);
  if (!run.success) return undefined;
  const { ratios, figures, started_at } = run.data;
  const parsed = figures.latency.map((l) => at2000.safeParse(l)).flatMap((p) => (p.success ? [p.data] : []));
  const lat = parsed.find((l) => l.offered_cdr_per_s === 2000);
  if (lat === undefined) return undefined;
  const rss = Math.max(figures.job.peak_rss_mb, ...parsed.map((l) => l.job_peak_rss_mb ?? 0));
  return {
    startedAt: started_at,
    figures: [
      ratios.normalize_vs_k2.median,
      ratios.normalize_w2_vs_k2.median,
      ratios.sink_vs_c1.median,
      ratios.e2e_vs_k1.median,
      ratios.job_vs_k1_median,
      lat.receiver.ack_latency_ms.p99,
      lat.first_seconds_at_the_rate?.receiver.ack_latency_ms.p99,
      lat.push_to_countable_ms.p99,
      lat.first_seconds_at_the_rate?.push_to_countable_ms.p99,
      rss,
    ],
  };
}

/** A ratio with three decimals (0.800, as the README's tables read), a latency or size with at most one. */
const num = (v: number, unit: string) =>
  v.toLocaleString('en-US', unit === '' ? { minimumFractionDigits: 3, maximumFractionDigits: 3 } : { maximumFractionDigits: 1 });
const fmt = (v: number, unit: string) => `${num(v, unit)}${unit}`;

/** The markdown table of every goal across `runs`. */
export function summarizeRuns(runs: { startedAt: string; figures: (number | undefined)[] }[]): string {
  const sorted = [...runs].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const lines = [
    `${sorted.length} full runs, ${sorted[0]?.startedAt ?? '-'} to ${sorted.at(-1)?.startedAt ?? '-'}`,
    '',
    '| | median | min–max | met in | goal |',
    '|---|---|---|---|---|',
  ];
  GOALS.forEach((goal, i) => {
    const values = sorted.flatMap((r) => (r.figures[i] === undefined ? [] : [r.figures[i]])).sort((a, b) => a - b);
    if (values.length === 0) return;
    const median = values.length % 2 === 1 ? values[(values.length - 1) / 2]! : (values[values.length / 2 - 1]! + values[values.length / 2]!) / 2;
    const met = values.filter(goal.met).length;
    lines.push(`| ${goal.name} | ${fmt(median, goal.unit)} | ${num(values[0]!, goal.unit)}–${fmt(values.at(-1)!, goal.unit)} | ${met} of ${values.length} | ${goal.goal} |`);
  });
  return lines.join('\n');
}

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

/** The full runs among the pipeline results in `dir` that started in [since, until). */
export function readRuns(dir: string, since?: Date, until?: Date): { startedAt: string; figures: (number | undefined)[] }[] {
  const runs = [];
  for (const name of readdirSync(dir).filter((n) => /^pipeline-.*\.json$/.test(n))) {
    let result: unknown;
    try {
      result = JSON.parse(readFileSync(join(dir, name), 'utf8'));
    } catch {
      continue; // not JSON: not a result this summary can read
    }
    const run = goalFigures(result);
    if (!run) continue;
    const at = Date.parse(run.startedAt);
    if ((since === undefined || at >= since.getTime()) && (until === undefined || at < until.getTime())) runs.push(run);
  }
  return runs;
}

function main(args: string[]): number {
  let since: Date | undefined;
  let until: Date | undefined;
  let dir: string;
  try {
    const { values } = parseFlags(args, { since: { type: 'string' }, until: { type: 'string' }, dir: { type: 'string' } });
    since = values.since === undefined ? undefined : isoDateTime('--since', values.since);
    until = values.until === undefined ? undefined : isoDateTime('--until', values.until);
    dir = values.dir ?? RESULTS_DIR;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`runs-summary: ${err.message}\nusage: runs-summary [--since ISO-TIME] [--until ISO-TIME] [--dir DIR]`);
    return 64;
  }
  console.log(summarizeRuns(readRuns(dir, since, until)));
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main(process.argv.slice(2));
