// A sink whose commits are refused (the group moved on from its generation: its partition went to another member)
// after it stored a range and put that range's dead letters away. The next owner reads the range again; the
// dead-letter topic must still hold each refused record once, as a read_committed reader sees it: the letters go in
// one Kafka transaction with the range's offsets, so a refused commit aborts them. Published before the commit and
// outside a transaction, they were there twice.
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { TopicCodec } from '../../core/avro.ts';
import { AckedPublisher, type Kafka } from '../../core/kafka.ts';
import { groupLag } from '../../core/kafka-streams.ts';
import type { LogFn } from '../../core/log.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { testClickHouse, testKafka, testRegistry, waitFor } from '../../test/helpers.ts';
import { createStageTopics, readTopic, stageNames } from './fixtures/pipeline.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { parseSinkConfig, startClickHouseSink, type ClickHouseSink } from './index.ts';

const kafka = testKafka();
const registry = testRegistry();
const sinks: ClickHouseSink[] = [];
let ch: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> } | undefined;

afterAll(async () => {
  for (const s of sinks) await s.stop().catch(() => undefined);
  await ch?.cleanup();
});

const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error };
/** The broker's answer to a commit from a member the group has moved on from. */
const ILLEGAL_GENERATION = 22;

/**
 * `kafka` whose clients' offset commits are all refused as the group coordinator refuses a member it moved on from:
 * the consumer's own commits and a transaction's offsets alike. Everything else is the real client.
 */
function refusingCommits(kafka: Kafka): Kafka {
  const refuse = () => Promise.reject(createErrorFromCode(ILLEGAL_GENERATION));
  const override = <T extends object>(target: T, methods: Record<string, (original: (...args: never[]) => unknown) => unknown>): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver) as unknown;
        const wrap = typeof prop === 'string' ? methods[prop] : undefined;
        return wrap && typeof value === 'function' ? wrap(value.bind(t) as (...args: never[]) => unknown) : value;
      },
    });
  return override(kafka, {
    consumer: (original) => (...args: never[]) => override(original(...args) as object, { commitOffsets: () => refuse }),
    producer: (original) => (...args: never[]) =>
      override(original(...args) as object, {
        transaction: (begin) => async () => override((await begin()) as object, { sendOffsets: () => refuse }),
      }),
  });
}

describe('sink: dead letters of a range whose commit was refused', () => {
  it('are on the dead-letter topic once after the next owner read the range again; every good row is stored once', async () => {
    const names = stageNames('dlqonce');
    await createStageTopics(kafka, names, 1);
    const codec = new TopicCodec(registry, names.normalized, SCHEMA_FILES.normalized);
    // 40 records, every fifth not Avro at all: 8 dead letters, each keyed by its own original key.
    const records = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => (i % 5 === 2 ? { key: `bad-${i}`, value: Buffer.from(`not avro ${i}`) } : { key: `good-${i}`, value: await codec.encode(sampleCdr(i)) })),
    );
    const bad = records.filter((r) => r.key.startsWith('bad-')).map((r) => r.key);
    const good = records.length - bad.length;
    const publisher = new AckedPublisher(kafka);
    try {
      await publisher.send(names.normalized, records);
    } finally {
      await publisher.disconnect();
    }

    ch = await testClickHouse('dlqonce');
    const client = ch.client;
    // Small ranges (flushRows 10): several of them carry dead letters.
    const config = parseSinkConfig({ groupId: names.sinkGroup, inputTopic: names.normalized, deadLetterTopic: names.deadLetter, database: ch.database, flushRows: 10, flushMs: 100 });

    const events: string[] = [];
    const log: LogFn = (_level, event) => events.push(event);
    const first = await startClickHouseSink(config, { kafka: refusingCommits(kafka), registry, clickhouse: client, log });
    sinks.push(first);
    // Every row stored, and not one range committed: the first range's commit refused, the later ones refused too or
    // (having to wait for the first) not tried. The stop waits for the range in flight.
    await waitFor(() => first.stats.rowsInserted === good && first.buffered() === 0 && events.includes('sink.commit_failed'), {
      timeoutMs: 60_000,
      message: 'the first sink to store every row and have its commits refused',
    });
    await first.stop();
    expect(first.stats.committed.size).toBe(0);
    expect((await groupLag(kafka, names.sinkGroup, [names.normalized]))[0]).toMatchObject({ committed: 0, lag: records.length });

    // The partition's next owner, in the same group, reads it all again and commits.
    const second = await startClickHouseSink(config, { kafka, registry, clickhouse: client });
    sinks.push(second);
    await waitFor(async () => (await groupLag(kafka, names.sinkGroup, [names.normalized]))[0]?.lag === 0, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: 'the second sink to commit the whole partition',
    });
    await second.stop();

    const letters = await readTopic(kafka, names.deadLetter, bad.length, { timeoutMs: 30_000, idleMs: 1_000 });
    const twice = [...letters.keys].filter(([, n]) => n > 1).map(([key]) => key);
    expect(twice, 'records dead-lettered more than once').toEqual([]);
    expect([...letters.keys.keys()].sort()).toEqual([...bad].sort());
    expect(letters.count).toBe(bad.length);
    // The first sink's letters of its first range are in the log, aborted with their refused offsets (its later
    // ranges waited for that one to be read again and sent nothing).
    const uncommitted = await readTopic(kafka, names.deadLetter, bad.length, { readUncommitted: true, idleMs: 1_000 });
    expect(uncommitted.count).toBeGreaterThan(bad.length);

    const rs = await client.query({ query: `SELECT count() AS n, uniqExact(cdr_id) AS ids FROM ${ch.database}.cdr FINAL`, format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ n: String(good), ids: String(good) }]);
  }, 180_000);
});
