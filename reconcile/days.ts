// Which calls a reconcile counts, and on which day: a call belongs to the day of its call time (started_at, or
// received_at when the vendor gave no start: the same `call_time` ClickHouse and its views bucket by), in UTC by
// default or at a fixed whole-hour offset (`--tz +08:00`: the tenant-local day of a vendor that bills in GMT+8).
// Calls that started after the cut-off (now - settle) are left out everywhere: they may still be running or in flight.
import { CdrflowError } from '../core/errors.ts';
import { quote } from '../core/input-limits.ts';

const DAY_MS = 86_400_000;

export interface DayScope {
  /** First day, YYYY-MM-DD (inclusive). */
  from: string;
  /** Last day, YYYY-MM-DD (inclusive). */
  to: string;
  /** Offset of the reconciled day from UTC in minutes (0 = UTC days; 480 = GMT+8). Whole hours only. */
  tzOffsetMinutes: number;
  /** Calls with a call time at or after this instant (ms) are not reconciled. */
  cutoffMs: number;
}

/** The days ClickHouse's Date holds (reconcile_runs.day, the views' days): outside them a day is stored as another. */
export const FIRST_DAY = '1970-01-01';
export const LAST_DAY = '2149-06-06';

export function parseDay(flag: string, value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`)) || new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value) {
    throw new CdrflowError('config', `${flag} needs a day as YYYY-MM-DD, got ${quote(value)}`);
  }
  return value;
}

/** `+08:00`, `-05:00`, `UTC`, `Z` → minutes; whole hours only (the hourly view is the finest bucket ClickHouse keeps). */
export function parseTzOffset(value: string, flag = '--tz'): number {
  if (value === 'UTC' || value === 'Z' || value === '+00:00') return 0;
  // Minutes 00-59: +08:60 was taken as +09:00 and -00:60 as -01:00.
  const m = /^([+-])(\d{2}):?([0-5]\d)$/.exec(value);
  if (!m) throw new CdrflowError('config', `${flag} needs an offset like +08:00 (or UTC), got ${quote(value)}`);
  const minutes = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  if (!isTzOffset(minutes)) throw new CdrflowError('config', `${flag} must be a whole-hour offset within ±14:00, got ${quote(value)}`);
  // -00:00 is UTC days like +00:00, as checkTzMinutes has JSON's -0.
  return minutes === 0 ? 0 : minutes;
}

/** An offset in minutes a reconcile can use: whole hours within ±14:00 (-840..840). */
export const isTzOffset = (minutes: number) => Number.isInteger(minutes) && minutes % 60 === 0 && Math.abs(minutes) <= 14 * 60;

/** An offset given in minutes (`tzOffsetMinutes` of POST /reconcile), checked as `parseTzOffset` checks `--tz`. */
export function checkTzMinutes(name: string, minutes: number): number {
  if (!isTzOffset(minutes)) throw new CdrflowError('config', `${name} must be a whole-hour offset in minutes within ±840 (480 = +08:00), got ${String(minutes)}`);
  // JSON's -0 is UTC days like 0.
  return minutes === 0 ? 0 : minutes;
}

export const formatTz = (minutes: number) => (minutes === 0 ? 'UTC' : `${minutes < 0 ? '-' : '+'}${String(Math.abs(minutes) / 60).padStart(2, '0')}:00`);

/** The reconciled day of an instant. */
export function dayOf(ms: number, tzOffsetMinutes: number): string {
  return new Date(ms + tzOffsetMinutes * 60_000).toISOString().slice(0, 10);
}

/** [start, end) of a day as UTC instants (ms). */
export function dayBounds(day: string, tzOffsetMinutes: number): { start: number; end: number } {
  const start = Date.parse(`${day}T00:00:00Z`) - tzOffsetMinutes * 60_000;
  return { start, end: start + DAY_MS };
}

/**
 * The `cdr` table's month partitions (YYYYMM of the call time in UTC) that hold the calls of a day at
 * `tzOffsetMinutes`: one, or two when the offset moves the day's edge across a month's (at +08:00, 1 December begins
 * on 30 November, 16:00 UTC).
 */
export function utcMonthsOfDay(day: string, tzOffsetMinutes: number): string[] {
  const { start, end } = dayBounds(day, tzOffsetMinutes);
  const month = (ms: number) => new Date(ms).toISOString().slice(0, 7).replace('-', '');
  return [...new Set([month(start), month(end - 1)])];
}

export function daysOf(scope: Pick<DayScope, 'from' | 'to'>): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${scope.from}T00:00:00Z`); t <= Date.parse(`${scope.to}T00:00:00Z`); t += DAY_MS) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** [start, end) of the whole scope, end clipped at the cut-off. */
export function scopeBounds(scope: DayScope): { start: number; end: number } {
  const start = dayBounds(scope.from, scope.tzOffsetMinutes).start;
  return { start, end: Math.min(dayBounds(scope.to, scope.tzOffsetMinutes).end, scope.cutoffMs) };
}

/** The day a call time falls in, or undefined when it is outside the scope or after the cut-off. */
export function bucketDay(scope: DayScope, callTimeMs: number): string | undefined {
  if (!(callTimeMs < scope.cutoffMs)) return undefined;
  const day = dayOf(callTimeMs, scope.tzOffsetMinutes);
  return day >= scope.from && day <= scope.to ? day : undefined;
}

/** The cut-off for a settle time: now - settle, to the second. */
export function cutoffFor(nowMs: number, settleSec: number): number {
  const t = nowMs - settleSec * 1000;
  return t - (t % 1000);
}

/** The hourly view can only be compared up to a whole hour: the last one at or before the cut-off. */
export const hourFloor = (ms: number) => ms - (ms % 3_600_000);

/** Today and yesterday in the scope's day convention (for `--from yesterday` and the schedule). */
export function relativeDay(nowMs: number, tzOffsetMinutes: number, daysBack: number): string {
  return dayOf(nowMs - daysBack * DAY_MS, tzOffsetMinutes);
}
