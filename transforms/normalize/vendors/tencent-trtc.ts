// Tencent RTC TUICallKit call record → normalized CDR, from either call-record API: v1 get_records_by_filter
// (camelCase, snake_case values) or v4 call_record_http_srv (PascalCase fields and values). A v4 record is first
// read into the v1 vocabulary, so one call yields the same row whichever API delivered it. Parties are app user ids,
// never phone numbers; group calls have several callees; "answered" comes from callResult.
import { API_VERSION_ATTRIBUTE, type RawEnvelope } from '../../../core/envelope.ts';
import { bill, selectRule } from '../billing.ts';
import type { NormalizedCdr, Party } from '../cdr.ts';
import { TRTC_MEDIA_CHANNEL, TRTC_V4_CALL_RESULT, TRTC_V4_CALL_TYPE, TRTC_V4_MEDIA_TYPE, endStatusFor } from '../codes/tencent-trtc.ts';
import type { NormalizeContext } from '../context.ts';
import { appUserParty } from '../parties.ts';
import { badRecord, ok } from '../result.ts';
import type { NormalizeResult } from '../result.ts';
import { emptyCdr, extraValue, isRecord, keepExtras, text } from '../skeleton.ts';
import { fromUnixSeconds, parseUnixSeconds, secondsBetween } from '../time.ts';

export type TrtcApi = 'v1' | 'v4';


/** The call fields, under their v1 names, and where each comes from in a v4 record. */
const V4_FIELD: Readonly<Record<string, string>> = {
  callId: 'CallId',
  mediaType: 'MediaType',
  startCallTs: 'StartTime',
  acceptTs: 'AcceptTime',
  endTs: 'EndTime',
  caller: 'Caller_Account',
  callType: 'CallType',
  callResult: 'CallResult',
  callees: 'CalleeList_Account',
  roomId: 'RoomId',
};
const V1_CONSUMED = new Set([...Object.keys(V4_FIELD), 'sdkAppId']);
const V4_CONSUMED = new Set(Object.values(V4_FIELD));

/**
 * Which API a record came from: the envelope's `api_version` attribute when the poller set it; otherwise (bare
 * records, envelopes written before v4 support) the shape: only v4 records have `CallId`.
 */
export function trtcApiOf(record: Record<string, unknown>, envelope: RawEnvelope): TrtcApi {
  const declared = envelope.attributes[API_VERSION_ATTRIBUTE];
  if (declared === 'v1' || declared === 'v4') return declared;
  return 'CallId' in record && !('callId' in record) ? 'v4' : 'v1';
}

/** A v4 value in the v1 vocabulary when the table knows it, else verbatim (never lost). */
const translated = (table: ReadonlyMap<string, string>, v: unknown) => (typeof v === 'string' ? (table.get(v.trim()) ?? v) : v);

/** A v4 record read as a v1 record (same field names and values), plus the v4 fields nothing consumed. */
function fromV4(record: Record<string, unknown>): { call: Record<string, unknown>; extras: Record<string, string> } {
  const call: Record<string, unknown> = {};
  for (const [v1, v4] of Object.entries(V4_FIELD)) if (record[v4] !== undefined) call[v1] = record[v4];
  call.mediaType = translated(TRTC_V4_MEDIA_TYPE, call.mediaType);
  call.callType = translated(TRTC_V4_CALL_TYPE, call.callType);
  call.callResult = translated(TRTC_V4_CALL_RESULT, call.callResult);
  const extras: Record<string, string> = {};
  keepExtras(extras, record, V4_CONSUMED);
  return { call, extras };
}

export function mapTencentTrtc(record: unknown, envelope: RawEnvelope, ctx: NormalizeContext): NormalizeResult {
  if (!isRecord(record)) return badRecord('tencent-trtc record is not a JSON object');
  const api = trtcApiOf(record, envelope);
  const { call, extras: apiExtras } = api === 'v4' ? fromV4(record) : { call: record, extras: {} };
  for (const field of ['startCallTs', 'acceptTs', 'endTs']) {
    const parsed = parseUnixSeconds(call[field]);
    if (!parsed.ok) return badRecord(`${api === 'v4' ? V4_FIELD[field] : field}: ${parsed.reason}`);
  }
  const cdr: NormalizedCdr = emptyCdr(envelope, text(call.callId) ?? '');
  const extras = cdr.extras;
  // The vendor's leftovers first, so what the mapping writes (billing_note, acceptTs) is never replaced by a vendor
  // field of the same name: a `"billing_note": ""` used to erase the note that a 0 was no measured talk time.
  if (api === 'v4') Object.assign(extras, apiExtras);
  else keepExtras(extras, record, V1_CONSUMED);
  const started = fromUnixSeconds(call.startCallTs);
  const accepted = fromUnixSeconds(call.acceptTs);
  const ended = fromUnixSeconds(call.endTs);
  const status = endStatusFor(call.callResult);
  // An interrupted call counts as answered only if acceptTs is after the start: unanswered records repeat startCallTs.
  const answered =
    status.answered === 'yes' || (status.answered === 'if-accepted' && accepted !== null && started !== null && accepted > started)
      ? accepted
      : null;
  if (answered === null && accepted !== null) extras.acceptTs = extraValue(call.acceptTs)!;

  // App-to-app calls between the tenant's own users: neither inbound nor outbound.
  cdr.direction = 'INTERNAL';
  const media = text(call.mediaType);
  const channel = media !== null && Object.hasOwn(TRTC_MEDIA_CHANNEL, media) ? TRTC_MEDIA_CHANNEL[media] : undefined;
  cdr.channel = channel ?? 'VOIP';
  if (media !== null && channel === undefined) extras.mediaType = media;
  cdr.call_type = text(call.callType);
  cdr.room_id = text(call.roomId);

  cdr.caller = appUserParty(call.caller);
  const callerId = cdr.caller?.value ?? null;
  const seen = new Set<string>();
  const callees: Party[] = [];
  const rawCallees: unknown[] = Array.isArray(call.callees) ? call.callees : [];
  for (const id of rawCallees) {
    const p = appUserParty(id);
    // The caller is listed among the callees in the vendor's own sample; counting them as callee would inflate
    // group sizes. The verbatim list is kept when anything was dropped.
    if (p === null || p.value === callerId || seen.has(p.value)) continue;
    seen.add(p.value);
    callees.push(p);
  }
  cdr.callees = callees;
  if (callees.length !== rawCallees.length || (call.callees !== undefined && !Array.isArray(call.callees))) {
    extras.callees = extraValue(call.callees) ?? '';
  }

  cdr.started_at = started;
  cdr.answered_at = answered;
  cdr.ended_at = ended;
  cdr.ring_seconds = secondsBetween(started, answered ?? ended);
  cdr.total_seconds = secondsBetween(started, ended);
  cdr.talk_seconds = answered ? (secondsBetween(answered, ended) ?? 0) : 0;
  Object.assign(cdr, bill(cdr.talk_seconds, selectRule(ctx.options, envelope.vendor, envelope.tenant_id)));
  // Said on the row, as for LVMS: a 0 that is not a measured 0 must not pass for a call nobody talked on. That holds
  // for every call read as answered: normal_end, and an interrupt or unknown result whose acceptTs is after the start.
  if ((status.answered === 'yes' || answered !== null) && secondsBetween(answered, ended) === null) {
    extras['billing_note'] = 'answered without acceptTs or an endTs at or after it: talk and billable time unknown, recorded as 0';
  } else if (cdr.call_type === 'group' && status.answered === 'yes' && answered !== null && started !== null && answered.getTime() === started.getTime()) {
    // TRTC reports every group call as normal_end, and its unanswered records repeat startCallTs as acceptTs: such a
    // group call may have connected nobody. Billed as the vendor reports it (answered), but not silently.
    extras['billing_note'] = 'group call with acceptTs equal to startCallTs: TRTC reports every group call as normal_end, so it may have connected nobody; billed as answered';
  }

  cdr.end_status = status.status;
  cdr.vendor_status_code = status.code;
  cdr.vendor_status_text = status.text;
  cdr.hangup_side = status.side;
  return ok(cdr);
}
