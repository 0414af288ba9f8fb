// The polled APIs' answers as a hostile server gives them: longer than the limit (announced or not), redirects to
// another host, an event stream instead of a page, vendor text with line breaks. Both clients (CCC through the SDK,
// TRTC through fetch), against a loopback server that answers from a script.
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CccApiClient } from '../tencent-ccc/client.ts';
import { TrtcApiClient } from '../tencent-trtc/client.ts';
import { CdrflowError } from '../../core/errors.ts';
import { MAX_VENDOR_ANSWER_BYTES } from '../../core/input-limits.ts';
import { ANSWER_TOO_LARGE, RETRY_AFTER_CAP_MS, retryAfterMs } from './vendor-answer.ts';
import { createTrtcSource, trtcConfigSchema } from '../tencent-trtc/index.ts';
import { cccConfigSchema, createCccSource } from '../tencent-ccc/index.ts';
import { readWindow } from './reader.ts';
import { retry } from '../../core/backoff.ts';
import { MemorySink, memoryPollContext } from './fixtures/memory.ts';
import { PollerMetrics } from './metrics.ts';
import { Registry } from 'prom-client';

type Answer = (req: http.IncomingMessage & { body?: string }, res: http.ServerResponse) => void;

interface Server {
  url: string;
  port: number;
  connections: number;
  open: Set<Socket>;
  answers: Answer[];
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function server(host = '127.0.0.1'): Promise<Server> {
  const open = new Set<Socket>();
  const s: Server = { url: '', port: 0, connections: 0, open, answers: [], close: async () => undefined };
  const srv = http.createServer((req: http.IncomingMessage & { body?: string }, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      req.body = body;
      (s.answers.shift() ?? ((_q, r) => r.writeHead(500).end()))(req, res);
    });
  });
  srv.on('connection', (socket: Socket) => {
    s.connections++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => srv.listen(0, host, resolve));
  s.port = (srv.address() as AddressInfo).port;
  s.url = `http://${host}:${s.port}`;
  s.close = () => {
    for (const socket of open) socket.destroy();
    return new Promise((resolve) => srv.close(() => resolve()));
  };
  servers.push(s);
  return s;
}

const json = (body: unknown, headers: http.OutgoingHttpHeaders = {}): Answer => (_req, res) => res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

/** Bytes the last over-limit answer wrote before its client hung up, or before it reached OVER_LIMIT_CAP. */
let overLimitSent = 0;
const OVER_LIMIT_CAP = 8 * MAX_VENDOR_ANSWER_BYTES;

/**
 * A valid JSON page padded past the limit, streamed in 1 MiB pieces without a Content-Length for as long as its
 * client takes them (up to OVER_LIMIT_CAP): how much it wrote says how much the client read.
 */
const overLimitAs = (type: string): Answer => (_req, res) => {
  res.writeHead(200, { 'content-type': type });
  const piece = Buffer.alloc(1024 * 1024, 0x20);
  let closed = false;
  res.on('close', () => (closed = true));
  overLimitSent = 0;
  const more = () => {
    while (!closed && overLimitSent < OVER_LIMIT_CAP) {
      overLimitSent += piece.length;
      if (!res.write(piece)) return void res.once('drain', more);
    }
    if (!closed) res.end('"}}');
  };
  res.write('{"Response":{"TotalCount":0,"TelCdrList":[],"Pad":"');
  more();
};
const overLimit = overLimitAs('application/json');

const ccc = (s: Server, timeoutMs = 5000) => new CccApiClient({ secretId: 'AKIDtest', secretKey: 'key', endpoint: `127.0.0.1:${s.port}`, protocol: 'http', timeoutMs });
const trtc = (s: Server, api: 'v1' | 'v4', timeoutMs = 5000) =>
  new TrtcApiClient({ baseUrl: s.url, api, sdkAppId: 1400000001, secretKey: 'k'.repeat(64), identifier: 'administrator', timeoutMs, userSigValiditySec: 86400, userSigRenewBeforeSec: 3600 });
const cccPage = (client: CccApiClient, pageSize = 100) => client.describeProtectedTelCdr({ sdkAppId: 1400000001, startTimeStamp: 1, endTimeStamp: 2, pageSize, pageNumber: 0 });
const trtcPage = (client: TrtcApiClient) => client.getRecordsByFilter({ startTimestamp: 1, endTimestamp: 2, page: 1, numberPerPage: 100 });

async function failure(p: Promise<unknown>): Promise<CdrflowError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CdrflowError);
  return err as CdrflowError;
}

describe('vendor answers over the limit are refused unread', () => {
  it.each([
    ['ccc', 'application/json'],
    ['trtc v1', 'application/json'],
    ['trtc v4', 'application/json'],
    // Decoded by its charset: the bound is still on the bytes as they came, and holds.
    ['ccc', 'application/json; charset=GBK'],
    ['trtc v4', 'application/json; charset=GBK'],
  ] as const)('%s (%s): a body past the limit without Content-Length: answer-too-large, the rest never read, the connection closed', async (which, type) => {
    const s = await server();
    s.answers.push(overLimitAs(type));
    const err = await failure(which === 'ccc' ? cccPage(ccc(s)) : trtcPage(trtc(s, which === 'trtc v1' ? 'v1' : 'v4')));
    expect(err).toMatchObject({ kind: 'transient', code: ANSWER_TOO_LARGE });
    expect(err.message).toMatch(new RegExp(`answer longer than ${MAX_VENDOR_ANSWER_BYTES} bytes`));
    // The client stopped reading soon after the limit (what the sockets buffer aside), never taking the body that kept
    // coming, and left no connection open on it. (A bound on the process's RSS growth said less, less surely: the
    // server here shares the process, and on a loaded machine garbage not yet collected crossed it.)
    // (After fetch (TRTC) cuts an answer, undici opens a spare connection that stays idle for its keep-alive time, 3 s.)
    await vi.waitFor(() => expect(s.open.size).toBe(0), { timeout: 15_000 });
    expect(overLimitSent).toBeLessThan(2 * MAX_VENDOR_ANSWER_BYTES);
  });

  it('trtc: an announced Content-Length past the limit is refused before reading', async () => {
    const s = await server();
    s.answers.push((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(MAX_VENDOR_ANSWER_BYTES + 1) });
      res.write('{');
    });
    const err = await failure(trtcPage(trtc(s, 'v4')));
    expect(err).toMatchObject({ code: ANSWER_TOO_LARGE });
    expect(err.message).toContain(`announced ${MAX_VENDOR_ANSWER_BYTES + 1}`);
  });

  it('ccc: the limit is per answer, not per kept-alive connection', async () => {
    const s = await server();
    const half = (_req: http.IncomingMessage, res: http.ServerResponse) =>
      json({ Response: { TotalCount: 1, TelCdrList: [{ SessionId: 's', Pad: 'x'.repeat(MAX_VENDOR_ANSWER_BYTES / 2) }], RequestId: 'r' } })(_req, res);
    s.answers.push(half, half, half);
    const client = ccc(s);
    for (let i = 0; i < 3; i++) expect((await cccPage(client)).records).toHaveLength(1);
    expect(s.connections).toBe(1);
  });
});

describe('a page too long to read is read again in smaller pages', () => {
  it('ccc: the page size is halved until the answers fit, and every record of the window is published once', async () => {
    const s = await server();
    const records = Array.from({ length: 60 }, (_, i) => ({ SessionId: `s-${i}`, Pad: 'x'.repeat(1000) }));
    const sizes: number[] = [];
    const answer: Answer = (req, res) => {
      const { PageSize, PageNumber } = JSON.parse(req.body!) as { PageSize: number; PageNumber: number };
      sizes.push(PageSize);
      s.answers.push(answer);
      if (PageSize > 25) return overLimit(req, res);
      json({ Response: { TotalCount: records.length, TelCdrList: records.slice(PageNumber * PageSize, (PageNumber + 1) * PageSize), RequestId: 'r' } })(req, res);
    };
    s.answers.push(answer);
    const source = createCccSource(cccConfigSchema.parse({ secretId: 'AKIDtest', secretKey: 'key', sdkAppIds: [1400000001], endpoint: `127.0.0.1:${s.port}`, protocol: 'http' }));
    const sink = new MemorySink();
    await readWindow(memoryPollContext(source, sink, { retry: { initialMs: 1, maxMs: 5, maxAttempts: 10 }, mode: 'backfill' }), '1400000001', { start: 1, end: 2 });
    expect(sink.envelopes.map((e) => e.natural_key)).toEqual(records.map((r) => r.SessionId));
    expect(sizes.slice(0, 3)).toEqual([100, 50, 25]);
  });
});

/**
 * An answer that keeps coming, a KiB every few milliseconds, for as long as its connection is open: a client that does
 * not cut it reads it until its time limit. Resolves `closed` with the moment the connection that carried it closed.
 */
function endless(status: number, type: string): { answer: Answer; closed: Promise<number> } {
  let resolve: (at: number) => void = () => undefined;
  const closed = new Promise<number>((r) => (resolve = r));
  const answer: Answer = (req, res) => {
    req.socket.once('close', () => resolve(Date.now()));
    res.writeHead(status, { 'content-type': type });
    const more = setInterval(() => res.write('x'.repeat(1024)), 5);
    res.on('close', () => clearInterval(more));
  };
  return { answer, closed };
}

describe('an answer the client will not read through releases its connection at once', () => {
  const timeoutMs = 10_000;
  it.each([
    ['trtc v1', 500, 'text/html', 'http-500'],
    ['trtc v4', 429, 'text/plain', 'http-429'],
    ['trtc v4', 307, 'text/html', 'http-307'],
    ['trtc v1', 200, 'text/event-stream', 'malformed-response'],
    ['ccc', 502, 'text/html', 'http-502'],
    ['ccc', 200, 'text/event-stream', 'malformed-response'],
  ] as const)('%s: HTTP %i %s, streamed without end: %s, and the server sees that connection closed', async (which, status, type, code) => {
    const s = await server();
    const { answer, closed } = endless(status, type);
    s.answers.push(answer);
    const started = Date.now();
    const err = await failure(which === 'ccc' ? cccPage(ccc(s, timeoutMs)) : trtcPage(trtc(s, which === 'trtc v1' ? 'v1' : 'v4', timeoutMs)));
    expect(err.code).toBe(code);
    // Not left to the time limit: the connection that carried the answer is gone long before it.
    expect((await closed) - started).toBeLessThan(timeoutMs / 2);
  });
});

describe('an HTTP status other than 200', () => {
  it.each([
    [408, 'transient'],
    [425, 'transient'],
    [429, 'rate_limited'],
    [502, 'transient'],
    [401, 'config'],
    [403, 'config'],
    [404, 'config'],
  ] as const)('HTTP %i is %s for both pollers (a proxy that timed the request out is retried, a wrong URL stops)', async (status, kind) => {
    for (const which of ['ccc', 'trtc v1', 'trtc v4'] as const) {
      const s = await server();
      s.answers.push((_req, res) => res.writeHead(status, { 'content-type': 'text/plain' }).end('no'));
      const err = await failure(which === 'ccc' ? cccPage(ccc(s)) : trtcPage(trtc(s, which === 'trtc v1' ? 'v1' : 'v4')));
      expect({ which, kind: err.kind, code: err.code }).toEqual({ which, kind, code: `http-${status}` });
    }
  });

  // No page, but nothing an operator could fix either: the API (or a cache before it) answered a request we never made
  // conditional, in a state of its own. Stopping the poller on it stopped a healthy feed; it is retried like a 5xx.
  it.each([204, 206, 304])('HTTP %i, a success or "not modified" without a page, is retried, and not called a redirect', async (status) => {
    for (const which of ['ccc', 'trtc v1', 'trtc v4'] as const) {
      const s = await server();
      s.answers.push((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end());
      const err = await failure(which === 'ccc' ? cccPage(ccc(s)) : trtcPage(trtc(s, which === 'trtc v1' ? 'v1' : 'v4')));
      expect({ which, kind: err.kind, code: err.code }).toEqual({ which, kind: 'transient', code: `http-${status}` });
      expect(err.message).not.toMatch(/redirect/);
    }
  });
});

describe('TRTC: a JSON object without the API\'s envelope', () => {
  it.each(['v1', 'v4'] as const)('%s: no error code at all is a malformed response quoting the body, not the vendor\'s error "undefined"', async (api) => {
    const s = await server();
    s.answers.push(json({ html: 'a proxy page', list: [1] }));
    const err = await failure(trtcPage(trtc(s, api)));
    expect(err).toMatchObject({ kind: 'transient', code: 'malformed-response' });
    expect(err.message).toMatch(/sdkappid=1400000001 \[1,2\] page 1x100: malformed response \(no (errorCode|ErrorCode)\): .*a proxy page/);
  });
});

describe('redirects are not followed', () => {
  it.each([
    ['ccc', 'host'],
    ['ccc', 'port'],
    ['trtc v1', 'host'],
    ['trtc v4', 'port'],
  ] as const)('%s: a 307 to another %s is a configuration error, and the target sees no connection', async (which, other) => {
    const trap = await server(other === 'host' ? '127.0.0.2' : '127.0.0.1');
    const s = await server();
    s.answers.push((_req, res) => res.writeHead(307, { location: `${trap.url}/steal` }).end());
    const err = await failure(which === 'ccc' ? cccPage(ccc(s)) : trtcPage(trtc(s, which === 'trtc v1' ? 'v1' : 'v4')));
    expect(err.kind).toBe('config');
    expect(err.message).toMatch(/redirect/);
    expect(trap.connections).toBe(0);
  });
});

describe('the CCC client holds each exchange to the TRTC client\'s rules', () => {
  it('asks for no compression and never inflates an answer (a gzip bomb would inflate past the limit)', async () => {
    const s = await server();
    let asked: string | undefined;
    s.answers.push((req, res) => {
      asked = req.headers['accept-encoding'];
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(Buffer.alloc(40 * 1024 * 1024, 0x20)));
    });
    const err = await failure(cccPage(ccc(s)));
    expect(asked).toBe('identity');
    expect(err).toMatchObject({ kind: 'transient', code: 'malformed-response' });
    expect(err.message).toMatch(/no JSON page/);
  });

  it('a body dripped past the timeout: the call settles in time and the connection is closed, not left reading', async () => {
    const s = await server();
    s.answers.push((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const drip = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(drip));
    });
    const started = Date.now();
    const err = await failure(cccPage(ccc(s, 1000)));
    expect(err.kind).toBe('transient');
    expect(Date.now() - started).toBeLessThan(3000);
    await expect.poll(() => s.open.size).toBe(0);
  });

  it.each([500, 404, 429])('an error answer (%i) with a 1 MB body: the status is the error, and its connection is closed', async (status) => {
    const s = await server();
    s.answers.push((_req, res) => res.writeHead(status, { 'content-type': 'text/html' }).end('<p>'.repeat(350_000)));
    const err = await failure(cccPage(ccc(s)));
    expect(err.code).toBe(`http-${status}`);
    await expect.poll(() => s.open.size).toBe(0);
  });
});

describe('an answer in a charset other than UTF-8 (a gateway that re-encodes)', () => {
  // "张三" / "客服组" in GBK: what a proxy that re-encodes the vendor's UTF-8 JSON would send.
  const GBK_NAME = Buffer.from('d5c5c8fd', 'hex');
  const GBK_GROUP = Buffer.from('bfcdb7fed7e9', 'hex');
  const bytes = (...parts: (string | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  const raw = (type: string, body: Buffer): Answer => (_req, res) => res.writeHead(200, { 'content-type': type, 'content-length': body.length }).end(body);
  const trtcBody = (name: Buffer) => bytes('{"ErrorCode":0,"ErrorInfo":"","ActionStatus":"OK","Response":{"TotalNum":1,"CallRecordList":[{"CallId":"c1","AgentName":"', name, '","SkillGroup":"', GBK_GROUP, '"}]}}');
  const cccBody = (name: Buffer) => bytes('{"Response":{"TotalCount":1,"TelCdrList":[{"SessionId":"s1","SeatUser":{"NickName":"', name, '"},"SkillGroup":"', GBK_GROUP, '"}],"RequestId":"r1"}}');

  it.each(['application/json; charset=GBK', 'application/json;charset="gb2312"', 'application/json; charset=GB18030'])('trtc: %s is read by its charset', async (type) => {
    const s = await server();
    s.answers.push(raw(type, trtcBody(GBK_NAME)));
    expect((await trtcPage(trtc(s, 'v4'))).records).toEqual([{ CallId: 'c1', AgentName: '张三', SkillGroup: '客服组' }]);
  });

  it.each(['application/json; charset=GBK', 'application/json; charset=gb18030'])('ccc: %s is read by its charset', async (type) => {
    const s = await server();
    s.answers.push(raw(type, cccBody(GBK_NAME)));
    expect((await cccPage(ccc(s))).records).toEqual([{ SessionId: 's1', SeatUser: { NickName: '张三' }, SkillGroup: '客服组' }]);
  });

  it('utf-8 declared or not: read as UTF-8, as always', async () => {
    const s = await server();
    const utf8 = Buffer.from('张三');
    s.answers.push(raw('application/json', trtcBody(utf8)), raw('application/json; charset=UTF-8', trtcBody(utf8)));
    s.answers.push(raw('application/json', cccBody(utf8)), raw('application/json; charset=utf8', cccBody(utf8)));
    for (let i = 0; i < 2; i++) expect((await trtcPage(trtc(s, 'v4'))).records[0]).toMatchObject({ AgentName: '张三' });
    for (let i = 0; i < 2; i++) expect((await cccPage(ccc(s))).records[0]).toMatchObject({ SeatUser: { NickName: '张三' } });
  });

  it.each([
    ['trtc', 'x-klingon'],
    ['ccc', 'x-klingon'],
    ['trtc', 'utf-7'],
  ] as const)('%s: a charset %j no decoder knows is a malformed response, retried, never a guess', async (which, label) => {
    const s = await server();
    s.answers.push(raw(`application/json; charset=${label}`, which === 'ccc' ? cccBody(GBK_NAME) : trtcBody(GBK_NAME)));
    const err = await failure(which === 'ccc' ? cccPage(ccc(s)) : trtcPage(trtc(s, 'v4')));
    expect(err).toMatchObject({ kind: 'transient', code: 'malformed-response' });
    // Both clients in the same words, the label quoted once (CCC's without node-fetch's "Invalid response body…").
    expect(err.message).toMatch(new RegExp(`: malformed response \\(an answer in charset "${label}", which no decoder knows\\)$`));
  });

  // A proxy's error page in GBK: quoted as it reads, not garbled. One in a charset no decoder knows is still quoted
  // (as UTF-8): the status is the error, and the vendor's words are all an operator has to go on.
  it.each([
    ['text/html; charset=GBK', '<p>客服组</p>'],
    ['text/html; charset=x-klingon', bytes('<p>', GBK_GROUP, '</p>').toString('utf8')],
  ])('trtc: an error page in %s is quoted by its charset', async (type, quoted) => {
    const s = await server();
    s.answers.push((_req, res) => res.writeHead(502, { 'content-type': type }).end(bytes('<p>', GBK_GROUP, '</p>')));
    const err = await failure(trtcPage(trtc(s, 'v4')));
    expect(err.code).toBe('http-502');
    expect(err.message).toContain(JSON.stringify(quoted));
  });
});

describe('answers that are no page', () => {
  it('ccc: an event stream is refused, and its connection is closed rather than left taken', async () => {
    const s = await server();
    s.answers.push((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {}\n\n'); // and never ends
    });
    const err = await failure(cccPage(ccc(s)));
    expect(err).toMatchObject({ kind: 'transient', code: 'malformed-response' });
    expect(err.message).toMatch(/an event stream/);
    await expect.poll(() => s.open.size).toBe(0);
  });

  it.each([
    ['a body without Response', json({ Other: 1 })],
    ['Response is a string', json({ Response: 'x' })],
    ['no JSON at all', (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>\n</html>')],
    ['TotalCount 1e300', json({ Response: { TotalCount: 1e300, TelCdrList: [] } })],
    ['records claimed, none carried', json({ Response: { TotalCount: 5 } })],
  ] as const)('ccc: %s is a malformed response, retried', async (_what, answer) => {
    const s = await server();
    s.answers.push(answer);
    const err = await failure(cccPage(ccc(s)));
    expect(err).toMatchObject({ kind: 'transient', code: 'malformed-response' });
  });

  it.each([
    ['v1', 'records claimed, none carried', { errorCode: 0, data: { totalNum: 5 } }],
    ['v1', 'no data', { errorCode: 0 }],
    ['v4', 'no Response', { ErrorCode: 0, ActionStatus: 'OK' }],
    ['v4', 'Response a string', { ErrorCode: 0, ActionStatus: 'OK', Response: 'x' }],
    ['v4', 'no TotalNum', { ErrorCode: 0, ActionStatus: 'OK', Response: { CallRecordList: [{ CallId: 'c' }] } }],
  ] as const)('trtc %s: a success with %s is a malformed response (never an empty page that ends the window)', async (api, _what, body) => {
    const s = await server();
    s.answers.push(json(body));
    const err = await failure(trtcPage(trtc(s, api)));
    expect(err).toMatchObject({ kind: 'transient', code: 'malformed-response' });
  });

  it.each([
    ['no Code', { Message: 'Signature expired' }],
    ['a numeric Code', { Code: 4100, Message: 'x' }],
    ['an empty Code', { Code: '', Message: 'x' }],
    ['an empty Error', {}],
    ['Error a string', 'boom'],
  ] as const)('ccc: an error answer with %s is a malformed response, retried, not a network error', async (_what, error) => {
    const s = await server();
    s.answers.push(json({ Response: { Error: error, RequestId: 'req-1' } }));
    const err = await failure(cccPage(ccc(s)));
    expect(err).toMatchObject({ kind: 'transient', code: 'malformed-response' });
    expect(err.message).not.toMatch(/network/);
    expect(err.message).toContain('Response.Error without a code');
    expect(err.message).toContain('(RequestId req-1)');
  });

  it('trtc: an empty window may leave its list out', async () => {
    const s = await server();
    s.answers.push(json({ ErrorCode: 0, ActionStatus: 'OK', Response: { TotalNum: 0 } }));
    expect(await trtcPage(trtc(s, 'v4'))).toMatchObject({ totalNum: 0, records: [] });
  });

  it('vendor text is quoted on one line and cut, and an odd RequestId is not kept', async () => {
    const s = await server();
    const words = `line one\nline two: forged\r\n${'x'.repeat(5000)}`;
    s.answers.push(json({ Response: { Error: { Code: 'InternalError\nforged', Message: words }, RequestId: 'r\nforged' } }));
    s.answers.push((_req, res) => res.writeHead(502, { 'content-type': 'text/plain' }).end(words));
    s.answers.push(json({ ErrorCode: 70001.5, ErrorInfo: words, ActionStatus: 'FAIL', RequestId: 'r'.repeat(1000) }));
    s.answers.push(json({ Response: { TotalCount: 0, TelCdrList: [], RequestId: 'id\u0000' } }));
    const errors = [await failure(cccPage(ccc(s))), await failure(trtcPage(trtc(s, 'v4'))), await failure(trtcPage(trtc(s, 'v4')))];
    for (const err of errors) {
      // eslint-disable-next-line no-control-regex
      expect(err.message).not.toMatch(/[\u0000-\u001f]/);
      expect(err.message.length).toBeLessThan(600);
      expect(err.message).toContain('"line one\\nline two: forged\\r\\n');
    }
    expect(errors[0]!.message).not.toContain('RequestId');
    expect(errors[2]!.message).toContain('(requestId -)');
    expect((await cccPage(ccc(s))).requestId).toBeNull();
  });
});

describe('vendor error codes reach the metrics as bounded labels', () => {
  it('a vendor that answers every request with a new code leaves at most 40 code series and one "other", and every failure counted', async () => {
    const s = await server();
    const registry = new Registry();
    const metrics = new PollerMetrics('tencent-ccc', registry);
    const source = createCccSource(cccConfigSchema.parse({ secretId: 'AKIDtest', secretKey: 'key', sdkAppIds: [1400000001], endpoint: `127.0.0.1:${s.port}`, protocol: 'http' }));
    const windows = 30;
    const attempts = 3;
    // A request id inside the code (retried: an undocumented code is transient), then a code no label may carry.
    for (let i = 0; i < windows * attempts; i++) {
      const code = i % 2 === 0 ? `InternalError.req-${i}` : `"forged"} evil{code="${i}`;
      s.answers.push(json({ Response: { Error: { Code: code, Message: 'busy' }, RequestId: `r${i}` } }));
    }
    for (let w = 0; w < windows; w++) {
      const ctx = memoryPollContext(source, new MemorySink(), { metrics, retry: { initialMs: 1, maxMs: 1, maxAttempts: attempts } });
      await expect(readWindow(ctx, '1400000001', { start: 1, end: 2 })).rejects.toBeInstanceOf(CdrflowError);
    }
    const text = await registry.metrics();
    const series = (name: string) => text.split('\n').filter((line) => line.startsWith(`${name}{`));
    const apiErrors = series('cdrflow_poller_api_errors_total');
    expect(apiErrors).toHaveLength(41);
    expect(apiErrors).toContain('cdrflow_poller_api_errors_total{vendor="tencent-ccc",code="other"} 50');
    expect(apiErrors.every((line) => /code="(InternalError\.req-\d+|other)"/.test(line))).toBe(true);
    expect(series('cdrflow_poller_retries_total').length).toBeLessThanOrEqual(41);
    expect(Object.keys(metrics.counts.apiErrors)).toHaveLength(41);
    expect(Object.values(metrics.counts.apiErrors).reduce((a, b) => a + b, 0)).toBe(windows * attempts);
    expect(metrics.counts.retries).toBe(windows * (attempts - 1));
  });

  it('trtc: a code that is not a number is named non-numeric-code, quoted only in the message', async () => {
    const s = await server();
    s.answers.push(json({ errorCode: 'x"} {evil', errorMessage: 'busy', requestId: 'r1' }));
    const err = await failure(trtcPage(trtc(s, 'v1')));
    expect(err).toMatchObject({ kind: 'transient', code: 'non-numeric-code' });
    expect(err.message).toContain('errorCode "x\\"} {evil"');
  });
});

describe('a vendor asking for rest (Retry-After on 429 and 503)', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  it.each([
    [429, '120', 120_000],
    [503, '  7 ', 7000],
    [429, new Date(now + 90_000).toUTCString(), 90_000],
    [503, 'Monday, 07-Dec-26 12:00:30 GMT', 30_000],
    [429, '600', RETRY_AFTER_CAP_MS],
    [429, '9'.repeat(400), RETRY_AFTER_CAP_MS],
    [429, new Date(now + 86_400_000).toUTCString(), RETRY_AFTER_CAP_MS],
  ] as const)('%i with Retry-After %j: waits %i ms', (status, header, ms) => {
    expect(retryAfterMs(status, header, now)).toBe(ms);
  });

  it.each([
    [429, '0'],
    [429, '-5'],
    [429, '1.5'],
    [429, '1e3'],
    [429, 'soon'],
    [429, '1 2'],
    [429, ''],
    [429, null],
    [503, new Date(now - 1000).toUTCString()],
    [503, new Date(now).toUTCString()],
    [503, 'Blursday, 99 Foo 2026 99:99:99 GMT'],
    [500, '120'],
    [502, '120'],
  ] as const)('%i with Retry-After %j: our backoff applies', (status, header) => {
    expect(retryAfterMs(status, header, now)).toBeUndefined();
  });

  it.each([429, 503])('trtc %i: the poller asks again no sooner than the answer said, as one retry, then reads the page', async (status) => {
    const s = await server();
    const asked: number[] = [];
    s.answers.push(
      (_req, res) => {
        asked.push(performance.now());
        res.writeHead(status, { 'content-type': 'text/plain', 'retry-after': '1' }).end('slow down');
      },
      (req, res) => {
        asked.push(performance.now());
        json({ ErrorCode: 0, ActionStatus: 'OK', RequestId: 'r', Response: { TotalNum: 1, CallRecordList: [{ CallId: 'c1' }] } })(req, res);
      },
    );
    const source = createTrtcSource(trtcConfigSchema.parse({ baseUrl: s.url, apps: [{ sdkAppId: 1400000001, secretKey: 'k'.repeat(64), api: 'v4' }] }));
    const metrics = new PollerMetrics(source.connector, new Registry());
    const sink = new MemorySink();
    // Our backoff alone would ask again within 5 ms.
    await readWindow(memoryPollContext(source, sink, { metrics, retry: { initialMs: 5, maxMs: 5, maxAttempts: 3 } }), '1400000001', { start: 1, end: 2 });
    expect(asked).toHaveLength(2);
    expect(asked[1]! - asked[0]!).toBeGreaterThanOrEqual(1000);
    expect(metrics.counts.retries).toBe(1);
  });

  it('trtc: a stop request ends the wait at once, however long the vendor asked for', async () => {
    const s = await server();
    s.answers.push((_req, res) => res.writeHead(429, { 'retry-after': '300' }).end());
    const source = createTrtcSource(trtcConfigSchema.parse({ baseUrl: s.url, apps: [{ sdkAppId: 1400000001, secretKey: 'k'.repeat(64), api: 'v4' }] }));
    const abort = new AbortController();
    const waits: number[] = [];
    const log = (_level: string, event: string, fields: Record<string, unknown> = {}) => {
      if (event !== 'poller.vendor_retry') return;
      waits.push(fields['delayMs'] as number);
      abort.abort();
    };
    const ctx = memoryPollContext(source, new MemorySink(), { signal: abort.signal, log, retry: { initialMs: 5, maxMs: 5, maxAttempts: 3 } });
    const started = Date.now();
    await expect(readWindow(ctx, '1400000001', { start: 1, end: 2 })).rejects.toBeDefined();
    expect(waits).toEqual([300_000]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(s.answers).toHaveLength(0);
  });

  it('trtc: a hostile Retry-After is not obeyed: our backoff applies', async () => {
    const s = await server();
    for (const header of ['-1', 'soon', new Date(Date.now() - 60_000).toUTCString()]) s.answers.push((_req, res) => res.writeHead(429, { 'retry-after': header }).end());
    const waits: number[] = [];
    const err = await failure(retry(() => trtcPage(trtc(s, 'v4')), { initialMs: 5, maxMs: 5, maxAttempts: 3 }, { random: () => 0.5, onRetry: (_e, _a, ms) => waits.push(ms) }));
    expect(waits).toEqual([2, 2]);
    expect(err).toMatchObject({ kind: 'rate_limited', code: 'http-429', retryAfterMs: undefined });
    expect(s.answers).toHaveLength(0);
  });
});
