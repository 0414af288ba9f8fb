// Consumer-side Kafka building blocks: exactly-once consume-transform-produce (Kafka transactions carrying the
// consumed offsets), read_committed batch consumers with manual commits, group offset resets and lag.
// It uses only the client objects created by core/kafka.ts (types, no runtime import of the client library), so
// core/kafka.ts stays the one place that loads it.
import type { Admin, Consumer, Kafka, Producer } from './kafka.ts';
import { MAX_PARTITION_SEND_BYTES, messageBytes, toKafkajsMessage, tooLargeError, type OutgoingMessage } from './kafka.ts';
import { CdrflowError, asCdrflowError, carriesCdrflowError, classifyError, clientRejoinError, disposition } from './errors.ts';
import { RETRY, retry, type BackoffOptions } from './backoff.ts';
import { keyPartitioner, partitionOfKey } from './partitioner.ts';
import { stableOffsetReader, waitStableOffset } from './kafka-stable-offsets.ts';
import { joinedGeneration, withGroupMembership, withPlainCommitMembership, type GroupMembership } from './kafka-fenced-offsets.ts';
import { unreadableLine } from './kafkajs-unreadable-batch.ts';

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  /**
   * Set when this record stands for a record batch that could not be read (a compression bomb: kafkajs-unreadable-
   * batch.ts): the one line its dead letter carries. Its value is then the batch's compressed records as written.
   */
  unreadable?: string;
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  messages: ConsumedMessage[];
  /** The partition's high watermark when the batch was fetched (the offset after the last one written), if known. */
  highWatermark?: number;
  /**
   * The offset after the last record the fetch returned, transaction markers and aborted records included: what a
   * consumer that handled the batch commits (batch consumers only). On a topic written by several transactional
   * producers, the markers of two transactions can end a partition one after the other; committing the last data
   * record + 1 instead leaves the group short of the end forever, and a drain that waits for lag 0 never ends.
   */
  end?: number;
  /** The group generation the batch was fetched in (batch consumers only): offsets committed in a transaction are fenced by it. */
  membership?: GroupMembership;
}

export interface ProducedRecords {
  topic: string;
  messages: OutgoingMessage[];
}

/** Structured log of a stage (event name + fields). */
export type StageLog = (event: string, fields: Record<string, unknown>) => void;

/** The broker's minimum session timeout: a killed member's partitions move on after this long. */
export const DEFAULT_SESSION_TIMEOUT_MS = 6_000;

/**
 * How long a stage's fetch waits on the broker for records that have not arrived. kafkajs' default, 5 s, is also how
 * long a stop waits for the fetch in flight, and the stages stop one after another: Ctrl-C on an idle job took 13–18 s,
 * each stage 3–5 s of it. kafkajs heartbeats between fetches too, so a 5 s wait left one second of a 6 s session. With
 * records flowing a fetch returns at once, so the wait only costs an idle stage two small requests a second.
 */
export const STAGE_FETCH_WAIT_MS = 500;

/** A running consumer: `done` settles when it stops (rejects with the error that stopped it). */
export interface StreamHandle {
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * What a stream stage reports after each commit (a transaction, or an insert whose offsets were committed): the
 * records it consumed and how many of them went to the dead-letter topic. Metrics and status read these events.
 */
export interface CommittedCounts {
  records: number;
  deadLettered: number;
  /** normalize: of the dead letters, records whose handling threw (decode, mapping, encode). */
  recordFailures?: number;
  /** normalize: of those, records the mapping produced outside the contract (a mapping bug to alert on). */
  contractViolations?: number;
  /**
   * The dead-letter loader: records it could not load and dropped after logging them (a dead letter is never
   * dead-lettered again). Not among the records out.
   */
  skipped?: number;
  /**
   * The dead-letter loader: records the table already held when they were read again (inserted before a crash,
   * never committed), committed without a second insert. Among `records`, not among the records out.
   */
  alreadyStored?: number;
}

/** The records a commit wrote downstream: those it took but neither dead-lettered, skipped nor found stored already. */
export const recordsOut = (c: CommittedCounts): number => c.records - c.deadLettered - (c.skipped ?? 0) - (c.alreadyStored ?? 0);

type EachBatchPayload = Parameters<NonNullable<Parameters<Consumer['run']>[0]>['eachBatch'] & {}>[0];

/** Kafka client errors -> CdrflowError (core/errors.ts classifies by type and code; `what` says what failed). */
export function classifyKafkaError(err: unknown, what: string): CdrflowError {
  return classifyError(err, what);
}

/**
 * What a consumer's crash means for its stage. A crash carrying cdrflow's own error (thrown by a batch handler) keeps
 * that error's kind: a cdrflow bug still stops the job. A crash that arose inside the Kafka client and that
 * classifyKafkaError cannot place is neither a cdrflow bug nor the data's: kafkajs 2.2.4's fetch can race its own
 * rejoin and read the offsets of an assignment the rejoin just replaced (a TypeError, "Cannot read properties of
 * undefined (reading '0')" in its OffsetManager.resolveOffsets, seen in about 1 of 10 runs of the stalled-member test
 * in kafka-stable-offsets.int.test.ts). The stage restarts with new clients from the committed offsets, as after any
 * Kafka error; its transactions keep that exactly once.
 */
export function consumerCrashError(error: unknown, groupId: string): CdrflowError {
  const failure = classifyKafkaError(error, `consumer group ${groupId}`);
  if (failure.kind !== 'bug' || carriesCdrflowError(error)) return failure;
  return new CdrflowError('transient', `${failure.message} (inside the Kafka client: the stage restarts with new clients)`, {
    code: 'KAFKA_CLIENT_INTERNAL',
    cause: error,
  });
}

function toConsumed(topic: string, partition: number, m: EachBatchPayload['batch']['messages'][number]): ConsumedMessage {
  const consumed: ConsumedMessage = { topic, partition, offset: Number(m.offset), key: m.key, value: m.value, timestamp: Number(m.timestamp) };
  const unreadable = unreadableLine(m);
  if (unreadable !== undefined) consumed.unreadable = unreadable;
  return consumed;
}

/** How often a member heartbeats: six times a session, as kafkajs's default does (500 ms at the least). */
function heartbeatIntervalOf(sessionTimeoutMs: number): number {
  return Math.max(500, Math.floor(sessionTimeoutMs / 6));
}

/**
 * How long one chunk's transform and commit, together, may keep their member's heartbeats going (the default of Kafka's
 * own max.poll.interval.ms). This member does not leave the group then, as Java's consumer does: it only stops
 * heartbeating for the chunk, and the coordinator drops it one session later, unless kafkajs's own heartbeats
 * between the fetches of partitions led by other brokers keep it; the chunk's commit is then refused and its records
 * go to their next owner. During a rebalance the coordinator waits for a member busy with a chunk only its rebalance
 * timeout (kafkajs's default, 60 s: the whole group consumes nothing meanwhile), then drops it, with the same result.
 */
export const MAX_CHUNK_HEARTBEAT_MS = 300_000;

/**
 * Runs one chunk's `work` while heartbeating for its member. kafkajs 2.2.4 has no heartbeat thread: a member
 * heartbeats only between fetches and when a batch handler asks. A chunk waiting on a registry or a broker that is
 * away (up to ten tries each, RETRY) outlasted the session: the member was dropped, the group rebalanced, and the
 * chunk, refused at its commit, was read and transformed again. A heartbeat answered with a rebalance is left here:
 * the handler's next heartbeat and the commit's fencing by generation see it again. Once the consumer stops (kafkajs's
 * isRunning), the heartbeats stop too: kafkajs's stop waits for the chunk, which is not committed then (a
 * transactional chunk is dropped, kafkajs ignores a batch consumer's plain commit), so going on would only keep the
 * member's partitions from the others for as long as the chunk runs, instead of one session.
 */
async function heartbeating<T>(
  payload: Pick<EachBatchPayload, 'heartbeat' | 'isRunning'>,
  intervalMs: number,
  work: () => Promise<T>,
  maxMs = MAX_CHUNK_HEARTBEAT_MS,
): Promise<T> {
  const started = performance.now();
  // kafkajs sends a heartbeat only once `intervalMs` passed since the previous one's answer arrived: a timer of
  // `intervalMs` itself found it a few milliseconds early every other time and beat every two intervals (2 s of a 6 s
  // session). Asking four times an interval lets kafkajs's own gate send one every 1–1.25 intervals.
  const timer = setInterval(() => {
    if (!payload.isRunning() || performance.now() - started > maxMs) return clearInterval(timer);
    payload.heartbeat().catch(() => undefined);
  }, intervalMs / 4);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

interface Runner {
  consumer: Consumer;
  done: Promise<void>;
  /** False once the consumer crashed, failed or was stopped: its group membership is gone. */
  live(): boolean;
  fail(err: CdrflowError): void;
  stop(): Promise<void>;
}

/** Subscribes and runs a consumer that never auto-commits and never restarts itself after an error. */
async function startConsumer(
  kafka: Kafka,
  opts: { groupId: string; topics: string[]; fromBeginning: boolean; partitionsConsumedConcurrently?: number; sessionTimeoutMs?: number; log?: StageLog },
  eachBatch: (payload: EachBatchPayload) => Promise<void>,
  onAssigned?: (memberId: string) => void,
  onMarkersOnly?: (range: MarkersOnly) => void,
): Promise<Runner> {
  const sessionTimeout = opts.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
  // The client has no static membership (group.instance.id is not sent by kafkajs 2.2.4's JoinGroup), so a
  // restarted process is a new member: it gets partitions once the dead one's session timed out. A short session
  // with a matching heartbeat is the lever.
  const consumer = kafka.consumer({
    groupId: opts.groupId,
    // read_committed: downstream sees only committed transactions (kafkajs' default, stated here on purpose).
    readUncommitted: false,
    allowAutoTopicCreation: false,
    sessionTimeout,
    heartbeatInterval: heartbeatIntervalOf(sessionTimeout),
    maxWaitTimeInMs: STAGE_FETCH_WAIT_MS,
    // Systemic errors stop the component loudly; restarting inside the client would hide them.
    retry: { retries: 5, restartOnFailure: async () => false },
  });
  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => undefined);
  let finished = false;
  let crashed = false;
  const finish = (err?: CdrflowError) => {
    if (finished) return;
    finished = true;
    if (err) settle.reject(err);
    else settle.resolve();
  };
  consumer.on(consumer.events.CRASH, (event) => {
    const error = (event.payload as { error: unknown }).error;
    // A crash can carry a plain client error (e.g. "coordinator is loading" on a fresh broker): classify it as a
    // Kafka error so a transient one is not mistaken for a bug.
    const failure = consumerCrashError(error, opts.groupId);
    crashed = true;
    void consumer.disconnect().catch(() => undefined).finally(() => finish(failure));
  });
  // Say what the stage waits for while it waits: joining can take up to a session timeout after a predecessor died.
  const joinStarted = Date.now();
  let joined = false;
  const waitingLog = setInterval(() => {
    if (joined || finished) return clearInterval(waitingLog);
    opts.log?.('consumer.waiting_for_partitions', {
      group: opts.groupId,
      waitedMs: Date.now() - joinStarted,
      why: `the group assigns partitions once every member rejoined; a member that died without leaving is dropped ${sessionTimeout} ms after its last heartbeat`,
    });
  }, 2_000);
  waitingLog.unref();
  // kafkajs hands eachBatch no fetch whose records were all transaction markers or aborted records; it reports one
  // only as an END_BATCH_PROCESS event with no messages (firstOffset null: nothing at or after the fetched offset).
  if (onMarkersOnly) {
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      const p = event.payload as { topic: string; partition: number; batchSize: number; firstOffset: string | null; lastOffset: string };
      if (p.batchSize === 0 && p.firstOffset !== null) onMarkersOnly({ topic: p.topic, partition: p.partition, first: Number(p.firstOffset), end: Number(p.lastOffset) + 1 });
    });
  }
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    const memberId = (event.payload as { memberId: string }).memberId;
    if (!joined) opts.log?.('consumer.joined', { group: opts.groupId, afterMs: Date.now() - joinStarted, memberId });
    joined = true;
    clearInterval(waitingLog);
    onAssigned?.(memberId);
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 1, eachBatch });
  } catch (err) {
    clearInterval(waitingLog);
    await consumer.disconnect().catch(() => undefined);
    throw classifyKafkaError(err, `starting consumer group ${opts.groupId}`);
  }
  return {
    consumer,
    done,
    live: () => !finished && !crashed,
    fail(err) {
      crashed = true;
      // Called from inside eachBatch: disconnecting there would wait for the running batch, so do it afterwards.
      setImmediate(() => void consumer.disconnect().catch(() => undefined).finally(() => finish(err)));
    },
    async stop() {
      await consumer.disconnect().catch(() => undefined);
      finish();
    },
  };
}

export interface TransactionalOptions {
  groupId: string;
  topics: string[];
  /** Stable per instance: a restarted instance fences its predecessor and aborts its open transaction. */
  transactionalId: string;
  /** Most messages per transaction (a kafkajs batch is split into chunks of this size). */
  maxMessagesPerTransaction?: number;
  backoff?: Partial<BackoffOptions>;
  /** Turns one partition's consumed messages into the records to produce; throw only for systemic errors. */
  transform: (batch: PartitionBatch) => Promise<ProducedRecords[]>;
  onCommitted?: (batch: PartitionBatch, produced: number) => void;
  /** The transaction holds the chunk's output but is not committed yet (for logs and crash tests). */
  onSent?: (batch: PartitionBatch, produced: number) => void;
  onRetry?: (err: CdrflowError, attempt: number) => void;
  /** How long the group waits for a silent member (a killed process) before giving its partitions away. */
  sessionTimeoutMs?: number;
  /** How long one chunk may keep its member's heartbeats going (default MAX_CHUNK_HEARTBEAT_MS; 0: none, a frozen member). */
  maxChunkHeartbeatMs?: number;
  /** What the consumer waits for (joining the group), for the stage's log. */
  log?: StageLog;
}

/**
 * Partition batches transformed at once (kafkajs' partitionsConsumedConcurrently). Their transactions still go one
 * at a time through the one producer; what overlaps is one batch's transform with another's transaction waiting on
 * the broker, and the batches that finish meanwhile commit together. One at a time, normalize spent 39% of a
 * 100,000-record backlog waiting on its transactions (transform 2.06 s, transactions 1.47 s). Twelve (every partition
 * of the default topology) made one member 10% faster on the benchmark's backlog, but with two members (the default),
 * each holding six partitions, end to end it made no difference (16,956 against 17,452 rec/s, 3 interleaved pairs;
 * docs/performance.md), so it stays at three.
 */
export const TRANSFORMS_AT_ONCE = 3;

/**
 * The transactional producer's retries. A commit returns before the broker has written the transaction's markers; a
 * next transaction's first send that arrives meanwhile is answered CONCURRENT_TRANSACTIONS and retried. kafkajs
 * waits its default first retry time (300 ms) for that, and with chunks ready the next send comes at once: 3 such
 * waits in a 6 s normalize run of the pipeline benchmark, the member idle for each. Java's client retries that
 * answer after 20 ms; so does this producer, its later retries doubling from there (to kafkajs's 30 s ceiling).
 * Retries stay unlimited, as kafkajs gives an idempotent producer by default.
 */
export const TRANSACTIONAL_RETRY = { initialRetryTime: 20, retries: Number.MAX_SAFE_INTEGER } as const;

type KafkajsMessage = ReturnType<typeof toKafkajsMessage>;

/**
 * Records to produce, as sends in order, none of which gives a partition more than MAX_PARTITION_SEND_BYTES. A keyed
 * record's partition is the one the producer's partitioner picks (core/partitioner.ts) among `partitions(topic)`; a
 * keyless one counts against every partition of its topic.
 */
export function sendsOf(produced: readonly ProducedRecords[], partitions: (topic: string) => number): { topic: string; messages: KafkajsMessage[] }[][] {
  const sends: Map<string, KafkajsMessage[]>[] = [];
  let current = new Map<string, KafkajsMessage[]>();
  /** Per topic, bytes in the current send: per partition, and of keyless records (which may land on any one). */
  let fills = new Map<string, { keyless: number; byPartition: Map<number, number> }>();
  for (const { topic, messages } of produced) {
    const count = partitions(topic);
    for (const m of messages) {
      const size = messageBytes(m);
      const partition = m.key === null ? undefined : partitionOfKey(m.key, count);
      let fill = fills.get(topic);
      const fullest = !fill ? 0 : fill.keyless + (partition === undefined ? Math.max(0, ...fill.byPartition.values()) : (fill.byPartition.get(partition) ?? 0));
      if (current.size > 0 && fullest + size > MAX_PARTITION_SEND_BYTES) {
        sends.push(current);
        current = new Map();
        fills = new Map();
        fill = undefined;
      }
      if (!fill) {
        fill = { keyless: 0, byPartition: new Map() };
        fills.set(topic, fill);
      }
      if (partition === undefined) fill.keyless += size;
      else fill.byPartition.set(partition, (fill.byPartition.get(partition) ?? 0) + size);
      const into = current.get(topic) ?? [];
      into.push(toKafkajsMessage(m));
      current.set(topic, into);
    }
  }
  if (current.size > 0) sends.push(current);
  return sends.map((send) => [...send].map(([topic, messages]) => ({ topic, messages })));
}

/** A transformed chunk waiting for its transaction. */
interface ReadyChunk {
  chunk: PartitionBatch;
  produced: ProducedRecords[];
  count: number;
  /** The group generation the chunk's batch was fetched in: its offsets commit only while that generation holds. */
  membership: GroupMembership | undefined;
  settle: (err?: unknown) => void;
}

/** A member's place in its group since the join that gave it `memberId` (undefined: that join was not seen here). */
function groupMembership(groupId: string, memberId: string): GroupMembership | undefined {
  const generationId = joinedGeneration(memberId);
  return generationId === undefined ? undefined : { groupId, memberId, generationId };
}

/** A batch whose group generation is unknown: its offsets cannot be committed fenced. */
export function unknownGeneration(groupId: string): CdrflowError {
  return new CdrflowError('config', `no group generation known for ${groupId}: kafkajs's consumer group join was not seen (cdrflow is built on kafkajs 2.2.4)`, { code: 'KAFKAJS_INTERNALS' });
}

/**
 * The committed offset of each partition a member was given, read stably (core/kafka-stable-offsets.ts) at its first
 * batch after each join. kafkajs starts a partition from the offset the group coordinator has materialized; the
 * previous owner's last transaction may have committed offsets beyond it that are not materialized yet, and the
 * records below the stable offset were already handled and committed by that owner.
 */
function stableStarts(kafka: Kafka, groupId: string, log: StageLog | undefined) {
  const reader = stableOffsetReader(kafka, groupId);
  const stableFrom = new Map<string, number | undefined>();
  return {
    /** A (re)join may bring partitions another member owned: their stable offsets are read again. */
    joined: () => stableFrom.clear(),
    close: () => reader.close(),
    /**
     * How many of the batch's first records the partition's previous owner committed (resolved here, so the next
     * fetch goes past them); null: the consumer stopped or moved on while it waited.
     */
    async committedIn(payload: EachBatchPayload): Promise<number | null> {
      const { batch } = payload;
      const key = `${batch.topic}:${batch.partition}`;
      if (!stableFrom.has(key)) {
        // A broker or network failure here is a Kafka error like any other (transient: the stage restarts).
        const stable = await waitStableOffset(reader, batch.topic, batch.partition, {
          running: () => payload.isRunning() && !payload.isStale(),
          // A long wait (a dead member's transaction under another id lasts until its timeout) keeps the membership.
          heartbeat: () => payload.heartbeat(),
          onWaiting: (waitedMs) =>
            log?.('consumer.waiting_for_stable_offset', {
              group: groupId,
              topic: batch.topic,
              partition: batch.partition,
              waitedMs,
              why: 'a transaction that commits offsets of this partition is not finished (it ends by its commit, its abort, or the transaction timeout)',
            }),
        }).catch((err: unknown) => {
          throw err instanceof CdrflowError ? err : classifyKafkaError(err, `reading the committed offset of ${batch.topic}[${batch.partition}]`);
        });
        if (stable === null) return null;
        stableFrom.set(key, stable);
      }
      const from = stableFrom.get(key);
      let first = 0;
      if (from === undefined) return first;
      while (first < batch.messages.length && Number(batch.messages[first]!.offset) < from) first++;
      if (first > 0) {
        log?.('consumer.skipped_committed', {
          group: groupId,
          topic: batch.topic,
          partition: batch.partition,
          records: first,
          firstOffset: Number(batch.messages[0]!.offset),
          committedOffset: from,
          why: "the partition's previous owner committed these records in a transaction not yet materialized when this member read its offset",
        });
        payload.resolveOffset(batch.messages[first - 1]!.offset);
      }
      return first;
    },
  };
}

/** A consumer group's offsets to commit in a transaction, per topic: the offset after the last record handled. */
export type GroupOffsets = Map<string, { partition: number; offset: string }[]>;

export interface OffsetTransactionsOptions {
  groupId: string;
  transactionalId: string;
  /**
   * How long the broker lets a transaction of this producer stay open before it aborts it itself: a producer that
   * died with one open (killed) holds its topics' last stable offset, and so every read_committed reader behind it,
   * that long, unless a producer with the same transactional id starts first and aborts it.
   */
  transactionTimeoutMs: number;
  backoff?: Partial<BackoffOptions>;
  onRetry?: (err: CdrflowError, attempt: number) => void;
  log?: StageLog;
}

/** A transactional producer that commits records together with a consumer group's offsets (connectOffsetTransactions). */
export interface OffsetTransactions {
  /**
   * One transaction: `produced`, then `offsets` committed under `membership`'s generation, then the commit. A
   * transient failure aborts it and tries again; anything else, or a refusal of the offsets (the group moved on from
   * that generation: the client's rejoin error is among the causes), aborts it and throws. Once an abort failed,
   * every call throws `broken` (whose causes hold no rejoin error): the producer is done, the stage must restart.
   */
  commit(produced: readonly ProducedRecords[], offsets: GroupOffsets, membership: GroupMembership, what: () => string, onSent?: () => void): Promise<void>;
  readonly broken: CdrflowError | undefined;
  disconnect(): Promise<void>;
}

/**
 * Connects a transactional producer (idempotent, one request in flight, as kafkajs requires of one) and takes its
 * transactional id at once: a predecessor with the same id is fenced and its open transaction aborted now, before the
 * caller joins its group — otherwise the caller's first stable offset read would wait on the predecessor's pending
 * offsets until the broker's transaction timeout aborted them. A transaction with nothing in it ends without a
 * broker request.
 */
export async function connectOffsetTransactions(kafka: Kafka, options: OffsetTransactionsOptions): Promise<OffsetTransactions> {
  const producer: Producer = kafka.producer({
    transactionalId: options.transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    transactionTimeout: options.transactionTimeoutMs,
    createPartitioner: keyPartitioner,
    retry: { ...TRANSACTIONAL_RETRY },
  });
  try {
    await producer.connect();
    await (await producer.transaction()).abort();
  } catch (err) {
    await producer.disconnect().catch(() => undefined);
    throw classifyKafkaError(err, `connecting transactional producer ${options.transactionalId}`);
  }
  let broken: CdrflowError | undefined;

  // Partition counts of the topics written, asked once per topic while the producer lives (sendsOf bounds each
  // partition's share of a send with them).
  const partitionCounts = new Map<string, number>();
  const learnPartitions = async (topics: string[]) => {
    const missing = topics.filter((t) => !partitionCounts.has(t));
    if (missing.length === 0) return;
    const admin = kafka.admin();
    try {
      await admin.connect();
      const { topics: found } = await admin.fetchTopicMetadata({ topics: missing });
      for (const t of found) partitionCounts.set(t.name, Math.max(1, t.partitions.length));
    } catch (err) {
      throw classifyKafkaError(err, `reading the partitions of ${missing.join(', ')}`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };

  return {
    get broken() {
      return broken;
    },
    disconnect: () => producer.disconnect(),
    async commit(given, offsets, membership, what, onSent) {
      const produced = given.filter((p) => p.messages.length > 0);
      let sends: ReturnType<typeof sendsOf> | undefined;
      await retry(
        async () => {
          if (broken) throw broken;
          if (sends === undefined) {
            await learnPartitions([...new Set(produced.map((p) => p.topic))]);
            sends = sendsOf(produced, (topic) => partitionCounts.get(topic) ?? 1);
          }
          const tx = await producer.transaction().catch((err: unknown) => {
            throw classifyKafkaError(err, 'beginning a transaction');
          });
          try {
            for (const topicMessages of sends) {
              await tx.sendBatch({ topicMessages, acks: -1 }).catch((err: unknown) => {
                // Refused as too large: the topic's limit, said with its records (core/kafka.ts); it stops the stage
                // (config), the transaction aborted below, and the chunk is written once the limit is raised.
                throw tooLargeError(err, topicMessages, `transaction for ${what()}`) ?? err;
              });
            }
            onSent?.();
            await withGroupMembership(options.transactionalId, membership, () =>
              tx.sendOffsets({ consumerGroupId: options.groupId, topics: [...offsets].map(([topic, partitions]) => ({ topic, partitions })) }),
            ).catch((err: unknown) => {
              const refusal = clientRejoinError(err) as { type?: string } | undefined;
              if (refusal?.type === 'UNKNOWN_MEMBER_ID' || refusal?.type === 'ILLEGAL_GENERATION') {
                options.log?.('consumer.commit_refused', {
                  group: options.groupId,
                  transactionalId: options.transactionalId,
                  memberId: membership.memberId,
                  generationId: membership.generationId,
                  refusedAs: refusal.type,
                  chunks: what(),
                  why: "the group moved on from this member's generation (it was silent longer than the session timeout, or rejoined): the transaction is aborted and these records go to their partitions' current owners",
                });
              }
              throw err;
            });
            await tx.commit();
          } catch (err) {
            const failure = classifyKafkaError(err, `transaction for ${what()}`);
            await tx.abort().catch((abortErr: unknown) => {
              // The client's transaction state is now stuck (e.g. ABORTING after a dropped connection) and every next
              // call on this producer would fail with a state error: give up on it. The stage restarts with a new
              // producer, whose init fences and aborts this transaction on the broker (or, under a new transactional
              // id, the broker's transaction timeout does). Its cause is the abort's failure, not `err`: a refusal
              // among its causes would have a consumer rejoin and try this producer again, for good.
              broken = new CdrflowError(failure.kind === 'transient' ? 'transient' : failure.kind, `${failure.message} (and the abort failed: ${(abortErr as Error).message})`, {
                code: failure.code ?? 'TRANSACTION_ABORT_FAILED',
                cause: abortErr,
              });
            });
            throw broken ?? failure;
          }
        },
        options.backoff ?? RETRY.kafkaWrite,
        { onRetry: (err, attempt) => options.onRetry?.(err, attempt), retryIf: (err) => broken === undefined && clientRejoinError(err) === undefined },
      );
    },
  };
}

/**
 * Consume-transform-produce, exactly once: each chunk's output and its consumed offsets are committed in one Kafka
 * transaction; chunks of other partitions transformed meanwhile commit together with it, in the same transaction.
 * A transient failure aborts the transaction and retries the same chunks; anything else stops.
 */
export async function runTransactional(kafka: Kafka, options: TransactionalOptions): Promise<StreamHandle> {
  const transactions = await connectOffsetTransactions(kafka, {
    groupId: options.groupId,
    transactionalId: options.transactionalId,
    transactionTimeoutMs: 60_000,
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const chunkSize = options.maxMessagesPerTransaction ?? 2_000;
  // The batch handler may run before startConsumer returns; it reaches the runner through this holder.
  const ref: { runner?: Runner } = {};

  /** One transaction for the chunks of a group (at most one per partition: a partition's next chunk waits for this one). */
  const commitGroup = async (group: ReadyChunk[]) => {
    const offsets: GroupOffsets = new Map();
    for (const { chunk } of group) {
      const partitions = offsets.get(chunk.topic) ?? [];
      partitions.push({ partition: chunk.partition, offset: String(chunk.messages[chunk.messages.length - 1]!.offset + 1) });
      offsets.set(chunk.topic, partitions);
    }
    // Every batch comes after a join this process saw; without its generation a chunk's commit could not be fenced.
    const memberships = group.map((c) => c.membership);
    if (memberships.includes(undefined)) throw unknownGeneration(options.groupId);
    // The offsets commit under the oldest generation among the chunks: a group that spans a rejoin is refused whole,
    // and its chunks are read again by their partitions' owners.
    const membership = (memberships as GroupMembership[]).reduce((oldest, m) => (m.generationId < oldest.generationId ? m : oldest));
    // Worded only when a transaction fails.
    const what = () => group.map(({ chunk }) => `${chunk.topic}[${chunk.partition}] offsets ${chunk.messages[0]!.offset}-${chunk.messages[chunk.messages.length - 1]!.offset}`).join(', ');
    await transactions.commit(group.flatMap((c) => c.produced), offsets, membership, what, () => {
      for (const { chunk, count } of group) options.onSent?.(chunk, count);
    });
    for (const { chunk, count } of group) options.onCommitted?.(chunk, count);
  };

  // Chunks transformed while a transaction runs wait here; the next transaction takes all of them.
  const ready: ReadyChunk[] = [];
  let committing = false;
  const commitReady = async () => {
    if (committing) return;
    committing = true;
    while (ready.length > 0) {
      const group = ready.splice(0, ready.length);
      const failure = await commitGroup(group).then(
        () => undefined,
        (err: unknown) => err ?? new Error('transaction failed'),
      );
      for (const c of group) c.settle(failure);
    }
    committing = false;
  };
  const commit = (chunk: PartitionBatch, produced: ProducedRecords[], membership: GroupMembership | undefined) =>
    new Promise<void>((resolve, reject) => {
      let count = 0;
      for (const p of produced) count += p.messages.length;
      ready.push({ chunk, produced, count, membership, settle: (err) => (err === undefined ? resolve() : reject(err)) });
      void commitReady();
    });

  const starts = stableStarts(kafka, options.groupId, options.log);
  // This member's generation in the group since its latest join (core/kafka-fenced-offsets.ts).
  let membership: GroupMembership | undefined;
  const beatEveryMs = heartbeatIntervalOf(options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS);
  const maxChunkMs = options.maxChunkHeartbeatMs ?? MAX_CHUNK_HEARTBEAT_MS;
  const consumerOptions = {
    groupId: options.groupId,
    topics: options.topics,
    fromBeginning: true,
    partitionsConsumedConcurrently: TRANSFORMS_AT_ONCE,
    ...(options.sessionTimeoutMs ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
    ...(options.log ? { log: options.log } : {}),
  };
  // A consumer that cannot start (the group's coordinator unreachable, a topic missing) leaves no producer behind:
  // its connections and transactional id would outlive the stage that failed, and a restarted stage makes its own.
  const runner = await startConsumer(
    kafka,
    consumerOptions,
    async (payload) => {
      const { batch } = payload;
      // Batches are fetched only after a join completed; the generation of that join is the one this batch belongs to.
      const fetchedAs = membership;
      try {
        const first = await starts.committedIn(payload);
        if (first === null) return;
        for (let i = first; i < batch.messages.length; i += chunkSize) {
          if (!payload.isRunning() || payload.isStale()) return;
          const messages = batch.messages.slice(i, i + chunkSize).map((m) => toConsumed(batch.topic, batch.partition, m));
          const chunk = { topic: batch.topic, partition: batch.partition, messages };
          // One budget for the chunk's transform and its commit together (MAX_CHUNK_HEARTBEAT_MS).
          const committed = await heartbeating(
            payload,
            beatEveryMs,
            async () => {
              const produced = await options.transform(chunk);
              // A rebalance while it transformed: the partition's next owner reads the chunk again.
              if (!payload.isRunning() || payload.isStale()) return false;
              await commit(chunk, produced, fetchedAs);
              return true;
            },
            maxChunkMs,
          );
          if (!committed) return;
          payload.resolveOffset(messages[messages.length - 1]!.offset.toString());
          await payload.heartbeat();
        }
      } catch (err) {
        // A rebalance (seen by the heartbeat or the offsets' commit): the client rejoins by itself when its own error
        // leaves the handler; the chunk in flight was not committed and is delivered again to its next owner.
        const rejoin = clientRejoinError(err);
        if (rejoin !== undefined) throw rejoin;
        const failure = asCdrflowError(err);
        ref.runner?.fail(failure);
        throw failure;
      }
    },
    // Every (re)join may bring partitions another member owned: their stable offsets are read again; and it starts a
    // new generation, under which this member's later commits go.
    (memberId) => {
      starts.joined();
      membership = groupMembership(options.groupId, memberId);
    },
  ).catch(async (err: unknown) => {
    await transactions.disconnect().catch(() => undefined);
    await starts.close();
    throw err;
  });
  ref.runner = runner;

  const done = runner.done.finally(() => Promise.all([transactions.disconnect().catch(() => undefined), starts.close()]));
  done.catch(() => undefined);
  return {
    done,
    async stop() {
      await runner.stop();
      await transactions.disconnect().catch(() => undefined);
      await starts.close();
    },
  };
}

export interface ManualCommitContext {
  /** Resolve = "read into memory"; the next fetch continues after it. Not a commit. */
  resolve(offset: number): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
}

/** A fetched range of a partition that held only transaction markers and aborted records: [first, end). */
export interface MarkersOnly {
  topic: string;
  partition: number;
  first: number;
  end: number;
}

export interface BatchConsumerOptions {
  groupId: string;
  topics: string[];
  handle: (batch: PartitionBatch, ctx: ManualCommitContext) => Promise<void>;
  /** A fetch with nothing to handle: committing past it skips nothing, once everything before `first` is committed. */
  onMarkersOnly?: (range: MarkersOnly) => void;
  /** Called on every (re)join: buffered, uncommitted work must be dropped, it will be delivered again. */
  onRebalance?: () => void;
  /**
   * Read each partition's committed offset stably at its first batch after each join (stableStarts): for a stage
   * that commits some of its offsets in transactions (the cdr sink's ranges with dead letters).
   */
  stableOffsets?: boolean;
  sessionTimeoutMs?: number;
  log?: StageLog;
}

export interface BatchConsumerHandle extends StreamHandle {
  /**
   * Commits `nextOffset` (last processed + 1) for a partition. Given the group generation its records were fetched in
   * (`PartitionBatch.membership`), commits under it: refused (transient, GROUP_MOVED_ON) once the group moved on.
   */
  commit(topic: string, partition: number, nextOffset: number, fetchedAs?: GroupMembership): Promise<void>;
  /** Stops the consumer because of a systemic error; `done` rejects with it. */
  fail(err: CdrflowError): void;
  /** The group's committed offset of a partition (its log start when none is), as the broker has it now. */
  committedOffset(topic: string, partition: number): Promise<number | undefined>;
}

/** A read_committed consumer whose offsets are committed only when the caller says its output is durable. */
export async function runBatchConsumer(kafka: Kafka, options: BatchConsumerOptions): Promise<BatchConsumerHandle> {
  const ref: { runner?: Runner } = {};
  const starts = options.stableOffsets ? stableStarts(kafka, options.groupId, options.log) : undefined;
  const beatEveryMs = heartbeatIntervalOf(options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS);
  // This member's generation in the group since its latest join (core/kafka-fenced-offsets.ts).
  let membership: GroupMembership | undefined;
  const runner = await startConsumer(
    kafka,
    {
      groupId: options.groupId,
      topics: options.topics,
      fromBeginning: true,
      ...(options.sessionTimeoutMs ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
      ...(options.log ? { log: options.log } : {}),
    },
    async (payload) => {
      const { batch } = payload;
      const fetchedAs = membership;
      try {
        const first = starts ? await starts.committedIn(payload) : 0;
        if (first === null) return;
        const messages = batch.messages.slice(first).map((m) => toConsumed(batch.topic, batch.partition, m));
        if (messages.length === 0) return;
        await heartbeating(payload, beatEveryMs, () => options.handle(
          {
            topic: batch.topic,
            partition: batch.partition,
            messages,
            highWatermark: Number(batch.highWatermark),
            end: Number(batch.lastOffset()) + 1,
            ...(fetchedAs ? { membership: fetchedAs } : {}),
          },
          {
            resolve: (offset) => payload.resolveOffset(String(offset)),
            heartbeat: () => payload.heartbeat(),
            isRunning: () => payload.isRunning() && !payload.isStale(),
          },
        ));
      } catch (err) {
        // As above: a rebalance is the client's to handle (rejoin); the handler's buffered work is dropped by onRebalance.
        const rejoin = clientRejoinError(err);
        if (rejoin !== undefined) throw rejoin;
        const failure = asCdrflowError(err);
        if (disposition(failure) === 'stop') ref.runner?.fail(failure);
        throw failure;
      }
    },
    (memberId) => {
      starts?.joined();
      membership = groupMembership(options.groupId, memberId);
      options.onRebalance?.();
    },
    options.onMarkersOnly,
  ).catch(async (err: unknown) => {
    await starts?.close();
    throw err;
  });
  ref.runner = runner;
  const r = runner;
  // kafkajs 2.2.4's commitOffsets returns without a word once its runner no longer runs: during a stop, and during a
  // crash of its own, whose CRASH event (what r.live() goes by) comes only after it left the group and disconnected.
  // The offset was never sent, and a caller that counted it committed (the batcher's stats and onCommitted) counted
  // records that the stage, restarted from the committed offsets, reads and counts again. kafkajs reports every commit
  // the broker acknowledged as a COMMIT_OFFSETS event before commitOffsets resolves: a commit without one did not happen.
  const pendingCommits = new Set<{ topic: string; partition: number; offset: string; acknowledged: boolean }>();
  r.consumer.on(r.consumer.events.COMMIT_OFFSETS, (event) => {
    const { topics } = event.payload as { topics: { topic: string; partitions: { partition: number; offset: unknown }[] }[] };
    for (const { topic, partitions } of topics) {
      for (const p of partitions) {
        for (const c of pendingCommits) if (c.topic === topic && c.partition === p.partition && c.offset === String(p.offset)) c.acknowledged = true;
      }
    }
  });
  const done = starts ? r.done.finally(() => starts.close()) : r.done;
  done.catch(() => undefined);
  return {
    done,
    async stop() {
      await r.stop();
      await starts?.close();
    },
    fail: (err) => r.fail(err),
    async committedOffset(topic, partition) {
      try {
        return (await groupLag(kafka, options.groupId, [topic])).find((p) => p.partition === partition)?.committed;
      } catch (err) {
        throw classifyKafkaError(err, `reading group ${options.groupId}'s offset of ${topic}[${partition}]`);
      }
    },
    async commit(topic, partition, nextOffset, fetchedAs) {
      const what = `committing ${topic}[${partition}] at ${nextOffset}`;
      // A consumer that crashed (broker gone, rebalance) has no group to commit to; the client then says "not
      // initialized", which is not a bug: the stage restarts and the uncommitted records are delivered again.
      if (!r.live()) throw new CdrflowError('transient', `${what}: the consumer stopped (lost its group); the records are delivered again`, { code: 'CONSUMER_STOPPED' });
      const pending = { topic, partition, offset: String(nextOffset), acknowledged: false };
      pendingCommits.add(pending);
      try {
        // kafkajs commits under the generation it is in when it sends (its retries after a rejoin too), and the
        // coordinator checks the member and generation, not which partitions the member holds: a range fetched
        // before a rebalance, whose insert returned after it, was committed under the new generation even when its
        // partition had gone to another member that had committed further meanwhile, moving the partition's offset
        // back (its next reader read those records again, and published their dead letters again). Sent under the
        // generation its records were fetched in, the coordinator refuses it once the group moved on; the partition's
        // next reader (this member again, or another) commits it, its rows not inserted twice (the batcher's ports.stored).
        const send = () => r.consumer.commitOffsets([{ topic, partition, offset: pending.offset }]);
        await (fetchedAs === undefined ? send() : withPlainCommitMembership(fetchedAs, topic, partition, pending.offset, send));
      } catch (err) {
        if (fetchedAs !== undefined && clientRejoinError(err) !== undefined) {
          throw new CdrflowError('transient', `${what}: the group moved on since its records were fetched (generation ${fetchedAs.generationId}); the partition's next reader commits them`, { code: 'GROUP_MOVED_ON', cause: err });
        }
        // Once kafkajs's stop (or its own crash) dropped its consumer group, a commit is refused as "not initialized"
        // before the CRASH event: the consumer stopped, as below, not a bug that would stop the whole job.
        if (!r.live() || consumerGroupGone(err)) throw new CdrflowError('transient', `${what}: the consumer stopped meanwhile`, { code: 'CONSUMER_STOPPED', cause: err });
        throw classifyKafkaError(err, what);
      } finally {
        pendingCommits.delete(pending);
      }
      if (!pending.acknowledged) throw new CdrflowError('transient', `${what}: the consumer is stopping and the client did not send the commit; the records are delivered again`, { code: 'CONSUMER_STOPPED' });
    },
  };
}

/** kafkajs 2.2.4's refusal of a commit once its consumer's stop has dropped the consumer group (consumer#commitOffsets). */
function consumerGroupGone(err: unknown): boolean {
  return err instanceof Error && err.name === 'KafkaJSNonRetriableError' && err.message.startsWith('Consumer group was not initialized');
}

async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** Log start offset: records before it were deleted by retention (no reader, a replay neither, sees them again). */
  start: number;
  committed: number;
  end: number;
  lag: number;
}

/**
 * Committed offset vs. log end per partition (no committed offset, or one behind the log start, counts as the log
 * start). The end includes transaction markers; cdrflow's batch stages commit past them (PartitionBatch.end), so a
 * caught-up stage is at 0.
 */
export async function groupLag(kafka: Kafka, groupId: string, topics: string[]): Promise<PartitionLag[]> {
  return withAdmin(kafka, async (admin) => {
    const out: PartitionLag[] = [];
    // Only topics that exist: a topic not created yet has nothing to lag behind. Asked for several topics, kafkajs's
    // fetchOffsets looks each up at once and rejects with the first unknown one while the others are still
    // connecting; the admin is then disconnected, and a lookup that connects afterwards leaves a socket open that
    // keeps a one-shot command (`cdrflow status` on a fresh namespace) from exiting (2 of 3 runs hung).
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length === 0) return out;
    const committed = await admin.fetchOffsets({ groupId, topics: present });
    for (const t of committed) {
      const ends = await admin.fetchTopicOffsets(t.topic);
      for (const p of t.partitions) {
        const end = Number(ends.find((e) => e.partition === p.partition)?.high ?? 0);
        const low = Number(ends.find((e) => e.partition === p.partition)?.low ?? 0);
        const c = Number(p.offset) < 0 ? low : Number(p.offset);
        // Behind the log start (retention deleted what the group had not read), the stage reads from the log start
        // (fromBeginning): the deleted records are no lag, it can never read them.
        out.push({ topic: t.topic, partition: p.partition, start: low, committed: c, end, lag: Math.max(0, end - Math.max(c, low)) });
      }
    }
    return out;
  });
}

/**
 * Lag of a group over its topics: log end - committed offset. Exact on transactionally written topics too: the batch
 * stages commit past the transaction markers and aborted records that end a partition (PartitionBatch.end,
 * Batcher.skipMarkers), so a caught-up stage is at 0.
 */
export async function stageLag(kafka: Kafka, groupId: string, topics: string[]): Promise<number> {
  return Object.values(await stageLagByTopic(kafka, groupId, topics)).reduce((s, n) => s + n, 0);
}

/** The same lag per input topic (every topic in `topics` appears, 0 when the group has nothing behind on it). */
export async function stageLagByTopic(kafka: Kafka, groupId: string, topics: string[]): Promise<Record<string, number>> {
  const byTopic: Record<string, number> = Object.fromEntries(topics.map((t) => [t, 0]));
  for (const p of await groupLag(kafka, groupId, topics)) byTopic[p.topic] = (byTopic[p.topic] ?? 0) + p.lag;
  return byTopic;
}

/** A group's state as its coordinator describes it; `live`: neither Empty nor Dead (a group never seen is Dead). */
export interface GroupState {
  state: string | undefined;
  members: number;
  live: boolean;
}

async function describeGroupState(admin: Admin, groupId: string): Promise<GroupState> {
  const group = (await admin.describeGroups([groupId])).groups[0];
  const state = group?.state;
  return { state, members: group?.members.length ?? 0, live: state !== undefined && state !== 'Empty' && state !== 'Dead' };
}

/** Whether a group has live members, before anything is done to it (a reset of a live group is refused). */
export async function groupState(kafka: Kafka, groupId: string): Promise<GroupState> {
  return withAdmin(kafka, (admin) => describeGroupState(admin, groupId));
}

/** Whether the group has a committed offset on any partition of `topics` (a group never used has none). */
export async function groupHasCommitted(kafka: Kafka, groupId: string, topics: string[]): Promise<boolean> {
  return withAdmin(kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length === 0) return false;
    const committed = await admin.fetchOffsets({ groupId, topics: present });
    return committed.some((t) => t.partitions.some((p) => Number(p.offset) >= 0));
  });
}

/** Sets a (stopped) group's committed offsets to the start of each topic: the next run re-reads everything. */
export async function resetGroupToEarliest(kafka: Kafka, groupId: string, topics: string[]): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    const { state, live } = await describeGroupState(admin, groupId);
    if (live) {
      throw new CdrflowError('config', `consumer group ${groupId} is ${state}; stop its members before resetting it`);
    }
    const existing = new Set(await admin.listTopics());
    for (const topic of topics) {
      if (!existing.has(topic)) continue;
      await admin.resetOffsets({ groupId, topic, earliest: true });
    }
  });
}

/** Log end offsets of a topic, per partition (for progress and tests). */
export async function topicEndOffsets(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  return withAdmin(kafka, async (admin) => new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)])));
}
