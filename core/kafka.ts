// The only module that imports the Kafka client library (kafkajs is in maintenance mode; swapping it must be a
// one-file change). Everything else talks to Kafka through the small types below.
// First, before kafkajs loads: what cdrflow changes in it (core/kafkajs-setup.ts).
import './kafkajs-setup.ts';
// Then: reads record batches in every codec Kafka has, not only gzip (core/compression/).
import './compression/index.ts';
import { createRequire } from 'node:module';
import { LimitedLog } from './log-limit.ts';
import { logger, rootLevelEnabled, type LogFn, type LogLevel } from './log.ts';
import { Kafka, logLevel, type Admin, type Producer, type Consumer, type KafkaConfig, type ConsumerConfig } from 'kafkajs';
import { CdrflowError, KAFKA_TOO_LARGE_TYPES, asCdrflowError, classifyError, disposition } from './errors.ts';
import { keyPartitioner } from './partitioner.ts';
import { quote } from './input-limits.ts';
import { unreadableLine } from './kafkajs-unreadable-batch.ts';

/**
 * Bytes one partition takes from one produce call, at most (keys, values, headers and ~24 bytes of framing per
 * record): kafkajs puts a partition's share of a send into one record batch, and the broker refuses a batch above
 * message.max.bytes (1 MiB by default) with MESSAGE_TOO_LARGE, which no retry mends. A transaction's output goes in
 * as many sends as it takes (sendsOf in kafka-streams.ts); a single record larger than this goes alone. An
 * AckedPublisher call (pollers, receivers, dead letters) bounds each of its sends' total by it, stricter and simpler.
 */
export const MAX_PARTITION_SEND_BYTES = 768 * 1024;

/** Kafka's default message.max.bytes (1 MiB and a batch header's 12 bytes): it takes every send cdrflow makes. */
const KAFKA_DEFAULT_MESSAGE_MAX_BYTES = 1_048_588;

/**
 * The one error for a send the broker refused as larger than it takes (KAFKA_TOO_LARGE_TYPES), else undefined. The
 * broker refuses a record batch, not a record, and does not say its limit: with a topic's max.message.bytes set
 * below what cdrflow writes, batches of good records are refused as well as any large one. So the write stops
 * (kind config) and nothing is dead-lettered: a pusher's request is answered retry-later, a poller's window and a
 * stage's transaction are not committed, and all of it is written once the limit is raised. The message names the
 * topic(s), the largest record (key and size) and the value to raise the limit to; `what` (as classifyError's) what failed.
 */
export function tooLargeError(err: unknown, sends: readonly { topic: string; messages: readonly OutgoingMessage[] }[], what?: string): CdrflowError | undefined {
  const code = classifyError(err).code;
  if (code === undefined || !KAFKA_TOO_LARGE_TYPES.has(code)) return undefined;
  let count = 0;
  let total = 0;
  let largest: OutgoingMessage | undefined;
  let largestBytes = 0;
  for (const { messages } of sends) {
    for (const m of messages) {
      const bytes = messageBytes(m);
      count++;
      total += bytes;
      if (bytes > largestBytes) [largest, largestBytes] = [m, bytes];
    }
  }
  const topics = [...new Set(sends.map((s) => s.topic))];
  const key = largest?.key == null ? 'no key' : `key ${quote(typeof largest.key === 'string' ? largest.key : largest.key.toString('utf8'), 64)}`;
  const needed = Math.max(KAFKA_DEFAULT_MESSAGE_MAX_BYTES, largestBytes + 1024);
  // What to do comes first: a receiver's refusal log keeps a line's first 300 characters.
  return new CdrflowError(
    'config',
    `${what ? `${what}: ` : ''}Kafka refused ${count} message(s) for topic ${topics.join(', ')} as too large (${code}): raise max.message.bytes of ${topics.length > 1 ? 'these topics' : 'the topic'} ` +
      `(or the broker's message.max.bytes) to at least ${needed} bytes; the largest, ${key}, is ${largestBytes} bytes, ${total} in all, and cdrflow writes up to ${MAX_PARTITION_SEND_BYTES} bytes to a partition at once`,
    { code, cause: err },
  );
}

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  /** SASL/SSL for a real cluster; local and test runs use plaintext on loopback. */
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export interface OutgoingMessage {
  key: string | Buffer | null;
  value: Buffer;
  headers?: Record<string, string>;
}

export interface TopicSpec {
  topic: string;
  partitions?: number;
  compacted?: boolean;
  /** Extra topic configs (retention.ms, ...). */
  config?: Record<string, string>;
}

// kafkajs' own entries go through the project's logger as component `kafka`. It logs every retried request at
// ERROR although the retry usually succeeds, and our components report what really failed: so its errors are
// warnings here (kafkajsLogLevel says which are not even that), and below LOG_LEVEL=debug only its errors are asked
// for at all.
const KAFKAJS_LEVEL: Record<number, LogLevel> = { [logLevel.ERROR]: 'warn', [logLevel.WARN]: 'warn', [logLevel.INFO]: 'debug', [logLevel.DEBUG]: 'debug' };

/**
 * Kafka protocol error types that kafkajs logs at ERROR in normal operation and that are handled without anyone
 * doing anything, so they are debug entries (in the log file with --log-level debug, never on a person's terminal):
 * - CONCURRENT_TRANSACTIONS: a transaction's first send reaches the broker while it still writes the previous
 *   commit's markers; the transactional producer retries it after 20 ms on purpose (TRANSACTIONAL_RETRY in
 *   core/kafka-streams.ts). kafkajs logs the broker's answer, then its retry ("Failed to send messages: …").
 * - REBALANCE_IN_PROGRESS: a heartbeat (or a commit) answered while the group rebalances; kafkajs rejoins the group,
 *   and a stage's chunk whose commit it refused is delivered again to its next owner (kafka-streams.ts).
 * The demo's first 50 s logged 27 such warnings, 138 in 8 minutes, mixed into its status lines.
 */
const ROUTINE_KAFKA_TYPES: ReadonlySet<string> = new Set(['CONCURRENT_TRANSACTIONS', 'REBALANCE_IN_PROGRESS']);

// kafkajs's entries carry no error type: the broker's answer is logged as "Response <Api>(key: …, version: …)" with
// `error` set to the protocol error's message, the producer's retry of it as "Failed to send messages: <message>".
// That message is the fixed text of its type in kafkajs's table of protocol errors (each text distinct), so the type
// is looked up there by the whole text — a reworded message in a newer kafkajs changes the table too, and a text
// that is not in it is no routine type. The same table core/kafka-fenced-offsets.ts creates kafkajs's errors from.
const { errorCodes } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { errorCodes: { type: string; message: string }[] };
const ROUTINE_TYPE_BY_MESSAGE: ReadonlyMap<string, string> = new Map(errorCodes.filter((e) => ROUTINE_KAFKA_TYPES.has(e.type)).map((e) => [e.message, e.type]));
/** kafkajs's own words before the error's message when it retries a send (kafkajs/src/producer/sendMessages.js). */
const SEND_RETRY_PREFIX = 'Failed to send messages: ';

/**
 * kafkajs namespaces whose ERROR entries are about reaching a broker: connecting (refused, timed out, a seed broker
 * rotated) and the broker's error answers before the client retries or gives up. A one-shot command (status, tail,
 * dlq, replay) fails with its own one line when they matter (cli/kafka-access.ts), so in one there they are debug.
 */
const CONNECTION_NAMESPACES: ReadonlySet<string> = new Set(['Connection', 'BrokerPool']);

/** One entry as kafkajs hands it to a logCreator. */
export interface KafkajsLogEntry {
  namespace?: string;
  level: number;
  log: Record<string, unknown>;
}

/** The protocol error type an entry is about, when it is a routine one (see ROUTINE_KAFKA_TYPES). */
export function routineKafkaType(fields: Record<string, unknown>): string | undefined {
  const { type, error, message } = fields;
  if (typeof type === 'string') return ROUTINE_KAFKA_TYPES.has(type) ? type : undefined;
  if (typeof error === 'string') return ROUTINE_TYPE_BY_MESSAGE.get(error);
  if (typeof message !== 'string') return undefined;
  return ROUTINE_TYPE_BY_MESSAGE.get(message.startsWith(SEND_RETRY_PREFIX) ? message.slice(SEND_RETRY_PREFIX.length) : message);
}

/**
 * Our level for one kafkajs entry: its INFO and DEBUG are debug; its ERROR and WARN are warnings, except the routine
 * conditions above (debug everywhere) and, in a one-shot command, the connection chatter (debug there).
 */
export function kafkajsLogLevel(entry: KafkajsLogEntry, options: { oneShot?: boolean } = {}): LogLevel {
  const level = KAFKAJS_LEVEL[entry.level] ?? 'debug';
  if (level === 'debug') return level;
  if (routineKafkaType(entry.log) !== undefined) return 'debug';
  if (options.oneShot && CONNECTION_NAMESPACES.has(entry.namespace ?? '')) return 'debug';
  return level;
}

/**
 * kafkajs logs every retried request, per client: a broker that answers each request with an error (a broken or
 * misconfigured cluster) is one warning per request and retry. The warnings are limited per namespace
 * (core/log-limit.ts, the rest summed up in `kafka.client_suppressed`); debug entries, written only at
 * --log-level debug where every one is asked for, are not.
 */
export function kafkajsLogCreator(oneShot: boolean, log: LogFn = logger('kafka'), now?: () => number): NonNullable<KafkaConfig['logCreator']> & { close(): void } {
  const warnings = new LimitedLog(log, now);
  const creator: NonNullable<KafkaConfig['logCreator']> = () => (entry) => {
    const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry.log as { message: string; timestamp?: string; logger?: string } & Record<string, unknown>;
    const level = kafkajsLogLevel(entry, { oneShot });
    if (level === 'debug') log(level, 'kafka.client', { message, namespace: entry.namespace, ...fields });
    else warnings.line(level, 'kafka.client', { namespace: entry.namespace ?? '' }, { message, ...fields });
  };
  return Object.assign(creator, { close: () => warnings.close() });
}

/**
 * A client of createKafka. `closeLog` sums up the last second's limited warnings (`kafka.client_suppressed`): its owner
 * calls it once done with the client, as the process may end before the limiter's one-second timer runs.
 */
export type KafkaClient = Kafka & { closeLog(): void };

/**
 * `oneShot`: the client of a command that reads and ends (status, tail, dlq, replay), which reports a Kafka it could
 * not reach in one line of its own: kafkajs's connection chatter is debug there (kafkajsLogLevel).
 */
export function createKafka(settings: KafkaSettings, retry?: KafkaConfig['retry'], options: { oneShot?: boolean } = {}): KafkaClient {
  const logCreator = kafkajsLogCreator(options.oneShot ?? false);
  const config: KafkaConfig = {
    ...connectionConfig(settings),
    logLevel: rootLevelEnabled('debug') ? logLevel.INFO : logLevel.ERROR,
    logCreator,
    connectionTimeout: 3000,
    requestTimeout: 30000,
  };
  if (retry) config.retry = retry;
  return Object.assign(new Kafka(config), { closeLog: logCreator.close });
}

/** Where and how a client connects (the brokers, TLS, SASL): every client of the job's Kafka starts from this. */
function connectionConfig(settings: KafkaSettings): KafkaConfig {
  return {
    clientId: settings.clientId,
    brokers: settings.brokers,
    ...(settings.ssl ? { ssl: true } : {}),
    ...(settings.sasl ? { sasl: settings.sasl as NonNullable<KafkaConfig['sasl']> } : {}),
  };
}

/** No broker of the list could be connected to (refused, timed out, unknown host). */
export class KafkaUnreachableError extends CdrflowError {
  constructor(
    /** The address that failed (the broker kafkajs last tried), else the configured list. */
    readonly address: string,
    /** Why, briefly: the system error code (ECONNREFUSED, ENOTFOUND, …) or the client's words ("Connection timeout"). */
    readonly reason: string,
    cause: unknown,
  ) {
    super('transient', `Kafka at ${address} is not reachable (${reason})`, { code: 'KAFKA_UNREACHABLE', cause });
  }
}

/** kafkajs's errors for a broker it could not connect to or lost; retry wrappers are looked through. */
// A request that timed out: a broker that takes connections but does not answer (stopped, overloaded) is as good as
// unreachable to a command that reads and ends (`status` took 41 s and exited 0 against one: an operator walk).
const CONNECTION_ERROR_NAMES: ReadonlySet<string> = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError']);

/** `err` as a KafkaUnreachableError when it (or an error it wraps) is a connection failure, else undefined. */
export function kafkaUnreachable(err: unknown, brokers: string[]): KafkaUnreachableError | undefined {
  if (err instanceof KafkaUnreachableError) return err;
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const { name, broker, code, message, cause, originalError } = e as { name?: unknown; broker?: unknown; code?: unknown; message?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof name === 'string' && CONNECTION_ERROR_NAMES.has(name)) {
      const reason = typeof code === 'string' && code !== '' ? code : typeof message === 'string' ? message : name;
      return new KafkaUnreachableError(typeof broker === 'string' && broker !== '' ? broker : brokers.join(','), reason, err);
    }
    e = cause ?? originalError;
  }
  return undefined;
}

/**
 * Whether a broker of `settings` answers, asked briefly and silently: a command that reads and ends calls this
 * before its reads, so a Kafka that is not there costs it about a second and one line (KafkaUnreachableError)
 * instead of the client's default retries (some 10 s per client, 16 s for `status`) and a page of their warnings.
 * At most `brokers + 1` connection attempts (each bounded by the connection timeout, 100 ms doubling between them),
 * over the list in turn. Anything else that fails (authentication, TLS) is thrown as the client raised it.
 */
export async function ensureKafkaReachable(settings: KafkaSettings, options: { connectionTimeoutMs?: number } = {}): Promise<void> {
  const admin = new Kafka({
    ...connectionConfig(settings),
    logLevel: logLevel.NOTHING,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    // A broker answers a metadata request in milliseconds; one that has not in 3 s is not answering.
    requestTimeout: 3000,
    retry: { retries: Math.max(1, settings.brokers.length), initialRetryTime: 100, maxRetryTime: 1000 },
  }).admin();
  try {
    // Connecting authenticates; the cluster's description is an answer from Kafka itself (a socket that takes the
    // connection and never answers passed the connect alone).
    try {
      await admin.connect();
    } catch (err) {
      throw kafkaUnreachable(err, settings.brokers) ?? err;
    }
    try {
      await admin.describeCluster();
    } catch (err) {
      throw kafkaUnreachable(err, settings.brokers) ?? new KafkaUnreachableError(settings.brokers.join(','), 'no answer within 3 s', err);
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Whether `topic` exists (a read that must not create it asks this first). */
export async function topicExists(kafka: Kafka, topic: string): Promise<boolean> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).includes(topic);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Creates topics that do not exist yet; existing topics are left alone (idempotent). */
export async function ensureTopics(kafka: Kafka, specs: TopicSpec[]): Promise<void> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length === 0) return;
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.partitions ?? 3,
          replicationFactor: -1,
          configEntries: Object.entries({
            ...(s.compacted ? { 'cleanup.policy': 'compact' } : {}),
            ...(s.config ?? {}),
          }).map(([name, value]) => ({ name, value })),
        })),
      });
    } catch (err) {
      // A busy broker can answer the client's leader wait right after creation with "does not host this
      // topic-partition" (kafkajs gives up on that code): the topics were created, so wait for their metadata instead.
      if ((err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
      await waitForTopicMetadata(admin, missing.map((s) => s.topic));
    }
  } finally {
    await admin.disconnect();
  }
}

async function waitForTopicMetadata(admin: Admin, topics: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      if (found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (err) {
      if (attempt >= 50) throw err;
    }
    if (attempt >= 50) throw new CdrflowError('transient', `topics ${topics.join(', ')} have no partition leaders yet`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A producer whose `send` resolves only when every message is acknowledged by all in-sync replicas
 * (acks=all, idempotent). Push receivers answer the vendor only after this resolves.
 */
export class AckedPublisher {
  private producer: Producer;
  private connected = false;
  /**
   * Set by disconnect(), for good. A send still in flight then (a push the receiver's stop() stopped waiting for)
   * connected the producer again: a connection left open and a process that did not exit.
   */
  private closed = false;

  constructor(private readonly kafka: Kafka) {
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    // maxInFlightRequests 1 keeps per-partition order under retries with kafkajs' idempotent producer.
    return this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: keyPartitioner });
  }

  async connect(): Promise<void> {
    if (this.closed) throw closedPublisher('it cannot connect again');
    if (this.connected) return;
    const producer = this.producer;
    await producer.connect();
    // disconnect() came while this connect was under way: it had nothing connected to close, so this closes it.
    if (this.closed) {
      await producer.disconnect().catch(() => undefined);
      throw closedPublisher('it was closed while connecting');
    }
    this.connected = true;
  }

  /**
   * Resolves once Kafka acknowledged every message. A call of more than MAX_PARTITION_SEND_BYTES goes in several
   * sends, one after the other: a poller's page of large records, or one push near the receiver's body limit whose
   * records share a partition, was refused whole by the broker (MESSAGE_TOO_LARGE) on every retry, for good. If a
   * later send fails, the earlier ones stay written and the caller's retry writes them again: the raw topics are
   * at-least-once, and a record written twice is one call downstream.
   */
  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    if (this.closed) throw closedPublisher(`${messages.length} message(s) for ${topic} were not sent`);
    await this.connect().catch((err: unknown) => {
      throw this.closed ? closedPublisher(`${messages.length} message(s) for ${topic} were not sent`) : err;
    });
    for (const part of bySendBytes(messages)) await this.sendOnce(topic, part);
  }

  private async sendOnce(topic: string, messages: OutgoingMessage[]): Promise<void> {
    const producer = this.producer;
    try {
      await producer.send({ topic, acks: -1, messages: messages.map(toKafkajsMessage) });
    } catch (err) {
      let replaced = '';
      if (producerStateLost(err) && producer === this.producer && !this.closed) {
        // A broker killed after it appended a batch but before it answered: kafkajs takes the batch's sequence
        // numbers back, so the next send (other records, or more of them) reuses them and the broker refuses it as
        // out of order, again on every retry, for good. A new producer gets a new producer id and starts its
        // sequences afresh. The raw topics are at-least-once: a batch written twice is one call downstream.
        this.producer = this.newProducer();
        this.connected = false;
        producer.disconnect().catch(() => {});
        replaced = '; the producer was replaced, the next send starts a new producer id';
      }
      // A refusal as too large is the topic's setting: retried, it was refused for ever without naming the record.
      const tooLarge = tooLargeError(err, [{ topic, messages }]);
      if (tooLarge) throw tooLarge;
      throw new CdrflowError('transient', `Kafka did not acknowledge ${messages.length} message(s) on ${topic}: ${errorMessage(err)}${replaced}`, { cause: err });
    }
  }

  async disconnect(): Promise<void> {
    this.closed = true;
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}

/**
 * A send or connect after disconnect(): the caller's own order of things (a stop that did not wait for its sends), not
 * Kafka's, so no retry can help — kind bug, which stops a poller loudly and fails a push with a retryable answer.
 */
function closedPublisher(what: string): CdrflowError {
  return new CdrflowError('bug', `the Kafka producer is closed: ${what}`);
}

/** Broker answers that no retry of the same producer can fix: its sequence numbers or its id are no longer valid. */
const PRODUCER_STATE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING']);

/** Whether `err` or any error it wraps (kafkajs wraps the broker's answer when it gives up) is one of those. */
export function producerStateLost(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const { type, cause, originalError } = e as { type?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof type === 'string' && PRODUCER_STATE_ERRORS.has(type)) return true;
    e = cause ?? originalError;
  }
  return false;
}

/** kafkajs's framing of one record in a batch, at most, beside its key, value and headers. */
const RECORD_FRAMING_BYTES = 24;

/** What one message adds to its partition's record batch. */
export function messageBytes(m: OutgoingMessage): number {
  let n = RECORD_FRAMING_BYTES + m.value.length + (m.key === null ? 0 : typeof m.key === 'string' ? Buffer.byteLength(m.key) : m.key.length);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/**
 * Messages in order, cut so that no part holds more than MAX_PARTITION_SEND_BYTES in all (so no partition gets more in
 * one record batch, whatever the partitioner picks); a message larger than that is a part alone.
 */
function bySendBytes(messages: OutgoingMessage[]): OutgoingMessage[][] {
  const parts: OutgoingMessage[][] = [];
  let part: OutgoingMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = messageBytes(m);
    if (part.length > 0 && bytes + size > MAX_PARTITION_SEND_BYTES) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(m);
    bytes += size;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

export function toKafkajsMessage(m: OutgoingMessage) {
  return m.headers === undefined ? { key: m.key, value: m.value } : { key: m.key, value: m.value, headers: m.headers };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export type { Kafka, Producer, Consumer, Admin, ConsumerConfig };

/** One message as a scan sees it. */
export interface ScannedMessage {
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
}

export interface ScanOptions {
  /** The whole scan; default 60 s. */
  timeoutMs?: number;
  /** Called once, before the first message, with the number of offsets to read (end - start, summed). */
  onStart?: (totalOffsets: number) => void;
  /** Called as partitions advance (batches holding only transaction markers included), with the offsets covered. */
  onProgress?: (offsets: number) => void;
  /** Ends the scan early, rejecting with the signal's reason. */
  signal?: AbortSignal;
  /**
   * A record batch that could not be read (a compression bomb: core/kafkajs-unreadable-batch.ts) is not visited (its
   * records are not there to see; the stage that reads the topic dead-letters it): it is reported here, with the
   * offset it stands at and the one line saying why.
   */
  onUnreadable?: (m: ScannedMessage & { unreadable: string }) => void;
}

/**
 * Reads a topic (read_committed) from the beginning up to its end as of the call, handing each message to `visit` (in
 * offset order per partition; awaited when it returns a promise; messages that arrive during the scan are not
 * visited). Memory is the caller's: a counter keeps it bounded. A throwaway consumer group is used because kafkajs
 * cannot assign partitions manually; it is deleted afterwards. A fetch that holds only transaction markers (the tail
 * of a transactional topic) never reaches the batch handler, so the end is detected from the client's batch events,
 * which see those fetches too.
 */
export async function scanTopicToEnd(kafka: Kafka, topic: string, visit: (m: ScannedMessage) => unknown, options: ScanOptions = {}): Promise<void> {
  const { signal } = options;
  signal?.throwIfAborted();
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  let total = 0;
  try {
    // Right after a topic is created the broker may not serve its partitions yet; that error is retriable.
    let offsets: Awaited<ReturnType<Admin['fetchTopicOffsets']>> | undefined;
    for (let attempt = 0; offsets === undefined; attempt++) {
      try {
        offsets = await admin.fetchTopicOffsets(topic);
      } catch (err) {
        if (attempt >= 20 || !(err as { retriable?: boolean }).retriable) throw err;
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
      }
    }
    const nonEmpty = offsets.filter((o) => BigInt(o.high) > BigInt(o.low));
    ends = new Map(nonEmpty.map((o) => [o.partition, BigInt(o.high) - 1n]));
    for (const o of nonEmpty) total += Number(BigInt(o.high) - BigInt(o.low));
  } finally {
    await admin.disconnect();
  }
  signal?.throwIfAborted();
  options.onStart?.(total);
  if (ends.size === 0) return;
  const groupId = `cdrflow.reader.${topic}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;
  // A short fetch wait: at the tail of a transactional topic a live writer's open transaction holds read_committed
  // fetches back, and the default 5 s wait per empty fetch would dominate the scan.
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, readUncommitted: false, maxWaitTimeInMs: 250 });
  const pending = new Set(ends.keys());
  const position = new Map<number, bigint>();
  const timeoutMs = options.timeoutMs ?? 60_000;
  let onAbort: (() => void) | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new CdrflowError('transient', `reading ${topic} to its end took longer than ${timeoutMs} ms (partitions left: ${[...pending].join(',')})`)),
        timeoutMs,
      );
      onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
        const { partition, lastOffset } = event.payload as { partition: number; lastOffset: string };
        const end = ends.get(partition);
        if (end === undefined) return;
        // lastOffset covers compacted-away tails and transaction markers, so the end is seen even then.
        const last = BigInt(lastOffset) > end ? end : BigInt(lastOffset);
        const before = position.get(partition) ?? -1n;
        if (last > before) {
          position.set(partition, last);
          options.onProgress?.(Number(last - before));
        }
        if (last >= end) pending.delete(partition);
        if (pending.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = ends.get(batch.partition);
            for (const m of batch.messages) {
              if (end === undefined || BigInt(m.offset) > end) continue;
              const scanned = { partition: batch.partition, offset: Number(m.offset), key: m.key, value: m.value, timestamp: Number(m.timestamp) };
              const unreadable = unreadableLine(m);
              if (unreadable !== undefined) {
                options.onUnreadable?.({ ...scanned, unreadable });
                continue;
              }
              const done = visit(scanned);
              if (done instanceof Promise) await done;
            }
          },
        })
        .catch((err: unknown) => {
          clearTimeout(timer);
          reject(err);
        });
    });
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    await consumer.disconnect().catch(() => undefined);
    await deleteThrowawayGroup(kafka, groupId);
  }
}

/**
 * The latest value per key of a (compacted) topic up to its current end (null = tombstone). Used for state kept in
 * Kafka such as connector checkpoints.
 */
export async function readTopicToEnd(kafka: Kafka, topic: string, options: { timeoutMs?: number } = {}): Promise<Map<string, Buffer | null>> {
  const latest = new Map<string, Buffer | null>();
  await scanTopicToEnd(kafka, topic, (m) => m.key !== null && void latest.set(m.key.toString('utf8'), m.value), options);
  return latest;
}

/** A client for readiness probes: no log (a broker that is still starting refuses connections by design). */
function probeKafka(brokers: string[]): Kafka {
  // Two quick retries: with none, kafkajs' admin answers "No brokers in the broker pool" before its first metadata.
  return new Kafka({ clientId: 'cdrflow-infra', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 3000, requestTimeout: 10_000, retry: { retries: 2, initialRetryTime: 100 } });
}

/** The cluster as one broker describes it (readiness checks of the local stack); throws when unreachable. */
export async function describeCluster(brokers: string[]): Promise<{ brokers: number; clusterId: string; controller: number | null }> {
  const admin = probeKafka(brokers).admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    return { brokers: cluster.brokers.length, clusterId: cluster.clusterId, controller: cluster.controller };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Whether the broker can coordinate a consumer group and a transaction yet. A fresh broker creates its internal
 * topics (__consumer_offsets, __transaction_state, 50 partitions each) on the first such request and answers
 * "coordinator not available / loading" until they are served; a stage started before that exhausts the client's
 * retries on a busy machine. Resolves false while they are loading, throws only when the broker is unreachable.
 */
export async function coordinatorsReady(brokers: string[]): Promise<boolean> {
  const kafka = probeKafka(brokers);
  const admin = kafka.admin();
  // A transactional producer must allow retries; one is enough for a probe that is itself polled.
  const producer = kafka.producer({ transactionalId: 'cdrflow-infra-readiness', maxInFlightRequests: 1, idempotent: true, retry: { retries: 1 } });
  try {
    await admin.connect();
    await admin.describeGroups(['cdrflow-infra-readiness']);
    await producer.connect();
    return true;
  } catch (err) {
    if (disposition(asCdrflowError(err)) === 'retry') return false;
    throw err;
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

/** Deletes a scan's throwaway consumer group (it committed nothing); a failure only leaves an empty group behind. */
async function deleteThrowawayGroup(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  await admin
    .connect()
    .then(() => admin.deleteGroups([groupId]))
    .catch(() => undefined)
    .finally(() => admin.disconnect().catch(() => undefined));
}

export interface ReadOptions {
  /**
   * Where to start in each partition: all of it, its last N offsets, or given offsets (partitions not named start at
   * their end). The last N offsets of a transactional topic include its commit markers, so they hold fewer than N
   * records: `ReadSummary` tells a caller that needs N records to read further back.
   */
  start: { from: 'beginning' } | { last: number } | { at: ReadonlyMap<number, bigint> };
  /** Keep reading new records until `signal` aborts; otherwise stop at the end as it was when reading began. */
  follow: boolean;
  signal?: AbortSignal;
  /** Called in order per partition; `unreadable` set on a record that stands for a batch that could not be read. */
  onRecord: (r: { partition: number; offset: number; timestamp: number; key: Buffer | null; value: Buffer | null; unreadable?: string }) => Promise<void> | void;
}

/** Per partition: where the read started, the partition's first offset and end when it began, the records read. */
export type ReadSummary = { partition: number; low: bigint; start: bigint; end: bigint; records: number }[];

/** The code of readTopic's error for a topic the cluster does not have. */
export const MISSING_TOPIC = 'MISSING_TOPIC';

/** Whether `err` is readTopic's refusal of a topic the cluster does not have (told by its code, not its words). */
export function isMissingTopic(err: unknown): boolean {
  return err instanceof CdrflowError && err.code === MISSING_TOPIC;
}

/**
 * Reads `topic` from the chosen start with a throwaway consumer group (kafkajs cannot assign partitions by hand;
 * the group commits nothing and is deleted afterwards). Without `follow` it stops once every partition reached the
 * end it had when the read began (transaction markers included), or after a quiet second past it.
 */
export async function readTopic(kafka: Kafka, topic: string, options: ReadOptions): Promise<ReadSummary> {
  const admin = kafka.admin();
  await admin.connect();
  let offsets: { partition: number; low: bigint; high: bigint }[];
  try {
    if (!(await admin.listTopics()).includes(topic)) throw new CdrflowError('config', `topic ${quote(topic)} does not exist`, { code: MISSING_TOPIC });
    offsets = (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }));
  } finally {
    await admin.disconnect();
  }
  const { start } = options;
  const clamp = (o: { low: bigint; high: bigint }, s: bigint) => (s < o.low ? o.low : s > o.high ? o.high : s);
  const summary: ReadSummary = offsets.map((o) => ({
    partition: o.partition,
    low: o.low,
    end: o.high,
    records: 0,
    start: 'from' in start ? o.low : 'last' in start ? clamp(o, o.high - BigInt(start.last)) : clamp(o, start.at.get(o.partition) ?? o.high),
  }));
  const byPartition = new Map(summary.map((p) => [p.partition, p]));
  // Partitions with nothing to read up to the current end are done from the start (unless following).
  const pending = new Set(summary.filter((p) => p.end > p.start).map((p) => p.partition));
  if (!options.follow && pending.size === 0) return summary;
  const groupId = `cdrflow.tail.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, readUncommitted: false, maxWaitTimeInMs: 250 });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      let positioned = false;
      let batches = 0;
      let lastActivity = performance.now();
      let finished = false;
      let quiet: NodeJS.Timeout | undefined;
      const finish = () => {
        finished = true;
        if (quiet) clearInterval(quiet);
        resolve();
      };
      options.signal?.addEventListener('abort', finish, { once: true });
      if (options.signal?.aborted) return finish();
      if (!options.follow) {
        // A partition whose last offsets are transaction markers may deliver no batch once caught up: after the
        // seek, a quiet spell (2 s after a batch, 15 s before the first) also ends the read. Measured on the monotonic
        // clock: a wall clock stepped forward must not end the read at once, nor one stepped back stretch the spell.
        quiet = setInterval(() => {
          if (positioned && performance.now() - lastActivity > (batches > 0 ? 2_000 : 15_000)) finish();
        }, 250);
      }
      // Positioned on every join until the first batch: a consumer that crashed and rejoined (a fresh broker's group
      // coordinator is not ready at once) would otherwise start from the topic's beginning.
      consumer.on(consumer.events.GROUP_JOIN, () => {
        if (finished || batches > 0) return;
        for (const p of summary) consumer.seek({ topic, partition: p.partition, offset: String(p.start) });
        positioned = true;
        lastActivity = performance.now();
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            batches++;
            lastActivity = performance.now();
            const part = byPartition.get(batch.partition);
            const end = part?.end ?? 0n;
            for (const m of batch.messages) {
              if (!options.follow && BigInt(m.offset) >= end) break;
              if (part) part.records++;
              const unreadable = unreadableLine(m);
              await options.onRecord({ partition: batch.partition, offset: Number(m.offset), timestamp: Number(m.timestamp), key: m.key ?? null, value: m.value ?? null, ...(unreadable === undefined ? {} : { unreadable }) });
            }
            if (BigInt(batch.lastOffset()) >= end - 1n) pending.delete(batch.partition);
            lastActivity = performance.now();
            if (!options.follow && pending.size === 0) finish();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await deleteThrowawayGroup(kafka, groupId);
  }
  return summary;
}
