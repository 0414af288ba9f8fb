// `npm run fuzz [-- --records 30000 --seed 15 --root <checkout>]`: the large campaign. Per vendor, `records` mutated
// lines through `cdrflow normalize` as a child process; prints per vendor the lines, outputs, reports, exit status,
// crashes (an exit other than 0/2, or lines neither output nor reported) and outputs the oracle rejects, as a table
// and as JSON. Exit 1 when any crash or rule-breaking output was found. `--root` runs another checkout's CLI (e.g. an
// older commit) against the same lines, for before/after figures.
import { parseArgs } from 'node:util';
import { VENDORS, type Vendor } from '../../core/topology.ts';
import { fuzzLines, tenantOption } from './generator.ts';
import { oracleProblems } from './oracle.ts';
import { runNormalizeCli } from './run-cli.ts';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '30000' }, seed: { type: 'string', default: '15' }, vendor: { type: 'string', multiple: true }, root: { type: 'string' } },
});
const records = Number(values.records);
const seed = Number(values.seed);
const vendors = (values.vendor ?? [...VENDORS]) as Vendor[];

interface Figures {
  vendor: Vendor;
  lines: number;
  outputs: number;
  reports: number;
  exit: number | null;
  crashes: number;
  unaccounted: number;
  ruleBreakingOutputs: number;
  billableMinutesOut: number;
  topReasons: Record<string, number>;
  seconds: number;
}

const all: Figures[] = [];
for (const vendor of vendors) {
  const started = performance.now();
  const lines = [...fuzzLines(vendor, records, seed)].map((f) => f.line);
  const r = runNormalizeCli(vendor, tenantOption(vendor), lines, values.root);
  let ruleBreaking = 0;
  let minutes = 0;
  for (const cdr of r.outputs) {
    if (oracleProblems(cdr).length > 0) ruleBreaking++;
    minutes += Number(cdr['billable_minutes'] ?? 0);
  }
  const reasons: Record<string, number> = {};
  for (const line of r.reports) {
    const reason = line.replace(/^line \d+: /, '').replace(/consistency rule ([a-z-]+).*/, 'consistency rule $1').replace(/[:(].*/, '').slice(0, 60);
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  }
  const unaccounted = r.lines - r.outputs.length - r.reports.length;
  all.push({
    vendor,
    lines: r.lines,
    outputs: r.outputs.length,
    reports: r.reports.length,
    exit: r.status,
    crashes: (r.status === 0 || r.status === 2 ? 0 : 1) + (unaccounted > 0 ? 1 : 0),
    unaccounted,
    ruleBreakingOutputs: ruleBreaking,
    billableMinutesOut: minutes,
    topReasons: Object.fromEntries(Object.entries(reasons).sort((a, b) => b[1] - a[1]).slice(0, 8)),
    seconds: Math.round((performance.now() - started) / 100) / 10,
  });
  const f = all.at(-1)!;
  process.stdout.write(
    `${vendor.padEnd(22)} lines ${f.lines}  outputs ${f.outputs}  reports ${f.reports}  exit ${f.exit}  crashes ${f.crashes}  unaccounted ${f.unaccounted}  rule-breaking outputs ${f.ruleBreakingOutputs}  billable min ${f.billableMinutesOut}  (${f.seconds} s)\n`,
  );
  if (r.status !== 0 && r.status !== 2) process.stdout.write(`  stderr tail: ${r.stderr.slice(-600)}\n`);
}
process.stdout.write(`${JSON.stringify({ records, seed, vendors: all }, null, 2)}\n`);
process.exitCode = all.some((f) => f.crashes > 0 || f.ruleBreakingOutputs > 0) ? 1 : 0;
