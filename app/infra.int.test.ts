// `cdrflow start` on the local stack holds a lease on it while it runs: `cdrflow infra down` (another shell, a script)
// stopped the broker and registry under a running job without a word, and the job then rode out an outage nobody meant.
import { describe, expect, it } from 'vitest';
import { down } from '../infra/local/stack.ts';
import { liveLeases } from '../infra/local/processes.ts';
import { stackPaths } from '../infra/local/paths.ts';
import { ensureLocalInfra } from './infra.ts';
import { loadAppConfig } from './config.ts';
import { testInfra } from '../test/helpers.ts';

const infra = testInfra();

describe.runIf(infra.mode === 'local')('the job on the local stack', () => {
  it('holds a lease on it while it runs, so infra down refuses to stop the servers under it; its stop releases it', async () => {
    const base = infra.portBase!;
    // No servers named: the job's local stack on the test run's port base, already running (reused, not started).
    const config = loadAppConfig({ env: { CDRFLOW_PORT_BASE: String(base) } });
    const leases = stackPaths(base).leasesDir;
    expect(liveLeases(leases)).not.toContain(process.pid);
    const local = await ensureLocalInfra(config, () => {});
    try {
      expect(local.started).toEqual([]);
      expect(liveLeases(leases)).toContain(process.pid);
      await expect(down(base)).rejects.toThrow(new RegExp(`process\\(es\\) .*\\b${process.pid}\\b.* are using this stack \\(a test run, or a running \`cdrflow start\`\\); stop them first, or pass --force`));
      // A second job of the same process (tests run several): the lease stays until the last of them stops.
      const second = await ensureLocalInfra(config, () => {});
      await second.stop(() => {});
      await second.stop(() => {});
      expect(liveLeases(leases)).toContain(process.pid);
    } finally {
      await local.stop(() => {});
    }
    expect(liveLeases(leases)).not.toContain(process.pid);
  });
});
