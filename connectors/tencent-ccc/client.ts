// DescribeProtectedTelCdr through Tencent's official SDK (CommonClient signs with TC3-HMAC-SHA256; nothing is
// hand-signed here). Vendor failures come back as CdrflowErrors classified per docs/vendors.md §1 "Common errors".
import type { LookupFunction } from 'node:net';
import * as tencentcloud from 'tencentcloud-sdk-nodejs-common';
import { CdrflowError, type ErrorKind } from '../../core/errors.ts';
import { quote } from '../../core/input-limits.ts';
import { ANSWER_ELSEWHERE, ANSWER_TOO_LARGE, answerLimitedAgent, answerTooLarge, decodingRefusalOf, httpStatusKind, isRedirectRefusal, pageOf, requestIdOf, undecodableAnswer } from '../poller/vendor-answer.ts';

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
  const e = err as SdkException & { type?: unknown; name?: unknown };
  const message = e instanceof Error ? e.message : String(err);
  // node-fetch's own errors (they carry the code of what failed beneath: our agent's refusals, a socket's errno, a
  // parser's HPE_ code), before the SDK's, whose `code` is the vendor's.
  if (e?.code === ANSWER_TOO_LARGE) return answerTooLarge(context, 'cut off');
  if (isRedirectRefusal(e)) {
    return new CdrflowError('config', `${context}: the API answered with a redirect to another host or port, which is not followed (check the endpoint)`, { code: ANSWER_ELSEWHERE, cause: err });
  }
  // A body the agent would not decode (a charset no decoder knows): said as the TRTC client says it.
  const refusal = decodingRefusalOf(e);
  if (refusal !== undefined) return undecodableAnswer(context, refusal, err);
  // A body that is no JSON page: node-fetch's JSON.parse failed, the agent refused it, or the SDK read
  // `Response.Error` of a body without `Response` (a TypeError inside its parseResponse).
  if (e?.type === 'invalid-json' || e?.code === 'malformed-response' || e instanceof TypeError) {
    return new CdrflowError('transient', `${context}: malformed response (no JSON page: ${quote(message)})`, { code: 'malformed-response', cause: err });
  }
  if (e?.name === 'FetchError') return new CdrflowError('transient', `${context}: network error: ${quote(message)}`, { code: 'network', cause: err });
  // The vendor's words (code, message, request id) are quoted and cut: they reach logs and error lines.
  if (e && typeof e.code === 'string' && e.code !== '') {
    const code = e.code.length <= 100 ? e.code : e.code.slice(0, 100);
    const requestId = requestIdOf(e.requestId);
    return new CdrflowError(cccErrorKind(code), `${context}: ${quote(code, 100)}: ${quote(e.message)}${requestId ? ` (RequestId ${requestId})` : ''}`, { code, cause: err });
  }
  // The SDK sets `code` from Response.Error.Code whenever Response.Error is there, also when the answer gives it no
  // code (or not a string); its network failures carry none. Such an answer is the vendor's, not the network's: read
  // as a network error, it sent the operator looking at the wrong thing. Retried, like an undocumented code.
  if (e instanceof Error && Object.hasOwn(e, 'code')) {
    const requestId = requestIdOf(e.requestId);
    return new CdrflowError('transient', `${context}: malformed response (Response.Error without a code: Code ${quote(e.code, 40)}, Message ${quote(message)})${requestId ? ` (RequestId ${requestId})` : ''}`, {
      code: 'malformed-response',
      cause: err,
    });
  }
  if (e && typeof e.httpCode === 'number') {
    return new CdrflowError(httpStatusKind(e.httpCode), `${context}: HTTP ${e.httpCode} ${quote(e.message, 100)}`, { code: `http-${e.httpCode}`, cause: err });
  }
  // No code and no status: the request never got an answer (refused, reset, DNS, timeout).
  return new CdrflowError('transient', `${context}: network error: ${quote(message)}`, { code: 'network', cause: err });
}

export function pinnedLookup(address: string): LookupFunction {
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
    const url = new URL(`${settings.protocol}://${settings.endpoint}`);
    const port = url.port === '' ? (settings.protocol === 'https' ? 443 : 80) : Number(url.port);
    const agent = answerLimitedAgent(settings.protocol, { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, timeoutMs: settings.timeoutMs }, agentOptions);
    this.client = new tencentcloud.CommonClient(settings.endpoint, CCC_API_VERSION, {
      credential: { secretId: settings.secretId, secretKey: settings.secretKey, ...(settings.token ? { token: settings.token } : {}) },
      profile: {
        httpProfile: {
          endpoint: settings.endpoint,
          protocol: `${settings.protocol}://`,
          reqMethod: 'POST',
          reqTimeout: Math.max(1, Math.ceil(settings.timeoutMs / 1000)),
          agent,
          // No compression: the agent refuses a compressed answer (see answerLimitedAgent).
          headers: { 'Accept-Encoding': 'identity' },
        },
      },
    });
  }

  async describeProtectedTelCdr(req: CccPageRequest, signal?: AbortSignal): Promise<CccPage> {
    const context = `${CCC_ACTION} SdkAppId=${req.sdkAppId} [${req.startTimeStamp},${req.endTimeStamp}] page ${req.pageNumber} (${req.pageSize} records a page)`;
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
    // For a text/event-stream answer the SDK hands back its (unexported) SSEResponseModel, holding the body as
    // `stream`; the agent has already cut that answer's connection (vendor-answer.ts).
    const stream = (response as { stream?: unknown } | null)?.stream !== undefined;
    if (typeof response !== 'object' || response === null || Array.isArray(response) || stream) {
      throw new CdrflowError('transient', `${context}: malformed response (${stream ? 'an event stream' : `Response is ${quote(response, 60)}`}, not a page)`, { code: 'malformed-response' });
    }
    // TelCdrs is the SDK's deprecated alias of TelCdrList; accept either.
    const total = response['TotalCount'];
    const list = response['TelCdrList'] ?? response['TelCdrs'];
    const page = pageOf(total, list);
    if (!page) {
      const shape = list === undefined ? 'missing' : Array.isArray(list) ? 'an array' : list === null ? 'null' : typeof list;
      throw new CdrflowError('transient', `${context}: malformed response (TotalCount=${quote(total, 60)}, TelCdrList is ${shape})`, { code: 'malformed-response' });
    }
    return { totalCount: page.total, records: page.records, requestId: requestIdOf(response['RequestId']) };
  }
}
