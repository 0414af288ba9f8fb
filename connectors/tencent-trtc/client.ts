// The TUICallKit call-record REST APIs with a UserSig from Tencent's `tls-sig-api-v2`, cached and renewed before
// expiry: v1 get_records_by_filter (beta, camelCase) and v4 call_record_http_srv get_record_by_filter /
// get_record_by_callid (PascalCase, on the Chat REST host of the app's region). Both take the same query string
// (sdkappid, identifier, usersig, random, contenttype=json) and answer IM REST error codes, classified per
// docs/vendors.md §2: 0 ok, 70011 no records, 50001 configuration, UserSig codes auth, anything else retried.
import tlsSig from 'tls-sig-api-v2';
import { randomInt } from 'node:crypto';
import { CdrflowError, type ErrorKind } from '../../core/errors.ts';
import { quote, redactUrl } from '../../core/input-limits.ts';
import { answerExcerpt, answerText, httpStatusKind, isRedirectStatus, pageOf, requestIdOf, retryAfterMs } from '../poller/vendor-answer.ts';

export const TRTC_PATH = '/v1/records/get_records_by_filter';
export const TRTC_V4_PATHS = {
  byFilter: '/v4/call_record_http_srv/get_record_by_filter',
  byCallId: '/v4/call_record_http_srv/get_record_by_callid',
} as const;
/** Renews the admin UserSig `renewBeforeSec` before it expires; the key never leaves this object. */
export class UserSigCache {
  private sig: string | undefined;
  private expiresAt = 0;
  /** How many sigs were generated (for tests and the debug log). */
  generated = 0;
  private generatedAt = 0;
  constructor(
    private readonly sdkAppId: number,
    private readonly secretKey: string,
    private readonly identifier: string,
    private readonly validitySec: number,
    private readonly renewBeforeSec: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): string {
    return this.take().sig;
  }

  /** The sig to send, with when it was made (Unix s): an answer to this request is judged by this sig, not the current one. */
  take(): { sig: string; madeAt: number } {
    const nowSec = Math.floor(this.now() / 1000);
    if (this.sig === undefined || nowSec >= this.expiresAt - this.renewBeforeSec) {
      this.sig = new tlsSig.Api(this.sdkAppId, this.secretKey).genUserSig(this.identifier, this.validitySec);
      this.expiresAt = nowSec + this.validitySec;
      this.generatedAt = nowSec;
      this.generated++;
    }
    return { sig: this.sig, madeAt: this.generatedAt };
  }

  /** Seconds since the current sig was made (undefined before the first). */
  ageSec(): number | undefined {
    return this.sig === undefined ? undefined : Math.floor(this.now() / 1000) - this.generatedAt;
  }

  /**
   * Forces a new sig on the next request (the server said this one expired). Given the sig that was refused, only
   * if it is still the current one: a newer sig, made since that request was sent, is kept.
   */
  invalidate(refused?: string): void {
    if (refused === undefined || refused === this.sig) this.sig = undefined;
  }
}

export interface TrtcClientSettings {
  /** The API root: the v1 host (e.g. https://callkit-intl.trtc.tencent-cloud.com) or the region's v4 host. */
  baseUrl: string;
  /** Which call-record API this app's calls land in. */
  api?: 'v1' | 'v4';
  sdkAppId: number;
  secretKey: string;
  identifier: string;
  timeoutMs: number;
  userSigValiditySec: number;
  userSigRenewBeforeSec: number;
  now?: () => number;
}

export interface TrtcPageRequest {
  startTimestamp: number;
  endTimestamp: number;
  page: number;
  numberPerPage: number;
}

export interface TrtcPage {
  totalNum: number;
  /** Records verbatim, in the API's own shape (v1 camelCase or v4 PascalCase). */
  records: unknown[];
  requestId: string | null;
}

const AUTH_CODES = new Set([70001, 70002, 70003, 70005, 70009, 70013, 70014, 70016, 70020, 70052, 70107, 70403]);

export function trtcErrorKind(code: number): ErrorKind {
  if (code === 50001) return 'config';
  if (code === 70402) return 'config';
  if (AUTH_CODES.has(code)) return 'auth';
  return 'transient';
}

/** The envelope of an answer, whichever API: v1 {errorCode, errorMessage, requestId}, v4 {ErrorCode, ErrorInfo, ActionStatus, RequestId}. */
interface Answer {
  code: unknown;
  message: unknown;
  requestId: string | null;
  /** v4 only: "OK" or "FAIL". */
  actionStatus?: unknown;
  /** The UserSig this request carried, and when it was made (Unix s). */
  sig: { sig: string; madeAt: number };
  body: Record<string, unknown>;
}

export class TrtcApiClient {
  private readonly sigs: UserSigCache;
  readonly api: 'v1' | 'v4';

  constructor(readonly settings: TrtcClientSettings) {
    this.api = settings.api ?? 'v1';
    this.sigs = new UserSigCache(settings.sdkAppId, settings.secretKey, settings.identifier, settings.userSigValiditySec, settings.userSigRenewBeforeSec, settings.now);
  }

  /** One page of the calls that started in [startTimestamp, endTimestamp], through this app's API. */
  async getRecordsByFilter(req: TrtcPageRequest, signal?: AbortSignal): Promise<TrtcPage> {
    return this.api === 'v4' ? this.byFilterV4(req, signal) : this.byFilterV1(req, signal);
  }

  private async byFilterV1(req: TrtcPageRequest, signal?: AbortSignal): Promise<TrtcPage> {
    const context = `get_records_by_filter sdkappid=${this.settings.sdkAppId} [${req.startTimestamp},${req.endTimestamp}] page ${req.page}x${req.numberPerPage}`;
    const answer = await this.post(TRTC_PATH, req, context, signal);
    if (answer.code === 70011) return { totalNum: 0, records: [], requestId: answer.requestId };
    this.check(answer, context);
    const data = answer.body['data'] as Record<string, unknown> | undefined;
    const page = pageOf(data?.['totalNum'], data?.['callRecordList']);
    if (!page) throw new CdrflowError('transient', `${context}: malformed response data (totalNum=${quote(data?.['totalNum'], 60)})`, { code: 'malformed-response' });
    return { totalNum: page.total, records: page.records, requestId: answer.requestId };
  }

  private async byFilterV4(req: TrtcPageRequest, signal?: AbortSignal): Promise<TrtcPage> {
    const context = `v4 get_record_by_filter sdkappid=${this.settings.sdkAppId} [${req.startTimestamp},${req.endTimestamp}] page ${req.page}x${req.numberPerPage}`;
    const body = { StartTime: req.startTimestamp, EndTime: req.endTimestamp, Page: req.page, NumberPerPage: req.numberPerPage };
    const answer = await this.post(TRTC_V4_PATHS.byFilter, body, context, signal);
    // The v4 doc shows no "no records" code; 70011 (v1's) is read the same way should the gateway use it.
    if (answer.code === 70011) return { totalNum: 0, records: [], requestId: answer.requestId };
    this.check(answer, context);
    // A success without a Response object, or without TotalNum, is no page: read as an empty one, the window's
    // records would never be asked for again.
    const data = answer.body['Response'] as Record<string, unknown> | undefined;
    const page = pageOf(data?.['TotalNum'], data?.['CallRecordList']);
    if (!page) throw new CdrflowError('transient', `${context}: malformed Response (TotalNum=${quote(data?.['TotalNum'], 60)})`, { code: 'malformed-response' });
    return { totalNum: page.total, records: page.records, requestId: answer.requestId };
  }

  /** v4 get_record_by_callid: the record of one call (v4 shape), or null when the API has none. */
  async getRecordByCallId(callId: string, signal?: AbortSignal): Promise<{ record: Record<string, unknown> | null; requestId: string | null }> {
    if (this.api !== 'v4') throw new CdrflowError('config', `get_record_by_callid is a v4 API; app ${this.settings.sdkAppId} is configured for v1`);
    const context = `v4 get_record_by_callid sdkappid=${this.settings.sdkAppId} CallId=${callId}`;
    const answer = await this.post(TRTC_V4_PATHS.byCallId, { CallId: callId }, context, signal);
    this.check(answer, context);
    const record = (answer.body['Response'] as Record<string, unknown> | undefined)?.['CallRecord'];
    const found = typeof record === 'object' && record !== null && !Array.isArray(record) && Object.keys(record).length > 0;
    return { record: found ? (record as Record<string, unknown>) : null, requestId: answer.requestId };
  }

  private async post(path: string, payload: unknown, context: string, signal?: AbortSignal): Promise<Answer> {
    const url = new URL(path, this.settings.baseUrl);
    url.searchParams.set('sdkappid', String(this.settings.sdkAppId));
    url.searchParams.set('identifier', this.settings.identifier);
    const sig = this.sigs.take();
    url.searchParams.set('usersig', sig.sig);
    url.searchParams.set('random', String(randomInt(0, 2 ** 32 - 1)));
    url.searchParams.set('contenttype', 'json');
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const either = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        signal: either,
        // A redirect is answered as what it is (a wrong base URL), never followed to wherever it points.
        redirect: 'manual',
      });
      // Only a 200 can be a page. Any other status is the error, and its body is quoted in it; an event stream is
      // no page whatever it holds. Either is cut short at once rather than left open until the time limit.
      if (response.status === 200 && (response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        await response.body?.cancel();
        throw new CdrflowError('transient', `${context}: response is an event stream, not a page`, { code: 'malformed-response' });
      }
      text = response.status === 200 ? await answerText(response, context, either) : await answerExcerpt(response, either);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof CdrflowError) throw err;
      const why = timeout.aborted ? `timed out after ${this.settings.timeoutMs} ms` : redactUrl((err as Error).message);
      throw new CdrflowError('transient', `${context}: network error: ${why}`, { code: 'network', cause: err });
    }
    if (response.status !== 200) {
      const kind = httpStatusKind(response.status);
      const hint = isRedirectStatus(response.status) ? ' (a redirect, not followed: check the API base URL)' : '';
      const retryAfter = retryAfterMs(response.status, response.headers.get('retry-after'), (this.settings.now ?? Date.now)());
      throw new CdrflowError(kind, `${context}: HTTP ${response.status}${hint} ${redactUrl(quote(text))}`, { code: `http-${response.status}`, retryAfterMs: retryAfter });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
    } catch {
      throw new CdrflowError('transient', `${context}: response is not a JSON object: ${redactUrl(quote(text))}`, { code: 'malformed-response' });
    }
    // Every answer of the API, success or error, carries its error code: an object without one is someone else's JSON
    // (a proxy's, a gateway's), said so with its body rather than as the vendor's error "undefined".
    const codeName = this.api === 'v4' ? 'ErrorCode' : 'errorCode';
    if (!Object.hasOwn(body, codeName)) {
      throw new CdrflowError('transient', `${context}: malformed response (no ${codeName}): ${redactUrl(quote(text))}`, { code: 'malformed-response' });
    }
    if (this.api === 'v4') {
      return { code: body['ErrorCode'], message: body['ErrorInfo'], actionStatus: body['ActionStatus'], requestId: requestIdOf(body['RequestId']), body, sig };
    }
    return { code: body['errorCode'], message: body['errorMessage'], requestId: requestIdOf(body['requestId']), body, sig };
  }

  /** Throws the classified error unless the answer is a success (v4: ErrorCode 0 and ActionStatus OK). */
  private check(answer: Answer, context: string): void {
    const { code } = answer;
    const failed = code !== 0 || (this.api === 'v4' && answer.actionStatus !== 'OK');
    if (!failed) return;
    const numeric = typeof code === 'number' ? code : Number.NaN;
    // ActionStatus FAIL with ErrorCode 0 (or a code that is no number) says nothing more precise: retry it.
    let kind: ErrorKind = Number.isNaN(numeric) || numeric === 0 ? 'transient' : trtcErrorKind(numeric);
    let hint = numeric === 50001 ? ' (the app needs the TUICallKit group-call package)' : kind === 'auth' ? ' (check SDKAppID, SDKSecretKey and the admin identifier)' : '';
    if (numeric === 70001) {
      // Expired: renew and let the caller retry. A sig made moments ago that is already expired means our clock
      // is far off the vendor's; renewing again cannot help. Judged by the sig this request carried: with requests
      // in flight, the answer to one sent with the old sig can come after another one made the new sig, and the new
      // sig's age says nothing about the clock.
      const age = Math.floor((this.settings.now ?? Date.now)() / 1000) - answer.sig.madeAt;
      this.sigs.invalidate(answer.sig.sig);
      kind = age < 60 ? 'auth' : 'transient';
      if (kind === 'auth') hint = ` (a UserSig made ${age}s ago was refused as expired: check this machine's clock)`;
    }
    // The vendor's words are quoted and cut: they reach logs and error lines.
    const status = this.api === 'v4' ? ` ActionStatus ${quote(answer.actionStatus, 40)}` : '';
    const codeName = this.api === 'v4' ? 'ErrorCode' : 'errorCode';
    // Redacted: an answer that echoes our request (a gateway's words) would hand on the UserSig of its query.
    const message = answer.message === undefined ? '' : redactUrl(quote(answer.message));
    // The error's code names the case, not the vendor's text, when the vendor's code is not a number: it is a log
    // field and a metric label, and the quoted code is in the message.
    throw new CdrflowError(kind, `${context}: ${codeName} ${quote(code, 40)}${status}: ${message}${hint} (requestId ${answer.requestId ?? '-'})`, {
      code: Number.isNaN(numeric) || numeric === 0 ? (this.api === 'v4' ? 'action-fail' : 'non-numeric-code') : String(code),
    });
  }
}
