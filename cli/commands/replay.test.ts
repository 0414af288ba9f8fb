// `cdrflow replay --dry-run` over a stand-in broker: the estimate of what a replay would redo counts the records it can
// read again, from each partition's log start (what retention kept) up to the group's committed offset.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Kafka } from 'kafkajs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The raw topic of tencent-ccc: 3 partitions whose records before offset 40 were deleted by retention; end 100. */
const broker = vi.hoisted(() => ({ committed: [] as { partition: number; offset: string }[], resets: 0, topics: ['cdr.raw.tencent-ccc'], resetTopics: [] as string[] }));

vi.mock('../kafka-access.ts', async (actual) => ({
  ...(await actual<typeof import('../kafka-access.ts')>()),
  oneShotKafka: async () =>
    ({
      admin: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        describeGroups: async () => ({ groups: [{ state: 'Empty', members: [] }] }),
        listTopics: async () => broker.topics,
        fetchOffsets: async ({ topics }: { topics: string[] }) => topics.map((topic) => ({ topic, partitions: broker.committed })),
        fetchTopicOffsets: async () => [0, 1, 2].map((partition) => ({ partition, low: '40', high: '100', offset: '100' })),
        resetOffsets: async ({ topic }: { topic: string }) => {
          broker.resets++;
          broker.resetTopics.push(topic);
        },
      }),
    }) as unknown as Kafka,
}));

const { command } = await import('./replay.ts');

let said: string[];
beforeEach(() => {
  said = [];
  broker.resets = 0;
  broker.topics = ['cdr.raw.tencent-ccc'];
  broker.resetTopics = [];
  vi.spyOn(console, 'log').mockImplementation((line: string) => void said.push(line));
});
afterEach(() => vi.restoreAllMocks());

describe('cdrflow replay --dry-run', () => {
  it('counts what would be normalized again from the log start, not from offset 0 (retention deleted the records before it)', async () => {
    // Partition 0 read to 90, 1 to the end, 2 committed at 10 (below the log start: nothing of it is there to redo).
    broker.committed = [{ partition: 0, offset: '90' }, { partition: 1, offset: '100' }, { partition: 2, offset: '10' }];
    expect(await command.run(['--vendor', 'tencent-ccc', '--dry-run'])).toBe(0);
    expect(said).toContain('cdr.raw.tencent-ccc[0]  committed 90 of 100, log start 40');
    // 50 + 60 + 0, where the committed offsets summed to 200.
    expect(said.at(-1)).toMatch(/: about 110 record\(s\) would be normalized again; nothing was changed$/);
    expect(broker.resets).toBe(0);
  });

  it('counts nothing for a group that never committed (normalize under it reads from the start anyway)', async () => {
    broker.committed = [0, 1, 2].map((partition) => ({ partition, offset: '-1' }));
    expect(await command.run(['--vendor', 'tencent-ccc', '--dry-run'])).toBe(0);
    expect(said.at(-1)).toMatch(/: about 0 record\(s\) would be normalized again/);
  });
});

describe('cdrflow replay --vendor', () => {
  it("takes the receiver's own raw topic of that vendor, told apart as reconcile and import tell it (a topic not named ….<vendor> was left out)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-replay-'));
    try {
      const config = join(dir, 'pipeline.json');
      writeFileSync(config, JSON.stringify({
        receiver: { huawei: { apps: [{ appKey: 'app1', appSecret: 'secret1' }], topics: { fee: 'hw_fees', events: 'hw_events' } } },
        normalize: { inputTopics: ['cdr.raw.tencent-ccc', 'hw_fees'] },
      }));
      broker.topics = ['cdr.raw.tencent-ccc', 'hw_fees'];
      broker.committed = [{ partition: 0, offset: '100' }];
      expect(await command.run(['--config', config, '--vendor', 'huawei-privatenumber'])).toBe(0);
      expect(broker.resetTopics).toEqual(['hw_fees']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
