// The shared poll machinery against the CCC and TRTC simulators (loopback HTTP) with in-memory Kafka stand-ins:
// windows, paging, retries, page shrinking, late records, re-reads without republishing, gaps and stop conditions.
import { afterEach, describe, expect, it } from 'vitest';
import { startCccSimulator, type CccSimulator } from '../../simulators/tencent-ccc/index.ts';
import { startTrtcSimulator, type TrtcSimulator } from '../../simulators/tencent-trtc/index.ts';
import { cccConfigSchema, createCccSource } from '../tencent-ccc/index.ts';
import { trtcConfigSchema, createTrtcSource } from '../tencent-trtc/index.ts';
import { TokenBucket } from '../../core/token-bucket.ts';
import { CdrflowError } from '../../core/errors.ts';
import { PollerMetrics } from './metrics.ts';
import { LivePoller, type CycleOutcome } from './live.ts';
import { runBackfill } from './backfill.ts';
import { readWindow } from './reader.ts';
import { silentLog, type LogFn } from '../../core/log.ts';
import type { PullSource } from './source.ts';
import { MemoryCheckpoints, MemorySink } from './fixtures/memory.ts';

const APP = 1400000001;
let ccc: CccSimulator | undefined;
let trtc: TrtcSimulator | undefined;
afterEach(async () => {
  await ccc?.stop();
  await trtc?.stop();
  ccc = trtc = undefined;
});

function harness(source: PullSource, settings: { retry?: { maxAttempts: number }; rps?: number; log?: LogFn } = {}) {
  const sink = new MemorySink();
  const store = new MemoryCheckpoints();
  const metrics = new PollerMetrics(source.connector);
  const ctx = {
    source,
    sink,
    bucket: new TokenBucket({ ratePerSecond: settings.rps ?? 1000 }),
    metrics,
    log: settings.log ?? silentLog,
    topics: { raw: 'raw', deadLetter: 'dlq' },
    retry: { initialMs: 5, maxMs: 50, maxAttempts: settings.retry?.maxAttempts ?? 50 },
    now: Date.now,
  };
  return { sink, store, metrics, ctx };
}

/** A CCC source of one tenant that serves no record and notes each window it is asked for. */
function emptySource(): { asked: { start: number; end: number }[]; source: PullSource } {
  const asked: { start: number; end: number }[] = [];
  const source: PullSource = {
    vendor: 'tencent-ccc',
    connector: 'tencent-ccc-poller',
    tenants: [String(APP)],
    firstPage: 0,
    pageSize: 100,
    fetchPage: async (_tenant, window) => (asked.push(window), { total: 0, records: [], requestId: null }),
    naturalKey: () => undefined,
  };
  return { asked, source };
}

const liveSettings = { lookbackSec: 1800, maxCallSec: 3600, settleSec: 120, maxWindowSec: 3600, initialLookbackSec: 6 * 3600, pollIntervalSec: 1 };

async function cccSource(sim: CccSimulator, overrides: Record<string, unknown> = {}) {
  return createCccSource(cccConfigSchema.parse({ secretId: 'AKIDsim', secretKey: 'sim-key', sdkAppIds: [APP], ...sim.connection, ...overrides }));
}

describe('live polling (CCC)', () => {
  it('reports how each live cycle ended: a failed one (Kafka away, retried next cycle), then one that caught up', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed: 4 });
    const now = Math.floor(Date.now() / 1000);
    ccc.dataset.generateRange(now - 3 * 3600, now - 300, 200);
    const h = harness(await cccSource(ccc), { retry: { maxAttempts: 1 } });
    h.sink.failNext = 1;
    const poller = new LivePoller(h.ctx, h.store, liveSettings);
    const outcomes: CycleOutcome[] = [];
    const stop = new AbortController();
    await poller.run(stop.signal, (o) => {
      outcomes.push(o);
      if (o.ok) stop.abort();
    });
    expect(outcomes[0]).toMatchObject({ ok: false, code: expect.any(String) });
    expect(outcomes.at(-1)).toEqual({ ok: true });
    expect(h.sink.keys()).toEqual(ccc.stats.servedKeys);
  });

  it('publishes every served record once per window, keyed by SessionId, and moves the checkpoint', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed: 3 });
    const now = Math.floor(Date.now() / 1000);
    ccc.dataset.generateRange(now - 5 * 3600, now - 300, 1500);
    const h = harness(await cccSource(ccc));
    const poller = new LivePoller(h.ctx, h.store, liveSettings);
    const result = await poller.runOnce();
    expect(result.windows).toBeGreaterThanOrEqual(6);
    expect(h.sink.keys()).toEqual(ccc.stats.servedKeys);
    const e = h.sink.envelopes[0]!;
    expect(e).toMatchObject({ vendor: 'tencent-ccc', tenant_id: String(APP), connector: 'tencent-ccc-poller', mode: 'live' });
    expect(JSON.parse(e.payload).SessionId).toBe(e.natural_key);
    expect(e.attributes['window_start']).toMatch(/Z$/);
    expect(e.request_id).toBeTruthy();
    const cp = h.store.get(`tencent-ccc:${APP}:live`)!;
    expect(Date.parse(cp.watermark) / 1000).toBeGreaterThanOrEqual(now - 120);
    expect(Date.parse(cp.watermark) / 1000).toBeLessThan(now - 110);
    // every record that is visible by now was served: nothing in the range is missing
    const visible = ccc.dataset.all().filter((r) => r.visibleAt <= now && r.startTimestamp <= now - 120).map((r) => r.sessionId);
    for (const k of visible) expect(h.sink.keys().has(k)).toBe(true);
  });

  it('rides out a 429 storm and 5xx bursts without losing a record', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed: 4, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const records = ccc.dataset.generateRange(now - 5 * 3600, now - 2 * 3600, 900);
    ccc.faults.failNext(15, { type: 'vendor-error', code: 'RequestLimitExceeded', message: 'storm' });
    ccc.faults.failNext(4, { type: 'http', status: 503 });
    ccc.faults.failNext(3, { type: 'vendor-error', code: 'InternalError', message: 'oops' });
    const h = harness(await cccSource(ccc));
    await new LivePoller(h.ctx, h.store, liveSettings).runOnce();
    expect(h.sink.keys().size).toBe(records.length);
    expect(h.metrics.counts.retries).toBeGreaterThanOrEqual(22);
    expect(h.metrics.counts.apiErrors['RequestLimitExceeded']).toBe(15);
    expect(h.metrics.counts.apiErrors['http-503']).toBe(4);
  });

  it('halves the page on ResponseSizeLimitExceeded and keeps the offsets aligned', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed: 5, lateFraction: 0, responseSizeLimitRecords: 25 });
    const now = Math.floor(Date.now() / 1000);
    const records = ccc.dataset.generateRange(now - 3 * 3600, now - 2 * 3600, 333);
    const h = harness(await cccSource(ccc));
    await new LivePoller(h.ctx, h.store, liveSettings).runOnce();
    expect(h.sink.keys().size).toBe(records.length);
    expect(h.sink.envelopes.at(-1)!.attributes['page_size']).toBe('25');
  });

  it('a page size with no divisor but 1 (29) that is too large halves at the start of a read, not down to 1 record a page', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed: 5, lateFraction: 0, responseSizeLimitRecords: 20 });
    const now = Math.floor(Date.now() / 1000);
    const records = ccc.dataset.generateRange(now - 3 * 3600, now - 2 * 3600, 333);
    const h = harness(await cccSource(ccc, { pageSize: 29 }));
    await new LivePoller(h.ctx, h.store, liveSettings).runOnce();
    expect(h.sink.keys().size).toBe(records.length);
    expect(h.sink.envelopes.at(-1)!.attributes['page_size']).toBe('15');
    expect(h.metrics.counts.pages).toBeLessThan(records.length / 10);
  });

  it('picks up late records inside the lookback on the next cycle', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed: 6, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    ccc.dataset.generateRange(now - 4 * 3600, now - 3 * 3600, 200);
    const h = harness(await cccSource(ccc));
    // The poller's clock runs 10 minutes ahead for the second cycle; the simulator (and TC3 signing) stay on real time.
    let offsetMs = 0;
    h.ctx.now = () => Date.now() + offsetMs;
    const poller = new LivePoller(h.ctx, h.store, liveSettings);
    await poller.runOnce();
    const before = h.sink.keys().size;
    expect(before).toBe(200);
    // A call that started inside the already-polled window shows up only now.
    const late = ccc.dataset.addLate(APP, now - 1200, now);
    offsetMs = 600_000;
    await poller.runOnce();
    expect(h.sink.keys().has(late.sessionId)).toBe(true);
    expect(h.sink.keys().size).toBe(before + 1);
  });

  it('stops on bad credentials with a clear error and writes nothing', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP] });
    const now = Math.floor(Date.now() / 1000);
    ccc.dataset.generateRange(now - 3600, now - 600, 50);
    const h = harness(await cccSource(ccc, { secretKey: 'wrong' }));
    const err = await new LivePoller(h.ctx, h.store, liveSettings).run(new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('auth');
    expect((err as CdrflowError).message).toMatch(/AuthFailure\.SignatureFailure/);
    expect(h.sink.envelopes).toHaveLength(0);
    expect(h.store.values.size).toBe(0);
    // it stopped after one attempt: no retry loop on auth errors
    expect(ccc.stats.requests).toBe(1);
  });

  it('does not move the checkpoint when Kafka does not acknowledge', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    ccc.dataset.generateRange(now - 3000, now - 600, 50);
    const h = harness(await cccSource(ccc), { retry: { maxAttempts: 2 } });
    h.sink.failNext = 10;
    await expect(new LivePoller(h.ctx, h.store, liveSettings).runOnce()).rejects.toThrow(/Kafka did not acknowledge/);
    expect(h.store.values.size).toBe(0);
  });

  it('dead-letters a record without a SessionId instead of dropping it', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    // Not the first record: that one sits exactly on a window boundary and is (correctly) read by both windows.
    const bad = ccc.dataset.generateRange(now - 3 * 3600, now - 2 * 3600, 20)[5];
    bad!.record['SessionId'] = '';
    const h = harness(await cccSource(ccc));
    await new LivePoller(h.ctx, h.store, liveSettings).runOnce();
    expect(h.sink.keys().size).toBe(19);
    expect(h.sink.deadLetters).toHaveLength(1);
    expect(h.sink.deadLetters[0]!.error_message).toMatch(/without a natural key/);
  });
});

describe('live re-reads publish only new or changed records', () => {
  async function twoHoursOfCalls(seed: number, settings: Parameters<typeof harness>[1] = {}) {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    // Two hours of calls, all ended and visible by now, all inside the live re-read (lookback 3 h + maxCall 1 h).
    const records = ccc.dataset.generateRange(now - 4 * 3600 + 600, now - 2 * 3600, 400);
    const h = harness(await cccSource(ccc), settings);
    // The poller's clock can be moved ahead for later cycles; the simulator (and TC3 signing) stay on real time.
    const clock = { aheadMs: 0 };
    h.ctx.now = () => Date.now() + clock.aheadMs;
    expect(records.every((r) => r.visibleAt < now)).toBe(true);
    return { records, h, clock, keys: new Set(records.map((r) => r.sessionId)) };
  }

  const settings = { ...liveSettings, lookbackSec: 3 * 3600 };

  it('dead-letters a keyless record once, not again on every re-read', async () => {
    const { records, h, clock } = await twoHoursOfCalls(37);
    records[7]!.record['SessionId'] = '';
    const poller = new LivePoller(h.ctx, h.store, settings);
    await poller.runOnce();
    expect(h.sink.deadLetters).toHaveLength(1);
    clock.aheadMs = 60_000;
    const second = await poller.runOnce();
    expect(second.records).toBe(records.length - 1); // the re-read covered the data again
    expect(h.sink.deadLetters).toHaveLength(1);
    expect(h.sink.envelopes).toHaveLength(records.length - 1);
  });

  it('two live cycles over the same data publish each record once (and without the cache, many times)', async () => {
    const { records, h, clock, keys } = await twoHoursOfCalls(31);
    const poller = new LivePoller(h.ctx, h.store, settings);
    const first = await poller.runOnce();
    // The first catch-up already re-reads (its later windows reach back 4 h; window edges overlap by a second).
    expect(h.sink.envelopes).toHaveLength(records.length);
    expect(h.sink.keys()).toEqual(keys);
    expect(first.published).toBe(records.length);
    expect(first.unchanged).toBeGreaterThan(0);
    clock.aheadMs = 60_000;
    const second = await poller.runOnce();
    expect(second.windows).toBe(1);
    expect(second.records).toBe(records.length); // the re-read really covered all the data again
    expect(second.published).toBe(0);
    expect(second.unchanged).toBe(second.records);
    expect(h.sink.envelopes).toHaveLength(records.length);
    expect(h.metrics.counts.unchanged).toBe(first.unchanged + second.unchanged);
    expect(h.metrics.counts.records).toBe(records.length);
    expect(poller.recentKeys!.size).toBe(records.length);

    // The same two cycles with the cache turned off: every re-read is published again.
    const off = harness(h.ctx.source);
    off.ctx.now = h.ctx.now;
    clock.aheadMs = 0;
    const uncached = new LivePoller(off.ctx, off.store, { ...settings, recentKeysMaxEntries: 0 });
    await uncached.runOnce();
    clock.aheadMs = 60_000;
    await uncached.runOnce();
    expect(uncached.recentKeys).toBeUndefined();
    expect(off.sink.keys()).toEqual(keys);
    expect(off.sink.envelopes.length).toBeGreaterThan(records.length * 3);
    expect(off.metrics.counts.unchanged).toBe(0);
  });

  it('publishes a record again when the vendor changes its content, once', async () => {
    const { records, h, clock } = await twoHoursOfCalls(32);
    const poller = new LivePoller(h.ctx, h.store, settings);
    await poller.runOnce();
    const target = records[records.length - 10]!;
    const remark = `corrected ${Date.now()}`;
    ccc!.dataset.amend(target.sessionId, { Remark: remark, AsrStatus: 'Complete' });
    clock.aheadMs = 60_000;
    const second = await poller.runOnce();
    expect(second.published).toBe(1);
    const last = h.sink.envelopes.at(-1)!;
    expect(last.natural_key).toBe(target.sessionId);
    expect(JSON.parse(last.payload)).toMatchObject({ SessionId: target.sessionId, Remark: remark, AsrStatus: 'Complete' });
    expect(h.sink.envelopes).toHaveLength(records.length + 1);
    clock.aheadMs = 120_000;
    expect((await poller.runOnce()).published).toBe(0);
    expect(h.sink.envelopes).toHaveLength(records.length + 1);
  });

  it('a page Kafka did not acknowledge stays out of the cache and is published by the next cycle', async () => {
    const { records, h, clock, keys } = await twoHoursOfCalls(33, { retry: { maxAttempts: 3 }, rps: 10 }); // few Kafka retries; no 429s
    const victim = records[Math.floor(records.length / 2)]!;
    h.sink.failWhen = (envelopes) => envelopes.some((e) => e.natural_key === victim.sessionId);
    const poller = new LivePoller(h.ctx, h.store, settings);
    await expect(poller.runOnce()).rejects.toThrow(/Kafka did not acknowledge/);
    expect(h.sink.keys().has(victim.sessionId)).toBe(false);
    expect(h.sink.envelopes.length).toBeGreaterThan(0);
    const windowsSaved = h.store.history.length;
    h.sink.failWhen = undefined;
    clock.aheadMs = 60_000;
    const retried = await poller.runOnce();
    expect(h.store.history.length).toBeGreaterThan(windowsSaved);
    // Nothing lost, and what Kafka acknowledged before the failure was not published again.
    expect(h.sink.keys()).toEqual(keys);
    expect(h.sink.envelopes).toHaveLength(records.length);
    expect(retried.unchanged).toBeGreaterThan(0);
  });

  it('backfill publishes everything it reads, even what live already published', async () => {
    const { records, h } = await twoHoursOfCalls(34);
    await new LivePoller(h.ctx, h.store, settings).runOnce();
    const now = Math.floor(Date.now() / 1000);
    const devnull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const req = { tenant: String(APP), from: new Date((now - 5 * 3600) * 1000), to: new Date(now * 1000), windowSec: 5 * 3600, progressStream: devnull };
    const summary = await runBackfill({ ...h.ctx, signal: new AbortController().signal }, h.store, req);
    expect(summary.records).toBe(records.length);
    expect(h.sink.envelopes.filter((e) => e.mode === 'backfill')).toHaveLength(records.length);
  });
});

describe('TRTC polling', () => {
  const KEY = 'trtc-key';
  const TAPP = 1600000001;

  it('reads all pages, and reports a checkpoint older than 7 days as a counted, logged gap', async () => {
    trtc = await startTrtcSimulator({ apps: { [TAPP]: KEY }, seed: 9, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const inRange = trtc.dataset.generateRange(now - 6 * 86400, now - 6 * 86400 + 1800, 250);
    trtc.dataset.generateRange(now - 9 * 86400, now - 8 * 86400, 20); // purged by the vendor
    const source = createTrtcSource(trtcConfigSchema.parse({ baseUrl: trtc.url, apps: [{ sdkAppId: TAPP, secretKey: KEY }] }));
    const logs: { level: string; msg: string }[] = [];
    const h = harness(source, { log: (level, msg) => logs.push({ level, msg }) });
    await h.store.save(`tencent-trtc:${TAPP}:live`, { watermark: new Date((now - 8 * 86400) * 1000).toISOString() });
    // Only the first day after the horizon, to keep the test short: a backfill-sized live catch-up.
    const poller = new LivePoller(h.ctx, h.store, { ...liveSettings, maxWindowSec: 86400, maxCallSec: 7200 });
    await poller.runOnce();
    expect(h.metrics.counts.gapSeconds).toBeGreaterThanOrEqual(86400 - 300);
    expect(logs.some((l) => l.level === 'error' && l.msg === 'poller.data_lost')).toBe(true);
    for (const c of inRange) expect(h.sink.keys().has(c.callId)).toBe(true);
    expect(h.sink.keys()).toEqual(trtc.stats.servedKeys);
  });

  it('reads every record of a vendor that serves fewer per page than asked (v4\'s maximum is undocumented), without an error', async () => {
    trtc = await startTrtcSimulator({ apps: { [TAPP]: KEY }, seed: 10, lateFraction: 0, maxServedPageSize: 50 });
    const now = Math.floor(Date.now() / 1000);
    const calls = trtc.dataset.generateRange(now - 3 * 3600, now - 3 * 3600 + 1800, 300);
    const source = createTrtcSource(trtcConfigSchema.parse({ baseUrl: trtc.url, apps: [{ sdkAppId: TAPP, secretKey: KEY, api: 'v4' }] }));
    const logs: { level: string; msg: string }[] = [];
    const h = harness(source, { log: (level, msg) => logs.push({ level, msg }) });
    const result = await readWindow({ ...h.ctx, signal: new AbortController().signal, mode: 'live' }, String(TAPP), { start: now - 4 * 3600, end: now - 3600 });
    expect(h.sink.keys()).toEqual(new Set(calls.map((c) => c.callId)));
    expect(result.records).toBe(300);
    expect(h.sink.envelopes.at(-1)!.attributes['page_size']).toBe('50');
    expect(h.metrics.counts.incompleteWindows).toBe(0);
    expect(logs.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    expect(logs.filter((l) => l.msg === 'poller.page_size_served')).toHaveLength(1);
  });

  it('stops with a clear message on 50001', async () => {
    trtc = await startTrtcSimulator({ apps: { [TAPP]: KEY }, unlicensedSdkAppIds: [TAPP] });
    const source = createTrtcSource(trtcConfigSchema.parse({ baseUrl: trtc.url, apps: [{ sdkAppId: TAPP, secretKey: KEY }] }));
    const h = harness(source);
    const err = await new LivePoller(h.ctx, h.store, liveSettings).runOnce().catch((e: unknown) => e as CdrflowError);
    expect(err).toMatchObject({ kind: 'config', code: '50001' });
    expect(String((err as Error).message)).toMatch(/group-call package/);
  });
});

describe('backfill', () => {
  it('covers the range in mode backfill, resumes from its own checkpoint and never touches the live one', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], lateFraction: 0 });
    const to = Math.floor(Date.now() / 1000) - 86400;
    const from = to - 5 * 3600;
    const records = ccc.dataset.generateRange(from, to, 500);
    const h = harness(await cccSource(ccc));
    const devnull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const req = { tenant: String(APP), from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, progressStream: devnull };
    // Abort after the second window is saved: the next run continues from there.
    const ac = new AbortController();
    const store = { get: (id: string) => h.store.get(id), save: async (id: string, v: never) => { const cp = await h.store.save(id, v); if (h.store.history.length === 2) ac.abort(); return cp; } };
    await expect(runBackfill({ ...h.ctx, signal: ac.signal }, store, req)).rejects.toThrow();
    const summary = await runBackfill({ ...h.ctx, signal: new AbortController().signal }, h.store, req);
    expect(summary.windows).toBe(3);
    expect(h.sink.keys().size).toBe(records.length);
    expect(h.sink.envelopes.every((e) => e.mode === 'backfill')).toBe(true);
    expect([...h.store.values.keys()].some((k) => k.endsWith(':live'))).toBe(false);
    const again = await runBackfill({ ...h.ctx, signal: new AbortController().signal }, h.store, req);
    expect(again.alreadyComplete).toBe(true);
    expect(summary.summaryLine).toMatch(/records=/);
  });
});

describe('live cycle', () => {
  it('a tenant whose reads keep failing (retryable) does not keep the other tenants from being read', async () => {
    const APP2 = 1400000002;
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP, APP2], seed: 8, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const records = ccc.dataset.generateRange(now - 3 * 3600, now - 2 * 3600, 40);
    const base = await cccSource(ccc, { sdkAppIds: [APP, APP2] });
    // The first tenant's instance answers InternalError.DBError on every request (an outage of that instance only).
    const source: PullSource = {
      ...base,
      fetchPage: (tenant, ...rest) =>
        tenant === String(APP) ? Promise.reject(new CdrflowError('transient', 'InternalError.DBError', { code: 'InternalError.DBError' })) : base.fetchPage(tenant, ...rest),
    };
    const h = harness(source, { retry: { maxAttempts: 2 } });
    const err = await new LivePoller(h.ctx, h.store, liveSettings).runOnce().catch((e: unknown) => e);
    // The cycle still reports the failure (readiness, metrics), but only after the healthy tenant was read.
    expect(err).toMatchObject({ kind: 'transient', code: 'InternalError.DBError' });
    expect(h.store.get(`tencent-ccc:${APP}:live`)).toBeUndefined();
    expect(h.store.get(`tencent-ccc:${APP2}:live`)).toBeDefined();
    expect(h.sink.keys()).toEqual(new Set(records.filter((r) => r.sdkAppId === APP2).map((r) => r.sessionId)));
  });

  it('Kafka failing past its retries ends the cycle at the tenant that met it: the next tenants share the broker', async () => {
    const APP2 = 1400000002;
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP, APP2], seed: 8, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    ccc.dataset.generateRange(now - 3 * 3600, now - 2 * 3600, 40);
    const base = await cccSource(ccc, { sdkAppIds: [APP, APP2] });
    const asked = new Set<string>();
    const source: PullSource = { ...base, fetchPage: (tenant, ...rest) => (asked.add(tenant), base.fetchPage(tenant, ...rest)) };
    const h = harness(source, { retry: { maxAttempts: 2 } });
    h.sink.failWhen = () => true;
    const err = await new LivePoller(h.ctx, h.store, liveSettings).runOnce().catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'transient', message: 'Kafka did not acknowledge (simulated)' });
    // The second tenant would only have waited out the same retries against the same broker.
    expect([...asked]).toEqual([String(APP)]);
    expect(h.store.values.size).toBe(0);
  });

  it('a tenant without a checkpoint whose initialLookbackSec is within settleSec is read once its start has settled', async () => {
    // The start is now − initialLookbackSec at the first cycle: taken afresh at every cycle, it stayed inside the
    // unsettled time for good and the tenant was never read (windows-campaign.test.ts, seed 11).
    let clock = Date.UTC(2026, 0, 10);
    const { asked, source } = emptySource();
    const h = harness(source);
    h.ctx.now = () => clock;
    const poller = new LivePoller(h.ctx, h.store, { ...liveSettings, initialLookbackSec: 0 });
    const first = Math.floor(clock / 1000);
    for (let cycle = 0; cycle < 5; cycle++) {
      await poller.runOnce();
      clock += 60_000;
    }
    // Five cycles a minute apart: the first minutes past the start have settled (settle 120 s) and are read.
    expect(asked.length).toBeGreaterThan(0);
    expect(asked[0]!.start).toBe(first - liveSettings.lookbackSec - liveSettings.maxCallSec);
    expect(h.store.get(`tencent-ccc:${APP}:live`)?.watermark).toBe(new Date((first + 4 * 60 - 120) * 1000).toISOString());
  });

  it('a live checkpoint ahead of the clock (saved while the clock ran ahead) is read again from where a new tenant starts, with a warning', async () => {
    // A watermark in the future read nothing until the clock reached it, without a word: a clock stepped back a day
    // after a cycle stalled the tenant for that day, a checkpoint of year 3000 stopped it for good.
    const clock = Date.UTC(2026, 0, 10);
    const now = Math.floor(clock / 1000);
    const { asked, source } = emptySource();
    const logs: { level: string; msg: string; fields: Record<string, unknown> | undefined }[] = [];
    const h = harness(source, { log: (level, msg, fields) => logs.push({ level, msg, fields }) });
    h.ctx.now = () => clock;
    const id = `tencent-ccc:${APP}:live`;
    for (const ahead of ['3000-01-01T00:00:00.000Z', new Date((now + 86_400) * 1000).toISOString()]) {
      asked.length = logs.length = 0;
      await h.store.save(id, { watermark: ahead, polledAt: ahead });
      await new LivePoller(h.ctx, h.store, liveSettings).runOnce();
      // As a new tenant's first window: from now − initialLookbackSec, re-reading lookback + maxCall before it.
      const start = now - liveSettings.initialLookbackSec;
      expect(asked[0], ahead).toEqual({ start: start - liveSettings.lookbackSec - liveSettings.maxCallSec, end: start + liveSettings.maxWindowSec });
      expect(h.store.get(id)?.watermark, ahead).toBe(new Date((now - liveSettings.settleSec) * 1000).toISOString());
      expect(logs.filter((l) => l.level === 'warn').map((l) => [l.msg, l.fields?.['watermark'], l.fields?.['read_from']])).toEqual([
        ['poller.checkpoint_ahead', ahead, new Date(start * 1000).toISOString()],
      ]);
    }
    // Within the clock's slack (a step back of a minute) the checkpoint is believed: the tenant waits it out.
    asked.length = logs.length = 0;
    await h.store.save(id, { watermark: new Date((now + 60) * 1000).toISOString() });
    await new LivePoller(h.ctx, h.store, liveSettings).runOnce();
    expect(asked).toEqual([]);
    expect(logs.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('a new tenant\'s start taken while the clock ran ahead, its first window unsaved, is taken again once the clock is set right, with a warning', async () => {
    // The start is kept until the first checkpoint is saved. Taken an hour ahead (10 minutes back from then) and never
    // saved (the first read failed), it lay 50 minutes in the future once the clock was set right: the tenant read
    // nothing until the clock caught up, without a word.
    const { asked, source: empty } = emptySource();
    let failedOnce = false;
    const source: PullSource = {
      ...empty,
      fetchPage: async (...args) => {
        if (!failedOnce) {
          failedOnce = true;
          throw new CdrflowError('transient', 'InternalError', { code: 'InternalError' });
        }
        return empty.fetchPage(...args);
      },
    };
    const logs: { level: string; msg: string; fields: Record<string, unknown> | undefined }[] = [];
    const h = harness(source, { retry: { maxAttempts: 1 }, log: (level, msg, fields) => logs.push({ level, msg, fields }) });
    const settings = { ...liveSettings, initialLookbackSec: 600 };
    let clock = Date.UTC(2026, 0, 10, 1);
    h.ctx.now = () => clock;
    const poller = new LivePoller(h.ctx, h.store, settings);
    await expect(poller.runOnce()).rejects.toMatchObject({ code: 'InternalError' });
    expect(failedOnce).toBe(true);
    expect(h.store.get(`tencent-ccc:${APP}:live`)).toBeUndefined();
    // Set right: read as a new tenant is, from now − initialLookbackSec.
    clock = Date.UTC(2026, 0, 10);
    const now = Math.floor(clock / 1000);
    logs.length = 0;
    await poller.runOnce();
    const start = now - settings.initialLookbackSec;
    expect(asked).toEqual([{ start: start - settings.lookbackSec - settings.maxCallSec, end: now - settings.settleSec }]);
    expect(h.store.get(`tencent-ccc:${APP}:live`)?.watermark).toBe(new Date((now - settings.settleSec) * 1000).toISOString());
    expect(logs.filter((l) => l.level === 'warn').map((l) => [l.msg, l.fields?.['start'], l.fields?.['read_from']])).toEqual([
      ['poller.checkpoint_ahead', new Date((now + 3600 - settings.initialLookbackSec) * 1000).toISOString(), new Date(start * 1000).toISOString()],
    ]);
  });

  it('a live read time ahead of the clock, or unreadable, re-reads lookback + maxCall before the watermark, as a checkpoint without one', async () => {
    // polledAt says which calls were visible when the watermark's window was read. Stamped by a clock that ran a day
    // ahead, it claimed everything up to the watermark settled, and the calls still running then were never re-read;
    // an unreadable one made the window start NaN.
    const clock = Date.UTC(2026, 0, 10);
    const now = Math.floor(clock / 1000);
    const { asked, source } = emptySource();
    const h = harness(source);
    h.ctx.now = () => clock;
    const id = `tencent-ccc:${APP}:live`;
    const watermark = now - 3600;
    for (const polledAt of [new Date((now + 86_400) * 1000).toISOString(), 'yesterday']) {
      asked.length = 0;
      await h.store.save(id, { watermark: new Date(watermark * 1000).toISOString(), polledAt });
      await new LivePoller(h.ctx, h.store, liveSettings).runOnce();
      expect(asked[0], polledAt).toEqual({ start: watermark - liveSettings.lookbackSec - liveSettings.maxCallSec, end: Math.min(watermark + liveSettings.maxWindowSec, now - liveSettings.settleSec) });
    }
  });

  it('stops for a tenant once caught up, even when reading took longer than a second', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed: 8, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    ccc.dataset.generateRange(now - 3 * 3600, now - 2 * 3600, 300);
    const h = harness(await cccSource(ccc));
    // Every read appears to take 5 s: each clock reading is 5 s later than the one before.
    let fake = Date.now();
    h.ctx.now = () => (fake += 5000);
    const poller = new LivePoller(h.ctx, h.store, { ...liveSettings, initialLookbackSec: 3 * 3600 });
    const result = await poller.runOnce();
    // 3 hours of catch-up in 1-hour windows, then stop: no endless one-second windows re-reading the lookback.
    expect(result.windows).toBeLessThanOrEqual(4);
    expect(h.sink.keys().size).toBe(300);
  });

  it('a cycle that failed on a vendor asking for rest (Retry-After) starts the next one no earlier, even with a shorter poll interval', async () => {
    // The only page answers 429 with a rest of 400 ms, then pages again; the poll interval (0) would start the next
    // cycle at once. Each cycle starts by reading the tenant's checkpoint: when it does is when the cycle starts (a
    // cycle's checkpoint read is the first thing after the wait, before any request).
    let refusedAt: number | undefined;
    const { source: empty } = emptySource();
    const source: PullSource = {
      ...empty,
      fetchPage: async (...args) => {
        if (refusedAt === undefined) {
          refusedAt = performance.now();
          throw new CdrflowError('rate_limited', 'HTTP 429', { code: 'http-429', retryAfterMs: 400 });
        }
        return empty.fetchPage(...args);
      },
    };
    const lines: { event: string; fields: Record<string, unknown> }[] = [];
    const h = harness(source, { retry: { maxAttempts: 1 }, log: (_level, event, fields = {}) => lines.push({ event, fields }) });
    const cycleStarts: number[] = [];
    const get = h.store.get.bind(h.store);
    h.store.get = (id) => (cycleStarts.push(performance.now()), get(id));
    const stop = new AbortController();
    const outcomes: CycleOutcome[] = [];
    await new LivePoller(h.ctx, h.store, { ...liveSettings, pollIntervalSec: 0 }).run(stop.signal, (o) => {
      outcomes.push(o);
      if (o.ok) stop.abort();
    });
    expect(outcomes).toEqual([{ ok: false, code: 'http-429', error: 'HTTP 429' }, { ok: true }]);
    // A timer counts from the event loop's cached time, which may be a few ms before the 429 was recorded: the margin.
    // Without the rest the next cycle starts within a few ms.
    expect(cycleStarts.length).toBeGreaterThanOrEqual(2);
    expect(cycleStarts[1]! - refusedAt!).toBeGreaterThanOrEqual(350);
    expect(lines.find((l) => l.event === 'poller.cycle_failed')?.fields).toMatchObject({ code: 'http-429', retry_after_ms: 400 });
  });

  /**
   * Two tenants of a source that serves no record: A's reads always fail without a Retry-After; B's first read is a
   * 429 asking for `restMs`, later ones succeed. Notes each tenant's reads.
   */
  function restingTenant(restMs: number) {
    const [A, B] = ['1400000001', '1400000002'];
    const { source: empty } = emptySource();
    const asked: Record<string, number> = { [A]: 0, [B]: 0 };
    const source: PullSource = {
      ...empty,
      tenants: [A, B],
      fetchPage: async (tenant, ...rest) => {
        asked[tenant]!++;
        if (tenant === A) throw new CdrflowError('transient', 'InternalError', { code: 'InternalError' });
        if (asked[tenant] === 1) throw new CdrflowError('rate_limited', 'HTTP 429', { code: 'http-429', retryAfterMs: restMs });
        return empty.fetchPage(tenant, ...rest);
      },
    };
    return { A, B, asked, source };
  }

  it('a tenant that asked for rest (Retry-After) is not asked again before it ends, when another tenant failed first without one', async () => {
    const { A, B, asked, source } = restingTenant(120_000);
    const lines: { event: string; fields: Record<string, unknown> }[] = [];
    const h = harness(source, { retry: { maxAttempts: 1 }, log: (_level, event, fields = {}) => lines.push({ event, fields }) });
    let clock = Date.UTC(2026, 0, 10);
    h.ctx.now = () => clock;
    const poller = new LivePoller(h.ctx, h.store, liveSettings);
    // Each cycle fails on A, the first failure; B's rest is its own.
    await expect(poller.runOnce()).rejects.toMatchObject({ code: 'InternalError' });
    expect(asked).toEqual({ [A]: 1, [B]: 1 });
    expect(lines.find((l) => l.event === 'poller.tenant_failed' && l.fields['tenant'] === B)?.fields).toMatchObject({ code: 'http-429', asked_again_at: new Date(clock + 120_000).toISOString() });
    // A poll interval later, and a moment before the rest ends: A is read again, B is not.
    for (const at of [clock + 60_000, clock + 119_999]) {
      clock = at;
      await expect(poller.runOnce()).rejects.toMatchObject({ code: 'InternalError' });
    }
    expect(asked).toEqual({ [A]: 3, [B]: 1 });
    expect(h.store.get(`tencent-ccc:${B}:live`)).toBeUndefined();
    // Once the rest ended B is read again (and caught up).
    clock += 1;
    await expect(poller.runOnce()).rejects.toMatchObject({ code: 'InternalError' });
    expect(asked[B]).toBeGreaterThan(1);
    expect(h.store.get(`tencent-ccc:${B}:live`)).toBeDefined();
  });

  it('a rest taken while the clock ran ahead does not hold the tenant once the clock is set right', async () => {
    const { A, B, asked, source } = restingTenant(120_000);
    const h = harness(source, { retry: { maxAttempts: 1 } });
    // An hour ahead when B asked for two minutes of rest; then set right.
    let clock = Date.UTC(2026, 0, 10, 1);
    h.ctx.now = () => clock;
    const poller = new LivePoller(h.ctx, h.store, liveSettings);
    await expect(poller.runOnce()).rejects.toMatchObject({ code: 'InternalError' });
    expect(asked).toEqual({ [A]: 1, [B]: 1 });
    // Set right: the rest's end lies an hour away, further than any vendor's rest may (the cap): B is read again.
    clock = Date.UTC(2026, 0, 10);
    await expect(poller.runOnce()).rejects.toMatchObject({ code: 'InternalError' });
    expect(asked[B]).toBeGreaterThan(1);
  });

  it('nor holds the next cycle, when that tenant is the only one', async () => {
    const { B, asked, source } = restingTenant(120_000);
    // An hour ahead until B's rest is taken; set right from then on.
    let clock = Date.UTC(2026, 0, 10, 1);
    const log: LogFn = (_level, event) => {
      if (event === 'poller.tenant_failed') clock = Date.UTC(2026, 0, 10);
    };
    const h = harness({ ...source, tenants: [B] }, { retry: { maxAttempts: 1 }, log });
    h.ctx.now = () => clock;
    const stop = new AbortController();
    const started = performance.now();
    await new LivePoller(h.ctx, h.store, { ...liveSettings, pollIntervalSec: 0 }).run(stop.signal, (o) => {
      if (o.ok) stop.abort();
    });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(asked[B]).toBeGreaterThan(1);
  });

  it('one tenant\'s rest does not delay the next cycle of the others, nor is that tenant asked again meanwhile', async () => {
    const { A, B, asked, source } = restingTenant(60_000);
    const h = harness(source, { retry: { maxAttempts: 1 } });
    const stop = new AbortController();
    const started = performance.now();
    await new LivePoller(h.ctx, h.store, { ...liveSettings, pollIntervalSec: 0 }).run(stop.signal, () => {
      if (asked[A]! >= 3) stop.abort();
    });
    // A rest shared by every tenant would have held A for the minute B asked for.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(asked).toEqual({ [A]: 3, [B]: 1 });
  });

  it('a stop request during the rest a vendor asked for ends it at once', async () => {
    const { source: empty } = emptySource();
    const source: PullSource = { ...empty, fetchPage: () => Promise.reject(new CdrflowError('rate_limited', 'HTTP 429', { code: 'http-429', retryAfterMs: 60_000 })) };
    const h = harness(source, { retry: { maxAttempts: 1 } });
    const stop = new AbortController();
    const started = performance.now();
    // Stopped once the failed cycle is told, after the rest began.
    await new LivePoller(h.ctx, h.store, { ...liveSettings, pollIntervalSec: 0 }).run(stop.signal, () => setImmediate(() => stop.abort()));
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('CCC query limits (DescribeTelCdr\'s, assumed for the protected API: 180 days back, End − Start < 90 days)', () => {
  const DAY = 86_400;
  const devnull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

  it('a one-year backfill reports the part older than 180 days lost and reads the rest, instead of stopping at its first window', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed: 11, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    ccc.dataset.generateRange(now - 300 * DAY, now - 300 * DAY + 3600, 20); // older than the API reaches
    const readable = ccc.dataset.generateRange(now - 170 * DAY, now - 170 * DAY + 3600, 60);
    const logs: { level: string; msg: string; fields: Record<string, unknown> | undefined }[] = [];
    const h = harness(await cccSource(ccc), { log: (level, msg, fields) => logs.push({ level, msg, fields }) });
    const from = now - 365 * DAY;
    const to = now - 150 * DAY;
    const req = { tenant: String(APP), from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 30 * DAY, progressStream: devnull };
    const summary = await runBackfill({ ...h.ctx, signal: new AbortController().signal }, h.store, req);
    const horizon = summary.lostTo === undefined ? NaN : Date.parse(summary.lostTo) / 1000;
    // The horizon sits just inside the 180 days (HORIZON_SAFETY_SEC), so the first request is not refused.
    expect(horizon).toBeGreaterThan(now - 180 * DAY);
    expect(horizon).toBeLessThan(now - 180 * DAY + 3600);
    expect(summary).toMatchObject({ lostFrom: new Date(from * 1000).toISOString(), lostSeconds: horizon - from, complete: true, records: readable.length });
    expect(summary.summaryLine).toContain('is further back than tencent-ccc can be queried (180 days) and cannot be read');
    expect(h.sink.keys()).toEqual(new Set(readable.map((r) => r.sessionId)));
    expect(h.metrics.counts.gapSeconds).toBe(horizon - from);
    expect(logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['poller.data_lost']);
  });

  it('a live checkpoint older than 180 days is a logged, counted gap and the poller reads on, instead of stopping at every start', async () => {
    ccc = await startCccSimulator({ credentials: { AKIDsim: 'sim-key' }, sdkAppIds: [APP], seed: 12, lateFraction: 0 });
    const now = Math.floor(Date.now() / 1000);
    const inRange = ccc.dataset.generateRange(now - 179 * DAY - 7200, now - 179 * DAY - 5400, 50);
    const logs: { level: string; msg: string }[] = [];
    const h = harness(await cccSource(ccc), { log: (level, msg) => logs.push({ level, msg }) });
    await h.store.save(`tencent-ccc:${APP}:live`, { watermark: new Date((now - 200 * DAY) * 1000).toISOString() });
    // One catch-up window of a day past the horizon is enough to show the poller reads on.
    const poller = new LivePoller(h.ctx, h.store, { ...liveSettings, maxWindowSec: DAY });
    const stop = new AbortController();
    const save = h.store.save.bind(h.store);
    h.store.save = async (id, v) => {
      const cp = await save(id, v);
      stop.abort();
      return cp;
    };
    await poller.runOnce(stop.signal).catch(() => undefined);
    expect(h.metrics.counts.gapSeconds).toBeGreaterThan(20 * DAY - 3600);
    expect(logs.some((l) => l.level === 'error' && l.msg === 'poller.data_lost')).toBe(true);
    expect(h.store.get(`tencent-ccc:${APP}:live`)).toMatchObject({ lostFrom: new Date((now - 200 * DAY) * 1000).toISOString() });
    for (const c of inRange) expect(h.sink.keys().has(c.sessionId)).toBe(true);
  });
});
