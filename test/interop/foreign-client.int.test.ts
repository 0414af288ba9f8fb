// The contract other services rely on, checked by a foreign client: the fixtures of all four vendors go through the
// real pipeline (raw -> normalize -> cdr.normalized -> sink -> ClickHouse), then test/interop/consume.py — plain
// Python confluent-kafka[avro] against the registry's Confluent URL, no cdrflow code — decodes cdr.normalized, one
// raw topic and cdr.dlq, and every value it decoded is compared field by field with what ClickHouse holds for the same
// record: timestamps, nullable unions, enums, maps, arrays of legs / callees / IVR keys. A change of the wire format,
// the subject naming or a logical type makes the Python side refuse or decode differently, and this test fails.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { loadE2eCases } from '../../transforms/normalize/service/fixtures/e2e.ts';
import { parseNormalizeServiceConfig, startNormalizeService, type NormalizeService } from '../../transforms/normalize/service/index.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { parseSinkConfig, startClickHouseSink, type ClickHouseSink } from '../../sinks/clickhouse/index.ts';
import { CDR_COLUMNS, cdrObject } from '../../sinks/clickhouse/rows.ts';
import { createStageTopics, publishCases, readTopic, stageNames, waitGroupAtEnd, waitSinkCommitted } from '../../sinks/clickhouse/fixtures/pipeline.ts';
import { AckedPublisher, ensureTopics, readTopicToEnd } from '../../core/kafka.ts';
import { testClickHouse, testInfra, testKafka, testRegistry } from '../helpers.ts';
import { CONSUMER_SCRIPT, ensurePythonEnv } from './python-env.ts';

const run = promisify(execFile);
const kafka = testKafka();
const registry = testRegistry();
const names = stageNames('interop');
const cases = loadE2eCases();
const good = cases.filter((c) => c.expected !== null).length;
const bad = cases.length - good;
const RAW_VENDOR = 'tencent-ccc';
const rawCount = cases.filter((c) => c.vendor === RAW_VENDOR).length;

interface Decoded {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  schema_id: number;
  value: Record<string, unknown>;
}

let python: string;
let ch: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> };
let normalizeService: NormalizeService | undefined;
let sink: ClickHouseSink | undefined;
let decoded: Decoded[] = [];

beforeAll(async () => {
  python = await ensurePythonEnv((line) => console.log(line));
  ch = await testClickHouse('interop');
  names.database = ch.database;
  await createStageTopics(kafka, names);
  await publishCases(kafka, registry, names, cases);
  normalizeService = await startNormalizeService(
    parseNormalizeServiceConfig({ groupId: names.normalizeGroup, inputTopics: Object.values(names.raw), outputTopic: names.normalized, deadLetterTopic: names.deadLetter, instanceId: 'interop-0', maxMessagesPerTransaction: 25 }),
    { kafka, registry },
  );
  sink = await startClickHouseSink(
    parseSinkConfig({ groupId: names.sinkGroup, inputTopic: names.normalized, deadLetterTopic: names.deadLetter, database: ch.database, flushRows: 50, flushMs: 200 }),
    { kafka, registry, clickhouse: ch.client },
  );
  await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
  const normalized = await readTopic(kafka, names.normalized, good);
  await waitSinkCommitted(kafka, names.sinkGroup, names.normalized, normalized.lastOffsets);

  const infra = testInfra();
  const { stdout } = await run(
    python,
    [CONSUMER_SCRIPT, '--bootstrap', infra.kafkaBrokers.join(','), '--registry', infra.schemaRegistryUrl,
      '--topic', `${names.normalized}=${good}`, '--topic', `${names.raw[RAW_VENDOR]}=${rawCount}`, '--topic', `${names.deadLetter}=${bad}`],
    { maxBuffer: 64 << 20, timeout: 120_000 },
  ).catch((err: Error & { stderr?: string }) => {
    throw new Error(`the Python consumer failed: ${err.message}\n${err.stderr ?? ''}`, { cause: err });
  });
  decoded = stdout.trim().split('\n').map((line) => JSON.parse(line) as Decoded);
});

afterAll(async () => {
  await normalizeService?.stop();
  await sink?.stop();
  await ch?.cleanup();
});

const on = (topic: string) => decoded.filter((d) => d.topic === topic);

async function rows(query: string): Promise<Record<string, unknown>[]> {
  const rs = await ch.client.query({
    query,
    format: 'JSONEachRow',
    // Tuples as positional arrays and 64-bit integers as numbers: the shape of the sink's own row (rows.ts).
    clickhouse_settings: { output_format_json_named_tuples_as_objects: 0, output_format_json_quote_64bit_integers: 0 },
  });
  return rs.json<Record<string, unknown>>();
}

const TIMESTAMPS = ['started_at', 'queued_at', 'ringing_at', 'answered_at', 'ended_at'] as const;
const LEG_TIMESTAMPS = ['started_at', 'ringing_at', 'answered_at', 'ended_at'] as const;
const date = (v: unknown) => (v === null || v === undefined ? null : new Date(String(v)));

/** The Python-decoded value as the record type (its ISO timestamps back to instants), so it renders as a row. */
function revive(v: Record<string, unknown>): NormalizedCdr {
  const cdr = { ...v } as Record<string, unknown>;
  for (const f of TIMESTAMPS) cdr[f] = date(v[f]);
  cdr['received_at'] = date(v['received_at']);
  cdr['legs'] = (v['legs'] as Record<string, unknown>[]).map((l) => ({ ...l, ...Object.fromEntries(LEG_TIMESTAMPS.map((f) => [f, date(l[f])])) }));
  cdr['ivr_keys'] = (v['ivr_keys'] as Record<string, unknown>[]).map((k) => ({ ...k, at: date(k['at']) }));
  return cdr as unknown as NormalizedCdr;
}

describe('a Python confluent-kafka[avro] subscriber (no cdrflow code)', () => {
  it('refuses what breaks the contract: a wrong magic byte, a schema id from another subject', async () => {
    const infra = testInfra();
    const refuse = async (topic: string, value: Buffer) => {
      await ensureTopics(kafka, [{ topic, partitions: 1 }]);
      const publisher = new AckedPublisher(kafka);
      await publisher.connect();
      await publisher.send(topic, [{ key: 'k', value }]);
      await publisher.disconnect();
      const err = await run(python, [CONSUMER_SCRIPT, '--bootstrap', infra.kafkaBrokers.join(','), '--registry', infra.schemaRegistryUrl, '--topic', `${topic}=1`, '--timeout', '60']).then(
        () => null,
        (e: Error & { code?: number; stderr?: string }) => e,
      );
      expect(err?.code, `consume.py must refuse ${topic}`).toBe(2);
      return err!.stderr ?? '';
    };
    const frame = [...(await readTopicToEnd(kafka, names.normalized)).values()].find((v) => v !== null)!;
    const wrongMagic = Buffer.from(frame);
    wrongMagic[0] = 1;
    expect(await refuse(`${names.normalized}.magic`, wrongMagic)).toMatch(/not the Confluent wire format/);
    // The bytes of a valid cdr.normalized record, on a topic whose subject never registered that schema.
    expect(await refuse(`${names.normalized}.subject`, frame)).toMatch(/is not registered under subject/);
  });

  it('decoded every record of cdr.normalized, one raw topic and cdr.dlq, each under its <topic>-value subject', () => {
    expect(on(names.normalized)).toHaveLength(good);
    expect(on(names.raw[RAW_VENDOR])).toHaveLength(rawCount);
    expect(on(names.deadLetter)).toHaveLength(bad);
    expect(bad).toBeGreaterThan(0);
  });

  it('cdr.normalized: every decoded value equals its ClickHouse row, column by column', async () => {
    const stored = await rows(`SELECT ${CDR_COLUMNS.join(', ')} FROM ${ch.database}.cdr WHERE source_topic = '${names.normalized}'`);
    const byPosition = new Map(stored.map((r) => [`${String(r['source_partition'])}@${String(r['source_offset'])}`, r]));
    const exercised = { timestamp: 0, nullTimestamp: 0, nullUnionRecord: 0, unionRecord: 0, enum: new Set<unknown>(), nullEnum: 0, mapEntries: 0, legs: 0, callees: 0, ivrKeys: 0 };
    for (const d of on(names.normalized)) {
      const row = byPosition.get(`${d.partition}@${d.offset}`);
      expect(row, `no ClickHouse row for ${d.topic}[${d.partition}]@${d.offset}`).toBeDefined();
      expect(d.key).toBe(d.value['cdr_id']);
      const want = cdrObject(revive(d.value), { topic: d.topic, partition: d.partition, offset: d.offset });
      for (const column of CDR_COLUMNS) expect(row![column], `${String(d.value['cdr_id'])}.${column}`).toEqual(want[column]);
      // What the comparison covered (each kind of Avro type must actually occur in the data).
      for (const f of TIMESTAMPS) {
        if (d.value[f] === null) exercised.nullTimestamp++;
        else exercised.timestamp++;
      }
      if (d.value['caller'] === null) exercised.nullUnionRecord++;
      else exercised.unionRecord++;
      exercised.enum.add(d.value['end_status']);
      if (d.value['hangup_side'] === null) exercised.nullEnum++;
      exercised.mapEntries += Object.keys(d.value['extras'] as object).length;
      exercised.legs += (d.value['legs'] as unknown[]).length;
      exercised.callees += (d.value['callees'] as unknown[]).length;
      exercised.ivrKeys += (d.value['ivr_keys'] as unknown[]).length;
    }
    expect(exercised.timestamp).toBeGreaterThan(0);
    expect(exercised.nullTimestamp).toBeGreaterThan(0);
    expect(exercised.unionRecord).toBeGreaterThan(0);
    expect(exercised.nullUnionRecord).toBeGreaterThan(0);
    expect(exercised.enum.size).toBeGreaterThanOrEqual(8);
    expect(exercised.nullEnum).toBeGreaterThan(0);
    for (const n of [exercised.mapEntries, exercised.legs, exercised.callees, exercised.ivrKeys]) expect(n).toBeGreaterThan(0);
    // Timestamps are timestamp-millis (UTC) on the wire: the Python side sees the same instant as ClickHouse.
    const sample = on(names.normalized).find((d) => d.value['answered_at'] !== null)!;
    const [check] = await rows(`SELECT toUnixTimestamp64Milli(answered_at) AS ms FROM ${ch.database}.cdr WHERE source_offset = ${sample.offset} AND source_partition = ${sample.partition} AND source_topic = '${names.normalized}'`);
    expect(Number(check!['ms'])).toBe(new Date(String(sample.value['answered_at'])).getTime());
  });

  it(`raw envelopes (${RAW_VENDOR}): each decoded envelope is either the lineage of a ClickHouse row or a dead letter`, async () => {
    const stored = await rows(`SELECT vendor, tenant_id, natural_key, received_at, ingest_mode, raw_partition, raw_offset FROM ${ch.database}.cdr WHERE raw_topic = '${names.raw[RAW_VENDOR]}'`);
    const byRaw = new Map(stored.map((r) => [`${String(r['raw_partition'])}@${String(r['raw_offset'])}`, r]));
    const dead = new Set(on(names.deadLetter).filter((d) => d.value['origin_topic'] === names.raw[RAW_VENDOR]).map((d) => `${String(d.value['origin_partition'])}@${String(d.value['origin_offset'])}`));
    let landed = 0;
    for (const d of on(names.raw[RAW_VENDOR])) {
      const env = d.value;
      expect(d.key).toBe(env['natural_key']);
      expect(typeof env['payload']).toBe('string');
      expect(env['attributes']).toBeTypeOf('object');
      const row = byRaw.get(`${d.partition}@${d.offset}`);
      if (row === undefined) {
        expect(dead.has(`${d.partition}@${d.offset}`), `${d.topic}[${d.partition}]@${d.offset} is neither in ClickHouse nor dead-lettered`).toBe(true);
        continue;
      }
      landed++;
      expect({ vendor: row['vendor'], tenant_id: row['tenant_id'], natural_key: row['natural_key'], ingest_mode: row['ingest_mode'], received_at: new Date(`${String(row['received_at']).replace(' ', 'T')}Z`).toISOString() }).toEqual({
        vendor: env['vendor'],
        tenant_id: env['tenant_id'],
        natural_key: env['natural_key'],
        ingest_mode: env['mode'],
        received_at: env['received_at'],
      });
    }
    expect(landed).toBeGreaterThan(0);
  });

  it('cdr.dlq: every dead letter names its origin and reason, carries the original bytes, and has no ClickHouse row', async () => {
    const rawIds = new Set(on(names.raw[RAW_VENDOR]).map((d) => d.schema_id));
    const stored = await rows(`SELECT raw_topic, raw_partition, raw_offset FROM ${ch.database}.cdr`);
    const landed = new Set(stored.map((r) => `${String(r['raw_topic'])}[${String(r['raw_partition'])}]@${String(r['raw_offset'])}`));
    for (const d of on(names.deadLetter)) {
      const v = d.value;
      expect(v['component']).toBe('normalize');
      expect(v['error_kind']).toBe('bad_record');
      expect(String(v['error_message']).length).toBeGreaterThan(0);
      expect(Number.isNaN(new Date(String(v['failed_at'])).getTime())).toBe(false);
      expect(Object.values(names.raw)).toContain(v['origin_topic']);
      expect(landed.has(`${String(v['origin_topic'])}[${String(v['origin_partition'])}]@${String(v['origin_offset'])}`)).toBe(false);
      // The original raw value, still in the Confluent wire format (bytes field, decoded by Python as bytes).
      const original = Buffer.from((v['original_value'] as { $bytes: string }).$bytes, 'base64');
      expect(original[0]).toBe(0);
      if (v['origin_topic'] === names.raw[RAW_VENDOR]) expect(rawIds.has(original.readUInt32BE(1))).toBe(true);
    }
  });
});
