// Alibaba LVMS `ivr_call_record_d_t_o` (one robot/IVR call record submitted through the TOP API) → normalized CDR.
// Every DTO field is optional; times are naive Beijing time unless the tenant is configured otherwise; the only
// duration is chat_duration (seconds), which is the talk time of an answered call.
import type { NormalizedCdr } from '../cdr.ts';
import type { RawEnvelope } from '../../../core/envelope.ts';
import { lvmsNaturalKey } from '../../../core/records/lvms-key.ts';
import { rawMembers } from '../../../core/records/json-raw.ts';
import { quote } from '../../../core/input-limits.ts';
import type { NormalizeContext } from '../context.ts';
import { lvmsTimeZoneFor } from '../context.ts';
import type { NormalizeResult } from '../result.ts';
import { badRecord, ok } from '../result.ts';
import { bill, selectRule } from '../billing.ts';
import { normalizedCdrId } from '../identity.ts';
import { hashIdentifier, phoneParty } from '../parties.ts';
import { parseNaiveLocal, secondsBetween } from '../time.ts';
import { BUILT_IN_INTENT_LEVELS, BUILT_IN_INTENT_TAG_ID, endStatusFor } from '../codes/alibaba-lvms.ts';
import { emptyCdr, extraValue, isRecord, recordingUrl, text } from '../skeleton.ts';

const VENDOR = 'alibaba-lvms' as const;

/** Fields that live in a column; everything else (ids, intent codes, name, properties…) goes to extras. */
const COLUMN_FIELDS = new Set([
  'phone_number',
  'called_phone_number',
  'start_time',
  'end_time',
  'result_status',
  'full_audio_url',
]);
/** TOP `Number` fields are Java longs: their extras come from the payload text, which JSON.parse would round. */
const LONG_FIELDS = new Set(['call_record_id', 'robot_call_job_id', 'tenant_phone_number_id', 'intent_level_code', 'intent_level_tag_id']);
/** Personal data besides the phone numbers: hashed like them when a PII key is set. */
const PII_TEXT_FIELDS = new Set(['name']);

/** A TOP Number: a JSON number or a digit string (some clients quote longs); null when absent or blank. */
function numberField(v: unknown): { ok: true; value: number | null } | { ok: false } {
  if (v === undefined || v === null || v === '') return { ok: true, value: null };
  if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: v };
  if (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v)) return { ok: true, value: Number(v) };
  return { ok: false };
}

/** A long field as text: exact from the payload when JSON.parse may have rounded it (beyond 2^53), else as parsed. */
function longText(value: unknown, name: string, payload: string, members: { map?: Map<string, string> | undefined }): string | null {
  if (typeof value !== 'number' || Number.isSafeInteger(value)) return extraValue(value);
  members.map ??= rawMembers(payload);
  const raw = members.map?.get(name);
  return raw !== undefined && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(raw) ? raw : extraValue(value);
}

function intentLevel(record: Record<string, unknown>): string | null {
  const tag = numberField(record['intent_level_tag_id']);
  const code = numberField(record['intent_level_code']);
  // The code only means A..F inside the built-in tag group; custom groups are known by their tag name alone.
  if (tag.ok && tag.value === BUILT_IN_INTENT_TAG_ID && code.ok && code.value !== null) {
    const level = BUILT_IN_INTENT_LEVELS[code.value];
    if (level !== undefined) return level;
  }
  return text(record['intent_level_detail_name']);
}

export function mapAlibabaLvms(record: unknown, envelope: RawEnvelope, ctx: NormalizeContext): NormalizeResult {
  if (!isRecord(record)) return badRecord('LVMS ivr_call_record_d_t_o must be a JSON object');
  const { options } = ctx;

  // The same rule as the receiver and the import, on the same text, so the key cannot drift between stages.
  // A DTO without one is stored raw under a key its text gives (core/records/lvms-key.ts), never mapped under it: a
  // later version of the same call would be another text, another key, and the call counted twice.
  const derived = lvmsNaturalKey(envelope.payload);
  if (!derived) {
    const why = 'LVMS record has no call_record_id and no robot_call_job_id + called_phone_number + start_time to key it by';
    return badRecord(why, envelope.natural_key === '' ? null : normalizedCdrId(VENDOR, envelope.tenant_id, envelope.natural_key, options.piiKey));
  }
  const naturalKey = derived.key;
  const skeleton = emptyCdr(envelope, naturalKey);
  // A refused record's dead letter names the call by the cdr_id its CDR would have had (no number under a PII key).
  const cdrId = normalizedCdrId(VENDOR, envelope.tenant_id, naturalKey, options.piiKey);

  const timeZone = lvmsTimeZoneFor(options, envelope.tenant_id);
  const start = parseNaiveLocal(record['start_time'], timeZone);
  if (!start.ok) return badRecord(`start_time: ${start.reason}`, cdrId);
  const end = parseNaiveLocal(record['end_time'], timeZone);
  if (!end.ok) return badRecord(`end_time: ${end.reason}`, cdrId);

  // Kept exactly as sent (the raw code); the table lookup forgives case and blanks.
  const rawStatus = record['result_status'];
  const resultStatus = typeof rawStatus === 'string' && rawStatus.trim() !== '' ? rawStatus : text(rawStatus);
  const status = endStatusFor(resultStatus);

  const duration = numberField(record['chat_duration']);
  if (!duration.ok || (duration.value !== null && duration.value < 0)) {
    return badRecord(`chat_duration must be a non-negative number of seconds, got ${quote(record['chat_duration'])}`, cdrId);
  }
  // Only an answered call has talk time; a started second counts, as it does for every billing rule.
  const talkSeconds = status.status === 'ANSWERED' ? Math.ceil(duration.value ?? 0) : 0;

  const members: { map?: Map<string, string> | undefined } = {};
  const extras: Record<string, string> = {};
  // Object.keys, not Object.entries: one array per record instead of one more per member (the same own members).
  for (const name of Object.keys(record)) {
    if (COLUMN_FIELDS.has(name)) continue;
    const value = record[name];
    if (typeof value === 'string' && value.trim() === '') continue;
    let v = LONG_FIELDS.has(name) ? longText(value, name, envelope.payload, members) : extraValue(value);
    if (v !== null && PII_TEXT_FIELDS.has(name) && options.piiKey !== null) v = hashIdentifier(v, options.piiKey);
    if (v !== null) extras[name] = v;
  }
  // Every DTO field is optional, so an answered call without a duration is kept (not dead-lettered), but nobody should
  // mistake its 0 billable seconds for a measured value.
  if (status.status === 'ANSWERED' && duration.value === null) extras['billing_note'] = 'answered without chat_duration: talk and billable time unknown, recorded as 0';
  // Only ANSWERED bills, so a status this mapping does not know (one the vendor added, a typo) bills 0; but chat time on
  // it may be talk a billing team would bill, so the row says so instead of passing for an attempt nobody answered.
  if (status.status === 'UNKNOWN' && (duration.value ?? 0) > 0) extras['billing_note'] = 'result_status unknown to this mapping (vendor_status_code) with a chat_duration: not billed, as only ANSWERED is';
  // Which rule produced the key the CDR ends up under: normalize.ts keys it by the envelope when the two disagree.
  const envelopeWins = envelope.natural_key !== '' && envelope.natural_key !== derived?.key;
  extras['key_source'] = envelopeWins ? 'envelope' : derived.source;
  extras['time_zone'] = timeZone;

  const caller = phoneParty(record['phone_number'], options);
  const callee = phoneParty(record['called_phone_number'], options);
  const rule = selectRule(options, VENDOR, envelope.tenant_id);
  const cdr: NormalizedCdr = {
    ...skeleton,
    // Robot calls: the platform dials the customer from one of the tenant's lines.
    direction: 'OUTBOUND',
    channel: 'PSTN',
    caller,
    callees: callee ? [callee] : [],
    started_at: start.date,
    ended_at: end.date,
    talk_seconds: talkSeconds,
    total_seconds: secondsBetween(start.date, end.date),
    ...bill(talkSeconds, rule),
    end_status: status.status,
    vendor_status_code: resultStatus,
    vendor_status_text: status.known ? status.text : null,
    recording_url: recordingUrl(record['full_audio_url']),
    intent_level: intentLevel(record),
    extras,
  };
  return ok(cdr);
}
