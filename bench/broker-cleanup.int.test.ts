// The benchmark removes what it wrote to the broker when it ends: every topic and consumer group named with the
// run's prefix, and nothing else (a name that only looks alike stays).
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTopics } from '../core/kafka.ts';
import { TEST_FETCH_WAIT_MS, testKafka } from '../test/helpers.ts';
import { removeRunTopics } from './broker-cleanup.ts';

const kafka = testKafka();
const prefix = `bench_${Date.now().toString(36)}t`;
const other = `bench_${Date.now().toString(36)}u`;

afterAll(async () => {
  for (const p of [other, `${prefix}x`]) await removeRunTopics(kafka, p).catch(() => undefined);
});

async function topicsNow(): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

describe('removing a benchmark run from the broker', () => {
  it("deletes the run's topics and groups, keeps an active group and every other name", async () => {
    const ours = [`${prefix}.raw.tencent-ccc`, `${prefix}_r0.normalized`, `${prefix}_job.cdr.raw.alibaba-lvms`];
    const theirs = [`${other}.raw.tencent-ccc`, `${prefix}x.lookalike`];
    await ensureTopics(kafka, [...ours, ...theirs].map((topic) => ({ topic, partitions: 1 })));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: ours[0]!, messages: [{ value: 'x' }] });
    await producer.disconnect();
    // A group with committed offsets (what a finished mode leaves), and one whose member is still connected.
    const admin = kafka.admin();
    await admin.connect();
    await admin.setOffsets({ groupId: `${prefix}.k1`, topic: ours[0]!, partitions: [{ partition: 0, offset: '1' }] });
    await admin.disconnect();
    const live = kafka.consumer({ groupId: `${prefix}.live`, maxWaitTimeInMs: TEST_FETCH_WAIT_MS });
    await live.connect();
    await live.subscribe({ topics: [ours[1]!] });
    let joined!: () => void;
    const isJoined = new Promise<void>((r) => (joined = r));
    live.on(live.events.GROUP_JOIN, () => joined());
    await live.run({ eachMessage: async () => {} });
    await isJoined;
    try {
      const removed = await removeRunTopics(kafka, prefix);
      expect(removed.topics.sort()).toEqual([...ours].sort());
      expect(removed.groups).toEqual([`${prefix}.k1`]);
      expect(removed.groupsLeft).toEqual([`${prefix}.live`]);
    } finally {
      await live.disconnect();
    }
    const left = await topicsNow();
    for (const t of ours) expect(left).not.toContain(t);
    for (const t of theirs) expect(left).toContain(t);
    // Once more: nothing of the run is left, and the group whose member has gone now goes too.
    const again = await removeRunTopics(kafka, prefix);
    expect(again.topics).toEqual([]);
    expect(again.groups).toEqual([`${prefix}.live`]);
  });

  it('refuses a prefix that is not a benchmark run', async () => {
    for (const bad of ['', 'bench', 'bench_', 'cdr', 'bench.raw', 'bench_abc', 'cdrflow_1234567']) {
      await expect(removeRunTopics(kafka, bad)).rejects.toThrow(/refusing/);
    }
  });
});
