// `cdrflow normalize` as a child process, fed raw lines (bytes allowed), with its answer sorted into outputs and
// per-line reports. Shared by the CI fuzz test and the `npm run fuzz` campaign.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliRun {
  status: number | null;
  lines: number;
  outputs: Record<string, unknown>[];
  reports: string[];
  stderr: string;
}

/** Feeds `lines` to `cdrflow normalize --vendor` and sorts what came back. */
export function runNormalizeCli(vendor: string, tenant: string | null, lines: (string | Buffer)[], root: string = ROOT): CliRun {
  const input = Buffer.concat(lines.flatMap((l) => [Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from('\n')]));
  const args = [`${root.replace(/\/?$/, '/')}bin/cdrflow.mjs`, 'normalize', '--vendor', vendor, ...(tenant === null ? [] : ['--tenant', tenant])];
  const r = spawnSync(process.execPath, args, { input, cwd: root, maxBuffer: 1 << 30, timeout: 600_000, env: { ...process.env, TZ: 'UTC' } });
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
