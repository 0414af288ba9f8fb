// The sink's committed offset reaches the log end exactly when everything is stored, on a topic written by several
// transactional producers (two normalize members). Their transactions interleave, so a partition can end in two
// commit markers one after the other; a sink that committed its last record + 1 sat two offsets short of the end
// forever, and `cdrflow start`'s drain on SIGINT (it waits for lag 0) never ended. Also covered: a fetch of nothing but
// an aborted transaction at the log end, while the sink runs and as the first fetch of a new member.
import { afterAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import type { ClickHouseClient } from '@clickhouse/client';
import { TopicCodec } from '../../core/avro.ts';
import { groupLag } from '../../core/kafka-streams.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { testClickHouse, testKafka, testRegistry, uniqueName, waitFor } from '../../test/helpers.ts';
import { createStageTopics, stageNames } from './fixtures/pipeline.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { parseSinkConfig, startClickHouseSink, type ClickHouseSink } from './index.ts';

const kafka = testKafka();
const registry = testRegistry();
const producers: Producer[] = [];
let sink: ClickHouseSink | undefined;
let ch: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> } | undefined;

afterAll(async () => {
  await sink?.stop();
  await Promise.all(producers.map((p) => p.disconnect().catch(() => undefined)));
  await ch?.cleanup();
});

async function transactionalProducer(): Promise<Producer> {
  const p = kafka.producer({ transactionalId: uniqueName('markers-tx'), idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  producers.push(p);
  return p;
}

describe('sink: commits past transaction markers', () => {
  it('reaches lag 0 behind interleaved transactions of two producers and behind aborted transactions at the log end', async () => {
    const names = stageNames('markers');
    await createStageTopics(kafka, names, 1);
    const topic = names.normalized;
    const codec = new TopicCodec(registry, topic, SCHEMA_FILES.normalized);
    const messages = async (from: number, n: number) =>
      Promise.all(Array.from({ length: n }, async (_, i) => ({ key: `k${from + i}`, value: await codec.encode(sampleCdr(from + i)) })));
    const [a, b] = [await transactionalProducer(), await transactionalProducer()];

    // Offsets 0-4 by A, 5-9 by B, then A's commit marker (10) and B's (11): the log ends in two markers.
    const txA = await a.transaction();
    await txA.send({ topic, messages: await messages(0, 5) });
    const txB = await b.transaction();
    await txB.send({ topic, messages: await messages(5, 5) });
    await txA.commit();
    await txB.commit();

    ch = await testClickHouse('markers');
    const client = ch.client;
    const config = parseSinkConfig({ groupId: names.sinkGroup, inputTopic: topic, deadLetterTopic: names.deadLetter, database: ch.database, flushMs: 100 });
    sink = await startClickHouseSink(config, { kafka, registry, clickhouse: client });
    const committedAt = async (end: number) => {
      await waitFor(async () => (await groupLag(kafka, names.sinkGroup, [topic]))[0]?.committed === end, { timeoutMs: 30_000, intervalMs: 100, message: `the sink group to commit offset ${end}` });
      const [lag] = await groupLag(kafka, names.sinkGroup, [topic]);
      expect(lag).toMatchObject({ committed: end, end, lag: 0 });
    };
    await committedAt(12);

    // An aborted transaction at the log end (12-13, its marker 14), fetched after the sink committed 12: a fetch with
    // no record to store.
    const aborted = await a.transaction();
    await aborted.send({ topic, messages: await messages(100, 2) });
    await aborted.abort();
    await committedAt(15);

    // Another one while no sink runs (15-17, marker 18): the next member's first fetch holds nothing else.
    await sink.stop();
    sink = undefined;
    const abortedAgain = await b.transaction();
    await abortedAgain.send({ topic, messages: await messages(200, 3) });
    await abortedAgain.abort();
    sink = await startClickHouseSink(config, { kafka, registry, clickhouse: client });
    await committedAt(19);

    // Stored once each, nothing of the aborted transactions.
    const rs = await client.query({ query: `SELECT count() AS n, countIf(natural_key IN ('nk-100', 'nk-200')) AS aborted FROM ${ch.database}.cdr`, format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ n: '10', aborted: '0' }]);
  });
});
