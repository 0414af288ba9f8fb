// The sink SIGKILLed inside a range's dead-letter transaction: the range's letters are sent to the dead-letter topic,
// its offset and the commit are not. The transaction stays open until the broker aborts it (the sink's own
// transaction timeout, then the broker's next check for timed-out transactions: a restarted sink has another
// transactional id and cannot abort it). The restarted sink reads the range again and publishes its letters once
// more, in a transaction of its own. A read_committed reader must see each bad record once, the aborted copy must
// really be in the log (the kill landed inside the transaction), and every good row must be stored once.
// The sink children own their embedded ClickHouse data directory; this test opens it only after the last one exited.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TopicCodec } from '../../core/avro.ts';
import { createClickHouse } from '../../core/clickhouse.ts';
import type { DeadLetter } from '../../core/dead-letter.ts';
import { AckedPublisher } from '../../core/kafka.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { testKafka, testRegistry } from '../../test/helpers.ts';
import { createStageTopics, readTopic, stageNames, waitGroupAtEnd, type TopicContents } from './fixtures/pipeline.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { startStage, type StageProcess } from './fixtures/stage-process.ts';

const kafka = testKafka();
const registry = testRegistry();
const running: StageProcess[] = [];

afterAll(async () => {
  for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited));
});

/** Killed in the onSent of this dead-letter transaction: the ones before it committed, so they are checked too. */
const CRASH_AT = 3;

/** The JSON log lines of one event that a child wrote. */
function lines(p: StageProcess, event: string): Record<string, unknown>[] {
  return p.output.flatMap((line) => {
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      return e['event'] === event ? [e] : [];
    } catch {
      return [];
    }
  });
}

/** Each letter read, decoded, with the record it stands for (origin partition and offset). */
async function letters(contents: TopicContents): Promise<(DeadLetter & { key: string; origin: string })[]> {
  return Promise.all(
    contents.messages.map(async (m) => {
      const letter = (await registry.decode(m.value!)) as DeadLetter;
      return { ...letter, key: m.key?.toString() ?? '', origin: `${letter.origin_partition}@${letter.origin_offset}` };
    }),
  );
}

function counted<T>(items: T[], by: (item: T) => string): Map<string, number> {
  const n = new Map<string, number>();
  for (const item of items) n.set(by(item), (n.get(by(item)) ?? 0) + 1);
  return n;
}

describe('sink: SIGKILL between a dead-letter transaction\'s send and its commit, then restart', () => {
  it('each bad record is on the dead-letter topic once for read_committed readers, each good row once in cdr FINAL', async () => {
    const names = stageNames('dlqcrash');
    const work = mkdtempSync(join(tmpdir(), 'cdrflow-dlqcrash-'));
    const dataDir = join(work, 'clickhouse');
    await createStageTopics(kafka, names);

    // 150 records, every fifth bad, three kinds in turn: the registry's frame with a negative schema id, bytes that
    // are no frame at all, and a CDR that decodes but breaks the cdr table's minutes_from_seconds constraint. Each
    // keyed by a name of its own, which its dead letter carries as its key (the sink knows no cdr_id for a letter).
    const codec = new TopicCodec(registry, names.normalized, SCHEMA_FILES.normalized);
    const records = await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        if (i % 5 !== 1) return { key: sampleCdr(i).cdr_id, value: await codec.encode(sampleCdr(i)), bad: false };
        const kind = (['negative-id', 'bytes', 'minutes'] as const)[Math.floor(i / 5) % 3]!;
        const value =
          kind === 'negative-id'
            ? Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 0x78])
            : kind === 'bytes'
              ? Buffer.from(`not avro ${i}`)
              : await codec.encode(sampleCdr(i, { billable_seconds: 60, billable_minutes: 7, end_status: 'ANSWERED', answered_at: sampleCdr(i).started_at }));
        return { key: `bad-${kind}-${i}`, value, bad: true };
      }),
    );
    const bad = new Map(records.filter((r) => r.bad).map((r) => [r.key, r.value]));
    const good = records.filter((r) => !r.bad).map((r) => r.key);
    const publisher = new AckedPublisher(kafka);
    try {
      await publisher.send(names.normalized, records.map(({ key, value }) => ({ key, value })));
    } finally {
      await publisher.disconnect();
    }

    // Ranges of 10 records, about two of them bad: nearly every range of every partition commits in a transaction.
    const sinkConfig = {
      groupId: names.sinkGroup,
      inputTopic: names.normalized,
      deadLetterTopic: names.deadLetter,
      database: names.database,
      flushRows: 10,
      flushMs: 300,
      sessionTimeoutMs: 6_000,
    };
    const start = (crashAfter?: string): StageProcess => {
      const p = startStage('sink', sinkConfig, work, { CLICKHOUSE_DATA_DIR: dataDir, ...(crashAfter ? { CDRFLOW_CRASH_AFTER_EVENT: crashAfter } : {}) });
      running.push(p);
      return p;
    };

    const s1 = start(`sink.dead_letters_sent:${CRASH_AT}`);
    expect((await s1.exited).signal).toBe('SIGKILL');
    const killedAt = Date.now();
    const sent = lines(s1, 'sink.dead_letters_sent');
    expect(sent.length, s1.output.slice(-20).join('\n')).toBe(CRASH_AT);
    // The ranges before it committed their letters with their offsets; the last one was sent and never committed.
    const committedWithLetters = lines(s1, 'sink.flushed').filter((e) => Number(e['deadLettered']) > 0);
    expect(committedWithLetters.length).toBe(CRASH_AT - 1);
    const open = sent[CRASH_AT - 1]!;
    const openPartition = Number(open['partition']);
    const openEnd = Number(open['nextOffset']);
    const openLetters = Number(open['deadLetters']);
    expect(openLetters).toBeGreaterThan(0);

    const s2 = start();
    await waitGroupAtEnd(kafka, names.sinkGroup, [names.normalized], 90_000);
    const committedAt = Date.now();

    // Read_committed: the open transaction holds the dead-letter partitions it wrote to (their last stable offset)
    // until the broker aborts it; the restarted sink's letters lie behind it.
    const committed = await readTopic(kafka, names.deadLetter, bad.size, { keep: true, timeoutMs: 60_000, idleMs: 3_000 });
    const visibleAt = Date.now();
    const seen = await letters(committed);
    const twice = [...counted(seen, (l) => l.origin)].filter(([, n]) => n > 1);
    expect(twice, 'records dead-lettered more than once (origin partition@offset, times)').toEqual([]);
    expect(seen.map((l) => l.key).sort()).toEqual([...bad.keys()].sort());
    for (const l of seen) {
      expect(l.origin_topic).toBe(names.normalized);
      expect(l.original_key?.toString()).toBe(l.key);
      expect(Buffer.compare(l.original_value!, bad.get(l.key)!), `original bytes of ${l.key}`).toBe(0);
    }

    // Read_uncommitted: the killed sink's copy of its open range's letters is in the log too, aborted. Exactly that
    // range's letters are there twice: the kill landed inside the transaction, after its send.
    const uncommitted = await letters(await readTopic(kafka, names.deadLetter, bad.size + openLetters, { readUncommitted: true, keep: true, timeoutMs: 30_000, idleMs: 1_500 }));
    const doubled = [...counted(uncommitted, (l) => l.origin)].filter(([, n]) => n > 1);
    expect(doubled.map(([, n]) => n)).toEqual(doubled.map(() => 2));
    expect(doubled.length).toBe(openLetters);
    for (const [origin] of doubled) {
      const [partition, offset] = origin.split('@').map(Number);
      expect(partition, origin).toBe(openPartition);
      expect(offset, origin).toBeLessThan(openEnd);
    }
    expect(uncommitted.length).toBe(bad.size + openLetters);

    // Clean stop (flush, commit, leave), then the data directory is free for this process.
    s2.child.kill('SIGTERM');
    expect((await s2.exited).code).toBe(0);
    const client = await createClickHouse({ kind: 'embedded', dataDir, database: 'default' });
    try {
      const rs = await client.query({ query: `SELECT cdr_id, count() AS n FROM ${names.database}.cdr FINAL GROUP BY cdr_id ORDER BY cdr_id`, format: 'JSONEachRow' });
      const stored = await rs.json<{ cdr_id: string; n: string }>();
      expect(stored.filter((r) => r.n !== '1'), 'rows stored more than once after FINAL').toEqual([]);
      expect(stored.map((r) => r.cdr_id)).toEqual([...good].sort());
      const all = await (await client.query({ query: `SELECT count() AS n FROM ${names.database}.cdr`, format: 'JSONEachRow' })).json<{ n: string }>();
      console.log(
        `dead-letter crash test: ${records.length} records, ${bad.size} bad; sink killed in dead-letter transaction no. ${CRASH_AT} ` +
          `(${openLetters} letter(s) of partition ${openPartition} below offset ${openEnd}); group at the end ${((committedAt - killedAt) / 1000).toFixed(1)} s ` +
          `after the kill, every letter visible to read_committed readers ${((visibleAt - killedAt) / 1000).toFixed(1)} s after it; ` +
          `${all[0]!.n} stored rows for ${good.length} calls`,
      );
    } finally {
      await client.close();
    }
  }, 180_000);
});
