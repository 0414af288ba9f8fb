// The only module that imports the Kafka client library (kafkajs is in maintenance mode; swapping it must be a
// one-file change). Everything else talks to Kafka through the small types below.
import { Kafka, logLevel, type Admin, type Producer, type Consumer, type KafkaConfig, type ConsumerConfig } from 'kafkajs';
import { kafkaBrokers } from './local-endpoints.ts';
import { CdrflowError } from './errors.ts';

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

export function kafkaSettingsFromEnv(clientId: string, env: NodeJS.ProcessEnv = process.env): KafkaSettings {
  const settings: KafkaSettings = { brokers: kafkaBrokers(env), clientId };
  if (env['KAFKA_SSL'] === 'true') settings.ssl = true;
  const user = env['KAFKA_SASL_USERNAME'];
  if (user) {
    settings.sasl = {
      mechanism: (env['KAFKA_SASL_MECHANISM'] as 'plain' | 'scram-sha-256' | 'scram-sha-512' | undefined) ?? 'plain',
      username: user,
      password: env['KAFKA_SASL_PASSWORD'] ?? '',
    };
  }
  return settings;
}

// kafkajs logs every retried request at ERROR; our own components log what matters, so keep it quiet
// unless asked (KAFKAJS_LOG=info|debug).
function kafkajsLogLevel(): logLevel {
  switch (process.env['KAFKAJS_LOG']) {
    case 'debug':
      return logLevel.DEBUG;
    case 'info':
      return logLevel.INFO;
    case 'warn':
      return logLevel.WARN;
    default:
      return logLevel.NOTHING;
  }
}

export function createKafka(settings: KafkaSettings, retry?: KafkaConfig['retry']): Kafka {
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers: settings.brokers,
    logLevel: kafkajsLogLevel(),
    connectionTimeout: 3000,
    requestTimeout: 30000,
  };
  if (settings.ssl) config.ssl = true;
  if (settings.sasl) config.sasl = settings.sasl as NonNullable<KafkaConfig['sasl']>;
  if (retry) config.retry = retry;
  return new Kafka(config);
}

/** Creates topics that do not exist yet; existing topics are left alone (idempotent). */
export async function ensureTopics(kafka: Kafka, specs: TopicSpec[]): Promise<void> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length === 0) return;
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
  } finally {
    await admin.disconnect();
  }
}

/**
 * A producer whose `send` resolves only when every message is acknowledged by all in-sync replicas
 * (acks=all, idempotent). Push receivers answer the vendor only after this resolves.
 */
export class AckedPublisher {
  private readonly producer: Producer;
  private connected = false;

  constructor(kafka: Kafka) {
    // maxInFlightRequests 1 keeps per-partition order under retries with kafkajs' idempotent producer.
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    this.connected = true;
  }

  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.connect();
    try {
      await this.producer.send({ topic, acks: -1, messages: messages.map(toKafkajsMessage) });
    } catch (err) {
      throw new CdrflowError('transient', `Kafka did not acknowledge ${messages.length} message(s) on ${topic}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}

export function toKafkajsMessage(m: OutgoingMessage) {
  return m.headers === undefined ? { key: m.key, value: m.value } : { key: m.key, value: m.value, headers: m.headers };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export type { Kafka, Producer, Consumer, Admin, ConsumerConfig };

export interface ScannedMessage {
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
}

export interface ScanOptions {
  /** Whole scan; default 60 s. */
  timeoutMs?: number;
  /** Called once with the number of offsets to read (log end - start, summed), before the first batch. */
  onStart?: (totalOffsets: number) => void;
  /** Called after every fetched batch (also ones holding only transaction markers) with the offsets it covered. */
  onProgress?: (offsets: number) => void;
}

/**
 * Reads a topic (read_committed) from the beginning up to the log end it had when the scan began, handing each batch
 * to `onBatch`; nothing is kept here, so memory is what the caller keeps. A throwaway consumer group is used because
 * kafkajs cannot assign partitions manually; it is deleted afterwards. Batches holding only transaction markers never
 * reach `onBatch`, so the end is detected from the client's batch events, which see them too.
 */
export async function scanTopic(
  kafka: Kafka,
  topic: string,
  onBatch: (partition: number, messages: ScannedMessage[]) => void | Promise<void>,
  options: ScanOptions = {},
): Promise<void> {
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
  options.onStart?.(total);
  if (ends.size === 0) return;
  const groupId = `cdrflow.reader.${topic}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, readUncommitted: false });
  const pending = new Set(ends.keys());
  const position = new Map<number, bigint>();
  const timeoutMs = options.timeoutMs ?? 60_000;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new CdrflowError('transient', `reading ${topic} to its end took longer than ${timeoutMs} ms (partitions left: ${[...pending].join(',')})`)),
        timeoutMs,
      );
      consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
        const { partition, lastOffset } = event.payload as { partition: number; lastOffset: string };
        const last = BigInt(lastOffset);
        const before = position.get(partition) ?? -1n;
        if (last > before) {
          position.set(partition, last);
          const end = ends.get(partition);
          options.onProgress?.(Number((end !== undefined && last > end ? end : last) - (before < 0n ? -1n : before)));
        }
        const end = ends.get(partition);
        // lastOffset covers compacted-away tails and transaction markers, so the end is seen even then.
        if (end !== undefined && last >= end) pending.delete(partition);
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
            const messages: ScannedMessage[] = [];
            for (const m of batch.messages) {
              // Records written after the scan began are the next scan's business.
              if (end === undefined || BigInt(m.offset) > end) continue;
              messages.push({ partition: batch.partition, offset: Number(m.offset), key: m.key, value: m.value });
            }
            if (messages.length > 0) await onBatch(batch.partition, messages);
          },
        })
        .catch((err: unknown) => {
          clearTimeout(timer);
          reject(err);
        });
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    const cleanup = kafka.admin();
    await cleanup
      .connect()
      .then(() => cleanup.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => cleanup.disconnect().catch(() => undefined));
  }
}

/**
 * Reads a (compacted) topic from the beginning up to its current end and returns the latest value per key
 * (null = tombstone). Used for state kept in Kafka such as connector checkpoints.
 */
export async function readTopicToEnd(kafka: Kafka, topic: string, options: { timeoutMs?: number } = {}): Promise<Map<string, Buffer | null>> {
  const latest = new Map<string, Buffer | null>();
  await scanTopic(
    kafka,
    topic,
    (_partition, messages) => {
      for (const m of messages) if (m.key !== null) latest.set(m.key.toString('utf8'), m.value);
    },
    options,
  );
  return latest;
}
