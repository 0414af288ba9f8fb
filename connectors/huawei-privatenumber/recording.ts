// Recording links of Huawei fee records: `GET <APP接入地址>/rest/provision/voice/record/v1.0?fileName=&recordDomain=`
// with X-AKSK answers 301 with the download URL in Location (we read it and never follow it: following downloads
// the audio). Falls back to the CDR's recordFileDownloadUrl, when it is a plain http(s) link, when recordDomain is
// empty, the file reference is longer than the API takes, or the API fails; nothing to resolve when recordFlag is 0,
// nor for a call that talked under 3 s (Huawei records none). Files are kept 7 days from the push, so resolve promptly.
import { buildAuthHeaders } from './aksk.ts';
import { CdrflowError } from '../../core/errors.ts';
import { answerExcerpt } from '../poller/vendor-answer.ts';
import { printable, quote, USABLE_DOWNLOAD_URL, usableDownloadUrl } from '../../core/input-limits.ts';
import { fromNaiveLocal, secondsBetween } from '../../transforms/normalize/time.ts';

export type RecordingLink =
  | { kind: 'url'; url: string; source: 'api' | 'recordFileDownloadUrl'; note?: string }
  | { kind: 'none'; reason: string };

export interface RecordingResolverOptions {
  baseUrl: string;
  appKey: string;
  appSecret: string;
  timeoutMs?: number;
  /** The clock the request is signed with (Created): the receiver's, so a test clock or a corrected one signs too. */
  now?: () => number;
  fetchImpl?: typeof fetch;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

/**
 * The recording API takes fileName and recordDomain as String(1-128) (vendors.md); the push allows recordDomain up to
 * 256 and bounds recordObjectName not at all. Asking with more only earns a refusal, and a signed push of 50 records
 * with fields of 64 KiB would make as many oversized lookups.
 */
const MAX_LOOKUP_FIELD_CHARS = 128;

/**
 * Huawei's result codes for refused credentials (vendors.md §4 "Auth"): a missing or malformed part (1023006–1023012,
 * 1023033–1023038), an unknown app_key (1010003), a Created too far off (1010013). The missing parts come as HTTP 400
 * (VoiceCall's result-code table), so the status alone would take our own credentials for bad data.
 */
const CREDENTIAL_RESULT_CODES = /^(102300[6-9]|102301[0-2]|102303[3-8]|1010003|1010013)$/;

/** Why the fee record's file reference cannot be asked about, or undefined when it can. */
function lookupFieldProblem(fields: Record<'recordObjectName' | 'recordDomain', string>): string | undefined {
  for (const [name, value] of Object.entries(fields)) {
    if (value.length > MAX_LOOKUP_FIELD_CHARS) return `${name} ${quote(value, 40)} is more than the recording API takes (String(1-${MAX_LOOKUP_FIELD_CHARS})): not looked up`;
  }
  return undefined;
}

/** Huawei records no call shorter than this (vendors.md §4, Recordings): asking for one only earns "does not exist". */
export const MIN_RECORDED_TALK_SEC = 3;

/** fwdAnswerTime → callEndTime when both are readable (as the mapping reads them), the span Huawei's "calls shorter than 3 s" is measured on. */
function talkSeconds(fee: Record<string, unknown>): number | undefined {
  return secondsBetween(fromNaiveLocal(fee['fwdAnswerTime'], 'UTC'), fromNaiveLocal(fee['callEndTime'], 'UTC')) ?? undefined;
}

export async function resolveRecordingUrl(fee: Record<string, unknown>, opts: RecordingResolverOptions): Promise<RecordingLink> {
  if (Number(fee['recordFlag'] ?? 0) !== 1) return { kind: 'none', reason: 'recordFlag is 0: the call was not recorded' };
  const fileName = text(fee['recordObjectName']);
  const domain = text(fee['recordDomain']);
  // The record's own link is vendor text handed on as a link (to the terminal, the CDR, a dashboard): taken under the
  // rule the API's Location is, and otherwise as if absent, the reason saying why when nothing else can be asked.
  const given = text(fee['recordFileDownloadUrl']);
  const fallback = usableDownloadUrl(given) ? given : '';
  // Within the push's ack deadline every lookup costs time, and one for a call too short to be recorded cannot succeed.
  const talk = talkSeconds(fee);
  if (talk !== undefined && talk < MIN_RECORDED_TALK_SEC) {
    if (fallback !== '') return { kind: 'url', url: fallback, source: 'recordFileDownloadUrl' };
    return { kind: 'none', reason: `the call talked ${talk} s: Huawei records no call under ${MIN_RECORDED_TALK_SEC} s` };
  }
  if (fileName === '' || domain === '') {
    if (fallback !== '') return { kind: 'url', url: fallback, source: 'recordFileDownloadUrl' };
    if (given !== '') return { kind: 'none', reason: `the CDR's recordFileDownloadUrl is not ${USABLE_DOWNLOAD_URL}: ${quote(given, 100)}` };
    return { kind: 'none', reason: 'recorded, but the CDR has neither recordObjectName+recordDomain nor recordFileDownloadUrl' };
  }
  const problem = lookupFieldProblem({ recordObjectName: fileName, recordDomain: domain });
  if (problem !== undefined) {
    if (fallback !== '') return { kind: 'url', url: fallback, source: 'recordFileDownloadUrl', note: problem };
    throw new CdrflowError('bad_record', `Huawei recording API not asked: ${problem}`);
  }
  const url = new URL('/rest/provision/voice/record/v1.0', opts.baseUrl);
  url.searchParams.set('fileName', fileName);
  url.searchParams.set('recordDomain', domain);
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  let res: Response;
  try {
    res = await (opts.fetchImpl ?? fetch)(url, {
      method: 'GET',
      redirect: 'manual',
      headers: { 'content-type': 'application/json;charset=UTF-8', ...buildAuthHeaders(opts.appKey, opts.appSecret, { nowMs: (opts.now ?? Date.now)() }) },
      signal: timeout,
    });
  } catch (err) {
    if (fallback !== '') return { kind: 'url', url: fallback, source: 'recordFileDownloadUrl', note: `recording API unreachable: ${(err as Error).message}` };
    throw new CdrflowError('transient', `Huawei recording API unreachable: ${(err as Error).message}`, { cause: err });
  }
  const location = res.headers.get('location');
  if (res.status >= 300 && res.status < 400 && location) {
    await res.body?.cancel();
    if (usableDownloadUrl(location)) return { kind: 'url', url: location, source: 'api' };
    const detail = `HTTP ${res.status} with a Location that is not ${USABLE_DOWNLOAD_URL}: ${quote(location, 100)}`;
    if (fallback !== '') return { kind: 'url', url: fallback, source: 'recordFileDownloadUrl', note: `recording API answered ${detail}` };
    throw new CdrflowError('transient', `Huawei recording API: ${detail}`, { code: 'malformed-response' });
  }
  // Only its result code and words are kept: the rest of a long or never-ending answer is cut off at once rather than
  // read (and held) until the time limit.
  const body = await answerExcerpt(res, timeout);
  let rawCode: unknown;
  let rawDesc: unknown = body;
  try {
    const parsed = JSON.parse(body) as { resultcode?: unknown; resultdesc?: unknown };
    rawCode = parsed.resultcode;
    rawDesc = parsed.resultdesc ?? body;
  } catch {
    // not JSON (or JSON null): keep the text
  }
  // The API's words go into link notes (envelope attributes), errors and logs: kept as they are when short and plain,
  // quoted (control characters escaped) and cut otherwise, whatever the answer holds.
  const resultcode = typeof rawCode === 'string' || typeof rawCode === 'number' ? printable(String(rawCode), 40) : rawCode === undefined ? '' : quote(rawCode, 40);
  const resultdesc = typeof rawDesc === 'string' ? printable(rawDesc) : quote(rawDesc);
  const detail = `HTTP ${res.status}${resultcode ? ` ${resultcode}` : ''}: ${resultdesc}`;
  if (fallback !== '') return { kind: 'url', url: fallback, source: 'recordFileDownloadUrl', note: `recording API answered ${detail}` };
  if ((typeof rawDesc === 'string' && /not exist/i.test(rawDesc)) || res.status === 404) {
    return { kind: 'none', reason: `the recording no longer exists (kept 7 days from the push): ${detail}` };
  }
  if (res.status === 401 || res.status === 403 || CREDENTIAL_RESULT_CODES.test(resultcode)) throw new CdrflowError('auth', `Huawei recording API refused our credentials: ${detail}`, { code: resultcode });
  throw new CdrflowError(res.status >= 500 || res.status === 429 ? 'transient' : 'bad_record', `Huawei recording API: ${detail}`, { code: resultcode });
}
