// A seeded fault campaign against the sink's Batcher (docs/stream-stages.md, "sink"; README "exactly once"). Each case
// draws, from its own seed, a `cdr.normalized` of 1-4 partitions (0-60 records each: good ones, ones the render refuses,
// ones ClickHouse refuses for their data, some far larger than the rest), flush settings (flushRows, flushBytes,
// flushMs; background flush or not), one or two group members, and a script of fetches of 1-12 records, clock ticks
// with flushDue, rebalances that move partitions between members, crashes of a member and faults at every port: an
// insert that fails before storing, one that fails after storing (the server kept it, the answer was lost), a group
// insert refused as too large (rejected_by_sink, as max_partitions_per_insert_block), a permanent insert error, a plain
// commit that fails, is refused because the group moved on, or is stored with its answer lost, a transactional commit
// (dead letters + offsets) that is refused by fencing or fails otherwise, a crash between an insert and its commit.
// The stand-in ClickHouse drops an insert whose token it saw before (the dedup window); the stand-in Kafka keeps the
// group's committed offsets and the dead letters of committed transactions only, and refuses a commit fenced by an
// older generation, as the consumer and the transactions do (core/kafka-streams.ts). A member that stops (a failure
// surfaced by add, flushDue or onFailure) or crashes restarts from the committed offsets. After the script, a drain
// with no faults: every partition to one member, fetched to its end, flushed, until the group committed everything.
// Oracle, every case:
//  - every good record is stored, and (cdr FINAL) nothing else: no record refused by the render or by ClickHouse, no
//    record twice unless a re-read happened (a crash, a restart, a rebalance, a refused commit: docs say those rows
//    are stored again under other tokens and collapsed by FINAL); a retried insert (same token) never stores twice;
//  - every bad record has exactly one visible dead letter (its range's transaction), nothing else is dead-lettered;
//  - each commit the stand-in Kafka accepts covers only records stored or dead-lettered (never ahead), and a
//    partition's committed offset never moves back; after the drain it is the partition's end;
//  - no buffer holds more than flushRows rows, or more than flushBytes plus the one record that crossed it; no insert
//    carries more than flushRows rows;
//  - the records the members count as committed (onCommitted, the stage's figures) are what the group's offsets
//    cover, each once; fewer only in a case where a commit can be stored with its answer lost (no one counts it when
//    the partition then comes back past it, as another member's commit could have taken it there);
//  - every call settles (a stand-in answers within a few event-loop turns, so a call pending HANG_MS hangs), the
//    drain converges within a bound of steps, and a permanent error stops the member with that error, never silently.
// Found: a member given back a partition whose refused range another member had committed skipped its own later,
// uncommitted ranges as handed off and committed past their unpublished dead letters (seed 8; batcher.test.ts has it
// as a plain test); inline (backgroundFlush off) a failed plain commit dropped the other partitions' buffers, which
// nothing delivered again without a rebalance (seeds 482, 483, 657, 702, 773, 964; a plain test too); a plain commit
// that failed left the group short of what was stored until a later range committed, so at the end of the input the
// lag never reached 0 without a restart (seeds 12, 55, 60, 70, 94; plain tests too); a range whose commit failed was
// never counted in the stage's figures, made again or passed by a later range's commit (80 of seeds 1-600, seed 7
// first; plain tests too); inline, a range whose commit was refused was read again when the partition came back below
// it, and its commit, made again first, was followed by the re-read range's, moving the group's offset back (seed 749
// of 1-2000; a plain test too); inline, a flush that threw left the batcher working and its range buffered, so a later
// call (the final flush here, a stop's or the timer's in the sink) made a transaction that had landed with its answer
// lost again and published its dead letters twice (seeds 3769, 303865; a plain test too); inline, a range stored with
// its commit skipped behind a refused one stayed the partition's buffer, so the next rows joined it in an insert past
// flushRows that stored it again (seed 525656 of 500000-532999; a plain test too); a failed commit made again while a
// flush in flight failed (its transaction landed with its answer lost) moved the group's offset back behind that range
// (seed 603496 of 600000-640000; a plain test too); a range read again after a refused transaction whose plain commit
// then failed was read a third time, its commit following the one made again and moving the group's offset back (seed
// 13568008 of 13500000-13590199; a plain test too). The drain restarts no one:
// a member that stopped restarts, as in the script, and nothing else.
// The dead-letter loader's mode (planLoaderCase: the same seeds' cases, background flush, ports.stored answered from
// what the stand-in table holds, the unloadable records logged as skipped, no transactions, crashes right after an
// insert too) holds that every dead letter is stored once, even re-read, and nothing else; every unloadable one is
// skipped; the counts are what the table holds (out + already stored) and what it cannot (skipped). Found (141 of
// seeds 1-300 failed; plain tests in batcher.test.ts): a record the loader could not load (not decodable, or refused
// by the table) that lay below the highest stored offset after a crash between an insert and its commit was committed
// as already stored, never logged nor counted as skipped (the port answered the highest stored offset, not which
// offsets the table holds; seeds 3, 6, 10, 12, 14); a member's flush queued before it lost the partition inserted
// after the next owner asked the table, which then inserted the same letters again under its own token (seed 101), and
// so did the retries and halvings of a flush in flight (seeds 112, 252, 1114). One insert already sent when the
// rebalance comes can still land after the next owner's ask: those copies (racedCopies) are the one double allowed.
// The same seed plays the same case: a failure prints its seed and case, and CDRFLOW_FUZZ_BATCHER_ONLY=<seed>[,<seed>]
// runs just those (CDRFLOW_FUZZ_BATCHER_SEED / _COUNT move the range, the timeout grows with it; see test/fuzz/seeds.ts).
import { describe, expect, it, vi } from 'vitest';
import { CdrflowError, type ErrorKind } from '../../core/errors.ts';
import type { DeadLetter } from '../../core/dead-letter.ts';
import type { GroupMembership } from '../../core/kafka-fenced-offsets.ts';
import type { ConsumedMessage, PartitionBatch } from '../../core/kafka-streams.ts';
import { Rng, seededRandom } from '../../simulators/kit.ts';
import {
  Batcher,
  type BatcherOptions,
  type BatcherPorts,
  type BufferedRow,
  type RangeCommit,
  type RenderedRow,
} from './batcher.ts';
import { campaignSeeds } from '../../test/fuzz/seeds.ts';

// The batcher yields the event loop after 20 ms of wall-clock work (core/time-slice.ts): a slow machine or the JIT
// would then shift the interleavings and a seed would not replay its case. Here it never yields.
vi.mock('../../core/time-slice.ts', () => ({
  TimeSlice: class {
    due = () => false;
    yield = async () => {};
  },
}));

// Likewise a retry's backoff of 0 ms is a timer, whose turn against the stand-ins' setImmediate turns is the machine's
// call: it takes an event-loop turn of the same kind here.
vi.mock('node:timers/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:timers/promises')>();
  return {
    ...actual,
    setTimeout: <T>(ms?: number, value?: T, options?: import('node:timers').TimerOptions) =>
      ms
        ? actual.setTimeout(ms, value, options)
        : new Promise<T | undefined>((resolve) => setImmediate(() => resolve(value))),
  };
});

const { seeds: SEEDS, timeoutMs } = campaignSeeds('BATCHER', 600);
const { seeds: LOADER_SEEDS, timeoutMs: loaderTimeoutMs } = campaignSeeds('BATCHER', 300, 'CDRFLOW_FUZZ_BATCHER_LOADER_COUNT');

const TOPIC = 'cdr.normalized';
const TRACE = process.env.CDRFLOW_FUZZ_BATCHER_TRACE === '1';
const HANG_MS = 5_000;
/** Restarts after which a case ran away (every restart of the script needs a failure or crash, at most one per step). */
const MAX_RESTARTS = 200;
/** Drain rounds (fetch everything, age the buffers, flush all) after which the group should have committed the ends. */
const DRAIN_ROUNDS = 20;

type Kind = 'good' | 'bad' | 'rejected';
interface Rec {
  kind: Kind;
  bytes: number;
}

interface Case {
  seed: number;
  partitions: Rec[][];
  options: BatcherOptions;
  members: number;
  steps: number;
  /** Per insert call: chance it fails before storing, after storing (transient). */
  insertBefore: number;
  insertAfter: number;
  /** A group insert of more rows than this is refused whole (rejected_by_sink: too many partitions); 0 = never. */
  maxInsertRows: number;
  /** The insert call (1-based) that fails permanently (config), 0 = none. */
  permanentAt: number;
  permanentKind: ErrorKind;
  /** Per commit call: chance it fails transiently, is stored with its answer lost, is fenced (the group moves on), crashes the member. */
  commitFail: number;
  commitLost: number;
  commitFence: number;
  commitCrash: number;
  /** Per step: chance of a rebalance, of a crash of a member. */
  rebalance: number;
  crash: number;
  /**
   * The dead-letter loader's mode (dlq-loader.ts): ports.stored answered from what the stand-in table holds, no
   * transactional dead letters (the records it cannot load are logged as skipped), every record stored once.
   */
  loader: boolean;
  /** Loader: per ports.stored call, the chance it fails (transient: the member stops and restarts). */
  storedFail: number;
}

function planCase(seed: number): Case {
  const rng = new Rng(seededRandom(seed));
  const flushRows = rng.pick([1, 2, 3, 5, 8, 13, 40]);
  const flushBytes = rng.pick([1_024, 2_048, 8_192, 1 << 30]);
  const partitions = Array.from({ length: rng.int(1, 4) }, () => {
    const bad = rng.pick([0, 0.05, 0.2, 0.6]);
    const rejected = rng.pick([0, 0.05, 0.2]);
    const large = rng.pick([0, 0.05, 0.3]);
    return Array.from({ length: rng.int(0, 60) }, (): Rec => {
      const r = rng.next();
      const kind: Kind = r < bad ? 'bad' : r < bad + rejected ? 'rejected' : 'good';
      return { kind, bytes: rng.chance(large) ? rng.int(600, 3_000) : rng.int(10, 80) };
    });
  });
  const faulty = rng.chance(0.8);
  const p = (...choices: number[]) => (faulty ? rng.pick(choices) : 0);
  return {
    seed,
    partitions,
    options: {
      flushRows,
      flushBytes,
      flushMs: rng.pick([10, 100, 1_000]),
      flushIdleMs: rng.pick([0, 200]),
      // Both stages run it in the background (sink.ts, dlq-loader.ts); the unit tests inline too.
      backgroundFlush: rng.chance(0.7),
      maxInsertAttempts: rng.int(1, 5),
      systemicRejectThreshold: 1_000_000,
      backoff: { initialMs: 0, maxMs: 0 },
    },
    members: rng.int(1, 2),
    steps: rng.int(10, 120),
    insertBefore: p(0, 0.1, 0.3),
    insertAfter: p(0, 0.1, 0.3),
    maxInsertRows: faulty && rng.chance(0.2) ? rng.int(1, 4) : 0,
    permanentAt: faulty && rng.chance(0.15) ? rng.int(1, 10) : 0,
    permanentKind: rng.pick(['config', 'auth'] as const),
    commitFail: p(0, 0.1, 0.3),
    commitLost: p(0, 0.1, 0.2),
    commitFence: p(0, 0.05, 0.15),
    commitCrash: p(0, 0.05, 0.15),
    rebalance: p(0, 0.03, 0.1),
    crash: p(0, 0.02, 0.05),
    loader: false,
    storedFail: 0,
  };
}

/**
 * The same seed's case as the dead-letter loader runs it: its records are dead letters ('bad': not decodable,
 * 'rejected': refused by the table, both skipped), flushed in the background as dlq-loader.ts does, with its own draws
 * (a separate stream, so the sink's cases stay as they were) for ports.stored failing and more crashes between an
 * insert and its commit, the case the loader's ports.stored is for.
 */
function planLoaderCase(seed: number): Case {
  const c = planCase(seed);
  const rng = new Rng(seededRandom(seed ^ 0x10ad));
  const faulty = c.commitFail + c.commitLost + c.commitFence + c.commitCrash + c.insertBefore + c.insertAfter > 0;
  return {
    ...c,
    loader: true,
    options: { ...c.options, backgroundFlush: true },
    commitCrash: faulty ? rng.pick([c.commitCrash, 0.1, 0.25]) : 0,
    storedFail: faulty ? rng.pick([0, 0, 0.05, 0.2]) : 0,
  };
}

function describeCase(c: Case): string {
  const o = c.options;
  const parts = c.partitions.map(
    (recs, i) =>
      `p${i}:${recs.length}(${recs.filter((r) => r.kind === 'bad').length} bad, ${recs.filter((r) => r.kind === 'rejected').length} rejected, ${recs.filter((r) => r.bytes >= 600).length} large)`,
  );
  return (
    `${c.loader ? `loader (stored fail ${c.storedFail}) ` : ''}seed ${c.seed}: ${parts.join(' ')}; flushRows ${o.flushRows} flushBytes ${o.flushBytes} flushMs ${o.flushMs} idle ${o.flushIdleMs} background ${o.backgroundFlush} attempts ${o.maxInsertAttempts}; ` +
    `${c.members} member(s), ${c.steps} steps; insert before ${c.insertBefore} after ${c.insertAfter} maxRows ${c.maxInsertRows} permanent@${c.permanentAt}(${c.permanentKind}); ` +
    `commit fail ${c.commitFail} lost ${c.commitLost} fence ${c.commitFence} crash ${c.commitCrash}; rebalance ${c.rebalance} crash ${c.crash}`
  );
}

const id = (p: number, o: number) => `${p}:${o}`;
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

interface Member {
  index: number;
  incarnation: number;
  batcher: Batcher;
  /** Next offset to fetch, per assigned partition. */
  positions: Map<number, number>;
  failure: CdrflowError | undefined;
  crashed: boolean;
}

async function runCase(c: Case): Promise<string[]> {
  const rng = new Rng(seededRandom(c.seed ^ 0x5eed));
  const problems: string[] = [];
  const problem = (s: string) => {
    if (TRACE) console.log(`PROBLEM ${s}`);
    if (problems.length < 8) problems.push(s);
  };
  const ends = c.partitions.map((recs) => recs.length);
  // The stand-in servers.
  const stored: string[] = [];
  const tokens = new Set<string>();
  const letters: DeadLetter[] = [];
  const committed = ends.map(() => 0);
  let generation = 1;
  let clock = 0;
  let insertCalls = 0;
  let permanentFired = false;
  let permanentSurfaced = false;
  /**
   * The permanent fault fired, but the member it fired in stopped for another reason first (a transient failure of
   * the same step): it fires again at the next insert, as a real one would (it fires once otherwise).
   */
  let permanentAgain = false;
  /** A re-read happened: rows of a range may be stored again under other tokens (FINAL collapses them). */
  let reread = false;
  /** The group moved on (a fenced commit): the members rejoin before the next step. */
  let rejoinDue = false;
  const members: Member[] = [];
  /** The records the members counted as committed (onCommitted), every incarnation's. */
  let counted = 0;
  /** Of those, the ones counted as dead-lettered (the loader's skipped) and as already stored. */
  let countedDead = 0;
  let countedAlreadyStored = 0;
  /**
   * Copies stored by an insert sent before a rebalance that landed after it: the next owner may have asked the table
   * before it landed (the window batcher.ts's flushOrAbandon leaves: one insert's time), so the loader may store
   * those rows once more.
   */
  const racedCopies = new Map<string, number>();
  /** The loader's table: per partition, the highest offset it holds (stored.upTo answers the one after it). */
  const storedMax = ends.map(() => -1);
  /** The drain turns the faults off: whether a commit could be stored with its answer lost. */
  const commitsLost = c.commitLost > 0;

  const isStored = new Set<string>();
  const isLettered = new Set<string>();
  const covered = (p: number, next: number, extra: DeadLetter[] = []): boolean => {
    const extraIds = new Set(extra.map((l) => id(l.origin_partition, l.origin_offset)));
    for (let o = 0; o < next; o++) {
      const k = id(p, o);
      if (!isStored.has(k) && !isLettered.has(k) && !extraIds.has(k)) {
        problem(
          `commit of partition ${p} at ${next} ahead of offset ${o} (${c.partitions[p]![o]!.kind}), neither stored nor dead-lettered`,
        );
        return false;
      }
    }
    return true;
  };
  const accept = (p: number, next: number) => {
    if (TRACE) console.log(`accepted commit ${p}@${next} gen ${generation}`);
    if (next < committed[p]!) problem(`partition ${p}'s committed offset moved back from ${committed[p]} to ${next}`);
    committed[p] = next;
  };

  function portsFor(m: Member, incarnation: number): BatcherPorts {
    const alive = () => {
      if (m.incarnation !== incarnation || m.crashed) throw new CdrflowError('bug', 'this process is gone');
    };
    const crash = () => {
      m.crashed = true;
      reread = true;
      throw new CdrflowError('bug', 'crashed between the insert and its commit');
    };
    const fenced = (fetchedAs: GroupMembership | undefined) =>
      fetchedAs !== undefined && fetchedAs.generationId !== generation;
    const commitFault = (): 'ok' | 'fail' | 'lost' | 'fence' | 'crash' => {
      const r = rng.next();
      const bounds = [c.commitFail, c.commitLost, c.commitFence, c.commitCrash];
      const faults = ['fail', 'lost', 'fence', 'crash'] as const;
      let t = 0;
      for (let i = 0; i < faults.length; i++) if (r < (t += bounds[i]!)) return faults[i]!;
      return 'ok';
    };
    const refusal = () =>
      new CdrflowError('transient', 'transaction refused', {
        cause: Object.assign(new Error('The provided group generation id is not valid'), {
          type: 'ILLEGAL_GENERATION',
        }),
      });
    return {
      now: () => clock,
      async render(messages) {
        alive();
        await turns(rng.int(0, 1));
        return messages.map((msg) => {
          const rec = c.partitions[msg.partition]![msg.offset]!;
          if (rec.kind === 'bad') return { error: { kind: 'bad_record' as const, message: 'not Avro' } };
          return {
            line: Buffer.alloc(rec.bytes, 0x61),
            vendor: 'v',
            cdr_id: id(msg.partition, msg.offset),
            received_at: new Date(0),
          } satisfies RenderedRow;
        });
      },
      async insert(rows: BufferedRow[], token: string) {
        alive();
        insertCalls++;
        if (rows.length > c.options.flushRows)
          problem(`an insert of ${rows.length} rows, flushRows ${c.options.flushRows}`);
        const maxRecord = Math.max(0, ...c.partitions.flat().map((r) => 2 * r.bytes));
        const bytes = rows.reduce((s, r) => s + r.line.length + (r.message.value?.length ?? 0), 0);
        if (bytes > (c.options.flushBytes ?? Infinity) + maxRecord)
          problem(`an insert of ${bytes} bytes, flushBytes ${c.options.flushBytes}`);
        const sentIn = generation;
        await turns(rng.int(0, 3));
        alive();
        if (insertCalls === c.permanentAt || permanentAgain) {
          permanentFired = true;
          permanentAgain = false;
          throw new CdrflowError(c.permanentKind, `permanent ${c.permanentKind} fault`);
        }
        if (c.maxInsertRows > 0 && rows.length > c.maxInsertRows)
          throw new CdrflowError('rejected_by_sink', 'ClickHouse 252: Too many partitions for single insert block');
        const r = rng.next();
        if (r < c.insertBefore) throw new CdrflowError('transient', 'connection reset before the insert');
        const bad = rows.find((row) => c.partitions[row.message.partition]![row.message.offset]!.kind === 'rejected');
        if (bad)
          throw new CdrflowError(
            'rejected_by_sink',
            `ClickHouse 469: constraint violated at ${id(bad.message.partition, bad.message.offset)}`,
          );
        if (!tokens.has(token)) {
          tokens.add(token);
          for (const row of rows) {
            const k = id(row.message.partition, row.message.offset);
            stored.push(k);
            if (generation !== sentIn) racedCopies.set(k, (racedCopies.get(k) ?? 0) + 1);
            isStored.add(k);
            storedMax[row.message.partition] = Math.max(storedMax[row.message.partition]!, row.message.offset);
          }
        }
        if (r < c.insertBefore + c.insertAfter)
          throw new CdrflowError('transient', 'connection reset after the insert (stored)');
      },
      async commit(topic, partition, next, fetchedAs) {
        const fault = await commitFaults('request timed out');
        if (fenced(fetchedAs))
          throw new CdrflowError('transient', 'the group moved on since its records were fetched', {
            code: 'GROUP_MOVED_ON',
          });
        if (covered(partition, next)) accept(partition, next);
        if (fault === 'lost') throw new CdrflowError('transient', 'request timed out (committed)');
      },
      ...(c.loader ? loaderPorts() : { commitWithDeadLetters }),
      log: (level, event, fields) => {
        if (TRACE) console.log(`m${m.index}.${incarnation} gen ${generation}`, level, event, JSON.stringify(fields));
      },
      onFailure: (err) => {
        if (m.incarnation === incarnation) m.failure ??= err;
      },
      onCommitted: (counts) => {
        if (TRACE) console.log(`m${m.index}.${incarnation} counted ${JSON.stringify(counts)}`);
        counted += counts.records;
        countedDead += counts.deadLettered;
        countedAlreadyStored += counts.alreadyStored ?? 0;
      },
    };

    /**
     * What every commit meets first: a few turns of the loop (the member may crash meanwhile), then its scripted fault:
     * a crash, a failure (`failure`), or the group moving on (a rejoin due). Returns the fault for what follows.
     */
    async function commitFaults(failure: string): Promise<ReturnType<typeof commitFault>> {
      alive();
      await turns(rng.int(0, 2));
      alive();
      const fault = commitFault();
      if (fault === 'crash') crash();
      if (fault === 'fail') throw new CdrflowError('transient', failure);
      if (fault === 'fence') {
        generation++;
        rejoinDue = true;
      }
      return fault;
    }

    async function commitWithDeadLetters(range: RangeCommit, records: DeadLetter[]): Promise<void> {
      const fault = await commitFaults('broker gone past every retry');
      if (fenced(range.membership)) throw refusal();
      if (covered(range.partition, range.nextOffset, records)) {
        for (const l of records) {
          letters.push(l);
          isLettered.add(id(l.origin_partition, l.origin_offset));
        }
        accept(range.partition, range.nextOffset);
      }
      if (fault === 'lost') throw new CdrflowError('transient', 'broker gone after the commit');
    }

    /** The dead-letter loader's own ports (dlq-loader.ts): which offsets the table holds, the skipped records logged. */
    function loaderPorts(): Pick<BatcherPorts, 'stored' | 'publishDeadLetters' | 'component' | 'events'> {
      /** A read of the stand-in table: it may fail (transient: the member stops and restarts). */
      const read = async () => {
        alive();
        await turns(rng.int(0, 2));
        alive();
        if (rng.chance(c.storedFail)) throw new CdrflowError('transient', 'ClickHouse: connection reset reading the stored offsets');
      };
      return {
        component: 'dlq-loader',
        events: 'dlq-loader',
        stored: {
          async upTo(_topic, partition) {
            await read();
            return storedMax[partition]! >= 0 ? storedMax[partition]! + 1 : undefined;
          },
          async among(_topic, partition, first, last) {
            await read();
            const held = new Set<number>();
            for (let o = first; o <= last; o++) if (isStored.has(id(partition, o))) held.add(o);
            return held;
          },
        },
        async publishDeadLetters(records) {
          alive();
          // The process may die right after the insert was acknowledged, before it logged anything.
          if (rng.chance(c.commitCrash)) crash();
          for (const l of records) {
            letters.push(l);
            isLettered.add(id(l.origin_partition, l.origin_offset));
          }
        },
      };
    }
  }

  const start = (m: Member) => {
    m.incarnation++;
    m.crashed = false;
    m.failure = undefined;
    m.batcher = new Batcher(portsFor(m, m.incarnation), c.options);
    for (const p of m.positions.keys()) m.positions.set(p, committed[p]!);
  };
  /** A new generation: partitions spread over the members (all to the first with `toFirst`), each from the committed offset. */
  const rebalance = (toFirst = false) => {
    generation++;
    if (TRACE) console.log(`rebalance gen ${generation} committed ${committed.join(',')}`);
    reread = true;
    for (const m of members) {
      m.positions.clear();
      m.batcher.dropAll();
    }
    ends.forEach((_, p) => members[toFirst ? 0 : rng.int(0, members.length - 1)]!.positions.set(p, committed[p]!));
  };
  for (let i = 0; i < c.members; i++) {
    const m: Member = {
      index: i,
      incarnation: 0,
      batcher: undefined as unknown as Batcher,
      positions: new Map(),
      failure: undefined,
      crashed: false,
    };
    members.push(m);
    start(m);
  }
  rebalance();
  reread = false;

  let restarts = 0;
  const settle = async <T>(what: string, m: Member, call: Promise<T>): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), HANG_MS)));
    try {
      const r = await Promise.race([
        call.then(
          () => 'ok' as const,
          (err: unknown) => err,
        ),
        hang,
      ]);
      if (r === 'hang') throw new Error(`${what} of member ${m.index} did not settle in ${HANG_MS} ms`);
      if (r !== 'ok' && m.failure === undefined)
        m.failure = r instanceof CdrflowError ? r : new CdrflowError('bug', String(r));
    } finally {
      clearTimeout(timer);
    }
  };
  /** A member that stopped (a surfaced failure) or crashed restarts from the committed offsets; the group rebalances. */
  const restartStopped = () => {
    let any = false;
    for (const m of members) {
      if (m.failure === undefined && !m.crashed) continue;
      if (permanentFired && !permanentSurfaced && m.failure?.kind === c.permanentKind) permanentSurfaced = true;
      else if (permanentFired && !permanentSurfaced) permanentAgain = true;
      if (++restarts > MAX_RESTARTS) throw new Error(`more than ${MAX_RESTARTS} restarts`);
      reread = true;
      start(m);
      any = true;
    }
    // The restarted member fences its predecessor and rejoins: a new generation.
    if (any || rejoinDue) {
      rejoinDue = false;
      rebalance();
    }
  };
  const checkBounds = (m: Member) => {
    const maxRecord = Math.max(0, ...c.partitions.flat().map((r) => 2 * r.bytes));
    const buffers = (
      m.batcher as unknown as { buffers: Map<string, { rows: unknown[]; dead: unknown[]; bytes: number }> }
    ).buffers;
    for (const [key, b] of buffers) {
      if (b.rows.length + b.dead.length > c.options.flushRows)
        problem(`buffer ${key} holds ${b.rows.length + b.dead.length} records, flushRows ${c.options.flushRows}`);
      if (b.bytes >= (c.options.flushBytes ?? Infinity) + maxRecord)
        problem(`buffer ${key} holds ${b.bytes} bytes, flushBytes ${c.options.flushBytes}`);
    }
  };
  const fetch = async (m: Member, p: number, n: number) => {
    const from = m.positions.get(p)!;
    const upTo = Math.min(ends[p]!, from + n);
    if (upTo <= from) return;
    const messages: ConsumedMessage[] = [];
    for (let o = from; o < upTo; o++)
      messages.push({
        topic: TOPIC,
        partition: p,
        offset: o,
        key: null,
        value: Buffer.alloc(c.partitions[p]![o]!.bytes, 0x62),
        timestamp: 0,
      });
    const batch: PartitionBatch = {
      topic: TOPIC,
      partition: p,
      messages,
      highWatermark: ends[p]!,
      membership: { groupId: 'g', memberId: `m${m.index}.${m.incarnation}`, generationId: generation },
    };
    m.positions.set(p, upTo);
    if (TRACE) console.log(`fetch m${m.index}.${m.incarnation} p${p} ${from}-${upTo - 1} gen ${generation}`);
    await settle('add', m, m.batcher.add(batch));
    checkBounds(m);
  };

  try {
    for (let step = 0; step < c.steps; step++) {
      restartStopped();
      const m = rng.pick(members);
      const r = rng.next();
      if (rng.chance(c.crash)) {
        m.crashed = true;
      } else if (rng.chance(c.rebalance)) {
        rebalance();
      } else if (r < 0.65 && m.positions.size > 0) {
        await fetch(m, rng.pick([...m.positions.keys()]), rng.int(1, 12));
      } else {
        clock += rng.pick([1, c.options.flushMs / 2, c.options.flushMs, 5 * c.options.flushMs]);
        await settle('flushDue', m, m.batcher.flushDue(rng.chance(0.1)));
      }
      await turns(rng.int(0, 3));
    }
    // The drain: no more faults, every partition to the first member, until the group committed every end.
    Object.assign(c, {
      insertBefore: 0,
      insertAfter: 0,
      maxInsertRows: 0,
      commitFail: 0,
      commitLost: 0,
      commitFence: 0,
      commitCrash: 0,
    });
    if (insertCalls < c.permanentAt) c.permanentAt = 0;
    let round = 0;
    for (; round < DRAIN_ROUNDS && committed.some((o, p) => o < ends[p]!); round++) {
      restartStopped();
      rebalance(true);
      const m = members[0]!;
      for (const p of m.positions.keys())
        while (m.positions.get(p)! < ends[p]! && m.failure === undefined) await fetch(m, p, 12);
      clock += 5 * c.options.flushMs;
      await settle('flushDue', m, m.batcher.flushDue());
      await settle('flushDue(true)', m, m.batcher.flushDue(true));
      restartStopped();
    }
    for (const m of members) await settle('flushDue(true)', m, m.batcher.flushDue(true));
    if (round === DRAIN_ROUNDS)
      problem(`drain: after ${DRAIN_ROUNDS} rounds the group committed ${committed.join(',')} of ${ends.join(',')}`);
  } catch (err) {
    problem(String(err));
  }

  // The oracle on what the servers hold.
  const counts = new Map<string, number>();
  for (const k of stored) counts.set(k, (counts.get(k) ?? 0) + 1);
  const letterCounts = new Map<string, number>();
  for (const l of letters)
    letterCounts.set(
      id(l.origin_partition, l.origin_offset),
      (letterCounts.get(id(l.origin_partition, l.origin_offset)) ?? 0) + 1,
    );
  c.partitions.forEach((recs, p) =>
    recs.forEach((rec, o) => {
      const k = id(p, o);
      const n = counts.get(k) ?? 0;
      const l = letterCounts.get(k) ?? 0;
      if (rec.kind === 'good') {
        if (n === 0) problem(`good record ${k} not stored`);
        // The loader's table is counted without FINAL: every dead letter once, re-read or not (ports.stored), but
        // for a copy an insert sent before a rebalance landed after it (racedCopies).
        if (c.loader ? n > 1 + (racedCopies.get(k) ?? 0) : n > 1 && !reread)
          problem(`good record ${k} stored ${n} times${c.loader ? ' by the loader' : ' with no re-read'}`);
        if (l > 0) problem(`good record ${k} dead-lettered`);
      } else {
        if (n > 0) problem(`${rec.kind} record ${k} stored`);
        // The loader logs what it skips before its commit: a crash between them logs it again when read again.
        if (c.loader ? l === 0 : l !== 1)
          problem(`${rec.kind} record ${k} ${c.loader ? 'skipped' : 'dead-lettered'} ${l} times`);
      }
    }),
  );
  // Every record is counted once, by the commit that moved the group's offset past it. A commit whose answer was lost
  // (it was stored) counts nothing, and its member cannot tell whether another member's commit went past it instead.
  const covers = committed.reduce((a, b) => a + b, 0);
  if (counted > covers || (!commitsLost && counted !== covers))
    problem(`counted ${counted} records committed, the group's offsets cover ${covers}`);
  if (c.loader) {
    // in = out + skipped + already stored, and each figure is what it says: the skipped are the records the table
    // does not hold, the records out and the already stored ones together what it holds.
    const unloadable = c.partitions.flat().filter((r) => r.kind !== 'good').length;
    const loadable = c.partitions.flat().length - unloadable;
    const out = counted - countedDead - countedAlreadyStored;
    const short = (n: number, of: number) => n > of || (!commitsLost && n !== of);
    if (short(countedDead, unloadable))
      problem(`counted ${countedDead} skipped, ${unloadable} records cannot be loaded`);
    if (short(out + countedAlreadyStored, loadable))
      problem(`counted ${out} out and ${countedAlreadyStored} already stored, the table holds ${loadable}`);
  }
  if (permanentFired && !permanentSurfaced) problem(`the permanent ${c.permanentKind} fault never stopped a member`);
  return problems;
}

const runAll = async (seeds: number[], plan: (seed: number) => Case) => {
  const failures: string[] = [];
  for (const seed of seeds) {
    const c = plan(seed);
    const shown = describeCase(c);
    const problems = await runCase(c);
    if (problems.length > 0) failures.push(`${shown}\n    ${problems.join('\n    ')}`);
  }
  expect(
    failures.length,
    `${failures.length} failing case(s); replay with CDRFLOW_FUZZ_BATCHER_ONLY=<seed>\n  ${failures.slice(0, 10).join('\n  ')}`,
  ).toBe(0);
};

describe('Batcher: a seeded fault campaign', () => {
  it(`${SEEDS.length} cases (seeds ${SEEDS[0]}..${SEEDS.at(-1)}): every good record stored, every bad one dead-lettered once, commits never ahead nor back, buffers bounded, every call settles`, async () => {
    await runAll(SEEDS, planCase);
  }, timeoutMs(60_000));

  it(
    `the dead-letter loader's mode, ${LOADER_SEEDS.length} cases (seeds ${LOADER_SEEDS[0]}..${LOADER_SEEDS.at(-1)}): every dead letter stored once, the unloadable ones skipped, in = out + skipped + already stored, commits never ahead nor back, every call settles`,
    async () => {
      await runAll(LOADER_SEEDS, planLoaderCase);
    },
    loaderTimeoutMs(60_000),
  );
});
