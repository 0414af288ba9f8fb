// Fuzz (d): poison records through the live pipeline on the real servers. The receivers refuse deep nesting at the
// door, so the poison is written straight onto the raw topics, as a poller, an import or an older receiver could have:
// a record nested 5,000 levels deep (it used to stop normalize with "Maximum call stack size exceeded" and the job on
// every restart), a record whose codes are JavaScript built-in names, and bytes that are not an Avro envelope. Each
// ends in the dead-letter topic with its reason, normalize and the sink keep running, and the good records published
// after the poison reach ClickHouse. Then mutated pushes go through the live receiver: every record it answered with
// success is in ClickHouse or in the dead-letter topic — never both, never neither (accounted by raw offset).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { RawEnvelopePublisher, type RawEnvelope } from '../../core/envelope.ts';
import { AckedPublisher, ensureTopics } from '../../core/kafka.ts';
import { topicEndOffsets } from '../../core/kafka-streams.ts';
import { silentLog } from '../../core/log.ts';
import { huaweiAuthHeaders } from '../../simulators/huawei-privatenumber/sign.ts';
import { signedParams } from '../../simulators/alibaba-lvms/submitter.ts';
import { startReceiver } from '../../connectors/push-vendors.ts';
import { fuzzLines } from './generator.ts';
import { SCHEMA_FILES, VENDORS } from '../../core/topology.ts';
import { parseNormalizeServiceConfig, startNormalizeService, type NormalizeService } from '../../transforms/normalize/service/index.ts';
import { E2E_RECEIVED_AT, loadE2eCases } from '../../transforms/normalize/service/fixtures/e2e.ts';
import { parseSinkConfig, startClickHouseSink, type ClickHouseSink } from '../../sinks/clickhouse/index.ts';
import { createStageTopics, publishCases, stageNames, waitGroupAtEnd } from '../../sinks/clickhouse/fixtures/pipeline.ts';
import { TEST_FETCH_WAIT_MS, testClickHouse, testKafka, testRegistry, uniqueName, waitFor } from '../helpers.ts';
import { lyingBlockCount } from '../lying-avro.ts';
import { sendManyHeadersBatch, sendManyHeadersRecord, sendManyRecordsBatch, sendZstdBomb } from '../hostile-batches.ts';
import { endsWithin } from '../ends-within.ts';
import { avroType, loadSchemaJson } from '../../core/avro.ts';
import { sampleCdr } from '../../sinks/clickhouse/fixtures/sample-cdrs.ts';

const kafka = testKafka();
const registry = testRegistry();
const names = stageNames('poison');
const good = loadE2eCases().filter((c) => c.expected !== null);
let ch: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> };
let normalizeService: NormalizeService | undefined;
let sink: ClickHouseSink | undefined;
const stopped: string[] = [];
const events: string[] = [];
const log = (level: string, event: string, fields: Record<string, unknown> = {}) => void events.push(`${level} ${event} ${JSON.stringify(fields).slice(0, 300)}`);

const poison = (natural_key: string, payload: string): RawEnvelope => ({
  vendor: 'tencent-ccc',
  tenant_id: '1400000000',
  natural_key,
  received_at: E2E_RECEIVED_AT,
  connector: 'poison-test',
  mode: 'live',
  request_id: null,
  payload,
  payload_format: 'json',
  attributes: {},
});

/**
 * A broker that has just started answers "not the coordinator" for a while; the job's supervisor restarts a stage on
 * that, this test (about poison, not start-up) waits until a throwaway group can join instead.
 */
async function coordinatorReady(topic: string): Promise<void> {
  await waitFor(
    async () => {
      const consumer = kafka.consumer({ groupId: uniqueName('warmup'), allowAutoTopicCreation: false, maxWaitTimeInMs: TEST_FETCH_WAIT_MS });
      try {
        const joined = new Promise<boolean>((resolve) => {
          consumer.on(consumer.events.GROUP_JOIN, () => resolve(true));
          consumer.on(consumer.events.CRASH, () => resolve(false));
        });
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({ eachMessage: async () => undefined });
        return await joined;
      } finally {
        await consumer.disconnect().catch(() => undefined);
      }
    },
    { timeoutMs: 120_000, intervalMs: 500, message: 'a consumer group to join' },
  );
}

beforeAll(async () => {
  ch = await testClickHouse('poison');
  names.database = ch.database;
  await createStageTopics(kafka, names);
  await coordinatorReady(names.deadLetter);
  normalizeService = await startNormalizeService(
    parseNormalizeServiceConfig({
      groupId: names.normalizeGroup,
      inputTopics: Object.values(names.raw),
      outputTopic: names.normalized,
      deadLetterTopic: names.deadLetter,
      instanceId: 'poison-0',
      maxMessagesPerTransaction: 25,
    }),
    { kafka, registry, log },
  );
  void normalizeService.done.then(() => stopped.push('normalize'), (err: unknown) => stopped.push(`normalize: ${String(err)}`));
  sink = await startClickHouseSink(
    parseSinkConfig({ groupId: names.sinkGroup, inputTopic: names.normalized, deadLetterTopic: names.deadLetter, database: ch.database, flushRows: 40, flushMs: 200 }),
    { kafka, registry, clickhouse: ch.client },
  );
  void sink.done.then(() => stopped.push('sink'), () => stopped.push('sink'));
  await readDeadLetters();
});

afterAll(async () => {
  await letterReader?.disconnect();
  await normalizeService?.stop();
  await sink?.stop();
  await ch?.cleanup();
});

/** Every dead letter on the topic, decoded (read_committed), by key and by origin; one consumer for the whole file. */
const letters = new Map<string, Record<string, unknown>>();
const letterOrigins = new Set<string>();
/** The dead letters by origin (topic/partition/offset): a letter whose record had no key is found by where it was. */
const lettersByOrigin = new Map<string, Record<string, unknown>>();
let letterReader: ReturnType<typeof kafka.consumer> | undefined;

async function readDeadLetters(): Promise<void> {
  letterReader = kafka.consumer({ groupId: uniqueName('dlq-reader'), allowAutoTopicCreation: false, maxWaitTimeInMs: TEST_FETCH_WAIT_MS });
  await letterReader.connect();
  await letterReader.subscribe({ topics: [names.deadLetter], fromBeginning: true });
  await letterReader.run({
    eachMessage: async ({ message }) => {
      const d = (await registry.decode(message.value!)) as Record<string, unknown>;
      letters.set(message.key?.toString() ?? '', d);
      const origin = `${String(d['origin_topic'])}/${String(d['origin_partition'])}/${Number(d['origin_offset'])}`;
      letterOrigins.add(origin);
      lettersByOrigin.set(origin, d);
    },
  });
}

async function deadLetters(keys: string[]): Promise<Map<string, Record<string, unknown>>> {
  await waitFor(() => keys.every((k) => letters.has(k)), { timeoutMs: 90_000, message: `dead letters ${keys.join(', ')}` }).catch((err: unknown) => {
    throw new Error(`${String(err)}; found ${[...letters.keys()].join(', ')}; stopped ${stopped.join(',')}; normalize ${JSON.stringify(normalizeService?.stats)}; events ${events.slice(-8).join(' | ')}`, { cause: err });
  });
  return letters;
}

describe('poison records in the live pipeline', () => {
  it('dead-letters each poison record with its reason while both stages keep running and later good records land', { timeout: 300_000 }, async () => {
    const deep = JSON.stringify({ SessionId: 'poison-deep', StartTimestamp: 1764547200, x: 0 }).replace('"x":0', `"x":${'['.repeat(5000)}1${']'.repeat(5000)}`);
    const builtIns = JSON.stringify({ SessionId: 'poison-proto', StartTimestamp: 1764547200, AcceptTimestamp: 1764546600, EndedTimestamp: 1764547261, EndStatus: 'toString', Direction: 'constructor' });
    // As large as the broker takes on the raw topic (message.max.bytes, 1 MiB): its dead letter, which adds the reason
    // and origin, would not fit, and normalize would retry that transaction for ever unless the letter is cut.
    const huge = JSON.stringify({ SessionId: 'poison-huge', StartTimestamp: 1764547200, Pad: '' }).replace('"Pad":""', `"Pad":"${'x'.repeat(1_048_300)}"`);
    const publisher = new AckedPublisher(kafka);
    try {
      const raw = new RawEnvelopePublisher(registry, publisher);
      await raw.publish([poison('poison-deep', deep), poison('poison-proto', builtIns)], names.raw['tencent-ccc']);
      await raw.publish([poison('poison-huge', huge)], names.raw['tencent-ccc']);
      await publisher.send(names.raw['tencent-ccc'], [{ key: 'poison-bytes', value: Buffer.from('not an Avro envelope') }]);
    } finally {
      await publisher.disconnect();
    }
    // The good records come after the poison on the same topics.
    await publishCases(kafka, registry, names, good);

    const dead = await deadLetters(['tencent-ccc:1400000000:poison-deep', 'tencent-ccc:1400000000:poison-proto', 'poison-bytes', 'tencent-ccc:1400000000:poison-huge']);
    expect(dead.get('tencent-ccc:1400000000:poison-huge')).toMatchObject({
      error_kind: 'bad_record',
      error_message: expect.stringMatching(/^record is 1048\d+ bytes \(limit 65536 per record\) \[original_value cut to its first 524288 of 1048\d+ bytes \(sha256 [0-9a-f]{64}\)\]$/),
    });
    expect(dead.get('tencent-ccc:1400000000:poison-deep')).toMatchObject({ error_kind: 'bad_record', component: 'normalize', error_message: 'JSON nested deeper than 16 levels' });
    expect(dead.get('tencent-ccc:1400000000:poison-deep')!['original_value']).toBeInstanceOf(Buffer);
    expect(dead.get('tencent-ccc:1400000000:poison-proto')).toMatchObject({ error_kind: 'bad_record', error_message: expect.stringMatching(/^consistency rule time-order: answered_at \(AcceptTimestamp\)/) });
    expect(dead.get('poison-bytes')).toMatchObject({ component: 'normalize', error_message: expect.stringMatching(/^normalize\/decode: /) });

    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
    const want = new Set(good.map((c) => c.expected!.cdr_id)).size;
    await waitFor(
      async () => {
        const r = await ch.client.query({ query: `SELECT uniqExact(cdr_id) AS n, countIf(vendor = 'tencent-ccc' AND natural_key LIKE 'poison%') AS p FROM ${ch.database}.cdr FINAL`, format: 'JSONEachRow' });
        const [row] = (await r.json()) as { n: string | number; p: string | number }[];
        return Number(row!.n) === want && Number(row!.p) === 0;
      },
      { timeoutMs: 90_000, message: `${want} good CDRs in ClickHouse and no poison` },
    );
    expect(VENDORS.every((v) => good.some((c) => c.vendor === v))).toBe(true);
    expect(stopped).toEqual([]);
    expect(normalizeService!.stats.deadLettered).toBeGreaterThanOrEqual(4);
  });

  it('dead-letters records of an unknown schema id or of another schema on both stages\' topics, and both stages go on (they stopped for good)', { timeout: 300_000 }, async () => {
    // A writer schema that is neither the raw envelope nor the normalized CDR, registered under a subject of its own.
    const { SchemaType } = await import('@kafkajs/confluent-schema-registry');
    const foreign = { type: 'record', name: 'Foreign', namespace: 'test.poison', fields: [{ name: 'a', type: 'string' }] };
    const { id: foreignId } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(foreign) }, { subject: `${uniqueName('foreign')}-value` });
    const foreignBytes = await registry.encode(foreignId, { a: 'not a CDR' });
    // The registry's wire frame (magic byte 0, then the id) with an id it has never given out.
    const unknownId = Buffer.from([0, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
    // A negative id: no registry gives one out, and the sink's render step once took -1 for a tombstone's and stopped.
    const negativeId = Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 0x78]);
    const publisher = new AckedPublisher(kafka);
    try {
      await publisher.send(names.raw['tencent-ccc'], [
        { key: 'raw-unknown-id', value: unknownId },
        { key: 'raw-foreign', value: foreignBytes },
        { key: 'raw-negative-id', value: negativeId },
      ]);
      await publisher.send(names.normalized, [
        { key: 'normalized-unknown-id', value: unknownId },
        { key: 'normalized-foreign', value: foreignBytes },
        { key: 'normalized-negative-id', value: negativeId },
      ]);
    } finally {
      await publisher.disconnect();
    }
    const dead = await deadLetters(['raw-unknown-id', 'raw-foreign', 'raw-negative-id', 'normalized-unknown-id', 'normalized-foreign', 'normalized-negative-id']);
    expect(dead.get('raw-unknown-id')).toMatchObject({ component: 'normalize', error_kind: 'bad_record', error_message: expect.stringMatching(/2147483647/) });
    expect(dead.get('raw-foreign')).toMatchObject({ component: 'normalize', error_kind: 'bad_record' });
    expect(dead.get('normalized-unknown-id')).toMatchObject({ error_kind: 'bad_record', error_message: expect.stringMatching(/2147483647/) });
    expect(dead.get('normalized-foreign')).toMatchObject({ error_kind: 'bad_record' });
    expect(dead.get('normalized-foreign')!['component']).not.toBe('normalize');
    for (const key of ['raw-negative-id', 'normalized-negative-id']) expect(dead.get(key), key).toMatchObject({ error_kind: 'bad_record', error_message: expect.stringMatching(/-1\b/) });
    expect(dead.get('normalized-negative-id')!['component']).not.toBe('normalize');
    // Both groups went past them to the end of their topics, and neither stage stopped.
    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
    await waitGroupAtEnd(kafka, names.sinkGroup, [names.normalized]);
    expect(stopped).toEqual([]);
  });

  it('dead-letters records of hostile writer schemas on both stages\' topics: one named like a network error (both stages restarted on it for good) and one no client can build, 25 times (normalize rebuilt it for every record, past its group session, for good)', { timeout: 300_000 }, async () => {
    const { SchemaType } = await import('@kafkajs/confluent-schema-registry');
    const register = async (schema: object) => (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: `${uniqueName('hostile')}-value` })).id;
    const frame = (id: number, body: Buffer) => {
      const header = Buffer.alloc(5);
      header.writeInt32BE(id, 1);
      return Buffer.concat([header, body]);
    };
    const network = { type: 'record', name: 'CallEvent', namespace: 'com.acme.network', fields: [{ name: 'a', type: 'string' }] };
    const networkValue = await registry.encode(await register(network), { a: 'x' });
    // The raw envelope with 40,000 more fields: the registry takes it, avsc cannot build it (too many parameters).
    const envelope = loadSchemaJson(SCHEMA_FILES.rawEnvelope) as { fields: object[] };
    // Registered over the registry's API itself: the client builds a schema before it registers it.
    const wideSchema = { ...envelope, fields: [...envelope.fields, ...Array.from({ length: 40_000 }, (_, i) => ({ name: `f${i}`, type: 'int', default: 0 }))] };
    const api = (registry as unknown as { api: { Subject: { register(r: { subject: string; body: { schema: string } }): Promise<{ data(): { id: number } }> } } }).api;
    const wideId = (await api.Subject.register({ subject: `${uniqueName('hostile')}-value`, body: { schema: JSON.stringify(wideSchema) } })).data().id;
    const wide = (i: number) => ({ key: `raw-unbuildable-${i}`, value: frame(wideId, Buffer.from([0])) });
    const publisher = new AckedPublisher(kafka);
    try {
      await publisher.send(names.raw['tencent-ccc'], [{ key: 'raw-network-writer', value: networkValue }, ...Array.from({ length: 25 }, (_, i) => wide(i))]);
      await publisher.send(names.normalized, [{ key: 'normalized-network-writer', value: networkValue }]);
    } finally {
      await publisher.disconnect();
    }
    const unbuildable = Array.from({ length: 25 }, (_, i) => `raw-unbuildable-${i}`);
    const dead = await deadLetters(['raw-network-writer', 'normalized-network-writer', ...unbuildable]);
    for (const key of ['raw-network-writer', 'normalized-network-writer']) expect(dead.get(key), key).toMatchObject({ error_kind: 'bad_record', error_message: expect.stringMatching(/cannot be read as/) });
    for (const key of unbuildable) expect(dead.get(key), key).toMatchObject({ component: 'normalize', error_kind: 'bad_record', error_message: expect.stringMatching(new RegExp(`writer schema ${wideId} cannot be built`)) });
    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
    await waitGroupAtEnd(kafka, names.sinkGroup, [names.normalized]);
    expect(stopped).toEqual([]);
    // Nothing went round again: no chunk was refused for a member that fell out of its group.
    expect(events.filter((e) => /commit_refused|restart/.test(e))).toEqual([]);
  });

  it('dead-letters records whose array or map count is beyond their bytes, on both stages\' topics, at once (each kept a thread decoding for hours)', { timeout: 300_000 }, async () => {
    // Lies like these read first in a thread stopped after 5 s: without the bound normalize, which runs in this test's
    // own thread, would read the raw one's 2^40 entries for hours, and no timeout of this test could fire meanwhile.
    const bounded = endsWithin<typeof import('../../core/avro-block-counts.cases.ts')>(
      new URL('../../core/avro-block-counts.cases.ts', import.meta.url),
      5_000,
      "an Avro array's or map's block count is no longer held to the bytes left (core/avro-block-counts.ts)",
    );
    const truncated = [{ threw: expect.stringContaining('truncated buffer') }];
    expect(await bounded('lyingCounts', 'raw envelope', 'attributes', [2 ** 40])).toEqual(truncated);
    expect(await bounded('lyingCounts', 'normalized CDR', 'extras', [2 ** 40])).toEqual(truncated);
    const { SchemaType } = await import('@kafkajs/confluent-schema-registry');
    const framed = async (subject: string, file: string, body: Buffer) => {
      const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(loadSchemaJson(file)) }, { subject });
      const header = Buffer.alloc(5);
      header.writeInt32BE(id, 1);
      return Buffer.concat([header, body]);
    };
    // 2^40 items said, a few bytes there: avsc read them one by one from an empty buffer before it said "truncated".
    const envelopeType = avroType(SCHEMA_FILES.rawEnvelope);
    const rawLie = await framed(`${names.raw['tencent-ccc']}-value`, SCHEMA_FILES.rawEnvelope, lyingBlockCount(envelopeType, { ...poison('lying-count', '{}') }, 'attributes', 2 ** 40));
    const cdrType = avroType(SCHEMA_FILES.normalized);
    const normalizedLie = await framed(`${names.normalized}-value`, SCHEMA_FILES.normalized, lyingBlockCount(cdrType, cdrType.fromBuffer(cdrType.toBuffer(sampleCdr(1))) as Record<string, unknown>, 'extras', 2 ** 40));
    const publisher = new AckedPublisher(kafka);
    try {
      await publisher.send(names.raw['tencent-ccc'], [{ key: 'raw-lying-count', value: rawLie }]);
      await publisher.send(names.normalized, [{ key: 'normalized-lying-count', value: normalizedLie }]);
    } finally {
      await publisher.disconnect();
    }
    const dead = await deadLetters(['raw-lying-count', 'normalized-lying-count']);
    expect(dead.get('raw-lying-count')).toMatchObject({ component: 'normalize', error_kind: 'bad_record', error_message: expect.stringMatching(/truncated buffer/) });
    expect(dead.get('normalized-lying-count')).toMatchObject({ error_kind: 'bad_record', error_message: expect.stringMatching(/truncated buffer/) });
    expect(dead.get('normalized-lying-count')!['component']).not.toBe('normalize');
    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
    await waitGroupAtEnd(kafka, names.sinkGroup, [names.normalized]);
    expect(stopped).toEqual([]);
  });

  it('dead-letters a ZSTD batch that expands past 256 MiB, a batch of 200,000 records and one of 1,100,000 headers, on both stages\' topics, each as one letter naming its offsets and keeping its bytes, and reads a record of 200,000 headers at once; both stages go on (each stopped at the batches on every restart, and took 98 s a fetch over the record)', { timeout: 300_000 }, async () => {
    const raw = await sendZstdBomb(kafka, names.raw['tencent-ccc'], 0);
    const normalized = await sendZstdBomb(kafka, names.normalized, 0);
    // And batches of 200,000 empty records (a few hundred KB in GZIP): kafkajs overflowed the stack on each.
    const rawMany = await sendManyRecordsBatch(kafka, names.raw['tencent-ccc'], 1);
    const normalizedMany = await sendManyRecordsBatch(kafka, names.normalized, 1);
    // Records of 200,000 headers (600 KB): kafkajs took 98 s over each, in every fetch of its partition.
    await sendManyHeadersRecord(kafka, names.raw['tencent-ccc'], 'raw-many-headers', Buffer.from('not an Avro envelope'));
    await sendManyHeadersRecord(kafka, names.normalized, 'normalized-many-headers', Buffer.from('not an Avro CDR'));
    // And a GZIP batch of one record of 1,100,000 headers (3 KB): decoded, ~77 MB of heap, and a partition of them was GBs.
    await sendManyHeadersBatch(kafka, names.raw['tencent-ccc'], 'raw-header-bomb');
    await sendManyHeadersBatch(kafka, names.normalized, 'normalized-header-bomb');
    // A record after each bomb, a dead letter of its own; the groups at their topics' ends below say the stages went past.
    const publisher = new AckedPublisher(kafka);
    try {
      await publisher.send(names.raw['tencent-ccc'], [{ key: 'raw-after-bomb', value: Buffer.from('not an Avro envelope') }]);
      await publisher.send(names.normalized, [{ key: 'normalized-after-bomb', value: Buffer.from('not an Avro CDR') }]);
    } finally {
      await publisher.disconnect();
    }
    await deadLetters(['raw-after-bomb', 'normalized-after-bomb', 'raw-many-headers', 'normalized-many-headers']);
    // The header bombs' letters carry no key (they stand for a batch): found by their reason.
    const headerBombs = () => [...lettersByOrigin.values()].filter((l) => String(l['error_message']).startsWith('a record batch whose records carry more than 250000 headers; not read — the batch at offset'));
    await waitFor(() => headerBombs().length >= 2, { timeoutMs: 60_000, message: 'both header bombs dead-lettered' });
    expect(headerBombs().map((l) => String(l['origin_topic'])).sort()).toEqual([names.raw['tencent-ccc'], names.normalized].sort());
    const refused = /^a record batch compressed with ZSTD \(9\d{3} bytes\) expands past 268435456 bytes; not read — the batch at offset \d+ \(1 record\) is this one dead letter/;
    for (const [topic, bomb, component] of [[names.raw['tencent-ccc'], raw, 'normalize'], [names.normalized, normalized, 'sink']] as const) {
      const letter = lettersByOrigin.get(`${topic}/0/${bomb.offset}`);
      expect(letter, `${topic}'s bomb dead-lettered`).toMatchObject({ error_kind: 'bad_record', error_message: expect.stringMatching(refused), original_key: null });
      expect(String(letter!['component'])).toContain(component);
      expect(Buffer.compare(letter!['original_value'] as Buffer, bomb.compressed)).toBe(0);
    }
    for (const [topic, many] of [[names.raw['tencent-ccc'], rawMany], [names.normalized, normalizedMany]] as const) {
      const letter = lettersByOrigin.get(`${topic}/1/${many.last}`);
      expect(letter, `${topic}'s batch of 200,000 records dead-lettered`).toMatchObject({
        error_kind: 'bad_record',
        error_message: expect.stringContaining(`a record batch declaring 200000 records, past the 100000 cdrflow reads in one batch; not read — the batch at offsets ${many.first}–${many.last} (200000 records)`),
      });
    }
    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
    await waitGroupAtEnd(kafka, names.sinkGroup, [names.normalized]);
    expect(stopped).toEqual([]);
    expect(events.filter((e) => /commit_refused|restart/.test(e))).toEqual([]);
  });

  it('accounts for every record the live receiver accepted from mutated pushes: ClickHouse xor cdr.dlq', { timeout: 300_000 }, async () => {
    const COUNT = 60;
    const huawei = { appKey: 'live-fuzz-hw', appSecret: 'live-fuzz-secret' };
    const lvms = { appKey: '66666666', appSecret: 'live-fuzz-lvms' };
    const eventsTopic = `${names.raw['huawei-privatenumber']}.events`;
    await ensureTopics(kafka, [{ topic: eventsTopic }]);
    const acked = new AckedPublisher(kafka);
    const envelopes = new RawEnvelopePublisher(registry, acked);
    const receiver = await startReceiver(
      {
        port: 0,
        huawei: { apps: [huawei], topics: { fee: names.raw['huawei-privatenumber'], events: eventsTopic } },
        lvms: { apps: [lvms], topic: names.raw['alibaba-lvms'] },
      },
      { sink: { publish: (batch, topic) => envelopes.publish(batch, topic) }, log: silentLog },
    );
    let accepted = 0;
    try {
      // Unique call ids, so ClickHouse's deduplication by cdr_id (a re-sent call replaces its row) cannot hide a
      // stored record: prefixed where the record has one, given where it has none (a second, non-string one makes
      // the record a duplicate member, refused at the door).
      const unique = (line: string, pattern: RegExp, replacement: string, member: string) =>
        pattern.test(line) ? line.replace(pattern, replacement) : line.replace('{', `{${member},`);
      const hw = [...fuzzLines('huawei-privatenumber', COUNT, 153)].map((f, i) =>
        typeof f.line === 'string' ? unique(f.line, /"sessionId":"/, `"sessionId":"L${i}-`, `"sessionId":"L${i}"`) : f.line,
      );
      for (const line of hw) {
        const res = await fetch(`${receiver.url}/huawei/privatenumber/fee`, {
          method: 'POST',
          headers: { 'content-type': 'application/json;charset=UTF-8', ...huaweiAuthHeaders(huawei.appKey, huawei.appSecret) },
          body: Buffer.concat([Buffer.from('{"eventType":"fee","feeLst":['), Buffer.isBuffer(line) ? line : Buffer.from(line), Buffer.from(']}')]),
        });
        if (res.status === 200) accepted++;
        await res.arrayBuffer();
      }
      const lv = [...fuzzLines('alibaba-lvms', COUNT, 154)].flatMap((f, i) =>
        typeof f.line === 'string' ? [unique(f.line, /"call_record_id":(\d+)/, `"call_record_id":7${String(i).padStart(4, '0')}$1`, `"call_record_id":79${String(i).padStart(4, '0')}`)] : [],
      );
      for (const dto of lv) {
        const res = await fetch(`${receiver.url}/router/rest`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: signedParams({ ...lvms, dto, format: 'json' }).toString() });
        if ((await res.text()).includes('"success":true')) accepted++;
      }
    } finally {
      await receiver.stop();
      await acked.disconnect();
    }
    expect(accepted).toBeGreaterThan(0);

    const rawTopics = [names.raw['huawei-privatenumber'], names.raw['alibaba-lvms']];
    const all = new Set<string>();
    for (const topic of rawTopics) for (const [p, end] of await topicEndOffsets(kafka, topic)) for (let o = 0; o < end; o++) all.add(`${topic}/${p}/${o}`);
    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
    let last = '';
    await waitFor(
      async () => {
        const r = await ch.client.query({ query: `SELECT DISTINCT raw_topic, raw_partition, raw_offset FROM ${ch.database}.cdr WHERE raw_topic IN ('${rawTopics.join("','")}')`, format: 'JSONEachRow' });
        const inClickHouse = new Set(((await r.json()) as { raw_topic: string; raw_partition: number; raw_offset: string | number }[]).map((x) => `${x.raw_topic}/${x.raw_partition}/${Number(x.raw_offset)}`));
        const both = [...inClickHouse].filter((k) => letterOrigins.has(k));
        const neither = [...all].filter((k) => !inClickHouse.has(k) && !letterOrigins.has(k));
        const dead = [...all].filter((k) => letterOrigins.has(k)).length;
        last = `${all.size} raw records, ${inClickHouse.size} in ClickHouse, ${dead} dead-lettered, both: ${both.slice(0, 5).join(' ')}, neither: ${neither.slice(0, 5).join(' ')}`;
        return both.length === 0 && neither.length === 0;
      },
      { timeoutMs: 180_000, intervalMs: 1_000, message: 'every accepted record in ClickHouse xor cdr.dlq' },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${last}`, { cause: err });
    });
    expect(stopped).toEqual([]);
    process.stdout.write(`live receiver fuzz: ${accepted} records answered success; ${last}\n`);
  });
});
