// The normalize stage on Kafka: cdr.raw.* (read_committed) -> normalize() -> cdr.normalized (Avro, key cdr_id), bad
// records -> cdr.dlq with the reason; each chunk's output and its consumed offsets commit in one Kafka transaction.
import type { SchemaRegistry } from '../../../core/avro.ts';
import { ReaderCodec, TopicCodec } from '../../../core/avro.ts';
import { RETRY, retry } from '../../../core/backoff.ts';
import { DeadLetterWriter, classifyDecodeError, deadLetterFor } from '../../../core/dead-letter.ts';
import type { RawEnvelope } from '../../../core/envelope.ts';
import type { ErrorKind } from '../../../core/errors.ts';
import { ensureTopics, type Kafka, type OutgoingMessage } from '../../../core/kafka.ts';
import type { LogFn } from '../../../core/log.ts';
import { runTransactional, type CommittedCounts, type ConsumedMessage, type PartitionBatch, type ProducedRecords, type StreamHandle } from '../../../core/kafka-streams.ts';
import { TimeSlice } from '../../../core/time-slice.ts';
import { SCHEMA_FILES, VENDORS } from '../../../core/topology.ts';
import type { NormalizeOptions } from '../context.ts';
import { normalize } from '../normalize.ts';
import { warmUpEnvelopes } from '../warm-up.ts';
import { transactionalIdOf, type NormalizeServiceConfig } from './config.ts';
import { deadLetterKey, recordFailure, recordFailureLog, systemicFailure, type RecordFailure, type RecordStage } from './record-failure.ts';

export const COMPONENT = 'normalize';

export interface NormalizeServiceDeps {
  kafka: Kafka;
  registry: SchemaRegistry;
  now?: () => Date;
  log?: LogFn;
  onCommitted?: (counts: CommittedCounts) => void;
  /**
   * Once the topics (created here when config.createTopics says so) and the schemas are registered: other members of
   * the group can start from then on, instead of waiting for this one to join, without racing it to create them
   * (two first registrations of a subject at once can fail on the registry).
   */
  onPrepared?: () => void;
}

export interface NormalizeStats {
  /** Counted only once their transaction committed. */
  normalized: number;
  deadLettered: number;
  /** Records dead-lettered because handling them threw (decode, mapping or encode), counted apart from bad data. */
  recordFailures: number;
  /** Of those, records the mapping produced outside cdr-normalized.avsc: a mapping bug an alert should watch. */
  contractViolations: number;
  transactions: number;
  retries: number;
}

export interface NormalizeService extends StreamHandle {
  readonly stats: NormalizeStats;
  readonly transactionalId: string;
}

/** Registers the subjects this stage writes (and the envelope it reads) so a missing or incompatible schema stops it at start-up. */
export async function registerNormalizeSchemas(registry: SchemaRegistry, config: NormalizeServiceConfig) {
  const output = new TopicCodec(registry, config.outputTopic, SCHEMA_FILES.normalized);
  const deadLetter = new DeadLetterWriter(registry, config.deadLetterTopic);
  await output.register();
  await deadLetter.register();
  const inputs = config.inputTopics.map((topic) => new TopicCodec(registry, topic, SCHEMA_FILES.rawEnvelope));
  for (const input of inputs) await input.register();
  return { output, deadLetter, inputs };
}

/** Records per warm-up chunk: the per-chunk code runs many times too, and one chunk's output is dropped before the next. */
const WARM_UP_CHUNK = 500;
/**
 * The topic the warm-up's records claim to come from: no real topic's name, so a warm-up record that fails (logged
 * as `normalize.record_failed`) can never be taken for a record at that offset of an input topic.
 */
const WARM_UP_TOPIC = '(warm-up)';

/**
 * The stage's own transform over sample records (warm-up.ts says why), before the group is joined: encoded as
 * envelopes under an input topic's registered schema, decoded, mapped and encoded as live records are; what it makes is dropped (nothing is sent,
 * nothing counted). A failure here is logged and the stage starts anyway: the warm-up only saves time.
 */
async function warmUp(transform: (batch: PartitionBatch) => Promise<ProducedRecords[]>, input: TopicCodec, records: number, receivedAt: Date, log: LogFn): Promise<void> {
  const started = performance.now();
  try {
    for (let first = 0; first < records; first += WARM_UP_CHUNK) {
      const messages: ConsumedMessage[] = [];
      for (const [i, envelope] of warmUpEnvelopes(Math.min(WARM_UP_CHUNK, records - first), receivedAt, first).entries()) {
        messages.push({ topic: WARM_UP_TOPIC, partition: 0, offset: first + i, key: Buffer.from(envelope.natural_key), value: await input.encode(envelope), timestamp: receivedAt.getTime() });
      }
      await transform({ topic: WARM_UP_TOPIC, partition: 0, messages });
    }
    log('info', 'normalize.warmed_up', { records, ms: Math.round(performance.now() - started) });
  } catch (err) {
    log('warn', 'normalize.warm_up_failed', { records, error: String(err) });
  }
}

export async function startNormalizeService(config: NormalizeServiceConfig, deps: NormalizeServiceDeps): Promise<NormalizeService> {
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const options = config.mapping as NormalizeOptions;
  if (config.createTopics) {
    await ensureTopics(deps.kafka, [...config.inputTopics, config.outputTopic, config.deadLetterTopic].map((topic) => ({ topic, partitions: config.partitions })));
  }
  const codecs = await registerNormalizeSchemas(deps.registry, config);
  deps.onPrepared?.();
  const stats: NormalizeStats = { normalized: 0, deadLettered: 0, recordFailures: 0, contractViolations: 0, transactions: 0, retries: 0 };
  const pending = new WeakMap<PartitionBatch, { normalized: number; deadLettered: number; recordFailures: number; contractViolations: number }>();

  // Reader type built once, one resolver per writer version (older envelope writers are read with defaults filled).
  const envelopes = new ReaderCodec<RawEnvelope>(deps.registry, SCHEMA_FILES.rawEnvelope);
  const decodeEnvelope = (m: ConsumedMessage) =>
    retry(async () => {
      try {
        return await envelopes.decode(m.value!);
      } catch (err) {
        throw classifyDecodeError(err, `decoding the raw envelope at ${m.topic}[${m.partition}]@${m.offset}`);
      }
    }, RETRY.registry) as Promise<RawEnvelope>;

  const failureLines = recordFailureLog(log);
  const transform = async (batch: PartitionBatch): Promise<ProducedRecords[]> => {
    const out: OutgoingMessage[] = [];
    const dead: OutgoingMessage[] = [];
    const failures: RecordFailure[] = [];
    const deadLetter = async (m: ConsumedMessage, error: { kind: ErrorKind; message: string }, extra: { vendor?: string | null; cdr_id?: string | null }) => {
      const message = await codecs.deadLetter.message(deadLetterFor(m, error, COMPONENT, { ...extra, failed_at: now() }));
      // A hostile oversized key (a 500 KB call id) must not become the dead letter's Kafka key either.
      dead.push({ ...message, key: deadLetterKey(extra.cdr_id, m.key) });
    };
    const topicVendor = VENDORS.find((v) => batch.topic.endsWith(v)) ?? null;
    const slice = new TimeSlice();
    for (const m of batch.messages) {
      // A chunk of 2,000 records is ~0.2 s of CPU: let heartbeats, the receiver and the sink run in between.
      if (slice.due()) await slice.yield();
      if (m.unreadable !== undefined) {
        await deadLetter(m, { kind: 'bad_record', message: m.unreadable }, { vendor: topicVendor });
        continue;
      }
      if (m.value === null) {
        await deadLetter(m, { kind: 'bad_record', message: 'message has no value (tombstone) on a raw CDR topic' }, { vendor: topicVendor });
        continue;
      }
      // One record's exception is that record's dead letter (record-failure.ts); only systemic errors leave this loop.
      let stage: RecordStage = 'decode';
      let envelope: RawEnvelope | undefined;
      let cdrId: string | null = null;
      try {
        envelope = envelopes.decodeReady(m.value) ?? (await decodeEnvelope(m));
        stage = 'mapping';
        const result = normalize(envelope, { now, lineage: { topic: m.topic, partition: m.partition, offset: m.offset }, options });
        if (!result.ok) {
          await deadLetter(m, result.error, { vendor: envelope.vendor, cdr_id: result.error.cdr_id });
          continue;
        }
        cdrId = result.cdr.cdr_id;
        stage = 'encode';
        out.push({ key: result.cdr.cdr_id, value: codecs.output.encodeReady(result.cdr) ?? (await codecs.output.encode(result.cdr)) });
      } catch (err) {
        const failure = recordFailure(stage, err);
        failures.push(failure);
        failureLines.failed(m, failure);
        await deadLetter(m, failure, { vendor: envelope?.vendor ?? topicVendor, cdr_id: cdrId });
      }
    }
    const systemic = systemicFailure(failures, batch.messages.length, config.systemicFailureThreshold);
    if (systemic) throw systemic;
    const contractViolations = failures.filter((f) => f.contract).length;
    pending.set(batch, { normalized: out.length, deadLettered: dead.length, recordFailures: failures.length, contractViolations });
    return [
      { topic: config.outputTopic, messages: out },
      { topic: config.deadLetterTopic, messages: dead },
    ];
  };

  if (config.warmUpRecords > 0) await warmUp(transform, codecs.inputs[0]!, config.warmUpRecords, now(), log);

  const transactionalId = transactionalIdOf(config);
  const handle = await runTransactional(deps.kafka, {
    groupId: config.groupId,
    topics: config.inputTopics,
    transactionalId,
    maxMessagesPerTransaction: config.maxMessagesPerTransaction,
    sessionTimeoutMs: config.sessionTimeoutMs,
    log: (event, fields) => log('info', `normalize.${event}`, fields),
    transform,
    onCommitted: (batch) => {
      const counts = pending.get(batch);
      stats.transactions++;
      if (counts) {
        stats.normalized += counts.normalized;
        stats.deadLettered += counts.deadLettered;
        stats.recordFailures += counts.recordFailures;
        stats.contractViolations += counts.contractViolations;
      }
      log('debug', 'normalize.committed', { transactionalId, topic: batch.topic, partition: batch.partition, first: batch.messages[0]?.offset, last: batch.messages.at(-1)?.offset, ...counts });
      if (counts) {
        deps.onCommitted?.({ records: counts.normalized + counts.deadLettered, deadLettered: counts.deadLettered, recordFailures: counts.recordFailures, contractViolations: counts.contractViolations });
      }
    },
    onSent: (batch, produced) => log('debug', 'normalize.sent', { topic: batch.topic, partition: batch.partition, records: produced }),
    onRetry: (err, attempt) => {
      stats.retries++;
      log('warn', 'normalize.retry', { attempt, kind: err.kind, error: err.message });
    },
  });
  const closeFailureLines = () => {
    failureLines.close();
    codecs.deadLetter.close();
  };
  void handle.done.then(closeFailureLines, closeFailureLines);
  log('info', 'normalize.started', { transactionalId, groupId: config.groupId, topics: config.inputTopics });
  return { ...handle, stats, transactionalId };
}
