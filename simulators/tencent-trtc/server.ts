// The TRTC simulator: POST /v1/records/get_records_by_filter with UserSig verification, the 7-day retention
// window, paging and the documented errorCode answers (always HTTP 200 except gateway faults), plus faults on demand.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { TrtcDataset } from './dataset.ts';
import { verifyUserSig } from './usersig.ts';
import { FaultSwitchboard, SimulatorStats, ServerRateLimiter, readBody, sendJson, startSimulatorServer, type SimulatorServerOptions } from '../kit.ts';

export const TRTC_PATH = '/v1/records/get_records_by_filter';
export const RETENTION_SEC = 7 * 86_400;
/** errorCode for bad request parameters (IM REST common table; docs/vendors.md only says 70000-79999 are common). */
export const INVALID_PARAMETER = 70402;
export const NOT_ADMIN = 70403;

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

  const reply = (res: ServerResponse, errorCode: number, errorMessage: string, data?: unknown) => {
    if (errorCode !== 0) stats.noteError(errorCode);
    sendJson(res, 200, { errorCode, errorMessage, requestId: randomBytes(16).toString('hex'), ...(data === undefined ? {} : { data }) });
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
    if (req.method !== 'POST' || url.pathname !== TRTC_PATH) {
      stats.noteError('http-404');
      res.writeHead(404).end();
      return;
    }
    if (!limiter.admit()) {
      // The vendor documents 200 queries/s but not how it refuses more; a gateway 429 is the simulator's choice.
      stats.noteError('http-429');
      res.writeHead(429, { 'content-type': 'text/plain' }).end('Too Many Requests');
      return;
    }
    const q = url.searchParams;
    const sdkAppId = Number(q.get('sdkappid'));
    const identifier = q.get('identifier') ?? '';
    const random = Number(q.get('random'));
    if (q.get('contenttype') !== 'json') return reply(res, INVALID_PARAMETER, 'contenttype must be json.');
    if (!Number.isInteger(random) || random < 0 || random > 4294967295) return reply(res, INVALID_PARAMETER, 'random must be a 32-bit unsigned integer.');
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
    if ((start as number) < horizon) return reply(res, INVALID_PARAMETER, `Only calls created in the last 7 days can be queried (startTimestamp ${start} < ${horizon}).`);
    for (const [name, want] of [['callResult', 'string'], ['callType', 'string']] as const) {
      if (params[name] !== undefined && typeof params[name] !== want) return reply(res, INVALID_PARAMETER, `${name} must be a string.`);
    }
    let matching = dataset.query(sdkAppId, start as number, end as number, nowSec, horizon);
    if (typeof params['callResult'] === 'string') matching = matching.filter((c) => c.record['callResult'] === params['callResult']);
    if (typeof params['callType'] === 'string') matching = matching.filter((c) => c.record['callType'] === params['callType']);
    const slice = matching.slice(((page as number) - 1) * (perPage as number), (page as number) * (perPage as number));
    if (slice.length === 0) {
      // Documented: 70011 = no records found (also past the last page).
      stats.notePage([]);
      return reply(res, 70011, 'No records found.');
    }
    stats.notePage(slice.map((c) => c.callId));
    return reply(res, 0, 'Success', { totalNum: matching.length, page, callRecordList: slice.map((c) => c.record) });
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
