// Tencent CCC TelCdrInfo (DescribeProtectedTelCdr / DescribeTelCdr / CDR push) → normalized CDR.
// Times are Unix seconds except IVR key presses (ms); an empty Caller/Callee is a protected number, never a number;
// SeatUser is the last agent, ServeParticipants the legs; deprecated duplicates are read when the new field is absent.
import type { RawEnvelope } from '../../../core/envelope.ts';
import { bill, selectRule } from '../billing.ts';
import type { IvrKey, Leg, NormalizedCdr, Party } from '../cdr.ts';
import {
  CCC_CALL_TYPE,
  CCC_DIRECTION,
  CCC_END_CODE_DIRECTION,
  CCC_HUNG_UP_SIDE,
  CCC_IVR_END_CODES,
  CCC_VOIP_END_CODES,
  endStatusFor,
  unifiedSide,
} from '../codes/tencent-ccc.ts';
import { DURATION_TOLERANCE_SECONDS } from '../consistency.ts';
import type { NormalizeContext, NormalizeOptions } from '../context.ts';
import { phoneParty, protectedParty } from '../parties.ts';
import { badRecord, ok } from '../result.ts';
import type { NormalizeResult } from '../result.ts';
import { count, emptyCdr, extraValue, idText, isRecord, keepExtras, recordingUrl, startedSeconds, text } from '../skeleton.ts';
import { fromUnixMillis, fromUnixSeconds, parseUnixSeconds, secondsBetween } from '../time.ts';

/** Fields whose whole value lands in columns; everything else is kept in extras under its own name. */
const CONSUMED = new Set([
  'SessionId',
  'SdkAppId',
  'Caller',
  'Callee',
  'ProtectedCaller',
  'ProtectedCallee',
  'CallerLocation',
  'StartTimestamp',
  'QueuedTimestamp',
  'RingTimestamp',
  'AcceptTimestamp',
  'EndedTimestamp',
  'Direction',
  'CallType',
  'RecordURL',
  'RecordId',
  'SeatUser',
  'SkillGroup',
  'SkillGroupId',
  'EndStatus',
  'EndStatusString',
  'HungUpSide',
  'IVRKeyPressed',
  'IVRKeyPressedEx',
  'PostIVRKeyPressed',
  'PostIVRKeyPressedEx',
  'ServeParticipants',
  // Handled explicitly below (kept only when they add information).
  'Time',
  'Duration',
  'IVRDuration',
  'UUI',
  'Uui',
]);

const SEAT_USER_CONSUMED = new Set(['Mail', 'UserId', 'Name', 'Phone']);
const LEG_CONSUMED = new Set([
  'Sequence',
  'Type',
  'Mail',
  'Phone',
  'SkillGroupId',
  'SkillGroupName',
  'StartTimestamp',
  'RingTimestamp',
  'AcceptTimestamp',
  'EndedTimestamp',
  'EndStatusString',
  'TransferFrom',
  'TransferTo',
  'RecordURL',
]);
const KEY_CONSUMED = new Set(['Key', 'Label', 'Timestamp', 'NodeLabel']);

/** An agent's phone: E.164 when parseable, hashed under the PII key like every other number. */
function agentPhone(raw: unknown, options: NormalizeOptions): string | null {
  return phoneParty(raw, options)?.value ?? null;
}

function party(number: unknown, protectedId: unknown, location: string | null, options: NormalizeOptions): Party | null {
  return phoneParty(number, options, location) ?? protectedParty(protectedId, location);
}

function legsOf(raw: unknown, extras: Record<string, string>, options: NormalizeOptions): Leg[] {
  if (!Array.isArray(raw)) return [];
  const legs: Leg[] = [];
  const perSequence = new Map<number, number>();
  raw.forEach((p: unknown, index) => {
    if (!isRecord(p)) return;
    const started = fromUnixSeconds(p.StartTimestamp);
    const answered = fromUnixSeconds(p.AcceptTimestamp);
    const ended = fromUnixSeconds(p.EndedTimestamp);
    const vendorSequence = count(p.Sequence);
    const sequence = vendorSequence ?? index;
    legs.push({
      sequence,
      type: text(p.Type),
      agent: text(p.Mail),
      agent_phone: agentPhone(p.Phone, options),
      skill_group_id: idText(p.SkillGroupId),
      skill_group_name: text(p.SkillGroupName),
      started_at: started,
      ringing_at: fromUnixSeconds(p.RingTimestamp),
      answered_at: answered,
      ended_at: ended,
      talk_seconds: answered ? (secondsBetween(answered, ended) ?? 0) : 0,
      end_status_text: text(p.EndStatusString),
      transfer_from: text(p.TransferFrom),
      transfer_to: text(p.TransferTo),
      recording_url: recordingUrl(p.RecordURL),
    });
    // Legs sharing a Sequence (or one without it falling on another's) would overwrite each other's leftovers and
    // mix two legs under one path: the nth leg of a Sequence, in the vendor's order, which the stable sort below
    // keeps among equal Sequences, is `<Sequence>#<n>` from the second on.
    const nth = (perSequence.get(sequence) ?? 0) + 1;
    perSequence.set(sequence, nth);
    const prefix = `ServeParticipants.${nth === 1 ? sequence : `${sequence}#${nth}`}.`;
    keepExtras(extras, p, LEG_CONSUMED, prefix);
    // A Sequence that is no whole number (1.5, "abc") is replaced by the position: its value would be lost otherwise.
    if (vendorSequence === null && p.Sequence !== undefined && p.Sequence !== null) extras[`${prefix}Sequence`] = extraValue(p.Sequence)!;
  });
  return legs.sort((a, b) => a.sequence - b.sequence);
}

function keysOf(raw: unknown, phase: IvrKey['phase'], field: string, extras: Record<string, string>): IvrKey[] {
  if (!Array.isArray(raw)) return [];
  const keys: IvrKey[] = [];
  raw.forEach((k: unknown, index) => {
    // The deprecated IVRKeyPressed is a plain string list.
    const element = isRecord(k) ? k : { Key: k };
    const key = text(element.Key);
    if (key === null) return;
    keys.push({
      phase,
      key,
      label: text(element.Label),
      at: fromUnixMillis(element.Timestamp),
      node_label: text(element.NodeLabel),
    });
    keepExtras(extras, element, KEY_CONSUMED, `${field}.${index}.`);
  });
  return keys;
}

const nonEmptyArray = (v: unknown): boolean => Array.isArray(v) && v.length > 0;

export function mapTencentCcc(record: unknown, envelope: RawEnvelope, ctx: NormalizeContext): NormalizeResult {
  if (!isRecord(record)) return badRecord('tencent-ccc record is not a JSON object');
  const options = ctx.options;
  const sessionId = text(record.SessionId) ?? '';

  // A timestamp that is present but unreadable would silently change talk time and the bill: reject the record.
  for (const field of ['Time', 'StartTimestamp', 'QueuedTimestamp', 'RingTimestamp', 'AcceptTimestamp', 'EndedTimestamp']) {
    const parsed = parseUnixSeconds(record[field]);
    if (!parsed.ok) return badRecord(`${field}: ${parsed.reason}`);
  }
  const started = fromUnixSeconds(record.StartTimestamp) ?? fromUnixSeconds(record.Time);
  const queued = fromUnixSeconds(record.QueuedTimestamp);
  const ringing = fromUnixSeconds(record.RingTimestamp);
  const answered = fromUnixSeconds(record.AcceptTimestamp);
  const ended = fromUnixSeconds(record.EndedTimestamp);

  const cdr: NormalizedCdr = emptyCdr(envelope, sessionId);
  const extras = cdr.extras;
  // The vendor's leftovers first, so what the mapping writes (billing_note, ivr_note) is never replaced by a vendor
  // field of the same name: a `"billing_note": ""` used to erase the note that a 0 was no measured talk time.
  keepExtras(extras, record, CONSUMED);

  const callType = text(record.CallType);
  const byCallType = callType === null ? undefined : CCC_CALL_TYPE[callType];
  const byDirection = CCC_DIRECTION[text(record.Direction) ?? ''];
  const status = endStatusFor(record.EndStatus, record.EndStatusString);
  cdr.call_type = callType;
  // Only when the record's own fields say nothing: an end code one direction alone can have (the code table's scope).
  const byEndCode = status.code === null ? undefined : CCC_END_CODE_DIRECTION[status.code];
  cdr.direction = byCallType?.direction ?? byDirection ?? byEndCode ?? 'UNKNOWN';
  // A Direction the row does not show (unrecognised, contradicted by CallType, or narrowed to INTERNAL by it) would
  // otherwise vanish behind the direction taken from CallType or the end code, as a differing Time or Duration would.
  const direction = extraValue(record.Direction);
  if (direction !== null && byDirection !== cdr.direction) extras.Direction = direction;
  // Without CallType (older records) the CDR API only lists telephone calls, except the VoIP-only end codes.
  cdr.channel = byCallType?.channel ?? (status.code !== null && CCC_VOIP_END_CODES.has(status.code) ? 'VOIP' : 'PSTN');

  const location = text(record.CallerLocation);
  cdr.caller = party(record.Caller, record.ProtectedCaller, location, options);
  const callee = party(record.Callee, record.ProtectedCallee, null, options);
  cdr.callees = callee ? [callee] : [];
  // With both a number and a protection id the number is the party; the id must still survive for joins with
  // protected-API data of the same call.
  if (cdr.caller?.type === 'PHONE' && text(record.ProtectedCaller) !== null) extras.ProtectedCaller = text(record.ProtectedCaller)!;
  if (callee?.type === 'PHONE' && text(record.ProtectedCallee) !== null) extras.ProtectedCallee = text(record.ProtectedCallee)!;

  cdr.started_at = started;
  cdr.queued_at = queued;
  cdr.ringing_at = ringing;
  cdr.answered_at = answered;
  cdr.ended_at = ended;
  cdr.ring_seconds = secondsBetween(ringing, answered ?? ended);
  cdr.queue_seconds = secondsBetween(queued, ringing ?? answered ?? ended);
  // IVRDuration is Queued − Start, so a caller who never left the IVR gets 0 from the vendor after a whole call spent
  // there: that time is the call's (null when its end cannot be read), unless the vendor measured one after all.
  const vendorIvr = startedSeconds(record.IVRDuration);
  const stampedIvr = secondsBetween(started, queued);
  const endedInIvr = cdr.direction === 'INBOUND' && queued === null && status.code !== null && CCC_IVR_END_CODES.has(status.code);
  cdr.ivr_seconds = endedInIvr && !vendorIvr ? secondsBetween(started, ended) : (vendorIvr ?? stampedIvr);
  cdr.total_seconds = secondsBetween(started, ended);
  // The caller cannot have spent longer in the IVR than in the call, nor other than Queued − Start (the doc's own
  // definition of IVRDuration), but IVR time is not billed: the vendor's figure stays (it is what CCC's own reports
  // show) and one note says which stamps disagree, as billing_note does for talk, so one key marks the rows to leave out.
  const disagreements: string[] = [];
  if (vendorIvr && cdr.total_seconds !== null && vendorIvr > cdr.total_seconds + DURATION_TOLERANCE_SECONDS) {
    disagreements.push(`IVRDuration is longer than the call (total_seconds) by more than ${DURATION_TOLERANCE_SECONDS} s`);
  }
  if (vendorIvr !== null && stampedIvr !== null && Math.abs(vendorIvr - stampedIvr) > DURATION_TOLERANCE_SECONDS) {
    disagreements.push(`IVRDuration differs from queued_at − started_at by more than ${DURATION_TOLERANCE_SECONDS} s`);
  }
  if (disagreements.length > 0) extras['ivr_note'] = `${disagreements.join('; ')}: ivr_seconds is the vendor's figure`;
  // Duration is CCC's own service time (Ended − Accept); billing follows the vendor's figure when it gives one.
  const duration = startedSeconds(record.Duration);
  cdr.talk_seconds = answered ? (duration ?? secondsBetween(answered, ended) ?? 0) : 0;
  Object.assign(cdr, bill(cdr.talk_seconds, selectRule(options, envelope.vendor, envelope.tenant_id)));
  // Said on the row, as for LVMS: a 0 that is not a measured 0 must not pass for a call nobody talked on.
  if (answered !== null && duration === null && secondsBetween(answered, ended) === null) {
    extras['billing_note'] = 'answered without Duration or an EndedTimestamp at or after AcceptTimestamp: talk and billable time unknown, recorded as 0';
  }
  // A fractional Duration is kept as written too: talk_seconds holds it rounded up.
  if (record.Duration !== undefined && record.Duration !== null && count(record.Duration) !== cdr.talk_seconds) {
    extras.Duration = extraValue(record.Duration)!;
  }
  if (record.IVRDuration !== undefined && record.IVRDuration !== null && count(record.IVRDuration) === null) {
    extras.IVRDuration = extraValue(record.IVRDuration)!;
  }
  const time = fromUnixSeconds(record.Time);
  if (time && started && time.getTime() !== started.getTime()) extras.Time = extraValue(record.Time)!;

  cdr.end_status = status.status;
  cdr.vendor_status_code = status.code;
  cdr.vendor_status_text = status.text;
  // A HungUpSide that is neither text nor a number (true, an object) is as unrecognised as an unknown word: it is not
  // absent, so the end code's side must not stand in for it. An empty one is absent, as vendors leave fields unset.
  const hungUp = text(record.HungUpSide) ?? (typeof record.HungUpSide === 'string' ? null : extraValue(record.HungUpSide));
  const vendorSide = hungUp === null ? undefined : CCC_HUNG_UP_SIDE[hungUp];
  cdr.hangup_side = hungUp !== null && vendorSide === undefined ? 'UNKNOWN' : unifiedSide(vendorSide ?? status.side, cdr.direction);
  // An unrecognised HungUpSide, or a "user" that names no party (an extension call, a call of no known direction),
  // would otherwise vanish behind UNKNOWN; a side taken from the end code stays readable in vendor_status_code.
  if (hungUp !== null && cdr.hangup_side === 'UNKNOWN') extras.HungUpSide = hungUp;

  const seat = record.SeatUser;
  if (isRecord(seat)) {
    cdr.agent_id = text(seat.Mail) ?? text(seat.UserId);
    cdr.agent_name = text(seat.Name);
    if (text(seat.Mail) !== null && text(seat.UserId) !== null) extras['SeatUser.UserId'] = text(seat.UserId)!;
    const phone = agentPhone(seat.Phone, options);
    if (phone !== null) extras['SeatUser.Phone'] = phone;
    keepExtras(extras, seat, SEAT_USER_CONSUMED, 'SeatUser.');
  } else if (seat !== undefined && seat !== null) {
    extras.SeatUser = extraValue(seat)!;
  }
  // Unanswered calls have no serving group; the group they queued in is what answer rates by skill group need.
  // The queue group stays in extras as well, since it may differ from the serving group after a transfer.
  const servingGroup = idText(record.SkillGroupId);
  cdr.skill_group_id = servingGroup ?? idText(record.QueuedSkillGroupId);
  cdr.skill_group_name = servingGroup !== null ? text(record.SkillGroup) : (text(record.QueuedSkillGroupName) ?? text(record.SkillGroup));

  cdr.legs = legsOf(record.ServeParticipants, extras, options);
  const ivr = nonEmptyArray(record.IVRKeyPressedEx)
    ? keysOf(record.IVRKeyPressedEx, 'IVR', 'IVRKeyPressedEx', extras)
    : keysOf(record.IVRKeyPressed, 'IVR', 'IVRKeyPressed', extras);
  const survey = nonEmptyArray(record.PostIVRKeyPressedEx)
    ? keysOf(record.PostIVRKeyPressedEx, 'SURVEY', 'PostIVRKeyPressedEx', extras)
    : keysOf(record.PostIVRKeyPressed, 'SURVEY', 'PostIVRKeyPressed', extras);
  cdr.ivr_keys = [...ivr, ...survey];

  cdr.recording_url = recordingUrl(record.RecordURL);
  cdr.recording_ref = text(record.RecordId);
  const uui = extraValue(record.UUI) ?? extraValue(record.Uui);
  if (uui !== null) extras.UUI = uui;
  return ok(cdr);
}
