// `cdrflow backfill` as a user runs it: a child process against the in-process CCC/TRTC simulators and the test Kafka;
// killed with SIGKILL half-way, run again, it continues from its checkpoint and prints a summary. A range not over yet
// is read up to now - settleSec, kept open for maxCallSec before that (exit 75) and finished by the same command
// later; one older than TRTC keeps exits 2.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName, waitFor, testKafka, testInfra } from '../../test/helpers.ts';
import { startCccSimulator, type CccSimulator } from '../../simulators/tencent-ccc/index.ts';
import { startTrtcSimulator, type TrtcSimulator } from '../../simulators/tencent-trtc/index.ts';
import { envelopesOn, checkpointsOn, uniqueTopics } from './fixtures/kafka-check.ts';
import { REPO_ROOT } from '../../core/repo-root.ts';
import { ensureTopics, topicExists } from '../../core/kafka.ts';

/** --topic names a topic that must exist (backfill never creates one): the test's raw topic, created as a user would. */
// A --topic or --checkpoint-topic other than the configured one must exist (cli/pull-connector.ts checkTopicFlags).
const createRaw = (topics: { raw: string; checkpoints: string }) => ensureTopics(testKafka(), [{ topic: topics.raw }, { topic: topics.checkpoints, partitions: 1, compacted: true }]);

let sim: CccSimulator | undefined;
let trtc: TrtcSimulator | undefined;
afterEach(async () => {
  await sim?.stop();
  await trtc?.stop();
  sim = trtc = undefined;
});

function backfill(args: string[], env: NodeJS.ProcessEnv = process.env, vendor = 'tencent-ccc') {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/cdrflow.mjs'), 'backfill', vendor, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
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
    await createRaw(topics);
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

  it('a tenant the configuration does not name is a usage error (exit 64), not a failed run (it was exit 1)', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'cli-bf-')), 'ccc.yaml');
    writeFileSync(config, 'connectors:\n  tencent-ccc:\n    secretId: AKIDcli\n    sdkAppIds: [1400000001]\n    endpoint: "127.0.0.1:1"\n    protocol: http\n');
    const run = backfill(['--config', config, '--tenant', '1400000999', '--from', '2026-11-01T00:00:00Z', '--to', '2026-11-01T01:00:00Z'], { ...process.env, TENCENT_CCC_SECRET_KEY: 'cli-key' });
    expect(await run.exit).toBe(64);
    expect(run.out.stderr).toContain('--tenant "1400000999" is not configured for tencent-ccc (configured: 1400000001)');
  });

  it('the vendor API away for longer than the retries: one line, exit 69, and the same command resumes', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'cli-bf-')), 'ccc.yaml');
    writeFileSync(config, 'connectors:\n  tencent-ccc:\n    secretId: AKIDcli\n    sdkAppIds: [1400000001]\n    endpoint: "127.0.0.1:1"\n    protocol: http\n    retry:\n      initialMs: 10\n      maxMs: 20\n      maxAttempts: 2\n');
    const run = backfill(['--config', config, '--tenant', '1400000001', '--from', '2026-11-01T00:00:00Z', '--to', '2026-11-01T01:00:00Z'], { ...process.env, TENCENT_CCC_SECRET_KEY: 'cli-key' });
    expect(await run.exit).toBe(69);
    const lines = run.out.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^cdrflow backfill: DescribeProtectedTelCdr SdkAppId=1400000001 \[\d+,\d+\] page 0 \(100 records a page\): .*ECONNREFUSED.*: still failing after the connector's retries; run the same command again to resume \(the windows read are checkpointed\)$/);
  });

  it('a range not over yet: reads up to now - settleSec (exit 75), and the same command run later reads the rest', async () => {
    sim = await startCccSimulator({ credentials: { AKIDcli: 'cli-key' }, sdkAppIds: [1400000001], seed: 32, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const from = now - 3600;
    const to = now + 4;
    sim.dataset.generateRange(from, now - 1800, 40);
    const topics = uniqueTopics((p) => uniqueName(`cli_bf_unsettled_${p}`));
    await createRaw(topics);
    const config = join(mkdtempSync(join(tmpdir(), 'cli-bf-')), 'ccc.yaml');
    writeFileSync(config, `connectors:\n  tencent-ccc:\n    secretId: AKIDcli\n    sdkAppIds: [1400000001]\n    endpoint: "${sim.connection.endpoint}"\n    protocol: http\n    connectAddress: 127.0.0.1\n    settleSec: 2\n    maxCallSec: 5\n    lookbackSec: 0\n`);
    const iso = (s: number) => new Date(s * 1000).toISOString();
    const args = ['--config', config, '--tenant', '1400000001', '--from', iso(from), '--to', iso(to), '--window-sec', '900', '--topic', topics.raw, '--checkpoint-topic', topics.checkpoints, '--json'];
    const env = { ...process.env, TENCENT_CCC_SECRET_KEY: 'cli-key' };

    const first = backfill(args, env);
    expect(await first.exit, first.out.stderr).toBe(75);
    const firstSummary = JSON.parse(first.out.stdout.trim().split('\n').at(-1)!) as { unsettledFrom: string; retryAfter: string; complete: boolean };
    expect(firstSummary.complete).toBe(false);
    // The range stays open for settleSec + maxCallSec after its end: a call that started in it may still be running.
    expect(firstSummary.retryAfter).toBe(iso(to + 2 + 5));
    expect(Date.parse(firstSummary.unsettledFrom)).toBeLessThan(to * 1000);
    expect(first.out.stderr).toContain(`unsettled_from=${firstSummary.unsettledFrom} note=run again after ${iso(to + 2 + 5)} for the rest`);
    expect(first.out.stderr).not.toContain('already complete');
    const cp = [...(await checkpointsOn(testKafka(), topics.checkpoints)).values()][0]!;
    // Read up to now - settleSec; open from maxCallSec before that.
    expect(cp).toMatchObject({ done: false });
    expect(Date.parse(cp.watermark) - Date.parse(firstSummary.unsettledFrom)).toBe(5000);

    // A call at the end of the range the vendor serves only after the first run: the old code had marked the range done.
    const late = sim.dataset.addLate(1400000001, to - 1, to);
    await waitFor(() => Date.now() >= (to + 8) * 1000, { timeoutMs: 25_000, message: 'the range to settle' });
    const second = backfill(args, env);
    expect(await second.exit, second.out.stderr).toBe(0);
    const secondSummary = JSON.parse(second.out.stdout.trim().split('\n').at(-1)!) as { windows: number; complete: boolean; alreadyComplete: boolean };
    expect(secondSummary).toMatchObject({ complete: true, alreadyComplete: false });
    expect(secondSummary.windows).toBeGreaterThan(0);
    expect(second.out.stderr).not.toMatch(/already complete|unsettled_from/);
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(onTopic.has(late.sessionId)).toBe(true);
    expect(new Set(onTopic.keys())).toEqual(sim.stats.servedKeys);

    const third = backfill(args, env);
    expect(await third.exit).toBe(0);
    expect(third.out.stderr).toMatch(/done: windows=0 .*note=already complete/);
  });

  it('a --topic that does not exist, or is another vendor\'s raw topic, is refused (exit 64) and not created (it was created and filled)', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'cli-bf-')), 'ccc.yaml');
    // The vendor on a closed port: the refusal comes before the first request.
    writeFileSync(config, 'connectors:\n  tencent-ccc:\n    secretId: AKIDcli\n    sdkAppIds: [1400000001]\n    endpoint: "127.0.0.1:1"\n    protocol: http\n');
    const env = { ...process.env, TENCENT_CCC_SECRET_KEY: 'cli-key' };
    const range = ['--config', config, '--tenant', '1400000001', '--from', '2026-11-01T00:00:00Z', '--to', '2026-11-01T01:00:00Z'];
    const typo = uniqueName('cli_bf_typo');
    const missing = backfill([...range, '--topic', typo], env);
    expect(await missing.exit, missing.out.stderr).toBe(64);
    expect(missing.out.stderr).toBe(`cdrflow backfill: --topic "${typo}" does not exist; the pipeline reads cdr.raw.tencent-ccc for tencent-ccc (leave --topic out to publish there)\n`);
    expect(await topicExists(testKafka(), typo)).toBe(false);
    const other = backfill([...range, '--topic', 'cdr.raw.tencent-trtc'], env);
    expect(await other.exit, other.out.stderr).toBe(64);
    expect(other.out.stderr).toMatch(/^cdrflow backfill: --topic "cdr\.raw\.tencent-trtc" is the raw topic of tencent-trtc: tencent-ccc records there would be normalized, but reconcile would not find them under tencent-ccc; the pipeline reads cdr\.raw\.tencent-ccc for tencent-ccc \(leave --topic out to publish there\)\n$/);
    // The same for the checkpoints: under a typo the backfill would have read every window again, into a new topic.
    const typoCheckpoints = uniqueName('cli_bf_cp_typo');
    const noCheckpoints = backfill([...range, '--checkpoint-topic', typoCheckpoints], env);
    expect(await noCheckpoints.exit, noCheckpoints.out.stderr).toBe(64);
    expect(noCheckpoints.out.stderr).toBe(
      `cdrflow backfill: --checkpoint-topic "${typoCheckpoints}" does not exist; under a new name the connector would start over without its checkpoints; the configured checkpoint topic is cdrflow.checkpoints (leave --checkpoint-topic out to use it)\n`,
    );
    expect(await topicExists(testKafka(), typoCheckpoints)).toBe(false);
  });

  it('a range that starts after now - settleSec: one line, exit 64, nothing connected', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'cli-bf-')), 'ccc.yaml');
    writeFileSync(config, `connectors:\n  tencent-ccc:\n    secretId: AKIDcli\n    sdkAppIds: [1400000001]\n    endpoint: "127.0.0.1:1"\n    protocol: http\n`);
    const from = new Date(Date.now() + 3600_000);
    const to = new Date(from.getTime() + 3600_000);
    // Kafka on a closed port: the refusal comes before Kafka is asked (otherwise exit 69).
    const env = { ...process.env, TENCENT_CCC_SECRET_KEY: 'cli-key', KAFKA_BROKERS: '127.0.0.1:1' };
    const run = backfill(['--config', config, '--tenant', '1400000001', '--from', from.toISOString(), '--to', to.toISOString()], env);
    expect(await run.exit, run.out.stderr).toBe(64);
    const lines = run.out.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^cdrflow backfill: --from \S+ has not settled yet: the vendor's records are read only up to now - 120 s \(settleSec\), \S+Z at the moment; give an earlier --from, or run after \S+Z$/);
  });

  it('tencent-trtc, a range older than the vendor keeps: exit 2 and a note that it cannot be read, on every run', async () => {
    trtc = await startTrtcSimulator({ apps: { 1600000001: 'key-one' }, seed: 33, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const from = now - 8 * 86400;
    const to = from + 7200;
    trtc.dataset.generateRange(from, to, 20); // purged by the vendor
    const topics = uniqueTopics((p) => uniqueName(`cli_bf_lost_${p}`));
    await createRaw(topics);
    const iso = (s: number) => new Date(s * 1000).toISOString();
    const args = ['--tenant', '1600000001', '--from', iso(from), '--to', iso(to), '--base-url', trtc.url, '--topic', topics.raw, '--checkpoint-topic', topics.checkpoints];
    const env = { ...process.env, TENCENT_TRTC_APPS: '1600000001:key-one' };
    const first = backfill(args, env, 'tencent-trtc');
    expect(await first.exit, first.out.stderr).toBe(2);
    expect(first.out.stderr).toContain('"poller.data_lost"');
    expect(first.out.stderr).toContain(`backfill tencent-trtc 1600000001 done: windows=0 pages=0 records=0 retries=0 records/s=0 lost_seconds=7,200 note=${iso(from)} to ${iso(to)} is older than tencent-trtc keeps (7 days) and cannot be read`);
    expect(first.out.stderr).not.toContain('already complete');
    const again = backfill(args, env, 'tencent-trtc');
    expect(await again.exit).toBe(2);
    expect(again.out.stderr).toContain(`note=already complete; ${iso(from)} to ${iso(to)} is older than tencent-trtc keeps (7 days) and cannot be read`);
    expect(again.out.stderr).not.toContain('"poller.data_lost"');
    expect(trtc.stats.requests).toBe(0);
  });
});
