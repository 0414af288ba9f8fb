// The pusher against the real receiver (in-memory sink): re-push schedule, duplicates, nothing lost.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startReceiver } from '../../connectors/push-vendors.ts';
import { type RunningReceiver } from '../../connectors/receiver/receiver.ts';
import { MemorySink } from '../../connectors/receiver/fixtures/memory-sink.ts';
import { silentLog } from '../../core/log.ts';
import { startHuaweiPusher, type PushAttempt } from './pusher.ts';
import { HUAWEI_RELEASE_POINTS, HuaweiFeeGenerator, callEventsFor } from './generator.ts';

const APP = { appKey: 'pusherApp', appSecret: 'pusherSecret' };
const running: RunningReceiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function receiver(sink: MemorySink) {
  const r = await startReceiver({ port: 0, huawei: { apps: [APP], topics: { fee: 'fee', events: 'ev' } } }, { sink, log: silentLog });
  running.push(r);
  return r;
}

describe('HuaweiFeeGenerator', () => {
  it('is reproducible from its seed and walks every documented release point', () => {
    const a = new HuaweiFeeGenerator({ seed: 42, appKey: 'k' }).batch(400);
    const b = new HuaweiFeeGenerator({ seed: 42, appKey: 'k' }).batch(400);
    expect(a).toEqual(b);
    expect(new HuaweiFeeGenerator({ seed: 43, appKey: 'k' }).batch(1)[0]!['sessionId']).not.toBe(a[0]!['sessionId']);
    const seen = new Set(a.map((r) => Number(r['ulFailReason'])));
    const missing = Object.keys(HUAWEI_RELEASE_POINTS).map(Number).filter((c) => !seen.has(c));
    expect(missing).toEqual([]);
    expect(new Set(a.map((r) => r['sessionId'])).size).toBe(400);
    for (const r of a) {
      expect(r['callInTime']).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      if (r['fwdAnswerTime'] === '') expect(r['recordFlag']).toBe(0);
    }
    // direction 2 is an abnormal call (no binding data, …): never forwarded, so never answered, billed or recorded.
    expect(a.some((r) => r['direction'] === 2)).toBe(true);
    expect(a.filter((r) => r['direction'] === 2 && r['fwdAnswerTime'] !== '')).toEqual([]);
  });

  it('gives a failed call only the stages its release point lets it reach', () => {
    const recs = new HuaweiFeeGenerator({ seed: 42, appKey: 'k' }).batch(600);
    const seconds = (t: unknown) => Date.parse(`${String(t).replace(' ', 'T')}Z`) / 1000;
    const byCode = (code: number) => recs.filter((r) => r['ulFailReason'] === code);
    for (const code of [7501, 7516, 8035]) expect(byCode(code).length, `release point ${code}`).toBeGreaterThan(0);
    // 7516: the caller hung up before the forward, so there is no forward leg to start or ring.
    for (const r of byCode(7516)) expect([r['fwdStartTime'], r['fwdAlertingTime']]).toEqual(['', '']);
    // 7501: the caller hung up before the callee rang.
    for (const r of byCode(7501)) {
      expect(r['fwdStartTime']).not.toBe('');
      expect(r['fwdAlertingTime']).toBe('');
      expect(callEventsFor(r).map((e) => e['eventType'])).toEqual(['callin', 'disconnect']);
    }
    // No binding (e.g. 8014), no binding ID: Huawei's FAQ on an empty subscriptionId.
    for (const code of [7104, 8014, 8018, 8022]) expect(byCode(code).map((r) => r['subscriptionId'])).toEqual(byCode(code).map(() => ''));
    expect(recs.filter((r) => r['fwdAnswerTime'] !== '' && r['subscriptionId'] === '')).toEqual([]);
    // 8035: the platform's own timeout, about 90 s after the forward.
    for (const r of byCode(8035)) expect(seconds(r['callEndTime']) - seconds(r['fwdStartTime'])).toBeCloseTo(90, -1);
    for (const r of recs) {
      for (const e of callEventsFor(r)) expect((e['statusInfo'] as Record<string, unknown>)['timestamp'], `${r['ulFailReason']} ${String(e['eventType'])}`).toEqual(expect.any(Number));
    }
  });

  it('malformedRate produces records that are wrong inside', () => {
    const recs = new HuaweiFeeGenerator({ seed: 1, appKey: 'k', malformedRate: 1 }).batch(30);
    expect(recs.every((r) => r['sessionId'] === undefined || r['direction'] === 'sideways' || r['callEndTime'] === '2026-13-45 99:99:99')).toBe(true);
  });

  it('derives the call events of a fee record', () => {
    const rec = new HuaweiFeeGenerator({ seed: 5, appKey: 'k' }).next();
    const events = callEventsFor(rec);
    expect(events[0]).toMatchObject({ eventType: 'callin', statusInfo: { sessionId: rec['sessionId'] } });
    expect(events.at(-1)).toMatchObject({ eventType: 'disconnect', statusInfo: { stateCode: rec['ulFailReason'] } });
  });
});

describe('startHuaweiPusher', () => {
  it('delivers every record despite refusals by re-pushing on the scaled schedule, with duplicates', async () => {
    const sink = new MemorySink();
    const r = await receiver(sink);
    const attempts: PushAttempt[] = [];
    sink.failing = true;
    const pusher = startHuaweiPusher({
      url: `${r.url}/huawei/privatenumber/fee`, ...APP, seed: 9, totalRecords: 300, recordsPerSecond: 3000,
      duplicateRate: 0.3, timeScale: 1 / 600, // one minute = 100 ms: retries at 100, 400, 900 ms, ...
      onAttempt: (a) => {
        attempts.push(a);
        // Kafka "comes back" once the first retry round has been refused too.
        if (attempts.filter((x) => x.status === 503).length >= 10) sink.failing = false;
      },
    });
    const stats = await pusher.done;
    expect(stats.gaveUpBatches).toBe(0);
    expect(stats.acceptedRecords).toBe(300);
    expect(stats.failures['503']).toBeGreaterThanOrEqual(10);
    expect(stats.retries).toBe(stats.failures['503']);
    expect(stats.duplicatesPushed).toBeGreaterThan(0);
    const stored = sink.envelopes('fee');
    expect(stored.length).toBeGreaterThan(300);
    expect(new Set(stored.map((e) => e.natural_key))).toEqual(pusher.keys());
    // A refused batch is pushed again with attempt numbers 1, 2, ... (the schedule index).
    expect(Math.max(...attempts.map((a) => a.attempt))).toBeGreaterThanOrEqual(1);
  });

  it('gives up after the six documented re-pushes', async () => {
    const sink = new MemorySink();
    const r = await receiver(sink);
    sink.failing = true;
    const attempts: PushAttempt[] = [];
    const pusher = startHuaweiPusher({
      url: `${r.url}/huawei/privatenumber/fee`, ...APP, seed: 2, totalRecords: 10, minBatch: 10, maxBatch: 10,
      recordsPerSecond: 1000, timeScale: 1 / 60_000, onAttempt: (a) => attempts.push(a),
    });
    const stats = await pusher.done;
    expect(attempts.map((a) => a.attempt)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(stats).toMatchObject({ gaveUpBatches: 1, gaveUpRecords: 10, acceptedRecords: 0 });
  });

  it('never puts more than the documented 50 records in one push, whatever minBatch asks', async () => {
    const r = await receiver(new MemorySink());
    const sizes: number[] = [];
    const pusher = startHuaweiPusher({
      url: `${r.url}/huawei/privatenumber/fee`, ...APP, seed: 3, totalRecords: 300, minBatch: 80, recordsPerSecond: 100_000, timeScale: 1 / 60_000,
      duplicateRate: 0, onAttempt: (a) => sizes.push(a.records),
    });
    const stats = await pusher.done;
    expect(sizes.filter((n) => n > 50)).toEqual([]);
    expect(stats).toMatchObject({ acceptedRecords: 300 });
  });

  it('re-pushes at 1, 4, 9, 106, 203 and 300 minutes counted from the first refusal, not between attempts', async () => {
    const sink = new MemorySink();
    const r = await receiver(sink);
    sink.failing = true;
    const at: number[] = [];
    const minuteMs = 2;
    const pusher = startHuaweiPusher({
      url: `${r.url}/huawei/privatenumber/fee`, ...APP, seed: 6, totalRecords: 5, minBatch: 5, maxBatch: 5,
      recordsPerSecond: 1000, timeScale: minuteMs / 60_000, onAttempt: () => at.push(performance.now()),
    });
    await pusher.done;
    expect(at).toHaveLength(7);
    const since = at.map((t) => t - at[0]!);
    [1, 4, 9, 106, 203, 300].forEach((minutes, i) => expect(since[i + 1]).toBeGreaterThanOrEqual(minutes * minuteMs - 1));
    // The last re-push 300 "minutes" after the first refusal (600 ms here); read as gaps it would come at 623 (1246 ms).
    expect(since[6]).toBeLessThan(900);
  });

  it('stop() while refused records wait for their re-push counts them as never accepted (unacceptedOnStop)', async () => {
    const sink = new MemorySink();
    const r = await receiver(sink);
    sink.failing = true;
    // The real schedule (first re-push after a minute): stopped while the refused batches wait for it.
    const pusher = startHuaweiPusher({ url: `${r.url}/huawei/privatenumber/fee`, ...APP, seed: 4, totalRecords: 12, minBatch: 4, maxBatch: 4, recordsPerSecond: 1000 });
    while (pusher.stats().retries < 3) await new Promise((res) => setTimeout(res, 10));
    const stats = await pusher.stop();
    expect(stats).toMatchObject({ recordsGenerated: 12, acceptedRecords: 0, gaveUpRecords: 0, unacceptedOnStop: 12 });
    // Accepted ones are not counted: the same with a receiver that takes everything.
    sink.failing = false;
    const ok = startHuaweiPusher({ url: `${r.url}/huawei/privatenumber/fee`, ...APP, seed: 4, totalRecords: 12, minBatch: 4, maxBatch: 4, recordsPerSecond: 1000, duplicateRate: 0 });
    expect(await ok.done).toMatchObject({ acceptedRecords: 12, unacceptedOnStop: 0 });
  });

  it('sends every push on a connection of its own, as Huawei\'s short connections do', async () => {
    // A bare loopback server: it counts the TCP connections and keeps each one alive unless the client asks otherwise.
    let connections = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' }).end('{"resultcode":"0"}'));
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/huawei/privatenumber/fee`;
      const pusher = startHuaweiPusher({ url, ...APP, seed: 8, totalRecords: 12, minBatch: 2, maxBatch: 2, recordsPerSecond: 1000, concurrency: 1, duplicateRate: 0 });
      const stats = await pusher.done;
      expect(stats.attempts).toBe(6);
      expect(connections).toBe(stats.attempts);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('stop() ends an open-ended run', async () => {
    const sink = new MemorySink();
    const r = await receiver(sink);
    const pusher = startHuaweiPusher({ url: `${r.url}/huawei/privatenumber/fee`, ...APP, seed: 3, recordsPerSecond: 500 });
    while (pusher.stats().acceptedRecords < 50) await new Promise((res) => setTimeout(res, 10));
    const stats = await pusher.stop();
    expect(stats.inFlight).toBe(0);
    expect(sink.envelopes().length).toBe(stats.acceptedRecords);
  });
});
