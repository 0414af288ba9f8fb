// Huawei PrivateNumber fee record (one element of a push's `feeLst`) → normalized CDR. Times are naive UTC strings,
// billing starts at fwdAnswerTime, and three status fields are combined through codes/huawei-privatenumber.ts.
import type { Direction, NormalizedCdr, Party } from '../cdr.ts';
import type { RawEnvelope } from '../../../core/envelope.ts';
import type { NormalizeContext, NormalizeOptions } from '../context.ts';
import type { NormalizeResult } from '../result.ts';
import { badRecord, ok } from '../result.ts';
import { bill, selectRule } from '../billing.ts';
import { phoneParty } from '../parties.ts';
import { parseNaiveLocal, secondsBetween } from '../time.ts';
import { endStatusFor } from '../codes/huawei-privatenumber.ts';
import { emptyCdr, extraValue, isRecord, recordingUrl, text } from '../skeleton.ts';
import { codeTable } from '../codes/table.ts';
import { huaweiSessionId } from '../../../core/records/huawei-key.ts';

const VENDOR = 'huawei-privatenumber' as const;
/** "Every time is UTC, written as a naive string" (docs/vendors.md §4); not Beijing time. */
const HUAWEI_TIME_ZONE = 'UTC';

/** The binding mode of the app, set per app in the receiver config and carried on the envelope. */
export const HUAWEI_MODE_ATTRIBUTE = 'notify_mode';
/**
 * The download link the receiver resolved through the recording API (option `recordingLinks`), and when: written by
 * connectors/huawei-privatenumber/recording-links.ts. It wins over the CDR's recordFileDownloadUrl, kept in extras.
 */
export const HUAWEI_RECORDING_URL_ATTRIBUTE = 'recording_download_url';
export const HUAWEI_RECORDING_RESOLVED_AT_ATTRIBUTE = 'recording_resolved_at';

/**
 * `direction` by binding mode. In every documented mode 1 means the bound user A placed the call and 0 that someone
 * else called A (AX/AXE: "another user", AXB: B). A is the tenant's side of a binding (the user the tenant bound a
 * privacy number to), so 1 → OUTBOUND and 0 → INBOUND. X mode binds no A: there is nothing to be inbound to.
 * AXYB's direction is not documented; it binds A like AXB does. 2 = abnormal (e.g. no binding) everywhere.
 */
const DIRECTION_BY_MODE: Readonly<Record<string, Readonly<Record<number, Direction>>>> = codeTable({
  AX: { 0: 'INBOUND', 1: 'OUTBOUND', 2: 'UNKNOWN' },
  AXE: { 0: 'INBOUND', 1: 'OUTBOUND', 2: 'UNKNOWN' },
  AXB: { 0: 'INBOUND', 1: 'OUTBOUND', 2: 'UNKNOWN' },
  AXYB: { 0: 'INBOUND', 1: 'OUTBOUND', 2: 'UNKNOWN' },
  X: {},
});
/** Mode not configured: the documented modes agree on 0/1, so the common reading applies. */
const DIRECTION_MODE_UNKNOWN: Readonly<Record<number, Direction>> = codeTable({ 0: 'INBOUND', 1: 'OUTBOUND', 2: 'UNKNOWN' });

/** Fields that live in a column (or are rebuilt from one); everything else goes to extras. */
const COLUMN_FIELDS = new Set([
  'sessionId',
  'callerNum',
  'callInTime',
  'fwdAlertingTime',
  'fwdAnswerTime',
  'callEndTime',
  'ulFailReason',
  'serviceType',
  'recordFileDownloadUrl',
]);
/**
 * Naive UTC times kept in extras, rewritten as ISO-8601 so no reader has to know Huawei's zone. Huawei writes every
 * `…Time` field that way (docs/vendors.md §4), the ones it adds to some records too (the Initcall leg's
 * callOutStartTime / callOutAlertingTime / callOutAnswerTime beside callOutUnaswRsn, dynIVRStartTime): a name list
 * would leave those as bare strings that read as Beijing time. `ttsPlayTimes` is a count, not a time.
 */
const isExtraTimeField = (name: string) => name.endsWith('Time');
/** Huawei names phone numbers `…Num`; extendNum is an AXE extension, not a number. */
const isPhoneField = (name: string) => name.endsWith('Num') && name !== 'extendNum';

/** An integer code as Huawei sends it (a JSON number, occasionally a digit string); null when absent or not one. */
function integer(v: unknown): number | null {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v);
  return null;
}

/**
 * Phone parsing is the most expensive step of a fee record, and one record repeats the same number up to four times
 * (bindNum = calleeNum = fwdDisplayNum = X), so each distinct number is parsed once per record.
 */
function phoneParser(options: NormalizeOptions): (raw: unknown) => Party | null {
  const seen = new Map<unknown, Party | null>();
  return (raw) => {
    if (seen.has(raw)) return seen.get(raw)!;
    const party = phoneParty(raw, options);
    seen.set(raw, party);
    return party;
  };
}

/** Extras follow the shared rule, except that '' means absent and numbers and times get the column treatment. */
function huaweiExtra(name: string, value: unknown, phone: (raw: unknown) => Party | null): string | null {
  if (typeof value === 'string' && value.trim() === '') return null;
  // A number sent as a JSON number is the same number, read as the columns read it (phoneParty): else it stayed in
  // extras as sent, in clear under a PII key.
  if (isPhoneField(name) && (typeof value === 'string' || typeof value === 'number')) return phone(value)?.value ?? null;
  const raw = extraValue(value);
  if (raw === null || typeof value !== 'string') return raw;
  if (isExtraTimeField(name)) {
    const parsed = parseNaiveLocal(raw, HUAWEI_TIME_ZONE);
    // An unreadable secondary time is kept as sent rather than failing the whole CDR.
    return parsed.ok && parsed.date ? parsed.date.toISOString() : raw;
  }
  return raw;
}

export function mapHuaweiPrivatenumber(record: unknown, envelope: RawEnvelope, ctx: NormalizeContext): NormalizeResult {
  if (!isRecord(record)) return badRecord('Huawei fee record must be a JSON object');
  const { options } = ctx;

  if (Array.isArray(record['feeLst'])) {
    return badRecord('this is a whole fee push ({"eventType":"fee","feeLst":[…]}); normalize takes one feeLst element per record');
  }
  // Only what the receiver and the import key a record by (core/records/huawei-key.ts, a non-blank string): a number
  // there has it stored under its icid or its text, and mapped under that key a later version would count twice.
  const sessionId = text(huaweiSessionId(record));
  if (sessionId === null) return badRecord('Huawei fee record has no sessionId (the natural key)');
  // normalize.ts re-keys the CDR on the envelope's natural key (the Kafka key) and keeps a disagreeing sessionId.
  const skeleton = emptyCdr(envelope, sessionId);
  const cdrId = skeleton.cdr_id;

  const times: Record<'callInTime' | 'fwdAlertingTime' | 'fwdAnswerTime' | 'callEndTime' | 'failTime', Date | null> = {
    callInTime: null,
    fwdAlertingTime: null,
    fwdAnswerTime: null,
    callEndTime: null,
    failTime: null,
  };
  for (const field of Object.keys(times) as (keyof typeof times)[]) {
    const parsed = parseNaiveLocal(record[field], HUAWEI_TIME_ZONE);
    if (!parsed.ok) return badRecord(`${field}: ${parsed.reason}`, cdrId);
    times[field] = parsed.date;
  }
  const answeredAt = times.fwdAnswerTime;
  // failTime is when a call that never connected failed: the end of that call when Huawei gives no callEndTime.
  const endedAt = times.callEndTime ?? (answeredAt ? null : times.failTime);

  let talkSeconds = 0;
  if (answeredAt) {
    if (!times.callEndTime) return badRecord('answered call (fwdAnswerTime) without callEndTime: its billable time is unknown', cdrId);
    const talk = secondsBetween(answeredAt, times.callEndTime);
    if (talk === null) return badRecord('callEndTime is before fwdAnswerTime', cdrId);
    talkSeconds = talk;
  }

  const ulFailReasonRaw = text(record['ulFailReason']);
  const status = endStatusFor(
    {
      ulFailReason: integer(record['ulFailReason']),
      fwdUnaswRsn: integer(record['fwdUnaswRsn']),
      callOutUnaswRsn: integer(record['callOutUnaswRsn']),
      sipStatusCode: integer(record['sipStatusCode']),
    },
    answeredAt !== null,
  );

  const mode = text(envelope.attributes[HUAWEI_MODE_ATTRIBUTE])?.toUpperCase() ?? (text(record['extendNum']) ? 'AXE' : null);
  const directionCode = integer(record['direction']);
  const directionTable = (mode === null ? undefined : DIRECTION_BY_MODE[mode]) ?? DIRECTION_MODE_UNKNOWN;
  const direction: Direction = (directionCode === null ? undefined : directionTable[directionCode]) ?? 'UNKNOWN';

  // The real destination of the forwarded leg is the callee; calleeNum is usually the privacy number X that was dialled
  // and stays in extras with bindNum and fwdDisplayNum.
  const phone = phoneParser(options);
  const forwardedTo = phone(record['fwdDstNum']);
  const callee: Party | null = forwardedTo ?? phone(record['calleeNum']);

  const recordDomain = text(record['recordDomain']);
  const recordObjectName = text(record['recordObjectName']);
  const recordingRef = recordDomain !== null && recordObjectName !== null ? `${recordDomain}/${recordObjectName}` : null;

  // Either link counts as absent when it is not a plain http(s) one (the other is taken); the raw record keeps both.
  const cdrRecordingUrl = recordingUrl(record['recordFileDownloadUrl']);
  const resolvedRecordingUrl = recordingUrl(envelope.attributes[HUAWEI_RECORDING_URL_ATTRIBUTE]);

  const extras: Record<string, string> = {};
  // Object.keys, not Object.entries: one array per record instead of one more per member (the same own members).
  for (const name of Object.keys(record)) {
    if (COLUMN_FIELDS.has(name) || (name === 'fwdDstNum' && forwardedTo !== null)) continue;
    if (recordingRef !== null && (name === 'recordDomain' || name === 'recordObjectName')) continue;
    const v = huaweiExtra(name, record[name], phone);
    if (v !== null) extras[name] = v;
  }
  if (mode !== null) extras['binding_mode'] = mode;
  if (resolvedRecordingUrl !== null) {
    if (cdrRecordingUrl !== null) extras['recordFileDownloadUrl'] = cdrRecordingUrl;
    const resolvedAt = text(envelope.attributes[HUAWEI_RECORDING_RESOLVED_AT_ATTRIBUTE]);
    // The link's lifetime is not documented for PrivateNumber: readers need to know how old it is.
    if (resolvedAt !== null) extras['recording_url_resolved_at'] = resolvedAt;
  }
  extras['end_status_source'] = status.source ?? 'none';

  const rule = selectRule(options, VENDOR, envelope.tenant_id);
  const cdr: NormalizedCdr = {
    ...skeleton,
    direction,
    channel: 'PSTN',
    call_type: text(record['serviceType']),
    caller: phone(record['callerNum']),
    callees: callee ? [callee] : [],
    started_at: times.callInTime,
    ringing_at: times.fwdAlertingTime,
    answered_at: answeredAt,
    ended_at: endedAt,
    ring_seconds: secondsBetween(times.fwdAlertingTime, answeredAt ?? endedAt),
    talk_seconds: talkSeconds,
    total_seconds: secondsBetween(times.callInTime, endedAt),
    ...bill(talkSeconds, rule),
    end_status: status.status,
    vendor_status_code: ulFailReasonRaw,
    vendor_status_text: status.text,
    hangup_side: status.hangup,
    recording_url: resolvedRecordingUrl ?? cdrRecordingUrl,
    recording_ref: recordingRef,
    extras,
  };
  return ok(cdr);
}

