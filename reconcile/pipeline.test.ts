// Waiting for the stages measures its deadline and idle time on a monotonic clock: a wall clock stepped back while it
// waits (NTP, a VM resumed) must not keep a reconcile waiting that much longer on a stage that is not running, nor one
// stepped forward end the wait at once.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Kafka } from '../core/kafka.ts';

vi.mock('../core/kafka-streams.ts', () => ({
  // A stage that is not running: 5 records behind, for good.
  groupLag: async () => [{ topic: 'raw', partition: 0, start: 0, committed: 0, end: 5 }],
  stageLag: async () => 5,
}));
const { waitForSnapshot, waitForStages } = await import('./pipeline.ts');

const kafka = {} as Kafka;
const groups = { normalize: { groupId: 'n', topics: ['raw'] }, sink: { groupId: 's', topic: 'cdr' } };

afterEach(() => {
  vi.useRealTimers();
});

/** Steps the wall clock by `stepMs` once the wait has begun, then lets `waitMs` pass; whether the wait has ended. */
async function endsWithin(wait: () => Promise<unknown>, stepMs: number, waitMs: number): Promise<boolean> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  let ended = false;
  const done = wait().then(() => {
    ended = true;
  });
  await vi.advanceTimersByTimeAsync(300);
  vi.setSystemTime(Date.now() + stepMs);
  await vi.advanceTimersByTimeAsync(waitMs);
  const result = ended;
  vi.setSystemTime(Date.now() + 10 * 86_400_000);
  await vi.advanceTimersByTimeAsync(60_000);
  await done;
  return result;
}

describe('waiting for the stages under a wall clock that steps', () => {
  for (const [name, stepMs] of [
    ['back an hour', -3_600_000],
    ['back a day', -86_400_000],
  ] as const) {
    it(`a clock stepped ${name} does not stretch the idle time or the deadline`, async () => {
      expect(await endsWithin(() => waitForSnapshot(kafka, groups, { timeoutMs: 60_000, idleMs: 2_000 }), stepMs, 10_000)).toBe(true);
      expect(await endsWithin(() => waitForStages(kafka, groups, { timeoutMs: 60_000, idleMs: 2_000 }), stepMs, 10_000)).toBe(true);
    });
  }

  it('a clock stepped forward a day does not end the wait before its idle time', async () => {
    expect(await endsWithin(() => waitForSnapshot(kafka, groups, { timeoutMs: 60_000, idleMs: 20_000 }), 86_400_000, 1_000)).toBe(false);
    expect(await endsWithin(() => waitForStages(kafka, groups, { timeoutMs: 60_000, idleMs: 20_000 }), 86_400_000, 1_000)).toBe(false);
  });
});
