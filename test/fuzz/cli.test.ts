// Fuzz (b): `cdrflow normalize` as a child process, as a user runs it. Every non-blank input line is either an output
// line or a "line <n>: …" report, the exit status is 0 or 2 (never a crash), and every output passes the oracle.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VENDORS } from '../../core/topology.ts';
import { fuzzLines, tenantOption } from './generator.ts';
import { oracleProblems } from './oracle.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COUNT = Number(process.env.CDRFLOW_FUZZ_CLI_RECORDS ?? 150);

export interface CliRun {
  status: number | null;
  lines: number;
  outputs: Record<string, unknown>[];
  reports: string[];
  stderr: string;
}

/** Feeds `lines` to `cdrflow normalize --vendor` and sorts what came back. */
export function runNormalizeCli(vendor: string, tenant: string | null, lines: (string | Buffer)[]): CliRun {
  const input = Buffer.concat(lines.flatMap((l) => [Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from('\n')]));
  const args = [`${ROOT}bin/cdrflow.mjs`, 'normalize', '--vendor', vendor, ...(tenant === null ? [] : ['--tenant', tenant])];
  const r = spawnSync(process.execPath, args, { input, cwd: ROOT, maxBuffer: 1 << 30, timeout: 600_000, env: { ...process.env, TZ: 'UTC' } });
  const stdout = r.stdout.toString('utf8');
  const stderr = r.stderr.toString('utf8');
  const nonBlank = lines.filter((l) => (Buffer.isBuffer(l) ? l.length > 0 && l.toString('utf8').trim() !== '' : l.trim() !== '')).length;
  return {
    status: r.status,
    lines: nonBlank,
    outputs: stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
    reports: stderr.split('\n').filter((l) => /^line \d+: /.test(l)),
    stderr,
  };
}

describe.each(VENDORS)('fuzz: cdrflow normalize --vendor %s', (vendor) => {
  it(`${COUNT} mutated lines: outputs + reports = non-blank lines, exit 0 or 2, outputs pass the oracle`, { timeout: 120_000 }, () => {
    const lines = [...fuzzLines(vendor, COUNT, 16)].map((f) => f.line);
    const r = runNormalizeCli(vendor, tenantOption(vendor), lines);
    expect([0, 2], r.stderr.slice(-2000)).toContain(r.status);
    expect(r.outputs.length + r.reports.length).toBe(r.lines);
    expect(new Set(r.reports.map((l) => l.split(':')[0])).size).toBe(r.reports.length);
    for (const cdr of r.outputs) expect(oracleProblems(cdr)).toEqual([]);
  });
});
