// A seeded fault campaign against runTransactional (core/kafka-streams.ts), the exactly-once consume-transform-produce
// loop, with what it uses: the fenced offset commits (kafka-fenced-offsets.ts) and the stable offset reads
// (kafka-stable-offsets.ts). Each case draws, from its own seed, an input topic of 1-4 partitions (0-40 records each,
// some bad: the transform dead-letters them, as normalize does), one or two stage instances (each its own
// transactional id, both in one group), chunk and fetch sizes, and per-call chances of every fault at every port: a
// send that fails before the broker took it or after (the records sit in the open transaction), a sendOffsets that
// fails, a commit that fails (the transaction stays open on the broker) or lands with its answer lost, an abort that
// fails, another process taking the transactional id (its init fences the producer and aborts the open transaction),
// a transform that throws transiently, a rebalance (generation bump, partitions moved between the members) between
// rounds or in the middle of any call of a chunk, and a crash of an instance (gone at once from the group, its
// producer's calls failing) after which it restarts from the committed offsets.
// The stand-ins behave as kafkajs 2.2.4 and a broker do: the producer's transaction state machine (a commit whose
// EndTxn failed leaves it COMMITTING, where abort is refused; an abort that failed leaves it ABORTING), an init that
// bumps the epoch and aborts the id's open transaction, TxnOffsetCommit refused (ILLEGAL_GENERATION /
// UNKNOWN_MEMBER_ID) when the membership registered for it (kafka-fenced-offsets.ts's state) is not the group's
// current one, a heartbeat that answers REBALANCE_IN_PROGRESS once the group moved on, fetch positions after a join
// from the materialized committed offsets, which a commit's markers reach a few event-loop turns after EndTxn
// answered, and an OffsetFetch v7 with require_stable answered UNSTABLE_OFFSET_COMMIT meanwhile and while an open
// transaction carries offsets of the partition. A stage that stops is restarted with the same transactional id, as
// the job's supervisor does. After the script, a drain with no faults until the group committed every partition's end.
// Oracle, every case:
//  - every input record's output (a good record's) or dead letter (a bad one's) is in committed transactions exactly
//    once, and nothing else is;
//  - each transaction that commits offsets moves no partition's committed offset back, and commits no offset past a
//    record whose output is not committed (in it or before); after the drain the group is at every partition's end;
//  - a stage stops only because of an injected fault (never on a bad record);
//  - every case ends: the drain converges within a bound of event-loop turns, every stop settles (HANG_MS).
// Found: nothing so far (seeds 1-3300). It does catch offsets committed without the generation fence (110 of seeds
// 1-300 fail: outputs twice, offsets moved back) and a new owner that does not skip what the stable read says the
// previous owner committed (43 of 1-300).
// Time is the event loop's: node:timers/promises's setTimeout (the retries' backoff, the stable reads' waits) takes
// one setImmediate turn here, and every stand-in answers within a turn.
// The same seed plays the same case: a failure prints its seed and case, and CDRFLOW_FUZZ_TRANSACTIONAL_ONLY=<seed>
// runs just those (CDRFLOW_FUZZ_TRANSACTIONAL_SEED / _COUNT move the range).
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { CdrflowError, clientRejoinError } from './errors.ts';
import type { GroupMembership } from './kafka-fenced-offsets.ts';
import type { Kafka } from './kafka.ts';
import { runTransactional, type PartitionBatch, type ProducedRecords, type StreamHandle } from './kafka-streams.ts';
import { compactString, int16, int32, int64, NO_TAGS, NULL_STRING, Reader, uvarint } from './kafka-wire.ts';
import { Rng, seededRandom } from '../simulators/kit.ts';
import { campaignSeeds } from '../test/fuzz/seeds.ts';

vi.mock('node:timers/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:timers/promises')>();
  return { ...actual, setTimeout: <T>(_ms?: number, value?: T) => new Promise<T | undefined>((resolve) => setImmediate(() => resolve(value))) };
});

const { seeds: SEEDS, timeoutMs } = campaignSeeds('TRANSACTIONAL', 300);
const TRACE = process.env.CDRFLOW_FUZZ_TRANSACTIONAL_TRACE === '1';
const HANG_MS = 5_000;
const GROUP = 'g';
const IN = 'in';
/** Event-loop turns the drain may take before the group must have committed every partition's end. */
const DRAIN_TURNS = 20_000;
/** Restarts after which a case ran away. */
const MAX_RESTARTS = 200;

const require = createRequire(import.meta.url);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error };
const { KafkaJSConnectionError, KafkaJSNonRetriableError } = require('kafkajs/src/errors.js') as {
  KafkaJSConnectionError: new (message: string) => Error;
  KafkaJSNonRetriableError: new (message: string) => Error;
};
const CODE = { requestTimedOut: 7, illegalGeneration: 22, unknownMember: 25, rebalancing: 27, invalidEpoch: 47 } as const;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Case {
  seed: number;
  /** Per partition, per record: whether it is bad (dead-lettered by the transform). */
  partitions: boolean[][];
  instances: number;
  chunkSize: number;
  maxFetch: number;
  /** Busy rounds (a fetch handed to the handler) with faults, before the drain. */
  scriptRounds: number;
  /** Turns from EndTxn's answer until the committed offsets are materialized. */
  markerTurns: number;
  sendBefore: number;
  sendAfter: number;
  offsetsFail: number;
  commitFail: number;
  commitLost: number;
  abortFail: number;
  fence: number;
  transformThrow: number;
  /** Per call of a chunk (transform, send, offsets, commit), and per round: a rebalance. */
  rebalance: number;
  /** Per round and per producer call: a crash of the instance. */
  crash: number;
}

function planCase(seed: number): Case {
  const rng = new Rng(seededRandom(seed));
  const badRate = rng.pick([0, 0.1, 0.3, 1]);
  const partitions = Array.from({ length: rng.int(1, 4) }, () => Array.from({ length: rng.pick([0, 3, 10, 25, 40]) }, () => rng.chance(badRate)));
  const p = (x: number) => (rng.chance(0.5) ? 0 : rng.pick([x / 4, x / 2, x]));
  return {
    seed,
    partitions,
    instances: rng.int(1, 2),
    chunkSize: rng.pick([1, 2, 3, 5, 100]),
    maxFetch: rng.pick([1, 4, 10, 50]),
    scriptRounds: rng.int(5, 40),
    markerTurns: rng.int(0, 3),
    sendBefore: p(0.1),
    sendAfter: p(0.1),
    offsetsFail: p(0.1),
    commitFail: p(0.08),
    commitLost: p(0.08),
    abortFail: p(0.2),
    fence: p(0.03),
    transformThrow: p(0.05),
    rebalance: p(0.1),
    crash: p(0.03),
  };
}

const describeCase = (c: Case) =>
  `seed ${c.seed}: partitions [${c.partitions.map((p) => `${p.length}(${p.filter(Boolean).length} bad)`).join(' ')}], ${c.instances} instance(s), chunk ${c.chunkSize}, fetch ${c.maxFetch}, ` +
  `script ${c.scriptRounds} rounds, markers ${c.markerTurns} turns; send ${c.sendBefore}/${c.sendAfter} offsets ${c.offsetsFail} commit ${c.commitFail}/lost ${c.commitLost} ` +
  `abort ${c.abortFail} fence ${c.fence} transform ${c.transformThrow} rebalance ${c.rebalance} crash ${c.crash}`;

/** The fence state kafka-fenced-offsets.ts keeps (its patched kafkajs join records generations in it; here the stand-in does). */
interface FenceState {
  generations: Map<string, number>;
  memberships: Map<string, GroupMembership>;
  plainCommits: Map<string, GroupMembership>;
}
function fenceState(): FenceState {
  const g = globalThis as unknown as Record<symbol, FenceState | undefined>;
  return (g[Symbol.for('cdrflow.kafka-fenced-offsets')] ??= { generations: new Map(), memberships: new Map(), plainCommits: new Map() });
}

interface Txn {
  txId: string;
  epoch: number;
  records: { topic: string; key: string }[];
  offsets: Map<number, number>;
}

interface Member {
  id: string;
  slot: number;
  joinedGeneration: number;
  rejoin: boolean;
  running: boolean;
  positions: Map<number, number>;
  loop?: Promise<void>;
}

interface Slot {
  index: number;
  txId: string;
  generation: number;
  handle?: StreamHandle;
  starting?: Promise<void>;
  member?: Member;
  /** The current instance's producer is gone (a crash): every call of it fails. */
  dead?: { value: boolean };
  crashing: boolean;
}

async function runCase(c: Case): Promise<string[]> {
  const rng = new Rng(seededRandom(c.seed ^ 0x7a5c));
  const problems: string[] = [];
  const trace = (line: string) => TRACE && console.log(`[${c.seed}] ${line}`);
  const injected = new WeakSet<object>();
  const fault = <E extends Error>(e: E): E => (injected.add(e), e);
  const explained = (err: unknown) => {
    for (let e = err as { cause?: unknown; originalError?: unknown } | undefined, depth = 0; e && typeof e === 'object' && depth < 10; e = (e.originalError ?? e.cause) as typeof e, depth++) {
      if (injected.has(e)) return true;
    }
    return false;
  };
  trace(describeCase(c));
  const ends = c.partitions.map((p) => p.length);
  let busyRounds = 0;
  const faulty = () => busyRounds < c.scriptRounds;
  const chance = (p: number) => faulty() && p > 0 && rng.chance(p);

  // The broker: transactions, the group's offsets (committed in commit order; materialized a few turns later).
  const epochs = new Map<string, number>();
  const open = new Map<string, Txn>();
  const committedOut = new Map<string, string[]>();
  const latest = ends.map(() => 0);
  const materialized = ends.map(() => -1);
  let unmaterialized = ends.map(() => 0);
  const initProducer = (txId: string) => {
    const epoch = (epochs.get(txId) ?? -1) + 1;
    epochs.set(txId, epoch);
    if (open.delete(txId)) trace(`init ${txId}@${epoch} aborts the open transaction`);
    return epoch;
  };
  const commitOnBroker = (txn: Txn) => {
    open.delete(txn.txId);
    for (const r of txn.records) committedOut.set(r.key, [...(committedOut.get(r.key) ?? []), r.topic]);
    for (const [p, off] of txn.offsets) {
      if (off < latest[p]!) problems.push(`${txn.txId} moved partition ${p}'s committed offset back from ${latest[p]} to ${off}`);
      for (let o = latest[p]!; o < off; o++) if (!committedOut.has(`${p}:${o}`)) problems.push(`${txn.txId} committed partition ${p} at ${off} without the output of offset ${o}`);
      latest[p] = off;
      unmaterialized[p]!++;
      void (async () => {
        for (let i = 0; i < c.markerTurns; i++) await turn();
        materialized[p] = off;
        unmaterialized[p]!--;
      })();
    }
    trace(`commit ${txn.txId}@${txn.epoch}: ${txn.records.length} records, offsets ${[...txn.offsets].map(([p, o]) => `${p}:${o}`).join(' ')}`);
  };
  const stableAnswer = (p: number): { offset: number; errorCode: number } => {
    const pending = unmaterialized[p]! > 0 || [...open.values()].some((t) => t.offsets.has(p));
    return pending ? { offset: -1, errorCode: 88 } : { offset: materialized[p]!, errorCode: 0 };
  };

  // The group coordinator: members in join order, partitions dealt round-robin, rotated by generation.
  let generation = 0;
  const members = new Map<string, Member>();
  const assignment = new Map<string, number[]>();
  let memberSeq = 0;
  const rebalance = (why: string) => {
    generation++;
    assignment.clear();
    const ids = [...members.keys()];
    ends.forEach((_, p) => {
      if (ids.length === 0) return;
      const id = ids[(p + generation) % ids.length]!;
      assignment.set(id, [...(assignment.get(id) ?? []), p]);
    });
    trace(`rebalance (${why}) -> generation ${generation}: ${[...assignment].map(([id, ps]) => `${id}=[${ps.join(',')}]`).join(' ')}`);
  };
  const maybeRebalance = (where: string) => {
    if (chance(c.rebalance)) rebalance(where);
  };

  const slots: Slot[] = Array.from({ length: c.instances }, (_, index) => ({ index, txId: `tx-${index}`, generation: 0, crashing: false }));
  let finishing = false;
  let restarts = 0;
  const stops: unknown[] = [];

  const maybeCrash = (slot: Slot) => {
    if (!chance(c.crash) || slot.crashing) return;
    void crash(slot);
  };

  const client = (slot: Slot): Kafka => {
    const dead = { value: false };
    slot.dead = dead;
    const gone = () => {
      if (dead.value) throw fault(new KafkaJSConnectionError('Connection error: the process is gone'));
    };
    const producer = () => {
      let epoch = -1;
      let state: 'UNINITIALIZED' | 'READY' | 'TRANSACTING' | 'COMMITTING' | 'ABORTING' = 'UNINITIALIZED';
      const fenced = () => epochs.get(slot.txId) !== epoch;
      const guard = (method: string) => {
        if (state !== 'TRANSACTING') throw fault(new KafkaJSNonRetriableError(`Transaction state exception: Cannot call "${method}" in state "${state}"`));
      };
      const maybeFence = () => {
        if (chance(c.fence)) initProducer(slot.txId);
      };
      const txnOf = () => {
        let t = open.get(slot.txId);
        if (t === undefined) {
          t = { txId: slot.txId, epoch, records: [], offsets: new Map() };
          open.set(slot.txId, t);
        }
        return t;
      };
      return {
        connect: async () => {
          await turn();
          gone();
          epoch = initProducer(slot.txId);
          state = 'READY';
        },
        disconnect: async () => undefined,
        transaction: async () => {
          if (state !== 'READY') throw fault(new KafkaJSNonRetriableError('There is already an ongoing transaction for this producer. Please end the transaction before beginning another.'));
          state = 'TRANSACTING';
          let ongoing = false;
          return {
            sendBatch: async ({ topicMessages }: { topicMessages: { topic: string; messages: { key?: unknown }[] }[] }) => {
              guard('send');
              await turn();
              gone();
              maybeCrash(slot);
              maybeRebalance('send');
              maybeFence();
              gone();
              if (fenced()) throw fault(createErrorFromCode(CODE.invalidEpoch));
              if (chance(c.sendBefore)) throw fault(new KafkaJSConnectionError('Connection error: send failed before the broker took it'));
              ongoing = true;
              txnOf().records.push(...topicMessages.flatMap((t) => t.messages.map((m) => ({ topic: t.topic, key: String(m.key) }))));
              if (chance(c.sendAfter)) throw fault(createErrorFromCode(CODE.requestTimedOut));
            },
            sendOffsets: async ({ consumerGroupId, topics }: { consumerGroupId: string; topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }) => {
              guard('sendOffsets');
              await turn();
              gone();
              maybeRebalance('sendOffsets');
              maybeFence();
              if (fenced()) throw fault(createErrorFromCode(CODE.invalidEpoch));
              if (chance(c.offsetsFail)) throw fault(new KafkaJSConnectionError('Connection error: TxnOffsetCommit failed'));
              // kafka-fenced-offsets.ts sends TxnOffsetCommit v3 under the membership registered for this transactional id.
              const registered = fenceState().memberships.get(slot.txId);
              if (registered !== undefined && registered.groupId === consumerGroupId) {
                if (!members.has(registered.memberId)) throw fault(createErrorFromCode(CODE.unknownMember));
                if (registered.generationId !== generation) throw fault(createErrorFromCode(CODE.illegalGeneration));
              }
              ongoing = true;
              const txn = txnOf();
              for (const t of topics) for (const p of t.partitions) txn.offsets.set(p.partition, Number(p.offset));
            },
            commit: async () => {
              guard('commit');
              state = 'COMMITTING';
              if (!ongoing) {
                state = 'READY';
                return;
              }
              await turn();
              gone();
              maybeCrash(slot);
              maybeRebalance('commit');
              maybeFence();
              gone();
              if (fenced()) throw fault(createErrorFromCode(CODE.invalidEpoch));
              if (chance(c.commitFail)) throw fault(new KafkaJSConnectionError('Connection error: EndTxn failed'));
              const txn = open.get(slot.txId);
              if (txn !== undefined) commitOnBroker(txn);
              if (chance(c.commitLost)) throw fault(createErrorFromCode(CODE.requestTimedOut));
              state = 'READY';
            },
            abort: async () => {
              guard('abort');
              state = 'ABORTING';
              if (!ongoing) {
                state = 'READY';
                return;
              }
              await turn();
              gone();
              if (fenced()) throw fault(createErrorFromCode(CODE.invalidEpoch));
              if (chance(c.abortFail)) throw fault(new KafkaJSConnectionError('Connection error: EndTxn (abort) failed'));
              open.delete(slot.txId);
              state = 'READY';
            },
          };
        },
      };
    };

    const consumer = () => {
      const listeners = new Map<string, (event: { payload: unknown }) => void>();
      const events = { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join', END_BATCH_PROCESS: 'consumer.end_batch_process', COMMIT_OFFSETS: 'consumer.commit_offsets' };
      let member: Member | undefined;
      const join = (m: Member) => {
        // A member's JoinGroup starts a rebalance unless the group is already past the generation it had.
        if (m.joinedGeneration === generation) rebalance(`${m.id} rejoins`);
        m.joinedGeneration = generation;
        m.rejoin = false;
        fenceState().generations.set(m.id, generation);
        // kafkajs's offsets are new after a join: fetched from the group's materialized commits.
        m.positions = new Map((assignment.get(m.id) ?? []).map((p) => [p, Math.max(0, materialized[p]!)]));
        trace(`${m.id} joined generation ${generation}: [${[...m.positions].map(([p, o]) => `${p}@${o}`).join(' ')}]`);
        listeners.get(events.GROUP_JOIN)?.({ payload: { memberId: m.id } });
      };
      const batchOf = (m: Member, p: number, eachBatch: (payload: unknown) => Promise<void>) => {
        const from = m.positions.get(p) ?? 0;
        const to = Math.min(ends[p]!, from + rng.int(1, c.maxFetch));
        const messages = Array.from({ length: to - from }, (_, i) => ({ offset: String(from + i), key: Buffer.from(`${p}:${from + i}`), value: Buffer.from(c.partitions[p]![from + i] ? 'bad' : 'good'), timestamp: '0', headers: {} }));
        const joinedAs = m.joinedGeneration;
        return eachBatch({
          batch: { topic: IN, partition: p, highWatermark: String(ends[p]), lastOffset: () => String(to - 1), messages },
          isRunning: () => m.running,
          isStale: () => false,
          heartbeat: async () => {
            if (m.running && (generation !== m.joinedGeneration || !members.has(m.id))) throw createErrorFromCode(CODE.rebalancing);
          },
          resolveOffset: (offset: string) => {
            if (m.joinedGeneration === joinedAs) m.positions.set(p, Number(offset) + 1);
          },
        });
      };
      const loop = async (m: Member, eachBatch: (payload: unknown) => Promise<void>) => {
        while (m.running) {
          if (m.rejoin || m.joinedGeneration !== generation) join(m);
          const ready = (assignment.get(m.id) ?? []).filter((p) => (m.positions.get(p) ?? 0) < ends[p]!);
          if (ready.length === 0) {
            await turn();
            continue;
          }
          busyRounds++;
          maybeRebalance('between rounds');
          maybeCrash(slot);
          if (!m.running) break;
          // kafkajs hands at most partitionsConsumedConcurrently (3) batches at once.
          const chosen = ready.sort(() => rng.next() - 0.5).slice(0, 3);
          const failures = (await Promise.all(chosen.map((p) => batchOf(m, p, eachBatch).then(() => undefined, (err: unknown) => err ?? new Error('batch failed'))))).filter((e) => e !== undefined);
          if (failures.length === 0) continue;
          if (failures.every((e) => clientRejoinError(e) !== undefined)) {
            m.rejoin = true;
            continue;
          }
          // Any other error leaves kafkajs's runner: the consumer crashes (restartOnFailure: false).
          m.running = false;
          listeners.get(events.CRASH)?.({ payload: { error: failures.find((e) => clientRejoinError(e) === undefined) } });
        }
      };
      return {
        events,
        on: (event: string, listener: (event: { payload: unknown }) => void) => void listeners.set(event, listener),
        connect: async () => {
          await turn();
          gone();
        },
        subscribe: async () => undefined,
        run: async ({ eachBatch }: { eachBatch: (payload: unknown) => Promise<void> }) => {
          const m: Member = { id: `m${++memberSeq}`, slot: slot.index, joinedGeneration: -1, rejoin: false, running: true, positions: new Map() };
          member = m;
          slot.member = m;
          members.set(m.id, m);
          rebalance(`${m.id} joins`);
          join(m);
          m.loop = loop(m, eachBatch);
        },
        disconnect: async () => {
          const m = member;
          if (m === undefined) return;
          m.running = false;
          await m.loop;
          if (members.delete(m.id)) rebalance(`${m.id} leaves`);
        },
      };
    };

    const cluster = {
      connect: async () => undefined,
      disconnect: async () => undefined,
      refreshMetadata: async () => undefined,
      findGroupCoordinator: async () => ({
        versions: { 9: { minVersion: 0, maxVersion: 7 }, 28: { minVersion: 0, maxVersion: 3 } },
        connectionPool: {
          // OffsetFetch v7 with require_stable, decoded and answered as the group coordinator does.
          send: async ({ request, response }: { request: { encode: () => Promise<{ buf: Buffer }> }; response: { decode: (b: Buffer) => Promise<unknown>; parse: (d: unknown) => Promise<unknown> } }) => {
            await turn();
            gone();
            const r = new Reader((await request.encode()).buf, 'OffsetFetch request');
            r.skipTags();
            r.string();
            const asked: [string, number[]][] = r.array(() => {
              const topic = r.string() ?? '';
              const partitions = r.array(() => r.int32());
              r.skipTags();
              return [topic, partitions];
            });
            const parts: Buffer[] = [NO_TAGS, int32(0), uvarint(asked.length + 1)];
            for (const [topic, partitions] of asked) {
              parts.push(compactString(topic), uvarint(partitions.length + 1));
              for (const p of partitions) {
                const { offset, errorCode } = stableAnswer(p);
                parts.push(int32(p), int64(offset), int32(-1), NULL_STRING, int16(errorCode), NO_TAGS);
              }
              parts.push(NO_TAGS);
            }
            parts.push(int16(0), NO_TAGS);
            return response.parse(await response.decode(Buffer.concat(parts)));
          },
        },
      }),
    };
    return {
      [Symbol('private:Kafka:createCluster')]: () => cluster,
      producer,
      consumer,
      admin: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        fetchTopicMetadata: async ({ topics }: { topics: string[] }) => ({ topics: topics.map((name) => ({ name, partitions: [{ partitionId: 0 }] })) }),
      }),
    } as unknown as Kafka;
  };

  const transform = async (batch: PartitionBatch): Promise<ProducedRecords[]> => {
    await turn();
    maybeRebalance('transform');
    if (chance(c.transformThrow)) throw fault(new CdrflowError('transient', 'schema registry unreachable'));
    const out: ProducedRecords = { topic: 'out', messages: [] };
    const dlq: ProducedRecords = { topic: 'dlq', messages: [] };
    for (const m of batch.messages) {
      const key = `${m.partition}:${m.offset}`;
      // A bad record is the transform's to dead-letter (normalize's recordFailure): it never stops the loop.
      if (String(m.value) === 'bad') dlq.messages.push({ key, value: Buffer.from(`dead letter of ${key}`) });
      else out.messages.push({ key, value: m.value ?? Buffer.alloc(0) });
    }
    return [out, dlq];
  };

  const start = (slot: Slot): Promise<void> =>
    (slot.starting = (async () => {
      slot.generation++;
      const handle = await runTransactional(client(slot), {
        groupId: GROUP,
        topics: [IN],
        transactionalId: slot.txId,
        maxMessagesPerTransaction: c.chunkSize,
        transform,
      });
      slot.handle = handle;
      const started = slot.generation;
      handle.done.then(
        () => undefined,
        (err: unknown) => {
          stops.push(err);
          trace(`${slot.txId} stopped: ${(err as Error).message}`);
          if (!explained(err)) problems.push(`${slot.txId} stopped without an injected fault: ${(err as Error).message}`);
          if (slot.crashing || finishing || started !== slot.generation) return;
          void restart(slot);
        },
      );
    })());

  const restart = async (slot: Slot) => {
    if (++restarts > MAX_RESTARTS) {
      problems.push(`more than ${MAX_RESTARTS} restarts`);
      return;
    }
    await turn();
    if (!finishing) await start(slot);
  };

  // A crash: the process is gone, the group drops its member at once; the stage restarts from the committed offsets.
  const crash = async (slot: Slot) => {
    slot.crashing = true;
    trace(`${slot.txId} crashes`);
    if (slot.dead) slot.dead.value = true;
    const m = slot.member;
    if (m) {
      m.running = false;
      if (members.delete(m.id)) rebalance(`${m.id} crashed`);
    }
    await slot.starting;
    await slot.handle?.stop();
    slot.crashing = false;
    if (!finishing) await restart(slot);
  };

  for (const slot of slots) await start(slot);
  let turns = 0;
  const converged = () =>
    !faulty() &&
    open.size === 0 &&
    unmaterialized.every((n) => n === 0) &&
    materialized.every((o, p) => Math.max(0, o) === ends[p]) &&
    slots.every((s) => !s.crashing);
  while (!converged()) {
    await turn();
    // The script ends after its busy rounds; a case whose input is all handled before that ends it too.
    if (faulty() && latest.every((o, p) => o === ends[p]) && open.size === 0) busyRounds = c.scriptRounds;
    if (!faulty() && ++turns > DRAIN_TURNS) {
      problems.push(`the drain did not converge in ${DRAIN_TURNS} turns: committed ${materialized.join(',')} of ${ends.join(',')}, open ${[...open.keys()].join(',')}`);
      break;
    }
  }
  finishing = true;
  for (const slot of slots) {
    await slot.starting;
    await slot.handle?.stop();
  }
  unmaterialized = unmaterialized.map(() => 0);

  // Every input record's output (or dead letter) once in committed transactions, and nothing else.
  c.partitions.forEach((records, p) =>
    records.forEach((bad, o) => {
      const got = committedOut.get(`${p}:${o}`) ?? [];
      const want = bad ? 'dlq' : 'out';
      if (got.length !== 1 || got[0] !== want) problems.push(`record ${p}:${o} (${bad ? 'bad' : 'good'}) committed as [${got.join(',')}]`);
    }),
  );
  for (const key of committedOut.keys()) {
    const [p, o] = key.split(':').map(Number) as [number, number];
    if (!(o < (ends[p] ?? 0))) problems.push(`output ${key} of no input record`);
  }
  materialized.forEach((o, p) => {
    if (Math.max(0, o) !== ends[p]) problems.push(`partition ${p}: the group committed ${o}, not its end ${ends[p]}`);
  });
  return problems;
}

const withDeadline = async <T>(work: Promise<T>, ms: number): Promise<T | 'hung'> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
};

describe('runTransactional: a seeded fault campaign', () => {
  it(`${SEEDS.length} cases (seeds ${SEEDS[0]}..${SEEDS.at(-1)}): each record's output or dead letter committed exactly once, offsets never back nor ahead of the output, the group at the ends, no stop but an injected fault's, every case ends`, async () => {
    const failures: string[] = [];
    for (const seed of SEEDS) {
      const c = planCase(seed);
      const problems = await withDeadline(runCase(c), HANG_MS);
      if (problems === 'hung') failures.push(`${describeCase(c)}: did not end within ${HANG_MS} ms`);
      else if (problems.length > 0) failures.push(`${describeCase(c)}: ${[...new Set(problems)].slice(0, 4).join('; ')}`);
    }
    expect(failures, `${failures.length} failing case(s); replay with CDRFLOW_FUZZ_TRANSACTIONAL_ONLY=<seed>\n  ${failures.slice(0, 10).join('\n  ')}`).toEqual([]);
  }, timeoutMs(60_000));
});
