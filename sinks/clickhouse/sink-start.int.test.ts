// A sink that cannot start lets go of what it took on the way: a consumer that fails to join (here, its input topic
// does not exist and the sink is told not to create it) must not leave its render thread and its dead-letter
// producer behind for the rest of the process (a supervisor retrying the start would pile them up). And a sink
// refuses to start against a table that lacks a column it writes (README): it never reads a record it could not store.
import { afterAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { TopicCodec } from '../../core/avro.ts';
import { CdrflowError } from '../../core/errors.ts';
import { AckedPublisher, ensureTopics } from '../../core/kafka.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { workerThreadTids } from '../../core/worker-thread.ts';
import { testClickHouse, testKafka, testRegistry, uniqueName, waitFor } from '../../test/helpers.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { migrate } from './migrations.ts';
import { parseSinkConfig, startClickHouseSink, type ClickHouseSink } from './index.ts';

const kafka = testKafka();
const registry = testRegistry();
let ch: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> } | undefined;
let older: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> } | undefined;
let started: ClickHouseSink | undefined;

afterAll(async () => {
  await started?.stop();
  await ch?.cleanup();
  await older?.cleanup();
});

const renderThreads = () => [...workerThreadTids()].filter(([, role]) => role === 'sink render').map(([tid]) => tid);

describe('a sink that cannot start', () => {
  it('fails its start and ends its render thread', async () => {
    ch = await testClickHouse('sinkstart');
    const before = renderThreads();
    const prefix = uniqueName('nostart');
    const config = parseSinkConfig({
      groupId: `${prefix}.sink`,
      inputTopic: `${prefix}.normalized`,
      deadLetterTopic: `${prefix}.dlq`,
      database: ch.database,
      createTopics: false,
      renderThread: true,
    });
    await expect(startClickHouseSink(config, { kafka, registry, clickhouse: ch.client })).rejects.toThrow(/consumer group|topic/i);
    expect(renderThreads()).toEqual(before);
  }, 120_000);

  it('refuses a table that lacks a column it writes (config error naming it) and consumes nothing', async () => {
    older = await testClickHouse('sinkcolumns');
    // The table as it was before migration 0006 added room_id, and a sink told not to migrate it.
    expect((await migrate(older.client, { database: older.database }, () => {}, 5)).applied).toEqual([1, 2, 3, 4, 5]);
    const prefix = uniqueName('nocolumn');
    const topic = `${prefix}.normalized`;
    const groupId = `${prefix}.sink`;
    await ensureTopics(kafka, [{ topic, partitions: 1 }, { topic: `${prefix}.dlq`, partitions: 1 }]);
    // Records waiting for it, so "consumes nothing" can be seen: no offset committed, no row stored.
    const codec = new TopicCodec(registry, topic, SCHEMA_FILES.normalized);
    const records = Array.from({ length: 5 }, (_, i) => sampleCdr(i, { cdr_id: `${sampleCdr(i).vendor}:${prefix}:${i}`, natural_key: `${prefix}-${i}`, room_id: `room-${i}` }));
    const publisher = new AckedPublisher(kafka);
    await publisher.connect();
    await publisher.send(topic, await Promise.all(records.map(async (r) => ({ key: r.cdr_id, value: await codec.encode(r) }))));
    await publisher.disconnect();
    const config = parseSinkConfig({ groupId, inputTopic: topic, deadLetterTopic: `${prefix}.dlq`, database: older.database, partitions: 1, flushRows: 5, flushMs: 100, migrate: false });
    const count = async () => Number((await (await older!.client.query({ query: `SELECT count() AS n FROM ${older!.database}.cdr`, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);

    const refused = await startClickHouseSink(config, { kafka, registry, clickhouse: older.client }).then(
      // Started after all (the promise broken): stopped in afterAll like the one below.
      (sink) => void (started = sink),
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(CdrflowError);
    expect((refused as CdrflowError).kind).toBe('config');
    expect((refused as Error).message).toBe(`${older.database}.cdr lacks column(s) room_id; run \`cdrflow migrate\``);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const committed = async () => (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions.map((p) => p.offset);
      expect(await committed()).toEqual(['-1']);
      expect(await count()).toBe(0);

      // The same sink on the migrated table reads the records: what was refused above was the missing column.
      await migrate(older.client, { database: older.database }, () => {});
      started = await startClickHouseSink(config, { kafka, registry, clickhouse: older.client });
      await waitFor(async () => (await count()) === records.length, { timeoutMs: 60_000, message: `${records.length} rows once migrated` });
      await waitFor(async () => (await committed())[0] === String(records.length), { timeoutMs: 30_000, message: 'the offsets committed once migrated' });
    } finally {
      await admin.disconnect();
    }
  }, 120_000);
});
