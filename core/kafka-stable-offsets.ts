// A group's committed offsets as a KIP-447 consumer reads them: OffsetFetch with require_stable, which the broker
// answers UNSTABLE_OFFSET_COMMIT for a partition while a transaction that carries offsets for it is not finished.
//
// Why: a transactional stage commits its consumed offsets inside its transactions. When a partition moves from one
// member to another, the new owner's client (kafkajs 2.2.4 sends OffsetFetch v4, which has no require_stable) reads
// the offset the group coordinator has materialized, and a commit the previous owner finished a moment ago (its
// EndTxn answered, its markers not written yet) is not materialized: the new owner would read that transaction's
// records again and commit them a second time. A CI run saw exactly that (one 20-record chunk twice in the
// two-worker crash test). The Java client asks with require_stable whenever it reads committed data; this reader lets
// runTransactional do the same for the first batch of each partition it is given.
//
// kafkajs has no public way to send a request it does not know. This uses its cluster (so TLS, SASL and the broker
// list are the job's own) through one private factory of its Kafka object, and encodes the request itself. kafkajs is
// pinned (2.2.4, its last release); the integration test fails loudly if that factory is ever gone.
import type { Kafka } from './kafka.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { CdrflowError } from './errors.ts';
import { compactString, int32, NO_TAGS, Reader, sendRaw, supportsVersion, uvarint, type InternalBroker } from './kafka-wire.ts';

const OFFSET_FETCH = 9;
/** The first OffsetFetch version with require_stable (Kafka 2.5+); flexible (compact) encoding. */
const STABLE_VERSION = 7;
const ERRORS = {
  none: 0,
  coordinatorLoading: 14,
  coordinatorNotAvailable: 15,
  notCoordinator: 16,
  unstableOffsetCommit: 88,
} as const;

interface InternalCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  findGroupCoordinator(args: { groupId: string }): Promise<InternalBroker>;
}

/** One partition's answer: the committed offset (undefined: none), or the broker's error code for it. */
export interface OffsetAnswer {
  topic: string;
  partition: number;
  offset: number | undefined;
  errorCode: number;
}

/** The request body, preceded by the flexible request header's empty tagged fields (kafkajs writes the rest of it). */
export function encodeStableOffsetFetch(groupId: string, partitions: ReadonlyMap<string, readonly number[]>): Buffer {
  const parts: Buffer[] = [NO_TAGS, compactString(groupId), uvarint(partitions.size + 1)];
  for (const [topic, list] of partitions) {
    parts.push(compactString(topic), uvarint(list.length + 1), ...list.map(int32), NO_TAGS);
  }
  parts.push(Buffer.from([1]), NO_TAGS); // require_stable = true
  return Buffer.concat(parts);
}

/** The response after its correlation id: header tags, then the v7 body. */
export function decodeStableOffsetFetch(payload: Buffer): { errorCode: number; partitions: OffsetAnswer[] } {
  const r = new Reader(payload, 'OffsetFetch');
  r.skipTags();
  r.int32(); // throttle_time_ms
  const partitions: OffsetAnswer[] = [];
  r.array(() => {
    const topic = r.string() ?? '';
    r.array(() => {
      const partition = r.int32();
      const offset = r.int64();
      r.int32(); // committed_leader_epoch
      r.string(); // metadata
      const errorCode = r.int16();
      r.skipTags();
      partitions.push({ topic, partition, offset: offset < 0 ? undefined : offset, errorCode });
    });
    r.skipTags();
  });
  const errorCode = r.int16();
  r.skipTags();
  return { errorCode, partitions };
}

/** kafkajs's own cluster factory, a closure under a private symbol on the client (found on a wrapper's prototype too). */
function clusterFactory(kafka: Kafka): unknown {
  // A client made with Object.create(kafka) (a wrapper that overrides a method, as the benchmark's stopwatch does)
  // holds the symbol on its prototype, not as its own.
  for (let o: object | null = kafka; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const factory = Object.getOwnPropertySymbols(o).find((s) => s.description === 'private:Kafka:createCluster');
    if (factory !== undefined) return (o as Record<symbol, unknown>)[factory];
  }
  return undefined;
}

function internalCluster(kafka: Kafka): InternalCluster {
  const create = clusterFactory(kafka);
  if (typeof create !== 'function') {
    throw new CdrflowError(
      'config',
      'this kafkajs has no cluster factory to read stable committed offsets with (cdrflow is built on kafkajs 2.2.4)',
      { code: 'KAFKAJS_INTERNALS' },
    );
  }
  return (create as (opts: object) => InternalCluster)({ allowAutoTopicCreation: false });
}

export interface StableOffsetReader {
  /**
   * Committed offsets of the group's partitions once no transaction that carries offsets for them is pending.
   * Returns the answer per partition; a partition still unstable is answered with errorCode 88 (the caller waits
   * and asks again). Undefined when the broker is older than Kafka 2.5 and cannot tell.
   */
  fetch(partitions: ReadonlyMap<string, readonly number[]>): Promise<OffsetAnswer[] | undefined>;
  close(): Promise<void>;
}

export const UNSTABLE_OFFSET_COMMIT = ERRORS.unstableOffsetCommit;

export function stableOffsetReader(kafka: Kafka, groupId: string): StableOffsetReader {
  let cluster: InternalCluster | undefined;
  let connecting: Promise<InternalCluster> | undefined;
  const connected = () =>
    (connecting ??= (async () => {
      const c = internalCluster(kafka);
      await c.connect();
      cluster = c;
      return c;
    })().catch((err: unknown) => {
      connecting = undefined;
      throw err;
    }));
  return {
    async fetch(partitions) {
      const c = await connected();
      const coordinator = await c.findGroupCoordinator({ groupId });
      if (!supportsVersion(coordinator, OFFSET_FETCH, STABLE_VERSION)) return undefined;
      const body = encodeStableOffsetFetch(groupId, partitions);
      const answer = await sendRaw(coordinator, OFFSET_FETCH, STABLE_VERSION, 'OffsetFetch', body, decodeStableOffsetFetch);
      if (
        answer.errorCode === ERRORS.notCoordinator ||
        answer.errorCode === ERRORS.coordinatorNotAvailable ||
        answer.errorCode === ERRORS.coordinatorLoading
      ) {
        // The group moved or its coordinator is loading: ask again (the caller waits as for an unstable offset).
        await c.refreshMetadata().catch(() => undefined);
        return [...partitions].flatMap(([topic, list]) =>
          list.map((partition) => ({ topic, partition, offset: undefined, errorCode: UNSTABLE_OFFSET_COMMIT })),
        );
      }
      if (answer.errorCode !== ERRORS.none) {
        throw new CdrflowError(
          'transient',
          `reading group ${groupId}'s committed offsets: broker error code ${answer.errorCode}`,
          { code: 'KAFKA_OFFSET_FETCH' },
        );
      }
      return answer.partitions;
    },
    async close() {
      const c = cluster ?? (await connecting?.catch(() => undefined));
      connecting = undefined;
      cluster = undefined;
      await c?.disconnect().catch(() => undefined);
    },
  };
}

/** How long to wait between asks while a partition's offset is unstable: short first (markers take milliseconds). */
const STABLE_WAIT = { initialMs: 10, maxMs: 500, factor: 2 } as const;

/**
 * The committed offset of one partition, waiting while a transaction that carries offsets for it is unfinished (at
 * most the producer's transaction timeout: the coordinator aborts it then). `undefined`: no committed offset, or a
 * broker too old to tell. `null`: `running()` turned false while it waited.
 */
export async function waitStableOffset(
  reader: StableOffsetReader,
  topic: string,
  partition: number,
  opts: {
    running: () => boolean;
    /** Called between asks: a wait can outlast the group's session timeout (the consumer's own heartbeat). */
    heartbeat?: () => Promise<void>;
    onWaiting?: (waitedMs: number) => void;
  },
): Promise<number | undefined | null> {
  const started = Date.now();
  let lastReport = started;
  for (let attempt = 0; ; attempt++) {
    if (!opts.running()) return null;
    const answers = await reader.fetch(new Map([[topic, [partition]]]));
    if (answers === undefined) return undefined;
    const mine = answers.find((a) => a.topic === topic && a.partition === partition);
    if (mine === undefined)
      throw new CdrflowError('transient', `OffsetFetch for ${topic}[${partition}] came back without that partition`, {
        code: 'KAFKA_OFFSET_FETCH',
      });
    if (mine.errorCode === ERRORS.none) return mine.offset;
    if (mine.errorCode !== UNSTABLE_OFFSET_COMMIT) {
      throw new CdrflowError(
        'transient',
        `reading the committed offset of ${topic}[${partition}]: broker error code ${mine.errorCode}`,
        { code: 'KAFKA_OFFSET_FETCH' },
      );
    }
    const now = Date.now();
    if (now - lastReport >= 2_000) {
      lastReport = now;
      opts.onWaiting?.(now - started);
    }
    await delay(Math.min(STABLE_WAIT.maxMs, STABLE_WAIT.initialMs * STABLE_WAIT.factor ** attempt));
    await opts.heartbeat?.();
  }
}
