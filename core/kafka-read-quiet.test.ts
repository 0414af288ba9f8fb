// readTopic (without follow) also ends after a quiet spell once positioned (a partition whose last offsets are
// transaction markers may deliver no batch): that spell is a duration, measured on the monotonic clock. Timed by the
// wall clock, one stepped forward while the read waited for its first batch ended it at once with nothing read (a
// `tail` or a dead-letter listing came back short, without a word), and one stepped back kept it waiting that much longer.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Kafka } from './kafka.ts';
import { readTopic } from './kafka.ts';

/** A cluster with one partition of 5 records whose consumer joins its group and then delivers nothing. */
function silentKafka(): Kafka {
  const admin = {
    connect: async () => {},
    disconnect: async () => {},
    listTopics: async () => ['raw'],
    fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: '5', offset: '5' }],
    deleteGroups: async () => {},
  };
  const consumer = {
    events: { GROUP_JOIN: 'consumer.group_join' },
    joined: undefined as (() => void) | undefined,
    connect: async () => {},
    disconnect: async () => {},
    subscribe: async () => {},
    seek: () => {},
    on(_event: string, listener: () => void) {
      this.joined = listener;
    },
    run() {
      this.joined?.();
      return Promise.resolve();
    },
  };
  return { admin: () => admin, consumer: () => consumer } as unknown as Kafka;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('readTopic under a wall clock that steps', () => {
  it('a clock stepped forward a day before the first batch does not end the read before its 15 s of quiet', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date', 'performance'] });
    let ended = false;
    const read = readTopic(silentKafka(), 'raw', { start: { from: 'beginning' }, follow: false, onRecord: () => {} }).then(() => (ended = true));
    await vi.advanceTimersByTimeAsync(100);
    vi.setSystemTime(Date.now() + 86_400_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ended).toBe(false);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(ended).toBe(true);
    await read;
  });

  it('a clock stepped back an hour does not keep the read waiting past its 15 s of quiet', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date', 'performance'] });
    let ended = false;
    const read = readTopic(silentKafka(), 'raw', { start: { from: 'beginning' }, follow: false, onRecord: () => {} }).then(() => (ended = true));
    await vi.advanceTimersByTimeAsync(100);
    vi.setSystemTime(Date.now() - 3_600_000);
    await vi.advanceTimersByTimeAsync(16_000);
    expect(ended).toBe(true);
    await read;
  });
});
