// Vendor time formats → UTC instants. Vendors write "absent" as 0 (in any spelling), '' (or blanks) or a missing field;
// those become null, in Unix stamps as in naive local times. A value that is present but unparsable is reported
// separately (parse*) so a mapper can decide whether the record is bad.
import { quote } from '../../core/input-limits.ts';
import { GroupedMemo } from './memo.ts';

export type TimeParse = { ok: true; date: Date | null } | { ok: false; reason: string };

const ABSENT: TimeParse = { ok: true, date: null };
/** Year 10000: anything later is a unit mix-up (ms read as s), not a call time. */
const MAX_MS = 253_402_300_800_000;

function parseEpoch(v: unknown, unitMs: number, unitName: string): TimeParse {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return ABSENT;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v)) n = Number(v);
  else return { ok: false, reason: `not a Unix timestamp in ${unitName}: ${quote(v)}` };
  // Zero is absent in every spelling read as a number ('0.0', ' 0 ', '00'), not only 0 and '0': else it is 1970.
  if (n === 0) return ABSENT;
  const ms = Math.round(n * unitMs);
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_MS) {
    return { ok: false, reason: `Unix timestamp in ${unitName} out of range: ${quote(v)}` };
  }
  return { ok: true, date: new Date(ms) };
}

export const parseUnixSeconds = (v: unknown): TimeParse => parseEpoch(v, 1000, 'seconds');
export const parseUnixMillis = (v: unknown): TimeParse => parseEpoch(v, 1, 'milliseconds');

/** The decimal number in text[from, from + count), or -1 when a character there is not a digit 0-9. */
function digitsAt(text: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (!(d >= 0 && d <= 9)) return -1; // NaN too: past the end of text
    n = n * 10 + d;
  }
  return n;
}

/** Whether text has the shape 'yyyy-MM-dd HH:mm:ss' (or with a 'T'): the separators, at their places, in 19 characters. */
function naiveShape(text: string): boolean {
  const sep = text.charCodeAt(10);
  return text.length === 19 && text.charCodeAt(4) === 0x2d && text.charCodeAt(7) === 0x2d && (sep === 0x20 || sep === 0x54) && text.charCodeAt(13) === 0x3a && text.charCodeAt(16) === 0x3a;
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = offsetFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    offsetFormatters.set(timeZone, f);
  }
  return f;
}

/**
 * Intl.formatToParts costs ~20 µs; offsets only change at zone transitions, which all fall on quarter hours, so an
 * offset is memoised per zone and UTC quarter hour (bounded: dropped wholesale when full).
 */
const QUARTER_HOUR_MS = 900_000;
/** Per zone, offsets by UTC quarter-hour number. */
const offsetMemo = new GroupedMemo<number, number>(100_000);

/** Offset of `timeZone` from UTC at instant `ms`, in ms (Asia/Shanghai → +8 h). */
function zoneOffsetMs(timeZone: string, ms: number): number {
  const memo = offsetMemo.of(timeZone);
  const quarter = Math.floor(ms / QUARTER_HOUR_MS);
  const cached = memo.get(quarter);
  if (cached !== undefined) return cached;
  return offsetMemo.remember(memo, quarter, computeZoneOffsetMs(timeZone, ms));
}

function computeZoneOffsetMs(timeZone: string, ms: number): number {
  const parts: Record<string, number> = {};
  for (const p of formatterFor(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  let asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  if (parts.year! < 100) {
    // Date.UTC would read year 50 as 1950 (see parseNaiveLocal).
    const d = new Date(0);
    d.setUTCFullYear(parts.year!, parts.month! - 1, parts.day!);
    d.setUTCHours(parts.hour!, parts.minute!, parts.second!, 0);
    asUtc = d.getTime();
  }
  return asUtc - Math.floor(ms / 1000) * 1000;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * A naive 'yyyy-MM-dd HH:mm:ss' wall-clock time in `timeZone` (IANA name) → instant. Huawei writes UTC, LVMS writes
 * Beijing time. Intl instead of a date library: two offset lookups resolve the zone rule at that wall time.
 */
export function parseNaiveLocal(v: unknown, timeZone: string): TimeParse {
  if (v === undefined || v === null || v === '') return ABSENT;
  if (typeof v !== 'string') return { ok: false, reason: `not a 'yyyy-MM-dd HH:mm:ss' string: ${quote(v)}` };
  const text = v.trim();
  if (text === '') return ABSENT;
  // Read by character codes, as /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/ would: every time of every
  // Huawei and LVMS record comes here (ten a record), and the pattern's match and six Number() calls were most of it.
  const y = naiveShape(text) ? digitsAt(text, 0, 4) : -1;
  const mo = digitsAt(text, 5, 2);
  const d = digitsAt(text, 8, 2);
  const h = digitsAt(text, 11, 2);
  const mi = digitsAt(text, 14, 2);
  const s = digitsAt(text, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return { ok: false, reason: `not a 'yyyy-MM-dd HH:mm:ss' time: ${quote(v)}` };
  // A rolled-over date (2024-02-30 → March) is a corrupt field, not a time.
  if (!isCalendarTime(y, mo, d, h, mi, s)) return { ok: false, reason: `no such calendar time: ${quote(v)}` };
  const wall = utcMs(y, mo, d, h, mi, s);
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return { ok: true, date: new Date(wall) };
  if (!isValidTimeZone(timeZone)) return { ok: false, reason: `unknown time zone ${timeZone}` };
  const first = wall - zoneOffsetMs(timeZone, wall);
  const second = wall - zoneOffsetMs(timeZone, first);
  return { ok: true, date: new Date(second) };
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Whether the fields name a real time of the proleptic Gregorian calendar (Date's own): checked by arithmetic, as
 * building a Date and reading its fields back for every time of every record cost more than the rest of the parse.
 */
export function isCalendarTime(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return d <= (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]!);
}

/** The instant of a wall-clock time read as UTC. */
function utcMs(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  // Not Date.UTC(y, …) alone: it reads years 0-99 as 1900-1999, so "0050-06-15" would silently become 1950.
  // setUTCFullYear takes the year as written; the plausibility rules (consistency.ts) then refuse a call in year 50.
  if (y >= 100) return Date.UTC(y, mo - 1, d, h, mi, s);
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return date.getTime();
}

const dateOf = (p: TimeParse): Date | null => (p.ok ? p.date : null);

/** Unix seconds → Date; absent and unparsable both give null (use parseUnixSeconds to tell them apart). */
export const fromUnixSeconds = (v: unknown): Date | null => dateOf(parseUnixSeconds(v));
/** Unix milliseconds → Date (CCC IVR key presses). */
export const fromUnixMillis = (v: unknown): Date | null => dateOf(parseUnixMillis(v));
/** Naive wall-clock string in `timeZone` → Date ('UTC' for Huawei, Asia/Shanghai for LVMS). */
export const fromNaiveLocal = (v: unknown, timeZone: string): Date | null => dateOf(parseNaiveLocal(v, timeZone));

/**
 * Whole seconds from `from` to `to`, a started second counted; null when either end is absent or when `to` is before
 * `from` (inconsistent vendor clocks must not produce negative durations or bills). Rounded up, not to the nearest:
 * the talk time is what billing rounds up, so a 60.4 s talk between fractional stamps must not reach it as 60 s.
 * Stamps are whole milliseconds (parseEpoch), so float noise in a fractional stamp is never a started second.
 */
export function secondsBetween(from: Date | null, to: Date | null): number | null {
  if (!from || !to) return null;
  const ms = to.getTime() - from.getTime();
  return ms < 0 ? null : Math.ceil(ms / 1000);
}
