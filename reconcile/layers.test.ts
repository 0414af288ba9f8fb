// Reading the raw topics: a record batch that could not be read (core/kafkajs-unreadable-batch.ts) is counted with
// the raw messages that could not be decoded, as normalize dead-letters both; the scan itself is core/kafka.ts's.
import { describe, expect, it, vi } from 'vitest';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka, ScanOptions, ScannedMessage } from '../core/kafka.ts';
import { readRaw } from './layers.ts';

vi.mock('../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../core/kafka.ts')>()),
  // A topic of one unreadable batch at offset 6: the scan reports it, never visits it.
  scanTopicToEnd: async (_kafka: Kafka, _topic: string, _visit: (m: ScannedMessage) => unknown, options: ScanOptions = {}) => {
    options.onStart?.(7);
    options.onUnreadable?.({ partition: 0, offset: 6, key: null, value: Buffer.from([1, 2, 3]), timestamp: 0, unreadable: 'a record batch compressed with ZSTD (3 bytes) expands past …' });
    options.onProgress?.(7);
  },
}));

const quiet = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;

describe('readRaw', () => {
  it('counts a record batch that could not be read among the raw messages that could not be decoded', async () => {
    const scope = { from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-01T00:00:00Z') } as Parameters<typeof readRaw>[3];
    const layer = await readRaw({} as Kafka, {} as SchemaRegistry, [{ vendor: 'tencent-ccc', topic: 'cdr.raw.tencent-ccc' }], scope, null, {} as Parameters<typeof readRaw>[5], new Set(), { progress: quiet, timeoutMs: 1_000 });
    expect(layer.undecodable).toBe(1);
  });
});
