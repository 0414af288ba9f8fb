// DescribeProtectedTelCdr through Tencent's official SDK (CommonClient signs with TC3-HMAC-SHA256; nothing is
// hand-signed here). Vendor failures come back as CdrflowErrors classified per docs/vendors.md §1 "Common errors".
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import * as tencentcloud from 'tencentcloud-sdk-nodejs-common';
import { CdrflowError, type ErrorKind } from '../../core/errors.ts';

export const CCC_ACTION = 'DescribeProtectedTelCdr';
export const CCC_API_VERSION = '2020-02-10';

export interface CccClientSettings {
  secretId: string;
  secretKey: string;
  /** host[:port]; the service name signed into the credential scope is its first label (`ccc`). */
  endpoint: string;
  protocol: 'https' | 'http';
  /** Connect here instead of resolving the endpoint host (like curl --resolve): simulators, private links. */
  connectAddress?: string | undefined;
  timeoutMs: number;
  /** Temporary credentials (STS) — sent as X-TC-Token. */
  token?: string | undefined;
}

export interface CccPageRequest {
  sdkAppId: number;
  startTimeStamp: number;
  endTimeStamp: number;
  pageSize: number;
  pageNumber: number;
}

export interface CccPage {
  totalCount: number;
  /** Parsed records, one object each, in the vendor's order. */
  records: unknown[];
  requestId: string | null;
}

interface SdkException extends Error {
  code?: string;
  httpCode?: number;
  requestId?: string;
}

/** Classifies a vendor error code (docs/vendors.md §1): what the poller may retry and what must stop it. */
export function cccErrorKind(code: string): ErrorKind {
  if (code.startsWith('RequestLimitExceeded')) return 'rate_limited';
  if (code.startsWith('InternalError') || code === 'ServiceUnavailable' || code.startsWith('ResourceUnavailable')) return 'transient';
  // The caller shrinks the page and retries; as a kind it is a transient condition of this request.
  if (code === 'ResponseSizeLimitExceeded') return 'transient';
  if (code.startsWith('AuthFailure') || code.startsWith('UnauthorizedOperation')) return 'auth';
  if (
    code.startsWith('InvalidParameter') || code === 'MissingParameter' || code === 'UnknownParameter' || code === 'InvalidAction' ||
    code === 'NoSuchVersion' || code === 'UnsupportedRegion' || code === 'RequestSizeLimitExceeded' || code === 'IpInBlacklist' ||
    code === 'IpNotInWhitelist' || code === 'ActionOffline' || code.startsWith('LimitExceeded') || code.startsWith('UnsupportedOperation') ||
    code.startsWith('ResourceNotFound') || code.startsWith('FailedOperation')
  ) {
    return 'config';
  }
  // An undocumented code: retry (bounded by the caller's attempt limit) rather than stop a healthy feed.
  return 'transient';
}

export function classifyCccError(err: unknown, context: string): CdrflowError {
  if (err instanceof CdrflowError) return err;
  const e = err as SdkException;
  if (e && typeof e.code === 'string' && e.code !== '') {
    const requestId = e.requestId ? ` (RequestId ${e.requestId})` : '';
    return new CdrflowError(cccErrorKind(e.code), `${context}: ${e.code}: ${e.message}${requestId}`, { code: e.code, cause: err });
  }
  if (e && typeof e.httpCode === 'number') {
    const kind: ErrorKind = e.httpCode === 429 ? 'rate_limited' : e.httpCode >= 500 ? 'transient' : 'config';
    return new CdrflowError(kind, `${context}: HTTP ${e.httpCode} ${e.message}`, { code: `http-${e.httpCode}`, cause: err });
  }
  // No code and no status: the request never got an answer (refused, reset, DNS, timeout).
  const message = e instanceof Error ? e.message : String(err);
  return new CdrflowError('transient', `${context}: network error: ${message}`, { code: 'network', cause: err });
}

function pinnedLookup(address: string): LookupFunction {
  const family = address.includes(':') ? 6 : 4;
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options && options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction;
}

export class CccApiClient {
  private readonly client: tencentcloud.CommonClient;

  constructor(readonly settings: CccClientSettings) {
    const agentOptions = { keepAlive: true, ...(settings.connectAddress ? { lookup: pinnedLookup(settings.connectAddress) } : {}) };
    const agent = settings.protocol === 'https' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.client = new tencentcloud.CommonClient(settings.endpoint, CCC_API_VERSION, {
      credential: { secretId: settings.secretId, secretKey: settings.secretKey, ...(settings.token ? { token: settings.token } : {}) },
      profile: {
        httpProfile: {
          endpoint: settings.endpoint,
          protocol: `${settings.protocol}://`,
          reqMethod: 'POST',
          reqTimeout: Math.max(1, Math.ceil(settings.timeoutMs / 1000)),
          agent,
        },
      },
    });
  }

  async describeProtectedTelCdr(req: CccPageRequest, signal?: AbortSignal): Promise<CccPage> {
    const context = `${CCC_ACTION} SdkAppId=${req.sdkAppId} [${req.startTimeStamp},${req.endTimeStamp}] page ${req.pageNumber}x${req.pageSize}`;
    let response: Record<string, unknown>;
    try {
      response = (await this.client.request(
        CCC_ACTION,
        {
          StartTimeStamp: req.startTimeStamp,
          EndTimeStamp: req.endTimeStamp,
          SdkAppId: req.sdkAppId,
          PageSize: req.pageSize,
          PageNumber: req.pageNumber,
        },
        signal ? { signal } : {},
      )) as Record<string, unknown>;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw classifyCccError(err, context);
    }
    // TelCdrs is the SDK's deprecated alias of TelCdrList; accept either.
    const list = response['TelCdrList'] ?? response['TelCdrs'] ?? [];
    const total = response['TotalCount'];
    if (!Array.isArray(list) || typeof total !== 'number' || !Number.isInteger(total) || total < 0) {
      throw new CdrflowError('transient', `${context}: malformed response (TotalCount=${String(total)}, TelCdrList is ${Array.isArray(list) ? 'an array' : typeof list})`, {
        code: 'malformed-response',
      });
    }
    const requestId = typeof response['RequestId'] === 'string' ? response['RequestId'] : null;
    return { totalCount: total, records: list, requestId };
  }
}
