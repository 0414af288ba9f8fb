// The TRTC simulator: both call-record APIs over one dataset — v1 POST /v1/records/get_records_by_filter and v4
// POST /v4/call_record_http_srv/get_record_by_filter | get_record_by_callid — with UserSig verification, the 7-day
// retention window, paging and the documented error answers (always HTTP 200 except gateway faults), plus faults on
// demand. Faults, stats and the 200 requests/s limit are shared by both APIs.
// Where the API page (docs/vendors.md §2) is silent, the simulator chooses, and says so here:
// - numberPerPage / NumberPerPage above 100 is refused (70402): the pages give a default (v1 100, v4 10), no maximum.
// - A request over the 200 queries/s is answered like any other error: HTTP 200 with an error code, as the page says
//   of every error but network ones. It names no code for this; the simulator answers RATE_LIMITED.
// - v1 data.page: the page says "when page > 0 it indicates that there is more data, incrementing page by 1 will
//   request subsequent data", and its sample echoes the page asked for. The simulator echoes it while more pages
//   follow and answers 0 on the last one. Pages are numbered from 1 (both pages say only "defaults to the first page").
// - The time window: both v1 bounds (startTimestamp, endTimestamp; v4 StartTime, EndTime) are taken on the call's
//   start, inclusive at both ends; the v1 table calls them "call start" and "call end" timestamp, which could also be
//   read as bounding endTs. A missing v1 endTimestamp ("defaults to 7 days") is startTimestamp + 7 days.
// - A v1 startTimestamp older than 7 days is not refused: only the last 7 days are served, as the page says, and a
//   window with nothing left in them answers 70011 like any empty one.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { TrtcDataset } from './dataset.ts';
import { verifyUserSig } from './usersig.ts';
import { toV4Record } from './v4.ts';
import { FaultSwitchboard, SimulatorStats, ServerRateLimiter, readBody, sendJson, startSimulatorServer, type SimulatorServerOptions } from '../kit.ts';

export const TRTC_PATH = '/v1/records/get_records_by_filter';
export const TRTC_V4_FILTER_PATH = '/v4/call_record_http_srv/get_record_by_filter';
export const TRTC_V4_CALLID_PATH = '/v4/call_record_http_srv/get_record_by_callid';
export const RETENTION_SEC = 7 * 86_400;
/** errorCode for bad request parameters (IM REST common table; docs/vendors.md only says 70000-79999 are common). */
export const INVALID_PARAMETER = 70402;
export const NOT_ADMIN = 70403;
/** errorCode past the 200 queries/s: the Chat REST API's code for "call frequency over the limit" (not on the TRTC page). */
export const RATE_LIMITED = 60007;

export interface TrtcSimulatorOptions extends SimulatorServerOptions {
  /** SDKAppID → SDKSecretKey. */
  apps: Record<number, string>;
  /** The Chat administrator account (`identifier`). */
  adminIdentifier?: string;
  /** Apps without the group-call package answer errorCode 50001. */
  unlicensedSdkAppIds?: number[];
  seed?: number;
  lateFraction?: number;
  /** Documented 200 queries/s. */
  rateLimitPerSecond?: number;
  /**
   * Serve at most this many records a page, whatever NumberPerPage / numberPerPage asks (1–100 are still accepted),
   * paging in steps of this size: a vendor whose real maximum is below what the docs let a client ask for (v4's
   * NumberPerPage maximum is undocumented). Default: serve what is asked.
   */
  maxServedPageSize?: number;
}

export interface TrtcSimulator {
  url: string;
  port: number;
  dataset: TrtcDataset;
  faults: FaultSwitchboard;
  stats: SimulatorStats;
  stop(): Promise<void>;
}

export async function startTrtcSimulator(options: TrtcSimulatorOptions): Promise<TrtcSimulator> {
  const now = options.now ?? Date.now;
  const apps = new Map(Object.entries(options.apps).map(([k, v]) => [Number(k), v] as const));
  const admin = options.adminIdentifier ?? 'administrator';
  const unlicensed = new Set(options.unlicensedSdkAppIds ?? []);
  const dataset = new TrtcDataset({ seed: options.seed ?? 1, sdkAppIds: [...apps.keys()], ...(options.lateFraction === undefined ? {} : { lateFraction: options.lateFraction }) });
  const faults = new FaultSwitchboard();
  const stats = new SimulatorStats();
  const limiter = new ServerRateLimiter(options.rateLimitPerSecond ?? 200, now);
  /** The page size really served for a request that asked for `asked`. */
  const served = (asked: number) => Math.min(asked, options.maxServedPageSize ?? asked);

  /** Answers in the envelope of the API that was called: v1 {errorCode, errorMessage, requestId, data}, v4 {ErrorCode, ErrorInfo, ActionStatus, RequestId, Response}. */
  const replyAs = (v4: boolean) => (res: ServerResponse, errorCode: number, errorMessage: string, data?: unknown) => {
    if (errorCode !== 0) stats.noteError(errorCode);
    const requestId = randomBytes(16).toString('hex');
    if (v4) {
      const ActionStatus = errorCode === 0 ? 'OK' : 'FAIL';
      sendJson(res, 200, { ErrorCode: errorCode, ErrorInfo: errorCode === 0 ? '' : errorMessage, ActionStatus, RequestId: `Id-${requestId}`, ...(data === undefined ? {} : { Response: data }) });
    } else {
      sendJson(res, 200, { errorCode, errorMessage, requestId, ...(data === undefined ? {} : { data }) });
    }
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.noteRequest(now());
    const body = await readBody(req);
    const fault = faults.take();
    if (fault?.type === 'hang') return;
    if (faults.delayMs > 0) await delay(faults.delayMs);
    if (fault?.type === 'http') {
      stats.noteError(`http-${fault.status}`);
      res.writeHead(fault.status, { 'content-type': 'text/plain' });
      res.end(`${fault.status} Bad Gateway`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'POST' || ![TRTC_PATH, TRTC_V4_FILTER_PATH, TRTC_V4_CALLID_PATH].includes(url.pathname)) {
      stats.noteError('http-404');
      res.writeHead(404).end();
      return;
    }
    const v4 = url.pathname !== TRTC_PATH;
    const reply = replyAs(v4);
    if (!limiter.admit()) return reply(res, RATE_LIMITED, 'REST API call frequency exceeds the limit (200 queries/s).');
    const q = url.searchParams;
    const sdkAppId = Number(q.get('sdkappid'));
    const identifier = q.get('identifier') ?? '';
    // Required: Number() would read a missing or empty random as 0 and let a client that forgot it through.
    const randomText = q.get('random') ?? '';
    const random = /^\d{1,10}$/.test(randomText) ? Number(randomText) : NaN;
    if (q.get('contenttype') !== 'json') return reply(res, INVALID_PARAMETER, 'contenttype must be json.');
    if (!Number.isInteger(random) || random < 0 || random > 4294967295) return reply(res, INVALID_PARAMETER, 'random is required and must be a 32-bit unsigned integer.');
    const key = apps.get(sdkAppId);
    if (key === undefined) return reply(res, 70020, `SDKAppID ${q.get('sdkappid')} not found.`);
    const nowSec = Math.floor(now() / 1000);
    const sig = verifyUserSig(q.get('usersig') ?? '', { sdkAppId, identifier, key, nowSec });
    if (!sig.ok) return reply(res, sig.code, sig.message);
    if (identifier !== admin) return reply(res, NOT_ADMIN, 'This request requires the App administrator account.');
    if (fault?.type === 'vendor-error') return reply(res, Number(fault.code), fault.message);
    if (unlicensed.has(sdkAppId)) return reply(res, 50001, 'The current application needs to purchase the TUICallKit Group Call Version Package to use.');
    let params: Record<string, unknown>;
    try {
      params = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new Error('not an object');
    } catch {
      return reply(res, INVALID_PARAMETER, 'The request body is not a JSON object.');
    }
    if (url.pathname === TRTC_V4_FILTER_PATH) return byFilterV4(res, reply, sdkAppId, params, nowSec);
    if (url.pathname === TRTC_V4_CALLID_PATH) return byCallIdV4(res, reply, sdkAppId, params, nowSec);
    const start = params['startTimestamp'];
    if (!Number.isInteger(start)) return reply(res, INVALID_PARAMETER, 'startTimestamp is required and must be an integer (seconds).');
    const end = params['endTimestamp'] ?? (start as number) + RETENTION_SEC;
    const perPage = params['numberPerPage'] ?? 100;
    const page = params['page'] ?? 1;
    if (!Number.isInteger(end) || !Number.isInteger(perPage) || !Number.isInteger(page)) return reply(res, INVALID_PARAMETER, 'endTimestamp, numberPerPage and page must be integers.');
    if ((perPage as number) < 1 || (perPage as number) > 100) return reply(res, INVALID_PARAMETER, 'numberPerPage must be between 1 and 100.');
    if ((page as number) < 1) return reply(res, INVALID_PARAMETER, 'page starts at 1.');
    if ((end as number) < (start as number)) return reply(res, INVALID_PARAMETER, 'endTimestamp is earlier than startTimestamp.');
    const horizon = nowSec - RETENTION_SEC;
    for (const [name, want] of [['callResult', 'string'], ['callType', 'string']] as const) {
      if (params[name] !== undefined && typeof params[name] !== want) return reply(res, INVALID_PARAMETER, `${name} must be a string.`);
    }
    let matching = dataset.query(sdkAppId, start as number, end as number, nowSec, horizon);
    if (typeof params['callResult'] === 'string') matching = matching.filter((c) => c.record['callResult'] === params['callResult']);
    if (typeof params['callType'] === 'string') matching = matching.filter((c) => c.record['callType'] === params['callType']);
    const size = served(perPage as number);
    const slice = matching.slice(((page as number) - 1) * size, (page as number) * size);
    if (slice.length === 0) {
      // Documented: 70011 = no records found (also past the last page).
      stats.notePage([]);
      return reply(res, 70011, 'No records found.');
    }
    stats.notePage(slice.map((c) => c.callId));
    // Documented: "when page > 0 it indicates that there is more data"; the last page answers 0.
    const more = (page as number) * size < matching.length;
    return reply(res, 0, 'Success', { totalNum: matching.length, page: more ? page : 0, callRecordList: slice.map((c) => c.record) });
  }

  type Reply = ReturnType<typeof replyAs>;

  /**
   * v4 by filter. Per the v4 doc: StartTime defaults to 7 days ago and an earlier one is moved up to it (no error, as for
   * v1); EndTime defaults to now; NumberPerPage defaults to 10; Page to 1. No records is a success with an empty list
   * (the v4 doc has no "no records" code). The doc gives no NumberPerPage maximum; the simulator allows 1–100.
   */
  function byFilterV4(res: ServerResponse, reply: Reply, sdkAppId: number, params: Record<string, unknown>, nowSec: number): void {
    const horizon = nowSec - RETENTION_SEC;
    const start = params['StartTime'] ?? horizon;
    const end = params['EndTime'] ?? nowSec;
    const perPage = params['NumberPerPage'] ?? 10;
    const page = params['Page'] ?? 1;
    if (![start, end, perPage, page].every(Number.isInteger)) return reply(res, INVALID_PARAMETER, 'StartTime, EndTime, NumberPerPage and Page must be integers.');
    if ((perPage as number) < 1 || (perPage as number) > 100) return reply(res, INVALID_PARAMETER, 'NumberPerPage must be between 1 and 100.');
    if ((page as number) < 1) return reply(res, INVALID_PARAMETER, 'Page starts at 1.');
    for (const name of ['CallResult', 'CallType']) {
      if (params[name] !== undefined && typeof params[name] !== 'string') return reply(res, INVALID_PARAMETER, `${name} must be a string.`);
    }
    const from = Math.max(start as number, horizon);
    let matching = (end as number) < from ? [] : dataset.query(sdkAppId, from, end as number, nowSec, horizon).map(toV4Record);
    if (typeof params['CallResult'] === 'string') matching = matching.filter((r) => r['CallResult'] === params['CallResult']);
    if (typeof params['CallType'] === 'string') matching = matching.filter((r) => r['CallType'] === params['CallType']);
    const size = served(perPage as number);
    const slice = matching.slice(((page as number) - 1) * size, (page as number) * size);
    stats.notePage(slice.map((r) => String(r['CallId'])));
    return reply(res, 0, 'OK', { TotalNum: matching.length, Page: page, CallRecordList: slice });
  }

  /** v4 by CallId: `Response.CallRecord`; an unknown (or older than 7 days, or not yet visible) call answers an empty Response. */
  function byCallIdV4(res: ServerResponse, reply: Reply, sdkAppId: number, params: Record<string, unknown>, nowSec: number): void {
    const callId = params['CallId'];
    if (typeof callId !== 'string' || callId === '') return reply(res, INVALID_PARAMETER, 'CallId is required and must be a string.');
    const call = dataset.all().find((c) => c.sdkAppId === sdkAppId && c.callId === callId && c.visibleAt <= nowSec && c.startCallTs >= nowSec - RETENTION_SEC);
    stats.notePage(call ? [callId] : []);
    return reply(res, 0, 'OK', call ? { CallRecord: toV4Record(call) } : {});
  }

  const server = await startSimulatorServer(handle, options, dataset);
  return {
    url: server.url,
    port: server.port,
    dataset,
    faults,
    stats,
    stop: () => server.stop(),
  };
}
