// Two normalize workers (two worker threads, `normalize.workers: 2`) share the raw partitions as members of one
// consumer group. Rebalances while records flow — the two workers starting together (their joins land in one
// generation, or in two a rebalance apart), a third member joining and leaving — must lose and double nothing:
// every raw record ends up exactly once, as a CDR in ClickHouse or as a dead letter.
import { afterAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { groupLag, type StreamHandle } from '../core/kafka-streams.ts';
import { memoryLog } from '../core/log.ts';
import { loadE2eCases, multiply } from '../transforms/normalize/service/fixtures/e2e.ts';
import { parseSinkConfig, startClickHouseSink, type ClickHouseSink } from '../sinks/clickhouse/index.ts';
import { createStageTopics, expectation, publishCases, readTopic, stageNames, verifyClickHouse, waitGroupAtEnd, waitSinkCommitted } from '../sinks/clickhouse/fixtures/pipeline.ts';
import { testClickHouse, testInfra, testKafka, testRegistry, waitFor, workerTidsOf } from '../test/helpers.ts';
import { loadAppConfig } from './config.ts';
import { threadNice, workerThreadTids } from '../core/worker-thread.ts';
import { startNormalizeStage } from './normalize-workers.ts';

const kafka = testKafka();
const registry = testRegistry();
const names = stageNames('workers');
const cases = multiply(loadE2eCases(), 60);
const good = cases.filter((c) => c.expected !== null).length;
const bad = cases.length - good;
const stages: StreamHandle[] = [];
let sink: ClickHouseSink | undefined;
let ch: { client: ClickHouseClient; database: string; cleanup: () => Promise<void> } | undefined;

const config = (instanceId: string, workers: number) =>
  loadAppConfig({
    env: { KAFKA_BROKERS: testInfra().kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: testInfra().schemaRegistryUrl },
    overrides: (doc) => {
      doc['normalize'] = {
        groupId: names.normalizeGroup,
        inputTopics: Object.values(names.raw),
        outputTopic: names.normalized,
        deadLetterTopic: names.deadLetter,
        instanceId,
        workers,
        // Small transactions: many commits, so every rebalance lands between (and during) transactions.
        maxMessagesPerTransaction: 20,
        sessionTimeoutMs: 6_000,
      };
    },
  });

/** Members of the normalize group once it is stable (0 while it rebalances or its coordinator is not ready). */
const groupMembers = async () => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([names.normalizeGroup]);
    return groups[0]?.state === 'Stable' ? groups[0].members.length : 0;
  } catch {
    return 0;
  } finally {
    await admin.disconnect();
  }
};

afterAll(async () => {
  for (const s of stages) await s.stop();
  await sink?.stop();
  await ch?.cleanup();
});

describe('normalize with two worker threads', () => {
  it('rebalances during traffic lose and double nothing', async () => {
    ch = await testClickHouse('workers');
    names.database = ch.database;
    await createStageTopics(kafka, names);
    const third = Math.floor(cases.length / 3);
    await publishCases(kafka, registry, names, cases.slice(0, third));
    // A fresh broker answers "coordinator loading" for a while; `cdrflow start` rides that out by restarting the
    // stage (app/supervise.ts), this test waits for the group's coordinator instead.
    const admin = kafka.admin();
    await admin.connect();
    await waitFor(() => admin.describeGroups([names.normalizeGroup]).then(() => true, () => false), { timeoutMs: 120_000, message: 'the group coordinator' });
    await admin.disconnect();

    // The two members start together while the first third waits (a rebalance between them when their joins land apart).
    let committed = 0;
    const log = memoryLog();
    const stage = await startNormalizeStage(config('rb', 2), { log, onCommitted: (c) => (committed += c.records) });
    stages.push(stage);
    // Each member in its own thread, with its own transactional id.
    // (They start about together, so in either order.)
    const started = log.entries.filter((e) => e.event === 'normalize.worker_started').map((e) => e.fields?.['transactionalId']);
    expect(started.sort()).toEqual([`${names.normalizeGroup}.rb`, `${names.normalizeGroup}.rb-w1`]);
    // ...each at the job's bulk-thread priority (`workerThreads.nice`, its default here), this thread's own left as it was.
    if (process.platform === 'linux') {
      const mainNice = threadNice(process.pid);
      const bulkNice = Math.max(config('rb', 2).workerThreads.nice, mainNice);
      expect(bulkNice).toBeGreaterThan(0);
      const workers = await workerTidsOf('normalize worker', 2);
      expect(workers.map(threadNice)).toEqual([bulkNice, bulkNice]);
      expect(threadNice(process.pid)).toBe(mainNice);
    }
    await waitFor(async () => (await groupMembers()) === 2, { timeoutMs: 120_000, message: 'both workers in the group' });

    // Rebalance 2 and 3: a third member joins while the second third flows in, and leaves during the last third.
    const publishing = publishCases(kafka, registry, names, cases.slice(third, 2 * third));
    let extraCommitted = 0;
    const extra = await startNormalizeStage(config('rb-extra', 1), { log: memoryLog(), onCommitted: (c) => (extraCommitted += c.records) });
    stages.push(extra);
    await publishing;
    await waitFor(async () => (await groupMembers()) === 3, { timeoutMs: 120_000, message: 'three members in the group' });
    await publishCases(kafka, registry, names, cases.slice(2 * third));
    const pending = (await groupLag(kafka, names.normalizeGroup, Object.values(names.raw))).reduce((n, p) => n + p.lag, 0);
    await extra.stop();
    expect(pending).toBeGreaterThan(0); // the third member left while records were still to be normalized

    sink = await startClickHouseSink(
      parseSinkConfig({ groupId: names.sinkGroup, inputTopic: names.normalized, deadLetterTopic: names.deadLetter, database: ch.database, flushRows: 500, flushMs: 300 }),
      { kafka, registry, clickhouse: ch.client },
    );
    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw), 180_000);
    await waitFor(() => committed + extraCommitted >= cases.length, { timeoutMs: 30_000, message: 'every commit reported' });
    expect(committed + extraCommitted).toBe(cases.length);

    // Exactly once in what read_committed consumers see: each CDR once, each bad record dead-lettered once.
    const normalized = await readTopic(kafka, names.normalized, good, { timeoutMs: 120_000 });
    expect(normalized.count).toBe(good);
    expect([...normalized.keys.values()].every((n) => n === 1)).toBe(true);
    const dead = await readTopic(kafka, names.deadLetter, bad);
    expect(dead.count).toBe(bad);
    await waitSinkCommitted(kafka, names.sinkGroup, names.normalized, normalized.lastOffsets, 180_000);
    // Per vendor: count() FINAL = uniqExact(cdr_id) = the distinct good raw records; no row stored twice.
    const { storedRows } = await verifyClickHouse(ch.client, ch.database, expectation(cases));
    expect(storedRows).toBe(good);
    console.log(`workers test: ${cases.length} raw records (${good} CDRs, ${bad} dead letters); the two workers committed ${committed}, the third member ${extraCommitted}; ${pending} still to normalize when the third member left`);
  }, 600_000);

  it('a first member that cannot start fails the stage and ends the threads that loaded beside it', async () => {
    const normalizeThreads = () => [...workerThreadTids()].filter(([, role]) => role === 'normalize worker').map(([tid]) => tid);
    const before = normalizeThreads();
    // Every member's thread loads at once; the others start only once the first has registered the schemas, which it
    // cannot do here (nothing listens on the registry's port): the second member, loaded and waiting, is stopped.
    const failing = loadAppConfig({
      env: { KAFKA_BROKERS: testInfra().kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: 'http://127.0.0.1:9/apis/ccompat/v7' },
      overrides: (doc) => {
        doc['normalize'] = { groupId: `${names.normalizeGroup}-nostart`, inputTopics: Object.values(names.raw), outputTopic: names.normalized, deadLetterTopic: names.deadLetter, instanceId: 'nostart', workers: 2 };
      },
    });
    const log = memoryLog();
    await expect(startNormalizeStage(failing, { log })).rejects.toThrow(/127\.0\.0\.1:9|ECONNREFUSED|register/i);
    expect(log.entries.filter((e) => e.event === 'normalize.worker_started')).toEqual([]);
    expect(normalizeThreads()).toEqual(before);
    // Nobody joined the group.
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.describeGroups([`${names.normalizeGroup}-nostart`]);
    await admin.disconnect();
    expect(groups[0]?.members ?? []).toEqual([]);
  }, 120_000);
});
