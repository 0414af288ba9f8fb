// Offsets committed inside a transaction carry the consumer group's generation and member id (KIP-447's
// TxnOffsetCommit v3), so the group coordinator refuses them from a member the group has moved on from.
//
// Why: kafkajs 2.2.4 sends TxnOffsetCommit v1, which names the group only. A member that stalls longer than its
// session timeout (a frozen process, a long pause) is dropped from the group and its partitions go to another member,
// which transforms and commits the same records; when the stalled member wakes it still holds its chunk and, with v1,
// commits it as well: those records twice in the output topic (kafka-stable-offsets.int.test.ts reproduces it). With
// the generation the coordinator answers ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID, the transaction aborts, and the
// member rejoins (kafkajs rejoins on exactly those errors). The Java client sends the same when it is given the
// consumer's group metadata.
//
// A plain commit (the batch stages': the sink, the dead-letter loader) is sent under the generation its records were
// fetched in too (withPlainCommitMembership): kafkajs sends the generation it is in when it sends, and retries a
// failed commit after a rejoin under the new one, which the coordinator takes even when the partition went to another
// member that committed further meanwhile; the partition's offset went back.
//
// Three kafkajs internals are wrapped, all looked up at call time (so, unlike kafkajs-read-committed.ts, no load
// order): the consumer group's join records the generation the coordinator gave, the broker's txnOffsetCommit
// sends v3 while the transaction's producer has registered its group membership (runTransactional does, around each
// sendOffsets), and the broker's offsetCommit sends a registered commit's generation and member. Every other call goes
// to kafkajs unchanged. kafkajs is pinned (2.2.4, its last release); loading
// this module throws if any of them is gone, and the integration tests fail if a fence stops working.
import { createRequire } from 'node:module';
import { CdrflowError } from './errors.ts';
import { compactString, int16, int32, int64, NO_TAGS, NULL_STRING, Reader, sendRaw, supportsVersion, uvarint, type InternalBroker } from './kafka-wire.ts';

const TXN_OFFSET_COMMIT = 28;
/** The first TxnOffsetCommit version with the group generation and member id (Kafka 2.5+); flexible encoding. */
const FENCED_VERSION = 3;

/** Who commits: a member of a group, in the generation it joined. */
export interface GroupMembership {
  groupId: string;
  memberId: string;
  generationId: number;
}

/** What kafkajs's eosManager hands its broker's txnOffsetCommit. */
export interface TxnOffsetCommitArgs {
  transactionalId: string;
  groupId: string;
  producerId: number | string;
  producerEpoch: number;
  topics: { topic: string; partitions: { partition: number; offset: number | string; metadata?: string | null }[] }[];
}

export interface PartitionError {
  topic: string;
  partition: number;
  errorCode: number;
}

/** The request body after the flexible header's empty tags (kafkajs writes the rest of the header). */
export function encodeFencedTxnOffsetCommit(args: TxnOffsetCommitArgs, membership: GroupMembership): Buffer {
  const parts: Buffer[] = [
    NO_TAGS,
    compactString(args.transactionalId),
    compactString(args.groupId),
    int64(args.producerId),
    int16(args.producerEpoch),
    int32(membership.generationId),
    compactString(membership.memberId),
    NULL_STRING, // group_instance_id: kafkajs has no static membership
    uvarint(args.topics.length + 1),
  ];
  for (const t of args.topics) {
    parts.push(compactString(t.topic), uvarint(t.partitions.length + 1));
    for (const p of t.partitions) {
      parts.push(int32(p.partition), int64(p.offset), int32(-1), p.metadata == null ? NULL_STRING : compactString(p.metadata), NO_TAGS);
    }
    parts.push(NO_TAGS);
  }
  parts.push(NO_TAGS);
  return Buffer.concat(parts);
}

/** The answer after its correlation id: header tags, throttle time, then every partition's error code. */
export function decodeFencedTxnOffsetCommit(payload: Buffer): PartitionError[] {
  const r = new Reader(payload, 'TxnOffsetCommit');
  r.skipTags();
  r.int32(); // throttle_time_ms
  const out: PartitionError[] = [];
  r.array(() => {
    const topic = r.string() ?? '';
    r.array(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      r.skipTags();
      out.push({ topic, partition, errorCode });
    });
    r.skipTags();
  });
  r.skipTags();
  return out;
}

/**
 * Shared by every copy of this module in the process (a test runner may load it once per test file, while kafkajs's
 * prototypes are patched once): the generation each member joined with, and the memberships registered for commits.
 */
interface FenceState {
  generations: Map<string, number>;
  memberships: Map<string, GroupMembership>;
  /** Plain commits in flight (withPlainCommitMembership), by plainCommitKey. */
  plainCommits: Map<string, GroupMembership>;
}
const STATE_KEY = Symbol.for('cdrflow.kafka-fenced-offsets');
/** Members remembered (a restarted consumer is a new member id); the oldest are forgotten first. */
const REMEMBERED_MEMBERS = 256;

function state(): FenceState {
  const g = globalThis as unknown as Record<symbol, FenceState | undefined>;
  return (g[STATE_KEY] ??= { generations: new Map(), memberships: new Map(), plainCommits: new Map() });
}

/** The generation the coordinator gave this member at its latest join (undefined: not a join seen here). */
export function joinedGeneration(memberId: string): number | undefined {
  return state().generations.get(memberId);
}

/** Runs `send` (a transaction's sendOffsets) with its offsets committed under `membership`'s generation. */
export async function withGroupMembership<T>(transactionalId: string, membership: GroupMembership, send: () => Promise<T>): Promise<T> {
  const { memberships } = state();
  memberships.set(transactionalId, membership);
  try {
    return await send();
  } finally {
    memberships.delete(transactionalId);
  }
}

/** What kafkajs's consumer group hands its coordinator's offsetCommit. */
interface OffsetCommitArgs {
  groupId: string;
  groupGenerationId: number;
  memberId: string;
  topics: { topic: string; partitions: { partition: number; offset: string | number }[] }[];
}

const plainCommitKey = (groupId: string, topic: string, partition: number, offset: string) => `${groupId}\u0000${topic}\u0000${partition}\u0000${offset}`;

/** The one partition an OffsetCommit names, as plainCommitKey; undefined for a commit of several. */
function keyOfCommit(args: OffsetCommitArgs): string | undefined {
  const [t, ...moreTopics] = args.topics;
  const [p, ...moreParts] = t?.partitions ?? [];
  if (t === undefined || p === undefined || moreTopics.length > 0 || moreParts.length > 0) return undefined;
  return plainCommitKey(args.groupId, t.topic, p.partition, String(p.offset));
}

/**
 * Runs `send` (a consumer's commitOffsets of one partition's `offset`) with the commit sent under `membership`, the
 * generation its records were fetched in, instead of the one kafkajs is in when it sends: kafkajs retries a commit
 * that failed (the coordinator moving, a timeout) after a rejoin under its new generation, which the coordinator takes
 * though the partition may have gone to another member that committed further. Under the old generation the
 * coordinator refuses it (ILLEGAL_GENERATION, a refusal kafkajs does not retry).
 */
export async function withPlainCommitMembership<T>(membership: GroupMembership, topic: string, partition: number, offset: string, send: () => Promise<T>): Promise<T> {
  const { plainCommits } = state();
  const key = plainCommitKey(membership.groupId, topic, partition, offset);
  plainCommits.set(key, membership);
  try {
    return await send();
  } finally {
    plainCommits.delete(key);
  }
}

type Method = (...args: unknown[]) => Promise<unknown>;
const PATCHED = Symbol.for('cdrflow.kafka-fenced-offsets.patched');

function install(): void {
  const require = createRequire(import.meta.url);
  const kafkajsInternals = (what: string) =>
    new CdrflowError('config', `this kafkajs has no ${what} to fence transactional offset commits with (cdrflow is built on kafkajs 2.2.4)`, {
      code: 'KAFKAJS_INTERNALS',
    });

  const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as { prototype: Record<symbol, Method> };
  const join = Object.getOwnPropertySymbols(ConsumerGroup.prototype).find((s) => s.description === 'private:ConsumerGroup:join');
  const originalJoin = join === undefined ? undefined : ConsumerGroup.prototype[join];
  if (join === undefined || typeof originalJoin !== 'function') throw kafkajsInternals("consumer group join");

  const Broker = require('kafkajs/src/broker/index.js') as { prototype: { txnOffsetCommit?: Method; offsetCommit?: Method } };
  const originalCommit = Broker.prototype.txnOffsetCommit;
  if (typeof originalCommit !== 'function') throw kafkajsInternals("broker txnOffsetCommit");
  const originalPlainCommit = Broker.prototype.offsetCommit;
  if (typeof originalPlainCommit !== 'function') throw kafkajsInternals("broker offsetCommit");
  const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error };

  if ((originalCommit as unknown as Record<symbol, boolean>)[PATCHED]) return;

  const recordingJoin = async function (this: { memberId?: string; generationId?: number }, ...args: unknown[]) {
    const result = await originalJoin.apply(this, args);
    if (typeof this.memberId === 'string' && typeof this.generationId === 'number') {
      const { generations } = state();
      generations.delete(this.memberId);
      generations.set(this.memberId, this.generationId);
      if (generations.size > REMEMBERED_MEMBERS) generations.delete(generations.keys().next().value!);
    }
    return result;
  };
  ConsumerGroup.prototype[join] = recordingJoin as Method;

  const fencedCommit = async function (this: InternalBroker, ...rest: unknown[]) {
    const args = rest[0] as TxnOffsetCommitArgs;
    const membership = state().memberships.get(args.transactionalId);
    // A broker older than Kafka 2.5 cannot check a generation: the commit goes as kafkajs sends it (unfenced).
    if (membership === undefined || membership.groupId !== args.groupId || !supportsVersion(this, TXN_OFFSET_COMMIT, FENCED_VERSION)) {
      return originalCommit.apply(this, rest);
    }
    const body = encodeFencedTxnOffsetCommit(args, membership);
    const answer = await sendRaw(this, TXN_OFFSET_COMMIT, FENCED_VERSION, 'TxnOffsetCommit', body, decodeFencedTxnOffsetCommit);
    // The error kafkajs itself raises for a partition's code, so its retries (coordinator moved or loading) and its
    // consumer's rejoin (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) treat it as they would their own.
    const failed = answer.find((p) => p.errorCode !== 0);
    if (failed) throw createErrorFromCode(failed.errorCode);
    return { topics: answer };
  };
  (fencedCommit as unknown as Record<symbol, boolean>)[PATCHED] = true;
  Broker.prototype.txnOffsetCommit = fencedCommit as Method;

  // A plain commit registered by withPlainCommitMembership goes under the generation and member its records were
  // fetched in; every other one as kafkajs sends it.
  const plainCommit = function (this: unknown, ...rest: unknown[]) {
    const args = rest[0] as OffsetCommitArgs;
    const key = keyOfCommit(args);
    const membership = key === undefined ? undefined : state().plainCommits.get(key);
    if (membership === undefined) return originalPlainCommit.apply(this, rest);
    return originalPlainCommit.call(this, { ...args, groupGenerationId: membership.generationId, memberId: membership.memberId });
  };
  Broker.prototype.offsetCommit = plainCommit as Method;
}

install();
