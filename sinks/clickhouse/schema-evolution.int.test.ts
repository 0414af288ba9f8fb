// Schema evolution end to end on the real servers: contract v1 of cdr.normalized in production (v1 records in Kafka,
// part of them already stored by a v1 sink, the rest a backlog), then the upgrade — `schemas check` accepts v2 and
// refuses a breaking variant, the new sink starts, applies migration 0006 and reads on — then v2 records. Both
// generations end up in ClickHouse and in the views, old rows read the default, nothing is dead-lettered, a v1 reader
// (an old consumer) keeps reading v2 records, and Kafka never restarts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import avro from 'avsc';
import type { ClickHouseClient } from '@clickhouse/client';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { TopicCodec, avroOptions, loadSchemaJson } from '../../core/avro.ts';
import { AckedPublisher, ensureTopics } from '../../core/kafka.ts';
import { SCHEMA_FILES, subjectFor } from '../../core/topology.ts';
import { checkCompatibility } from '../../cli/commands/schemas.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { TEST_FETCH_WAIT_MS, testClickHouse, testInfra, testKafka, testRegistry, uniqueName, waitFor } from '../../test/helpers.ts';
import { readTopic } from './fixtures/pipeline.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { migrate } from './migrations.ts';
import { CDR_COLUMNS, cdrObject } from './rows.ts';
import { parseSinkConfig, startClickHouseSink, type ClickHouseSink } from './index.ts';

const V1_FILE = 'history/cdr-normalized.v1.avsc';
const LAST_V1_MIGRATION = 5;
const kafka = testKafka();
const registry = testRegistry();
const prefix = uniqueName('evolve');
const topic = `${prefix}.normalized`;
const deadLetterTopic = `${prefix}.dlq`;
const groupId = `${prefix}.sink`;
const subject = subjectFor(topic);
const STORED_BY_V1_SINK = 12;
const BACKLOG_V1 = 9;
const V2_RECORDS = 15;

let ch: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> };
let sink: ClickHouseSink | undefined;
const sinkLog: string[] = [];
const publisher = new AckedPublisher(kafka);

/** `<vendor>:<prefix>:<generation>:<n>`: led by the sample's vendor, as the sink requires of every cdr_id. */
const idOf = (sample: number, generation: 'v1' | 'v2', n = sample) => `${sampleCdr(sample).vendor}:${prefix}:${generation}:${n}`;

/** A v1 record: the contract as it was, without room_id. */
function v1Record(i: number): Omit<NormalizedCdr, 'room_id'> {
  const { room_id: _dropped, ...v1 } = sampleCdr(i, { cdr_id: idOf(i, 'v1'), natural_key: `v1-${i}` });
  return v1;
}
const v2Record = (i: number): NormalizedCdr => sampleCdr(1000 + i, { cdr_id: idOf(1000 + i, 'v2', i), natural_key: `v2-${i}`, room_id: `room-${i}` });

async function query<T>(sql: string): Promise<T[]> {
  return (await ch.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
}

beforeAll(async () => {
  ch = await testClickHouse('evolve');
  await ensureTopics(kafka, [{ topic, partitions: 1 }, { topic: deadLetterTopic, partitions: 1 }]);
  await publisher.connect();
});

afterAll(async () => {
  await sink?.stop();
  await publisher.disconnect();
  await ch?.cleanup();
});

describe('cdr.normalized v1 -> v2 on running servers', () => {
  let v1Id: number;

  it('before: a v1 producer, a v1 table and a v1 sink that stored part of the topic', async () => {
    const migrated = await migrate(ch.client, { database: ch.database }, () => {}, LAST_V1_MIGRATION);
    expect(migrated.applied).toEqual([1, 2, 3, 4, 5]);
    ({ id: v1Id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(loadSchemaJson(V1_FILE)) }, { subject }));
    const records = Array.from({ length: STORED_BY_V1_SINK + BACKLOG_V1 }, (_, i) => v1Record(i));
    await publisher.send(topic, await Promise.all(records.map(async (r) => ({ key: r.cdr_id, value: await registry.encode(v1Id, r) }))));
    // What the v1 sink did with the first records: rows without the column it did not know, offsets committed.
    const v1Columns = CDR_COLUMNS.filter((c) => c !== 'room_id');
    const rows = records.slice(0, STORED_BY_V1_SINK).map((r, offset) => {
      const full = cdrObject({ ...r, room_id: null }, { topic, partition: 0, offset });
      return Object.fromEntries(v1Columns.map((c) => [c, full[c]]));
    });
    await ch.client.insert({ table: `${ch.database}.cdr`, format: 'JSONEachRow', values: rows, columns: v1Columns as [string, ...string[]], clickhouse_settings: { input_format_json_named_tuples_as_objects: 0 } });
    const admin = kafka.admin();
    await admin.connect();
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: String(STORED_BY_V1_SINK) }] });
    await admin.disconnect();
    const [daily] = await query<{ n: string }>(`SELECT sum(calls) AS n FROM ${ch.database}.cdr_daily`);
    expect(Number(daily!.n)).toBe(STORED_BY_V1_SINK);
  });

  it('schemas check: v2 (a new field with a default) is compatible, a breaking variant is refused', async () => {
    const url = testInfra().schemaRegistryUrl;
    const v2 = loadSchemaJson(SCHEMA_FILES.normalized) as { fields: { name: string }[] };
    expect(v2.fields.at(-1)).toMatchObject({ name: 'room_id', default: null });
    expect(await checkCompatibility(url, subject, v2)).toEqual({ subject, verdict: 'compatible' });
    const withoutDefault = { ...v2, fields: v2.fields.map((f) => (f.name === 'room_id' ? { name: 'room_id', type: ['null', 'string'] } : f)) };
    expect((await checkCompatibility(url, subject, withoutDefault)).verdict).toBe('incompatible');
    const retyped = { ...v2, fields: v2.fields.map((f) => (f.name === 'raw_offset' ? { ...f, type: 'string', default: '-1' } : f)) };
    expect((await checkCompatibility(url, subject, retyped)).verdict).toBe('incompatible');
  });

  it('upgrade: the new sink applies migration 0006 at start-up and reads the v1 backlog and then v2 records', async () => {
    sink = await startClickHouseSink(parseSinkConfig({ groupId, inputTopic: topic, deadLetterTopic, database: ch.database, flushRows: 10, flushMs: 100, partitions: 1 }), {
      kafka,
      registry,
      clickhouse: ch.client,
      log: (_level, event, fields) => sinkLog.push(`${event} ${JSON.stringify(fields ?? {})}`),
    });
    // It applies what came after the v1 contract: 0006 (the new column), and later migrations of other features.
    const applied = sinkLog.filter((l) => l.startsWith('sink.migrate') && l.includes('applying')).map((l) => Number(/applying (\d{4})_/.exec(l)?.[1]));
    expect(applied).toContain(6);
    expect(applied.every((v) => v > LAST_V1_MIGRATION)).toBe(true);

    const v2Codec = new TopicCodec(registry, topic, SCHEMA_FILES.normalized);
    const v2Records = Array.from({ length: V2_RECORDS }, (_, i) => v2Record(i));
    await publisher.send(topic, await Promise.all(v2Records.map(async (r) => ({ key: r.cdr_id, value: await v2Codec.encode(r) }))));
    // The registry holds both versions under the one subject.
    const versions = (await (await fetch(`${testInfra().schemaRegistryUrl}/subjects/${encodeURIComponent(subject)}/versions`)).json()) as number[];
    expect(versions).toHaveLength(2);
    expect(await v2Codec.register()).not.toBe(v1Id);

    const total = STORED_BY_V1_SINK + BACKLOG_V1 + V2_RECORDS;
    await waitFor(async () => Number((await query<{ n: string }>(`SELECT count() AS n FROM ${ch.database}.cdr FINAL`))[0]!.n) === total, { timeoutMs: 60_000, message: `${total} rows in ClickHouse` });
    expect(sink.stats.deadLettered).toBe(0);
    expect((await readTopic(kafka, deadLetterTopic, 0, { idleMs: 500 })).count).toBe(0);

    const rooms = await query<{ generation: string; n: string; with_room: string }>(
      `SELECT splitByChar(':', cdr_id)[3] AS generation, count() AS n, countIf(room_id IS NOT NULL) AS with_room FROM ${ch.database}.cdr FINAL GROUP BY generation ORDER BY generation`,
    );
    // Old rows and the v1 backlog read the default (NULL); every v2 record carries its room.
    expect(rooms.map((r) => [r.generation, Number(r.n), Number(r.with_room)])).toEqual([
      ['v1', STORED_BY_V1_SINK + BACKLOG_V1, 0],
      ['v2', V2_RECORDS, V2_RECORDS],
    ]);
    const [one] = await query<{ room_id: string }>(`SELECT room_id FROM ${ch.database}.cdr FINAL WHERE cdr_id = '${idOf(1003, 'v2', 3)}'`);
    expect(one!.room_id).toBe('room-3');
  });

  it('the analytics views count both generations', async () => {
    const total = STORED_BY_V1_SINK + BACKLOG_V1 + V2_RECORDS;
    for (const view of ['cdr_daily', 'cdr_hourly', 'cdr_end_status']) {
      const [r] = await query<{ n: string }>(`SELECT sum(calls) AS n FROM ${ch.database}.${view}`);
      expect(Number(r!.n), view).toBe(total);
    }
    const legs = await query<{ n: string; expected: string }>(`SELECT (SELECT count() FROM ${ch.database}.cdr_legs_current) AS n, (SELECT sum(length(legs)) FROM ${ch.database}.cdr FINAL) AS expected`);
    expect(Number(legs[0]!.n)).toBe(Number(legs[0]!.expected));
    expect(Number(legs[0]!.n)).toBeGreaterThan(0);
  });

  it('an old consumer (v1 reader schema) keeps reading v2 records; a v2 reader sees v1 records with the default', async () => {
    const raw = await readValues();
    const v1Schema = loadSchemaJson(V1_FILE);
    const v2Schema = loadSchemaJson(SCHEMA_FILES.normalized);
    const v1Reader = avro.Type.forSchema(v1Schema as avro.Schema, avroOptions());
    let v2Seen = 0;
    for (const value of raw) {
      const old = (await registry.decode(value, { [SchemaType.AVRO]: { readerSchema: v1Schema } } as never)) as Record<string, unknown>;
      expect(v1Reader.isValid(old)).toBe(true);
      expect('room_id' in old).toBe(false);
      const current = (await registry.decode(value, { [SchemaType.AVRO]: { readerSchema: v2Schema } } as never)) as NormalizedCdr;
      if (String(current.cdr_id).includes(':v2:')) {
        v2Seen++;
        expect(current.room_id).toMatch(/^room-/);
        expect({ ...old, room_id: current.room_id }).toEqual(current);
      } else expect(current.room_id).toBeNull();
    }
    expect(v2Seen).toBe(V2_RECORDS);
  });
});

/** Every value on the topic, as bytes (a plain consumer, no decoding). */
async function readValues(): Promise<Buffer[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('evolve-reader'), maxWaitTimeInMs: TEST_FETCH_WAIT_MS });
  const values: Buffer[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!) });
    await waitFor(() => values.length >= STORED_BY_V1_SINK + BACKLOG_V1 + V2_RECORDS, { message: 'every record of the evolved topic' });
  } finally {
    await consumer.disconnect();
  }
  return values;
}
