// The dead-letter contract (schemas/dead-letter.avsc) as TypeScript, the one writer every stage uses to put a dead
// letter on cdr.dlq (inside the stage's transaction, or acknowledged by Kafka), and the classification of
// schema-registry errors shared by every stage that decodes Avro: bad framing/bytes are the record's fault
// (dead-letter), an unknown schema id or an unreachable/forbidden registry is systemic (stop or retry).
import { createHash } from 'node:crypto';
import type { SchemaRegistry } from './avro.ts';
import { TopicCodec, registryAway } from './avro.ts';
import { CdrflowError, classifyError, type ErrorKind } from './errors.ts';
import type { AckedPublisher, OutgoingMessage } from './kafka.ts';
import type { ConsumedMessage } from './kafka-streams.ts';
import { SCHEMA_FILES } from './topology.ts';
import { logger, type LogFn } from './log.ts';
import { LimitedLog } from './log-limit.ts';

export interface DeadLetter {
  original_value: Buffer | null;
  original_key: Buffer | null;
  origin_topic: string;
  origin_partition: number;
  origin_offset: number;
  error_kind: ErrorKind;
  error_message: string;
  component: string;
  vendor: string | null;
  cdr_id: string | null;
  failed_at: Date;
  /** The original value's full size when `original_value` holds only its first DEAD_LETTER_LIMITS.valueBytes. */
  original_size?: number | null;
}

export function deadLetterFor(
  message: ConsumedMessage,
  error: { kind: ErrorKind; message: string },
  component: string,
  extra: { vendor?: string | null; cdr_id?: string | null; original_value?: Buffer | null; failed_at?: Date } = {},
): DeadLetter {
  return {
    original_value: extra.original_value === undefined ? message.value : extra.original_value,
    original_key: message.key,
    origin_topic: message.topic,
    origin_partition: message.partition,
    origin_offset: message.offset,
    error_kind: error.kind,
    error_message: error.message,
    component,
    vendor: extra.vendor ?? null,
    cdr_id: extra.cdr_id ?? null,
    failed_at: extra.failed_at ?? new Date(),
  };
}

/**
 * A dead letter for a record that never was a Kafka message (a polled vendor record refused at the door, a file
 * line): no origin partition or offset (-1), the payload kept for a later replay (a file line as read; a polled record
 * as JSON.stringify writes it, at any depth: jsonText in core/input-limits.ts), within DEAD_LETTER_LIMITS once written.
 */
export function deadLetterForPayload(
  payload: string,
  error: { kind: ErrorKind; message: string },
  component: string,
  origin: { topic: string; vendor: string | null; failed_at?: Date },
): DeadLetter {
  return {
    original_value: Buffer.from(payload, 'utf8'),
    original_key: null,
    origin_topic: origin.topic,
    origin_partition: -1,
    origin_offset: -1,
    error_kind: error.kind,
    error_message: error.message,
    component,
    vendor: origin.vendor,
    cdr_id: null,
    failed_at: origin.failed_at ?? new Date(),
  };
}

/**
 * The one way a dead letter reaches its topic. `message` encodes it for the caller's own Kafka transaction
 * (normalize: exactly once with the consumed offsets); `publish` writes acknowledged (acks=all), for stages without a
 * transaction (the sink, the pollers), which retry it inside their own budget. Keyed by cdr_id when known, so
 * a record's dead letters share its partition; by the original key otherwise.
 */
/**
 * A dead letter is one Kafka message, and the broker refuses any above message.max.bytes (1 MiB by default) with an
 * error no retry mends: the stage would stop on the very record it meant to set aside. So a dead letter keeps at most
 * this much of the original value (and of its key, reason, vendor and cdr_id), and says so in its reason, with the full length and
 * SHA-256 of what was cut. Only hostile records come near it: the door refuses records over 64 KiB and keys over 256
 * bytes (core/input-limits.ts), and the original stays where it came from (the raw topic at its offset, or the
 * vendor, which a backfill reads again).
 */
export const DEAD_LETTER_LIMITS = { valueBytes: 512 * 1024, keyBytes: 1024, messageChars: 4096, textChars: 1024 } as const;

/** `letter` within DEAD_LETTER_LIMITS, every cut named in its error_message; the letter itself when nothing is cut. */
export function withinDeadLetterLimits(letter: DeadLetter): DeadLetter {
  const cuts: string[] = [];
  const cut = (name: string, bytes: Buffer | null, limit: number): Buffer | null => {
    if (bytes === null || bytes.length <= limit) return bytes;
    cuts.push(`${name} cut to its first ${limit} of ${bytes.length} bytes (sha256 ${createHash('sha256').update(bytes).digest('hex')})`);
    return bytes.subarray(0, limit);
  };
  const original_value = cut('original_value', letter.original_value, DEAD_LETTER_LIMITS.valueBytes);
  const original_key = cut('original_key', letter.original_key, DEAD_LETTER_LIMITS.keyBytes);
  // The vendor and cdr_id can come from the record itself (normalize names an envelope's vendor even when it is none
  // it knows): a 1 MB one took a letter over the broker's limit. A real one is far shorter (a cdr_id at most 576 bytes).
  const cutText = (name: string, text: string | null): string | null => {
    if (text === null || text.length <= DEAD_LETTER_LIMITS.textChars) return text;
    cuts.push(`${name} cut to its first ${DEAD_LETTER_LIMITS.textChars} of ${text.length} characters (sha256 ${createHash('sha256').update(text).digest('hex')})`);
    return text.slice(0, DEAD_LETTER_LIMITS.textChars);
  };
  const vendor = cutText('vendor', letter.vendor);
  const cdr_id = cutText('cdr_id', letter.cdr_id);
  const tooLong = letter.error_message.length > DEAD_LETTER_LIMITS.messageChars;
  if (cuts.length === 0 && !tooLong) return letter;
  const message = tooLong ? `${letter.error_message.slice(0, DEAD_LETTER_LIMITS.messageChars)}… (${letter.error_message.length} characters)` : letter.error_message;
  const valueCut = original_value !== letter.original_value;
  return {
    ...letter,
    original_value,
    original_key,
    vendor,
    cdr_id,
    error_message: cuts.length === 0 ? message : `${message} [${cuts.join('; ')}]`,
    ...(valueCut ? { original_size: letter.original_value!.length } : {}),
  };
}

export class DeadLetterWriter {
  private readonly codec: TopicCodec;
  private readonly lines: LimitedLog;

  /**
   * `log` gets a `warn` line per dead letter (reason first, then vendor, cdr_id and origin), so an operator sees them
   * as they happen; `cdrflow dlq` and `cdrflow tail cdr.dlq` show them all afterwards. A stream of bad records is
   * thousands of letters a second, so the first of each second per reason and stage are logged and the rest summed
   * up (`record.dead_lettered_suppressed`, core/log-limit.ts). Inside a transaction that is retried the line can
   * repeat; the topic holds the letter once.
   */
  constructor(
    registry: SchemaRegistry,
    readonly topic: string,
    log: LogFn = logger('dead-letter'),
    now: () => number = Date.now,
  ) {
    this.codec = new TopicCodec(registry, topic, SCHEMA_FILES.deadLetter);
    this.lines = new LimitedLog(log, now);
  }

  /** Registers the subject, so a missing or incompatible schema stops a stage at start-up, not at its first dead letter. */
  async register(): Promise<void> {
    await this.codec.register();
  }

  async message(given: DeadLetter): Promise<OutgoingMessage> {
    const letter = withinDeadLetterLimits(given);
    this.lines.line('warn', 'record.dead_lettered', { reason: letter.error_kind, stage: letter.component }, {
      vendor: letter.vendor,
      cdr_id: letter.cdr_id,
      origin: `${letter.origin_topic}[${letter.origin_partition}]@${letter.origin_offset}`,
      error: letter.error_message.length > 300 ? `${letter.error_message.slice(0, 300)}…` : letter.error_message,
      topic: this.topic,
    });
    return { key: letter.cdr_id ?? letter.original_key, value: await this.codec.encode(letter) };
  }

  /** Sums up the last second's suppressed lines: its owner stops, and the process may end before the timer runs. */
  close(): void {
    this.lines.close();
  }

  async publish(letters: DeadLetter[], publisher: AckedPublisher): Promise<void> {
    if (letters.length === 0) return;
    const messages: OutgoingMessage[] = [];
    for (const letter of letters) messages.push(await this.message(letter));
    await publisher.send(this.topic, messages);
  }
}

/**
 * A failure to decode one consumed record. The registry away, or refusing us, is the stage's trouble (retried, or it
 * stops); anything else is that record's, a dead letter: a schema id the registry does not know (`Schema 2147483647 not
 * found`), a writer schema that is not the reader's type (another subject's record on the topic: `no alias found`),
 * bytes that do not match. One such record used to stop normalize, or the sink as a "bug", at every restart.
 */
export function classifyDecodeError(err: unknown, what: string): CdrflowError {
  // Our own errors already say whose they are (a render thread not sent a schema is a bug, and stops).
  if (err instanceof CdrflowError) return err;
  const e = classifyRegistryError(err, what);
  if (e.kind === 'transient' || e.kind === 'auth' || e.kind === 'rate_limited' || e.kind === 'bad_record') return e;
  return new CdrflowError('bad_record', e.message, { cause: err });
}

export function classifyRegistryError(err: unknown, what: string): CdrflowError {
  if (err instanceof CdrflowError) return err;
  const e = err as { name?: string; status?: number; message?: string; code?: string };
  const message = `${what}: ${e?.message ?? String(err)}`;
  if (e?.name === 'ConfluentSchemaRegistryArgumentError') return new CdrflowError('bad_record', message, { cause: err });
  // The client's HTTP layer reports a refused connection or a timeout as status 400 ("Error, status 400: connect
  // ECONNREFUSED"): the registry away, not a schema problem (`cdrflow run normalize` stopped at once on it).
  if (registryAway(err)) return new CdrflowError('transient', message, { cause: err });
  if (typeof e?.status === 'number') {
    // A proxy between asking for its own credentials (407), or timing the request out (408), says nothing of the
    // record: read as another 4xx, every record decoded meanwhile was a dead letter.
    if (e.status === 401 || e.status === 403 || e.status === 407) return new CdrflowError('auth', message, { cause: err });
    if (e.status === 404) return new CdrflowError('schema', message, { cause: err });
    if (e.status === 429) return new CdrflowError('rate_limited', message, { cause: err });
    if (e.status >= 500 || e.status === 408) return new CdrflowError('transient', message, { cause: err });
    return new CdrflowError('schema', message, { cause: err });
  }
  // A network failure by its errno code (the registry down or restarting: wait, see core/errors.ts).
  const byCode = classifyError(err);
  if (byCode.kind === 'transient') return new CdrflowError('transient', message, { ...(byCode.code ? { code: byCode.code } : {}), cause: err });
  // The registry client's HTTP layer sometimes reports a dropped connection as text only, without a code.
  if (/network/i.test(`${e?.code ?? ''} ${e?.message ?? ''}`)) return new CdrflowError('transient', message, { cause: err });
  // avsc reading bytes that do not match the writer schema: the payload is corrupt.
  if (/truncated|invalid|trailing|out of range|buffer/i.test(e?.message ?? '')) return new CdrflowError('bad_record', message, { cause: err });
  return new CdrflowError('bug', message, { cause: err });
}
