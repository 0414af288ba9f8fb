// Fuzz (b): `cdrflow normalize` as a child process, as a user runs it. Every non-blank input line is either an output
// line or a "line <n>: …" report, the exit status is 0 or 2 (never a crash), and every output passes the oracle.
// Seeds (test/fuzz/seeds.ts): CDRFLOW_FUZZ_CLI_SEED (16), CDRFLOW_FUZZ_CLI_COUNT (1), CDRFLOW_FUZZ_CLI_ONLY;
// CDRFLOW_FUZZ_CLI_RECORDS lines per seed and vendor.
import { describe, expect, it } from 'vitest';
import { VENDORS } from '../../core/topology.ts';
import { fuzzLines, tenantOption } from './generator.ts';
import { oracleProblems } from './oracle.ts';
import { runNormalizeCli } from './run-cli.ts';
import { campaignSeeds } from './seeds.ts';

const COUNT = Number(process.env.CDRFLOW_FUZZ_CLI_RECORDS ?? 150);
const { seeds } = campaignSeeds('CLI', 1, undefined, 16);

describe.each(VENDORS)('fuzz: cdrflow normalize --vendor %s', (vendor) => {
  it.each(seeds)(`seed %i: ${COUNT} mutated lines: outputs + reports = non-blank lines, exit 0 or 2, outputs pass the oracle`, { timeout: 120_000 }, (seed) => {
    const lines = [...fuzzLines(vendor, COUNT, seed)].map((f) => f.line);
    const r = runNormalizeCli(vendor, tenantOption(vendor), lines);
    expect([0, 2], r.stderr.slice(-2000)).toContain(r.status);
    expect(r.outputs.length + r.reports.length).toBe(r.lines);
    expect(new Set(r.reports.map((l) => l.split(':')[0])).size).toBe(r.reports.length);
    for (const cdr of r.outputs) expect(oracleProblems(cdr)).toEqual([]);
  });
});
