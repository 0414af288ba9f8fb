// AckedPublisher against the real broker: one send() of more bytes than the broker takes in one record batch.
import { afterAll, expect, it } from 'vitest';
import { readTopic } from '../sinks/clickhouse/fixtures/pipeline.ts';
import { testKafka, uniqueName } from '../test/helpers.ts';
import { AckedPublisher, ensureTopics, MAX_PARTITION_SEND_BYTES } from './kafka.ts';

const kafka = testKafka();
const publisher = new AckedPublisher(kafka);

afterAll(async () => {
  await publisher.disconnect();
});

it('a send larger than the broker takes in one record batch is stored whole, in order', async () => {
  const topic = uniqueName('acked-big');
  // One partition: every record of the send would go into one record batch.
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
  const RECORDS = 40;
  const messages = Array.from({ length: RECORDS }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(60 * 1024, String(i % 10)) }));
  expect(RECORDS * 60 * 1024).toBeGreaterThan(3 * MAX_PARTITION_SEND_BYTES);
  await publisher.send(topic, messages);
  const out = await readTopic(kafka, topic, RECORDS, { keep: true });
  expect(out.messages.sort((a, b) => a.offset - b.offset).map((m) => m.key?.toString())).toEqual(messages.map((m) => m.key));
});
