// resolveRecordingUrl against the stand-in for Huawei's recording API (simulators/huawei-privatenumber/recording-api.ts), which checks X-AKSK.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRecordingUrl } from './recording.ts';
import { MAX_RECORDING_URL_CHARS } from '../../core/input-limits.ts';
import type { CdrflowError } from '../../core/errors.ts';
import { ANSWER_EXCERPT_BYTES } from '../poller/vendor-answer.ts';
import { startRecordingApi, type RecordingApiStandIn } from '../../simulators/huawei-privatenumber/recording-api.ts';

const APP = { appKey: 'recApp', appSecret: 'recSecret' };
let api: RecordingApiStandIn;
let baseUrl: string;

beforeAll(async () => {
  api = await startRecordingApi([APP]);
  baseUrl = api.url;
});
afterAll(() => api.close());

const recorded = { recordFlag: 1, recordObjectName: 'a.wav', recordDomain: 'ostor.huawei.com', recordFileDownloadUrl: 'https://fallback/a.wav' };

describe('resolveRecordingUrl', () => {
  it('reads the 301 Location without following it', async () => {
    expect(await resolveRecordingUrl(recorded, { baseUrl, ...APP })).toEqual({ kind: 'url', url: 'https://ostor.huawei.com/download/a.wav?sig=abc', source: 'api' });
  });

  it('skips unrecorded calls and uses recordFileDownloadUrl when recordDomain is empty', async () => {
    expect(await resolveRecordingUrl({ recordFlag: 0 }, { baseUrl, ...APP })).toMatchObject({ kind: 'none' });
    expect(await resolveRecordingUrl({ ...recorded, recordDomain: '' }, { baseUrl, ...APP })).toEqual({ kind: 'url', url: 'https://fallback/a.wav', source: 'recordFileDownloadUrl' });
  });

  it('falls back when the API refuses, and reports an expired recording', async () => {
    expect(await resolveRecordingUrl({ ...recorded, recordObjectName: 'gone.wav' }, { baseUrl, ...APP })).toMatchObject({ kind: 'url', source: 'recordFileDownloadUrl', note: expect.stringContaining('does not exist') });
    expect(await resolveRecordingUrl({ ...recorded, recordObjectName: 'gone.wav', recordFileDownloadUrl: '' }, { baseUrl, ...APP })).toMatchObject({ kind: 'none', reason: expect.stringContaining('7 days') });
  });

  it('classifies refused credentials as auth (stop), not as bad data', async () => {
    await expect(resolveRecordingUrl({ ...recorded, recordFileDownloadUrl: '' }, { baseUrl, appKey: APP.appKey, appSecret: 'wrong' })).rejects.toMatchObject({ kind: 'auth' });
  });

  it('classifies a refusal of missing credential parts as auth by its result code, though Huawei answers it 400', async () => {
    const withoutAksk: typeof fetch = (input, init) => {
      const headers = new Headers(init?.headers);
      headers.delete('x-aksk');
      return fetch(input, { ...init, headers });
    };
    await expect(resolveRecordingUrl({ ...recorded, recordFileDownloadUrl: '' }, { baseUrl, ...APP, fetchImpl: withoutAksk })).rejects.toMatchObject({ kind: 'auth', code: '1023033' });
  });

  it('serves non-ASCII and control-character file names, percent-encoded into the link, and never throws', async () => {
    const failuresBefore = api.failures;
    for (const name of ['录音文件.wav', 'a\u0001b\r\nSet-Cookie: x.wav', 'x y#?.wav']) {
      const r = await resolveRecordingUrl({ ...recorded, recordObjectName: name }, { baseUrl, ...APP });
      expect(r).toEqual({ kind: 'url', url: `https://ostor.huawei.com/download/${encodeURIComponent(name)}?sig=abc`, source: 'api' });
    }
    expect(api.requests.at(-3)?.fileName).toBe('录音文件.wav');
    expect(api.failures).toBe(failuresBefore);
  });

  it('answers an unusable recordDomain with the API error shape instead of taking its host process down', async () => {
    await expect(resolveRecordingUrl({ ...recorded, recordDomain: 'bad domain\u0000', recordFileDownloadUrl: '' }, { baseUrl, ...APP })).rejects.toThrow(/HTTP 400 1010002: Invalid request: recordDomain is not a host name/);
    expect(api.failures).toBe(0);
  });

  it('asks nothing for a call that talked under 3 s (Huawei records none): hands on the record\'s own link, else says why', async () => {
    let asked = 0;
    const counting: typeof fetch = (input, init) => {
      asked += 1;
      return fetch(input, init);
    };
    const opts = { baseUrl, ...APP, fetchImpl: counting };
    const talked = (sec: number) => ({ ...recorded, fwdAnswerTime: '2025-12-01 10:00:00', callEndTime: `2025-12-01 10:00:0${sec}` });
    expect(await resolveRecordingUrl(talked(2), opts)).toEqual({ kind: 'url', url: 'https://fallback/a.wav', source: 'recordFileDownloadUrl' });
    expect(await resolveRecordingUrl({ ...talked(0), recordFileDownloadUrl: '' }, opts)).toEqual({ kind: 'none', reason: 'the call talked 0 s: Huawei records no call under 3 s' });
    expect(asked).toBe(0);
    // 3 s is recorded; without both times the talk is not known, and the API is asked as before.
    expect(await resolveRecordingUrl(talked(3), opts)).toMatchObject({ kind: 'url', source: 'api' });
    expect(await resolveRecordingUrl({ ...talked(2), callEndTime: '' }, opts)).toMatchObject({ kind: 'url', source: 'api' });
    expect(asked).toBe(2);
  });

  it("asks nothing for a recordObjectName or recordDomain outside the API's String(1-128): falls back with the reason, or fails as a refused lookup", async () => {
    let asked = 0;
    const counting: typeof fetch = (input, init) => {
      asked += 1;
      return fetch(input, init);
    };
    const opts = { baseUrl, ...APP, fetchImpl: counting };
    for (const [field, value] of [
      ['recordObjectName', `${'n'.repeat(64 * 1024)}.wav`],
      ['recordObjectName', 'n'.repeat(129)],
      ['recordDomain', 'd'.repeat(129)],
    ] as const) {
      const fee = { ...recorded, [field]: value };
      const link = await resolveRecordingUrl(fee, opts);
      expect(link).toMatchObject({ kind: 'url', url: 'https://fallback/a.wav', source: 'recordFileDownloadUrl', note: expect.stringMatching(new RegExp(`^${field} ".*… \\(${value.length} chars\\) is more than the recording API takes \\(String\\(1-128\\)\\): not looked up$`)) });
      expect((link as { note: string }).note.length).toBeLessThan(200);
      await expect(resolveRecordingUrl({ ...fee, recordFileDownloadUrl: '' }, opts)).rejects.toMatchObject({ kind: 'bad_record', message: expect.stringContaining(`Huawei recording API not asked: ${field} "`) });
    }
    expect(asked).toBe(0);
    // 128 characters is still a file name the API takes.
    expect(await resolveRecordingUrl({ ...recorded, recordObjectName: 'n'.repeat(128) }, opts)).toMatchObject({ kind: 'url', source: 'api' });
    expect(asked).toBe(1);
  });

  it('quotes and cuts what a broken or hostile API answers (control characters, a long resultdesc) before it reaches a link note or an error', async () => {
    const hostile = `\u001b[2J\r\n${'forged line\u0085\u202e\n'.repeat(200)}gone`;
    expect(hostile.length).toBeGreaterThan(2500);
    expect(Buffer.byteLength(JSON.stringify({ resultcode: '1010001', resultdesc: hostile }))).toBeLessThan(ANSWER_EXCERPT_BYTES);
    const answers = [
      JSON.stringify({ resultcode: '1010001', resultdesc: hostile }),
      JSON.stringify({ resultcode: `\u001b]0;${'9'.repeat(500)}`, resultdesc: 'busy' }),
      `<html>\u001b[2J${hostile}</html>`,
    ];
    // The file name picks the answer: `<index>.wav`.
    const broken = createServer((req, res) => {
      req.resume();
      const index = Number.parseInt(new URL(req.url ?? '/', 'http://x').searchParams.get('fileName') ?? '', 10);
      res.writeHead(503, { 'content-type': 'application/json;charset=UTF-8' }).end(answers[index]);
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    const brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    // eslint-disable-next-line no-control-regex
    const unsafe = /[\u0000-\u001f\u007f-\u009f\u202e]/;
    try {
      const said: string[] = [];
      for (let i = 0; i < answers.length; i++) {
        const fee = { ...recorded, recordObjectName: `${i}.wav` };
        const link = await resolveRecordingUrl(fee, { baseUrl: brokenUrl, ...APP });
        said.push(link.kind === 'url' ? (link.note ?? '') : link.reason);
        const err = await resolveRecordingUrl({ ...fee, recordFileDownloadUrl: '' }, { baseUrl: brokenUrl, ...APP }).then(() => undefined, (e: unknown) => e as CdrflowError);
        said.push(err?.message ?? '', err?.code ?? '');
      }
      for (const text of said) {
        expect(text).not.toMatch(unsafe);
        // Cut to 200 characters (40 for the code), then escaped: at most 6 characters each, and a line of context.
        expect(text.length).toBeLessThan(6 * 240 + 100);
      }
      expect(said[0]).toMatch(/^recording API answered HTTP 503 1010001: "\\u001b\[2J\\r\\nforged line\\u0085\\u202e\\n.*… \(\d+ chars\)$/);
      expect(said[3]).toMatch(/^recording API answered HTTP 503 "\\u001b\]0;9+"… \(\d+ chars\): busy$/);
      expect(said[6]).toMatch(/^recording API answered HTTP 503: "<html>\\u001b\[2J/);
    } finally {
      broken.closeAllConnections();
      await new Promise((r) => broken.close(r));
    }
  });

  it("hands on the fee record's own recordFileDownloadUrl only under the Location's rule: any other is as if absent, quoted in the reason", async () => {
    const hostile = [
      'javascript:alert(1)',
      'https://dl.example/\u001b]8;;https://evil.example\u0007r.wav',
      'https://dl.example/\u202evaw.exe',
      'https://dl.example/a\u0085.wav',
      `https://dl.example/${'a'.repeat(MAX_RECORDING_URL_CHARS)}.wav`,
    ];
    for (const url of hostile) {
      // Nothing to ask the API: the record's link was all there was.
      const alone = await resolveRecordingUrl({ ...recorded, recordDomain: '', recordFileDownloadUrl: url }, { baseUrl, ...APP });
      expect(alone).toMatchObject({ kind: 'none', reason: expect.stringMatching(/^the CDR's recordFileDownloadUrl is not an absolute http\(s\) URL of printable ASCII within 8192 characters: "/) });
      // eslint-disable-next-line no-control-regex
      expect((alone as { reason: string }).reason).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/u);
      expect((alone as { reason: string }).reason.length).toBeLessThan(300);
      // The API refused: its answer is the outcome, not the record's link.
      expect(await resolveRecordingUrl({ ...recorded, recordObjectName: 'gone.wav', recordFileDownloadUrl: url }, { baseUrl, ...APP })).toMatchObject({ kind: 'none', reason: expect.stringContaining('7 days') });
      await expect(resolveRecordingUrl({ ...recorded, recordDomain: 'd'.repeat(129), recordFileDownloadUrl: url }, { baseUrl, ...APP })).rejects.toMatchObject({ kind: 'bad_record' });
    }
    // The API's link still wins over a bad one of the record's.
    expect(await resolveRecordingUrl({ ...recorded, recordFileDownloadUrl: hostile[0] }, { baseUrl, ...APP })).toEqual({ kind: 'url', url: 'https://ostor.huawei.com/download/a.wav?sig=abc', source: 'api' });
  });

  it('takes a Location only when it is an absolute http(s) URL of printable ASCII within MAX_RECORDING_URL_CHARS: anything else falls back, with the reason quoted', async () => {
    const locations = [
      'javascript:alert(1)',
      '/download/a.wav',
      // Bytes a URL never holds (fetch reads them as latin1: U+0085 is a line break to some, U+009B a terminal's CSI).
      'https://ostor.huawei.com/download/a\u0085\u009b2J.wav',
      `https://ostor.huawei.com/download/${'x'.repeat(MAX_RECORDING_URL_CHARS)}.wav`,
    ];
    const redirecting = createServer((req, res) => {
      req.resume();
      const index = Number.parseInt(new URL(req.url ?? '/', 'http://x').searchParams.get('fileName') ?? '', 10);
      res.writeHead(301, { location: locations[index] ?? 'https://ostor.huawei.com/download/ok.wav' }).end();
    });
    await new Promise<void>((r) => redirecting.listen(0, '127.0.0.1', r));
    const redirectingUrl = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`;
    try {
      // The same server's well-formed Location is taken.
      expect(await resolveRecordingUrl({ ...recorded, recordObjectName: 'ok.wav' }, { baseUrl: redirectingUrl, ...APP })).toEqual({ kind: 'url', url: 'https://ostor.huawei.com/download/ok.wav', source: 'api' });
      for (let i = 0; i < locations.length; i++) {
        const fee = { ...recorded, recordObjectName: `${i}.wav` };
        const link = await resolveRecordingUrl(fee, { baseUrl: redirectingUrl, ...APP });
        expect(link).toMatchObject({ kind: 'url', url: recorded.recordFileDownloadUrl, source: 'recordFileDownloadUrl', note: expect.stringMatching(/^recording API answered HTTP 301 with a Location that is not an absolute http\(s\) URL .*: "/) });
        // eslint-disable-next-line no-control-regex
        expect((link as { note: string }).note).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
        expect((link as { note: string }).note.length).toBeLessThan(400);
        await expect(resolveRecordingUrl({ ...fee, recordFileDownloadUrl: '' }, { baseUrl: redirectingUrl, ...APP })).rejects.toMatchObject({ kind: 'transient', code: 'malformed-response' });
      }
    } finally {
      redirecting.closeAllConnections();
      await new Promise((r) => redirecting.close(r));
    }
  });

  it('reads no more of an error answer than its result code and words: one that never ends is cut, its connection closed', async () => {
    let closedAt: (at: number) => void = () => undefined;
    const closed = new Promise<number>((r) => (closedAt = r));
    const endless = createServer((req, res) => {
      req.socket.once('close', () => closedAt(Date.now()));
      res.writeHead(503, { 'content-type': 'application/json;charset=UTF-8' }).write('{"resultcode":"1010001","resultdesc":"busy","pad":"');
      const more = setInterval(() => res.write('x'.repeat(1024)), 5);
      res.on('close', () => clearInterval(more));
    });
    await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r));
    try {
      const timeoutMs = 10_000;
      const started = Date.now();
      const link = await resolveRecordingUrl(recorded, { baseUrl: `http://127.0.0.1:${(endless.address() as AddressInfo).port}`, ...APP, timeoutMs });
      expect(link).toMatchObject({ kind: 'url', source: 'recordFileDownloadUrl', note: expect.stringContaining('HTTP 503') });
      expect((await closed) - started).toBeLessThan(timeoutMs / 2);
    } finally {
      endless.closeAllConnections();
      await new Promise((r) => endless.close(r));
    }
  });
});
