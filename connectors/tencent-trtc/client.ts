// get_records_by_filter (v1) with a UserSig from Tencent's `tls-sig-api-v2`, cached and renewed before expiry.
// Answers are classified per docs/vendors.md §2: 0 ok, 70011 no records, 50001 configuration, UserSig codes auth.
import tlsSig from 'tls-sig-api-v2';
import { randomInt } from 'node:crypto';
import { CdrflowError, type ErrorKind } from '../../core/errors.ts';

export const TRTC_PATH = '/v1/records/get_records_by_filter';

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
    const nowSec = Math.floor(this.now() / 1000);
    if (this.sig === undefined || nowSec >= this.expiresAt - this.renewBeforeSec) {
      this.sig = new tlsSig.Api(this.sdkAppId, this.secretKey).genUserSig(this.identifier, this.validitySec);
      this.expiresAt = nowSec + this.validitySec;
      this.generatedAt = nowSec;
      this.generated++;
    }
    return this.sig;
  }

  /** Seconds since the current sig was made (undefined before the first). */
  ageSec(): number | undefined {
    return this.sig === undefined ? undefined : Math.floor(this.now() / 1000) - this.generatedAt;
  }

  /** Forces a new sig on the next request (the server said this one expired). */
  invalidate(): void {
    this.sig = undefined;
  }
}

export interface TrtcClientSettings {
  /** e.g. https://callkit-intl.trtc.tencent-cloud.com */
  baseUrl: string;
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

export class TrtcApiClient {
  private readonly sigs: UserSigCache;

  constructor(readonly settings: TrtcClientSettings) {
    this.sigs = new UserSigCache(settings.sdkAppId, settings.secretKey, settings.identifier, settings.userSigValiditySec, settings.userSigRenewBeforeSec, settings.now);
  }

  async getRecordsByFilter(req: TrtcPageRequest, signal?: AbortSignal): Promise<TrtcPage> {
    const context = `get_records_by_filter sdkappid=${this.settings.sdkAppId} [${req.startTimestamp},${req.endTimestamp}] page ${req.page}x${req.numberPerPage}`;
    const url = new URL(TRTC_PATH, this.settings.baseUrl);
    url.searchParams.set('sdkappid', String(this.settings.sdkAppId));
    url.searchParams.set('identifier', this.settings.identifier);
    url.searchParams.set('usersig', this.sigs.get());
    url.searchParams.set('random', String(randomInt(0, 2 ** 32 - 1)));
    url.searchParams.set('contenttype', 'json');
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(req),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      text = await response.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const why = timeout.aborted ? `timed out after ${this.settings.timeoutMs} ms` : (err as Error).message;
      throw new CdrflowError('transient', `${context}: network error: ${why}`, { code: 'network', cause: err });
    }
    if (response.status !== 200) {
      const kind: ErrorKind = response.status === 429 ? 'rate_limited' : response.status >= 500 ? 'transient' : 'config';
      throw new CdrflowError(kind, `${context}: HTTP ${response.status} ${text.slice(0, 200)}`, { code: `http-${response.status}` });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new CdrflowError('transient', `${context}: response is not JSON: ${text.slice(0, 200)}`, { code: 'malformed-response' });
    }
    const code = body['errorCode'];
    const requestId = typeof body['requestId'] === 'string' ? body['requestId'] : null;
    if (code === 70011) return { totalNum: 0, records: [], requestId };
    if (code !== 0) {
      const numeric = typeof code === 'number' ? code : Number.NaN;
      let kind: ErrorKind = Number.isNaN(numeric) ? 'transient' : trtcErrorKind(numeric);
      let hint = numeric === 50001 ? ' (the app needs the TUICallKit group-call package)' : kind === 'auth' ? ' (check SDKAppID, SDKSecretKey and the admin identifier)' : '';
      if (numeric === 70001) {
        // Expired: renew and let the caller retry. A sig made moments ago that is already expired means our clock
        // is far off the vendor's; renewing again cannot help.
        const age = this.sigs.ageSec();
        this.sigs.invalidate();
        kind = age !== undefined && age < 60 ? 'auth' : 'transient';
        if (kind === 'auth') hint = ` (a UserSig made ${age}s ago was refused as expired: check this machine's clock)`;
      }
      throw new CdrflowError(kind, `${context}: errorCode ${String(code)}: ${String(body['errorMessage'] ?? '')}${hint} (requestId ${requestId ?? '-'})`, { code: String(code) });
    }
    const data = body['data'] as Record<string, unknown> | undefined;
    const list = data?.['callRecordList'] ?? [];
    const total = data?.['totalNum'];
    if (!Array.isArray(list) || typeof total !== 'number' || !Number.isInteger(total)) {
      throw new CdrflowError('transient', `${context}: malformed response data (totalNum=${String(total)})`, { code: 'malformed-response' });
    }
    return { totalNum: total, records: list, requestId };
  }
}
