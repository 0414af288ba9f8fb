// Consistency rules a real CDR obeys (MAPPING.md "Consistency rules"). A normalized record that breaks one is
// impossible as a call — answered before it started, a vendor duration its own timestamps contradict, a call in year
// 50 or next week — and is dead-lettered with the rule and the fields named, never billed. Pure; the clock comes in.
import type { Vendor } from '../../core/topology.ts';
import type { NormalizedCdr } from './cdr.ts';

/** Vendor clocks write whole seconds and the stamps of one call come from different components: ±2 s is rounding. */
export const ORDER_TOLERANCE_SECONDS = 2;
/** A vendor's own talk duration against its own answer→end stamps (both whole seconds, from different clocks). */
export const DURATION_TOLERANCE_SECONDS = 5;
/**
 * No call is longer: Huawei's binding maximum is 1,440 min, the other vendors cut calls far earlier. A talk time is
 * allowed the duration tolerance beyond it: a call cut at exactly 24 h measures up to that much more on whole-second
 * stamps from different clocks (or in a vendor's own duration the duration-agrees rule accepts).
 */
export const MAX_CALL_SECONDS = 86_400;
/**
 * Nothing in any vendor's history is older (all four platforms started well after 2000): midnight of 2000-01-01 in the
 * easternmost zone (UTC+14), so a vendor's local "2000-01-01 00:00:00" (the LVMS doc's own sample) still passes.
 */
export const EARLIEST_PLAUSIBLE = new Date('1999-12-31T10:00:00.000Z');
/** A call cannot end after the record arrived; one day covers every vendor clock and zone mistake short of a bug. */
export const FUTURE_TOLERANCE_SECONDS = 86_400;

type TimeField = 'started_at' | 'queued_at' | 'ringing_at' | 'answered_at' | 'ended_at';

/** The vendor field behind each time column, so a reason points at what the vendor wrote. */
const SOURCES: Readonly<Record<Vendor, Readonly<Record<TimeField | 'talk_seconds', string>>>> = {
  'tencent-ccc': {
    started_at: 'StartTimestamp',
    queued_at: 'QueuedTimestamp',
    ringing_at: 'RingTimestamp',
    answered_at: 'AcceptTimestamp',
    ended_at: 'EndedTimestamp',
    talk_seconds: 'Duration',
  },
  'tencent-trtc': { started_at: 'startCallTs', queued_at: '-', ringing_at: '-', answered_at: 'acceptTs', ended_at: 'endTs', talk_seconds: 'endTs − acceptTs' },
  'huawei-privatenumber': {
    started_at: 'callInTime',
    queued_at: '-',
    ringing_at: 'fwdAlertingTime',
    answered_at: 'fwdAnswerTime',
    ended_at: 'callEndTime',
    talk_seconds: 'callEndTime − fwdAnswerTime',
  },
  'alibaba-lvms': { started_at: 'start_time', queued_at: '-', ringing_at: '-', answered_at: '-', ended_at: 'end_time', talk_seconds: 'chat_duration' },
};

const TIME_FIELDS = ['started_at', 'queued_at', 'ringing_at', 'answered_at', 'ended_at'] as const;
const LEG_TIME_FIELDS = ['started_at', 'ringing_at', 'answered_at', 'ended_at'] as const;
/** Pairs of columns whose first cannot come (beyond the tolerance) after the second. */
const TIME_ORDER: readonly (readonly [TimeField, TimeField])[] = [
  ['started_at', 'queued_at'],
  ['started_at', 'ringing_at'],
  ['started_at', 'answered_at'],
  ['started_at', 'ended_at'],
  ['queued_at', 'ended_at'],
  ['ringing_at', 'answered_at'],
  ['ringing_at', 'ended_at'],
  ['answered_at', 'ended_at'],
];

/** Which side of the plausible range a time falls on, or null when it is absent or inside. */
function outOfRange(d: Date | null, latest: number): 'early' | 'late' | null {
  if (d === null) return null;
  const ms = d.getTime();
  if (!Number.isFinite(ms) || ms < EARLIEST_PLAUSIBLE.getTime()) return 'early';
  return ms > latest ? 'late' : null;
}

function timeRangeReason(side: 'early' | 'late', name: string, d: Date, reference: Date): string {
  return side === 'early'
    ? `consistency rule time-range: ${name} ${iso(d)} is before ${EARLIEST_PLAUSIBLE.toISOString()}`
    : `consistency rule time-range: ${name} ${iso(d)} is more than ${FUTURE_TOLERANCE_SECONDS / 3600} h after the record was received (${iso(reference)})`;
}

const tooLong = `is longer than ${MAX_CALL_SECONDS} s (24 h; tolerance ${DURATION_TOLERANCE_SECONDS} s)`;
const named = (cdr: NormalizedCdr, field: TimeField | 'talk_seconds') => `${field} (${SOURCES[cdr.vendor]?.[field] ?? field})`;
const iso = (d: Date) => (Number.isFinite(d.getTime()) ? d.toISOString() : 'an invalid date');

/**
 * The first rule `cdr` breaks, as a reason naming the rule and the fields, or null. `reference` is the instant the
 * record was received (the envelope's received_at): nothing in it can have happened more than a day after that.
 */
export function consistencyProblem(cdr: NormalizedCdr, reference: Date): string | null {
  const latest = reference.getTime() + FUTURE_TOLERANCE_SECONDS * 1000;
  // Names are worded only for the time that breaks the rule: building them for every time of every record cost more
  // than the checks. The order (columns, legs, key presses) is the order the first problem is reported in.
  for (const field of TIME_FIELDS) {
    const side = outOfRange(cdr[field], latest);
    if (side !== null) return timeRangeReason(side, named(cdr, field), cdr[field]!, reference);
  }
  for (const leg of cdr.legs) {
    for (const field of LEG_TIME_FIELDS) {
      const side = outOfRange(leg[field], latest);
      if (side !== null) return timeRangeReason(side, `legs[${leg.sequence}].${field}`, leg[field]!, reference);
    }
  }
  for (let i = 0; i < cdr.ivr_keys.length; i++) {
    const at = cdr.ivr_keys[i]!.at;
    const side = outOfRange(at, latest);
    if (side !== null) return timeRangeReason(side, `ivr_keys[${i}].at`, at!, reference);
  }

  const tol = ORDER_TOLERANCE_SECONDS * 1000;
  for (const [first, then] of TIME_ORDER) {
    const a = cdr[first];
    const b = cdr[then];
    if (a === null || b === null) continue;
    const early = a.getTime() - b.getTime();
    if (early > tol) {
      return `consistency rule time-order: ${named(cdr, then)} ${iso(b)} is ${Math.round(early / 1000)} s before ${named(cdr, first)} ${iso(a)} (tolerance ${ORDER_TOLERANCE_SECONDS} s)`;
    }
  }

  const longest = MAX_CALL_SECONDS + DURATION_TOLERANCE_SECONDS;
  for (const leg of cdr.legs) {
    if (leg.talk_seconds > longest) {
      return `consistency rule max-call-length: legs[${leg.sequence}].talk_seconds = ${leg.talk_seconds} s ${tooLong}`;
    }
  }

  // The billed talk time against the call's own stamps: the answered span when there is one, else (LVMS, which
  // has no answer stamp) the whole call must be at least as long as the talk. An answered call's talk is checked even
  // when it is 0: a vendor Duration of 0 on a call its own stamps show talking for a minute would otherwise bill
  // nothing, while a Duration of 1 on the same call is refused.
  const dt = DURATION_TOLERANCE_SECONDS;
  if (cdr.answered_at !== null && cdr.ended_at !== null) {
    const span = Math.round((cdr.ended_at.getTime() - cdr.answered_at.getTime()) / 1000);
    if (Math.abs(cdr.talk_seconds - span) > dt) {
      return `consistency rule duration-agrees: ${named(cdr, 'talk_seconds')} = ${cdr.talk_seconds} s but ${named(cdr, 'answered_at')} → ${named(cdr, 'ended_at')} is ${span} s (tolerance ${dt} s)`;
    }
  } else if (cdr.talk_seconds > 0 && cdr.started_at !== null && cdr.ended_at !== null) {
    const span = Math.round((cdr.ended_at.getTime() - cdr.started_at.getTime()) / 1000);
    if (cdr.talk_seconds > span + dt) {
      return `consistency rule duration-agrees: ${named(cdr, 'talk_seconds')} = ${cdr.talk_seconds} s but the whole call ${named(cdr, 'started_at')} → ${named(cdr, 'ended_at')} is ${span} s (tolerance ${dt} s)`;
    }
  }
  // Only talk is capped: it is what is billed. An unanswered record may span days (TRTC closes offline calls late,
  // as in its own doc samples) and bills 0 either way.
  if (cdr.talk_seconds > longest) {
    return `consistency rule max-call-length: ${named(cdr, 'talk_seconds')} = ${cdr.talk_seconds} s ${tooLong}`;
  }

  return null;
}
