// Avro through the real registry and broker: Confluent wire format on the wire, BACKWARD compatibility enforced by
// the registry (not by us), and Kafka transactions with read_committed consumers (normalize depends on them).
import { afterAll, describe, expect, it } from 'vitest';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { TopicCodec } from '../../core/avro.ts';
import { ensureTopics } from '../../core/kafka.ts';
import type { Consumer, Kafka } from '../../core/kafka.ts';
import { subjectFor, SCHEMA_FILES } from '../../core/topology.ts';
import { TEST_FETCH_WAIT_MS, testKafka, testRegistry, uniqueName, waitFor } from '../helpers.ts';

interface Received {
  key: string | null;
  value: Buffer;
  offset: string;
}

const consumers: Consumer[] = [];
afterAll(async () => {
  await Promise.all(consumers.map((c) => c.disconnect()));
});

/** Consumes `topic` from the beginning into an array the test can await on. */
async function collect(kafka: Kafka, topic: string, opts: { readUncommitted?: boolean } = {}): Promise<Received[]> {
  const consumer = kafka.consumer({
    groupId: uniqueName('smoke_group'),
    readUncommitted: opts.readUncommitted ?? false,
    maxWaitTimeInMs: TEST_FETCH_WAIT_MS,
  });
  consumers.push(consumer);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const received: Received[] = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value)
        received.push({ key: message.key?.toString() ?? null, value: message.value, offset: message.offset });
    },
  });
  return received;
}

const personV1 = {
  type: 'record',
  name: 'SmokePerson',
  namespace: 'dev.cdrflow.smoke',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'calls', type: 'long' },
  ],
};

describe('Avro over Kafka with the schema registry', () => {
  it('produces and consumes registry-framed records (magic byte 0 + 4-byte schema id)', async () => {
    const kafka = testKafka();
    const registry = testRegistry();
    const topic = uniqueName('smoke_avro');
    await ensureTopics(kafka, [{ topic, partitions: 1 }]);
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(personV1) },
      { subject: subjectFor(topic) },
    );
    expect(await registry.getLatestSchemaId(subjectFor(topic))).toBe(id);

    const records = [
      { id: 'a', calls: 1 },
      { id: 'b', calls: 9_000_000_000 },
    ];
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({
        topic,
        acks: -1,
        messages: await Promise.all(records.map(async (r) => ({ key: r.id, value: await registry.encode(id, r) }))),
      });
    } finally {
      await producer.disconnect();
    }

    const received = await collect(kafka, topic);
    await waitFor(() => received.length === records.length, {
      timeoutMs: 30_000,
      message: `${records.length} records on ${topic}`,
    });
    for (const [i, msg] of received.entries()) {
      expect(msg.value.readUInt8(0)).toBe(0);
      expect(msg.value.readUInt32BE(1)).toBe(id);
      expect(msg.key).toBe(records[i]?.id);
      expect(await registry.decode(msg.value)).toEqual(records[i]);
    }
  });

  it('the project codec registers schemas/*.avsc under <topic>-value and round-trips through the registry', async () => {
    const topic = uniqueName('smoke_dlq');
    const codec = new TopicCodec(testRegistry(), topic, SCHEMA_FILES.deadLetter);
    const id = await codec.register();
    expect(await testRegistry().getLatestSchemaId(subjectFor(topic))).toBe(id);
    expect(await codec.register()).toBe(id);
  });

  it('rejects an incompatible change (new field without default) and accepts a compatible one (BACKWARD)', async () => {
    const registry = testRegistry();
    const subject = subjectFor(uniqueName('smoke_compat'));
    const v1 = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(personV1) }, { subject });

    const incompatible = { ...personV1, fields: [...personV1.fields, { name: 'tenant', type: 'string' }] };
    await expect(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(incompatible) }, { subject }),
    ).rejects.toThrow(/incompatib|409/i);
    expect(await registry.getLatestSchemaId(subject)).toBe(v1.id);

    const compatible = { ...personV1, fields: [...personV1.fields, { name: 'tenant', type: 'string', default: '' }] };
    const v2 = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(compatible) }, { subject });
    expect(v2.id).not.toBe(v1.id);
    expect(await registry.getLatestSchemaId(subject)).toBe(v2.id);

    // Data written with v1 still decodes (the reader resolves the writer schema by the id in the frame).
    const oldBytes = await registry.encode(v1.id, { id: 'x', calls: 2 });
    expect(await registry.decode(oldBytes)).toEqual({ id: 'x', calls: 2 });
  });
});

describe('Kafka transactions', () => {
  it('read_committed consumers see committed transactions only; offsets commit inside the transaction', async () => {
    const kafka = testKafka();
    const input = uniqueName('smoke_tx_in');
    const output = uniqueName('smoke_tx_out');
    await ensureTopics(kafka, [
      { topic: input, partitions: 1 },
      { topic: output, partitions: 1 },
    ]);
    const tx = kafka.producer({ transactionalId: uniqueName('smoke_txid'), idempotent: true, maxInFlightRequests: 1 });
    await tx.connect();
    const groupId = uniqueName('smoke_tx_group');
    try {
      const committed = await tx.transaction();
      await committed.send({
        topic: output,
        messages: [
          { key: 'k1', value: 'committed-1' },
          { key: 'k2', value: 'committed-2' },
        ],
      });
      // Consume-transform-produce: the input offset is committed atomically with the output.
      await committed.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic: input, partitions: [{ partition: 0, offset: '5' }] }],
      });
      await committed.commit();

      const aborted = await tx.transaction();
      await aborted.send({ topic: output, messages: [{ key: 'k3', value: 'aborted' }] });
      await aborted.abort();

      const last = await tx.transaction();
      await last.send({ topic: output, messages: [{ key: 'k4', value: 'committed-3' }] });
      await last.commit();
    } finally {
      await tx.disconnect();
    }

    const committedView = await collect(kafka, output);
    const uncommittedView = await collect(kafka, output, { readUncommitted: true });
    await waitFor(() => committedView.length >= 3 && uncommittedView.length >= 4, {
      timeoutMs: 30_000,
      message: 'both views of the transactional topic',
    });
    expect(committedView.map((m) => m.value.toString())).toEqual(['committed-1', 'committed-2', 'committed-3']);
    expect(uncommittedView.map((m) => m.value.toString())).toEqual([
      'committed-1',
      'committed-2',
      'aborted',
      'committed-3',
    ]);

    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchOffsets({ groupId, topics: [input] });
      expect(offsets[0]?.partitions[0]?.offset).toBe('5');
    } finally {
      await admin.disconnect();
    }
  });
});
