// Tencent RTC connector end to end: simulator (in-process) → UserSig polling → real Kafka + schema registry.
import { afterEach, describe, expect, it } from 'vitest';
import { uniqueName, testKafka, testRegistry, testInfra } from '../../test/helpers.ts';
import { startTrtcSimulator, type TrtcSimulator } from '../../simulators/tencent-trtc/index.ts';
import { createTrtcConnector } from './index.ts';
import { envelopesOn, checkpointsOn, uniqueTopics } from '../poller/fixtures/kafka-check.ts';
import { CdrflowError } from '../../core/errors.ts';
import type { PullConnector } from '../poller/runtime.ts';
import type { LogFn } from '../../core/log.ts';
import { CheckpointStore } from '../../core/checkpoints.ts';

const APPS = { 1600000001: 'key-one', 1600000002: 'key-two' };
const appList = Object.entries(APPS).map(([id, key]) => ({ sdkAppId: Number(id), secretKey: key }));
let sim: TrtcSimulator | undefined;
const connectors: PullConnector[] = [];
afterEach(async () => {
  for (const c of connectors.splice(0)) await c.close();
  await sim?.stop();
  sim = undefined;
});

function connector(s: TrtcSimulator, topics: ReturnType<typeof uniqueTopics>, overrides: Record<string, unknown> = {}, log: LogFn = () => undefined) {
  const c = createTrtcConnector(
    { baseUrl: s.url, apps: appList, topics, initialLookbackSec: 10 * 3600, retry: { initialMs: 10, maxMs: 200, maxAttempts: 30 }, timeoutMs: 2000, ...overrides },
    { kafka: testKafka(), registry: testRegistry(), log },
  );
  connectors.push(c);
  return c;
}

describe('tencent-trtc connector (real Kafka)', () => {
  it('live: every served call record of every app reaches the raw topic, retrying 5xx and unknown codes', async () => {
    sim = await startTrtcSimulator({ apps: APPS, seed: 21 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 9 * 3600, now - 3 * 3600, 800);
    sim.faults.failNext(3, { type: 'http', status: 502 });
    sim.faults.failNext(2, { type: 'vendor-error', code: 70500, message: 'internal error' });
    const topics = uniqueTopics((p) => uniqueName(`trtc_live_${p}`));
    const c = connector(sim, topics);
    await c.runOnce();
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(new Set(onTopic.keys())).toEqual(sim.stats.servedKeys);
    const visible = sim.dataset.all().filter((r) => r.visibleAt <= now).length;
    expect(onTopic.size).toBe(visible);
    const e = [...onTopic.values()][0]!;
    // v4 is the default API: PascalCase records, and the envelope says so (normalize and replays map by it).
    expect(e).toMatchObject({ vendor: 'tencent-trtc', connector: 'tencent-trtc-poller', mode: 'live', attributes: { api_version: 'v4' } });
    expect(JSON.parse(e.payload).CallId).toBe(e.natural_key);
    expect(Object.keys(APPS)).toContain(e.tenant_id);
    expect(c.metrics.counts.apiErrors).toMatchObject({ 'http-502': 3, '70500': 2 });
  });

  it('one connector, a v1 app and a v4 app: each polled through its API, each envelope naming it', async () => {
    sim = await startTrtcSimulator({ apps: APPS, seed: 25, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 5 * 3600, now - 3 * 3600, 120);
    const topics = uniqueTopics((p) => uniqueName(`trtc_mixed_${p}`));
    const c = connector(sim, topics, { apps: [{ ...appList[0], api: 'v1' }, { ...appList[1], api: 'v4' }] });
    await c.runOnce();
    const onTopic = [...(await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw)).values()];
    expect(onTopic).toHaveLength(sim.dataset.all().length);
    for (const e of onTopic) {
      const api = e.tenant_id === '1600000001' ? 'v1' : 'v4';
      expect(e.attributes['api_version']).toBe(api);
      expect(JSON.parse(e.payload)[api === 'v1' ? 'callId' : 'CallId']).toBe(e.natural_key);
    }
    expect(new Set(onTopic.map((e) => e.tenant_id))).toEqual(new Set(Object.keys(APPS)));
  });

  it('a checkpoint older than 7 days: starts at the horizon, logs the lost interval and counts it', async () => {
    sim = await startTrtcSimulator({ apps: { 1600000001: 'key-one' }, seed: 22, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const reachable = sim.dataset.generateRange(now - 7 * 86400 + 3600, now - 7 * 86400 + 3 * 3600, 150);
    const topics = uniqueTopics((p) => uniqueName(`trtc_gap_${p}`));
    // A poller that was down for 9 days.
    const store = new CheckpointStore(testKafka(), topics.checkpoints);
    await store.load();
    await store.save('tencent-trtc:1600000001:live', { watermark: new Date((now - 9 * 86400) * 1000).toISOString() });
    await store.close();
    const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const c = connector(sim, topics, { apps: [appList[0]], maxWindowSec: 6 * 3600 }, (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }));
    // One window is enough to see the gap handling; stop after it.
    const ac = new AbortController();
    const run = c.runOnce(ac.signal).catch((e: unknown) => e);
    const { waitFor } = await import('../../test/helpers.ts');
    await waitFor(() => c.metrics.counts.windows >= 1, { message: 'first TRTC window' });
    ac.abort();
    await run;
    const lost = logs.find((l) => l.level === 'error' && l.msg === 'poller.data_lost');
    expect(lost?.fields?.['lost_from']).toBe(new Date((now - 9 * 86400) * 1000).toISOString());
    expect(c.metrics.counts.gapSeconds).toBeGreaterThan(2 * 86400 - 600);
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    for (const r of reachable) expect(onTopic.has(r.callId)).toBe(true);
    const cp = (await checkpointsOn(testKafka(), topics.checkpoints)).get('tencent-trtc:1600000001:live')!;
    expect(cp['lostFrom']).toBeDefined();
  });

  it('backfill over the 7-day edge reports the unreadable part and reads the rest', async () => {
    sim = await startTrtcSimulator({ apps: { 1600000001: 'key-one' }, seed: 23, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const from = now - 7 * 86400 - 2 * 3600;
    const to = now - 7 * 86400 + 4 * 3600;
    const reachable = sim.dataset.generateRange(now - 7 * 86400 + 600, to, 300);
    const topics = uniqueTopics((p) => uniqueName(`trtc_bf_${p}`));
    const c = connector(sim, topics, { apps: [appList[0]] });
    const devnull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const summary = await c.backfill({ tenant: '1600000001', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, progressStream: devnull });
    expect(summary.lostSeconds).toBeGreaterThanOrEqual(2 * 3600);
    expect(summary).toMatchObject({ lostFrom: new Date(from * 1000).toISOString(), alreadyComplete: false, complete: true });
    expect(summary.summaryLine).toContain(`note=${summary.lostFrom} to ${summary.lostTo} is older than tencent-trtc keeps (7 days) and cannot be read`);
    expect(summary.summaryLine).not.toContain('already complete');
    const onTopic = await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw);
    expect(new Set(onTopic.keys())).toEqual(new Set(reachable.map((r) => r.callId)));
    expect([...onTopic.values()].every((e) => e.mode === 'backfill')).toBe(true);
    // The loss stays on the checkpoint: a re-run of the range reads nothing, and still says what could not be read.
    const cp = (await checkpointsOn(testKafka(), topics.checkpoints)).get(summary.checkpointId)!;
    expect(cp).toMatchObject({ done: true, lostFrom: summary.lostFrom, lostTo: summary.lostTo, lostSeconds: summary.lostSeconds });
    const again = await connector(sim, topics, { apps: [appList[0]] }).backfill({ tenant: '1600000001', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, progressStream: devnull });
    expect(again).toMatchObject({ windows: 0, alreadyComplete: true, lostSeconds: summary.lostSeconds });
    expect(again.summaryLine).toContain('note=already complete; ');
  });

  it('a wrong SDKSecretKey stops with a clear error and nothing is written', async () => {
    sim = await startTrtcSimulator({ apps: APPS, seed: 24 });
    const now = Math.floor(Date.now() / 1000);
    sim.dataset.generateRange(now - 5 * 3600, now - 3 * 3600, 50);
    const topics = uniqueTopics((p) => uniqueName(`trtc_auth_${p}`));
    const c = connector(sim, topics, { apps: [{ sdkAppId: 1600000001, secretKey: 'wrong' }] });
    const err = (await c.run(new AbortController().signal).catch((e: unknown) => e)) as CdrflowError;
    expect(err).toMatchObject({ kind: 'auth', code: '70009' });
    expect(err.message).toMatch(/SDKSecretKey/);
    expect((await envelopesOn(testKafka(), testInfra().schemaRegistryUrl, topics.raw)).size).toBe(0);
    expect(sim.stats.requests).toBe(1);
  });
});
