// Crash safety end to end: normalize and the ClickHouse sink run as child processes (`cdrflow run`), each is
// SIGKILLed in the middle of its work and restarted, and afterwards every count, sum and view is still exact — with
// one normalize worker, and with two (`normalize.workers: 2`: a worker thread beside the main one, both killed).
// The sink child owns its embedded ClickHouse data directory; this test opens it only after the last child exited.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClickHouse } from '../../core/clickhouse.ts';
import { loadE2eCases, multiply } from '../../transforms/normalize/service/fixtures/e2e.ts';
import { testKafka, testRegistry } from '../../test/helpers.ts';
import { createStageTopics, expectation, publishCases, readTopic, stageNames, verifyClickHouse, waitGroupAtEnd, waitSinkCommitted } from './fixtures/pipeline.ts';
import { committedOverlaps, startStage, type StageProcess } from './fixtures/stage-process.ts';

const kafka = testKafka();
const registry = testRegistry();
// Enough distinct calls that both processes are killed well inside their work.
const cases = multiply(loadE2eCases(), 40);
const good = cases.filter((c) => c.expected !== null).length;
const bad = cases.length - good;
const running: StageProcess[] = [];

afterAll(async () => {
  for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited));
});

describe('SIGKILL in the middle of a batch, then restart', () => {
  it.each([1, 2])('normalize (%i worker(s)) and sink each killed mid-batch and restarted: still exactly once, every number exact', async (workers) => {
    const names = stageNames(`crash${workers}`);
    const work = mkdtempSync(join(tmpdir(), 'cdrflow-crash-'));
    const dataDir = join(work, 'clickhouse');
    const normalizeConfig = {
      groupId: names.normalizeGroup,
      inputTopics: Object.values(names.raw),
      outputTopic: names.normalized,
      deadLetterTopic: names.deadLetter,
      instanceId: 'crash-0',
      workers,
      maxMessagesPerTransaction: 20,
      sessionTimeoutMs: 6_000,
    };
    const sinkConfig = {
      groupId: names.sinkGroup,
      inputTopic: names.normalized,
      deadLetterTopic: names.deadLetter,
      database: names.database,
      flushRows: 100,
      flushMs: 300,
      sessionTimeoutMs: 6_000,
    };
    // crashAfter: the stage kills itself right after logging that event (core/log.ts), an exact crash point.
    const start = (stage: 'normalize' | 'sink', config: object, crashAfter?: string): StageProcess => {
      const p = startStage(stage, config, work, { CLICKHOUSE_DATA_DIR: dataDir, ...(crashAfter ? { CDRFLOW_CRASH_AFTER_EVENT: crashAfter } : {}) });
      running.push(p);
      return p;
    };
    await createStageTopics(kafka, names);
    await publishCases(kafka, registry, names, cases);

    // Killed while its 31st transaction holds output that is not committed yet.
    const n1 = start('normalize', normalizeConfig, 'normalize.sent:31');
    expect((await n1.exited).signal).toBe('SIGKILL');
    // Died with a transaction open: more sent than committed.
    expect(n1.events.get('normalize.committed') ?? 0).toBeLessThan(n1.events.get('normalize.sent') ?? 0);
    const committedBeforeKill = n1.events.get('normalize.committed') ?? 0;
    expect(committedBeforeKill * 20).toBeLessThan(cases.length); // it really died with work left

    // Same instance ids: the new producers fence the dead ones and abort their open transactions.
    const n2 = start('normalize', normalizeConfig);
    await n2.waitEvent('normalize.started', workers); // every member of the restarted process runs
    // Killed after ClickHouse acknowledged its 5th insert and before that range's offsets were committed: the
    // restarted sink reads the range again.
    const s1 = start('sink', sinkConfig, 'sink.inserted:5');
    expect((await s1.exited).signal).toBe('SIGKILL');
    // Died between ClickHouse's acknowledgement of an insert and the commit of its offsets.
    expect(s1.events.get('sink.flushed') ?? 0).toBeLessThan(s1.events.get('sink.inserted') ?? 0);

    const s2 = start('sink', sinkConfig);
    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw), 180_000);
    // Exactly once across the kill: no record lost, none doubled, in what read_committed consumers see.
    const normalized = await readTopic(kafka, names.normalized, good, { timeoutMs: 120_000 });
    // On failure, say which chunks were committed twice, by which members, around which group events.
    const doubled = [...normalized.keys].filter(([, n]) => n > 1).map(([key]) => key);
    expect(doubled, `CDRs committed more than once (${doubled.length}): ${doubled.slice(0, 5).join(', ')}\n${committedOverlaps({ n1, n2 }).join('\n')}`).toEqual([]);
    expect(normalized.count).toBe(good);
    // What the killed transaction left in the log (aborted, invisible to read_committed readers).
    const uncommitted = await readTopic(kafka, names.normalized, good, { readUncommitted: true, idleMs: 1_500 });
    expect(uncommitted.count).toBeGreaterThan(good);
    const dead = await readTopic(kafka, names.deadLetter, bad);
    expect(dead.count).toBe(bad);
    await waitSinkCommitted(kafka, names.sinkGroup, names.normalized, normalized.lastOffsets, 180_000);

    // Clean stop (flush, commit, leave), then the data directory is free for this process.
    n2.child.kill('SIGTERM');
    s2.child.kill('SIGTERM');
    expect((await s2.exited).code).toBe(0);
    expect((await n2.exited).code).toBe(0);

    const client = await createClickHouse({ kind: 'embedded', dataDir, database: 'default' });
    try {
      const { storedRows } = await verifyClickHouse(client, names.database, expectation(cases));
      console.log(
        `crash test (${workers} normalize worker(s)): ${cases.length} raw records; normalize killed after ${committedBeforeKill} transactions, ` +
          `${uncommitted.count - good} aborted record(s) left in ${names.normalized}; sink killed after its 5th insert, before the commit; ` +
          `${storedRows} stored rows for ${good} calls (${storedRows - good} re-inserted under another range, collapsed by FINAL)`,
      );
    } finally {
      await client.close();
    }
  }, 600_000);
});
