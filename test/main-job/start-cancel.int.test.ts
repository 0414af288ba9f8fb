// Ctrl-C while `cdrflow start` is still starting: it says so at once, starts nothing further (intake, which starts
// last, never starts: no push is acknowledged, no vendor polled), stops what had started, and exits 0. It used to
// finish starting first — the receiver listening and the pollers publishing — and only then stop.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers.ts';
import { freePort, startCli } from './cli.ts';

describe('cdrflow start stopped during start-up', () => {
  it('stops before intake starts and exits 0', async () => {
    const namespace = uniqueName('startcancel');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CDRFLOW_NAMESPACE: namespace,
      CDRFLOW_OPS_PORT: String(await freePort()),
      CLICKHOUSE_DATA_DIR: join(mkdtempSync(join(tmpdir(), 'cdrflow-start-cancel-')), 'ch'),
      CDRFLOW_LVMS_APPS: JSON.stringify([{ appKey: 'k', appSecret: 's' }]),
      CDRFLOW_RECEIVER_HOST: '127.0.0.1',
      CDRFLOW_RECEIVER_PORT: '0',
      TZ: 'UTC',
    };
    delete env['CLICKHOUSE_URL'];
    const job = startCli(['start'], env);
    try {
      // The sink starts first and the receiver last, after normalize's warm-up: asked to stop between the two.
      await waitFor(() => job.output().stdout.includes('"event":"sink.started"'), { timeoutMs: 60_000, message: 'the sink to start' });
      job.child.kill('SIGINT');
      const code = await job.exited;
      const { stderr } = job.output();
      const diagnostics = `exit ${String(code)}\n--- stderr ---\n${stderr}`;
      expect(code, diagnostics).toBe(0);
      expect(stderr, diagnostics).toContain('SIGINT: stopping start-up; what has started is stopped again and intake does not start');
      // Where the stop found start-up: before a component, or as one finished starting (normalize's warm-up, its
      // supervisor's start cut short by the stop, which then stops it at once).
      expect(stderr, diagnostics).toMatch(/stopped cleanly \(stopped during start-up, (before [a-z -]+|as [a-z-]+ started)\)/);
      expect(stderr, diagnostics).not.toContain('receiver listening on');
      // What had started is stopped again.
      expect(stderr, diagnostics).toContain('stopping sink');
      expect(stderr, diagnostics).not.toMatch(/running as PID/);
    } finally {
      job.child.kill('SIGKILL');
    }
  });
});
