import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../simulators/kit.ts';
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
  it('reads exactly what the pattern yyyy-MM-dd[ T]HH:mm:ss reads, digits 0-9 only, among 20,000 near misses', () => {
    const PATTERN = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;
    // What the parser must tell apart: digits of other scripts (Arabic-Indic, full-width), separators swapped, lost or doubled.
    const ALPHABET = ['0', '5', '9', '-', ':', ' ', 'T', 't', '/', '.', 'x', '\u0663', '\uff11', '\0', '+'];
    const random = seededRandom(14);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    let read = 0;
    for (let n = 0; n < 20_000; n++) {
      let text = `20${pick(['19', '24', '00', '99'])}-0${pick(['1', '2', '9'])}-${pick(['01', '28', '29', '30', '31'])}${pick([' ', 'T'])}${pick(['00', '09', '23', '24'])}:${pick(['00', '59', '60'])}:${pick(['00', '59', '60'])}`;
      for (let edits = Math.floor(random() * 3); edits > 0; edits--) {
        const at = Math.floor(random() * (text.length + 1));
        const edit = pick(['replace', 'insert', 'delete'] as const);
        text = text.slice(0, at) + (edit === 'delete' ? '' : pick(ALPHABET)) + text.slice(edit === 'insert' ? at : at + 1);
      }
      const m = PATTERN.exec(text.trim());
      const [y, mo, d, h, mi, s] = m ? m.slice(1).map(Number) : [];
      // The year as written (Date.UTC would read 0000-0099 as 1900-1999).
      const asWritten = () => new Date(new Date(0).setUTCFullYear(y!, mo! - 1, d!)).setUTCHours(h!, mi!, s!, 0);
      const expected = m && isCalendarTime(y!, mo!, d!, h!, mi!, s!) ? new Date(asWritten()).toISOString() : 'refused';
      const got = parseNaiveLocal(text, 'UTC');
      expect({ text, got: got.ok ? (got.date?.toISOString() ?? 'absent') : 'refused' }).toEqual({ text, got: text.trim() === '' ? 'absent' : expected });
      if (expected !== 'refused') read++;
    }
    // Both kinds are well represented, so neither side of the comparison is vacuous.
    expect(read).toBeGreaterThan(1_000);
    expect(read).toBeLessThan(18_000);
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
