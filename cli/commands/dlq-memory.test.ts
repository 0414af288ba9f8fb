// `cdrflow dlq` reads the whole dead-letter topic: it counts every letter but keeps only the latest ones it prints, so
// a topic of many large letters (each up to 512 KiB of original, decoded) does not have to fit in memory at once.
import v8 from 'node:v8';
import vm from 'node:vm';
import { expect, it, vi } from 'vitest';
import type { TailRecord } from '../../app/tail.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const LETTERS = 2_000;
const seen = vi.hoisted(() => ({ refs: [] as WeakRef<object>[], aliveAtEnd: -1 }));
vi.mock('../kafka-access.ts', async (actual) => ({ ...(await actual<typeof import('../kafka-access.ts')>()), oneShotKafka: () => Promise.resolve({}) }));
vi.mock('../../app/tail.ts', async (actual) => ({
  ...(await actual<typeof import('../../app/tail.ts')>()),
  async readTopic(_kafka: unknown, _topic: string, options: { onRecord: (r: unknown) => Promise<void> }) {
    for (let offset = 0; offset < LETTERS; offset++) await options.onRecord({ partition: offset % 3, offset, timestamp: 1_764_900_000_000 + offset, key: null, value: null });
    // Past the job that made the last WeakRef (a WeakRef keeps its target until then), then what is still held.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    seen.aliveAtEnd = seen.refs.filter((r) => r.deref() !== undefined).length;
  },
  async tailRecord(_registry: unknown, topic: string, r: { partition: number; offset: number; timestamp: number }): Promise<TailRecord> {
    const record: TailRecord = {
      topic, partition: r.partition, offset: r.offset, timestamp: new Date(r.timestamp).toISOString(), key: null, kind: 'dead-letter',
      value: { reason: 'bad_record', stage: 'normalize', vendor: 'tencent-ccc', cdr_id: null, origin: { topic: 'o', partition: 0, offset: r.offset }, error: 'e', original: 'x'.repeat(1_000) },
    };
    seen.refs.push(new WeakRef(record));
    return record;
  },
}));

const { command: dlq } = await import('./dlq.ts');

it('counts every letter of the topic while holding only about twice the latest N it prints', async () => {
  const printed: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((text: string) => void printed.push(text));
  expect(await dlq.run(['--json', '--latest', '10'])).toBe(0);
  const summary = JSON.parse(printed.join('')) as { total: number; byReason: { count: number }[]; latest: TailRecord[] };
  expect([summary.total, summary.byReason]).toEqual([LETTERS, [{ reason: 'bad_record', stage: 'normalize', vendor: 'tencent-ccc', count: LETTERS }]]);
  expect(summary.latest.map((r) => r.offset)).toEqual(Array.from({ length: 10 }, (_, i) => LETTERS - 10 + i));
  expect(seen.aliveAtEnd).toBeGreaterThanOrEqual(10);
  expect(seen.aliveAtEnd).toBeLessThanOrEqual(2 * 10 + 1);
});
