import { describe, expect, it } from 'vitest';
import {
  fromNaiveLocal,
  fromUnixMillis,
  fromUnixSeconds,
  isCalendarTime,
  isValidTimeZone,
  parseNaiveLocal,
  parseUnixSeconds,
  secondsBetween,
} from './time.ts';

describe('Unix timestamps', () => {
  it('reads seconds and milliseconds as UTC instants', () => {
    expect(fromUnixSeconds(1700000000)?.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    expect(fromUnixSeconds('1700000000')?.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    expect(fromUnixMillis(1700000000123)?.toISOString()).toBe('2023-11-14T22:13:20.123Z');
  });
  it('keeps the milliseconds of fractional stamps (numbers and decimal strings), rounding only below them', () => {
    expect(fromUnixSeconds(1700000000.6)?.toISOString()).toBe('2023-11-14T22:13:20.600Z');
    expect(fromUnixSeconds('1700000000.6')?.toISOString()).toBe('2023-11-14T22:13:20.600Z');
    expect(fromUnixSeconds(1700000000.1234)?.toISOString()).toBe('2023-11-14T22:13:20.123Z');
    expect(fromUnixMillis(1700000000123.7)?.toISOString()).toBe('2023-11-14T22:13:20.124Z');
    expect(fromUnixMillis('1700000000123.2')?.toISOString()).toBe('2023-11-14T22:13:20.123Z');
  });
  it('treats 0, empty and missing as absent, not as 1970', () => {
    for (const v of [0, '0', '', '  ', null, undefined, -0, 0.0, '0.0', '0.00', ' 0 ', '00', '000.000']) {
      expect(parseUnixSeconds(v)).toEqual({ ok: true, date: null });
    }
  });
  it('tells unparsable values apart from absent ones', () => {
    expect(parseUnixSeconds('yesterday').ok).toBe(false);
    expect(parseUnixSeconds(-5).ok).toBe(false);
    expect(parseUnixSeconds(1700000000123000).ok).toBe(false); // µs read as s: beyond year 9999
    expect(fromUnixSeconds('yesterday')).toBeNull();
  });
});

describe('naive local times', () => {
  it('reads Huawei times as UTC', () => {
    expect(fromNaiveLocal('2019-01-24 02:30:03', 'UTC')?.toISOString()).toBe('2019-01-24T02:30:03.000Z');
  });
  it('reads LVMS times as Beijing time (UTC+8)', () => {
    expect(fromNaiveLocal('2024-03-01 08:00:00', 'Asia/Shanghai')?.toISOString()).toBe('2024-03-01T00:00:00.000Z');
    expect(fromNaiveLocal('2024-01-01 07:59:59', 'Asia/Shanghai')?.toISOString()).toBe('2023-12-31T23:59:59.000Z');
  });
  it('follows daylight saving in zones that have it', () => {
    expect(fromNaiveLocal('2024-07-01 12:00:00', 'Europe/Berlin')?.toISOString()).toBe('2024-07-01T10:00:00.000Z');
    expect(fromNaiveLocal('2024-01-01 12:00:00', 'Europe/Berlin')?.toISOString()).toBe('2024-01-01T11:00:00.000Z');
  });
  it('rejects impossible dates and other formats, and knows absent', () => {
    expect(parseNaiveLocal('2024-02-30 10:00:00', 'UTC').ok).toBe(false);
    expect(parseNaiveLocal('2024-02-01 24:00:00', 'UTC').ok).toBe(false);
    expect(parseNaiveLocal('01/02/2024 10:00', 'UTC').ok).toBe(false);
    expect(parseNaiveLocal(20240201, 'UTC').ok).toBe(false);
    expect(parseNaiveLocal('2024-02-01 10:00:00', 'Mars/Olympus').ok).toBe(false);
    expect(parseNaiveLocal('', 'UTC')).toEqual({ ok: true, date: null });
    expect(parseNaiveLocal('  ', 'UTC')).toEqual({ ok: true, date: null });
  });
  it('validates zone names', () => {
    expect(isValidTimeZone('Asia/Shanghai')).toBe(true);
    expect(isValidTimeZone('GMT+8 please')).toBe(false);
  });
});

describe('secondsBetween', () => {
  const t = (s: number) => new Date(s * 1000);
  it('counts whole seconds and refuses negative or open intervals', () => {
    expect(secondsBetween(t(100), t(161))).toBe(61);
    expect(secondsBetween(t(100), t(100))).toBe(0);
    expect(secondsBetween(t(100), t(99))).toBeNull();
    expect(secondsBetween(null, t(99))).toBeNull();
  });
  it('counts a started second: a fractional span is rounded up, never down before billing rounds up', () => {
    expect(secondsBetween(t(100), t(160.4))).toBe(61);
    expect(secondsBetween(t(100), t(160.001))).toBe(61);
    expect(secondsBetween(t(100), t(100.4))).toBe(1);
    // Stamps are read to the millisecond first, so float noise in a fractional stamp is not a started second.
    expect(secondsBetween(fromUnixSeconds(1700000000.6), fromUnixSeconds(1700000060.6))).toBe(60);
    expect(secondsBetween(fromUnixSeconds('1700000000.7'), fromUnixSeconds('1700000060.7'))).toBe(60);
  });
});

describe('isCalendarTime', () => {
  it("agrees with Date's own calendar (no roll-over) on every month and day edge, leap years and years 0-99 included", () => {
    for (const y of [0, 4, 50, 100, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9999]) {
      for (let mo = 0; mo <= 13; mo++) {
        for (let d = 0; d <= 32; d++) {
          for (const [h, mi, s] of [[0, 0, 0], [23, 59, 59], [24, 0, 0], [0, 60, 0], [0, 0, 60]] as const) {
            const date = new Date(0);
            date.setUTCFullYear(y, mo - 1, d);
            date.setUTCHours(h, mi, s, 0);
            const viaDate = date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && h <= 23 && mi <= 59 && s <= 59;
            expect(isCalendarTime(y, mo, d, h, mi, s), `${y}-${mo}-${d} ${h}:${mi}:${s}`).toBe(viaDate);
          }
        }
      }
    }
  });
});
