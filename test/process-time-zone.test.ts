// The suite runs with TZ=UTC (vitest.config.ts), where reading a time in the process's zone and reading it in UTC agree;
// billing teams run cdrflow on machines in Asia/Shanghai (the vendors' zone) or elsewhere. test/zone-probe.ts computes
// every kind of time cdrflow handles; here it runs in children under other zones and must answer as under UTC.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../', import.meta.url));

function probe(timeZone: string): { offsetMin: number; out: unknown } {
  const r = spawnSync(process.execPath, ['bin/run-ts.mjs', 'test/zone-probe.ts'], { encoding: 'utf8', cwd: root, env: { ...process.env, TZ: timeZone }, timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { offsetMin: number; out: unknown };
}

describe('times on a machine outside UTC', () => {
  it('maps vendor times, signs TOP timestamps, buckets reconcile days and reads time flags as under UTC', () => {
    const utc = probe('UTC');
    expect(utc.offsetMin).toBe(0);
    // East of UTC without daylight saving, and west of it with a spring-forward hour among the probed times.
    for (const [timeZone, offsetMin] of [['Asia/Shanghai', -480], ['America/New_York', 300]] as const) {
      const local = probe(timeZone);
      expect(local.offsetMin, timeZone).toBe(offsetMin);
      expect(local.out, timeZone).toEqual(utc.out);
    }
  });
});
