// The receiver over loopback HTTP with an in-memory sink: vendor auth, answer shapes, nothing stored on refusal,
// 503 when the sink fails, graceful shutdown. Kafka itself is covered by receiver.int.test.ts.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { startReceiver } from '../push-vendors.ts';
import { type RunningReceiver } from './receiver.ts';
import { type ReceiverConfigInput } from '../push-vendors.ts';
import { MemorySink } from './fixtures/memory-sink.ts';
import { silentLog } from '../../core/log.ts';
import { CdrflowError } from '../../core/errors.ts';
import { huaweiAuthHeaders } from '../../simulators/huawei-privatenumber/sign.ts';
import { HuaweiFeeGenerator } from '../../simulators/huawei-privatenumber/generator.ts';
import { readTopAnswer, submitLvmsRecord, signedParams } from '../../simulators/alibaba-lvms/submitter.ts';
import { topTimestamp } from '../../simulators/alibaba-lvms/sign.ts';

const APP = { appKey: 'hwAppKey01', appSecret: 'hwSecret01', mode: 'AXB' as const };
const LVMS = { appKey: '34567890', appSecret: 'lvmsSecret' };
const FEE_TOPIC = 't.fee';
const EVENT_TOPIC = 't.events';
const LVMS_TOPIC = 't.lvms';

const running: RunningReceiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function start(sink: MemorySink, overrides: Partial<ReceiverConfigInput> = {}, registry?: Registry) {
  const config: ReceiverConfigInput = {
    port: 0,
    huawei: { apps: [APP], allowWsse: true, topics: { fee: FEE_TOPIC, events: EVENT_TOPIC } },
    lvms: { apps: [LVMS], topic: LVMS_TOPIC },
    ...overrides,
  };
  const r = await startReceiver(config, { sink, log: silentLog, ...(registry ? { registry } : {}) });
  running.push(r);
  return r;
}

function feeBody(count: number, seed = 1): string {
  return JSON.stringify({ eventType: 'fee', feeLst: new HuaweiFeeGenerator({ seed, appKey: APP.appKey }).batch(count) });
}

async function pushHuawei(r: RunningReceiver, body: string, headers: Record<string, string> = { ...huaweiAuthHeaders(APP.appKey, APP.appSecret) }, path = '/huawei/privatenumber/fee') {
  const res = await fetch(`${r.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json;charset=UTF-8', ...headers }, body });
  return { status: res.status, json: (await res.json()) as { resultcode: string; resultdesc: string } };
}

describe('listening', () => {
  it('refuses to start on a port in use with a clear configuration error (and does not live on deaf)', async () => {
    const first = await start(new MemorySink());
    const port = Number(new URL(first.url).port);
    const err = await start(new MemorySink(), { port }).catch((e: unknown) => e as CdrflowError);
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('config');
    expect((err as CdrflowError).code).toBe('EADDRINUSE');
    expect((err as Error).message).toMatch(/in use/);
  });
});

describe('Huawei fee push', () => {
  it('stores every record raw, byte-for-byte, keyed by sessionId, tenant = appKey, then answers 200', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const records = new HuaweiFeeGenerator({ seed: 7, appKey: APP.appKey }).batch(3);
    // Hand-written spacing and a float written as 1.50: the stored payload must keep the vendor's exact text.
    const texts = records.map((rec, i) => (i === 1 ? JSON.stringify(rec).replace('{', '{ "extra" : 1.50 ,') : JSON.stringify(rec)));
    const body = `{"eventType":"fee",\n "feeLst": [${texts.join(' ,\n')}]}`;
    const res = await pushHuawei(r, body);
    expect(res).toEqual({ status: 200, json: { resultcode: '0', resultdesc: 'Success' } });
    const stored = sink.envelopes(FEE_TOPIC);
    expect(stored.map((e) => e.payload)).toEqual(texts);
    expect(stored.map((e) => e.natural_key)).toEqual(records.map((x) => x['sessionId']));
    const requestIds = new Set(stored.map((e) => e.request_id));
    expect(requestIds.size).toBe(1);
    expect([...requestIds][0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(stored[0]).toMatchObject({
      vendor: 'huawei-privatenumber', tenant_id: APP.appKey, connector: 'huawei-receiver', mode: 'live', payload_format: 'json',
      attributes: { notify_mode: 'AXB', auth_scheme: 'aksk', batch_size: '3', batch_index: '0', key_source: 'sessionId', event_type: 'fee' },
    });
  });

  it('accepts the legacy X-WSSE form when configured', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await pushHuawei(r, feeBody(2), { ...huaweiAuthHeaders(APP.appKey, APP.appSecret, { scheme: 'wsse' }) });
    expect(res.status).toBe(200);
    expect(sink.envelopes()[0]!.attributes['auth_scheme']).toBe('wsse');
  });

  it('keeps a record without sessionId raw under a stable fallback key instead of refusing its batch', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const [good, bad] = new HuaweiFeeGenerator({ seed: 3, appKey: APP.appKey }).batch(2);
    delete bad!['sessionId'];
    const body = JSON.stringify({ eventType: 'fee', feeLst: [good, bad] });
    expect((await pushHuawei(r, body)).status).toBe(200);
    expect((await pushHuawei(r, body)).status).toBe(200);
    const keys = sink.envelopes().map((e) => e.natural_key);
    expect(keys[1]).toBe(`icid:${bad!['icid']}`);
    expect(keys[3]).toBe(keys[1]);
  });

  it.each([
    ['a wrong secret', () => huaweiAuthHeaders(APP.appKey, 'wrong'), 401, '1010003'],
    ['an unknown appKey', () => huaweiAuthHeaders('nobody', APP.appSecret), 401, '1010003'],
    ['no auth headers', () => ({}), 401, '1023006'],
    ['a stale Created', () => huaweiAuthHeaders(APP.appKey, APP.appSecret, { nowMs: Date.now() - 10 * 60_000 }), 403, '1010013'],
    ['a Created from the future', () => huaweiAuthHeaders(APP.appKey, APP.appSecret, { nowMs: Date.now() + 10 * 60_000 }), 403, '1010013'],
    ['WSSE with a wrong secret', () => huaweiAuthHeaders(APP.appKey, 'wrong', { scheme: 'wsse' }), 401, '1010003'],
  ])('refuses %s with the Huawei code, writes nothing, keeps serving', async (_name, headers, status, code) => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await pushHuawei(r, feeBody(2), { ...headers() });
    expect(res.status).toBe(status);
    expect(res.json.resultcode).toBe(code);
    expect(sink.published).toHaveLength(0);
    expect((await pushHuawei(r, feeBody(1))).status).toBe(200);
  });

  it('refuses a replayed nonce with 403 and stores only the first', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const headers = { ...huaweiAuthHeaders(APP.appKey, APP.appSecret) };
    expect((await pushHuawei(r, feeBody(2), headers)).status).toBe(200);
    const replay = await pushHuawei(r, feeBody(2), headers);
    expect(replay).toMatchObject({ status: 403, json: { resultcode: '1010002' } });
    expect(sink.envelopes()).toHaveLength(2);
  });

  it('remembers a nonce for as long as its Created passes, to the last millisecond of the skew on either side', async () => {
    const sink = new MemorySink();
    const skewMs = 300_000;
    const signedAt = Date.parse('2026-03-01T08:00:00Z');
    // The vendor's clock runs the whole allowed skew ahead: Created is still fresh once our clock has caught up with it
    // and gone the skew past it, so its nonce must still be spent then.
    let now = signedAt - skewMs;
    const r = await startReceiver(
      { port: 0, huawei: { apps: [APP], maxClockSkewSeconds: skewMs / 1000, topics: { fee: FEE_TOPIC, events: EVENT_TOPIC } } },
      { sink, log: silentLog, now: () => now },
    );
    running.push(r);
    const headers = { ...huaweiAuthHeaders(APP.appKey, APP.appSecret, { nowMs: signedAt }) };
    expect((await pushHuawei(r, feeBody(1), headers)).status).toBe(200);
    now = signedAt + skewMs;
    expect(await pushHuawei(r, feeBody(1), headers)).toEqual({ status: 403, json: { resultcode: '1010002', resultdesc: 'Invalid request: Nonce already used' } });
    now += 1;
    expect(await pushHuawei(r, feeBody(1), headers)).toEqual({ status: 403, json: { resultcode: '1010013', resultdesc: 'Time out limit' } });
    expect(sink.envelopes()).toHaveLength(1);
  });

  it('refuses a replayed nonce before reading the body, and a nonce whose push was not stored is not spent', async () => {
    const sink = new MemorySink();
    const r = await start(sink, { bodyTimeoutMs: 2_000 });
    const headers = { ...huaweiAuthHeaders(APP.appKey, APP.appSecret) };
    // Only looked at before the body: a push refused on its body leaves the nonce to the vendor's corrected re-push.
    expect((await pushHuawei(r, '{"eventType":"fee"', headers)).status).toBe(400);
    expect((await pushHuawei(r, feeBody(1), headers)).status).toBe(200);
    // The replay announces a body it never sends: only an answer before the body (not the 408 after bodyTimeoutMs) is 403.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(r.port, '127.0.0.1', () => {
        const auth = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        socket.write(`POST /huawei/privatenumber/fee HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"eventT`);
      });
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 403/);
    expect(answer).toContain('"resultdesc":"Invalid request: Nonce already used"');
    expect(sink.envelopes()).toHaveLength(1);
  });

  it.each([
    ['not JSON', '{"eventType":"fee","feeLst":[{'],
    ['not an object', '[1,2]'],
    ['no eventType', '{"feeLst":[{"sessionId":"a"}]}'],
    ['empty feeLst', '{"eventType":"fee","feeLst":[]}'],
    ['51 records', () => feeBody(51)],
    ['a non-object record', '{"eventType":"fee","feeLst":[{"sessionId":"a"},"b"]}'],
    ['an event without statusInfo', '{"eventType":"callin"}'],
  ])('answers 400 1010002 to %s and writes nothing', async (_name, body) => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await pushHuawei(r, typeof body === 'function' ? body() : body);
    expect(res).toMatchObject({ status: 400, json: { resultcode: '1010002' } });
    expect(sink.published).toHaveLength(0);
  });

  it('answers 413 to an oversized body and keeps serving', async () => {
    const sink = new MemorySink();
    const r = await start(sink, { bodyLimitBytes: 64 * 1024 });
    const huge = JSON.stringify({ eventType: 'fee', feeLst: [{ sessionId: 'x', pad: 'p'.repeat(200_000) }] });
    const res = await pushHuawei(r, huge);
    expect(res).toMatchObject({ status: 413, json: { resultcode: '1010002' } });
    expect(sink.published).toHaveLength(0);
    expect((await pushHuawei(r, feeBody(1))).status).toBe(200);
  });

  it('answers 503 when Kafka cannot take the batch, and lets the same headers in once it can', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const headers = { ...huaweiAuthHeaders(APP.appKey, APP.appSecret) };
    sink.failing = true;
    const res = await pushHuawei(r, feeBody(5), headers);
    expect(res).toMatchObject({ status: 503, json: { resultcode: '1010001' } });
    sink.failing = false;
    expect((await pushHuawei(r, feeBody(5), headers)).status).toBe(200);
    expect(sink.envelopes()).toHaveLength(5);
  });

  it('answers 503 when the Kafka acknowledgement does not come within ackTimeoutMs', async () => {
    const sink = new MemorySink();
    const r = await start(sink, { ackTimeoutMs: 150 });
    sink.hold();
    const res = await pushHuawei(r, feeBody(1));
    expect(res.status).toBe(503);
    sink.release();
  });

  it('withdraws a push that timed out while queued behind a stuck send: it was answered 503, so it is never sent later', async () => {
    const sink = new MemorySink();
    const r = await start(sink, { ackTimeoutMs: 150 });
    sink.hold();
    const first = pushHuawei(r, feeBody(1, 1));
    await sink.heldCount(1);
    // Queued behind the held send until its deadline: answered 503, so Huawei re-pushes it; sending it later anyway
    // would only duplicate it, and while Kafka hangs every such push would pile up in memory.
    expect((await pushHuawei(r, feeBody(2, 2))).status).toBe(503);
    expect((await first).status).toBe(503);
    sink.release();
    expect((await pushHuawei(r, feeBody(1, 3))).status).toBe(200);
    // The held send (already with Kafka, it cannot be called back) and the last push; never the withdrawn two.
    expect(sink.published.map((p) => p.envelopes.length)).toEqual([1, 1]);
  });

  it('routes call events to the events topic, keyed by sessionId, payload = the whole event', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const body = JSON.stringify({ eventType: 'disconnect', statusInfo: { sessionId: 's-1', timestamp: 1700000000, stateCode: 8102, stateDesc: 'busy' } });
    expect((await pushHuawei(r, body, { ...huaweiAuthHeaders(APP.appKey, APP.appSecret) }, '/huawei/privatenumber/event')).status).toBe(200);
    expect(sink.envelopes(EVENT_TOPIC)).toMatchObject([{ natural_key: 's-1', payload: body, attributes: { event_type: 'disconnect' } }]);
  });

  it('answers 405 to GET and 404 to an unknown path', async () => {
    const r = await start(new MemorySink());
    expect((await fetch(`${r.url}/huawei/privatenumber/fee`)).status).toBe(405);
    expect((await fetch(`${r.url}/nope`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('answers 408 in Huawei shape when the body does not arrive in time', async () => {
    const r = await start(new MemorySink(), { bodyTimeoutMs: 200 });
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(r.port, '127.0.0.1', () => {
        // Signed: an unsigned push is refused before its body is read.
        const auth = Object.entries(huaweiAuthHeaders(APP.appKey, APP.appSecret)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        socket.write(`POST /huawei/privatenumber/fee HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"eventT`);
      });
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(answer).toContain('"resultcode":"1010002"');
  });
});

describe('slow headers', () => {
  it('closes a connection still sending its headers within headersTimeoutMs and about a second (Node checked every 30 s)', async () => {
    const headersTimeoutMs = 300;
    const r = await start(new MemorySink(), { headersTimeoutMs });
    const socket = connect(r.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    const closed = new Promise<true>((resolve) => socket.once('close', () => resolve(true)));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /huawei/privatenumber/fee HTTP/1.1\r\nHost: x\r\n');
    // A header line every 100 ms: the connection is never idle, its headers just never end.
    const trickle = setInterval(() => socket.writable && socket.write(`x-slow-${Math.round(performance.now())}: 1\r\n`), 100);
    try {
      const bound = headersTimeoutMs + 1_500;
      const ended = await Promise.race([closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), bound).unref())]);
      expect(ended === undefined ? `still open after ${bound} ms` : 'closed').toBe('closed');
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });
});

describe('Alibaba LVMS TOP endpoint', () => {
  const dto = '{"call_record_id":9007199254740993123,"robot_call_job_id":5,"called_phone_number":"13800000000","result_status":"ANSWERED","chat_duration":42,"start_time":"2026-11-02 09:00:00"}';

  it.each(['md5', 'hmac', 'hmac-sha256'] as const)('accepts a %s-signed call and stores the DTO string exactly', async (signMethod) => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await submitLvmsRecord({ url: `${r.url}/router/rest`, ...LVMS, dto, signMethod, format: 'json' });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as Record<string, { lvms_result_d_t_o: unknown; request_id: string }>;
    expect(body['alibaba_lvms_lvr_receivecallrecord_response']!.lvms_result_d_t_o).toEqual({ count: 1, success: true, code: 'SUCCESS', message: 'accepted' });
    expect(sink.envelopes(LVMS_TOPIC)).toMatchObject([
      { vendor: 'alibaba-lvms', tenant_id: LVMS.appKey, natural_key: '9007199254740993123', payload: dto, connector: 'lvms-receiver', attributes: { sign_method: signMethod, rpc_context: '{}' } },
    ]);
  });

  /**
   * A call signed as a TOP client signs (over the values' UTF-8 bytes), then percent-encoded as GBK, whose bytes for
   * the two characters are checked against Node's own GBK decoder.
   */
  function gbkSignedParams(): string {
    const gbk: Record<string, number[]> = { 张: [0xd5, 0xc5], 三: [0xc8, 0xfd] };
    expect(new TextDecoder('gbk').decode(Uint8Array.from(Object.values(gbk).flat()))).toBe('张三');
    const encode = (text: string) => [...text].map((c) => gbk[c]?.map((b) => `%${b.toString(16).toUpperCase()}`).join('') ?? encodeURIComponent(c)).join('');
    const params = signedParams({ ...LVMS, dto: dto.replace('{', '{"name":"张三",'), format: 'json' });
    const encoded = [...params].map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&');
    expect(encoded).toContain('%D5%C5%C8%FD');
    return encoded;
  }

  it('refuses a form sent as GBK (TOP is UTF-8 only) as such, with or without charset=GBK, not as an invalid sign', async () => {
    const sink = new MemorySink();
    const registry = new Registry();
    const r = await start(sink, {}, registry);
    const body = gbkSignedParams();
    for (const contentType of ['application/x-www-form-urlencoded; charset=GBK', 'application/x-www-form-urlencoded']) {
      const res = await fetch(`${r.url}/router/rest`, { method: 'POST', headers: { 'content-type': contentType }, body });
      const err = ((await res.json()) as { error_response: Record<string, unknown> }).error_response;
      expect(err).toMatchObject({ code: 41, sub_code: 'isv.invalid-parameter:charset', sub_msg: expect.stringMatching(/TOP requests are UTF-8 only/) });
    }
    expect(sink.envelopes()).toEqual([]);
    const counted = (await registry.getSingleMetric('cdrflow_receiver_requests_total')!.get()).values.filter((v) => v.value > 0);
    expect(counted.map((v) => [v.labels['outcome'], v.labels['code'], v.value])).toEqual([['bad_request', '41/isv.invalid-parameter:charset', 2]]);
  });

  it('refuses GBK params in the URL (a GET, or a POST with its params in the query string) as such, not as an invalid sign', async () => {
    const sink = new MemorySink();
    const registry = new Registry();
    const r = await start(sink, {}, registry);
    const query = gbkSignedParams();
    for (const method of ['GET', 'POST']) {
      const res = await fetch(`${r.url}/router/rest?${query}`, { method });
      const err = ((await res.json()) as { error_response: Record<string, unknown> }).error_response;
      expect(err).toMatchObject({ code: 41, sub_code: 'isv.invalid-parameter:charset', sub_msg: expect.stringMatching(/query string .*TOP requests are UTF-8 only/) });
    }
    expect(sink.envelopes()).toEqual([]);
    const counted = (await registry.getSingleMetric('cdrflow_receiver_requests_total')!.get()).values.filter((v) => v.value > 0);
    expect(counted.map((v) => [v.labels['outcome'], v.labels['code'], v.value])).toEqual([['bad_request', '41/isv.invalid-parameter:charset', 2]]);
  });

  it('answers in XML when asked (and by default), and reads params from the query string too', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await submitLvmsRecord({ url: `${r.url}/router/rest`, ...LVMS, dto, format: 'xml', inQuery: true });
    expect(res.body).toMatch(/^<\?xml[^>]*\?><alibaba_lvms_lvr_receivecallrecord_response><lvms_result_d_t_o><count>1<\/count><success>true<\/success>/);
    expect(res.success).toBe(true);
    const params = signedParams({ ...LVMS, dto });
    params.delete('format');
    params.set('sign', 'x');
    const res2 = await fetch(`${r.url}/router/rest`, { method: 'POST', body: params });
    expect(await res2.text()).toMatch(/<error_response><code>25<\/code>/);
  });

  it('does not store a call sent again with the same sign inside the timestamp window (a replay of an older version would outrank a newer one), and answers it as its first copy', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const post = async (body: URLSearchParams) => readTopAnswer(await (await fetch(`${r.url}/router/rest`, { method: 'POST', body })).text());
    const v1 = signedParams({ ...LVMS, dto, format: 'json' });
    const v2 = signedParams({ ...LVMS, dto: dto.replace('"chat_duration":42', '"chat_duration":43'), format: 'json' });
    expect(await post(v1)).toMatchObject({ success: true });
    expect(await post(v2)).toMatchObject({ success: true });
    // Captured v1, sent again (as it was, with its sign in lower case, or with a blank parameter added that the sign
    // may leave out): stored, its newer received_at would make it the call's version in ClickHouse. A client re-sending
    // it after a lost answer is owed the success it missed.
    const lower = new URLSearchParams(v1);
    lower.set('sign', v1.get('sign')!.toLowerCase());
    const blank = new URLSearchParams(v1);
    blank.set('partner_id', '');
    for (const replay of [v1, lower, blank]) expect(await post(replay)).toEqual({ success: true, code: 'SUCCESS', message: expect.stringContaining('already stored') });
    expect(sink.envelopes(LVMS_TOPIC).map((e) => e.payload)).toEqual([v1.get('ivr_call_record_d_t_o'), v2.get('ivr_call_record_d_t_o')]);
  });

  it('refuses a parameter given both in the query string and in the form body, whichever value was signed', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const params = signedParams({ ...LVMS, dto, format: 'json' });
    for (const name of ['sign', 'app_key', 'ivr_call_record_d_t_o']) {
      // The signed value in the body, another (or the same) in the query: neither may be chosen silently.
      for (const queryValue of [params.get(name)!, 'other']) {
        const res = await fetch(`${r.url}/router/rest?${new URLSearchParams({ [name]: queryValue }).toString()}`, { method: 'POST', body: params });
        expect(readTopAnswer(await res.text())).toEqual({ success: false, code: '41', subCode: 'isv.invalid-parameter' });
      }
    }
    expect(sink.published).toHaveLength(0);
  });

  it('refuses a format spelled otherwise than json or xml (format=JSON) with code 23, in xml, writes nothing', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await fetch(`${r.url}/router/rest`, { method: 'POST', body: signedParams({ ...LVMS, dto, params: { format: 'JSON' } }) });
    expect(res.headers.get('content-type')).toBe('text/xml;charset=UTF-8');
    expect(await res.text()).toMatch(/<error_response><code>23<\/code><msg>Invalid Format<\/msg><sub_code>isv\.invalid-parameter:format<\/sub_code>/);
    expect(sink.published).toHaveLength(0);
  });

  it.each([
    ['a bad sign', 25, 'isv.invalid-signature', { sign: 'ABCDEF' }],
    ['an unknown app_key', 29, 'isv.appkey-not-exists', { app_key: 'nobody' }],
    ['a stale timestamp', 31, 'isv.invalid-parameter:timestamp', { timestamp: topTimestamp(Date.now() - 11 * 60_000) }],
    ['a malformed timestamp', 31, 'isv.invalid-parameter:timestamp', { timestamp: '2026/11/02 09:00' }],
    ['a timestamp from the future', 31, 'isv.invalid-parameter:timestamp', { timestamp: topTimestamp(Date.now() + 11 * 60_000) }],
    // TOP timestamps are GMT+8 without a zone: one in UTC is 8 hours off, one with a zone is not TOP's shape.
    ['a timestamp in UTC', 31, 'isv.invalid-parameter:timestamp', { timestamp: new Date().toISOString().slice(0, 19).replace('T', ' ') }],
    ['a timestamp with a zone', 31, 'isv.invalid-parameter:timestamp', { timestamp: `${topTimestamp(Date.now())}+08:00` }],
    ['a timestamp of a day that does not exist', 31, 'isv.invalid-parameter:timestamp', { timestamp: '2026-02-30 00:00:00' }],
    ['a huge timestamp', 31, 'isv.invalid-parameter:timestamp', { timestamp: '99999999999' }],
    ['v=1.0', 34, 'isv.invalid-parameter:v', { v: '1.0' }],
    ['another method', 22, 'isv.invalid-parameter:method', { method: 'alibaba.lvms.lvr.importcallcustomer' }],
    ['an unknown sign_method', 25, 'isv.invalid-parameter:sign_method', { sign_method: 'sha1' }],
    ['an empty DTO', 40, 'isv.missing-parameter:ivr_call_record_d_t_o', { ivr_call_record_d_t_o: '' }],
    ['a DTO that is not JSON', 41, 'isv.invalid-parameter:ivr_call_record_d_t_o', { ivr_call_record_d_t_o: '{call_record_id:1' }],
  ])('refuses %s with TOP error_response code %i (%s), writes nothing', async (_name, code, subCode, params) => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await submitLvmsRecord({ url: `${r.url}/router/rest`, ...LVMS, dto, format: 'json', params });
    expect(res.status).toBe(200);
    const error = (JSON.parse(res.body) as { error_response: Record<string, unknown> }).error_response;
    expect(error).toMatchObject({ code, sub_code: subCode });
    expect(error['msg']).toEqual(expect.any(String));
    expect(error['request_id']).toEqual(expect.any(String));
    expect(sink.published).toHaveLength(0);
  });

  it('stores a DTO no key can be formed for under a key its text gives (normalize dead-letters it), instead of an isv.* refusal a TOP client never retries', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const keyless = '{"name":"x","phone_number":"13800000000"}';
    // One clock reading for both: read per push, the second push's second minus one could be the first's second again
    // (the TOP timestamp has whole seconds), the same sign.
    const now = Date.now();
    for (let push = 0; push < 2; push++) {
      // Signed anew (another second), as a re-push is: the same sign again would be refused as a replay.
      const res = await submitLvmsRecord({ url: `${r.url}/router/rest`, ...LVMS, dto, format: 'json', nowMs: now - push * 1000, params: { ivr_call_record_d_t_o: keyless } });
      expect(JSON.parse(res.body)).toHaveProperty('alibaba_lvms_lvr_receivecallrecord_response');
    }
    const stored = sink.published.map((p) => p.envelopes[0]!);
    expect(stored.map((e) => e.payload)).toEqual([keyless, keyless]);
    // A re-push lands on the same key.
    expect(new Set(stored.map((e) => e.natural_key))).toEqual(new Set([`sha256:${createHash('sha256').update(keyless).digest('hex')}`]));
    expect(stored[0]!.attributes).toMatchObject({ key_source: 'payload-sha256' });
  });

  it('answers a body that does not arrive in time with a retryable isp.* error: nothing was stored, the record is not at fault', async () => {
    const r = await start(new MemorySink(), { bodyTimeoutMs: 200 });
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(r.port, '127.0.0.1', () => {
        socket.write('POST /router/rest?format=json HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nmethod=ali');
      });
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    // A TOP client retries isp.* and gives an isv.* answer up as its own mistake: the record would be lost.
    expect(readTopAnswer(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ success: false, code: '10', subCode: 'isp.request-timeout' });
  });

  it('answers 503 with a retryable isp.* error when Kafka cannot take the record', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    sink.failing = true;
    const res = await submitLvmsRecord({ url: `${r.url}/router/rest`, ...LVMS, dto, format: 'json' });
    expect(res).toMatchObject({ status: 503, success: false, code: '10', subCode: 'isp.service-unavailable' });
  });
});

describe('receiver transport', () => {
  it('finishes in-flight requests on stop() and refuses new connections afterwards', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    sink.hold();
    const inFlight = pushHuawei(r, feeBody(3));
    await sink.heldCount(1);
    const stopped = r.stop();
    // The held push is still waiting for "Kafka"; stop must wait for it rather than cut it off.
    sink.release();
    expect((await inFlight).status).toBe(200);
    await stopped;
    expect(sink.envelopes()).toHaveLength(3);
    await expect(fetch(`${r.url}/healthz`)).rejects.toThrow();
  });

  it('counts requests by outcome and code, records published and latency', async () => {
    const registry = new Registry();
    const sink = new MemorySink();
    const r = await start(sink, {}, registry);
    await pushHuawei(r, feeBody(4));
    await pushHuawei(r, feeBody(1), { ...huaweiAuthHeaders(APP.appKey, 'wrong') });
    // Kafka not taking a push: the outcome the alert CdrflowReceiverUnavailable matches.
    sink.failing = true;
    await pushHuawei(r, feeBody(2));
    sink.failing = false;
    const text = await registry.metrics();
    expect(text).toMatch(/cdrflow_receiver_requests_total\{vendor="huawei-privatenumber",outcome="unavailable",code="1010001"\} 1/);
    expect(text).toMatch(/cdrflow_receiver_requests_total\{vendor="huawei-privatenumber",outcome="accepted",code="0"\} 1/);
    expect(text).toMatch(/cdrflow_receiver_requests_total\{vendor="huawei-privatenumber",outcome="auth_failed",code="1010003"\} 1/);
    expect(text).toMatch(/cdrflow_receiver_records_published_total\{vendor="huawei-privatenumber",topic="t.fee"\} 4/);
    expect(text).toMatch(/cdrflow_receiver_request_duration_seconds_count\{vendor="huawei-privatenumber",outcome="accepted"\} 1/);
    // One Kafka send acknowledged (the refused push sent nothing), one failed.
    expect(text).toMatch(/cdrflow_receiver_kafka_send_seconds_count\{topic="t.fee",outcome="acknowledged"\} 1/);
    expect(text).toMatch(/cdrflow_receiver_kafka_send_seconds_count\{topic="t.fee",outcome="failed"\} 1/);
  });
});
