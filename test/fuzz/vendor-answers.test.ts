// Fuzz (e): what the polled vendor APIs answer. The CCC client (Tencent's SDK, node-fetch inside) and the TRTC v1/v4
// clients (undici fetch) are pointed at a scripted loopback server (node:net, so status line, headers, framing and
// timing are ours byte for byte) that answers every request from a per-case script: every status class (1xx, 204, 3xx
// with a Location on a loopback trap, 4xx, 429, 5xx), content types (json, html, event-stream, none), the right
// envelope with wrong shapes, strange records (null, numbers, arrays, no key, a 10 KB key, a 2 MB field, 20,000 levels
// deep, duplicate members, lone surrogates, invalid UTF-8, a BOM), truncated/empty/garbage bodies, Content-Length lies,
// cuts mid-body, gzip garbage, 40 MiB bodies (plain and as a gzip bomb), pages re-encoded to the charset their
// Content-Type declares (GBK, GB18030, or a label no decoder knows) and answers dripped or withheld past the
// client's timeout. Then readWindow (connectors/poller/reader.ts) reads windows of 1-3 pages through a CCC and a TRTC v4
// source, with strange records and retryable failures mixed into otherwise well-formed pages, into the in-memory sink.
//
// Properties (numbered as in the campaign's brief; every violation is collected with the case that caused it and
// reported per property at the end of each test, so one run shows them all):
//  P1 a call resolves to a page (records an array, total a non-negative safe integer; by-callid: a plain object or
//     null) or rejects with a CdrflowError of a known kind; no unhandled rejection or uncaught exception meanwhile.
//  P2 it settles within timeoutMs + 3 s.
//  P3 its error message is at most 1,000 characters without raw control characters (U+0000-U+001F).
//  P4 an answer over MAX_VENDOR_ANSWER_BYTES is refused (code `answer-too-large`) without being buffered whole.
//  P5 a 3xx is not followed to another host or port (the trap sees no connection).
//  P6 sockets do not pile up: within 1 s of a call settling the server is not left mid-answer on a connection the
//     client gave up on, at most 4 connections per client stay open (5 for a reader's, see MAX_OPEN_PER_CLIENT), and
//     none once clients and server are closed.
//  P7 every record of a page served 200 with a valid envelope ends up exactly once in the sink: published when it is
//     an object with its natural key (non-empty, <= 256 UTF-8 bytes), <= 64 KiB and <= 16 levels deep, dead-lettered
//     (bad_record, with a reason naming the problem) otherwise; a strange record never stops its page or window.
//  P8 readWindow settles within a bound, rejects only with a CdrflowError, and never publishes a key twice.
//  P0 (sanity, not from the brief) a well-formed page is read as served, in whatever charset it declares: the
//     campaign is not vacuous; a page in a charset no decoder knows is refused as malformed, never read as UTF-8.
//
// The same seed sends the same answers, so a failure replays: CDRFLOW_FUZZ_VENDOR_SEED, CDRFLOW_FUZZ_VENDOR_COUNT
// (random client cases), CDRFLOW_FUZZ_VENDOR_WINDOWS (reader windows).
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CccApiClient } from '../../connectors/tencent-ccc/client.ts';
import { TrtcApiClient } from '../../connectors/tencent-trtc/client.ts';
import { cccConfigSchema, createCccSource } from '../../connectors/tencent-ccc/index.ts';
import { trtcConfigSchema, createTrtcSource } from '../../connectors/tencent-trtc/index.ts';
import { readWindow } from '../../connectors/poller/reader.ts';
import { MemorySink, memoryPollContext } from '../../connectors/poller/fixtures/memory.ts';
import type { PullSource } from '../../connectors/poller/source.ts';
import { CdrflowError, ERROR_KINDS } from '../../core/errors.ts';
import * as limits from '../../core/input-limits.ts';
import { Rng, seededRandom } from '../../simulators/kit.ts';

const SEED = Number(process.env.CDRFLOW_FUZZ_VENDOR_SEED ?? 8117);
const COUNT = Number(process.env.CDRFLOW_FUZZ_VENDOR_COUNT ?? 120);
const WINDOWS = Number(process.env.CDRFLOW_FUZZ_VENDOR_WINDOWS ?? 32);
/**
 * Small, so the answers dripped, withheld or cut past it cost little (the CCC SDK waits its full timeout for a body cut
 * short). A whole second: the SDK only knows whole seconds (it rounds up).
 */
const TIMEOUT_MS = 1000;
const SETTLE_BOUND_MS = TIMEOUT_MS + 3000;
const RETRY_ATTEMPTS = 3;
/**
 * Past this a call is abandoned (reported under P2) so one hang cannot stall the file; and an answer whose kind already
 * hung once is not served again to the same client family (each hang costs the whole cap; the report names it once and
 * counts the cases skipped).
 */
const HARD_CAP_MS = SETTLE_BOUND_MS + 1000;
/**
 * P4 is about size, not speed: an answer over MAX_ANSWER goes to clients of its own with this timeout (and P2's bounds
 * grow with it). Under load (CI with other work on both cores) two of the 40 MiB answers had not reached the size limit
 * within TIMEOUT_MS and were refused as timeouts, which says nothing about buffering.
 */
const TOO_LARGE_TIMEOUT_MS = 15_000;
const boundsOf = (c: { tooLarge?: boolean }) => {
  const settleMs = (c.tooLarge ? TOO_LARGE_TIMEOUT_MS : TIMEOUT_MS) + 3000;
  return { settleMs, capMs: settleMs + 1000 };
};
const MAX_ANSWER = limits.MAX_VENDOR_ANSWER_BYTES;
const BIG_BODY = 40 * 1024 * 1024;
const MiB = 1024 * 1024;
/**
 * P4's bound on a 40 MiB answer sent as it is: what the scripted server handed to the connection before the client
 * hung up. A client that counts bytes as they arrive and gives up at the limit (16 MiB) lets through the limit plus
 * what the sockets buffer on loopback (a few MiB each way) and the server's last 1 MiB write; one that reads the whole
 * answer takes all 40 MiB, whatever it does afterwards. (A bound on the process's RSS and arrayBuffers growth said the
 * same less surely: the server shares the process, and on a loaded machine garbage not yet collected crossed it.)
 * A gzip bomb is a few KiB on the wire, so what was sent says nothing there: its outcome (answer-too-large, counted
 * after inflating) is the check.
 */
const SENT_BOUND = 2 * MAX_ANSWER;
/**
 * P6's bound on connections one client keeps open between cases (keep-alive allowed). readWindow keeps up to 4 page
 * requests in flight (PREFETCH_PAGES, connectors/poller/reader.ts) and a socket is only handed back to the pool a tick
 * after its answer ends, so a reader's client may hold one more. Connections that never carried a request (undici
 * opens one spare after a request it aborted, and closes it when idle) are bounded on their own.
 */
const MAX_OPEN_PER_CLIENT = 4;
const MAX_OPEN_PER_READER_CLIENT = 5;
/** undici's spares: one per aborted request at most, so a batch of concurrent timeouts leaves a few; they never grow. */
const MAX_UNUSED_CONNECTIONS = 8;
const MAX_MESSAGE_CHARS = 1000;
/**
 * A window is 1-3 pages (fetched concurrently), each tried at most 3 times with 5-20 ms waits, and no answer in a
 * window is slow: even if every attempt of a page ran into the client's timeout (the SDK's can run twice, for the
 * head and then for the body: 2 x 1 s), it ends within 3 x 2 s.
 */
const WINDOW_BOUND_MS = RETRY_ATTEMPTS * 2000 + 500;
const WINDOW_CAP_MS = WINDOW_BOUND_MS + 500;
const RETRY = { initialMs: 5, maxMs: 20, maxAttempts: RETRY_ATTEMPTS };
const MAX_RECORD_BYTES = limits.MAX_RECORD_BYTES;
const MAX_KEY_BYTES = limits.MAX_NATURAL_KEY_BYTES;
const MAX_DEPTH = limits.MAX_JSON_DEPTH;

type Api = 'ccc' | 'v1' | 'v4' | 'v4id';
const APIS: readonly Api[] = ['ccc', 'v1', 'v4', 'v4id'];
/** Distinct apps, so the server knows whose request it is (and per-client socket counts are exact). */
const APP = { ccc: 1400000011, v1: 1400000101, v4: 1400000104, readerCcc: 1400000021, readerV4: 1400000204, tooLargeCcc: 1400000031, tooLargeV1: 1400000111, tooLargeV4: 1400000114 } as const;
const CLIENT_ID: Record<Api, string> = { ccc: `ccc:${APP.ccc}`, v1: `trtc:${APP.v1}`, v4: `trtc:${APP.v4}`, v4id: `trtc:${APP.v4}` };
/** The clients for answers over MAX_ANSWER (see TOO_LARGE_TIMEOUT_MS) are apps of their own, so P6 counts them apart. */
const TOO_LARGE_CLIENT_ID: Record<Api, string> = { ccc: `ccc:${APP.tooLargeCcc}`, v1: `trtc:${APP.tooLargeV1}`, v4: `trtc:${APP.tooLargeV4}`, v4id: `trtc:${APP.tooLargeV4}` };
const clientIdOf = (c: { api: Api; tooLarge?: boolean }) => (c.tooLarge ? TOO_LARGE_CLIENT_ID : CLIENT_ID)[c.api];
const READER_CLIENTS = new Set([`ccc:${APP.readerCcc}`, `trtc:${APP.readerV4}`]);

// ---------------------------------------------------------------------------------------------------------------
// Violations, by property, each naming its case.

const PROPS = ['P0', 'P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7', 'P8'] as const;
type Prop = (typeof PROPS)[number];
/** This test's violations (cleared as each test starts) and the whole file's (for the summary). */
const violations = new Map<Prop, string[]>();
const allViolations = new Map<Prop, string[]>();
const violate = (p: Prop, label: string, detail: string) => {
  for (const m of [violations, allViolations]) m.set(p, [...(m.get(p) ?? []), `${label}: ${detail}`]);
};
/** Answer kinds that hung a client family once (see HARD_CAP_MS), and how many cases were skipped for it. */
const hungSigs = new Set<string>();
const skipped = new Map<string, number>();
/** What the campaign saw, for its summary (and the report): outcome per client and category. */
const tally = new Map<string, Map<string, number>>();
const bump = (what: string, outcome: string) => {
  const m = tally.get(what) ?? new Map<string, number>();
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
  tally.set(what, m);
};
const notes: string[] = [];
/** Most connections per client seen open after a case (the summary's). */
const peakOpen = new Map<string, number>();
/** [ms, case] of every call and window, for the summary's slowest cases. */
const slowest: [number, string][] = [];

function assertNoViolations(props: readonly Prop[]): void {
  for (const p of props) {
    const list = violations.get(p) ?? [];
    const shown = list.slice(0, 25).map((l) => (l.length > 600 ? `${l.slice(0, 600)}…` : l));
    expect.soft(list.length, `${p}: ${list.length} violation(s) (seed ${SEED})\n  ${shown.join('\n  ')}${list.length > 25 ? `\n  … ${list.length - 25} more` : ''}`).toBe(0);
  }
}

/** An error as one line: class, kind, code, message (JSON-quoted so control characters show). */
function describeError(e: unknown): string {
  if (e instanceof CdrflowError) return `CdrflowError kind=${e.kind} code=${e.code} message(${e.message.length})=${JSON.stringify(e.message.slice(0, 240))}`;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${e.constructor.name}${code !== undefined ? ` code=${String(code)}` : ''} message=${JSON.stringify(e.message.slice(0, 240))}`;
  }
  return `non-error thrown: ${typeof e} ${JSON.stringify(String(e)).slice(0, 200)}`;
}

let current = 'setup';
const onUnhandledRejection = (err: unknown) => violate('P1', current, `unhandled rejection: ${describeError(err)}`);
const onUncaughtException = (err: unknown) => violate('P1', current, `uncaught exception: ${describeError(err)}`);

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

type Settled<T> = { state: 'resolved'; value: T } | { state: 'rejected'; error: unknown } | { state: 'pending' };

/** The promise's outcome, or `pending` after `capMs` (the promise is left to settle unobserved, never unhandled). */
function settle<T>(p: Promise<T>, capMs: number): Promise<Settled<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ state: 'pending' }), capMs);
    p.then(
      (value) => {
        clearTimeout(timer);
        resolve({ state: 'resolved', value });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ state: 'rejected', error });
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Answers and the scripted server.

/** A body streamed from one repeated chunk: 40 MiB without 40 MiB in this process. */
interface BigBody {
  prefix: Buffer;
  chunk: Buffer;
  repeat: number;
  suffix: Buffer;
}
type Framing = 'length' | 'chunked' | 'close' | 'short' | 'long' | 'cut' | 'bad-chunk' | 'dup-length';

interface Answer {
  status: number;
  reason?: string;
  headers: [string, string][];
  body: Buffer | BigBody;
  framing: Framing;
  /** Bytes written verbatim instead of a response, then the connection is ended. */
  raw?: Buffer;
  /** One byte every `everyMs`, for at most `forMs`; then the connection is cut. */
  drip?: { everyMs: number; forMs: number };
  /** Nothing at all until the client leaves (or `HANG_MS`). */
  hang?: true;
  /** Where `cut` stops (bytes of body). */
  cutAt?: number;
}
const HANG_MS = TIMEOUT_MS + 4000;

const REASONS: Record<number, string> = {
  100: 'Continue', 200: 'OK', 204: 'No Content', 300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other',
  304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large', 429: 'Too Many Requests', 499: 'Client Closed Request',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 599: 'Network Timeout',
};

const bodySize = (b: Buffer | BigBody) => (Buffer.isBuffer(b) ? b.length : b.prefix.length + b.chunk.length * b.repeat + b.suffix.length);

interface Req {
  target: string;
  headers: Map<string, string>;
  body: Buffer;
  client: string;
  slot: string;
}
interface Conn {
  socket: Socket;
  openedIn: string;
  client: string;
  answering: boolean;
  answeringIn: string;
}

const conns = new Set<Conn>();
/** Per client id: the script that answers its requests. */
const routes = new Map<string, (req: Req) => Answer>();
const harnessErrors: string[] = [];
/** Bytes of the last streamed big body handed to its connection, up to the client hanging up or the body's end. */
let bigBodySent = 0;
/** The case a request belongs to, by `${client}/${slot}` (several cases can run at once). */
const requestLabels = new Map<string, string>();

function identify(target: string, body: Buffer): { client: string; slot: string } {
  const url = new URL(target, 'http://127.0.0.1');
  let parsed: Record<string, unknown> = {};
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null) parsed = v as Record<string, unknown>;
  } catch {
    // not JSON: identified by the URL alone
  }
  if (url.pathname === '/') return { client: `ccc:${String(parsed['SdkAppId'])}`, slot: String(parsed['PageNumber']) };
  const app = url.searchParams.get('sdkappid');
  if (url.pathname.endsWith('get_record_by_callid')) return { client: `trtc:${app}`, slot: String(parsed['CallId']) };
  return { client: `trtc:${app}`, slot: String(parsed['Page'] ?? parsed['page']) };
}

function write(s: Socket, data: Buffer | string): Promise<boolean> {
  if (s.destroyed || s.writableEnded) return Promise.resolve(false);
  if (s.write(data)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      s.off('drain', onDrain);
      s.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    s.on('drain', onDrain);
    s.on('close', onClose);
  });
}

/** True once `s` is closed, false after `ms` (whichever first). */
function closedWithin(s: Socket, ms: number): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.off('close', onClose);
      resolve(false);
    }, ms);
    const onClose = () => {
      clearTimeout(timer);
      resolve(true);
    };
    s.once('close', onClose);
  });
}

/** Writes `a`; true when the connection stays usable for the next request (keep-alive). */
async function writeAnswer(s: Socket, a: Answer): Promise<boolean> {
  if (a.hang) {
    if (!(await closedWithin(s, HANG_MS))) s.destroy();
    return false;
  }
  if (a.raw) {
    await write(s, a.raw);
    s.end();
    return false;
  }
  const size = bodySize(a.body);
  let head = `HTTP/1.1 ${a.status} ${a.reason ?? REASONS[a.status] ?? 'Whatever'}\r\n`;
  for (const [k, v] of a.headers) head += `${k}: ${v}\r\n`;
  const chunked = a.framing === 'chunked' || a.framing === 'bad-chunk';
  if (chunked) head += 'Transfer-Encoding: chunked\r\n';
  else if (a.framing === 'short') head += `Content-Length: ${Math.max(0, size - Math.max(1, Math.floor(size / 3)))}\r\n`;
  else if (a.framing === 'long') head += `Content-Length: ${size + 1 + Math.floor(size / 2)}\r\n`;
  else if (a.framing === 'dup-length') head += `Content-Length: ${size}\r\nContent-Length: ${size + 7}\r\n`;
  else if (a.framing !== 'close') head += `Content-Length: ${size}\r\n`;
  const keep = (a.framing === 'length' || a.framing === 'chunked') && !a.drip;
  if (!keep) head += 'Connection: close\r\n';
  if (!(await write(s, `${head}\r\n`))) return false;

  if (a.drip) {
    const bytes = Buffer.isBuffer(a.body) ? a.body : Buffer.concat([a.body.prefix, a.body.suffix]);
    const deadline = Date.now() + a.drip.forMs;
    let i = 0;
    for (; i < bytes.length && Date.now() < deadline; i++) {
      if (!(await write(s, bytes.subarray(i, i + 1)))) return false;
      if (await closedWithin(s, a.drip.everyMs)) return false;
    }
    if (i < bytes.length) s.destroy();
    else s.end();
    return false;
  }
  if (a.framing === 'cut') {
    const bytes = Buffer.isBuffer(a.body) ? a.body : a.body.prefix;
    await write(s, bytes.subarray(0, a.cutAt ?? Math.floor(bytes.length / 2)));
    // Let the bytes leave before the reset, so the client sees a body that stops, not a refused connection.
    await new Promise((r) => setImmediate(r));
    s.destroy();
    return false;
  }
  const frame = (part: Buffer): Buffer[] => (chunked ? [Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')] : [part]);
  if (Buffer.isBuffer(a.body)) {
    if (a.framing === 'bad-chunk') {
      await write(s, Buffer.concat([Buffer.from(`zz\r\n`), a.body, Buffer.from('\r\n0\r\n\r\n')]));
    } else if (a.body.length > 0) {
      if (!(await write(s, Buffer.concat(frame(a.body))))) return false;
    }
  } else {
    const big = a.body;
    bigBodySent = 0;
    const send = async (data: Buffer) => {
      if (!(await write(s, data))) return false;
      bigBodySent += data.length;
      return true;
    };
    if (!(await send(Buffer.concat(frame(big.prefix))))) return false;
    // 16 frames (1 MiB) per write, so the client's reads fill their buffers.
    const framedChunk = Buffer.concat(frame(big.chunk));
    const batch = Buffer.concat(Array.from({ length: 16 }, () => framedChunk));
    let i = 0;
    for (; i + 16 <= big.repeat; i += 16) if (!(await send(batch))) return false;
    for (; i < big.repeat; i++) if (!(await send(framedChunk))) return false;
    if (!(await send(Buffer.concat(frame(big.suffix))))) return false;
  }
  if (chunked && a.framing !== 'bad-chunk') await write(s, '0\r\n\r\n');
  if (!keep) {
    s.end();
    return false;
  }
  return true;
}

function startScriptedServer(): Promise<NetServer> {
  const server = createNetServer((socket) => {
    const conn: Conn = { socket, openedIn: current, client: 'none', answering: false, answeringIn: '' };
    conns.add(conn);
    socket.on('error', () => undefined);
    socket.on('close', () => conns.delete(conn));
    let buf = Buffer.alloc(0);
    let busy = false;
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) break;
          const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
          const target = lines[0]!.split(' ')[1] ?? '/';
          const headers = new Map<string, string>();
          for (const l of lines.slice(1)) {
            const i = l.indexOf(':');
            if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
          }
          if (headers.has('transfer-encoding')) harnessErrors.push(`${current}: a chunked request (not parsed by the scripted server)`);
          const length = Number(headers.get('content-length') ?? 0);
          if (buf.length < end + 4 + length) break;
          const body = buf.subarray(end + 4, end + 4 + length);
          buf = buf.subarray(end + 4 + length);
          const { client, slot } = identify(target, body);
          conn.client = client;
          const script = routes.get(client);
          let answer: Answer;
          if (script) {
            answer = script({ target, headers, body, client, slot });
          } else {
            harnessErrors.push(`${current}: a request nobody scripted: ${client} ${slot} ${target.slice(0, 80)}`);
            answer = { status: 404, headers: [], body: Buffer.alloc(0), framing: 'length' };
          }
          conn.answering = true;
          conn.answeringIn = requestLabels.get(`${client}/${slot}`) ?? current;
          const keep = await writeAnswer(socket, answer);
          conn.answering = false;
          if (!keep) {
            buf = Buffer.alloc(0);
            break;
          }
        }
      } finally {
        busy = false;
      }
      if (!socket.destroyed && buf.indexOf('\r\n\r\n') >= 0) await pump();
    };
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      pump().catch((err: unknown) => harnessErrors.push(`${current}: scripted server: ${describeError(err)}`));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---------------------------------------------------------------------------------------------------------------
// The loopback trap every Location names: it answers a page that would pass for any of the three APIs, so a client
// that follows the redirect reads records from another host.

const trap = { connections: 0, requests: [] as { method: string; url: string; authorization: boolean; case: string }[] };
const TRAP_BODY = JSON.stringify({
  Response: {
    TotalCount: 1,
    TelCdrList: [{ SessionId: 'from-trap' }],
    TotalNum: 1,
    CallRecordList: [{ CallId: 'from-trap' }],
    CallRecord: { CallId: 'from-trap' },
    RequestId: 'trap',
  },
  ErrorCode: 0,
  ErrorInfo: '',
  ActionStatus: 'OK',
  RequestId: 'trap',
  errorCode: 0,
  errorMessage: '',
  requestId: 'trap',
  data: { totalNum: 1, callRecordList: [{ callId: 'from-trap' }] },
});
let trapServer: HttpServer;
let trapPort = 0;

// ---------------------------------------------------------------------------------------------------------------
// Records and pages.

type RecordApi = 'ccc' | 'v1' | 'v4';
const recordApi = (api: Api): RecordApi => (api === 'v4id' ? 'v4' : api);
const KEY_FIELD: Record<RecordApi, string> = { ccc: 'SessionId', v1: 'callId', v4: 'CallId' };
type Expect = 'publish' | 'dead' | 'either';
interface Rec {
  kind: string;
  text: Buffer;
  expect: Expect;
  /** The natural key the reader should use when it publishes the record. */
  key?: string;
  /** A unique string inside the record's text (objects and arrays), to find its dead letter. */
  marker?: string;
  /** What a dead letter's reason must name. */
  why?: RegExp;
}

const NO_KEY = /key/i;
const BAD_KEY = /key|bytes|long/i;
const NOT_OBJECT = /object|key|array|null|number|string|boolean/i;
const TOO_BIG = /bytes|size|large|limit/i;
const TOO_DEEP = /deep|nest|depth/i;

function goodFields(api: RecordApi, rng: Rng): string {
  const start = 1_780_000_000 + rng.int(0, 3600);
  const remark = JSON.stringify(rng.pick(['', 'ok', '中文备注', 'emoji 📞', 'quote " and \\ backslash']));
  if (api === 'ccc') {
    return `"Direction":${rng.int(0, 1)},"Caller":"+8613${rng.digits(9)}","Callee":"+8610${rng.digits(8)}","StartTimestamp":${start},"EndedTimestamp":${start + 60},"Duration":${rng.int(0, 3600)},"IVRKeyPressed":["1","#"],"Remark":${remark}`;
  }
  if (api === 'v1') return `"caller":"u${rng.digits(4)}","callees":["u2"],"startCallTs":${start},"endTs":${start + 60},"callResult":"normal_end","mediaType":"audio","roomId":"${rng.digits(6)}"`;
  return `"Caller_Account":"u${rng.digits(4)}","CalleeList_Account":["u2"],"StartTime":${start},"EndTime":${start + 60},"CallResult":"NormalEnd","MediaType":"Audio","RoomIdType":1,"Remark":${remark}`;
}

const nest = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;

/** Record kinds other than 'good', each with what the reader must do with it (P7). */
const STRANGE = [
  'key-256',
  'record-60kb',
  'deep-16',
  'key-newline',
  'null',
  'number',
  'bool',
  'string',
  'array',
  'empty-object',
  'no-key',
  'empty-key',
  'numeric-key',
  'null-key',
  'object-key',
  'proto-key',
  'key-10kb',
  'key-258-utf8',
  'field-2mb',
  'record-70kb',
  'deep-17',
  'deep-20000',
  'deep-20000-nokey',
  'dup-members',
  'dup-key',
  'lone-surrogate',
  'lone-surrogate-key',
  'invalid-utf8',
] as const;

function genRecord(api: RecordApi, id: string, kind: string, rng: Rng): Rec {
  const KF = KEY_FIELD[api];
  const marker = `m-${id}`;
  const key = `k-${id}`;
  const obj = (members: string) => `{"_fz":"${marker}"${members ? `,${members}` : ''}}`;
  const good = goodFields(api, rng);
  const rec = (text: string | Buffer, expect: Expect, extra: Partial<Rec> = {}): Rec => ({ kind, text: Buffer.isBuffer(text) ? text : Buffer.from(text), expect, marker, ...extra });
  switch (kind) {
    case 'good':
      return rec(obj(`"${KF}":"${key}",${good}`), 'publish', { key });
    case 'key-256': {
      const k = `${key}-`.padEnd(MAX_KEY_BYTES, 'z');
      return rec(obj(`"${KF}":"${k}",${good}`), 'publish', { key: k });
    }
    case 'record-60kb':
      return rec(obj(`"${KF}":"${key}",${good},"Pad":"${'p'.repeat(MAX_RECORD_BYTES - 6000)}"`), 'publish', { key });
    case 'deep-16':
      return rec(obj(`"${KF}":"${key}","Legs":${nest(MAX_DEPTH - 1)}`), 'publish', { key });
    case 'key-newline': {
      const k = `${key}\nInjected: 1`;
      return rec(obj(`"${KF}":${JSON.stringify(k)},${good}`), 'publish', { key: k });
    }
    case 'null':
      return { kind, text: Buffer.from('null'), expect: 'dead', why: NOT_OBJECT };
    case 'number':
      return { kind, text: Buffer.from(String(rng.int(-5, 99999))), expect: 'dead', why: NOT_OBJECT };
    case 'bool':
      return { kind, text: Buffer.from(rng.chance(0.5) ? 'true' : 'false'), expect: 'dead', why: NOT_OBJECT };
    case 'string':
      return { kind, text: Buffer.from(JSON.stringify(key)), expect: 'dead', why: NOT_OBJECT };
    case 'array':
      return rec(`[${obj(`"${KF}":"${key}"`)}]`, 'dead', { why: NOT_OBJECT });
    case 'empty-object':
      return { kind, text: Buffer.from('{}'), expect: 'dead', why: NO_KEY };
    case 'no-key':
      return rec(obj(good), 'dead', { why: NO_KEY });
    case 'empty-key':
      return rec(obj(`"${KF}":"",${good}`), 'dead', { why: NO_KEY });
    case 'numeric-key':
      return rec(obj(`"${KF}":${rng.int(1, 1e9)},${good}`), 'dead', { why: NO_KEY });
    case 'null-key':
      return rec(obj(`"${KF}":null,${good}`), 'dead', { why: NO_KEY });
    case 'object-key':
      return rec(obj(`"${KF}":{"id":"${key}"},${good}`), 'dead', { why: NO_KEY });
    case 'proto-key':
      // JSON.parse makes an own property named __proto__; the record itself has no key.
      return rec(obj(`"__proto__":{"${KF}":"${key}"},${good}`), 'dead', { why: NO_KEY });
    // Keyed records that must still be dead-lettered carry `key`, so a wrong publication is counted against them.
    case 'key-10kb': {
      const k = `${key}${'K'.repeat(10 * 1024)}`;
      return rec(obj(`"${KF}":"${k}",${good}`), 'dead', { why: BAD_KEY, key: k });
    }
    case 'key-258-utf8': {
      // 86 x '€' (3 bytes each) = 258 bytes, under 256 characters.
      const k = `${'€'.repeat(86)}${id}`;
      return rec(obj(`"${KF}":"${k}",${good}`), 'dead', { why: BAD_KEY, key: k });
    }
    case 'field-2mb':
      return rec(obj(`"${KF}":"${key}",${good},"Pad":"${'x'.repeat(2_000_000)}"`), 'dead', { why: TOO_BIG, key });
    case 'record-70kb':
      return rec(obj(`"${KF}":"${key}",${good},"Pad":"${'y'.repeat(MAX_RECORD_BYTES + 4000)}"`), 'dead', { why: TOO_BIG, key });
    case 'deep-17':
      return rec(obj(`"${KF}":"${key}","Legs":${nest(MAX_DEPTH)}`), 'dead', { why: TOO_DEEP, key });
    case 'deep-20000':
      // Written by hand: JSON.stringify of 20,000 levels overflows the stack.
      return rec(obj(`"${KF}":"${key}","Legs":${nest(20_000)}`), 'dead', { why: TOO_DEEP, key });
    case 'deep-20000-nokey':
      return rec(obj(`"Legs":${nest(20_000)}`), 'dead', { why: /deep|nest|depth|key/i });
    case 'dup-members':
      // The rules P7 names (object, key, size, depth) let this through; strict JSON would refuse it. Either is taken.
      return rec(obj(`"${KF}":"${key}",${good},"Remark":"first","Remark":"second"`), 'either', { key });
    case 'dup-key':
      return rec(obj(`"${KF}":"${key}-first",${good},"${KF}":"${key}"`), 'either', { key });
    case 'lone-surrogate':
      return rec(obj(`"${KF}":"${key}",${good},"Note":"broken \\ud800 escape"`), 'either', { key });
    case 'lone-surrogate-key':
      return rec(obj(`"${KF}":"${key}\\udc00",${good}`), 'either', { key: `${key}\udc00` });
    case 'invalid-utf8':
      return rec(Buffer.concat([Buffer.from(obj(`"${KF}":"${key}",${good},"Note":"bad `)), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from(' bytes"}')]).subarray(0), 'either', { key });
    default:
      throw new Error(`unknown record kind ${kind}`);
  }
}

/** A page in the API's success envelope: `total` is JSON text (it may be anything). */
function pageBody(api: Api, records: Buffer[], total: string, requestId = `req-${api}`): Buffer {
  const list = Buffer.concat(records.flatMap((r, i) => (i === 0 ? [r] : [Buffer.from(','), r])));
  const [pre, post] =
    api === 'ccc'
      ? [`{"Response":{"TotalCount":${total},"TelCdrList":[`, `],"RequestId":"${requestId}"}}`]
      : api === 'v1'
        ? [`{"errorCode":0,"errorMessage":"","requestId":"${requestId}","data":{"totalNum":${total},"page":1,"callRecordList":[`, ']}}']
        : api === 'v4'
          ? [`{"ErrorCode":0,"ErrorInfo":"","ActionStatus":"OK","RequestId":"${requestId}","Response":{"TotalNum":${total},"CallRecordList":[`, ']}}']
          : [`{"ErrorCode":0,"ErrorInfo":"","ActionStatus":"OK","RequestId":"${requestId}","Response":{"CallRecord":`, '}}'];
  if (api === 'v4id') return Buffer.concat([Buffer.from(pre), records[0] ?? Buffer.from('{}'), Buffer.from(post)]);
  return Buffer.concat([Buffer.from(pre), list, Buffer.from(post)]);
}

/** The API's error envelope with `code` and `message` as JSON values. */
function errorBody(api: Api, code: string, message: string, requestId = '"req-err"'): Buffer {
  if (api === 'ccc') return Buffer.from(`{"Response":{"Error":{"Code":${code},"Message":${message}},"RequestId":${requestId}}}`);
  if (api === 'v1') return Buffer.from(`{"errorCode":${code},"errorMessage":${message},"requestId":${requestId}}`);
  return Buffer.from(`{"ErrorCode":${code},"ErrorInfo":${message},"ActionStatus":"FAIL","RequestId":${requestId}}`);
}

const HOSTILE_TEXTS = [
  'line one\nline two\r\nInjected-Header: 1',
  'nul\u0000byte, bell\u0007, escape \u001b[31mred\u001b[0m',
  'tab\tseparated\tvalues',
  `long ${'x'.repeat(10_000)}`,
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n',
  '中文错误信息 \u2028 next',
  '',
];

const HTML_PAGE = Buffer.from('<html>\n<head><title>Error</title></head>\n<body>\n<h1>Something went wrong</h1>\n<p>Request id: 1234</p>\n</body>\n</html>\n');
const BIG_HTML = Buffer.from(`<html><body>${'<p>padding padding padding padding</p>\n'.repeat(28_000)}</body></html>\n`);

const jsonAnswer = (status: number, body: Buffer, extra: Partial<Answer> = {}): Answer => ({
  status,
  headers: [['Content-Type', 'application/json; charset=utf-8']],
  body,
  framing: 'length',
  ...extra,
});

// ---------------------------------------------------------------------------------------------------------------
// The client cases.

interface ClientCase {
  n: number;
  api: Api;
  category: string;
  note: string;
  /** The kind of answer, for HARD_CAP_MS's rule (one hang per kind and client family). */
  sig?: string;
  answer: Answer;
  /** Served a well-formed page: the client must read these records and this total (P0). */
  valid?: { total: number; records: unknown[] };
  /** A 200 answer over MAX_ANSWER: P4. */
  tooLarge?: boolean;
  /** A page in a charset no decoder knows: refused as `malformed-response` (P0). */
  unknownCharset?: boolean;
}

const CHARSETS = ['GBK', 'gb18030', '"gb2312"', 'x-klingon', 'utf-7'] as const;
const KNOWN_CHARSETS: readonly string[] = ['GBK', 'gb18030', '"gb2312"'];

let gbkTable: Map<string, Buffer> | undefined;
/**
 * `text` (JSON) in GBK, as a re-encoding gateway sends it. Node has no GBK encoder: the table is the decoder's, read
 * backwards from every two-byte code. A character GBK lacks (an emoji) becomes its JSON \u escape, the same value.
 */
function toGbk(text: string): Buffer {
  if (!gbkTable) {
    gbkTable = new Map();
    const decoder = new TextDecoder('gbk');
    for (let lead = 0x81; lead <= 0xfe; lead++) {
      for (let trail = 0x40; trail <= 0xfe; trail++) {
        const bytes = Buffer.from([lead, trail]);
        const char = decoder.decode(bytes);
        if (trail !== 0x7f && char.length === 1 && char !== '\ufffd' && !gbkTable.has(char)) gbkTable.set(char, bytes);
      }
    }
  }
  const table = gbkTable;
  const escape = (c: string) => Buffer.from(c.split('').map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''));
  return Buffer.concat([...text].map((c) => (c.charCodeAt(0) < 0x80 ? Buffer.from(c) : (table.get(c) ?? escape(c)))));
}

function validPage(api: Api, rng: Rng, n: number, count = rng.int(0, 5)): { body: Buffer; total: number; records: unknown[] } {
  const recs: Buffer[] = [];
  for (let i = 0; i < (api === 'v4id' ? 1 : count); i++) recs.push(genRecord(recordApi(api), `c${n}-${i}`, 'good', rng).text);
  const total = api === 'v4id' ? 1 : count + rng.int(0, 3) * (count === 0 ? 0 : 1);
  return { body: pageBody(api, recs, String(total)), total, records: recs.map((r) => JSON.parse(r.toString('utf8')) as unknown) };
}

function statusAnswer(api: Api, rng: Rng, status: number): { answer: Answer; note: string } {
  const headers: [string, string][] = [];
  let body: Buffer;
  let note = `${status}`;
  if (status >= 300 && status < 400 && status !== 304) {
    const location = rng.pick([`http://127.0.0.1:${trapPort}/moved`, `//127.0.0.1:${trapPort}/moved?x=1`, `http://localhost:${trapPort}/moved`]);
    headers.push(['Location', location]);
    note += ` -> ${location}`;
  }
  if (status === 429) headers.push(['Retry-After', String(rng.pick([1, 0, 3600, -1]))]);
  if (status === 204 || status === 304) {
    body = Buffer.alloc(0);
    headers.push(['Content-Type', 'application/json']);
  } else {
    const kind = rng.weighted([
      ['html', 3],
      ['json-error', 3],
      ['empty', 2],
      ['hostile-text', 2],
      ['valid-page', 1],
      ['big-html', 1],
    ] as const);
    note += ` ${kind}`;
    if (kind === 'html') {
      headers.push(['Content-Type', 'text/html']);
      body = HTML_PAGE;
    } else if (kind === 'big-html') {
      headers.push(['Content-Type', 'text/html']);
      body = BIG_HTML;
    } else if (kind === 'json-error') {
      headers.push(['Content-Type', 'application/json']);
      body = errorBody(api, api === 'ccc' ? '"InternalError"' : '70500', JSON.stringify(rng.pick(HOSTILE_TEXTS)));
    } else if (kind === 'hostile-text') {
      headers.push(['Content-Type', 'text/plain']);
      body = Buffer.from(rng.pick(HOSTILE_TEXTS.slice(0, 5)));
    } else if (kind === 'valid-page') {
      headers.push(['Content-Type', 'application/json']);
      body = validPage(api, rng, 0).body;
    } else {
      body = Buffer.alloc(0);
    }
  }
  return { answer: { status, headers, body, framing: 'length' }, note };
}

const SHAPES: Record<RecordApi, readonly string[]> = {
  ccc: [
    '{}',
    '{"Response":[]}',
    '{"Response":"text"}',
    '{"Response":null}',
    '{"Response":5}',
    '[]',
    'null',
    '"Response"',
    '{"Response":{}}',
    '{"Response":{"TotalCount":2,"TelCdrList":{}}}',
    '{"Response":{"TotalCount":2,"TelCdrList":"x"}}',
    '{"Response":{"TotalCount":2,"TelCdrList":5}}',
    '{"Response":{"TotalCount":2,"TelCdrList":null,"TelCdrs":"x"}}',
    '{"Response":{"TotalCount":-1,"TelCdrList":[]}}',
    '{"Response":{"TotalCount":1.5,"TelCdrList":[]}}',
    '{"Response":{"TotalCount":"2","TelCdrList":[]}}',
    '{"Response":{"TotalCount":1e300,"TelCdrList":[]}}',
    '{"Response":{"TotalCount":123456789012345678901234567890,"TelCdrList":[]}}',
    '{"Response":{"TotalCount":9007199254740993,"TelCdrList":[]}}',
    '{"Response":{"TotalCount":null,"TelCdrList":[]}}',
    '{"Response":{"TelCdrList":[]}}',
    '{"Response":{"TotalCount":1,"TotalCount":-7,"TelCdrList":[]}}',
    '{"Response":{"TotalCount":0,"TelCdrList":[],"TelCdrList":"dup"}}',
    '{"Response":{"Error":"boom"}}',
    '{"Response":{"Error":[],"TotalCount":0,"TelCdrList":[]}}',
    '{"Response":{"Error":{},"TotalCount":0,"TelCdrList":[]}}',
    '{"Response":{"Error":{"Code":5,"Message":{"nested":true}}}}',
    '{"Response":{"Error":{"Code":"","Message":"empty code"}}}',
    '{"Response":{"Error":{"Code":null,"Message":null}}}',
    '{"Response":{"TotalCount":0,"TelCdrList":[],"RequestId":{"not":"a string"}}}',
  ],
  v1: [
    '{}',
    '{"errorCode":0}',
    '{"errorCode":0,"data":[]}',
    '{"errorCode":0,"data":"x"}',
    '{"errorCode":0,"data":null}',
    '[]',
    'null',
    '"x"',
    '{"errorCode":"0","data":{"totalNum":0,"callRecordList":[]}}',
    '{"errorCode":0.0,"data":{"totalNum":0,"callRecordList":[]}}',
    '{"errorCode":0,"data":{"totalNum":2,"callRecordList":{}}}',
    '{"errorCode":0,"data":{"totalNum":2,"callRecordList":"x"}}',
    '{"errorCode":0,"data":{"totalNum":-1,"callRecordList":[]}}',
    '{"errorCode":0,"data":{"totalNum":-0.5,"callRecordList":[]}}',
    '{"errorCode":0,"data":{"totalNum":2.5,"callRecordList":[]}}',
    '{"errorCode":0,"data":{"totalNum":"3","callRecordList":[]}}',
    '{"errorCode":0,"data":{"totalNum":1e300,"callRecordList":[]}}',
    '{"errorCode":0,"data":{"totalNum":123456789012345678901234567890,"callRecordList":[]}}',
    '{"errorCode":0,"data":{"callRecordList":[]}}',
    '{"errorCode":0,"data":{"totalNum":1,"totalNum":-4,"callRecordList":[]}}',
    '{"errorCode":70011,"data":{"totalNum":5,"callRecordList":"ignored"}}',
    '{"errorCode":null,"errorMessage":null}',
    '{"errorCode":[],"errorMessage":{"a":1}}',
  ],
  v4: [
    '{}',
    '{"ErrorCode":0}',
    '{"ErrorCode":0,"ActionStatus":"OK"}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":[]}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":"x"}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":null}',
    '{"ErrorCode":0,"ActionStatus":"ok","Response":{"TotalNum":0,"CallRecordList":[]}}',
    '{"ErrorCode":0,"ActionStatus":"FAIL","Response":{"TotalNum":0,"CallRecordList":[]}}',
    '[]',
    'null',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"TotalNum":2,"CallRecordList":{}}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"TotalNum":2,"CallRecordList":5}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"TotalNum":-1,"CallRecordList":[]}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"TotalNum":0.5,"CallRecordList":[]}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"TotalNum":"2","CallRecordList":[]}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"TotalNum":1e300,"CallRecordList":[]}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"TotalNum":123456789012345678901234567890,"CallRecordList":[]}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"TotalNum":-9007199254740993,"CallRecordList":[]}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"TotalNum":3,"TotalNum":-3,"CallRecordList":[]}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"CallRecord":[]}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"CallRecord":"x"}}',
    '{"ErrorCode":0,"ActionStatus":"OK","Response":{"CallRecord":{}}}',
    '{"ErrorCode":null,"ActionStatus":null}',
  ],
};

const FRAMINGS = ['short', 'long', 'cut', 'cut-early', 'chunked', 'bad-chunk', 'close', 'dup-length', 'gzip-garbage', 'gzip-valid', 'gzip-truncated', 'deflate-garbage', 'br-garbage', 'gzip-header-plain', 'unknown-encoding'] as const;
const RAWS = ['ssh-banner', 'nothing', 'bad-status', 'status-2000', 'http10-close', 'long-reason', 'tab-reason', 'header-overflow', 'nul-header', 'bad-length', 'continue-then-200', 'switching-protocols', 'no-head-end'] as const;

function makeClientCase(rng: Rng, n: number, api: Api, forced?: { category: string; status?: number; kind?: string }): ClientCase {
  const category =
    forced?.category ??
    rng.weighted([
      ['valid', 3],
      ['status', 4],
      ['content-type', 2],
      ['shape', 4],
      ['vendor-error', 3],
      ['records', 3],
      ['syntax', 3],
      ['framing', 3],
      ['raw', 2],
      ['charset', 1],
    ] as const);
  const base = { n, api, category };
  switch (category) {
    case 'valid': {
      const p = validPage(api, rng, n);
      const framing = rng.pick(['length', 'length', 'chunked'] as const);
      return { ...base, note: `${p.records.length} records, total ${p.total}, ${framing}`, answer: jsonAnswer(200, p.body, { framing }), valid: { total: p.total, records: p.records } };
    }
    case 'status': {
      const status = forced?.status ?? rng.pick([204, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 413, 429, 499, 500, 502, 503, 504, 599]);
      const { answer, note } = statusAnswer(api, rng, status);
      return { ...base, note, answer, sig: `status:${status}:${note.split(' ').at(-1)}` };
    }
    case 'content-type': {
      const type = rng.pick(['text/html', 'text/event-stream', 'text/event-stream', 'text/event-stream; charset=utf-8', 'text/plain', '', 'application/octet-stream', 'application/xml']);
      const p = validPage(api, rng, n);
      const twist = rng.pick(['valid', 'valid', 'cut', 'gzip-garbage', 'html-body'] as const);
      const headers: [string, string][] = type ? [['Content-Type', type]] : [];
      let answer: Answer = { status: 200, headers, body: p.body, framing: 'length' };
      if (twist === 'cut') answer = { ...answer, framing: 'cut', cutAt: Math.floor(p.body.length / 2) };
      if (twist === 'gzip-garbage') answer = { ...answer, headers: [...headers, ['Content-Encoding', 'gzip']], body: Buffer.from(garbage(rng, 300)) };
      if (twist === 'html-body') answer = { ...answer, body: HTML_PAGE };
      return { ...base, note: `${JSON.stringify(type)} ${twist}`, answer, sig: twist === 'gzip-garbage' ? 'enc-bad' : `ct:${twist}` };
    }
    case 'shape': {
      const body = rng.pick(SHAPES[recordApi(api)]);
      return { ...base, note: body, answer: jsonAnswer(200, Buffer.from(body)) };
    }
    case 'vendor-error': {
      const text = rng.pick(HOSTILE_TEXTS);
      const code =
        api === 'ccc'
          ? rng.pick(['"InternalError"', '"RequestLimitExceeded"', '"AuthFailure.SignatureFailure"', '"InvalidParameter"', '"Weird.New\\nCode"', `"${'C'.repeat(3000)}"`, '"ResponseSizeLimitExceeded"'])
          : rng.pick(['70001', '70005', '50001', '70402', '90000', '-1', '"70001"', '1e300', '70011']);
      const requestId = rng.pick(['"req-1"', '"req\\nwith newline"', `"${'r'.repeat(5000)}"`, 'null', '42']);
      return { ...base, note: `code ${code.slice(0, 40)} message ${JSON.stringify(text.slice(0, 40))} requestId ${requestId.slice(0, 30)}`, answer: jsonAnswer(200, errorBody(api, code, JSON.stringify(text), requestId)) };
    }
    case 'records': {
      const ra = recordApi(api);
      const count = api === 'v4id' ? 1 : rng.int(1, 6);
      const recs: Rec[] = [];
      for (let i = 0; i < count; i++) recs.push(genRecord(ra, `c${n}-${i}`, rng.chance(0.3) ? 'good' : rng.pick(STRANGE), rng));
      return { ...base, note: recs.map((r) => r.kind).join(','), answer: jsonAnswer(200, pageBody(api, recs.map((r) => r.text), String(count))) };
    }
    case 'syntax': {
      const p = validPage(api, rng, n, rng.int(1, 4));
      const kind = rng.pick(['truncated', 'truncated', 'empty', 'whitespace', 'bom', 'null-literal', 'number', 'invalid-utf8', 'nul-bytes', 'trailing-garbage', 'two-documents', 'comments', 'single-quotes', 'latin1'] as const);
      let body: Buffer;
      switch (kind) {
        case 'truncated':
          body = p.body.subarray(0, rng.int(0, p.body.length - 1));
          break;
        case 'empty':
          body = Buffer.alloc(0);
          break;
        case 'whitespace':
          body = Buffer.from(' \r\n\t ');
          break;
        case 'bom':
          body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), p.body]);
          break;
        case 'null-literal':
          body = Buffer.from('null');
          break;
        case 'number':
          body = Buffer.from(rng.pick(['1e999', '-0', '123456789012345678901234567890']));
          break;
        case 'invalid-utf8':
          body = Buffer.from(p.body.toString('latin1').replace(`"req-${api}"`, '"req-\u00ff\u00fe\u00c3("'), 'latin1');
          break;
        case 'nul-bytes':
          body = Buffer.concat([p.body.subarray(0, 10), Buffer.from([0, 0, 0]), p.body.subarray(10)]);
          break;
        case 'trailing-garbage':
          body = Buffer.concat([p.body, Buffer.from('\n<html>oops</html>')]);
          break;
        case 'two-documents':
          body = Buffer.concat([p.body, p.body]);
          break;
        case 'comments':
          body = Buffer.concat([Buffer.from('/* page */\n'), p.body]);
          break;
        case 'single-quotes':
          body = Buffer.from(p.body.toString('utf8').replaceAll('"', "'"));
          break;
        case 'latin1':
          body = Buffer.from(p.body.toString('utf8').replace(`"req-${api}"`, '"réq-ñ"'), 'latin1');
          break;
      }
      return { ...base, note: `${kind} (${body.length} bytes)`, answer: jsonAnswer(200, body), sig: `syntax:${kind}` };
    }
    case 'charset': {
      // A Chinese name in every record, beside the Remarks goodFields draws (中文备注, an emoji).
      const name = rng.pick(['张三', '客服组', '李四 (夜班)']);
      const p = validPage(api, rng, n, rng.int(1, 4));
      const body = toGbk(p.body.toString('utf8').replaceAll('{"_fz":', `{"AgentName":${JSON.stringify(name)},"_fz":`));
      const records = p.records.map((r) => ({ AgentName: name, ...(r as object) }));
      const label = (forced?.kind as (typeof CHARSETS)[number] | undefined) ?? rng.pick(CHARSETS);
      const answer: Answer = { status: 200, headers: [['Content-Type', `application/json; charset=${label}`]], body, framing: rng.pick(['length', 'chunked'] as const) };
      const known = KNOWN_CHARSETS.includes(label);
      return { ...base, note: `${label} ${records.length} records`, answer, sig: `charset:${label}`, ...(known ? { valid: { total: p.total, records } } : { unknownCharset: true }) };
    }
    case 'framing': {
      const p = validPage(api, rng, n, rng.int(1, 5));
      const kind = (forced?.kind as (typeof FRAMINGS)[number] | undefined) ?? rng.pick(FRAMINGS);
      let answer = jsonAnswer(200, p.body);
      let valid: ClientCase['valid'];
      switch (kind) {
        case 'short':
        case 'long':
        case 'chunked':
        case 'bad-chunk':
        case 'close':
        case 'dup-length':
          answer = { ...answer, framing: kind };
          if (kind === 'chunked' || kind === 'close') valid = { total: p.total, records: p.records };
          break;
        case 'cut':
          answer = { ...answer, framing: 'cut', cutAt: rng.int(1, p.body.length - 1) };
          break;
        case 'cut-early':
          answer = { ...answer, framing: 'cut', cutAt: 0 };
          break;
        case 'gzip-garbage':
          answer = { ...answer, headers: [...answer.headers, ['Content-Encoding', 'gzip']], body: Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), garbage(rng, 400)]) };
          break;
        case 'gzip-valid':
          answer = { ...answer, headers: [...answer.headers, ['Content-Encoding', 'gzip']], body: gzipSync(p.body) };
          // The CCC client asks for no encoding and reads an encoded answer as the bytes it is: refusing it is right.
          if (api !== 'ccc') valid = { total: p.total, records: p.records };
          break;
        case 'gzip-truncated': {
          const gz = gzipSync(p.body);
          answer = { ...answer, headers: [...answer.headers, ['Content-Encoding', 'gzip']], body: gz.subarray(0, Math.floor(gz.length / 2)) };
          break;
        }
        case 'deflate-garbage':
          answer = { ...answer, headers: [...answer.headers, ['Content-Encoding', 'deflate']], body: garbage(rng, 300) };
          break;
        case 'br-garbage':
          answer = { ...answer, headers: [...answer.headers, ['Content-Encoding', 'br']], body: garbage(rng, 300) };
          break;
        case 'gzip-header-plain':
          answer = { ...answer, headers: [...answer.headers, ['Content-Encoding', 'gzip']] };
          break;
        case 'unknown-encoding':
          answer = { ...answer, headers: [...answer.headers, ['Content-Encoding', 'x-cdrflow']] };
          break;
      }
      // Every body its Content-Encoding cannot decode is one kind (undici's failure is the same for all of them).
      const badEncoding = /-garbage$/.test(kind) || kind === 'gzip-header-plain';
      return { ...base, note: kind, answer, sig: badEncoding ? 'enc-bad' : `framing:${kind}`, ...(valid ? { valid } : {}) };
    }
    default: {
      const p = validPage(api, rng, n, 2);
      const kind = (forced?.kind as (typeof RAWS)[number] | undefined) ?? rng.pick(RAWS);
      const ok = (extra: string) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${p.body.length}\r\n${extra}\r\n`), p.body]);
      const raws: Record<typeof kind, Buffer> = {
        'ssh-banner': Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'),
        nothing: Buffer.alloc(0),
        'bad-status': Buffer.from('HTTP/1.1 abc Whatever\r\nContent-Length: 0\r\n\r\n'),
        'status-2000': Buffer.from('HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}'),
        'http10-close': Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n'), p.body]),
        'long-reason': Buffer.from(`HTTP/1.1 503 ${'Service Unavailable '.repeat(100)}\r\nContent-Length: 0\r\n\r\n`),
        'tab-reason': Buffer.from('HTTP/1.1 500 Internal\tServer\tError \u00ff\r\nContent-Length: 0\r\n\r\n', 'latin1'),
        'header-overflow': Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(40_000)}\r\nContent-Length: 2\r\n\r\n{}`),
        'nul-header': Buffer.from('HTTP/1.1 200 OK\r\nX-Bad: a\u0000b\r\nContent-Length: 2\r\n\r\n{}'),
        'bad-length': Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}'),
        'continue-then-200': Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), ok('')]),
        'switching-protocols': Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u0081\u0005hello'),
        'no-head-end': Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'),
      };
      // A 1xx before the final answer is legal HTTP (RFC 9110 §15.2: a client must accept it), but not a property
      // here: how each client takes it goes to the notes.
      return { ...base, note: kind, sig: `raw:${kind}`, answer: { status: 0, headers: [], body: Buffer.alloc(0), framing: 'length', raw: raws[kind] }, ...(kind === 'http10-close' ? { valid: { total: p.total, records: p.records } } : {}) };
    }
  }
}

function garbage(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(0, 255);
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// The clients (one per API for the whole file, as a connector keeps its own) and the judge.

let server: NetServer;
let port = 0;
interface Clients {
  ccc: CccApiClient;
  v1: TrtcApiClient;
  v4: TrtcApiClient;
}
let clients: Clients;
/** The same, with TOO_LARGE_TIMEOUT_MS: for the answers over MAX_ANSWER. */
let tooLargeClients: Clients;
let readerCccClient: CccApiClient;
let readerCcc: PullSource;
let readerV4: PullSource;
const PAGE_SIZE = { ccc: 0, v4: 0 };

const trtcSettings = (api: 'v1' | 'v4', sdkAppId: number, timeoutMs = TIMEOUT_MS) => ({
  baseUrl: `http://127.0.0.1:${port}`,
  api,
  sdkAppId,
  secretKey: 'fuzz-trtc-key',
  identifier: 'administrator',
  timeoutMs,
  userSigValiditySec: 86_400,
  userSigRenewBeforeSec: 3_600,
});

type Page = { total: number; records: unknown[] } | { record: unknown };

function call(api: Api, n: number, tooLarge = false): Promise<Page> {
  const { ccc, v1, v4 } = tooLarge ? tooLargeClients : clients;
  const window = { start: 1_780_000_000, end: 1_780_003_600 };
  if (api === 'ccc') {
    return ccc
      .describeProtectedTelCdr({ sdkAppId: tooLarge ? APP.tooLargeCcc : APP.ccc, startTimeStamp: window.start, endTimeStamp: window.end, pageSize: 100, pageNumber: n })
      .then((p) => ({ total: p.totalCount, records: p.records }));
  }
  if (api === 'v4id') return v4.getRecordByCallId(`call-${n}`).then((r) => ({ record: r.record }));
  const client = api === 'v1' ? v1 : v4;
  return client.getRecordsByFilter({ startTimestamp: window.start, endTimestamp: window.end, page: n, numberPerPage: 100 }).then((p) => ({ total: p.totalNum, records: p.records }));
}
const slotOf = (api: Api, n: number) => (api === 'v4id' ? `call-${n}` : String(n));

const isPlainObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/;

const label = (c: ClientCase) => `#${c.n} ${c.api} ${c.category} [${c.note.length > 160 ? `${c.note.slice(0, 160)}…` : c.note}]`;

/** P1-P3 (and P0, P4's code) for one settled call. */
function judgeCall(c: ClientCase, outcome: Settled<Page>, elapsedMs: number): void {
  const what = label(c);
  const key = `${c.api} ${c.category}`;
  const { settleMs, capMs } = boundsOf(c);
  if (outcome.state === 'pending') {
    violate('P2', what, `not settled after ${capMs} ms (bound ${settleMs} ms): abandoned`);
    bump(key, 'hung');
    return;
  }
  if (elapsedMs > settleMs) violate('P2', what, `settled after ${Math.round(elapsedMs)} ms (bound ${settleMs} ms)`);
  if (outcome.state === 'resolved') {
    const page = outcome.value;
    bump(key, 'resolved');
    if ('record' in page) {
      if (page.record !== null && !isPlainObject(page.record)) violate('P1', what, `resolved with a record that is neither null nor a plain object: ${typeof page.record}`);
    } else {
      if (!Array.isArray(page.records)) violate('P1', what, `resolved with records that are not an array: ${typeof page.records}`);
      if (!(Number.isSafeInteger(page.total) && page.total >= 0)) violate('P1', what, `resolved with total ${String(page.total)} (not a non-negative safe integer)`);
      const fromTrap = (r: unknown) => typeof r === 'object' && r !== null && Object.values(r).includes('from-trap');
      if (Array.isArray(page.records) && page.records.some(fromTrap)) notes.push(`${what}: resolved with the trap's records (read from another host after a redirect)`);
    }
    if (c.unknownCharset) violate('P0', what, `read a page in a charset no decoder knows (as UTF-8, garbled)`);
    if (c.tooLarge) violate('P4', what, `resolved (${'records' in page ? `${page.records.length} records` : 'a record'}) instead of refusing an answer of ${BIG_BODY} bytes`);
    if (c.valid) {
      const expected = c.valid;
      const got = 'record' in page ? { total: 1, records: [page.record] } : page;
      let same = false;
      try {
        same = got.total === expected.total && JSON.stringify(got.records) === JSON.stringify(expected.records);
      } catch {
        // not comparable (too deep to write out): not what was served
      }
      if (!same) violate('P0', what, `read ${got.records.length} records / total ${got.total}, served ${expected.records.length} / ${expected.total}`);
    }
    return;
  }
  const err = outcome.error;
  if (!(err instanceof CdrflowError) || !ERROR_KINDS.includes(err.kind)) {
    violate('P1', what, `rejected with ${describeError(err)}`);
    bump(key, `non-CdrflowError ${err instanceof Error ? err.constructor.name : typeof err}`);
    return;
  }
  bump(key, `${err.kind}/${err.code}`);
  if (c.note === 'continue-then-200') notes.push(`${what}: a 200 after an interim 100 Continue was refused: ${describeError(err)}`);
  if (err.message.length > MAX_MESSAGE_CHARS) violate('P3', what, `message is ${err.message.length} characters: ${JSON.stringify(err.message.slice(0, 160))}…`);
  const control = CONTROL.exec(err.message);
  if (control) violate('P3', what, `raw control character U+${control[0].charCodeAt(0).toString(16).padStart(4, '0')} at ${control.index}: ${JSON.stringify(err.message.slice(Math.max(0, control.index - 80), control.index + 40))}`);
  // The CCC client never inflates (it asks for no encoding): a gzip bomb is refused as the malformed page its bytes are.
  const neverInflated = c.api === 'ccc' && c.note.startsWith('gzip bomb') && err.code === 'malformed-response';
  if (c.tooLarge && err.code !== 'answer-too-large' && !neverInflated) violate('P4', what, `refused with code ${err.code} (${err.kind}), not answer-too-large: ${JSON.stringify(err.message.slice(0, 160))}`);
  if (c.valid) violate('P0', what, `a well-formed page was refused: ${describeError(err)}`);
  if (c.unknownCharset && err.code !== 'malformed-response') violate('P0', what, `a page in a charset no decoder knows was refused as ${err.code}, not malformed-response`);
}

/**
 * P6 after a call (or a batch): nothing left mid-answer, at most MAX_OPEN_PER_CLIENT connections per client. Also waits
 * (<= 1 s) until every connection the server ended is closed by its client: a client that took such a socket from its
 * keep-alive pool before the server's FIN arrived would send the *next* case's request on it and fail that case with
 * "socket hang up", which is the race of the harness's raw answers, not the next answer's doing.
 */
async function checkSockets(what: string): Promise<void> {
  await until(() => ![...conns].some((c) => c.socket.writableEnded && !c.socket.destroyed && !c.answering), 1000);
  const quiet = await until(() => ![...conns].some((c) => c.answering), 1000);
  if (!quiet) {
    for (const c of conns) {
      if (!c.answering) continue;
      violate('P6', c.answeringIn || what, `1 s after the call settled the connection (client ${c.client}) is still open with the server mid-answer: the client neither read the rest nor closed it (closed by the campaign now)`);
      c.socket.destroy();
    }
  }
  const perClient = () => {
    const m = new Map<string, Conn[]>();
    for (const c of conns) {
      const group = c.client === 'none' && c.socket.bytesRead === 0 ? 'unused' : c.client;
      m.set(group, [...(m.get(group) ?? []), c]);
    }
    return m;
  };
  const bound = (client: string) => (client === 'unused' ? MAX_UNUSED_CONNECTIONS : READER_CLIENTS.has(client) ? MAX_OPEN_PER_READER_CLIENT : MAX_OPEN_PER_CLIENT);
  await until(() => [...perClient()].every(([client, l]) => l.length <= bound(client)), 300);
  for (const [client, list] of perClient()) peakOpen.set(client, Math.max(peakOpen.get(client) ?? 0, list.length));
  for (const [client, list] of perClient()) {
    if (list.length <= bound(client)) continue;
    violate('P6', what, `${list.length} connections of client ${client} open (bound ${bound(client)}), opened in: ${list.map((c) => c.openedIn.split(' ').slice(0, 2).join(' ')).join(', ')} (closed by the campaign now)`);
    for (const c of list) c.socket.destroy();
  }
}

const family = (api: Api) => (api === 'ccc' ? 'ccc' : 'trtc');
const sigOf = (c: ClientCase) => `${family(c.api)}|${c.sig ?? c.category}`;

async function runClientCase(c: ClientCase): Promise<void> {
  if (hungSigs.has(sigOf(c))) {
    skipped.set(sigOf(c), (skipped.get(sigOf(c)) ?? 0) + 1);
    return;
  }
  current = label(c);
  const slot = slotOf(c.api, c.n);
  requestLabels.set(`${clientIdOf(c)}/${slot}`, current);
  routes.set(clientIdOf(c), (req) => {
    if (req.slot === slot) return c.answer;
    harnessErrors.push(`${current}: request for slot ${req.slot}, expected ${slot}`);
    return jsonAnswer(404, Buffer.from('{}'));
  });
  const trapBefore = trap.connections;
  const t0 = performance.now();
  const outcome = await settle(call(c.api, c.n, c.tooLarge), boundsOf(c).capMs);
  const elapsed = performance.now() - t0;
  judgeCall(c, outcome, elapsed);
  slowest.push([elapsed, current]);
  if (outcome.state === 'pending') hungSigs.add(sigOf(c));
  if (trap.connections > trapBefore) {
    const reqs = trap.requests.filter((r) => r.case === current);
    violate('P5', label(c), `followed the redirect: the trap saw ${trap.connections - trapBefore} connection(s), requests ${JSON.stringify(reqs.map((r) => `${r.method} ${r.url}${r.authorization ? ' with Authorization' : ''}`))}`);
  }
  await checkSockets(label(c));
}

// ---------------------------------------------------------------------------------------------------------------

let bigPageCcc: BigBody;
let bigPageV1: BigBody;
let bigPageV4: BigBody;
let bigRecordV4id: BigBody;
let bombCcc: Buffer;
let bombV4: Buffer;

function bigPage(api: 'ccc' | 'v1' | 'v4'): BigBody {
  const rec = genRecord(api, 'big', 'good', new Rng(seededRandom(SEED)));
  const padded = Buffer.from(rec.text.toString('utf8').replace('"_fz":', `"Pad":"${'b'.repeat(900)}","_fz":`));
  const chunk = Buffer.concat(Array.from({ length: 64 }, () => Buffer.concat([padded, Buffer.from(',')])));
  const repeat = Math.ceil(BIG_BODY / chunk.length);
  const total = String(64 * repeat + 1);
  const whole = pageBody(api, [Buffer.from('@@')], total, 'big').toString('utf8');
  const [pre, post] = whole.split('@@') as [string, string];
  return { prefix: Buffer.from(pre), chunk, repeat, suffix: Buffer.concat([padded, Buffer.from(post)]) };
}

async function gzipOf(body: BigBody): Promise<Buffer> {
  const gz = createGzip({ level: 6 });
  const out: Buffer[] = [];
  gz.on('data', (d: Buffer) => out.push(d));
  const ended = once(gz, 'end');
  const put = async (b: Buffer) => {
    if (!gz.write(b)) await once(gz, 'drain');
  };
  await put(body.prefix);
  for (let i = 0; i < body.repeat; i++) await put(body.chunk);
  await put(body.suffix);
  gz.end();
  await ended;
  return Buffer.concat(out);
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandledRejection);
  process.on('uncaughtException', onUncaughtException);
  trapServer = createHttpServer((req, res) => {
    trap.requests.push({ method: req.method ?? '?', url: req.url ?? '', authorization: req.headers.authorization !== undefined, case: current });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json', Connection: 'close' });
      res.end(TRAP_BODY);
    });
  });
  trapServer.on('connection', () => void trap.connections++);
  await new Promise<void>((r) => trapServer.listen(0, '127.0.0.1', () => r()));
  trapPort = (trapServer.address() as AddressInfo).port;
  server = await startScriptedServer();
  port = (server.address() as AddressInfo).port;
  const cccSettings = { secretId: 'AKIDfuzz', secretKey: 'fuzz-ccc-key', endpoint: `127.0.0.1:${port}`, protocol: 'http' as const, timeoutMs: TIMEOUT_MS };
  clients = { ccc: new CccApiClient(cccSettings), v1: new TrtcApiClient(trtcSettings('v1', APP.v1)), v4: new TrtcApiClient(trtcSettings('v4', APP.v4)) };
  tooLargeClients = {
    ccc: new CccApiClient({ ...cccSettings, timeoutMs: TOO_LARGE_TIMEOUT_MS }),
    v1: new TrtcApiClient(trtcSettings('v1', APP.tooLargeV1, TOO_LARGE_TIMEOUT_MS)),
    v4: new TrtcApiClient(trtcSettings('v4', APP.tooLargeV4, TOO_LARGE_TIMEOUT_MS)),
  };

  const rng = new Rng(seededRandom(SEED ^ 0x5eed));
  PAGE_SIZE.ccc = rng.int(2, 5);
  PAGE_SIZE.v4 = rng.int(2, 5);
  const cccConfig = cccConfigSchema.parse({ ...cccSettings, sdkAppIds: [APP.readerCcc], pageSize: PAGE_SIZE.ccc, retry: RETRY });
  readerCccClient = new CccApiClient({ ...cccSettings });
  readerCcc = createCccSource(cccConfig, readerCccClient);
  readerV4 = createTrtcSource(
    trtcConfigSchema.parse({ baseUrl: `http://127.0.0.1:${port}`, apps: [{ sdkAppId: APP.readerV4, secretKey: 'fuzz-trtc-key', api: 'v4' }], timeoutMs: TIMEOUT_MS, pageSize: PAGE_SIZE.v4, retry: RETRY }),
  );

  bigPageCcc = bigPage('ccc');
  bigPageV1 = bigPage('v1');
  bigPageV4 = bigPage('v4');
  const head = '{"ErrorCode":0,"ErrorInfo":"","ActionStatus":"OK","RequestId":"big","Response":{"CallRecord":{"CallId":"big","Pad":"';
  bigRecordV4id = { prefix: Buffer.from(head), chunk: Buffer.alloc(64 * 1024, 'x'), repeat: BIG_BODY / (64 * 1024), suffix: Buffer.from('"}}}') };
  bombCcc = await gzipOf(bigPageCcc);
  bombV4 = await gzipOf(bigPageV4);
}, 60_000);

afterAll(async () => {
  process.off('unhandledRejection', onUnhandledRejection);
  process.off('uncaughtException', onUncaughtException);
  for (const c of conns) c.socket.destroy();
  await new Promise((r) => server?.close(r));
  await new Promise((r) => trapServer?.close(r));
});

/** The SDK client's keep-alive agent, which CccApiClient keeps to itself: destroyed at the end (its sockets with it). */
function destroyCccAgent(client: CccApiClient): void {
  const inner = (client as unknown as { client?: { profile?: { httpProfile?: { agent?: { destroy(): void } } } } }).client;
  inner?.profile?.httpProfile?.agent?.destroy();
}

function printSummary(title: string): void {
  const rows = [...tally].sort(([a], [b]) => a.localeCompare(b)).map(([k, m]) => `  ${k}: ${[...m].map(([o, n]) => `${o}=${n}`).join(' ')}`);
  const byProp = PROPS.map((p) => `${p}=${allViolations.get(p)?.length ?? 0}`).join(' ');
  const slow = [...slowest].sort(([a], [b]) => b - a).slice(0, 8).map(([ms, what]) => `${Math.round(ms)} ms ${what.slice(0, 140)}`);
  console.log(`[vendor-answers seed ${SEED}] ${title}\n  violations: ${byProp}\n${rows.join('\n')}${skipped.size ? `\n  skipped (kind hung before): ${JSON.stringify(Object.fromEntries(skipped))}` : ''}${notes.length ? `\n  notes:\n    ${[...new Set(notes)].slice(0, 40).join('\n    ')}` : ''}\n  most connections open after a case, per client: ${JSON.stringify(Object.fromEntries(peakOpen))}\n  slowest:\n    ${slow.join('\n    ')}${harnessErrors.length ? `\n  HARNESS: ${harnessErrors.slice(0, 10).join('\n  ')}` : ''}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Reader windows.

interface Failure {
  answer: Answer;
  note: string;
  /** As ClientCase.sig (family included). */
  sig: string;
}
interface PagePlan {
  records: Rec[];
  /** Retryable failures served on the first attempts. */
  before: Failure[];
  /** A failure served on every attempt (the window may fail then). */
  persistent?: Failure;
  attempts: number;
  validServed: number;
}
interface WindowPlan {
  n: number;
  vendor: 'ccc' | 'v4';
  pages: PagePlan[];
  total: number;
}

function retryableFailure(api: 'ccc' | 'v4', rng: Rng, page: Buffer): Failure {
  const picked = rng.pick(['500', '502', '503', '429', 'truncated', 'empty', 'cut', 'long', 'vendor-transient', 'gzip-garbage'] as const);
  const fam = family(api);
  // A kind that hung this client family already is replaced (see HARD_CAP_MS).
  const kind = hungSigs.has(`${fam}|${picked === 'gzip-garbage' ? 'enc-bad' : `retryable:${picked}`}`) ? '500' : picked;
  if (kind !== picked) skipped.set(`${fam}|reader ${picked}`, (skipped.get(`${fam}|reader ${picked}`) ?? 0) + 1);
  const f = (answer: Answer, note: string): Failure => ({ answer, note, sig: `${fam}|${note === 'gzip-garbage' ? 'enc-bad' : `retryable:${note}`}` });
  switch (kind) {
    case '500':
    case '502':
    case '503':
    case '429':
      return f({ status: Number(kind), headers: [['Content-Type', 'text/html']], body: HTML_PAGE, framing: 'length' }, kind);
    case 'truncated':
      return f(jsonAnswer(200, page.subarray(0, rng.int(0, page.length - 1))), kind);
    case 'empty':
      return f(jsonAnswer(200, Buffer.alloc(0)), kind);
    case 'cut':
      return f(jsonAnswer(200, page, { framing: 'cut', cutAt: rng.int(1, page.length - 1) }), kind);
    case 'long':
      return f(jsonAnswer(200, page, { framing: 'long' }), kind);
    case 'vendor-transient':
      return f(jsonAnswer(200, api === 'ccc' ? errorBody('ccc', rng.pick(['"InternalError"', '"RequestLimitExceeded"', '"ResourceUnavailable.X"']), '"busy"') : errorBody('v4', rng.pick(['90000', '0', '70500']), '"busy"')), kind);
    case 'gzip-garbage':
      return f(jsonAnswer(200, garbage(rng, 200), { headers: [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip']] }), kind);
  }
}

function planWindow(rng: Rng, n: number, vendor: 'ccc' | 'v4', forcedKind: string | undefined): WindowPlan {
  const size = PAGE_SIZE[vendor];
  const pages = rng.int(1, 3);
  const total = (pages - 1) * size + rng.int(1, size);
  const records: Rec[] = [];
  const forcedAt = forcedKind ? rng.int(0, total - 1) : -1;
  for (let i = 0; i < total; i++) {
    const kind = i === forcedAt ? forcedKind! : rng.chance(0.55) ? 'good' : rng.pick(STRANGE);
    records.push(genRecord(vendor, `w${n}-${i}`, kind, rng));
  }
  const plans: PagePlan[] = [];
  for (let p = 0; p < pages; p++) {
    const recs = records.slice(p * size, (p + 1) * size);
    const body = windowPage(vendor, recs, total, `w${n}-p${p}`);
    const before = rng.chance(0.3) ? Array.from({ length: rng.int(1, RETRY.maxAttempts - 1) }, () => retryableFailure(vendor, rng, body)) : [];
    let persistent: PagePlan['persistent'];
    if (rng.chance(0.07)) {
      // Never a page the client could read as valid (some 'syntax' bodies are: a BOM, odd bytes in a RequestId).
      const category = rng.pick(['status', 'shape', 'vendor-error', 'broken'] as const);
      if (category === 'broken') {
        persistent = retryableFailure(vendor, rng, body);
      } else {
        const c = makeClientCase(rng, n, vendor, { category });
        persistent = hungSigs.has(sigOf(c))
          ? { answer: { status: 500, headers: [], body: Buffer.alloc(0), framing: 'length' }, note: `status 500 (instead of ${c.category} ${c.note.slice(0, 40)}, which hung before)`, sig: 'none' }
          : { answer: c.answer, note: `${c.category} ${c.note}`, sig: sigOf(c) };
      }
    }
    plans.push({ records: recs, before, ...(persistent ? { persistent } : {}), attempts: 0, validServed: 0 });
  }
  return { n, vendor, pages: plans, total };
}

function windowPage(vendor: 'ccc' | 'v4', recs: Rec[], total: number, requestId: string): Buffer {
  return pageBody(vendor, recs.map((r) => r.text), String(total), requestId);
}

const windowLabel = (w: WindowPlan) =>
  `window #${w.n} ${w.vendor} ${w.pages.length}p/${w.total}r [${w.pages
    .map((p, i) => `p${i}: ${p.records.map((r) => r.kind).join(',')}${p.before.length ? ` first ${p.before.map((b) => b.note).join('+')}` : ''}${p.persistent ? ` ALWAYS ${p.persistent.note.slice(0, 80)}` : ''}`)
    .join(' | ')}]`;

function judgeWindow(w: WindowPlan, sink: MemorySink, outcome: Settled<unknown>, elapsedMs: number): void {
  const what = windowLabel(w);
  if (outcome.state === 'pending') {
    violate('P8', what, `readWindow not settled after ${WINDOW_CAP_MS} ms (abandoned, its signal aborted)`);
    bump(`reader ${w.vendor}`, 'hung');
    return;
  }
  if (elapsedMs > WINDOW_BOUND_MS) violate('P8', what, `readWindow settled after ${Math.round(elapsedMs)} ms (bound ${WINDOW_BOUND_MS} ms)`);
  const failedPages = w.pages.filter((p) => p.persistent);
  if (outcome.state === 'rejected') {
    const err = outcome.error;
    bump(`reader ${w.vendor}`, err instanceof CdrflowError ? `rejected ${err.kind}/${err.code}` : `rejected ${describeError(err).slice(0, 60)}`);
    if (!(err instanceof CdrflowError)) violate('P8', what, `rejected with ${describeError(err)}`);
    if (failedPages.length === 0) violate('P7', what, `the window failed although every page was eventually served 200 with a valid envelope: ${describeError(err)}`);
  } else {
    bump(`reader ${w.vendor}`, failedPages.length ? 'resolved despite an always-failing page' : 'resolved');
    for (const [i, p] of w.pages.entries()) {
      if (p.validServed === 0) notes.push(`${what}: the window resolved although page ${i} was never served a valid page (${p.persistent?.note.slice(0, 120)}): its ${p.records.length} records were skipped`);
    }
  }
  // Never the same key twice in one window.
  const byKey = new Map<string, number>();
  for (const e of sink.envelopes) byKey.set(e.natural_key, (byKey.get(e.natural_key) ?? 0) + 1);
  for (const [k, count] of byKey) if (count > 1) violate('P8', what, `key ${JSON.stringify(k.slice(0, 60))} published ${count} times`);

  // Account for every record of every page served valid: published xor dead-lettered, exactly once.
  const served = w.pages.filter((p) => p.validServed > 0).flatMap((p) => p.records);
  const usedEnvelopes = new Set<number>();
  const usedLetters = new Set<number>();
  const normalized = (r: Rec) => {
    try {
      return JSON.stringify(JSON.parse(r.text.toString('utf8')));
    } catch {
      return undefined;
    }
  };
  const pending: Rec[] = [];
  const counted = new Map<Rec, { pub: number; dead: number; reasons: string[] }>();
  for (const r of served) {
    const pubs = sink.envelopes.flatMap((e, i) => (r.key !== undefined && e.natural_key === r.key && !usedEnvelopes.has(i) ? [i] : []));
    pubs.forEach((i) => usedEnvelopes.add(i));
    const text = r.marker ? undefined : normalized(r);
    const letters = sink.deadLetters.flatMap((d, i) => {
      if (usedLetters.has(i) || d.original_value === null) return [];
      const v = d.original_value;
      const hit = r.marker ? v.subarray(0, 4096).includes(`"${r.marker}"`) : text !== undefined && v.toString('utf8') === text;
      return hit ? [i] : [];
    });
    // Markerless records with the same text (two nulls) are one record to the reader, as it counts a window's keyless
    // records by content (a copy served again at a shifted page boundary is the same record): one letter between them.
    const mine = r.marker ? letters : letters.slice(0, 1);
    if (!r.marker && mine.length === 0) {
      const shared = sink.deadLetters.findIndex((d) => d.original_value !== null && text !== undefined && d.original_value.toString('utf8') === text);
      if (shared >= 0) {
        counted.set(r, { pub: pubs.length, dead: 1, reasons: [`${sink.deadLetters[shared]!.error_kind}: ${sink.deadLetters[shared]!.error_message}`] });
        continue;
      }
    }
    mine.forEach((i) => usedLetters.add(i));
    counted.set(r, { pub: pubs.length, dead: mine.length, reasons: mine.map((i) => `${sink.deadLetters[i]!.error_kind}: ${sink.deadLetters[i]!.error_message}`) });
    if (pubs.length + mine.length === 0) pending.push(r);
  }
  // Dead letters without the record's text (too deep to write out): matched by reason.
  for (const r of pending) {
    const i = sink.deadLetters.findIndex((d, j) => !usedLetters.has(j) && d.original_value === null && (r.why ?? /./).test(d.error_message));
    if (i < 0) continue;
    usedLetters.add(i);
    counted.set(r, { pub: 0, dead: 1, reasons: [`${sink.deadLetters[i]!.error_kind}: ${sink.deadLetters[i]!.error_message}`] });
  }
  if (outcome.state === 'resolved') {
    for (const r of served) {
      const { pub, dead, reasons } = counted.get(r)!;
      const rec = `record ${r.kind}${r.key ? ` key ${JSON.stringify(r.key.slice(0, 40))}${r.key.length > 40 ? '…' : ''}` : ''} (${r.text.length} bytes)`;
      bump(`reader record ${r.kind}`, pub === 1 && dead === 0 ? 'published' : dead === 1 && pub === 0 ? 'dead-lettered' : `pub=${pub} dead=${dead}`);
      if (r.expect === 'publish' && !(pub === 1 && dead === 0)) violate('P7', what, `${rec} must be published once: published ${pub}, dead-lettered ${dead} ${JSON.stringify(reasons).slice(0, 200)}`);
      if (r.expect === 'dead' && !(dead === 1 && pub === 0)) violate('P7', what, `${rec} must be dead-lettered once: published ${pub}, dead-lettered ${dead}`);
      if (r.expect === 'either' && pub + dead !== 1) violate('P7', what, `${rec} must end up once: published ${pub}, dead-lettered ${dead}`);
      if (dead === 1) {
        const reason = reasons[0]!;
        if (!reason.startsWith('bad_record: ')) violate('P7', what, `${rec} dead-lettered as ${reason.slice(0, 120)} (kind must be bad_record)`);
        if (r.why && !r.why.test(reason.slice('bad_record: '.length))) violate('P7', what, `${rec}: the dead letter's reason does not name the problem (${r.why}): ${JSON.stringify(reason.slice(0, 200))}`);
      }
      if (pub === 1 && r.expect === 'publish' && !['invalid-utf8'].includes(r.kind)) {
        const e = sink.envelopes.find((x) => x.natural_key === r.key)!;
        const want = normalized(r);
        if (want !== undefined && e.payload !== want) violate('P7', what, `${rec}: published payload differs from the record (${e.payload.length} vs ${want.length} chars)`);
      }
    }
  }
  // Nothing in the sink that was not served (another host's records, a record twice).
  sink.envelopes.forEach((e, i) => {
    if (!usedEnvelopes.has(i)) violate('P7', what, `published a record that was not on any page served valid (or twice): key ${JSON.stringify(e.natural_key.slice(0, 60))}`);
  });
  sink.deadLetters.forEach((d, i) => {
    if (!usedLetters.has(i)) violate('P7', what, `a dead letter for nothing served (or twice): ${d.error_kind} ${JSON.stringify(d.error_message.slice(0, 160))} value ${d.original_value?.subarray(0, 80).toString('utf8')}`);
  });
}

/** TRTC's windows only (Tencent's CCC SDK hands no headers on): a page always answered 429 asking for more rest than the window's bound. */
function asksRestPastBound(w: WindowPlan): boolean {
  const restSec = (a: Answer) => Number(a.headers.find(([name]) => name.toLowerCase() === 'retry-after')?.[1]);
  return w.vendor === 'v4' && w.pages.some((p) => p.persistent?.answer.status === 429 && restSec(p.persistent.answer) * 1000 > WINDOW_BOUND_MS);
}

async function runWindow(w: WindowPlan): Promise<void> {
  current = windowLabel(w);
  const source = w.vendor === 'ccc' ? readerCcc : readerV4;
  const client = w.vendor === 'ccc' ? `ccc:${APP.readerCcc}` : `trtc:${APP.readerV4}`;
  const firstPage = source.firstPage;
  routes.set(client, (req) => {
    const index = Number(req.slot) - firstPage;
    const p = w.pages[index];
    if (!p) return jsonAnswer(200, windowPage(w.vendor, [], w.total, `w${w.n}-beyond`));
    p.attempts++;
    if (p.persistent) return p.persistent.answer;
    if (p.attempts <= p.before.length) return p.before[p.attempts - 1]!.answer;
    p.validServed++;
    return jsonAnswer(200, windowPage(w.vendor, p.records, w.total, `w${w.n}-p${index}`));
  });
  const sink = new MemorySink();
  const abort = new AbortController();
  const ctx = memoryPollContext(source, sink, { retry: RETRY, signal: abort.signal, mode: 'backfill' });
  const tenant = source.tenants[0]!;
  const trapBefore = trap.connections;
  const t0 = performance.now();
  const reading = readWindow(ctx, tenant, { start: 1_780_000_000, end: 1_780_003_600 });
  const outcome = await settle(reading, WINDOW_CAP_MS);
  const elapsed = performance.now() - t0;
  slowest.push([elapsed, current]);
  if (outcome.state === 'pending' && asksRestPastBound(w)) {
    // A page always answered 429 with a Retry-After past the window's bound (3600 s): TRTC's reader honours it, up to
    // RETRY_AFTER_CAP_MS a retry (README), so the read still waits, as it should. What must hold: a stop ends the wait.
    abort.abort();
    const stopped = await settle(reading, 1_000);
    bump(`reader ${w.vendor}`, 'resting (Retry-After), stopped');
    if (stopped.state !== 'rejected') violate('P8', current, `a stop request did not end a read resting on a Retry-After within 1 s (${stopped.state})`);
    await checkSockets(current);
    return;
  }
  if (outcome.state === 'pending') {
    abort.abort();
    // Which failure hung it is not known: none of this window's kinds is served to this family again.
    for (const p of w.pages) for (const f of [...p.before, ...(p.persistent ? [p.persistent] : [])]) hungSigs.add(f.sig);
  }
  judgeWindow(w, sink, outcome, elapsed);
  if (trap.connections > trapBefore) violate('P5', current, `readWindow followed a redirect to the trap (${trap.connections - trapBefore} connection(s))`);
  await checkSockets(current);
}

// ---------------------------------------------------------------------------------------------------------------

describe('fuzz: the polled vendor APIs answers', () => {
  it(`every status, framing and raw answer once per client, then ${COUNT} seeded answers: a page or a CdrflowError each, in time, with a clean message, no redirect followed, no socket left behind`, async () => {
    violations.clear();
    const rng = new Rng(seededRandom(SEED));
    let n = 1;
    // First a sweep: every status class, framing and raw answer once per client.
    const sweep = [200, 204, 301, 302, 303, 307, 308, 400, 401, 404, 429, 500, 502, 503];
    for (const api of APIS) {
      for (const status of sweep) await runClientCase(makeClientCase(rng, n++, api, status === 200 ? { category: 'valid' } : { category: 'status', status }));
      for (const kind of FRAMINGS) await runClientCase(makeClientCase(rng, n++, api, { category: 'framing', kind }));
      for (const kind of RAWS) await runClientCase(makeClientCase(rng, n++, api, { category: 'raw', kind }));
      for (const kind of CHARSETS) await runClientCase(makeClientCase(rng, n++, api, { category: 'charset', kind }));
      // One more error answer with a large body than the client may keep connections: one left unread each would pile up.
      for (let i = 0; i <= MAX_OPEN_PER_CLIENT; i++) {
        const status = rng.pick([500, 502, 503, 404]);
        await runClientCase({ n: n++, api, category: 'status', note: `${status} big-html (${BIG_HTML.length} bytes)`, sig: `status:${status}:big-html`, answer: { status, headers: [['Content-Type', 'text/html']], body: BIG_HTML, framing: 'length' } });
      }
      // The SDK's own branch for event streams, with a body that breaks off.
      const p = validPage(api, rng, n);
      await runClientCase({ n: n++, api, category: 'content-type', note: '"text/event-stream" cut', answer: { status: 200, headers: [['Content-Type', 'text/event-stream']], body: p.body, framing: 'cut', cutAt: 20 } });
    }
    for (let i = 0; i < COUNT; i++) await runClientCase(makeClientCase(rng, n++, rng.pick(APIS)));
    expect.soft(harnessErrors, 'the scripted server itself').toEqual([]);
    // Not vacuous: each client read pages and refused answers.
    for (const api of APIS) {
      const m = [...tally].filter(([k]) => k.startsWith(`${api} `)).flatMap(([, v]) => [...v]);
      expect(m.filter(([o]) => o === 'resolved').reduce((s, [, c]) => s + c, 0), `${api} resolved`).toBeGreaterThan(0);
      expect(m.filter(([o]) => o !== 'resolved').reduce((s, [, c]) => s + c, 0), `${api} refused`).toBeGreaterThan(0);
    }
    assertNoViolations(['P0', 'P1', 'P2', 'P3', 'P5', 'P6']);
  }, 120_000);

  it('answers dripped or withheld past the timeout settle in time and leave no connection behind', async () => {
    violations.clear();
    const rng = new Rng(seededRandom(SEED + 1));
    const drip = { everyMs: 100, forMs: TIMEOUT_MS + 3000 };
    const batch: ClientCase[] = [
      { n: 9001, api: 'ccc', category: 'slow', note: 'json body dripped 1 byte/100 ms', answer: { ...jsonAnswer(200, validPage('ccc', rng, 9001, 3).body), drip } },
      { n: 9002, api: 'ccc', category: 'slow', note: 'event-stream body dripped 1 byte/100 ms', answer: { status: 200, headers: [['Content-Type', 'text/event-stream']], body: validPage('ccc', rng, 9002, 3).body, framing: 'length', drip } },
      { n: 9003, api: 'ccc', category: 'slow', note: 'no answer at all', answer: { status: 0, headers: [], body: Buffer.alloc(0), framing: 'length', hang: true } },
      { n: 9004, api: 'v4', category: 'slow', note: 'json body dripped 1 byte/100 ms', answer: { ...jsonAnswer(200, validPage('v4', rng, 9004, 3).body), drip } },
      { n: 9005, api: 'v1', category: 'slow', note: 'no answer at all', answer: { status: 0, headers: [], body: Buffer.alloc(0), framing: 'length', hang: true } },
      { n: 9006, api: 'v4id', category: 'slow', note: '503 body dripped 1 byte/100 ms', answer: { status: 503, headers: [['Content-Type', 'text/html']], body: HTML_PAGE, framing: 'length', drip } },
    ];
    current = 'slow batch';
    // One script per client, by slot: the batch runs at once (the clients are independent; three use the SDK's agent).
    for (const api of new Set(batch.map((c) => c.api))) {
      const mine = batch.filter((c) => CLIENT_ID[c.api] === CLIENT_ID[api]);
      routes.set(CLIENT_ID[api], (req) => mine.find((c) => slotOf(c.api, c.n) === req.slot)?.answer ?? jsonAnswer(404, Buffer.from('{}')));
    }
    for (const c of batch) requestLabels.set(`${CLIENT_ID[c.api]}/${slotOf(c.api, c.n)}`, label(c));
    const trapBefore = trap.connections;
    await Promise.all(
      batch.map(async (c) => {
        const t0 = performance.now();
        const outcome = await settle(call(c.api, c.n), HARD_CAP_MS);
        const elapsed = performance.now() - t0;
        judgeCall(c, outcome, elapsed);
        bump(`${c.api} slow timing`, `${c.note}: ${Math.round(elapsed / 100) / 10}s`);
      }),
    );
    expect(trap.connections).toBe(trapBefore);
    // Each connection whose answer a client gave up on must be closed by it (checkSockets: within 1 s).
    await checkSockets('slow batch');
    expect.soft(harnessErrors, 'the scripted server itself').toEqual([]);
    assertNoViolations(['P1', 'P2', 'P3', 'P6']);
  }, 60_000);

  it(`answers of ${BIG_BODY / MiB} MiB are refused (answer-too-large) without being buffered whole`, async () => {
    violations.clear();
    const big: { api: Api; note: string; answer: Answer }[] = [
      { api: 'ccc', note: 'page, Content-Length', answer: jsonAnswer(200, Buffer.alloc(0), { body: bigPageCcc }) },
      { api: 'v1', note: 'page, chunked', answer: jsonAnswer(200, Buffer.alloc(0), { body: bigPageV1, framing: 'chunked' }) },
      { api: 'v4', note: 'page, Content-Length', answer: jsonAnswer(200, Buffer.alloc(0), { body: bigPageV4 }) },
      { api: 'v4id', note: 'one record with a 40 MiB field, chunked', answer: jsonAnswer(200, Buffer.alloc(0), { body: bigRecordV4id, framing: 'chunked' }) },
      { api: 'ccc', note: `gzip bomb (${Math.round(bombCcc.length / 1024)} KiB -> 40 MiB)`, answer: jsonAnswer(200, bombCcc, { headers: [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip']] }) },
      { api: 'v4', note: `gzip bomb (${Math.round(bombV4.length / 1024)} KiB -> 40 MiB)`, answer: jsonAnswer(200, bombV4, { headers: [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip']] }) },
    ];
    let n = 9100;
    for (const b of big) {
      const c: ClientCase = { n: n++, api: b.api, category: 'too-large', note: b.note, answer: b.answer, tooLarge: true };
      bigBodySent = 0;
      const t0 = performance.now();
      await runClientCase(c);
      // runClientCase waits (checkSockets) until the server is no longer mid-answer, so the count is final.
      if (Buffer.isBuffer(b.answer.body)) continue;
      const fig = `${(bigBodySent / MiB).toFixed(1)} MiB of ${(bodySize(b.answer.body) / MiB).toFixed(1)} sent, ${Math.round(performance.now() - t0)} ms`;
      bump(`${c.api} too-large sent`, fig);
      if (bigBodySent >= SENT_BOUND) violate('P4', label(c), `read on past the limit: ${fig} (bound ${SENT_BOUND / MiB} MiB)`);
    }
    expect.soft(harnessErrors, 'the scripted server itself').toEqual([]);
    assertNoViolations(['P1', 'P2', 'P3', 'P4', 'P6']);
  }, 120_000);

  it(`${WINDOWS} windows through readWindow (CCC and TRTC v4): each served record once in the sink, strange ones dead-lettered, never a key twice`, async () => {
    violations.clear();
    const rng = new Rng(seededRandom(SEED + 2));
    for (let i = 0; i < WINDOWS; i++) {
      const vendor = i % 2 === 0 ? 'ccc' : 'v4';
      // The first windows each carry one strange kind for sure, so a run covers them all.
      const forced = i < STRANGE.length ? STRANGE[i] : undefined;
      await runWindow(planWindow(rng, i + 1, vendor, forced));
    }
    expect.soft(harnessErrors, 'the scripted server itself').toEqual([]);
    const resolved = [...(tally.get('reader ccc') ?? new Map<string, number>()), ...(tally.get('reader v4') ?? new Map<string, number>())].filter(([o]) => o.startsWith('resolved')).reduce((s, [, c]) => s + c, 0);
    expect(resolved, 'windows read to the end').toBeGreaterThan(0);
    assertNoViolations(['P1', 'P5', 'P6', 'P7', 'P8']);
  }, 120_000);

  it('ends with no connection once the clients are destroyed and the server closes its idle ones', async () => {
    violations.clear();
    current = 'teardown';
    destroyCccAgent(clients.ccc);
    destroyCccAgent(tooLargeClients.ccc);
    destroyCccAgent(readerCccClient);
    server.close();
    // The server ends what is idle (as any server may); what is still mid-answer must have been closed by its client.
    for (const c of conns) if (!c.answering) c.socket.end();
    const closed = await until(() => conns.size === 0, 3000);
    if (!closed) for (const c of conns) violate('P6', 'teardown', `a connection of client ${c.client} (opened in ${c.openedIn.slice(0, 80)}, answering: ${c.answering}) is still open 3 s after clients and server closed`);
    printSummary('final');
    assertNoViolations(['P1', 'P6']);
  });
});
