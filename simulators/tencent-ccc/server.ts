// The CCC simulator: an HTTP server speaking DescribeProtectedTelCdr (API 3.0, TC3-signed POST JSON or GET) over a
// generated dataset, enforcing the documented contract (signature, 5-min skew, 20 req/s, PageSize <= 100, window
// limits) and injecting faults on demand.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { CccDataset, type CccDatasetOptions } from './dataset.ts';
import { verifyTc3 } from './tc3.ts';
import { FaultSwitchboard, SimulatorStats, ServerRateLimiter, readBody, sendJson, startSimulatorServer, type SimulatorServerOptions } from '../kit.ts';

export const CCC_HOST = 'ccc.tencentcloudapi.com';
export const CCC_ACTION = 'DescribeProtectedTelCdr';
export const CCC_VERSION = '2020-02-10';

export interface CccSimulatorOptions extends SimulatorServerOptions {
  /** SecretId → SecretKey pairs the simulator accepts. */
  credentials: Record<string, string>;
  /** Tenants (SdkAppIds) that exist; any other SdkAppId answers InvalidParameterValue.InstanceNotExist. */
  sdkAppIds: number[];
  seed?: number;
  lateFraction?: number;
  /** Documented default 20 requests/s. */
  rateLimitPerSecond?: number;
  /** Simulator clock in ms (tests move it to check skew and windows). */
  now?: () => number;
  /** Above this many records in one page the simulator answers ResponseSizeLimitExceeded (off by default). */
  responseSizeLimitRecords?: number;
}

export interface CccSimulator {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** What a connector puts in its config: the real host name (signed, as Tencent does) plus where to connect. */
  connection: { endpoint: string; protocol: 'http'; connectAddress: string };
  dataset: CccDataset;
  faults: FaultSwitchboard & { responseSizeLimitRecords: number | undefined };
  stats: SimulatorStats;
  stop(): Promise<void>;
}

type CccFaults = FaultSwitchboard & { responseSizeLimitRecords: number | undefined };

function apiError(res: ServerResponse, code: string, message: string, stats: SimulatorStats): void {
  stats.noteError(code);
  // API 3.0 answers business and auth errors with HTTP 200 and Response.Error.
  sendJson(res, 200, { Response: { Error: { Code: code, Message: message }, RequestId: randomUUID() } });
}

const REQUIRED_INTS = ['StartTimeStamp', 'EndTimeStamp', 'SdkAppId', 'PageSize', 'PageNumber'] as const;
const DAY = 86_400;
/** Common parameters a GET query may repeat, and the X-TC-* header each stands for. */
const COMMON_IN_QUERY: ReadonlyMap<string, string> = new Map([['Action', 'x-tc-action'], ['Version', 'x-tc-version'], ['Region', 'x-tc-region']]);

export async function startCccSimulator(options: CccSimulatorOptions): Promise<CccSimulator> {
  const now = options.now ?? Date.now;
  const dataset = new CccDataset({
    seed: options.seed ?? 1,
    sdkAppIds: options.sdkAppIds,
    ...(options.lateFraction === undefined ? {} : { lateFraction: options.lateFraction }),
  } satisfies CccDatasetOptions);
  const faults = new FaultSwitchboard() as CccFaults;
  faults.responseSizeLimitRecords = options.responseSizeLimitRecords;
  const stats = new SimulatorStats();
  const limiter = new ServerRateLimiter(options.rateLimitPerSecond ?? 20, now);
  const secrets = new Map(Object.entries(options.credentials));
  const tenants = new Set(options.sdkAppIds);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.noteRequest(now());
    const body = await readBody(req);
    const fault = faults.take();
    if (fault?.type === 'hang') return; // never answered; closed when the simulator stops
    if (faults.delayMs > 0) await delay(faults.delayMs);
    if (fault?.type === 'http') {
      stats.noteError(`http-${fault.status}`);
      res.writeHead(fault.status, { 'content-type': 'text/html' });
      res.end(`<html><body>${fault.status} upstream error</body></html>`);
      return;
    }
    // API 3.0 takes POST with a JSON body, or GET with the parameters in the query string (signed as the canonical
    // query string over an empty payload); the API page's example request is such a query string.
    if (req.method !== 'POST' && req.method !== 'GET') {
      return apiError(res, 'UnsupportedOperation', 'Only POST with application/json and GET with application/x-www-form-urlencoded are simulated.', stats);
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/') return apiError(res, 'InvalidAction', `Unknown path ${url.pathname}.`, stats);
    const auth = verifyTc3(
      { method: req.method, headers: req.headers, query: url.search.slice(1), body },
      { secrets, service: 'ccc', nowSec: Math.floor(now() / 1000) },
    );
    if (!auth.ok) return apiError(res, auth.code, auth.message, stats);
    if (fault?.type === 'vendor-error') return apiError(res, String(fault.code), fault.message, stats);
    if (!limiter.admit()) {
      return apiError(res, 'RequestLimitExceeded', 'Your current request times exceeds the limit (20 requests per second), please try again later.', stats);
    }
    const action = req.headers['x-tc-action'];
    if (action !== CCC_ACTION) return apiError(res, 'InvalidAction', `The action ${String(action)} is not supported.`, stats);
    if (req.headers['x-tc-version'] !== CCC_VERSION) return apiError(res, 'NoSuchVersion', `Version ${String(req.headers['x-tc-version'])} does not exist.`, stats);
    let params: Record<string, unknown>;
    if (req.method === 'GET') {
      if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
        return apiError(res, 'InvalidParameter', 'Content-Type must be application/x-www-form-urlencoded for GET.', stats);
      }
      params = {};
      for (const [name, value] of url.searchParams) {
        // The example request also names the common parameters in the query; with TC3 they travel as X-TC-* headers,
        // so a query copy is taken only when it agrees with the signed header.
        const headerName = COMMON_IN_QUERY.get(name);
        if (headerName === undefined) params[name] = /^-?\d+$/.test(value) ? Number(value) : value;
        else if (value !== req.headers[headerName]) {
          return apiError(res, 'InvalidParameter', `The query's ${name} does not match the ${headerName} header.`, stats);
        }
      }
    } else {
      if (!String(req.headers['content-type']).startsWith('application/json')) {
        return apiError(res, 'InvalidParameter', 'Content-Type must be application/json for POST.', stats);
      }
      try {
        params = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new Error('not an object');
      } catch {
        return apiError(res, 'InvalidParameter', 'The request body is not a JSON object.', stats);
      }
    }
    for (const name of REQUIRED_INTS) {
      if (params[name] === undefined) return apiError(res, 'MissingParameter', `The request is missing a required parameter \`${name}\`.`, stats);
      if (!Number.isInteger(params[name])) return apiError(res, 'InvalidParameterValue', `The value of \`${name}\` must be an integer.`, stats);
    }
    const known = new Set<string>(REQUIRED_INTS);
    for (const name of Object.keys(params)) {
      if (!known.has(name)) return apiError(res, 'UnknownParameter', `The parameter \`${name}\` is not recognized.`, stats);
    }
    const start = params['StartTimeStamp'] as number;
    const end = params['EndTimeStamp'] as number;
    const app = params['SdkAppId'] as number;
    const pageSize = params['PageSize'] as number;
    const pageNumber = params['PageNumber'] as number;
    const nowSec = Math.floor(now() / 1000);
    if (pageSize < 1 || pageSize > 100) return apiError(res, 'InvalidParameterValue', `PageSize must be between 1 and 100, got ${pageSize}.`, stats);
    if (pageNumber < 0) return apiError(res, 'InvalidParameterValue', `PageNumber starts at 0, got ${pageNumber}.`, stats);
    // DescribeTelCdr's documented limits, assumed for the protected twin (docs/vendors.md §1 Request).
    if (start < nowSec - 180 * DAY) return apiError(res, 'InvalidParameterValue', 'StartTimeStamp must be within the last 180 days.', stats);
    if (end - start >= 90 * DAY) return apiError(res, 'InvalidParameterValue', 'EndTimeStamp - StartTimeStamp must be less than 90 days.', stats);
    if (!tenants.has(app)) return apiError(res, 'InvalidParameterValue.InstanceNotExist', `Instance ${app} does not exist.`, stats);
    if (faults.responseSizeLimitRecords !== undefined && pageSize > faults.responseSizeLimitRecords) {
      return apiError(res, 'ResponseSizeLimitExceeded', 'The response is too large; reduce PageSize.', stats);
    }
    // An EndTimeStamp before StartTimeStamp is not an error: the API page's own example request sends such a pair
    // (1590547606 → 1590147606) and lists no error for it, and its parameters describe a window from start to end,
    // which then holds no record. So it answers TotalCount 0 and an empty page.
    const matching = dataset.query(app, start, end, nowSec);
    const page = matching.slice(pageNumber * pageSize, (pageNumber + 1) * pageSize);
    stats.notePage(page.map((r) => r.sessionId));
    sendJson(res, 200, { Response: { TotalCount: matching.length, TelCdrList: page.map((r) => r.record), RequestId: randomUUID() } });
  }

  const server = await startSimulatorServer(handle, options, dataset);
  return {
    url: server.url,
    port: server.port,
    connection: { endpoint: `${CCC_HOST}:${server.port}`, protocol: 'http', connectAddress: '127.0.0.1' },
    dataset,
    faults,
    stats,
    stop: () => server.stop(),
  };
}
