// End to end on the real servers: the fixtures of all four vendors go raw -> normalize -> cdr.normalized -> sink ->
// ClickHouse (both stages in this process), and every count, sum and view matches the numbers computed from the
// fixtures' *.out.json — first, after the same raw records are published again, and after a replay from the start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { resetGroupToEarliest } from '../../core/kafka-streams.ts';
import { VENDORS } from '../../core/topology.ts';
import { threadNice } from '../../core/worker-thread.ts';
import { loadE2eCases } from '../../transforms/normalize/service/fixtures/e2e.ts';
import { parseNormalizeServiceConfig, startNormalizeService, type NormalizeService } from '../../transforms/normalize/service/index.ts';
import { testClickHouse, testKafka, testRegistry, workerTidsOf } from '../../test/helpers.ts';
import { parseSinkConfig, startClickHouseSink, type ClickHouseSink } from './index.ts';
import { createStageTopics, expectation, publishCases, readTopic, stageNames, verifyClickHouse, waitGroupAtEnd, waitSinkCommitted } from './fixtures/pipeline.ts';

const kafka = testKafka();
const registry = testRegistry();
const names = stageNames('e2e');
const cases = loadE2eCases();
const good = cases.filter((c) => c.expected !== null).length;
const bad = cases.length - good;
const exp = expectation(cases);
let ch: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> };
let normalizeService: NormalizeService | undefined;
let sink: ClickHouseSink | undefined;
/** This thread's nice before the sink started its render thread (a worker thread's nice is its own; see below). */
const mainNice = process.platform === 'linux' ? threadNice(process.pid) : 0;

const normalizeConfig = () =>
  parseNormalizeServiceConfig({
    groupId: names.normalizeGroup,
    inputTopics: Object.values(names.raw),
    outputTopic: names.normalized,
    deadLetterTopic: names.deadLetter,
    instanceId: 'e2e-0',
    maxMessagesPerTransaction: 25,
  });

async function caughtUp(rounds: number) {
  await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
  // Exactly once: every raw record produced exactly one committed output, normalized or dead-lettered.
  const normalized = await readTopic(kafka, names.normalized, good * rounds);
  expect(normalized.count).toBe(good * rounds);
  const dead = await readTopic(kafka, names.deadLetter, bad * rounds);
  expect(dead.count).toBe(bad * rounds);
  await waitSinkCommitted(kafka, names.sinkGroup, names.normalized, normalized.lastOffsets);
}

beforeAll(async () => {
  ch = await testClickHouse('e2e');
  names.database = ch.database;
  await createStageTopics(kafka, names);
  await publishCases(kafka, registry, names, cases);
  normalizeService = await startNormalizeService(normalizeConfig(), { kafka, registry });
  sink = await startClickHouseSink(
    parseSinkConfig({ groupId: names.sinkGroup, inputTopic: names.normalized, deadLetterTopic: names.deadLetter, database: ch.database, flushRows: 40, flushMs: 200 }),
    // The job's priority for its bulk threads (workerThreads.nice) reaches the render thread through the deps.
    { kafka, registry, clickhouse: ch.client, renderThreadNice: 4 },
  );
});

afterAll(async () => {
  await normalizeService?.stop();
  await sink?.stop();
  await ch?.cleanup();
});

describe('raw -> normalize -> ClickHouse, all four vendors', () => {
  it('covers every vendor with good and bad records', () => {
    for (const v of VENDORS) expect(cases.filter((c) => c.vendor === v && c.expected).length).toBeGreaterThan(5);
    expect(bad).toBeGreaterThan(0);
  });

  it.runIf(process.platform === 'linux')('renders in a thread at the nice value it was given, this thread left as it was', async () => {
    const [tid] = await workerTidsOf('sink render');
    expect(threadNice(tid!)).toBe(Math.max(4, mainNice));
    expect(threadNice(process.pid)).toBe(mainNice);
  });

  it('lands every record once: per vendor count = uniqExact(cdr_id) = distinct source records, minutes and views match', async () => {
    await caughtUp(1);
    const { storedRows } = await verifyClickHouse(ch.client, ch.database, exp);
    expect(storedRows).toBe(good);
    expect(sink!.stats.deadLettered).toBe(0);
  });

  it('(a) the same raw records published again change no number', async () => {
    await publishCases(kafka, registry, names, cases);
    await caughtUp(2);
    await verifyClickHouse(ch.client, ch.database, exp);
  });

  it('(b) a replay of the raw topics from the start changes no number', async () => {
    await normalizeService!.stop();
    await resetGroupToEarliest(kafka, names.normalizeGroup, Object.values(names.raw));
    normalizeService = await startNormalizeService(normalizeConfig(), { kafka, registry });
    // Two published rounds re-read: four rounds of output in total.
    await caughtUp(4);
    const { storedRows } = await verifyClickHouse(ch.client, ch.database, exp);
    // Re-sent and replayed records were stored again under new offset ranges; FINAL and the views count them once.
    expect(storedRows).toBeGreaterThanOrEqual(good);
  });
});
