import { afterEach, describe, expect, it } from 'vitest';
import { memoryLog } from '../../core/log.ts';
import { REFUSALS_LOGGED_PER_SECOND, RefusalLog } from './refusal-log.ts';

describe('RefusalLog', () => {
  let open: RefusalLog | undefined;
  afterEach(() => open?.close());

  const setUp = () => {
    const log = memoryLog();
    const clock = { ms: 1_764_900_000_500 };
    open = new RefusalLog(log, () => clock.ms);
    const events = (event: string) => log.entries.filter((e) => e.event === event).map((e) => e.fields);
    return { refusals: open, clock, events };
  };

  it('logs the first refusals of a second per route and outcome, and sums up the rest when a later second begins', () => {
    const { refusals, clock, events } = setUp();
    for (let i = 0; i < REFUSALS_LOGGED_PER_SECOND + 7; i++) refusals.refused('warn', { route: 'alibaba-lvms', outcome: 'auth_failed', i });
    for (let i = 0; i < 3; i++) refusals.refused('warn', { route: 'alibaba-lvms', outcome: 'bad_request', i });
    for (let i = 0; i < 3; i++) refusals.refused('error', { route: 'huawei-privatenumber', outcome: 'auth_failed', i });
    expect(events('receiver.push_refused')).toHaveLength(REFUSALS_LOGGED_PER_SECOND + 6);
    expect(events('receiver.push_refused_suppressed')).toEqual([]);

    clock.ms += 1_000;
    refusals.refused('warn', { route: 'alibaba-lvms', outcome: 'auth_failed' });
    expect(events('receiver.push_refused_suppressed')).toEqual([
      { route: 'alibaba-lvms', outcome: 'auth_failed', count: 7, second: new Date(1_764_900_000_000).toISOString() },
    ]);
    // The new second has its own share.
    expect(events('receiver.push_refused')).toHaveLength(REFUSALS_LOGGED_PER_SECOND + 7);
  });

  it('a second that is over is summed up by flush even when no later refusal comes, and only once', () => {
    const { refusals, clock, events } = setUp();
    for (let i = 0; i < REFUSALS_LOGGED_PER_SECOND + 2; i++) refusals.refused('warn', { route: 'r', outcome: 'o' });
    refusals.flush();
    expect(events('receiver.push_refused_suppressed')).toEqual([]); // the second is not over yet
    clock.ms += 1_000;
    refusals.flush();
    refusals.flush();
    expect(events('receiver.push_refused_suppressed').map((f) => f['count'])).toEqual([2]);
  });

  it('close sums up the current second too', () => {
    const { refusals, events } = setUp();
    for (let i = 0; i < REFUSALS_LOGGED_PER_SECOND + 4; i++) refusals.refused('warn', { route: 'a route with spaces', outcome: 'too_large' });
    refusals.close();
    expect(events('receiver.push_refused_suppressed')).toEqual([
      { route: 'a route with spaces', outcome: 'too_large', count: 4, second: new Date(1_764_900_000_000).toISOString() },
    ]);
  });
});
