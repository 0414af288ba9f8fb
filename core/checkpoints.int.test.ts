// The checkpoint store against a real Kafka: a record on the checkpoint topic that is not a checkpoint is passed over
// (named in `skipped`), never a reason to stop. It used to throw at load, so one such record (a --checkpoint-topic
// pointed at a raw topic, a tool writing there by mistake) stopped the connector at every start, for good.
import { describe, expect, it } from 'vitest';
import { testKafka, uniqueName } from '../test/helpers.ts';
import { ensureTopics } from './kafka.ts';
import { CheckpointStore } from './checkpoints.ts';

const cp = (watermark: string) => JSON.stringify({ watermark, updatedAt: watermark });

describe('CheckpointStore.load', () => {
  it('keeps the last valid checkpoint of an id, passes over what is not one, honours tombstones', async () => {
    const topic = uniqueName('checkpoints_hostile');
    // Not compacted, as a topic a user made (a compacted one refuses records without a key).
    await ensureTopics(testKafka(), [{ topic, partitions: 1 }]);
    const producer = testKafka().producer();
    await producer.connect();
    try {
      await producer.send({
        topic,
        messages: [
          { key: 'a', value: cp('2026-12-01T00:00:00.000Z') },
          { key: 'a', value: 'not json {' },
          { key: 'b', value: JSON.stringify({ watermark: 'yesterday' }) },
          { key: null, value: cp('2026-12-02T00:00:00.000Z') },
          { key: 'c', value: cp('2026-12-03T00:00:00.000Z') },
          { key: 'c', value: null },
          { key: 'd', value: '\u0000\u001b[31m' },
          { key: 'e', value: cp('2026-12-04T00:00:00.000Z') },
        ],
      });
    } finally {
      await producer.disconnect();
    }
    const store = new CheckpointStore(testKafka(), topic);
    try {
      await store.load();
      expect(store.entries()).toEqual([
        ['a', { watermark: '2026-12-01T00:00:00.000Z', updatedAt: '2026-12-01T00:00:00.000Z' }],
        ['e', { watermark: '2026-12-04T00:00:00.000Z', updatedAt: '2026-12-04T00:00:00.000Z' }],
      ]);
      expect(store.skipped.map((s) => s.id)).toEqual(['a', 'b', '', 'd']);
      expect(store.skipped[0]!.problem).toBe(`${topic}[0]@1: not JSON: "not json {"`);
      expect(store.skipped[1]!.problem).toMatch(new RegExp(`^${topic}\\[0\\]@2: not a checkpoint: "watermark: .*updatedAt: .*"$`));
      expect(store.skipped[2]!.problem).toBe(`${topic}[0]@3: a record without a key`);
      // Control characters come back escaped, never raw on a terminal or in a log line.
      expect([...store.skipped[3]!.problem].some((ch) => ch.charCodeAt(0) < 0x20)).toBe(false);
      // The store works on: a save after the bad records is what the next load finds.
      await store.save('a', { watermark: '2026-12-05T00:00:00.000Z' });
      await store.load();
      expect(store.entries().find(([id]) => id === 'a')?.[1].watermark).toBe('2026-12-05T00:00:00.000Z');
    } finally {
      await store.close();
    }
  });
});
