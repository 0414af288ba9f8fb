// What `--tz`, `--from` and `--to` of `cdrflow reconcile` (and the same keys of POST /reconcile) mean in UTC: each
// spelling either gives the day's bounds as instants, or is refused in one line naming the flag (a usage error, 64).
import { describe, expect, it } from 'vitest';
import { checkRequest, CLI_REQUEST_NAMES, type RequestInput } from './reconcile.ts';
import { reconcileConfigSchema } from './config.ts';
import { bucketDay, cutoffFor, dayBounds, daysOf, hourFloor, parseTzOffset, scopeBounds, utcMonthsOfDay } from './days.ts';

const NOW = Date.parse('2024-12-31T20:30:00Z');
const check = (input: RequestInput) => checkRequest(input, CLI_REQUEST_NAMES, { now: NOW, trigger: 'cli', defaults: () => ({ settleSec: 3600 }) });
const iso = (ms: number) => new Date(ms).toISOString();
/** The request's days as UTC instants: [start of --from, end of --to), both at --tz. */
const bounds = (input: RequestInput) => {
  const req = check(input);
  return { tz: req.tzOffsetMinutes, from: req.from, to: req.to, start: iso(dayBounds(req.from, req.tzOffsetMinutes).start), end: iso(dayBounds(req.to, req.tzOffsetMinutes).end) };
};
const refusal = (input: RequestInput) => {
  try {
    check(input);
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

describe('--tz, --from, --to as UTC bounds', () => {
  const day = { from: '2024-03-01', to: '2024-03-01' };
  it.each([
    // tz, expected minutes, [start, end) of 2024-03-01 at that offset
    ['UTC', 0, '2024-03-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z'],
    ['Z', 0, '2024-03-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z'],
    ['+00:00', 0, '2024-03-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z'],
    ['-00:00', 0, '2024-03-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z'],
    ['+0000', 0, '2024-03-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z'],
    ['+08:00', 480, '2024-02-29T16:00:00.000Z', '2024-03-01T16:00:00.000Z'],
    ['+0800', 480, '2024-02-29T16:00:00.000Z', '2024-03-01T16:00:00.000Z'],
    ['-05:00', -300, '2024-03-01T05:00:00.000Z', '2024-03-02T05:00:00.000Z'],
    ['+14:00', 840, '2024-02-29T10:00:00.000Z', '2024-03-01T10:00:00.000Z'],
    ['-12:00', -720, '2024-03-01T12:00:00.000Z', '2024-03-02T12:00:00.000Z'],
    ['-14:00', -840, '2024-03-01T14:00:00.000Z', '2024-03-02T14:00:00.000Z'],
  ] as const)('--tz %s is %i minutes: the day runs [%s, %s)', (tz, minutes, start, end) => {
    const got = bounds({ ...day, tz });
    // toBe, not toEqual: -0 would be a second spelling of UTC days in everything that keeps the request.
    expect(Object.is(got.tz, minutes)).toBe(true);
    expect({ start: got.start, end: got.end }).toEqual({ start, end });
  });

  it.each([
    // Not an offset at all, or spelt otherwise than ±HH:MM / ±HHMM.
    ['+8', 'needs an offset like +08:00 (or UTC)'],
    ['08:00', 'needs an offset like +08:00 (or UTC)'],
    ['0800', 'needs an offset like +08:00 (or UTC)'],
    ['+8:00', 'needs an offset like +08:00 (or UTC)'],
    ['utc', 'needs an offset like +08:00 (or UTC)'],
    ['GMT+8', 'needs an offset like +08:00 (or UTC)'],
    ['', 'needs an offset like +08:00 (or UTC)'],
    [' +08:00', 'needs an offset like +08:00 (or UTC)'],
    ['+08:00\n', 'needs an offset like +08:00 (or UTC)'],
    // Minutes past 59 are no clock's: +08:60 is not another spelling of +09:00.
    ['+08:60', 'needs an offset like +08:00 (or UTC)'],
    ['+13:60', 'needs an offset like +08:00 (or UTC)'],
    ['-00:60', 'needs an offset like +08:00 (or UTC)'],
    ['+00:99', 'needs an offset like +08:00 (or UTC)'],
    // Real offsets the reconcile cannot use (the hourly view is its finest bucket), or beyond any zone.
    ['+05:45', 'must be a whole-hour offset within ±14:00'],
    ['+08:30', 'must be a whole-hour offset within ±14:00'],
    ['-09:30', 'must be a whole-hour offset within ±14:00'],
    ['+15:00', 'must be a whole-hour offset within ±14:00'],
    ['-14:01', 'must be a whole-hour offset within ±14:00'],
    ['+99:00', 'must be a whole-hour offset within ±14:00'],
  ])('refuses --tz %j in one line naming --tz', (tz, says) => {
    const message = refusal({ ...day, tz });
    expect(message.startsWith(`--tz ${says}`)).toBe(true);
    expect(message.endsWith(`got ${JSON.stringify(tz)}`)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it.each([
    // from, to, tz: [start, end) of the whole range
    ['1970-01-01', '1970-01-01', 'UTC', '1970-01-01T00:00:00.000Z', '1970-01-02T00:00:00.000Z'],
    ['1970-01-01', '1970-01-01', '+14:00', '1969-12-31T10:00:00.000Z', '1970-01-01T10:00:00.000Z'],
    ['2149-06-06', '2149-06-06', '-12:00', '2149-06-06T12:00:00.000Z', '2149-06-07T12:00:00.000Z'],
    ['2023-12-31', '2024-01-01', '+08:00', '2023-12-30T16:00:00.000Z', '2024-01-01T16:00:00.000Z'],
    ['2024-02-28', '2024-03-01', '-05:00', '2024-02-28T05:00:00.000Z', '2024-03-02T05:00:00.000Z'],
    ['2024-01-01', '2024-12-31', 'UTC', '2024-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z'],
  ])('--from %s --to %s --tz %s runs [%s, %s)', (from, to, tz, start, end) => {
    const got = bounds({ from, to, tz });
    expect({ from: got.from, to: got.to, start: got.start, end: got.end }).toEqual({ from, to, start, end });
  });

  it.each([
    [{ from: '1969-12-31', to: '1970-01-01' }, '--from must be a day from 1970-01-01 to 2149-06-06'],
    [{ from: '2149-06-06', to: '2149-06-07' }, '--to must be a day from 1970-01-01 to 2149-06-06'],
    [{ from: '2023-02-29', to: '2023-03-01' }, '--from needs a day as YYYY-MM-DD, got "2023-02-29"'],
    [{ from: '2024-2-29', to: '2024-03-01' }, '--from needs a day as YYYY-MM-DD'],
    [{ from: '2024-02-29T00:00', to: '2024-03-01' }, '--from needs a day as YYYY-MM-DD'],
    [{ from: 'Today', to: 'today' }, '--from needs a day as YYYY-MM-DD'],
    [{ from: 'yesterday', to: 'tomorrow' }, '--to needs a day as YYYY-MM-DD'],
    [{ from: '2024-01-01', to: '2023-12-31' }, '--to must not be before --from'],
    [{ from: '2023-12-31', to: '2024-12-31' }, '--from 2023-12-31 and --to 2024-12-31 cover 367 days'],
  ])('refuses %j in one line naming the flag', (input, says) => {
    const message = refusal(input);
    expect(message.startsWith(says)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it.each([
    // --tz, today and yesterday at NOW (2024-12-31T20:30Z): at +08:00 and beyond it is already 2025 there.
    ['UTC', '2024-12-31', '2024-12-30'],
    ['-12:00', '2024-12-31', '2024-12-30'],
    ['+03:00', '2024-12-31', '2024-12-30'],
    ['+04:00', '2025-01-01', '2024-12-31'],
    ['+14:00', '2025-01-01', '2024-12-31'],
  ])('at --tz %s, today is %s and yesterday %s', (tz, today, yesterday) => {
    expect(check({ from: 'yesterday', to: 'today', tz })).toMatchObject({ from: yesterday, to: today });
  });
});

describe('reconcile.schedule.tz', () => {
  it.each([
    ['UTC', true],
    ['Z', true],
    ['+0800', true],
    ['+14:00', true],
    ['-12:00', true],
    ['+05:45', false],
    ['+08:30', false],
    ['+08:60', false],
    ['+15:00', false],
    ['+8', false],
    ['utc', false],
  ] as const)('takes %j as --tz does: %s', (tz, taken) => {
    expect(reconcileConfigSchema.safeParse({ schedule: { tz } }).success).toBe(taken);
    expect(refusal({ from: '2024-03-01', to: '2024-03-01', tz }) === 'accepted').toBe(taken);
  });
});

describe('the repair and the cut-off at an offset', () => {
  it.each([
    // day, offset: the cdr table's UTC month partitions its calls sit in
    ['2024-03-01', 0, ['202403']],
    ['2024-03-01', 480, ['202402', '202403']],
    ['2024-03-01', 840, ['202402', '202403']],
    ['2024-02-29', -720, ['202402', '202403']],
    ['2024-02-29', 480, ['202402']],
    ['2024-12-31', -300, ['202412', '202501']],
    ['2025-01-01', 480, ['202412', '202501']],
    ['2024-01-15', -840, ['202401']],
  ] as const)('%s at %i minutes is in %j', (day, offset, months) => {
    expect(utcMonthsOfDay(day, offset)).toEqual(months);
  });

  it('buckets each instant of a range across a year at +14:00 into its day, and none after the cut-off', () => {
    const scope = { from: '2024-12-31', to: '2025-01-01', tzOffsetMinutes: parseTzOffset('+14:00'), cutoffMs: cutoffFor(Date.parse('2025-01-01T05:00:00.500Z'), 0) };
    expect(daysOf(scope)).toEqual(['2024-12-31', '2025-01-01']);
    expect(iso(scope.cutoffMs)).toBe('2025-01-01T05:00:00.000Z');
    expect(iso(hourFloor(scope.cutoffMs))).toBe('2025-01-01T05:00:00.000Z');
    expect([iso(scopeBounds(scope).start), iso(scopeBounds(scope).end)]).toEqual(['2024-12-30T10:00:00.000Z', '2025-01-01T05:00:00.000Z']);
    expect(bucketDay(scope, Date.parse('2024-12-30T09:59:59.999Z'))).toBeUndefined();
    expect(bucketDay(scope, Date.parse('2024-12-30T10:00:00.000Z'))).toBe('2024-12-31');
    expect(bucketDay(scope, Date.parse('2024-12-31T09:59:59.999Z'))).toBe('2024-12-31');
    expect(bucketDay(scope, Date.parse('2024-12-31T10:00:00.000Z'))).toBe('2025-01-01');
    expect(bucketDay(scope, Date.parse('2025-01-01T04:59:59.999Z'))).toBe('2025-01-01');
    expect(bucketDay(scope, Date.parse('2025-01-01T05:00:00.000Z'))).toBeUndefined();
  });
});
