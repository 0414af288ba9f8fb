// The normalize stage's start-up warm-up (transforms/normalize/warm-up.ts) on the real servers: it runs the stage's
// transform over its sample records before joining the group, and nothing of it leaves the stage: no record in the
// output or dead-letter topics, no count in the stats, no committed offset. Live records after it flow as always.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawEnvelopePublisher } from '../../../core/envelope.ts';
import { AckedPublisher, ensureTopics } from '../../../core/kafka.ts';
import { topicEndOffsets } from '../../../core/kafka-streams.ts';
import { readTopic } from '../../../sinks/clickhouse/fixtures/pipeline.ts';
import { testKafka, testRegistry, uniqueName, waitFor } from '../../../test/helpers.ts';
import { warmUpEnvelopes } from '../warm-up.ts';
import { parseNormalizeServiceConfig, startNormalizeService, type NormalizeService } from './index.ts';

const kafka = testKafka();
const registry = testRegistry();
const prefix = uniqueName('warmup');
const raw = `${prefix}.raw`;
const normalized = `${prefix}.normalized`;
const deadLetter = `${prefix}.dlq`;
const events: { event: string; fields: Record<string, unknown> }[] = [];
let service: NormalizeService | undefined;

const sum = (offsets: Map<number, number>) => [...offsets.values()].reduce((a, b) => a + b, 0);

beforeAll(async () => {
  await ensureTopics(kafka, [raw, normalized, deadLetter].map((topic) => ({ topic, partitions: 3 })));
  service = await startNormalizeService(
    parseNormalizeServiceConfig({ groupId: `${prefix}.group`, inputTopics: [raw], outputTopic: normalized, deadLetterTopic: deadLetter, instanceId: 'w-0', warmUpRecords: 1_000 }),
    { kafka, registry, log: (_level, event, fields = {}) => void events.push({ event, fields }) },
  );
});

afterAll(async () => {
  await service?.stop();
});

describe('normalize warm-up', () => {
  it('runs the transform over its samples before the group is joined, and sends nothing', async () => {
    const warmed = events.find((e) => e.event === 'normalize.warmed_up');
    expect(warmed?.fields['records']).toBe(1_000);
    expect(events.filter((e) => e.event === 'normalize.warm_up_failed' || e.event === 'normalize.record_failed')).toEqual([]);
    // The warm-up came before the stage started consuming.
    expect(events.findIndex((e) => e.event === 'normalize.warmed_up')).toBeLessThan(events.findIndex((e) => e.event === 'normalize.started'));
    expect(sum(await topicEndOffsets(kafka, normalized))).toBe(0);
    expect(sum(await topicEndOffsets(kafka, deadLetter))).toBe(0);
    expect(service!.stats).toMatchObject({ normalized: 0, deadLettered: 0, recordFailures: 0, transactions: 0 });
  });

  it('leaves live records to flow as before: each counted once, in the output topic', async () => {
    const publisher = new AckedPublisher(kafka);
    try {
      const live = warmUpEnvelopes(12, new Date()).map((e) => ({ ...e, natural_key: `live-${e.natural_key}`, connector: 'test' }));
      const envelopes = new RawEnvelopePublisher(registry, publisher);
      await envelopes.publish(live, raw);
    } finally {
      await publisher.disconnect();
    }
    await waitFor(() => service!.stats.normalized === 12, { timeoutMs: 60_000, message: 'the 12 live records normalized' });
    expect(service!.stats).toMatchObject({ normalized: 12, deadLettered: 0, recordFailures: 0 });
    // Read back (transaction markers take offsets too): the live records and nothing else.
    const out = await readTopic(kafka, normalized, 12);
    expect(out.count).toBe(12);
    expect(sum(await topicEndOffsets(kafka, deadLetter))).toBe(0);
  });
});
