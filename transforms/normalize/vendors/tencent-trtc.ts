// Tencent RTC TUICallKit call record (v1 get_records_by_filter / callback) → normalized CDR. Parties are app user
// ids, never phone numbers; group calls have several callees; "answered" comes from callResult.
import type { RawEnvelope } from '../../../core/envelope.ts';
import { bill, selectRule } from '../billing.ts';
import type { NormalizedCdr, Party } from '../cdr.ts';
import { TRTC_MEDIA_CHANNEL, endStatusFor } from '../codes/tencent-trtc.ts';
import type { NormalizeContext } from '../context.ts';
import { appUserParty } from '../parties.ts';
import { badRecord, ok } from '../result.ts';
import type { NormalizeResult } from '../result.ts';
import { emptyCdr, extraValue, isRecord, keepExtras, text } from '../skeleton.ts';
import { fromUnixSeconds, parseUnixSeconds, secondsBetween } from '../time.ts';

const CONSUMED = new Set(['callId', 'sdkAppId', 'mediaType', 'startCallTs', 'acceptTs', 'endTs', 'caller', 'callType', 'callResult', 'callees']);

export function mapTencentTrtc(record: unknown, envelope: RawEnvelope, ctx: NormalizeContext): NormalizeResult {
  if (!isRecord(record)) return badRecord('tencent-trtc record is not a JSON object');
  for (const field of ['startCallTs', 'acceptTs', 'endTs']) {
    const parsed = parseUnixSeconds(record[field]);
    if (!parsed.ok) return badRecord(`${field}: ${parsed.reason}`);
  }
  const cdr: NormalizedCdr = emptyCdr(envelope, text(record.callId) ?? '');
  const extras = cdr.extras;
  const started = fromUnixSeconds(record.startCallTs);
  const accepted = fromUnixSeconds(record.acceptTs);
  const ended = fromUnixSeconds(record.endTs);
  const status = endStatusFor(record.callResult);
  // An interrupted call counts as answered only if acceptTs is after the start: unanswered records repeat startCallTs.
  const answered =
    status.answered === 'yes' || (status.answered === 'if-accepted' && accepted !== null && started !== null && accepted > started)
      ? accepted
      : null;
  if (answered === null && accepted !== null) extras.acceptTs = extraValue(record.acceptTs)!;

  // App-to-app calls between the tenant's own users: neither inbound nor outbound.
  cdr.direction = 'INTERNAL';
  const media = text(record.mediaType);
  cdr.channel = (media !== null ? TRTC_MEDIA_CHANNEL[media] : undefined) ?? 'VOIP';
  if (media !== null && TRTC_MEDIA_CHANNEL[media] === undefined) extras.mediaType = media;
  cdr.call_type = text(record.callType);

  cdr.caller = appUserParty(record.caller);
  const callerId = cdr.caller?.value ?? null;
  const seen = new Set<string>();
  const callees: Party[] = [];
  const rawCallees: unknown[] = Array.isArray(record.callees) ? record.callees : [];
  for (const id of rawCallees) {
    const p = appUserParty(id);
    // The caller is listed among the callees in the vendor's own sample; counting them as callee would inflate
    // group sizes. The verbatim list is kept when anything was dropped.
    if (p === null || p.value === callerId || seen.has(p.value)) continue;
    seen.add(p.value);
    callees.push(p);
  }
  cdr.callees = callees;
  if (callees.length !== rawCallees.length || (record.callees !== undefined && !Array.isArray(record.callees))) {
    extras.callees = extraValue(record.callees) ?? '';
  }

  cdr.started_at = started;
  cdr.answered_at = answered;
  cdr.ended_at = ended;
  cdr.ring_seconds = secondsBetween(started, answered ?? ended);
  cdr.total_seconds = secondsBetween(started, ended);
  cdr.talk_seconds = answered ? (secondsBetween(answered, ended) ?? 0) : 0;
  Object.assign(cdr, bill(cdr.talk_seconds, selectRule(ctx.options, envelope.vendor, envelope.tenant_id)));

  cdr.end_status = status.status;
  cdr.vendor_status_code = status.code;
  cdr.vendor_status_text = status.text;
  cdr.hangup_side = status.side;
  keepExtras(extras, record, CONSUMED);
  return ok(cdr);
}
