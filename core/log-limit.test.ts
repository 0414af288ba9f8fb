import { afterEach, describe, expect, it } from 'vitest';
import { LINES_LOGGED_PER_SECOND, LimitedLog } from './log-limit.ts';
import { memoryLog } from './log.ts';

describe('LimitedLog', () => {
  let open: LimitedLog | undefined;
  afterEach(() => open?.close());

  it('gives each event and kind its own share of a second, and sums up the rest under <event>_suppressed', () => {
    const log = memoryLog();
    const clock = { ms: 1_764_900_000_250 };
    open = new LimitedLog(log, () => clock.ms);
    for (let i = 0; i < 1_000; i++) open.line('warn', 'a.failed', { kind: 'bad_record' }, { i });
    for (let i = 0; i < 5; i++) open.line('warn', 'a.failed', { kind: 'internal' }, { i });
    for (let i = 0; i < 5; i++) open.line('warn', 'b.failed', { kind: 'bad_record' }, { i });
    const count = (event: string) => log.entries.filter((e) => e.event === event).length;
    expect(count('a.failed')).toBe(LINES_LOGGED_PER_SECOND + 5);
    expect(count('b.failed')).toBe(5);
    expect(log.entries.find((e) => e.event === 'a.failed')?.fields).toEqual({ kind: 'bad_record', i: 0 });

    clock.ms += 1_000;
    open.flush();
    expect(log.entries.filter((e) => e.event.endsWith('_suppressed')).map((e) => [e.event, e.fields])).toEqual([
      ['a.failed_suppressed', { kind: 'bad_record', count: 1_000 - LINES_LOGGED_PER_SECOND, second: new Date(1_764_900_000_000).toISOString() }],
    ]);
  });

  it('sums up the second still running when it is closed', () => {
    const log = memoryLog();
    open = new LimitedLog(log, () => 5_000, 2);
    for (let i = 0; i < 7; i++) open.line('info', 'c.skipped', {});
    open.close();
    expect(log.entries.map((e) => [e.event, e.fields['count']])).toEqual([['c.skipped', undefined], ['c.skipped', undefined], ['c.skipped_suppressed', 5]]);
  });
});
