// Tencent CCC connector end to end: simulator (in-process) → SDK-signed polling → real Kafka + schema registry.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName, waitFor, testKafka, testRegistry, testInfra } from '../../test/helpers.ts';
import { startCccSimulator, type CccSimulator } from '../../simulators/tencent-ccc/index.ts';
import { createCccConnector } from './index.ts';
import { envelopesOn, checkpointsOn, uniqueTopics, messageCount } from '../poller/fixtures/kafka-check.ts';
import { silentLog } from '../../core/log.ts';
import { CdrflowError } from '../../core/errors.ts';
import type { PullConnector } from '../poller/runtime.ts';
import { REPO_ROOT } from '../../core/repo-root.ts';
import { scanTopicToEnd } from '../../core/kafka.ts';
import type { DeadLetter } from '../../core/dead-letter.ts';
import { createHash } from 'node:crypto';

const APPS = [1400000001, 1400000002];
const CREDS = { AKIDint: 'int-secret' };
let sim: CccSimulator | undefined;
const connectors: PullConnector[] = [];
afterEach(async () => {
  for (const c of connectors.splice(0)) await c.close();
  await sim?.stop();
  sim = undefined;
});

function connector(s: CccSimulator, topics: ReturnType<typeof uniqueTopics>, overrides: Record<string, unknown> = {}, now?: () => number) {
  const c = createCccConnector(
    { secretId: 'AKIDint', secretKey: 'int-secret', sdkAppIds: APPS, ...s.connection, topics, initialLookbackSec: 8 * 3600, retry: { initialMs: 10, maxMs: 200, maxAttempts: 40 }, timeoutMs: 2000, ...overrides },
    { kafka: testKafka(), registry: testRegistry(), log: silentLog, ...(now ? { now } : {}) },
  );
  connectors.push(c);
  return c;
}

const visibleKeys = (s: CccSimulator, nowSec: number) => new Set(s.dataset.all().filter((r) => r.visibleAt <= nowSec).map((r) => r.sessionId));

describe('tencent-ccc connector (real Kafka)', () => {
  it('live: every served record reaches the raw topic once, with the envelope fields, and the checkpoint moves', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: APPS, seed: 11 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 7 * 3600, now - 2 * 3600, 1200);
    const topics = uniqueTopics((p) => uniqueName(`ccc_live_${p}`));
    const c = connector(sim, topics);
    await c.runOnce();
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(new Set(onTopic.keys())).toEqual(sim.stats.servedKeys);
    expect(onTopic.size).toBe(visibleKeys(sim, now).size);
    const e = [...onTopic.values()][0]!;
    expect(e).toMatchObject({ vendor: 'tencent-ccc', connector: 'tencent-ccc-poller', mode: 'live', payload_format: 'json' });
    expect(APPS.map(String)).toContain(e.tenant_id);
    expect(JSON.parse(e.payload).SessionId).toBe(e.natural_key);
    expect(e.attributes['window_end']).toBeDefined();
    const cps = await checkpointsOn(testKafka(), topics.checkpoints);
    for (const app of APPS) expect(Date.parse(cps.get(`tencent-ccc:${app}:live`)!.watermark)).toBeGreaterThan((now - 300) * 1000);
  });

  it('backfill: the whole range in mode backfill under its own checkpoint, resumable, live checkpoint untouched', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: APPS, seed: 12, lateFraction: 0 });
    const to = Math.floor(Date.now() / 1000) - 2 * 86400;
    const from = to - 6 * 3600;
    const records = sim.dataset.generateRange(from, to, 900).filter((r) => r.sdkAppId === APPS[0]);
    const topics = uniqueTopics((p) => uniqueName(`ccc_bf_${p}`));
    const devnull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const req = { tenant: String(APPS[0]), from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, progressStream: devnull };
    // First run interrupted after 2 windows (abort = crash without saving anything further).
    const ac = new AbortController();
    const first = connector(sim, topics);
    const aborted = first.backfill(req, ac.signal);
    await waitFor(() => first.metrics.counts.windows >= 2, { message: 'two backfill windows' });
    ac.abort();
    await expect(aborted).rejects.toBeDefined();
    const second = connector(sim, topics);
    const summary = await second.backfill(req);
    expect(summary.windows).toBeLessThan(6);
    expect(summary).toMatchObject({ complete: true, alreadyComplete: false, lostSeconds: 0 });
    expect(summary.unsettledFrom).toBeUndefined();
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(new Set(onTopic.keys())).toEqual(new Set(records.map((r) => r.sessionId)));
    expect([...onTopic.values()].every((e) => e.mode === 'backfill')).toBe(true);
    const cps = await checkpointsOn(testKafka(), topics.checkpoints);
    expect([...cps.keys()]).toEqual([`tencent-ccc:${APPS[0]}:backfill:${req.from.toISOString()}-${req.to.toISOString()}`]);
    expect(cps.values().next().value!['done']).toBe(true);
    // When the run read its first window: what the checkpoint covers had settled by then (a re-run trusts it).
    expect(Date.parse(String(cps.values().next().value!['polledAt']))).toBeGreaterThan((to + 120) * 1000);
  });

  it('a poller killed mid-window (SIGKILL) and restarted leaves no gap', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: APPS, seed: 13, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 7 * 3600, now - 2 * 3600, 2000);
    sim.faults.delayMs = 40; // slow vendor: the kill lands in the middle of a window
    const topics = uniqueTopics((p) => uniqueName(`ccc_kill_${p}`));
    const dir = mkdtempSync(join(tmpdir(), 'ccc-kill-'));
    const configFile = join(dir, 'ccc.json');
    writeFileSync(configFile, JSON.stringify({ connectors: { 'tencent-ccc': { secretId: 'AKIDint', secretKey: 'int-secret', sdkAppIds: APPS, ...sim.connection, topics, initialLookbackSec: 8 * 3600 } } }));
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/cdrflow.mjs'), 'poll', 'tencent-ccc', '--once', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Kill once it is well into the first tenant but nowhere near done (≈ 40 pages in all).
    await waitFor(() => sim!.stats.pagesServed >= 12, { timeoutMs: 60_000, message: `child to read 12 pages (stderr: ${stderr})` });
    child.kill('SIGKILL');
    await exited;
    const servedBeforeKill = sim.stats.servedKeys.size;
    expect(servedBeforeKill).toBeLessThan(4000);
    sim.faults.delayMs = 0;
    await connector(sim, topics).runOnce();
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(new Set(onTopic.keys())).toEqual(visibleKeys(sim, now));
  });

  it('rides out a 429 storm, 5xx bursts and a hung request', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: APPS, seed: 14, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 5 * 3600, now - 2 * 3600, 700);
    sim.faults.failNext(30, { type: 'vendor-error', code: 'RequestLimitExceeded', message: 'storm' });
    sim.faults.failNext(6, { type: 'http', status: 502 });
    sim.faults.failNext(1, { type: 'hang' });
    sim.faults.failNext(4, { type: 'vendor-error', code: 'InternalError', message: 'oops' });
    const topics = uniqueTopics((p) => uniqueName(`ccc_storm_${p}`));
    // All 41 faults hit the same first request back to back, so the per-request attempt budget must exceed that.
    const c = connector(sim, topics, { retry: { initialMs: 10, maxMs: 200, maxAttempts: 60 } });
    await c.runOnce();
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(onTopic.size).toBe(1400);
    expect(c.metrics.counts.apiErrors).toMatchObject({ RequestLimitExceeded: 30, 'http-502': 6, InternalError: 4, network: 1 });
  });

  it('keeps going when the vendor allows far fewer requests than configured (sustained 429s)', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: APPS, seed: 17, lateFraction: 0, rateLimitPerSecond: 4 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 5 * 3600, now - 2 * 3600, 400);
    const topics = uniqueTopics((p) => uniqueName(`ccc_429_${p}`));
    const c = connector(sim, topics, { requestsPerSecond: 20 });
    await c.runOnce();
    expect((await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw)).size).toBe(800);
    expect(sim.stats.errorCount('RequestLimitExceeded')).toBeGreaterThan(0);
    expect(c.metrics.counts.apiErrors['RequestLimitExceeded']).toBe(sim.stats.errorCount('RequestLimitExceeded'));
  });

  it('picks up a late record inside the lookback on the next cycle', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [APPS[0]!], seed: 15, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 4 * 3600, now - 3 * 3600, 100);
    const topics = uniqueTopics((p) => uniqueName(`ccc_late_${p}`));
    let aheadMs = 0;
    const c = connector(sim, topics, { sdkAppIds: [APPS[0]] }, () => Date.now() + aheadMs);
    await c.runOnce();
    const late = sim.dataset.addLate(APPS[0]!, now - 1500, now);
    aheadMs = 10 * 60_000;
    await c.runOnce();
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(onTopic.has(late.sessionId)).toBe(true);
    expect(onTopic.size).toBe(101);
  });

  it('live re-reads: each record reaches Kafka once over several cycles; a vendor correction once more', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: APPS, seed: 19, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    // Everything inside the re-read (lookback 3 h + maxCall 1 h): each cycle reads all of it again.
    const records = sim.dataset.generateRange(now - 4 * 3600 + 600, now - 2 * 3600, 300);
    const topics = uniqueTopics((p) => uniqueName(`ccc_reread_${p}`));
    let aheadMs = 0;
    const c = connector(sim, topics, { lookbackSec: 3 * 3600 }, () => Date.now() + aheadMs);
    await c.runOnce();
    aheadMs = 60_000;
    const second = await c.runOnce();
    expect(second.records).toBe(records.length);
    expect(second.published).toBe(0);
    expect(await messageCount(testKafka(), topics.raw)).toBe(records.length);
    const target = records[7]!;
    sim.dataset.amend(target.sessionId, { Remark: 'agent note added later' });
    aheadMs = 120_000;
    const third = await c.runOnce();
    expect(third.published).toBe(1);
    expect(await messageCount(testKafka(), topics.raw)).toBe(records.length + 1);
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(onTopic.size).toBe(records.length);
    expect(JSON.parse(onTopic.get(target.sessionId)!.payload).Remark).toBe('agent note added later');
    expect(c.metrics.counts.records).toBe(records.length + 1);
    expect(c.metrics.counts.unchanged).toBeGreaterThanOrEqual(2 * records.length - 1);
  });

  it('a record over the broker\'s message limit is dead-lettered (cut to fit) and the window still finishes', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [APPS[0]!], seed: 19, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const records = sim.dataset.generateRange(now - 4 * 3600, now - 3 * 3600, 30);
    // 2 MB: the broker (message.max.bytes 1 MiB) refused the page's whole send, on every retry and every cycle.
    records[5]!.record['Remark'] = 'x'.repeat(2_000_000);
    const bigKey = records[5]!.sessionId;
    const topics = uniqueTopics((p) => uniqueName(`ccc_huge_${p}`));
    const c = connector(sim, topics, { sdkAppIds: [APPS[0]] });
    await c.runOnce();
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(new Set(onTopic.keys())).toEqual(new Set(records.map((r) => r.sessionId).filter((k) => k !== bigKey)));
    const registry = testRegistry();
    const letters: DeadLetter[] = [];
    await scanTopicToEnd(testKafka(), topics.deadLetter, async (m) => void letters.push((await registry.decode(m.value!)) as DeadLetter));
    expect(letters).toHaveLength(1);
    const sent = Buffer.from(JSON.stringify(records[5]!.record));
    expect(letters[0]!.error_message).toMatch(new RegExp(`record is ${sent.length} bytes \\(limit 65536 per record\\).*original_value cut to its first 524288 of ${sent.length} bytes \\(sha256 ${createHash('sha256').update(sent).digest('hex')}\\)`));
    expect(Buffer.compare(letters[0]!.original_value!, sent.subarray(0, 524288))).toBe(0);
    expect(Date.parse((await checkpointsOn(testKafka(), topics.checkpoints)).get(`tencent-ccc:${APPS[0]}:live`)!.watermark)).toBeGreaterThan((now - 300) * 1000);
  });

  it('a page of large records (each under the record limit) is published whole: more than the broker takes in one batch per partition', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [APPS[0]!], seed: 23, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const records = sim.dataset.generateRange(now - 4 * 3600, now - 3 * 3600, 100);
    // 100 × 40 KB in one page: ~1.3 MB per partition of three, where the broker takes 1 MiB per record batch. The page
    // was refused whole (MESSAGE_TOO_LARGE) on every retry and the window never finished.
    for (const r of records) r.record['Remark'] = 'x'.repeat(40_000);
    const topics = uniqueTopics((p) => uniqueName(`ccc_bigpage_${p}`));
    const c = connector(sim, topics, { sdkAppIds: [APPS[0]] });
    await c.runOnce();
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(new Set(onTopic.keys())).toEqual(new Set(records.map((r) => r.sessionId)));
    expect(Date.parse((await checkpointsOn(testKafka(), topics.checkpoints)).get(`tencent-ccc:${APPS[0]}:live`)!.watermark)).toBeGreaterThan((now - 300) * 1000);
  });

  it('bad credentials stop the connector with a clear error and nothing is written', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: APPS, seed: 16 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 4 * 3600, now - 3 * 3600, 100);
    const topics = uniqueTopics((p) => uniqueName(`ccc_auth_${p}`));
    const c = connector(sim, topics, { secretKey: 'not-the-key' });
    const err = (await c.run(new AbortController().signal).catch((e: unknown) => e)) as CdrflowError;
    expect(err).toBeInstanceOf(CdrflowError);
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/AuthFailure\.SignatureFailure/);
    expect((await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw)).size).toBe(0);
    expect((await checkpointsOn(testKafka(), topics.checkpoints)).size).toBe(0);
  });

  it('`cdrflow poll` runs live until SIGTERM, then exits 0 with its checkpoint saved', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: APPS, seed: 18, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 5 * 3600, now - 3 * 3600, 300);
    const topics = uniqueTopics((p) => uniqueName(`ccc_sigterm_${p}`));
    const configFile = join(mkdtempSync(join(tmpdir(), 'ccc-term-')), 'ccc.json');
    writeFileSync(configFile, JSON.stringify({ connectors: { 'tencent-ccc': { secretId: 'AKIDint', secretKey: 'int-secret', sdkAppIds: APPS, ...sim.connection, topics, initialLookbackSec: 6 * 3600, pollIntervalSec: 1 } } }));
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/cdrflow.mjs'), 'poll', 'tencent-ccc', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Live: it keeps polling every second after catching up (more requests than the catch-up needed).
    await waitFor(async () => (await checkpointsOn(testKafka(), topics.checkpoints)).size === 2 && sim!.stats.requests > 20, { timeoutMs: 60_000, message: `live polling (stderr: ${stderr})` });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The JSON log is on stdout (one logger for every command), with the poller's component and a stable event id.
    expect(stdout).toMatch(/"component":"tencent-ccc-poller","event":"poller.window_done"/);
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(onTopic.size).toBe(600);
  });
});
