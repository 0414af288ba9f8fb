// For test/process-time-zone.test.ts: what cdrflow reads or writes as a time (vendor naive times, TOP timestamps,
// reconcile's days, the simulators' records, time flags), computed on the process's time zone (TZ), as one JSON line. The test runs it under several zones and wants the same line from each.
import { isoDateTime } from '../cli/args.ts';
import { formatTopTimestamp, parseTopTimestamp } from '../connectors/alibaba-lvms/top-sign.ts';
import { dayBounds, dayOf, daysOf, relativeDay, utcMonthsOfDay } from '../reconcile/days.ts';
import { topTimestamp } from '../simulators/alibaba-lvms/sign.ts';
import { LvmsDtoGenerator } from '../simulators/alibaba-lvms/submitter.ts';
import { HuaweiFeeGenerator } from '../simulators/huawei-privatenumber/generator.ts';
import { defaultNormalizeContext } from '../transforms/normalize/context.ts';
import { normalizeBare } from '../transforms/normalize/normalize.ts';

// Around a UTC midnight that is also a month's end, and around New York's spring-forward hour (07:00Z, 2026-03-08):
// where a reading in the process's zone lands on another day, month or hour.
const STARTS = [Date.UTC(2026, 1, 28, 15, 58), Date.UTC(2026, 1, 28, 23, 58), Date.UTC(2026, 2, 8, 6, 58)];
const ctx = defaultNormalizeContext({ now: () => new Date('2026-03-09T00:00:00Z') });
const OFFSETS = [0, 480, -300];

const out = {
  huawei: STARTS.flatMap((startMs) => {
    const generator = new HuaweiFeeGenerator({ seed: 7, appKey: 'zone-probe', startMs });
    return Array.from({ length: 4 }, () => {
      const record = generator.next();
      return { record, normalized: normalizeBare('huawei-privatenumber', 'zone-probe', JSON.stringify(record), ctx) };
    });
  }),
  lvms: STARTS.flatMap((startMs) => {
    const generator = new LvmsDtoGenerator({ seed: 7, noIdRate: 0, startMs });
    return Array.from({ length: 4 }, () => {
      const text = generator.next();
      return { text, normalized: normalizeBare('alibaba-lvms', 'zone-probe', text, ctx) };
    });
  }),
  top: STARTS.map((ms) => ({ signer: formatTopTimestamp(ms), simulator: topTimestamp(ms), read: parseTopTimestamp(formatTopTimestamp(ms)) })),
  days: STARTS.map((ms) => OFFSETS.map((tz) => ({ day: dayOf(ms, tz), bounds: dayBounds(dayOf(ms, tz), tz), months: utcMonthsOfDay(dayOf(ms, tz), tz), yesterday: relativeDay(ms, tz, 1) }))),
  range: daysOf({ from: '2026-02-27', to: '2026-03-09' }),
  flags: ['2026-02-28', '2026-02-28T23:59', '2026-03-08T02:30:00', '2026-03-08T02:30:00Z', '2026-03-08T02:30+08:00'].map((t) => isoDateTime('--from', t).toISOString()),
};
// The zone's own offset on the first probe day, so the test sees that TZ took effect.
const offsetMin = new Date(2026, 1, 28).getTimezoneOffset();
console.log(JSON.stringify({ offsetMin, out }, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)));
