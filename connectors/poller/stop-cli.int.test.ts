// Ctrl-C / SIGTERM on `cdrflow backfill` and `cdrflow poll --once` as a user sends it: a stop, not a failure. The
// command prints what it read so far and exits 130 / 143; the checkpoint keeps the windows read, and the same
// command run again resumes after them. Both used to exit 1 with only "The operation was aborted" (or the read's
// last network error).
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName, waitFor, testKafka } from '../../test/helpers.ts';
import { startCccSimulator, type CccSimulator } from '../../simulators/tencent-ccc/index.ts';
import { checkpointsOn, uniqueTopics } from './fixtures/kafka-check.ts';
import { REPO_ROOT } from '../../core/repo-root.ts';
import { ensureTopics } from '../../core/kafka.ts';
import { signalExit } from '../../core/exit-codes.ts';

let sim: CccSimulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

function cdrflow(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/cdrflow.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exit };
}

/** A CCC simulator slow enough to be interrupted, a config naming it, and topics of the test's own. */
async function setup(name: string, extraConfig = '') {
  sim = await startCccSimulator({ credentials: { AKIDstop: 'stop-key' }, sdkAppIds: [1400000001], seed: 41, lateFraction: 0 });
  sim.faults.delayMs = 40;
  const topics = uniqueTopics((p) => uniqueName(`cli_stop_${name}_${p}`));
  await ensureTopics(testKafka(), [{ topic: topics.raw }, { topic: topics.checkpoints, partitions: 1, compacted: true }]);
  const config = join(mkdtempSync(join(tmpdir(), 'cli-stop-')), 'ccc.yaml');
  writeFileSync(
    config,
    `connectors:\n  tencent-ccc:\n    secretId: AKIDstop\n    sdkAppIds: [1400000001]\n    endpoint: "${sim.connection.endpoint}"\n    protocol: http\n    connectAddress: 127.0.0.1\n${extraConfig}`,
  );
  const env = { ...process.env, TENCENT_CCC_SECRET_KEY: 'stop-key' };
  return { topics, config, env, common: ['--config', config, '--topic', topics.raw, '--checkpoint-topic', topics.checkpoints] };
}

describe('stopping a pull command with a signal', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`backfill: ${signal} prints the summary so far, exits ${signalExit(signal)}, and the same command resumes`, async () => {
      const { topics, env, common } = await setup(`bf_${signal}`);
      const to = Math.floor(Date.now() / 1000) - 86400;
      const from = to - 4 * 3600;
      sim!.dataset.generateRange(from, to, 400);
      const iso = (s: number) => new Date(s * 1000).toISOString();
      const args = ['backfill', 'tencent-ccc', ...common, '--tenant', '1400000001', '--from', iso(from), '--to', iso(to), '--window-sec', '60', '--json'];
      const first = cdrflow(args, env);
      // The first progress line comes after the first window is checkpointed.
      await waitFor(() => /backfill tencent-ccc 1400000001 \d+\/240 windows/.test(first.out.stderr), { timeoutMs: 60_000, message: 'the first progress line', details: () => first.out.stderr });
      first.child.kill(signal);
      expect(await first.exit, first.out.stderr).toBe(signalExit(signal));
      const stopped = JSON.parse(first.out.stdout.trim().split('\n').at(-1)!) as { windows: number; records: number; stoppedAt: string; stopped: string; complete: boolean };
      expect(stopped).toMatchObject({ stopped: signal, complete: false });
      expect(stopped.windows).toBeGreaterThan(0);
      expect(stopped.windows).toBeLessThan(240);
      expect(first.out.stderr).toMatch(
        new RegExp(`backfill tencent-ccc 1400000001 stopped: windows=${stopped.windows} pages=\\d+ records=[\\d,]+ .*run the same command again to resume from ${stopped.stoppedAt}`),
      );
      expect(first.out.stderr).toContain(`cdrflow backfill: stopped by ${signal}: run the same command again to resume from ${stopped.stoppedAt}\n`);
      expect(first.out.stderr).not.toContain('The operation was aborted');
      // The checkpoint is where the summary says the next run resumes.
      const cp = [...(await checkpointsOn(testKafka(), topics.checkpoints)).values()];
      expect(cp).toHaveLength(1);
      expect(cp[0]).toMatchObject({ watermark: stopped.stoppedAt, done: false });

      sim!.faults.delayMs = 0;
      const second = cdrflow(args, env);
      expect(await second.exit, second.out.stderr).toBe(0);
      const rest = JSON.parse(second.out.stdout.trim().split('\n').at(-1)!) as { windows: number; complete: boolean };
      expect(rest.complete).toBe(true);
      expect(rest.windows).toBe((to - Date.parse(stopped.stoppedAt) / 1000) / 60);
    });
  }

  it('poll --once: SIGTERM prints the counts so far as JSON and exits 143', async () => {
    // A day to catch up in 10-minute windows: long enough to be stopped half-way.
    const { topics, env, common } = await setup('poll', '    initialLookbackSec: 86400\n    maxWindowSec: 600\n');
    const now = Math.floor(Date.now() / 1000);
    sim!.dataset.generateRange(now - 86400, now - 600, 400);
    const run = cdrflow(['poll', 'tencent-ccc', '--once', ...common], env);
    // No progress output: the simulator has served a few pages, so windows are being read.
    await waitFor(() => sim!.stats.pagesServed >= 5, { timeoutMs: 60_000, message: 'poll --once to read 5 pages', details: () => run.out.stderr });
    run.child.kill('SIGTERM');
    expect(await run.exit, run.out.stderr).toBe(signalExit('SIGTERM'));
    const counts = JSON.parse(run.out.stdout.trim().split('\n').at(-1)!) as { vendor: string; windows: number; pages: number; stopped: string };
    expect(counts).toMatchObject({ vendor: 'tencent-ccc', stopped: 'SIGTERM' });
    expect(counts.pages).toBeGreaterThanOrEqual(5);
    expect(run.out.stderr).toContain('cdrflow poll: stopped by SIGTERM: the windows Kafka acknowledged are checkpointed');
    // What was checkpointed is what the counts say: the live checkpoint moved by that many windows of 600 s.
    const cps = await checkpointsOn(testKafka(), topics.checkpoints);
    const live = cps.get('tencent-ccc:1400000001:live');
    if (counts.windows === 0) expect(live).toBeUndefined();
    else expect(Date.parse(live!.watermark) / 1000).toBeLessThan(now - 600);
  });
});
