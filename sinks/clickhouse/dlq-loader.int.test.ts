// The dead-letter loader end to end on the real servers: bad records dead-lettered by normalize and by the sink, plus
// dead letters written directly (some that never were Kafka messages, one with every byte value, one too long to
// keep whole), reach `cdr_dead_letters` exactly once — also when the loader is SIGKILLed between an insert and its
// commit and restarted (the re-read range differs from the inserted one): count() without FINAL = what the topic
// holds. Hostile messages on the dead-letter topic (garbage, a near-1 MB message, unknown and wrong schema ids, a
// tombstone, an impossible time) are logged and skipped; the loader keeps going and stops cleanly.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TopicCodec } from '../../core/avro.ts';
import { DeadLetterWriter, deadLetterForPayload, type DeadLetter } from '../../core/dead-letter.ts';
import { AckedPublisher } from '../../core/kafka.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { loadE2eCases } from '../../transforms/normalize/service/fixtures/e2e.ts';
import { parseNormalizeServiceConfig, startNormalizeService, type NormalizeService } from '../../transforms/normalize/service/index.ts';
import { testClickHouse, testKafka, testRegistry } from '../../test/helpers.ts';
import { cdrflow } from '../../test/main-job/cli.ts';
import { createStageTopics, publishCases, readTopic, stageNames, waitGroupAtEnd, waitSinkCommitted } from './fixtures/pipeline.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { startStage, type StageProcess } from './fixtures/stage-process.ts';
import { parseSinkConfig, startClickHouseSink, type ClickHouseSink } from './index.ts';

const kafka = testKafka();
const registry = testRegistry();
const cases = loadE2eCases();
const bad = cases.filter((c) => c.expected === null).length;
const running: StageProcess[] = [];
let normalize: NormalizeService | undefined;
let sink: ClickHouseSink | undefined;
let sinkCh: Awaited<ReturnType<typeof testClickHouse>> | undefined;

afterAll(async () => {
  for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited));
  await normalize?.stop();
  await sink?.stop();
  await sinkCh?.cleanup();
});

const MAX_ORIGINAL = 65_536;
const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('dlq-loader: cdr.dlq -> cdr_dead_letters', () => {
  it('loads every dead letter once across a SIGKILL between insert and commit, and skips hostile messages without stopping', async () => {
    const names = stageNames('dlqload');
    const work = mkdtempSync(join(tmpdir(), 'cdrflow-dlq-loader-'));
    const dataDir = join(work, 'clickhouse');
    await createStageTopics(kafka, names);

    // 1. Dead letters by normalize (the fixtures' bad records, inside its transactions) and by the sink (values on
    //    cdr.normalized that are no Avro).
    await publishCases(kafka, registry, names, cases);
    const publisher = new AckedPublisher(kafka);
    await publisher.connect();
    const sinkGarbage = 7;
    await publisher.send(names.normalized, Array.from({ length: sinkGarbage }, (_, i) => ({ key: `garbage-${i}`, value: Buffer.from(`not avro ${i}`) })));
    normalize = await startNormalizeService(
      parseNormalizeServiceConfig({ groupId: names.normalizeGroup, inputTopics: Object.values(names.raw), outputTopic: names.normalized, deadLetterTopic: names.deadLetter, instanceId: 'dlq-0' }),
      { kafka, registry },
    );
    sinkCh = await testClickHouse('dlqsink');
    sink = await startClickHouseSink(parseSinkConfig({ groupId: names.sinkGroup, inputTopic: names.normalized, deadLetterTopic: names.deadLetter, database: sinkCh.database, flushMs: 200 }), {
      kafka,
      registry,
      clickhouse: sinkCh.client,
    });
    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
    await readTopic(kafka, names.deadLetter, bad + sinkGarbage);

    // 2. Dead letters written directly: two identical ones that never were Kafka messages (origin offset -1: only
    //    their own position on the topic tells them apart), one carrying every byte value, one over maxOriginalBytes,
    //    and enough more that the loader makes several inserts before it is killed.
    const writer = new DeadLetterWriter(registry, names.deadLetter, () => {});
    const failedAt = new Date('2026-11-30T10:00:00.000Z');
    const minus1 = deadLetterForPayload('{"line":"not a cdr"}', { kind: 'bad_record', message: 'a file line without a call id' }, 'import', { topic: 'file:calls.csv', vendor: 'tencent-ccc', failed_at: failedAt });
    const letter = (i: number, over: Partial<DeadLetter> = {}): DeadLetter => ({
      ...deadLetterForPayload(`payload ${i}`, { kind: i % 2 === 0 ? 'bad_record' : 'rejected_by_sink', message: `direct ${i}\twith a tab` }, 'test', { topic: 'direct', vendor: 'alibaba-lvms', failed_at: failedAt }),
      origin_partition: 0,
      origin_offset: i,
      cdr_id: `direct-${i}`,
      ...over,
    });
    const direct = [
      minus1,
      { ...minus1 },
      letter(1000, { original_value: EVERY_BYTE, original_key: Buffer.from('key\n\\N') }),
      letter(1001, { original_value: Buffer.alloc(200_000, 0x41) }),
      // Over what one dead letter carries (DEAD_LETTER_LIMITS): the writer cuts it and says how long it was.
      letter(1002, { original_value: Buffer.alloc(700_000, 0x42) }),
      // A letter that lies about its original's size (a dead-letter topic is an input like any other).
      letter(1003, { original_size: 2 ** 40 }),
      letter(1004, { original_size: 3 }),
      ...Array.from({ length: 60 }, (_, i) => letter(i)),
    ];
    await writer.publish(direct, publisher);

    // 3. Hostile messages on the dead-letter topic itself, on partition 1 so their positions are known.
    const hostileStart = await topicEnd(names.deadLetter, 1);
    const normalizedCodec = new TopicCodec(registry, names.normalized, SCHEMA_FILES.normalized);
    const validLetter = await writer.message(letter(2000));
    const badTime = await writer.message(letter(2001, { failed_at: new Date(Date.UTC(2500, 0, 1)) }));
    const hostile: { what: string; value: Buffer | null }[] = [
      { what: 'garbage bytes', value: Buffer.from('\u0000garbage that only looks framed') },
      { what: 'near-1 MB garbage', value: Buffer.alloc(900_000, 0xfe) },
      { what: 'unknown schema id', value: Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x00]), (validLetter.value as Buffer).subarray(5)]) },
      { what: 'a normalized CDR (wrong schema)', value: await normalizedCodec.encode(sampleCdr(1)) },
      { what: 'a tombstone', value: null },
      { what: 'failed_at in 2500', value: badTime.value as Buffer },
    ];
    await publisher.disconnect();
    // A plain producer: the project's publisher writes neither null values nor to a chosen partition.
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({ topic: names.deadLetter, acks: -1, messages: hostile.map((h) => ({ key: h.what, value: h.value, partition: 1 })) });
    await raw.disconnect();

    const expected = bad + sinkGarbage + direct.length;
    const onTopic = await readTopic(kafka, names.deadLetter, expected + hostile.length);
    expect(onTopic.count).toBe(expected + hostile.length);

    // 4. The loader, killed right after ClickHouse acknowledged its 3rd insert (before that range's commit), then
    //    restarted: it reads the range again.
    const config = { sink: { database: names.database }, dlqLoader: { groupId: `${names.sinkGroup}.dlq`, inputTopic: names.deadLetter, flushMs: 200, maxOriginalBytes: MAX_ORIGINAL } };
    const env = { CLICKHOUSE_DATA_DIR: dataDir };
    const start = (flushRows: number, crashAfter?: string) => {
      const p = startStage('dlq-loader', { ...config, dlqLoader: { ...config.dlqLoader, flushRows } }, work, { ...env, ...(crashAfter ? { CDRFLOW_CRASH_AFTER_EVENT: crashAfter } : {}) });
      running.push(p);
      return p;
    };
    const first = start(10, 'dlq-loader.inserted:3');
    expect((await first.exited).signal, first.output.join('\n')).toBe('SIGKILL');
    expect(first.events.get('dlq-loader.flushed') ?? 0).toBeLessThan(first.events.get('dlq-loader.inserted') ?? 0);
    // Other flush boundaries: the re-read ranges get other dedup tokens, so only asking the table which offsets it
    // holds keeps them out.
    const second = start(7);
    await waitSinkCommitted(kafka, config.dlqLoader.groupId, names.deadLetter, onTopic.lastOffsets, 120_000);
    second.child.kill('SIGTERM');
    expect((await second.exited).code, second.output.slice(-20).join('\n')).toBe(0);
    const logs = [...first.output, ...second.output];
    // Rows ClickHouse was given over both runs: each dead letter once. The re-read after the kill inserted nothing
    // the first run had stored (a merge of the ReplacingMergeTree could hide a double in count(); this cannot).
    const insertedRows = logs.filter((l) => l.includes('"event":"dlq-loader.inserted"')).reduce((n, l) => n + (JSON.parse(l) as { rows: number }).rows, 0);
    expect(insertedRows).toBe(expected);
    expect(logs.filter((l) => l.includes('"level":"error"'))).toEqual([]);
    // Every hostile message was logged as skipped, at its position on the topic.
    const skipped = new Set(logs.filter((l) => l.includes('"event":"dlq-loader.skipped"')).map((l) => (JSON.parse(l) as { at: string }).at));
    for (let i = 0; i < hostile.length; i++) expect(skipped, hostile[i]!.what).toContain(`${names.deadLetter}[1]@${hostileStart + i}`);

    // 5. What ClickHouse holds, without FINAL, read through `cdrflow sql` on the loader's data directory (the
    //    embedded engine opens one directory per process, and this one holds the sink's).
    const sql = async <T>(query: string): Promise<T[]> => {
      const r = await cdrflow(['sql', query, '--format', 'JSONEachRow'], { ...process.env, ...env, CLICKHOUSE_DATABASE: names.database, TZ: 'UTC' });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
    };
    const t = 'cdr_dead_letters';
    const [totals] = await sql<{ n: string; positions: string; final: string }>(
      `SELECT count() AS n, uniqExact(dlq_partition, dlq_offset) AS positions, (SELECT count() FROM ${t} FINAL) AS final FROM ${t}`,
    );
    expect(Number(totals!.n)).toBe(expected);
    expect(Number(totals!.positions)).toBe(expected);
    expect(Number(totals!.final)).toBe(expected);
    const byComponent = Object.fromEntries((await sql<{ component: string; n: string }>(`SELECT component, count() AS n FROM ${t} GROUP BY component`)).map((r) => [r.component, Number(r.n)]));
    expect(byComponent).toEqual({ normalize: bad, 'sink.clickhouse': sinkGarbage, import: 2, test: direct.length - 2 });
    // The two identical letters that never were Kafka messages: two rows, told apart by their own position.
    const [noOrigin] = await sql<{ n: string }>(`SELECT count() AS n FROM ${t} WHERE origin_offset = -1 AND component = 'import'`);
    expect(Number(noOrigin!.n)).toBe(2);
    // Bytes kept exactly; a long value cut at maxOriginalBytes with its full size beside it.
    const [bytes] = await sql<{ v: string; k: string; msg: string }>(`SELECT hex(original_value) AS v, original_key AS k, error_message AS msg FROM ${t} WHERE cdr_id = 'direct-1000'`);
    expect(bytes!.v).toBe(EVERY_BYTE.toString('hex').toUpperCase());
    expect(bytes!.k).toBe('key\n\\N');
    expect(bytes!.msg).toBe('direct 1000\twith a tab');
    const [long] = await sql<{ len: string; size: string }>(`SELECT length(original_value) AS len, original_size AS size FROM ${t} WHERE cdr_id = 'direct-1001'`);
    expect([Number(long!.len), Number(long!.size)]).toEqual([MAX_ORIGINAL, 200_000]);
    const sizes = await sql<{ id: string; len: string; size: string }>(`SELECT cdr_id AS id, length(original_value) AS len, original_size AS size FROM ${t} WHERE cdr_id IN ('direct-1002', 'direct-1003', 'direct-1004') ORDER BY id`);
    expect(sizes.map((r) => [r.id, Number(r.len), Number(r.size)])).toEqual([
      ['direct-1002', MAX_ORIGINAL, 700_000],
      // Sizes no writer gives (beyond UInt32, below what the letter carries): the length of what it carries.
      ['direct-1003', 'payload 1003'.length, 'payload 1003'.length],
      ['direct-1004', 'payload 1004'.length, 'payload 1004'.length],
    ]);
    // Normalize's dead letters carry the raw record they refused (a registry-framed raw envelope) and the reason.
    const [fromNormalize] = await sql<{ framed: string; reasons: string[] }>(
      `SELECT min(substring(original_value, 1, 1) = char(0)) AS framed, groupUniqArray(error_kind) AS reasons FROM ${t} WHERE component = 'normalize'`,
    );
    expect(Number(fromNormalize!.framed)).toBe(1);
    expect(fromNormalize!.reasons).toContain('bad_record');
  }, 600_000);
});

async function topicEnd(topic: string, partition: number): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return Number(offsets.find((o) => o.partition === partition)!.high);
  } finally {
    await admin.disconnect();
  }
}
