import { describe, expect, it } from 'vitest';
import { CdrflowError } from '../../core/errors.ts';
import type { DeadLetter } from '../../core/dead-letter.ts';
import type { CommittedCounts, ConsumedMessage, PartitionBatch } from '../../core/kafka-streams.ts';
import { Batcher, CATCH_UP_FLUSH_FACTOR, DEFAULT_FLUSH_IDLE_MS, EAGER_FLUSH_DIVISOR, IDLE_FLUSH_MIN_ROWS, type BatcherPorts, type BufferedRow, type StoredOffsets } from './batcher.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';

const TOPIC = 'cdr.normalized';
const msg = (partition: number, offset: number, value = `v${offset}`): ConsumedMessage => ({ topic: TOPIC, partition, offset, key: null, value: Buffer.from(value), timestamp: 0 });
const batch = (partition: number, offsets: number[], value?: (o: number) => string): PartitionBatch => ({
  topic: TOPIC,
  partition,
  messages: offsets.map((o) => msg(partition, o, value?.(o))),
});

interface Recorder {
  events: string[];
  inserted: Map<string, number[]>;
  dead: DeadLetter[];
  commits: string[];
}

/**
 * The cdr sink's ports by default: a range with dead letters commits through commitWithDeadLetters (one event,
 * `commit <partition>@<next> with dlq <offsets>`, standing for one Kafka transaction); `loader`: the dead-letter
 * loader's, its dead letters handed to publishDeadLetters before the plain commit.
 */
function fakePorts(opts: { reject?: (offset: number) => boolean; transientFailures?: number; insertError?: CdrflowError; loader?: boolean } = {}) {
  const rec: Recorder = { events: [], inserted: new Map(), dead: [], commits: [] };
  let failures = opts.transientFailures ?? 0;
  let clock = 0;
  const ports: BatcherPorts = {
    now: () => clock,
    async render(messages) {
      return messages.map((m) => {
        if (m.value?.toString() === 'garbage') return { error: { kind: 'bad_record' as const, message: 'not Avro' } };
        const cdr = sampleCdr(m.offset);
        return { line: Buffer.from('row\n'), vendor: cdr.vendor, cdr_id: cdr.cdr_id, received_at: cdr.received_at };
      });
    },
    async insert(rows: BufferedRow[], token: string) {
      if (opts.insertError) throw opts.insertError;
      if (failures > 0) {
        failures--;
        rec.events.push(`transient ${token}`);
        throw new CdrflowError('transient', 'connection reset');
      }
      const bad = rows.find((r) => opts.reject?.(r.message.offset));
      if (bad) {
        rec.events.push(`rejected ${token}`);
        throw new CdrflowError('rejected_by_sink', `ClickHouse 469: constraint violated at offset ${bad.message.offset}`);
      }
      rec.events.push(`insert ${token}`);
      rec.inserted.set(token, rows.map((r) => r.message.offset));
    },
    async commit(topic, partition, next) {
      rec.events.push(`commit ${partition}@${next}`);
      rec.commits.push(`${topic}:${partition}@${next}`);
    },
  };
  if (opts.loader) {
    ports.publishDeadLetters = async (records) => {
      rec.events.push(`dlq ${records.map((r) => r.origin_offset).join(',')}`);
      rec.dead.push(...records);
    };
  } else {
    ports.commitWithDeadLetters = async ({ topic, partition, nextOffset }, records) => {
      rec.events.push(`commit ${partition}@${nextOffset} with dlq ${records.map((r) => r.origin_offset).join(',')}`);
      rec.dead.push(...records);
      rec.commits.push(`${topic}:${partition}@${nextOffset}`);
    };
  }
  return { rec, ports, tick: (ms: number) => (clock += ms) };
}

/** Holds the insert named `token` until the returned function is called: a flight that lasts through a rebalance. */
function holdInsert(ports: BatcherPorts, token: string): () => void {
  const insert = ports.insert;
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  ports.insert = async (rows, t) => {
    if (t === token) await released;
    return insert(rows, t);
  };
  return () => release();
}

/**
 * A table for ports.stored holding `held(partition)`'s offsets (read on every ask, so a test can store more); `asked`
 * records each upTo, `among` each range asked.
 */
function tableHolding(held: (partition: number) => readonly number[]) {
  const asked: string[] = [];
  const among: string[] = [];
  const stored: StoredOffsets = {
    async upTo(topic, partition) {
      asked.push(`${topic}:${partition}`);
      const offsets = held(partition);
      return offsets.length > 0 ? Math.max(...offsets) + 1 : undefined;
    },
    async among(_topic, partition, first, last) {
      among.push(`${partition}:${first}-${last}`);
      return new Set(held(partition).filter((o) => o >= first && o <= last));
    },
  };
  return { stored, asked, among };
}

/** Offsets from..from+n-1. */
const offsets = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
/** Lets a background flush that finished settle (its commit and bookkeeping are promise callbacks). */
const settled = () => new Promise((resolve) => setImmediate(resolve));

// No idle flush unless a test asks for it: the age rules are tested with a clock that otherwise stands still.
const options = { flushRows: 4, flushMs: 1000, flushIdleMs: 0, maxInsertAttempts: 5, systemicRejectThreshold: 50, backoff: { initialMs: 1, maxMs: 2 } };

describe('Batcher', () => {
  it('flushes one contiguous range per insert at flushRows, token = topic:partition:first-last, commit after the insert', async () => {
    const { rec, ports } = fakePorts();
    const b = new Batcher(ports, options);
    await b.add(batch(0, [10, 11, 12]));
    expect(rec.events).toEqual([]);
    await b.add(batch(0, [13, 14]));
    expect(rec.events).toEqual(['insert cdr.normalized:0:10-13', 'commit 0@14']);
    expect(b.bufferedRows).toBe(1);
  });

  it('flushes by age, per partition, and everything on demand', async () => {
    const { rec, ports, tick } = fakePorts();
    const b = new Batcher(ports, options);
    await b.add(batch(1, [0, 1]));
    tick(600);
    await b.add(batch(2, [7]));
    tick(400);
    await b.flushDue();
    // Partition 2's buffer is younger than half flushMs: it does not go along.
    expect(rec.events).toEqual(['insert cdr.normalized:1:0-1', 'commit 1@2']);
    await b.flushDue(true);
    expect(rec.events.slice(2)).toEqual(['insert cdr.normalized:2:7-7', 'commit 2@8']);
  });

  it('while a partition catches up (a tenth of flushRows waits in Kafka), its buffer waits up to CATCH_UP_FLUSH_FACTOR × flushMs to make a bigger insert', async () => {
    const { rec, ports, tick } = fakePorts();
    const b = new Batcher(ports, { ...options, flushRows: 100 });
    // 2 buffered, 10 more already in Kafka: a tenth of a full insert (100 rows) waits behind the buffer.
    await b.add({ ...batch(0, [0, 1]), highWatermark: 12 });
    // Caught up: only 9 more in Kafka.
    await b.add({ ...batch(1, [0, 1]), highWatermark: 11 });
    tick(1000);
    await b.flushDue();
    expect(rec.events).toEqual(['insert cdr.normalized:1:0-1', 'commit 1@2']);
    tick(1000 * (CATCH_UP_FLUSH_FACTOR - 1) - 1);
    await b.flushDue();
    expect(rec.events).toHaveLength(2);
    tick(1);
    await b.flushDue();
    expect(rec.events.slice(2)).toEqual(['insert cdr.normalized:0:0-1', 'commit 0@2']);
    // The next fetch shows the partition caught up: back to flushMs.
    await b.add({ ...batch(0, [2]), highWatermark: 3 });
    tick(1000);
    await b.flushDue();
    expect(rec.events.slice(4)).toEqual(['insert cdr.normalized:0:2-2', 'commit 0@3']);
  });

  it('an insert’s worth of rows (flushRows / EAGER_FLUSH_DIVISOR) flushes at once when no flush is in flight, whatever its age, and waits while one is', async () => {
    const { rec, ports } = fakePorts();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const insert = ports.insert;
    ports.insert = async (rows, token) => {
      rec.events.push(`start ${token}`);
      await gate;
      return insert(rows, token);
    };
    const b = new Batcher(ports, { ...options, flushRows: 100, backgroundFlush: true });
    const eager = 100 / EAGER_FLUSH_DIVISOR;
    // One row short of an insert's worth (caught up: nothing more in Kafka): stays buffered.
    await b.add({ ...batch(0, offsets(0, eager - 1)), highWatermark: eager - 1 });
    expect(rec.events).toEqual([]);
    // The row that makes it: flushed at once, in the background.
    await b.add({ ...batch(0, [eager - 1]), highWatermark: eager });
    expect(rec.events).toEqual([`start cdr.normalized:0:0-${eager - 1}`]);
    // Another partition reaches it while that insert is in flight: it keeps filling.
    await b.add({ ...batch(1, offsets(0, eager + 5)), highWatermark: eager + 5 });
    await b.flushDue();
    expect(rec.events).toHaveLength(1);
    open();
    await settled();
    expect(rec.events).toEqual([`start cdr.normalized:0:0-${eager - 1}`, `insert cdr.normalized:0:0-${eager - 1}`, `commit 0@${eager}`]);
    // Engine idle again: the timer's next look flushes it.
    await b.flushDue();
    expect(rec.events[3]).toBe(`start cdr.normalized:1:0-${eager + 4}`);
  });

  it('partitions flush together as one insert once they hold an insert’s worth between them, behind or not', async () => {
    const { rec, ports } = fakePorts();
    const b = new Batcher(ports, { ...options, flushRows: 100, backgroundFlush: true });
    const eager = 100 / EAGER_FLUSH_DIVISOR;
    // Two partitions behind (50 wait in Kafka behind each) and one that is not, none with an insert's worth of its own.
    await b.add({ ...batch(0, offsets(0, 7)), highWatermark: 57 });
    await b.add({ ...batch(1, offsets(0, 7)), highWatermark: 57 });
    await b.add({ ...batch(3, offsets(0, 5)), highWatermark: 5 });
    await settled();
    expect(rec.events).toEqual([]);
    // The fourth brings them to 20 rows between them: one insert of all four ranges.
    await b.add({ ...batch(2, [0]), highWatermark: 56 });
    await settled();
    const token = 'cdr.normalized:0:0-6,cdr.normalized:1:0-6,cdr.normalized:3:0-4,cdr.normalized:2:0-0';
    expect(rec.events).toEqual([`insert ${token}`, 'commit 0@7', 'commit 1@7', 'commit 3@5', 'commit 2@1']);
    expect(rec.inserted.get(token)).toHaveLength(eager);
  });

  it('once no batch came in for flushIdleMs, every buffer flushes, young ones too, if they hold IDLE_FLUSH_MIN_ROWS; after the insert in flight if there is one', async () => {
    const { rec, ports, tick } = fakePorts();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const insert = ports.insert;
    ports.insert = async (rows, token) => {
      if (token.startsWith('cdr.normalized:9:')) await gate;
      return insert(rows, token);
    };
    // flushRows far above the rows here: neither size nor the eager insert's worth makes them due.
    const b = new Batcher(ports, { ...options, flushRows: 100 * IDLE_FLUSH_MIN_ROWS, flushIdleMs: DEFAULT_FLUSH_IDLE_MS, backgroundFlush: true });
    await b.add(batch(0, offsets(0, IDLE_FLUSH_MIN_ROWS - 1)));
    tick(DEFAULT_FLUSH_IDLE_MS);
    // Idle, but too few rows for an insert of their own: they wait for flushMs.
    await b.flushDue();
    expect(rec.events).toEqual([]);
    await b.add(batch(1, [0]));
    tick(DEFAULT_FLUSH_IDLE_MS - 1);
    await b.flushDue();
    expect(rec.events).toEqual([]);
    tick(1);
    await b.flushDue();
    await settled();
    expect(rec.events).toEqual([`insert cdr.normalized:0:0-${IDLE_FLUSH_MIN_ROWS - 2},cdr.normalized:1:0-0`, `commit 0@${IDLE_FLUSH_MIN_ROWS - 1}`, 'commit 1@1']);
    // An idle flush that finds an insert in flight goes after it.
    await b.add(batch(9, offsets(0, 30)));
    tick(1000);
    await b.flushDue();
    await settled();
    expect(rec.events).toHaveLength(3);
    await b.add(batch(0, offsets(IDLE_FLUSH_MIN_ROWS - 1, IDLE_FLUSH_MIN_ROWS)));
    tick(DEFAULT_FLUSH_IDLE_MS);
    const idle = b.flushDue();
    await settled();
    expect(rec.events).toHaveLength(3);
    open();
    await idle;
    await settled();
    expect(rec.events.slice(3)).toEqual(['insert cdr.normalized:9:0-29', 'commit 9@30', `insert cdr.normalized:0:${IDLE_FLUSH_MIN_ROWS - 1}-${2 * IDLE_FLUSH_MIN_ROWS - 2}`, `commit 0@${2 * IDLE_FLUSH_MIN_ROWS - 1}`]);
  });

  it('once a catching-up partition drained its backlog, the rest flushes at once; a buffer opened after it closes the backlog, then rows wait for flushMs again', async () => {
    const { rec, ports, tick } = fakePorts();
    const b = new Batcher(ports, { ...options, flushRows: 100, backgroundFlush: true });
    // 10 rows, 90 more in Kafka: catching up, short of an insert's worth (100 / EAGER_FLUSH_DIVISOR).
    await b.add({ ...batch(1, offsets(0, 10)), highWatermark: 100 });
    expect(rec.events).toEqual([]);
    // The next fetch reaches the end: nothing waits in Kafka, and the rows go now, not after flushMs.
    await b.add({ ...batch(1, offsets(10, 85)), highWatermark: 95 });
    await settled();
    expect(rec.events).toEqual(['insert cdr.normalized:1:0-94', 'commit 1@95']);
    // Rows that came in after that fetch are still the backlog's: they go at once too...
    await b.add({ ...batch(1, [95, 96]), highWatermark: 97 });
    await settled();
    expect(rec.events.slice(2)).toEqual(['insert cdr.normalized:1:95-96', 'commit 1@97']);
    // ...and close it: from here on a steady stream batches by age.
    await b.add({ ...batch(1, [97]), highWatermark: 98 });
    tick(999);
    await b.flushDue();
    expect(rec.events).toHaveLength(4);
    tick(1);
    await b.flushDue();
    await settled();
    expect(rec.events.slice(4)).toEqual(['insert cdr.normalized:1:97-97', 'commit 1@98']);
    // A partition that never was behind never flushes early.
    await b.add({ ...batch(2, [0, 1, 2]), highWatermark: 3 });
    await b.flushDue();
    await settled();
    expect(rec.events).toHaveLength(6);
  });

  it('retries transient errors with the same token', async () => {
    const { rec, ports } = fakePorts({ transientFailures: 2 });
    const b = new Batcher(ports, options);
    await b.add(batch(0, [0, 1, 2, 3]));
    expect(rec.events).toEqual(['transient cdr.normalized:0:0-3', 'transient cdr.normalized:0:0-3', 'insert cdr.normalized:0:0-3', 'commit 0@4']);
    expect(b.stats.retries).toBe(2);
  });

  it('finds rejected rows by bisecting, dead-letters them one by one, inserts the rest, then commits', async () => {
    const { rec, ports } = fakePorts({ reject: (o) => o === 5 || o === 6 });
    const b = new Batcher(ports, { ...options, flushRows: 8 });
    await b.add(batch(0, [0, 1, 2, 3, 4, 5, 6, 7]));
    const inserted = [...rec.inserted.values()].flat().sort((x, y) => x - y);
    expect(inserted).toEqual([0, 1, 2, 3, 4, 7]);
    expect(rec.dead.map((d) => [d.origin_offset, d.error_kind, d.component])).toEqual([
      [5, 'rejected_by_sink', 'sink.clickhouse'],
      [6, 'rejected_by_sink', 'sink.clickhouse'],
    ]);
    expect(rec.dead[0]!.error_message).toMatch(/offset 5/);
    expect(rec.dead[0]!.cdr_id).toBe(sampleCdr(5).cdr_id);
    expect(rec.dead[0]!.original_value?.toString()).toBe('v5');
    // Every sub-insert names its own contiguous range; the dead letters go with the range's commit.
    expect([...rec.inserted.keys()]).toEqual(['cdr.normalized:0:0-3', 'cdr.normalized:0:4-4', 'cdr.normalized:0:7-7']);
    expect(rec.events.slice(-1)).toEqual(['commit 0@8 with dlq 5,6']);
  });

  it('dead-letters undecodable messages but keeps them inside the committed range', async () => {
    const { rec, ports } = fakePorts();
    const b = new Batcher(ports, options);
    await b.add(batch(0, [0, 1, 2, 3], (o) => (o === 1 ? 'garbage' : `v${o}`)));
    expect(rec.events).toEqual(['insert cdr.normalized:0:0-3', 'commit 0@4 with dlq 1']);
    expect(rec.inserted.get('cdr.normalized:0:0-3')).toEqual([0, 2, 3]);
  });

  it("the loader's shape: dead letters handed to publishDeadLetters, then the plain commit", async () => {
    const { rec, ports } = fakePorts({ loader: true });
    const b = new Batcher(ports, options);
    await b.add(batch(0, [0, 1, 2, 3], (o) => (o === 1 ? 'garbage' : `v${o}`)));
    expect(rec.events).toEqual(['insert cdr.normalized:0:0-3', 'dlq 1', 'commit 0@4']);
    expect(b.stats.deadLettered).toBe(1);
  });

  it('stops instead of dead-lettering a whole batch of systemicRejectThreshold rows or more, and on systemic insert errors, without committing', async () => {
    const all = fakePorts({ reject: () => true });
    const b = new Batcher(all.ports, { ...options, flushRows: 4, systemicRejectThreshold: 4 });
    await expect(b.add(batch(0, [0, 1, 2, 3]))).rejects.toMatchObject({ kind: 'config' });
    expect(all.rec.commits).toEqual([]);
    expect(all.rec.dead).toEqual([]);

    // Fewer rows than the threshold, or not every row refused: the data's problem, dead-lettered and committed.
    const few = fakePorts({ reject: () => true });
    await new Batcher(few.ports, { ...options, flushRows: 3, systemicRejectThreshold: 4 }).add(batch(0, [0, 1, 2]));
    expect([few.rec.dead.map((d) => d.origin_offset), few.rec.commits]).toEqual([[0, 1, 2], ['cdr.normalized:0@3']]);
    const most = fakePorts({ reject: (o) => o !== 2 });
    await new Batcher(most.ports, { ...options, flushRows: 4, systemicRejectThreshold: 4 }).add(batch(0, [0, 1, 2, 3]));
    expect([most.rec.dead.map((d) => d.origin_offset), most.rec.commits]).toEqual([[0, 1, 3], ['cdr.normalized:0@4']]);

    const auth = fakePorts({ insertError: new CdrflowError('auth', 'ClickHouse 516 AUTHENTICATION_FAILED') });
    const b2 = new Batcher(auth.ports, options);
    await expect(b2.add(batch(0, [0, 1, 2, 3]))).rejects.toMatchObject({ kind: 'auth' });
    expect(auth.rec.commits).toEqual([]);
  });

  it('skips re-delivered offsets and forgets everything on a rebalance', async () => {
    const { rec, ports } = fakePorts();
    const b = new Batcher(ports, options);
    await b.add(batch(0, [0, 1, 2, 3]));
    await b.add(batch(0, [2, 3, 4]));
    expect(b.bufferedRows).toBe(1);
    b.dropAll();
    expect(b.bufferedRows).toBe(0);
    await b.add(batch(0, [4, 5, 6, 7]));
    expect(rec.events).toEqual(['insert cdr.normalized:0:0-3', 'commit 0@4', 'insert cdr.normalized:0:4-7', 'commit 0@8']);
  });

  it('inline, a failed commit of one partition leaves the other partitions’ buffers alone: no rebalance delivers them again (campaign seeds 482, 483)', async () => {
    const { rec, ports } = fakePorts();
    const commit = ports.commit;
    ports.commit = async (topic, partition, next) => {
      if (partition === 0 && next === 4) throw new CdrflowError('transient', 'request timed out');
      await commit(topic, partition, next);
    };
    const b = new Batcher(ports, options);
    await b.add(batch(1, [0, 1]));
    await b.add(batch(0, [0, 1, 2, 3])); // stored, its commit fails
    await b.add(batch(0, [4, 5]));
    await b.flushDue(true);
    expect([...rec.inserted.keys()]).toEqual(['cdr.normalized:0:0-3', 'cdr.normalized:1:0-1,cdr.normalized:0:4-5']);
    expect(rec.commits).toEqual(['cdr.normalized:1@2', 'cdr.normalized:0@6']);
  });

  it('with ports.stored: offsets the table already holds are committed with the range but not rendered or inserted again, asked again after a rebalance', async () => {
    const { rec, ports } = fakePorts();
    const render = ports.render;
    const rendered: number[] = [];
    ports.render = async (messages) => {
      rendered.push(...messages.map((m) => m.offset));
      return render(messages);
    };
    // The table holds partition 0 up to offset 5 (an insert acknowledged before a crash, its commit lost).
    let stored = offsets(0, 6);
    const table = tableHolding((partition) => (partition === 0 ? stored : []));
    ports.stored = table.stored;
    const asked = table.asked;
    const b = new Batcher(ports, { ...options, flushRows: 4 });
    // Re-read from the committed offset 2, in ranges that differ from the inserted one: 2-5 are stored, 6-7 are not.
    await b.add(batch(0, [2, 3, 4, 5, 6, 7]));
    await b.add(batch(1, [0, 1, 2, 3]));
    await b.flushDue(true);
    // Partition 0 held only two rows to insert (not a full buffer): flushed last, by the final flush.
    expect(rec.events).toEqual(['insert cdr.normalized:1:0-3', 'commit 1@4', 'insert cdr.normalized:0:2-7', 'commit 0@8']);
    expect(rec.inserted.get('cdr.normalized:0:2-7')).toEqual([6, 7]);
    expect(rendered).toEqual([6, 7, 0, 1, 2, 3]);
    expect(asked).toEqual(['cdr.normalized:0', 'cdr.normalized:1']);
    // Asked once per partition, until a rebalance: then the table is read again (another member may have stored more).
    stored = offsets(0, 10);
    b.dropAll();
    await b.add(batch(0, [8, 9, 10]));
    await b.flushDue(true);
    expect(asked).toEqual(['cdr.normalized:0', 'cdr.normalized:1', 'cdr.normalized:0']);
    expect(rec.inserted.get('cdr.normalized:0:8-10')).toEqual([10]);
    expect(rec.commits.at(-1)).toBe('cdr.normalized:0@11');
  });

  it('counts the offsets it committed without inserting because the table held them, and logs them', async () => {
    const { ports } = fakePorts({ loader: true });
    ports.stored = tableHolding((partition) => (partition === 0 ? offsets(0, 4) : [])).stored;
    const counts: CommittedCounts[] = [];
    ports.onCommitted = (c) => void counts.push(c);
    const logged: { event: string; fields: Record<string, unknown> | undefined }[] = [];
    ports.log = (_level, event, fields) => void logged.push({ event, fields });
    const b = new Batcher(ports, options);
    // Re-read after a crash between insert and commit: 1-3 are in the table already, 4-5 are not; 5 is garbage.
    await b.add(batch(0, [1, 2, 3, 4, 5], (o) => (o === 5 ? 'garbage' : `v${o}`)));
    await b.flushDue(true);
    // Every record taken is accounted for: 5 in = 1 stored + 1 dead-lettered + 3 already stored.
    expect(counts).toEqual([{ records: 5, deadLettered: 1, alreadyStored: 3 }]);
    expect(logged.filter((l) => l.event === 'sink.already_stored').map((l) => l.fields)).toEqual([{ partition: 'cdr.normalized:0', first: 1, last: 3, records: 3 }]);
  });

  it('a record below the highest stored offset that the table does not hold (refused, or not loadable) is not taken as stored: it is dead-lettered and counted again', async () => {
    const { rec, ports } = fakePorts({ loader: true, reject: (o) => o === 2 });
    // Before a crash between the insert and its commit: 0-4 inserted, 2 refused by the table, 3 not loadable.
    const table = tableHolding(() => [0, 1, 4]);
    ports.stored = table.stored;
    const counts: CommittedCounts[] = [];
    ports.onCommitted = (c) => void counts.push(c);
    const b = new Batcher(ports, { ...options, flushRows: 10 });
    await b.add(batch(0, [0, 1, 2, 3, 4, 5], (o) => (o === 3 ? 'garbage' : `v${o}`)));
    await b.flushDue(true);
    expect(table.among).toEqual(['0:0-4']);
    // 2 is offered to the table again (refused again), 5 is new; 3 is dead-lettered (the loader's skipped) again.
    expect([...rec.inserted.values()].flat().sort()).toEqual([5]);
    expect(rec.dead.map((d) => d.origin_offset).sort()).toEqual([2, 3]);
    expect(counts).toEqual([{ records: 6, deadLettered: 2, alreadyStored: 3 }]);
    expect(rec.commits).toEqual(['cdr.normalized:0@6']);
  });

  it('a range the table already holds entirely is committed without an insert', async () => {
    const { rec, ports } = fakePorts();
    ports.stored = tableHolding(() => offsets(0, 4)).stored;
    const b = new Batcher(ports, options);
    await b.add(batch(0, [0, 1, 2, 3]));
    await b.flushDue(true);
    expect(rec.events).toEqual(['commit 0@4']);
  });

  it('flushes at flushBytes (consumed values + rendered rows) before flushRows', async () => {
    const { rec, ports } = fakePorts();
    const b = new Batcher(ports, { ...options, flushRows: 1000, flushBytes: 20 });
    await b.add(batch(0, [0, 1, 2, 3], () => 'xxxx')); // 4 bytes of value + 4 of row each: the third reaches 24 >= 20
    expect(rec.events).toEqual(['insert cdr.normalized:0:0-2', 'commit 0@3']);
    expect(b.bufferedRows).toBe(1);
  });

  describe('backgroundFlush', () => {
    /** Ports whose inserts wait until the test releases them, to see what runs while a flush is in flight. */
    function gatedPorts() {
      const f = fakePorts();
      const gates: (() => void)[] = [];
      const insert = f.ports.insert;
      f.ports.insert = async (rows, token) => {
        f.rec.events.push(`start ${token}`);
        await new Promise<void>((resolve) => gates.push(resolve));
        await insert(rows, token);
      };
      const release = async () => {
        while (gates.length === 0) await new Promise((r) => setImmediate(r));
        gates.shift()!();
      };
      return { ...f, release };
    }

    it('keeps reading while one flush is in flight, starts the next only after it, and commits ranges in order', async () => {
      const { rec, ports, release } = gatedPorts();
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3])); // hands 0-3 to a flush and returns before it finished
      expect(rec.events).toEqual(['start cdr.normalized:0:0-3']);
      await b.add(batch(0, [4, 5])); // read while 0-3 is being inserted
      expect(b.bufferedRows).toBe(6);
      const next = b.add(batch(0, [6, 7])); // 4-7 is full: waits for the flush of 0-3 to finish
      await release();
      await next;
      await release();
      await b.flushDue(true);
      expect(rec.events).toEqual(['start cdr.normalized:0:0-3', 'insert cdr.normalized:0:0-3', 'commit 0@4', 'start cdr.normalized:0:4-7', 'insert cdr.normalized:0:4-7', 'commit 0@8']);
      expect(b.bufferedRows).toBe(0);
    });

    it('drops a flush queued behind the one in flight when a rebalance comes, and reads its rows again if the partition comes back', async () => {
      const { rec, ports, release } = gatedPorts();
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3])); // 0-3 in flight
      const queued = b.add(batch(0, [4, 5, 6, 7])); // 4-7 handed to a flush that waits for 0-3
      while (!rec.events.includes('start cdr.normalized:0:0-3')) await settled();
      await settled();
      // The rebalance: the partition's next owner reads 4-7 from the group's offset (and the loader asks the table
      // which offsets it holds): inserted after that, they would be stored twice.
      b.dropAll();
      await release();
      await queued;
      await b.flushDue(true);
      expect(rec.events).toEqual(['start cdr.normalized:0:0-3', 'insert cdr.normalized:0:0-3', 'commit 0@4']);
      expect(b.bufferedRows).toBe(0);
      // Given back from the group's offset, 4-7 are read, inserted and committed here.
      await b.add(batch(0, [4, 5, 6, 7]));
      await release();
      await b.flushDue(true);
      expect(rec.events.slice(3)).toEqual(['start cdr.normalized:0:4-7', 'insert cdr.normalized:0:4-7', 'commit 0@8']);
    });

    it('a flush in flight and the one queued behind it, both dropped at a rebalance, are read again from the first one if the partition comes back', async () => {
      const { rec, ports } = fakePorts();
      const insert = ports.insert;
      let rebalance: () => void = () => {};
      const rebalanced = new Promise<void>((resolve) => (rebalance = resolve));
      let first = true;
      ports.insert = async (rows, token) => {
        if (first) {
          // 0-3's first insert fails once the rebalance came: its retry would follow.
          first = false;
          await rebalanced;
          throw new CdrflowError('transient', 'connection reset');
        }
        return insert(rows, token);
      };
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3])); // 0-3 in flight
      const queued = b.add(batch(0, [4, 5, 6, 7])); // 4-7 handed to a flush that waits for 0-3
      await settled();
      b.dropAll();
      rebalance();
      await queued;
      await b.flushDue(true);
      expect(rec.commits).toEqual([]);
      // Given back from the group's offset 0: nothing of 0-7 was stored nor committed, so all of it goes now.
      await b.add(batch(0, offsets(0, 8)));
      await b.flushDue(true);
      expect([...rec.inserted.values()].flat()).toEqual(offsets(0, 8));
      expect(rec.commits).toEqual(['cdr.normalized:0@4', 'cdr.normalized:0@8']);
    });

    it('the rest of a batch whose full buffer waited for the flight through a rebalance is not buffered: given the partition back, all of it is read again', async () => {
      const { rec, ports } = fakePorts();
      const rebalance = holdInsert(ports, 'cdr.normalized:0:0-3');
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3])); // 0-3 in flight
      const queued = b.add(batch(0, offsets(4, 6))); // 4-7 handed to a flush that waits for 0-3; 8-9 after it
      await settled();
      b.dropAll();
      rebalance();
      await queued;
      // Given back from the group's offset 4 (0-3 committed): 4-9 are read, inserted and committed here.
      await b.add(batch(0, offsets(4, 6)));
      await b.flushDue(true);
      expect([...rec.inserted.values()].flat()).toEqual(offsets(0, 10));
      expect(rec.commits).toEqual(['cdr.normalized:0@4', 'cdr.normalized:0@8', 'cdr.normalized:0@10']);
    });

    it('a flushDue whose first group waited for the flight through a rebalance hands off none of its other groups', async () => {
      const { rec, ports } = fakePorts();
      const rebalance = holdInsert(ports, 'cdr.normalized:0:0-3');
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3])); // 0-3 in flight
      await b.add(batch(1, [0, 1, 2]));
      await b.add(batch(2, [0, 1, 2]));
      const due = b.flushDue(true); // partition 1 waits for the flight, partition 2's group after it
      await settled();
      b.dropAll();
      rebalance();
      await due;
      // Partitions 1 and 2 are their next owners' to read: neither is inserted after the rebalance.
      expect([...rec.inserted.keys()]).toEqual(['cdr.normalized:0:0-3']);
      expect(b.bufferedRows).toBe(0);
    });

    it('a batch that waited for a flushDue through a rebalance is not buffered: it is its partition’s next reader’s', async () => {
      const { rec, ports } = fakePorts();
      const rebalance = holdInsert(ports, 'cdr.normalized:0:0-1');
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1]));
      const due = b.flushDue(true); // holds the batcher until 0-1 is inserted
      const waiting = b.add(batch(1, [0, 1, 2, 3])); // fetched before the rebalance, waits for the flushDue
      await settled();
      b.dropAll();
      rebalance();
      await due;
      expect(await waiting).toBeUndefined();
      expect([...rec.inserted.keys()]).toEqual(['cdr.normalized:0:0-1']);
      expect(rec.commits).not.toContain('cdr.normalized:1@4');
      expect(b.bufferedRows).toBe(0);
    });

    it('makes no more inserts of a flush in flight once a rebalance came: no retry, no half of a rejected range', async () => {
      const { rec, ports } = fakePorts({ reject: (o) => o === 3 });
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      const insert = ports.insert;
      ports.insert = async (rows, token) => {
        // The first insert is refused as the rebalance comes: the flush would halve the range and insert 0-1, then 2-3.
        if (token === 'cdr.normalized:0:0-3') b.dropAll();
        return insert(rows, token);
      };
      await b.add(batch(0, [0, 1, 2, 3]));
      await b.flushDue(true);
      expect(rec.events).toEqual(['rejected cdr.normalized:0:0-3']);
      expect(rec.dead).toEqual([]);
      // Not a failure of the stage: the next batch is taken.
      await b.add(batch(0, [0, 1]));
      await b.flushDue(true);
      expect(rec.events.at(-1)).toBe('commit 0@2');
    });

    it('a range of a rejected group finished before the rebalance keeps its failed commit to make again; only the ranges not finished are read again', async () => {
      const { rec, ports } = fakePorts({ reject: (o) => o === 0 });
      const b = new Batcher(ports, { ...options, flushRows: 100, backgroundFlush: true });
      const commit = ports.commit;
      // The rebalance comes while partition 1's range commits: refused (fenced by the generation it was fetched in)
      // until the partition is given back, then made again under the new one.
      let givenBack = false;
      ports.commit = async (topic, partition, next, fetchedAs) => {
        if (partition === 1 && !givenBack) {
          if (rec.commits.length === 0) b.dropAll();
          throw new CdrflowError('transient', 'the group moved on since its records were fetched');
        }
        return commit(topic, partition, next, fetchedAs);
      };
      await b.add(batch(1, [10, 11, 12, 13]));
      await b.add(batch(2, [0, 1])); // 2:0 is rejected: the group is flushed range by range, partition 1's first
      await b.flushDue(true);
      expect(rec.inserted.get('cdr.normalized:1:10-13')).toEqual([10, 11, 12, 13]);
      // Partition 1 back from the group's offset, 10: 10-13 are stored, their commit is made again, not read again.
      givenBack = true;
      await b.add(batch(1, [10, 11]));
      await b.flushDue();
      await b.add(batch(1, [12, 13, 14]));
      await b.flushDue(true);
      const ones = rec.commits.filter((c) => c.startsWith('cdr.normalized:1@')).map((c) => Number(c.split('@')[1]));
      expect(ones).toEqual([...ones].sort((x, y) => x - y));
      expect(ones.at(-1)).toBe(15);
      expect([...rec.inserted.keys()].filter((k) => k.startsWith('cdr.normalized:1:'))).toEqual(['cdr.normalized:1:10-13', 'cdr.normalized:1:14-14']);
    });

    it('a commit refused because a rebalance came while its range flushed is not made again until the partition is seen again', async () => {
      const { rec, ports } = fakePorts();
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      let givenBack = false;
      const commit = ports.commit;
      ports.commit = async (topic, partition, next, fetchedAs) => {
        if (!givenBack) {
          if (!rec.events.includes('refused')) b.dropAll();
          rec.events.push('refused');
          throw new CdrflowError('transient', 'the group moved on since its records were fetched');
        }
        return commit(topic, partition, next, fetchedAs);
      };
      await b.add(batch(0, [0, 1, 2, 3]));
      await b.flushDue(true);
      await b.flushDue();
      await b.flushDue();
      expect(rec.events.filter((e) => e === 'refused')).toHaveLength(1);
      // Given back below it: made again under the new generation.
      givenBack = true;
      await b.add(batch(0, [0, 1]));
      await b.flushDue();
      expect(rec.commits).toEqual(['cdr.normalized:0@4']);
    });

    it('makes no failed commit again once a flush failed meanwhile: a later range of the partition may have committed', async () => {
      const { rec, ports } = fakePorts();
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      const commit = ports.commit;
      // The first commit of partitions 3 and 0 fails (made again later); partition 3's second one waits for the test.
      const failOnce = new Set([3, 0]);
      let releaseThree: (() => void) | undefined;
      ports.commit = async (topic, partition, next, fetchedAs) => {
        if (failOnce.delete(partition)) throw new CdrflowError('transient', 'request timed out');
        if (partition === 3) await new Promise<void>((resolve) => (releaseThree = resolve));
        return commit(topic, partition, next, fetchedAs);
      };
      // Partition 0's next range has a dead letter: its transaction lands, its answer is lost (the stage stops).
      let land: (() => void) | undefined;
      ports.commitWithDeadLetters = async ({ topic, partition, nextOffset }) => {
        await new Promise<void>((resolve) => (land = resolve));
        rec.commits.push(`${topic}:${partition}@${nextOffset}`);
        throw new CdrflowError('transient', 'broker gone after the commit');
      };
      const failures: CdrflowError[] = [];
      ports.onFailure = (err) => void failures.push(err);
      await b.add(batch(3, [0, 1, 2, 3]));
      await b.add(batch(0, [0, 1, 2, 3]));
      await b.add(batch(0, [4, 5, 6, 7], (o) => (o === 5 ? 'garbage' : `v${o}`)));
      // Its commits made again: partition 3's first (it waits), partition 0's is skipped while 4-7 is in flight.
      const due = b.flushDue();
      while (releaseThree === undefined || land === undefined) await settled();
      land();
      while (failures.length === 0) await settled();
      releaseThree();
      await expect(due).rejects.toThrow(/broker gone after the commit/);
      expect(rec.commits.filter((c) => c.startsWith('cdr.normalized:0@'))).toEqual(['cdr.normalized:0@8']);
    });

    it('counts in bufferedRows the rows of a flush that waits for the one in flight', async () => {
      const { rec, ports, release } = gatedPorts();
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3])); // 0-3 in flight
      const next = b.add(batch(0, [4, 5, 6, 7])); // 4-7 is full: handed to a flush that waits for 0-3
      while (!rec.events.includes('start cdr.normalized:0:0-3')) await settled();
      await settled();
      // Out of the buffers, not yet in flight: still held by the sink, not yet in ClickHouse.
      expect(b.bufferedRows).toBe(8);
      await release();
      await next;
      expect(b.bufferedRows).toBe(4);
      await release();
      await b.flushDue(true);
      expect(b.bufferedRows).toBe(0);
    });

    it('skips offsets re-delivered while their flush is still in flight', async () => {
      const { rec, ports, release } = gatedPorts();
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3]));
      await b.add(batch(0, [2, 3, 4])); // 2 and 3 belong to the flush in flight
      const done = b.flushDue(true);
      await release();
      await release();
      await done;
      expect([...rec.inserted.entries()]).toEqual([
        ['cdr.normalized:0:0-3', [0, 1, 2, 3]],
        ['cdr.normalized:0:4-4', [4]],
      ]);
    });

    it('reports a failed background flush and refuses further work without committing', async () => {
      const { rec, ports } = fakePorts({ insertError: new CdrflowError('auth', 'ClickHouse 516 AUTHENTICATION_FAILED') });
      const failures: CdrflowError[] = [];
      ports.onFailure = (err) => failures.push(err);
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3]));
      await expect(b.flushDue(true)).rejects.toMatchObject({ kind: 'auth' });
      expect(failures.map((e) => e.kind)).toEqual(['auth']);
      await expect(b.add(batch(0, [4]))).rejects.toMatchObject({ kind: 'auth' });
      expect(rec.commits).toEqual([]);
    });
  });

  // A plain commit that failed leaves the group's offset short of what was stored; the records are not read again
  // (handed off), so unless it is committed again the lag never reaches 0 at the end of the input (campaign seeds 12, 55).
  describe('a failed plain commit', () => {
    const membership = { groupId: 'g', memberId: 'm', generationId: 7 };
    /** Ports whose plain commits fail while `failing` says so; `tries` records every attempt with its generation. */
    function failingCommits(failing: (next: number) => CdrflowError | undefined, opts: Parameters<typeof fakePorts>[0] = {}) {
      const f = fakePorts(opts);
      const tries: string[] = [];
      const commit = f.ports.commit;
      f.ports.commit = async (topic, partition, next, fetchedAs) => {
        tries.push(`${partition}@${next} gen ${fetchedAs?.generationId}`);
        const err = failing(next);
        if (err) throw err;
        await commit(topic, partition, next);
      };
      return { ...f, tries };
    }

    it('is committed again by the next flushDue, with the generation its range was fetched in, when no later range of the partition commits past it', async () => {
      let fail = true;
      const { rec, ports, tries } = failingCommits(() => (fail ? new CdrflowError('transient', 'request timed out') : undefined));
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add({ ...batch(0, [0, 1, 2, 3]), membership });
      // Failed, and failed again once the flush was done.
      await b.flushDue(true);
      expect(tries).toEqual(['0@4 gen 7', '0@4 gen 7']);
      expect(rec.commits).toEqual([]);
      // Still failing: tried again on each tick, no harm done.
      await b.flushDue();
      expect(rec.commits).toEqual([]);
      fail = false;
      await b.flushDue();
      expect(rec.commits).toEqual(['cdr.normalized:0@4']);
      expect(tries).toEqual(['0@4 gen 7', '0@4 gen 7', '0@4 gen 7', '0@4 gen 7']);
      // Done: not tried again.
      await b.flushDue(true);
      expect(tries).toHaveLength(4);
    });

    // The stage's figures (in = out + dead-lettered) count a range once the group's offset goes past it: a range
    // counted only by its own successful commit left them short for good.
    it('counts its records once, when the group offset goes past them: by its own commit made again, or with the later range that commits past it', async () => {
      const failing = new Set([4, 5]);
      const { ports } = failingCommits((next) => (failing.has(next) ? new CdrflowError('transient', 'request timed out') : undefined), { loader: true });
      const counts: CommittedCounts[] = [];
      ports.onCommitted = (c) => void counts.push(c);
      const b = new Batcher(ports, { ...options, flushRows: 8 });
      // Partition 0's range (commit at 4) is committed again; partition 1's (at 5) is passed by its next range's commit.
      await b.add(batch(0, [0, 1, 2, 3], (o) => (o === 2 ? 'garbage' : `v${o}`)));
      await b.add(batch(1, [0, 1, 2, 3, 4], (o) => (o === 1 ? 'garbage' : `v${o}`)));
      await b.flushDue(true);
      expect(counts).toEqual([]);
      failing.delete(4);
      await b.flushDue();
      expect(counts).toEqual([{ records: 4, deadLettered: 1 }]);
      await b.add(batch(0, [4, 5]));
      await b.add(batch(1, [5, 6, 7]));
      await b.flushDue(true);
      // Nothing is counted twice: not by a later commit after the one made again, nor by a retry after a later range's.
      failing.clear();
      await b.flushDue(true);
      expect(counts).toEqual([
        { records: 4, deadLettered: 1 },
        { records: 2, deadLettered: 0 },
        { records: 5, deadLettered: 1 },
        { records: 3, deadLettered: 0 },
      ]);
    });

    it('refused, then partly committed by another member: counts only what this member\'s commit made again goes past', async () => {
      let refuse = true;
      const { rec, ports } = failingCommits((next) => (refuse && next === 6 ? new CdrflowError('transient', 'the group moved on since its records were fetched', { code: 'GROUP_MOVED_ON' }) : undefined));
      const counts: CommittedCounts[] = [];
      ports.onCommitted = (c) => void counts.push(c);
      const b = new Batcher(ports, { ...options, flushRows: 6 });
      await b.add({ ...batch(0, [0, 1, 2, 3, 4, 5]), membership });
      refuse = false;
      b.dropAll();
      // Another member committed 0-2: the partition comes back at 3.
      await b.add({ ...batch(0, [3, 4, 5]), membership: { ...membership, generationId: 8 } });
      await b.flushDue();
      await b.add({ ...batch(0, [6, 7]), membership: { ...membership, generationId: 8 } });
      await b.flushDue(true);
      expect(rec.commits).toEqual(['cdr.normalized:0@6', 'cdr.normalized:0@8']);
      expect(counts).toEqual([
        { records: 3, deadLettered: 0 },
        { records: 2, deadLettered: 0 },
      ]);
    });

    // Made again on every flush tick while it fails (a refusal waits for the rejoin): a warning each time was noise
    // at the flush rate.
    it('logs its first failure at warn and the repeats at debug; again at warn the first time it fails under the generation of a rejoin', async () => {
      let fail = true;
      const { ports } = failingCommits(() => (fail ? new CdrflowError('transient', 'the group moved on since its records were fetched', { code: 'GROUP_MOVED_ON' }) : undefined));
      const logged: string[] = [];
      ports.log = (level, event, fields) => {
        if (event.startsWith('sink.commit')) logged.push(`${level} ${event} ${fields?.attempts ?? ''}`.trim());
      };
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add({ ...batch(0, [0, 1, 2, 3]), membership });
      await b.flushDue(true);
      await b.flushDue();
      await b.flushDue();
      expect(logged).toEqual(['warn sink.commit_failed', 'debug sink.commit_failed 2', 'debug sink.commit_failed 3', 'debug sink.commit_failed 4']);
      b.dropAll();
      await b.add({ ...batch(0, [0, 1, 2, 3]), membership: { ...membership, generationId: 8 } });
      await b.flushDue();
      await b.flushDue();
      fail = false;
      await b.flushDue();
      expect(logged.slice(4)).toEqual(['warn sink.commit_failed 5', 'debug sink.commit_failed 6', 'info sink.committed_again 7']);
    });

    it('inline too, given the partition back below it after a rejoin: its records are not read again, and the group\'s offset never moves back (campaign seed 749)', async () => {
      let refuse = true;
      const { rec, ports } = failingCommits(() => (refuse ? new CdrflowError('transient', 'the group moved on since its records were fetched', { code: 'GROUP_MOVED_ON' }) : undefined));
      const b = new Batcher(ports, options);
      await b.add({ ...batch(0, [0, 1, 2, 3]), membership });
      refuse = false;
      b.dropAll();
      await b.add({ ...batch(0, [0, 1]), membership: { ...membership, generationId: 8 } });
      await b.flushDue();
      await b.flushDue(true);
      expect(rec.commits).toEqual(['cdr.normalized:0@4']);
      expect([...rec.inserted.keys()]).toEqual(['cdr.normalized:0:0-3']);
    });

    it('takes along the transaction markers fetched after its range, in flight then or not', async () => {
      const markers = (partition: number, first: number, end: number) => ({ topic: TOPIC, partition, first, end });
      let fail = true;
      const { rec, ports } = failingCommits(() => (fail ? new CdrflowError('transient', 'request timed out') : undefined));
      const gates: (() => void)[] = [];
      const insert = ports.insert;
      ports.insert = async (rows, token) => {
        if (token.startsWith('cdr.normalized:1:')) await new Promise<void>((resolve) => gates.push(resolve));
        await insert(rows, token);
      };
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3]));
      await b.flushDue(true);
      await b.skipMarkers(markers(0, 4, 6));
      await b.add(batch(1, [0, 1, 2, 3])); // in flight while its markers come
      await b.skipMarkers(markers(1, 4, 7));
      while (gates.length === 0) await settled();
      gates.shift()!();
      await b.flushDue(true);
      expect(rec.commits).toEqual([]);
      fail = false;
      await b.flushDue();
      expect(rec.commits.sort()).toEqual(['cdr.normalized:0@6', 'cdr.normalized:1@7']);
    });

    it('refused because the group moved on: after the rejoin, given the partition back below it, committed under the new generation; given it back past it, forgotten', async () => {
      let refuse = true;
      const { rec, ports, tries } = failingCommits((next) =>
        refuse && next === 4 ? new CdrflowError('transient', 'the group moved on since its records were fetched', { code: 'GROUP_MOVED_ON' }) : undefined,
      );
      // flushRows 100: the rows below stay buffered (short of an eager insert's worth) until flushDue(true).
      const b = new Batcher(ports, { ...options, flushRows: 100, backgroundFlush: true });
      await b.add({ ...batch(0, [0, 1, 2, 3]), membership });
      await b.add({ ...batch(1, [0, 1, 2, 3]), membership });
      await b.flushDue(true);
      expect(rec.commits).toEqual([]);
      refuse = false;
      b.dropAll();
      // Until the partitions come back, nothing is committed: another member may own them now.
      await b.flushDue(true);
      expect(tries).toEqual(['0@4 gen 7', '1@4 gen 7', '0@4 gen 7', '1@4 gen 7']);
      // Partition 0 comes back from the group's offset, 0: its records are handed off already, the commit is what was missing.
      await b.add({ ...batch(0, [0, 1, 2, 3]), membership: { ...membership, generationId: 8 } });
      // Partition 1 comes back at 6: another member read it again and committed past it.
      await b.add({ ...batch(1, [6]), membership: { ...membership, generationId: 8 } });
      await b.flushDue();
      expect(tries.slice(4)).toEqual(['0@4 gen 8']);
      expect(rec.commits).toEqual(['cdr.normalized:0@4']);
      await b.flushDue(true);
      expect(rec.commits).toEqual(['cdr.normalized:0@4', 'cdr.normalized:1@7']);
      expect([...rec.inserted.keys()]).toEqual(['cdr.normalized:0:0-3,cdr.normalized:1:0-3', 'cdr.normalized:1:6-6']);
    });
  });

  // Two transactional producers (two normalize members) can end a partition in two commit markers; an aborted
  // transaction leaves records no one reads. The group's offset must go past them, or its lag never reaches 0.
  describe('transaction markers', () => {
    const markers = (partition: number, first: number, end: number) => ({ topic: TOPIC, partition, first, end });

    it('commits past the markers a fetch ended in (batch.end), also when the last message filled the buffer', async () => {
      const { rec, ports } = fakePorts();
      const b = new Batcher(ports, options);
      await b.add({ ...batch(0, [0, 1, 2]), end: 5 });
      await b.flushDue(true);
      await b.add({ ...batch(1, [0, 1, 2, 3]), end: 6 }); // the fourth row flushes: its buffer still ends at 6
      expect(rec.commits).toEqual(['cdr.normalized:0@5', 'cdr.normalized:1@6']);
      // A buffer filled before the batch's last message ends at that message: the next range starts right after it.
      await b.add({ ...batch(2, [0, 1, 2, 3, 4]), end: 7 });
      await b.flushDue(true);
      expect(rec.commits.slice(2)).toEqual(['cdr.normalized:2@4', 'cdr.normalized:2@7']);
    });

    it('a markers-only fetch moves the commit of the open buffer it follows, and of nothing else', async () => {
      const { rec, ports } = fakePorts();
      const b = new Batcher(ports, options);
      await b.add(batch(0, [0, 1]));
      await b.skipMarkers(markers(0, 2, 4));
      await b.skipMarkers(markers(0, 9, 12)); // not right after the buffer: something in between was not read here
      await b.flushDue(true);
      expect(rec.commits).toEqual(['cdr.normalized:0@4']);
    });

    it('with nothing buffered, commits past them only when the group stands at their first offset (ours, else the broker\'s)', async () => {
      const { rec, ports } = fakePorts();
      const asked: string[] = [];
      const brokerHas = new Map([['1', 7], ['2', 3]]);
      ports.committedOffset = async (_topic, partition) => {
        asked.push(`${partition}`);
        return brokerHas.get(`${partition}`);
      };
      const b = new Batcher(ports, options);
      await b.add(batch(0, [0, 1, 2, 3])); // flushed and committed at 4
      await b.skipMarkers(markers(0, 4, 6)); // ours is 4: past them
      await b.skipMarkers(markers(0, 8, 9)); // ours is 6 now: 6-7 were not read here
      await b.skipMarkers(markers(1, 7, 10)); // after an assignment: the broker has 7
      await b.skipMarkers(markers(2, 5, 6)); // the broker has 3
      expect(rec.commits).toEqual(['cdr.normalized:0@4', 'cdr.normalized:0@6', 'cdr.normalized:1@10']);
      expect(asked).toEqual(['1', '2']);
      // After a rebalance it knows nothing of its own any more, and asks again.
      b.dropAll();
      await b.skipMarkers(markers(0, 6, 8));
      expect(asked).toEqual(['1', '2', '0']);
      expect(rec.commits).toHaveLength(3);
    });

    it('behind a range in flight, commits past them after that range committed; a failed commit loses nothing', async () => {
      const f = fakePorts();
      const gates: (() => void)[] = [];
      const insert = f.ports.insert;
      f.ports.insert = async (rows, token) => {
        await new Promise<void>((resolve) => gates.push(resolve));
        await insert(rows, token);
      };
      const b = new Batcher(f.ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3])); // 0-3 in flight
      await b.skipMarkers(markers(0, 4, 6));
      expect(f.rec.commits).toEqual([]);
      while (gates.length === 0) await settled();
      gates.shift()!();
      await b.flushDue(true);
      expect(f.rec.commits).toEqual(['cdr.normalized:0@4', 'cdr.normalized:0@6']);
      // The partition was lost meanwhile: the commit fails, is logged, and the stage goes on.
      f.ports.commit = async () => {
        throw new CdrflowError('transient', 'not the owner of the partition any more');
      };
      await b.skipMarkers(markers(0, 6, 8));
      await b.add(batch(0, [8]));
      expect(b.bufferedRows).toBe(1);
    });
  });

  // The cdr sink publishes a range's dead letters and commits its offset in one Kafka transaction; refused (the group
  // moved on), nothing of it is visible, and the range must be read again, by this member or the partition's next owner.
  describe('dead letters committed with their range', () => {
    const refusal = () =>
      new CdrflowError('transient', 'transaction refused', { cause: Object.assign(new Error('The provided group generation id is not valid'), { type: 'ILLEGAL_GENERATION' }) });
    const garbageAt = (...bad: number[]) => (o: number) => (bad.includes(o) ? 'garbage' : `v${o}`);
    const membership = { groupId: 'g', memberId: 'm', generationId: 7 };
    /** A background batcher whose first range (0-3, a dead letter at 1) had its commit refused; `accept` ends the refusals. */
    async function afterRefusal(ports: BatcherPorts) {
      const commitWith = ports.commitWithDeadLetters!;
      ports.commitWithDeadLetters = async () => {
        throw refusal();
      };
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3], garbageAt(1)));
      await b.flushDue(true);
      return { b, accept: () => (ports.commitWithDeadLetters = commitWith) };
    }

    it('fences the commit with the generation of the batch that opened the range; ranges without dead letters commit plainly, given that generation too', async () => {
      const { rec, ports } = fakePorts();
      const fences: unknown[] = [];
      const commitWith = ports.commitWithDeadLetters!;
      ports.commitWithDeadLetters = async (range, records) => {
        fences.push(range.membership);
        await commitWith(range, records);
      };
      const plainCommit = ports.commit;
      const plainFences: unknown[] = [];
      ports.commit = async (topic, partition, next, fetchedAs) => {
        plainFences.push(fetchedAs);
        await plainCommit(topic, partition, next);
      };
      const b = new Batcher(ports, options);
      await b.add({ ...batch(0, [0, 1, 2, 3], garbageAt(2)), membership });
      await b.add({ ...batch(0, [4, 5, 6, 7]), membership: { ...membership, generationId: 8 } });
      expect(rec.events).toEqual(['insert cdr.normalized:0:0-3', 'commit 0@4 with dlq 2', 'insert cdr.normalized:0:4-7', 'commit 0@8']);
      expect(fences).toEqual([membership]);
      // The consumer refuses a plain commit once the group moved on from it (core/kafka-streams.ts, GROUP_MOVED_ON).
      expect(plainFences).toEqual([{ ...membership, generationId: 8 }]);
      expect(b.stats.deadLettered).toBe(1);
    });

    it('refused: logged as a failed commit, the stage goes on; later ranges of the partition do not commit past it, and after the rejoin it is read again from its first offset', async () => {
      const { rec, ports } = fakePorts();
      const logged: string[] = [];
      ports.log = (_level, event) => logged.push(event);
      const { b, accept } = await afterRefusal(ports);
      expect(logged).toContain('sink.commit_failed');
      expect(b.stats.deadLettered).toBe(0);
      // The consumer has not heard of the rejoin yet: the next range is stored but not committed (it would skip 0-3).
      await b.add(batch(0, [4, 5, 6, 7]));
      await b.flushDue(true);
      expect(logged).toContain('sink.commit_skipped');
      expect(rec.commits).toEqual([]);
      // The rejoin: the partition again from the group's committed offset; nothing of it counts as handed off.
      accept();
      b.dropAll();
      await b.add(batch(0, [0, 1, 2, 3], garbageAt(1)));
      await b.add(batch(0, [4, 5, 6, 7]));
      await b.flushDue(true);
      expect(rec.events.slice(-4)).toEqual(['insert cdr.normalized:0:0-3', 'commit 0@4 with dlq 1', 'insert cdr.normalized:0:4-7', 'commit 0@8']);
      expect(rec.dead.map((d) => d.origin_offset)).toEqual([1]);
      expect(b.stats.deadLettered).toBe(1);
    });

    it('inline, a range whose commit is skipped behind a refused one leaves the buffer: the next rows start a range of their own', async () => {
      const { rec, ports } = fakePorts();
      const commitWith = ports.commitWithDeadLetters!;
      ports.commitWithDeadLetters = async () => {
        throw refusal();
      };
      const b = new Batcher(ports, { ...options, backgroundFlush: false });
      await b.add(batch(0, [0, 1, 2, 3], garbageAt(1)));
      ports.commitWithDeadLetters = commitWith;
      // Stored, its commit skipped (it would go past 0-3's unpublished letter): nothing of it is buffered any more.
      await b.add(batch(0, [4, 5, 6, 7]));
      expect(rec.events.at(-1)).toBe('insert cdr.normalized:0:4-7');
      expect(b.bufferedRows).toBe(0);
      await b.add(batch(0, [8, 9, 10, 11]));
      expect(rec.events.at(-1)).toBe('insert cdr.normalized:0:8-11');
      expect([...rec.inserted.values()].map((o) => o.length).filter((n) => n > options.flushRows)).toEqual([]);
      expect(rec.commits).toEqual([]);
    });

    it('refused after the rejoin was seen: the re-delivered range waits for the one in flight, then is read again', async () => {
      const { rec, ports } = fakePorts();
      const commitWith = ports.commitWithDeadLetters!;
      let refuse!: () => void;
      ports.commitWithDeadLetters = () => new Promise((_resolve, reject) => (refuse = () => reject(refusal())));
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3], garbageAt(1))); // in flight, its transaction pending
      while (refuse === undefined) await settled();
      ports.commitWithDeadLetters = commitWith;
      b.dropAll(); // the rejoin; the partition stays with this member
      const added = b.add(batch(0, [0, 1, 2, 3], garbageAt(1)));
      await settled();
      refuse();
      await added;
      await b.flushDue(true);
      expect(rec.events.slice(-2)).toEqual(['insert cdr.normalized:0:0-3', 'commit 0@4 with dlq 1']);
      expect(rec.dead.map((d) => d.origin_offset)).toEqual([1]);
    });

    it('committed after the rejoin was seen: the re-delivered range is not read again', async () => {
      const { rec, ports } = fakePorts();
      const commitWith = ports.commitWithDeadLetters!;
      let commit!: () => void;
      ports.commitWithDeadLetters = (range, records) => new Promise((resolve) => (commit = () => resolve(commitWith(range, records))));
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3], garbageAt(1)));
      while (commit === undefined) await settled();
      b.dropAll();
      const added = b.add(batch(0, [0, 1, 2, 3, 4], garbageAt(1)));
      await settled();
      commit();
      await added;
      await b.flushDue(true);
      expect(rec.dead.map((d) => d.origin_offset)).toEqual([1]);
      expect(rec.commits).toEqual(['cdr.normalized:0@4', 'cdr.normalized:0@5']);
    });

    it('refused, then another member committed past it: this member, given the partition again, commits from there', async () => {
      const { rec, ports } = fakePorts();
      const { b, accept } = await afterRefusal(ports);
      accept();
      b.dropAll();
      await b.add(batch(0, [10, 11, 12, 13], garbageAt(12)));
      await b.flushDue(true);
      expect(rec.commits).toEqual(['cdr.normalized:0@14']);
      expect(rec.dead.map((d) => d.origin_offset)).toEqual([12]);
    });

    it('refused, later ranges stored but not committed, then another member committed only the refused range: this member reads those later ranges again and publishes their letters (campaign seed 8)', async () => {
      const { rec, ports } = fakePorts();
      // 0-3 refused; 4-7 (a dead letter at 5) stored, its commit skipped (it would skip 0-3).
      const { b, accept } = await afterRefusal(ports);
      await b.add(batch(0, [4, 5, 6, 7], garbageAt(5)));
      await b.flushDue(true);
      expect(rec.commits).toEqual([]);
      accept();
      b.dropAll();
      // Another member committed 0-3 meanwhile; the partition comes back from the group's offset, 4.
      await b.add(batch(0, [4, 5, 6, 7, 8], garbageAt(5)));
      await b.flushDue(true);
      expect(rec.dead.map((d) => d.origin_offset)).toEqual([5]);
      expect(rec.commits).toEqual(['cdr.normalized:0@8', 'cdr.normalized:0@9']);
    });

    it('any other failure (not a refusal) stops the stage: the next range must not commit past unpublished letters', async () => {
      const { rec, ports } = fakePorts();
      const failures: CdrflowError[] = [];
      ports.onFailure = (err) => failures.push(err);
      ports.commitWithDeadLetters = async () => {
        throw new CdrflowError('transient', 'Kafka did not answer (the abort failed too)');
      };
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      await b.add(batch(0, [0, 1, 2, 3], garbageAt(1)));
      await expect(b.flushDue(true)).rejects.toThrow(/abort failed/);
      expect(failures).toHaveLength(1);
      await expect(b.add(batch(0, [4]))).rejects.toThrow(/abort failed/);
      expect(rec.commits).toEqual([]);
    });

    it('inline too: a transaction that landed with its answer lost is not made again by a later call, which would publish its letters twice (campaign seeds 3769, 303865)', async () => {
      const { rec, ports } = fakePorts();
      const commitWith = ports.commitWithDeadLetters!;
      ports.commitWithDeadLetters = async (range, records) => {
        await commitWith(range, records);
        throw new CdrflowError('transient', 'Kafka did not answer the commit');
      };
      const b = new Batcher(ports, options);
      await expect(b.add(batch(0, [0, 1, 2, 3], garbageAt(1)))).rejects.toThrow(/did not answer/);
      // The stage stops; its final flush (stop) and the flush timer still call in meanwhile.
      await expect(b.flushDue(true)).rejects.toThrow(/did not answer/);
      await expect(b.add(batch(0, [4]))).rejects.toThrow(/did not answer/);
      expect(rec.dead.map((d) => d.origin_offset)).toEqual([1]);
      expect(rec.commits).toEqual(['cdr.normalized:0@4']);
    });
    it('read again after a refusal, a range whose plain commit then failed is not read a third time: the commit made again is not followed by a lower one (campaign seed 13568008)', async () => {
      const { rec, ports } = fakePorts();
      const commitWith = ports.commitWithDeadLetters!;
      ports.commitWithDeadLetters = async () => {
        throw refusal();
      };
      let refusePlain = true;
      const plainCommit = ports.commit;
      ports.commit = async (topic, partition, next, fetchedAs) => {
        if (refusePlain) throw new CdrflowError('transient', 'the group moved on since its records were fetched', { code: 'GROUP_MOVED_ON' });
        await plainCommit(topic, partition, next, fetchedAs);
      };
      const b = new Batcher(ports, { ...options, backgroundFlush: true });
      // 0-3 with its dead letter at 3: the transaction refused, so the partition is read again from 0.
      await b.add({ ...batch(0, [0, 1, 2, 3], garbageAt(3)), membership });
      await b.flushDue(true);
      ports.commitWithDeadLetters = commitWith;
      b.dropAll();
      // Read again as far as 2 (no dead letter): stored, its plain commit (at 3) refused by the next rebalance.
      await b.add({ ...batch(0, [0, 1, 2]), membership: { ...membership, generationId: 8 } });
      await b.flushDue(true);
      refusePlain = false;
      b.dropAll();
      // Given back at 0: the commit at 3 is made again, and 0 is not read again to commit at 1 after it.
      await b.add({ ...batch(0, [0]), membership: { ...membership, generationId: 9 } });
      await b.flushDue(true);
      expect(rec.commits).toEqual(['cdr.normalized:0@3']);
      expect([...rec.inserted.keys()]).toEqual(['cdr.normalized:0:0-3', 'cdr.normalized:0:0-2']);
    });
  });

  // flushRows 50 in the background: the rows here stay below an eager insert's worth (10), so only age makes them due.
  describe('partitions due together', () => {
    it('go as one insert whose token names every range, then each range commits in turn', async () => {
      const { rec, ports, tick } = fakePorts();
      const b = new Batcher(ports, { ...options, flushRows: 50, backgroundFlush: true });
      await b.add(batch(0, [5, 6]));
      await b.add(batch(1, [0]));
      await b.add(batch(2, [9, 10, 11]));
      tick(1000);
      await b.flushDue(true);
      expect(rec.events).toEqual(['insert cdr.normalized:0:5-6,cdr.normalized:1:0-0,cdr.normalized:2:9-11', 'commit 0@7', 'commit 1@1', 'commit 2@12']);
      expect(rec.inserted.get('cdr.normalized:0:5-6,cdr.normalized:1:0-0,cdr.normalized:2:9-11')).toEqual([5, 6, 0, 9, 10, 11]);
      expect(b.stats).toMatchObject({ inserts: 1, rowsInserted: 6, flushes: 3 });
    });

    it('a buffer past half its age goes along with a due one; a younger one waits', async () => {
      const { rec, ports, tick } = fakePorts();
      const b = new Batcher(ports, { ...options, flushRows: 50, backgroundFlush: true });
      await b.add(batch(0, [0]));
      tick(400);
      await b.add(batch(1, [0]));
      tick(100);
      await b.add(batch(2, [0]));
      tick(500);
      // Partition 0 is due (1,000 ms), 1 is past half (600 ms), 2 is not (500 ms... exactly half goes too).
      await b.flushDue();
      tick(1);
      await b.add(batch(3, [0]));
      await b.flushDue(true);
      expect(rec.events.slice(0, 4)).toEqual(['insert cdr.normalized:0:0-0,cdr.normalized:1:0-0,cdr.normalized:2:0-0', 'commit 0@1', 'commit 1@1', 'commit 2@1']);
      expect(rec.events.slice(4)).toEqual(['insert cdr.normalized:3:0-0', 'commit 3@1']);
      // Nothing is ever flushed later than its age: with none due, none goes.
      const late = fakePorts();
      const c = new Batcher(late.ports, { ...options, flushRows: 50, backgroundFlush: true });
      await c.add(batch(0, [0]));
      late.tick(999);
      await c.flushDue();
      expect(late.rec.events).toEqual([]);
    });

    it('a group holds at most flushRows rows: the rest go in the next insert', async () => {
      const { rec, ports, tick } = fakePorts();
      // Inline flushes: in the background, 7 rows would be far past an eager insert's worth (flushRows / 5).
      const b = new Batcher(ports, { ...options, flushRows: 5 });
      await b.add(batch(0, [0, 1, 2]));
      await b.add(batch(1, [0, 1]));
      await b.add(batch(2, [0, 1]));
      tick(1000);
      await b.flushDue();
      await b.flushDue(true);
      expect(rec.events).toEqual(['insert cdr.normalized:0:0-2,cdr.normalized:1:0-1', 'commit 0@3', 'commit 1@2', 'insert cdr.normalized:2:0-1', 'commit 2@2']);
    });

    it('a group holds at most flushBytes bytes: the rest go in the next insert', async () => {
      const { rec, ports, tick } = fakePorts();
      // 8 bytes a row (4 of value, 4 rendered): 16 a buffer, under flushBytes alone; two fit in 40 bytes, three do not.
      const b = new Batcher(ports, { ...options, flushRows: 1000, flushBytes: 40 });
      for (const partition of [0, 1, 2]) await b.add(batch(partition, [0, 1], () => 'xxxx'));
      expect(rec.events).toEqual([]);
      tick(1000);
      await b.flushDue();
      await b.flushDue(true);
      expect(rec.events).toEqual(['insert cdr.normalized:0:0-1,cdr.normalized:1:0-1', 'commit 0@2', 'commit 1@2', 'insert cdr.normalized:2:0-1', 'commit 2@2']);
    });

    it('when ClickHouse rejects the group, each range is inserted on its own and bisecting dead-letters only the bad row', async () => {
      const { rec, ports, tick } = fakePorts({ reject: (offset) => offset === 21 });
      const b = new Batcher(ports, { ...options, flushRows: 50, backgroundFlush: true });
      await b.add(batch(0, [1, 2]));
      await b.add(batch(1, [20, 21, 22]));
      tick(1000);
      await b.flushDue(true);
      expect(rec.events[0]).toBe('rejected cdr.normalized:0:1-2,cdr.normalized:1:20-22');
      // Stored: every row but the rejected one, once.
      expect([...rec.inserted.values()].flat().sort((x, y) => x - y)).toEqual([1, 2, 20, 22]);
      expect(rec.dead.map((d) => d.origin_offset)).toEqual([21]);
      expect(rec.commits).toEqual(['cdr.normalized:0@3', 'cdr.normalized:1@23']);
      expect(rec.events).toContain('commit 1@23 with dlq 21');
    });

    it('a transient failure retries the same group with the same token (deduplicated if it had landed)', async () => {
      const { rec, ports, tick } = fakePorts({ transientFailures: 1 });
      const b = new Batcher(ports, { ...options, flushRows: 50, backgroundFlush: true });
      await b.add(batch(0, [0]));
      await b.add(batch(1, [0]));
      tick(1000);
      await b.flushDue(true);
      expect(rec.events).toEqual(['transient cdr.normalized:0:0-0,cdr.normalized:1:0-0', 'insert cdr.normalized:0:0-0,cdr.normalized:1:0-0', 'commit 0@1', 'commit 1@1']);
      expect(b.stats.retries).toBe(1);
    });
  });
});
