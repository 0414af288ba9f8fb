// The hostile pushes of issue 15 at the receiver's door, each refused in the vendor's documented error shape with
// nothing stored — never answered success while a member is dropped, and never a key Kafka would choke on.
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../push-vendors.ts';
import { type RunningReceiver } from './receiver.ts';
import { MemorySink } from './fixtures/memory-sink.ts';
import { memoryLog, silentLog } from '../../core/log.ts';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { huaweiAuthHeaders } from '../../simulators/huawei-privatenumber/sign.ts';
import { HuaweiFeeGenerator } from '../../simulators/huawei-privatenumber/generator.ts';
import { signedParams, submitLvmsRecord } from '../../simulators/alibaba-lvms/submitter.ts';

const APP = { appKey: 'hwAppKey01', appSecret: 'hwSecret01', mode: 'AXB' as const };
const LVMS = { appKey: '34567890', appSecret: 'lvmsSecret' };
const running: RunningReceiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function start(sink: MemorySink) {
  const r = await startReceiver(
    { port: 0, huawei: { apps: [APP], topics: { fee: 't.fee', events: 't.events' } }, lvms: { apps: [LVMS], topic: 't.lvms' } },
    { sink, log: silentLog },
  );
  running.push(r);
  return r;
}

async function pushHuawei(r: RunningReceiver, body: string | Buffer) {
  const res = await fetch(`${r.url}/huawei/privatenumber/fee`, {
    method: 'POST',
    headers: { 'content-type': 'application/json;charset=UTF-8', ...huaweiAuthHeaders(APP.appKey, APP.appSecret) },
    body,
  });
  return { status: res.status, json: (await res.json()) as { resultcode: string; resultdesc: string } };
}

const fee = (seed: number) => JSON.stringify(new HuaweiFeeGenerator({ seed, appKey: APP.appKey }).batch(1)[0]);

describe('Huawei push: what no real push carries is refused with 400 / 1010002 and nothing stored', () => {
  it('a feeLst given twice (JSON.parse would keep only B and we would answer Success)', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await pushHuawei(r, `{"eventType":"fee","feeLst":[${fee(1)}],"feeLst":[${fee(2)}]}`);
    expect(res).toEqual({ status: 400, json: { resultcode: '1010002', resultdesc: 'Invalid request: duplicate JSON member "feeLst" in one object' } });
    expect(sink.envelopes()).toEqual([]);
  });

  it('an eventType other than "fee" without statusInfo: the answer says it was read as a call event', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await pushHuawei(r, `{"eventType":"Fee","feeLst":[${fee(5)}]}`);
    expect(res).toEqual({
      status: 400,
      json: { resultcode: '1010002', resultdesc: 'Invalid request: eventType "Fee" is not "fee", so the push is a call event, whose statusInfo must be an object' },
    });
    expect(sink.envelopes()).toEqual([]);
  });

  it('a member given twice inside one CDR', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const record = fee(3).replace('{', '{"sessionId":"a","sessionId":"b",');
    const res = await pushHuawei(r, `{"eventType":"fee","feeLst":[${record}]}`);
    expect(res.status).toBe(400);
    expect(res.json.resultdesc).toMatch(/duplicate JSON member "sessionId"/);
    expect(sink.envelopes()).toEqual([]);
  });

  it('a record nested 5,000 levels deep (10 KB), which used to be answered Success and then stop normalize', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    const res = await pushHuawei(r, `{"eventType":"fee","feeLst":[${fee(4).replace('{', `{"x":${deep},`)}]}`);
    expect(res).toEqual({ status: 400, json: { resultcode: '1010002', resultdesc: 'Invalid request: JSON nested deeper than 16 levels' } });
    expect(sink.envelopes()).toEqual([]);
  });

  it.each([250_000, 500_000])('a sessionId of %i characters (it froze the process in the Kafka partitioner)', async (length) => {
    const sink = new MemorySink();
    const r = await start(sink);
    const record = JSON.parse(fee(5)) as Record<string, unknown>;
    record['sessionId'] = 's'.repeat(length);
    const res = await pushHuawei(r, JSON.stringify({ eventType: 'fee', feeLst: [record] }));
    expect(res.status).toBe(400);
    expect(res.json.resultdesc).toBe(`Invalid request: feeLst[0]: sessionId is ${length} bytes long (limit 256): "${'s'.repeat(40)}"… (${length} chars)`);
    expect(sink.envelopes()).toEqual([]);
  });

  it('a record over 64 KiB', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const record = JSON.parse(fee(9)) as Record<string, unknown>;
    record['userData'] = 'u'.repeat(70_000);
    const res = await pushHuawei(r, JSON.stringify({ eventType: 'fee', feeLst: [record] }));
    expect(res.json.resultdesc).toMatch(/^Invalid request: feeLst\[0\]: record is \d+ bytes \(limit 65536 per record\)$/);
    expect(sink.envelopes()).toEqual([]);
  });

  it('a call event over 64 KiB (its whole body is the record: the fee limit held only for feeLst)', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const event = { eventType: 'disconnect', statusInfo: { sessionId: 'big-event-1', userData: 'u'.repeat(70_000) } };
    const res = await pushHuawei(r, JSON.stringify(event));
    expect(res.status).toBe(400);
    expect(res.json.resultdesc).toMatch(/^Invalid request: call event: record is \d+ bytes \(limit 65536 per record\)$/);
    expect(sink.envelopes()).toEqual([]);
  });

  it('a sessionId longer than 256 bytes in an otherwise small record', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const record = JSON.parse(fee(6)) as Record<string, unknown>;
    record['sessionId'] = '会'.repeat(100);
    const res = await pushHuawei(r, JSON.stringify({ eventType: 'fee', feeLst: [record] }));
    expect(res.status).toBe(400);
    expect(res.json.resultdesc).toMatch(/^Invalid request: feeLst\[0\]: sessionId is 300 bytes long \(limit 256\): "会会/);
    expect(sink.envelopes()).toEqual([]);
  });

  it('invalid UTF-8 and unpaired surrogates', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    const text = `{"eventType":"fee","feeLst":[${fee(7)}]}`;
    const broken = Buffer.concat([Buffer.from(text.slice(0, 40)), Buffer.from([0xff]), Buffer.from(text.slice(40))]);
    expect((await pushHuawei(r, broken)).json).toEqual({ resultcode: '1010002', resultdesc: 'Invalid request: body is not UTF-8 JSON' });
    const surrogate = await pushHuawei(r, text.replace('{"eventType"', '{"x":"\\ud800","eventType"'));
    expect(surrogate.json.resultdesc).toBe('Invalid request: invalid UTF-8: the text carries an unpaired surrogate');
    expect(sink.envelopes()).toEqual([]);
  });

  it('still stores a normal push', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    expect((await pushHuawei(r, `{"eventType":"fee","feeLst":[${fee(8)}]}`)).status).toBe(200);
    expect(sink.envelopes()).toHaveLength(1);
  });
});

describe('LVMS TOP endpoint: the same limits on ivr_call_record_d_t_o, answered as TOP error 41', () => {
  const dto = { call_record_id: 42, called_phone_number: '13800000000', result_status: 'ANSWERED', chat_duration: 42, start_time: '2025-11-02 09:00:00' };
  const cases: [string, string, RegExp][] = [
    ['a member given twice', JSON.stringify(dto).replace('{', '{"chat_duration":1,'), /duplicate JSON member "chat_duration"/],
    ['nesting 5,000 deep', JSON.stringify({ ...dto, x: 0 }).replace('"x":0', `"x":${'{"n":'.repeat(5000)}1${'}'.repeat(5000)}`), /nested deeper than 16 levels/],
    ['a composite key over 256 bytes', JSON.stringify({ ...dto, call_record_id: undefined, robot_call_job_id: 5, called_phone_number: '1'.repeat(300) }), /composite key .* is \d+ bytes long \(limit 256\)/],
  ];
  it.each(cases)('%s', async (_name, text, problem) => {
    const sink = new MemorySink();
    const r = await start(sink);
    const res = await submitLvmsRecord({ url: `${r.url}/router/rest`, ...LVMS, dto: text, format: 'json' });
    const err = (JSON.parse(res.body) as { error_response: { code: number; sub_code: string; sub_msg: string } }).error_response;
    expect(err).toMatchObject({ code: 41, sub_code: 'isv.invalid-parameter:ivr_call_record_d_t_o', sub_msg: expect.stringMatching(problem) });
    expect(sink.envelopes()).toEqual([]);
  });

  it('invalid UTF-8 percent-encoded in the form (URLSearchParams would silently make it U+FFFD)', async () => {
    const sink = new MemorySink();
    const r = await start(sink);
    // Signed over what the server decodes, so only the UTF-8 rule can refuse it.
    const params = signedParams({ ...LVMS, dto: JSON.stringify({ ...dto, name: 'a\uFFFDb' }), format: 'json' });
    const body = params.toString().replace('%EF%BF%BD', '%FF');
    const res = await fetch(`${r.url}/router/rest`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const err = ((await res.json()) as { error_response: { code: number; sub_msg: string } }).error_response;
    expect(err).toMatchObject({ code: 41, sub_msg: expect.stringMatching(/invalid UTF-8/) });
    expect(sink.envelopes()).toEqual([]);
  });
});

describe('what a refused request quotes back is bounded, and a malformed request target is a 400', () => {
  it('an unknown app_key of 900 KB: a short answer and one short log line (each was the whole key: 171 MiB of log from 200 requests)', async () => {
    const log = memoryLog();
    const r = await startReceiver({ port: 0, lvms: { apps: [LVMS], topic: 't.lvms' } }, { sink: new MemorySink(), log });
    running.push(r);
    const body = new URLSearchParams({ method: 'alibaba.lvms.lvr.receivecallrecord', app_key: 'K'.repeat(900_000), format: 'json' }).toString();
    const res = await fetch(`${r.url}/router/rest`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const text = await res.text();
    expect(text).toContain('isv.appkey-not-exists');
    expect(text.length).toBeLessThan(1_000);
    const refused = log.entries.filter((e) => e.event === 'receiver.push_refused');
    expect(refused).toHaveLength(1);
    expect(JSON.stringify(refused[0]!.fields).length).toBeLessThan(1_000);
  });

  it("what Node refuses before a request exists gets Node's answer and is counted (headers too large, broken chunks)", async () => {
    const registry = new Registry();
    const r = await startReceiver({ port: 0, lvms: { apps: [LVMS], topic: 't.lvms' } }, { sink: new MemorySink(), log: silentLog, registry });
    running.push(r);
    const { port } = new URL(r.url);
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
    expect(await raw(`POST /router/rest HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    expect(await raw('POST /router/rest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    const counted = (await registry.getSingleMetric('cdrflow_receiver_requests_total')!.get()).values.filter((v) => v.labels['vendor'] === 'none');
    expect(counted.map((v) => `${v.labels['outcome']} ${v.labels['code']} ${v.value}`).sort()).toEqual(['bad_request 400 1', 'too_large 431 1']);
  });

  it('a flood of refused pushes logs the first 20 of each second and sums up the rest in one line (the metric counts all)', async () => {
    const log = memoryLog();
    const registry = new Registry();
    const second = Date.now();
    const r = await startReceiver({ port: 0, lvms: { apps: [LVMS], topic: 't.lvms' } }, { sink: new MemorySink(), log, registry, now: () => second });
    const body = new URLSearchParams({ method: 'alibaba.lvms.lvr.receivecallrecord', app_key: 'nobody', format: 'json' }).toString();
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${r.url}/router/rest`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      await res.text();
    }
    await r.stop();
    expect(log.entries.filter((e) => e.event === 'receiver.push_refused')).toHaveLength(20);
    const summary = log.entries.filter((e) => e.event === 'receiver.push_refused_suppressed');
    expect(summary.map((e) => e.fields)).toEqual([{ route: 'alibaba-lvms', outcome: 'auth_failed', count: 40, second: new Date(Math.floor(second / 1000) * 1000).toISOString() }]);
    const counted = (await registry.getSingleMetric('cdrflow_receiver_requests_total')!.get()).values.filter((v) => v.labels['outcome'] === 'auth_failed');
    expect(counted.reduce((n, v) => n + v.value, 0)).toBe(60);
  });

  it('a transfer coding other than chunked is refused 501 and a content coding 415, in each vendor\'s shape, unread', async () => {
    const sink = new MemorySink();
    const registry = new Registry();
    const r = await startReceiver(
      { port: 0, huawei: { apps: [APP], topics: { fee: 't.fee', events: 't.events' } }, lvms: { apps: [LVMS], topic: 't.lvms' } },
      { sink, log: silentLog, registry },
    );
    running.push(r);
    const { port } = new URL(r.url);
    const raw = (head: string, body: string) =>
      new Promise<string>((resolve, reject) => {
        const chunked = `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(`${head}\r\n${chunked}`));
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
    const huaweiHead = (coding: string) =>
      `POST /huawei/privatenumber/fee HTTP/1.1\r\nHost: x\r\nContent-Type: application/json;charset=UTF-8\r\n${Object.entries(huaweiAuthHeaders(APP.appKey, APP.appSecret)).map(([k, v]) => `${k}: ${v}\r\n`).join('')}${coding}`;
    const feePush = `{"eventType":"fee","feeLst":[${fee(9)}]}`;
    const gzipTe = await raw(huaweiHead('Transfer-Encoding: gzip, chunked\r\n'), feePush);
    expect(gzipTe).toMatch(/^HTTP\/1\.1 501 /);
    expect(gzipTe).toMatch(/\r\nconnection: close\r\n/i);
    expect(gzipTe).toContain('{"resultcode":"1010002","resultdesc":"Invalid request: Transfer-Encoding \\"gzip, chunked\\" is not supported (only chunked)"}');
    const gzipCe = await raw(huaweiHead('Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n'), feePush);
    expect(gzipCe).toMatch(/^HTTP\/1\.1 415 /);
    expect(gzipCe).toContain('{"resultcode":"1010002","resultdesc":"Invalid request: Content-Encoding \\"gzip\\" is not supported (a push is sent uncompressed)"}');

    const form = signedParams({ ...LVMS, dto: JSON.stringify({ call_record_id: 43, called_phone_number: '13800000000', result_status: 'ANSWERED', chat_duration: 42, start_time: '2025-11-02 09:00:00' }) }).toString();
    const lvmsHead = (coding: string) => `POST /router/rest?format=json HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded;charset=utf-8\r\n${coding}`;
    const lvmsTe = await raw(lvmsHead('Transfer-Encoding: deflate, chunked\r\n'), form);
    expect(lvmsTe).toMatch(/^HTTP\/1\.1 501 /);
    expect(lvmsTe).toMatch(/"error_response":\{"code":41,"msg":"Invalid Arguments","sub_code":"isv.transfer-coding-not-supported"/);
    const lvmsCe = await raw(lvmsHead('Transfer-Encoding: chunked\r\nContent-Encoding: br\r\n'), form);
    expect(lvmsCe).toMatch(/^HTTP\/1\.1 415 /);
    expect(lvmsCe).toMatch(/"error_response":\{"code":41,"msg":"Invalid Arguments","sub_code":"isv.content-coding-not-supported"/);

    expect(sink.envelopes()).toEqual([]);
    expect(r.bodyBytesHeld()).toBe(0);
    const counted = (await registry.getSingleMetric('cdrflow_receiver_requests_total')!.get()).values.filter((v) => v.value > 0);
    expect(counted.map((v) => `${v.labels['vendor']} ${v.labels['outcome']} ${v.labels['code']} ${v.value}`).sort()).toEqual([
      'alibaba-lvms bad_request 41/isv.content-coding-not-supported 1',
      'alibaba-lvms bad_request 41/isv.transfer-coding-not-supported 1',
      'huawei-privatenumber bad_request 1010002/content-coding-not-supported 1',
      'huawei-privatenumber bad_request 1010002/transfer-coding-not-supported 1',
    ]);
  });

  it('a request target the URL parser refuses gets 400, not an empty 500', async () => {
    const r = await start(new MemorySink());
    const { port } = new URL(r.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('POST http://[ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('malformed request target');
  });
});
