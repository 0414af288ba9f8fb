// The receiver with `huawei.recordingLinks` on, against the stand-in recording API over loopback: resolved links land
// in the envelope attributes (payload untouched); a slow or failing recording API neither delays the 200 beyond the
// deadline nor loses a record; unrecorded calls are not looked up.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver } from '../push-vendors.ts';
import { type RunningReceiver } from './receiver.ts';
import { type ReceiverConfigInput } from '../push-vendors.ts';
import { MemorySink } from './fixtures/memory-sink.ts';
import { silentLog } from '../../core/log.ts';
import { huaweiAuthHeaders } from '../../simulators/huawei-privatenumber/sign.ts';
import { parseParams } from '../huawei-privatenumber/aksk.ts';
import { resolveRecordingLinks } from '../huawei-privatenumber/recording-links.ts';
import { HuaweiFeeGenerator, type FeeRecord } from '../../simulators/huawei-privatenumber/generator.ts';
import { startRecordingApi, type RecordingApiStandIn } from '../../simulators/huawei-privatenumber/recording-api.ts';

const APP = { appKey: 'hwRecApp', appSecret: 'hwRecSecret', mode: 'AXB' as const };
const FEE_TOPIC = 't.fee';
const NOW = Date.parse('2026-03-01T08:00:00.000Z');

let api: RecordingApiStandIn;
beforeAll(async () => {
  // On the receiver's fixed clock too: a lookup signed with any other clock is refused as skewed (1010013).
  api = await startRecordingApi([APP], { now: () => NOW });
});
afterAll(() => api.close());

const running: RunningReceiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
  api.behaviour = 'ok';
  api.requests.length = 0;
});

async function start(sink: MemorySink, recordingLinks: NonNullable<ReceiverConfigInput['huawei']>['recordingLinks']) {
  // A fixed clock keeps recording_resolved_at exact; the auth headers are built with the same clock.
  const r = await startReceiver(
    { port: 0, huawei: { apps: [APP], topics: { fee: FEE_TOPIC }, ...(recordingLinks ? { recordingLinks } : {}) } },
    { sink, log: silentLog, now: () => NOW },
  );
  running.push(r);
  return r;
}

function records(): FeeRecord[] {
  const [recorded, unrecorded, noDomain] = new HuaweiFeeGenerator({ seed: 11, appKey: APP.appKey }).batch(3);
  Object.assign(recorded!, { recordFlag: 1, recordDomain: 'ostor.huawei.com', recordObjectName: 'call-1.wav', recordFileDownloadUrl: 'https://ostor.huawei.com/sp-record/call-1.wav' });
  Object.assign(unrecorded!, { recordFlag: 0, recordDomain: 'ostor.huawei.com', recordObjectName: 'call-2.wav', recordFileDownloadUrl: '' });
  Object.assign(noDomain!, { recordFlag: 1, recordDomain: '', recordObjectName: 'call-3.wav', recordFileDownloadUrl: 'https://ostor.huawei.com/sp-record/call-3.wav' });
  return [recorded!, unrecorded!, noDomain!];
}

async function push(r: RunningReceiver, feeLst: FeeRecord[]) {
  const body = JSON.stringify({ eventType: 'fee', feeLst });
  const res = await fetch(`${r.url}/huawei/privatenumber/fee`, {
    method: 'POST',
    headers: { 'content-type': 'application/json;charset=UTF-8', ...huaweiAuthHeaders(APP.appKey, APP.appSecret, { nowMs: NOW }) },
    body,
  });
  return { status: res.status, json: (await res.json()) as { resultcode: string } };
}

describe('Huawei recording links in the receiver', () => {
  it('stores the resolved link as an envelope attribute, payload verbatim; skips recordFlag 0 and records without recordDomain', async () => {
    const sink = new MemorySink();
    const r = await start(sink, { enabled: true, baseUrl: api.url, timeoutMs: 2_000 });
    const feeLst = records();
    const res = await push(r, feeLst);
    expect(res).toMatchObject({ status: 200, json: { resultcode: '0' } });
    const stored = sink.envelopes(FEE_TOPIC);
    expect(stored.map((e) => e.payload)).toEqual(feeLst.map((f) => JSON.stringify(f)));
    expect(stored[0]!.attributes).toMatchObject({
      recording_download_url: 'https://ostor.huawei.com/download/call-1.wav?sig=abc',
      recording_resolved_at: new Date(NOW).toISOString(),
      notify_mode: 'AXB',
    });
    for (const e of stored.slice(1)) {
      expect(Object.keys(e.attributes).filter((k) => k.startsWith('recording_'))).toEqual([]);
    }
    expect(api.requests).toEqual([{ fileName: 'call-1.wav', recordDomain: 'ostor.huawei.com' }]);
  });

  it('answers 200 within the deadline when the recording API hangs, and stores every record without the link', async () => {
    const sink = new MemorySink();
    const timeoutMs = 300;
    const r = await start(sink, { enabled: true, baseUrl: api.url, timeoutMs });
    api.behaviour = 'hang';
    const feeLst = records();
    const res = await push(r, feeLst);
    expect(res.status).toBe(200);
    expect(api.requests).toHaveLength(1);
    // No timing assertion: the stand-in never answers a hanging request while it is open, so a 200 before
    // `api.close()` can only come from the receiver giving up at its deadline (the stored reason says so).
    const stored = sink.envelopes(FEE_TOPIC);
    expect(stored.map((e) => e.natural_key)).toEqual(feeLst.map((f) => f['sessionId']));
    expect(stored[0]!.attributes['recording_download_url']).toBeUndefined();
    expect(stored[0]!.attributes['recording_link_error']).toMatch(/did not answer within 300 ms/);
    expect(JSON.parse(stored[0]!.payload)).toMatchObject({ recordFileDownloadUrl: 'https://ostor.huawei.com/sp-record/call-1.wav' });
  });

  it('stores every record when the recording API fails, with the reason beside it', async () => {
    const sink = new MemorySink();
    const r = await start(sink, { enabled: true, baseUrl: api.url, timeoutMs: 2_000 });
    api.behaviour = 'fail';
    const res = await push(r, records());
    expect(res.status).toBe(200);
    const stored = sink.envelopes(FEE_TOPIC);
    expect(stored).toHaveLength(3);
    expect(stored[0]!.attributes['recording_download_url']).toBeUndefined();
    expect(stored[0]!.attributes['recording_link_error']).toMatch(/HTTP 500/);
  });

  it("asks nothing for a record whose recordObjectName is outside the API's String(1-128), and stores it with the reason beside it", async () => {
    const sink = new MemorySink();
    const r = await start(sink, { enabled: true, baseUrl: api.url, timeoutMs: 2_000 });
    const feeLst = records();
    feeLst[0]!['recordObjectName'] = `${'n'.repeat(200)}.wav`;
    expect((await push(r, feeLst)).status).toBe(200);
    expect(api.requests).toEqual([]);
    const stored = sink.envelopes(FEE_TOPIC);
    expect(stored.map((e) => e.payload)).toEqual(feeLst.map((f) => JSON.stringify(f)));
    expect(stored[0]!.attributes['recording_download_url']).toBeUndefined();
    expect(stored[0]!.attributes['recording_link_error']).toMatch(/^recordObjectName ".*… \(204 chars\) is more than the recording API takes \(String\(1-128\)\): not looked up$/);
  });

  it('still answers 503 (nothing stored) when Kafka fails after the link was resolved', async () => {
    const sink = new MemorySink();
    const r = await start(sink, { enabled: true, baseUrl: api.url, timeoutMs: 2_000 });
    sink.failing = true;
    expect((await push(r, records())).status).toBe(503);
    expect(sink.published).toHaveLength(0);
  });

  it('signs each lookup with the receiver\'s clock, not the machine\'s', async () => {
    const created: string[] = [];
    const watching: typeof fetch = (input, init) => {
      created.push(parseParams(new Headers(init?.headers).get('x-aksk') ?? '').get('Created') ?? '');
      return fetch(input, init);
    };
    const [link] = await resolveRecordingLinks([records()[0]!], { baseUrl: api.url, ...APP, timeoutMs: 2_000, now: () => NOW, fetchImpl: watching });
    expect(created).toEqual(['2026-03-01T08:00:00Z']);
    expect(link).toMatchObject({ recording_download_url: 'https://ostor.huawei.com/download/call-1.wav?sig=abc' });
  });

  it('does not call the recording API when the option is off (the default)', async () => {
    const sink = new MemorySink();
    const r = await start(sink, undefined);
    expect((await push(r, records())).status).toBe(200);
    expect(api.requests).toEqual([]);
    expect(sink.envelopes(FEE_TOPIC).every((e) => e.attributes['recording_download_url'] === undefined)).toBe(true);
  });
});
