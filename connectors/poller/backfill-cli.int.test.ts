// `cdrflow backfill` as a user runs it: a child process against the in-process CCC simulator and the test Kafka;
// killed with SIGKILL half-way, run again, it continues from its checkpoint and prints a summary.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName, waitFor, testKafka, testInfra } from '../../test/helpers.ts';
import { startCccSimulator, type CccSimulator } from '../../simulators/tencent-ccc/index.ts';
import { envelopesOn, checkpointsOn, uniqueTopics } from './fixtures/kafka-check.ts';
import { REPO_ROOT } from '../../infra/local/paths.ts';

let sim: CccSimulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

function backfill(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/cdrflow.mjs'), 'backfill', 'tencent-ccc', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exit };
}

describe('cdrflow backfill tencent-ccc', () => {
  it('resumes after SIGKILL, never writes a live checkpoint, and prints a summary', async () => {
    sim = await startCccSimulator({ credentials: { AKIDcli: 'cli-key' }, sdkAppIds: [1400000001], seed: 31, lateFraction: 0 });
    const to = Math.floor(Date.now() / 1000) - 86400;
    const from = to - 8 * 3600;
    const records = sim.dataset.generateRange(from, to, 1600);
    sim.faults.delayMs = 30;
    const topics = uniqueTopics((p) => uniqueName(`cli_bf_${p}`));
    const config = join(mkdtempSync(join(tmpdir(), 'cli-bf-')), 'ccc.yaml');
    writeFileSync(config, `connectors:\n  tencent-ccc:\n    secretId: AKIDcli\n    sdkAppIds: [1400000001]\n    endpoint: "${sim.connection.endpoint}"\n    protocol: http\n    connectAddress: 127.0.0.1\n`);
    const args = ['--config', config, '--tenant', '1400000001', '--from', new Date(from * 1000).toISOString(), '--to', new Date(to * 1000).toISOString(), '--topic', topics.raw, '--checkpoint-topic', topics.checkpoints, '--json'];
    const env = { ...process.env, TENCENT_CCC_SECRET_KEY: 'cli-key' };
    const first = spawn(process.execPath, [join(REPO_ROOT, 'bin/cdrflow.mjs'), 'backfill', 'tencent-ccc', ...args], { stdio: 'ignore', env });
    const firstExit = new Promise((resolve) => first.on('exit', resolve));
    await waitFor(() => sim!.stats.pagesServed >= 7, { timeoutMs: 60_000, message: 'first backfill to read 7 pages' });
    first.kill('SIGKILL');
    await firstExit;
    const checkpointed = [...(await checkpointsOn(testKafka(), topics.checkpoints)).values()];
    expect(checkpointed).toHaveLength(1);
    const resumeAt = Date.parse(checkpointed[0]!.watermark) / 1000;
    expect(resumeAt).toBeGreaterThan(from);
    expect(resumeAt).toBeLessThan(to);
    sim.faults.delayMs = 0;
    const second = backfill(args, env);
    expect(await second.exit).toBe(0);
    const summary = JSON.parse(second.out.stdout.trim().split('\n').at(-1)!) as { windows: number; records: number };
    // Exactly the windows after the checkpoint were read again, not the whole range.
    expect(summary.windows).toBe(Math.ceil((to - resumeAt) / 3600));
    expect(second.out.stderr).toMatch(/backfill tencent-ccc 1400000001 done: windows=\d+ pages=\d+ records=[\d,]+ retries=\d+ records\/s=[\d,]+ elapsed=\d+s/);
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(new Set(onTopic.keys())).toEqual(new Set(records.map((r) => r.sessionId)));
    const cps = await checkpointsOn(testKafka(), topics.checkpoints);
    expect([...cps.keys()].every((k) => k.includes(':backfill:'))).toBe(true);
    expect([...cps.values()][0]!['done']).toBe(true);
  });

  it('refuses bad arguments with usage (exit 64) before touching anything', async () => {
    const run = backfill(['--tenant', '1', '--from', 'yesterday', '--to', '2026-01-01T00:00:00Z']);
    expect(await run.exit).toBe(64);
    expect(run.out.stderr).toMatch(/--from is not an ISO date-time/);
  });
});
