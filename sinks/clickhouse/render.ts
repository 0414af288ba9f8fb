// Turning consumed cdr.normalized values into rows: decode (registry-framed Avro, any writer version, into the sink's
// reader schema) and render the row's line in the insert format. Two ways, one function:
// - in a worker thread (`sink.renderThread`, the default): the main thread keeps only Kafka and the insert hand-off,
//   so heartbeats, the receiver and the ops port never wait behind a 50,000-row decode, and decoding overlaps with
//   fetching and with the engine's insert on another core;
// - inline, time-sliced (tests and tools that want no thread).
// Registry look-ups stay on the main thread in both: the worker receives the writer schemas it needs with the batch,
// so it holds no registry client, and a registry outage is classified (and retried) in one place.
// A batch's lines come back as one buffer (transferred, not copied) and columns of the few fields the sink keeps.
import type { Worker } from 'node:worker_threads';
import type avro from 'avsc';
import { MAX_WRITER_SCHEMAS, ReaderCodec, RefusedWriters, fetchWriter, forgetFetchedSchema, framedSchemaId, type SchemaRegistry } from '../../core/avro.ts';
import { RETRY, retry } from '../../core/backoff.ts';
import { classifyDecodeError } from '../../core/dead-letter.ts';
import { MAX_NATURAL_KEY_BYTES, quote } from '../../core/input-limits.ts';
import { CdrflowError, asCdrflowError, deserializeError, disposition, type ErrorKind, type SerializedError } from '../../core/errors.ts';
import type { ConsumedMessage } from '../../core/kafka-streams.ts';
import type { LogFn } from '../../core/log.ts';
import { SCHEMA_FILES, VENDORS } from '../../core/topology.ts';
import { TimeSlice } from '../../core/time-slice.ts';
import { ThreadTimedOut, answerWithin, startTsWorker } from '../../core/worker-thread.ts';
import { billableMinutes } from '../../transforms/normalize/billing.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import type { RenderResult } from './batcher.ts';
import { LineWriter, MAX_TIME_MS, MIN_TIME_MS, TsvTranscoder, type RowFacts } from './avro-tsv.ts';
import { cdrLine, type InsertFormat } from './rows.ts';

export type { RenderResult };

export interface Renderer {
  /**
   * One partition's messages (as the Batcher hands them); results in message order. Throws (a CdrflowError) only
   * for systemic trouble: the registry, the thread.
   */
  render(messages: readonly ConsumedMessage[]): Promise<RenderResult[]>;
  /**
   * Resolves once batches can be rendered at once: the thread has loaded its modules and compiled its plan. The sink
   * awaits it before it joins its group, so the first batches it is assigned do not wait on the thread's start-up
   * (~200 ms, which the benchmark's sink runs spent with a batch in hand). Rejects when the thread cannot start.
   */
  ready(): Promise<void>;
  close(): Promise<void>;
}

type Positioned = Pick<ConsumedMessage, 'topic' | 'partition' | 'offset' | 'value'>;
type BadRecord = { error: { kind: ErrorKind; message: string } };

/**
 * A batch rendered in columns: the lines packed in one buffer (`ends[i]` = end of row i's line, 0-length for a bad
 * record), the fields the sink keeps per row, and the bad records' reasons by index.
 */
export interface RenderedBatch {
  buffer: ArrayBuffer;
  byteOffset: number;
  ends: Uint32Array;
  vendors: string[];
  cdrIds: string[];
  receivedAt: Float64Array;
  errors: [number, ErrorKind, string][];
}

/** Decodes and renders one value; a record that is itself bad gives its reason, systemic trouble throws. */
async function renderOne(reader: ReaderCodec<NormalizedCdr>, m: Positioned, format: InsertFormat): Promise<{ line: string; cdr: NormalizedCdr } | BadRecord> {
  try {
    if (m.value === null) throw new CdrflowError('bad_record', 'message has no value (tombstone) on cdr.normalized');
    let cdr: NormalizedCdr;
    try {
      cdr = await reader.decode(m.value);
    } catch (err) {
      throw classifyDecodeError(err, `decoding ${m.topic}[${m.partition}]@${m.offset}`);
    }
    return { line: cdrLine(cdr, { topic: m.topic, partition: m.partition, offset: m.offset }, format), cdr };
  } catch (err) {
    const e = asCdrflowError(err);
    if (disposition(e) !== 'dead-letter') throw e;
    return { error: { kind: e.kind, message: e.message } };
  }
}

/** vendor + ':' + tenant + ':' + natural key, each of the last two at most MAX_NATURAL_KEY_BYTES (normalize.ts). */
export const MAX_CDR_ID_BYTES = 2 * MAX_NATURAL_KEY_BYTES + 64;

/** What rowProblem checks, from a decoded record (the slow path; the fast path notes the same as it writes). */
const checkedOf = (cdr: NormalizedCdr): RowFacts => ({
  vendor: cdr.vendor,
  cdr_id: cdr.cdr_id,
  received_at: cdr.received_at.getTime(),
  talk_seconds: cdr.talk_seconds,
  billable_seconds: cdr.billable_seconds,
  billable_minutes: cdr.billable_minutes,
  answered: cdr.end_status === 'ANSWERED' || cdr.answered_at !== null,
});

/**
 * What normalize guarantees of a row, checked again here, as cdr.normalized is a topic anything with write access can
 * publish to; a row that fails is its record's dead letter before the engine sees it.
 * - Its identity: vendor and cdr_id are the table's sorting key and every count's identity (a 500,000-character
 *   cdr_id or an unknown vendor was loaded as it came).
 * - The cdr table's CHECK constraints (migrations/0001_cdr.sql). Left to the engine, 50 records breaking one filled
 *   a range the engine refused whole, which the sink takes for a broken table and stops on (systemic rejection), at
 *   every restart again. Normalize never writes such a row (transforms/normalize/billing.ts).
 * - Its version, received_at in ms, which the table keeps as UInt64: the engine refuses a negative one (a
 *   received_at before 1970) as it refuses a broken constraint. Normalize stamps received_at when the record comes in.
 */
export function rowProblem(row: RowFacts): string | null {
  const { vendor, cdr_id: cdrId } = row;
  if (!VENDORS.some((v) => v === vendor)) return `vendor ${quote(vendor, 40)} is none of ${VENDORS.join(', ')}`;
  if (!cdrId.startsWith(`${vendor}:`)) return `cdr_id ${quote(cdrId, 60)} is not ${vendor}:<tenant>:<natural key>`;
  if (cdrId.length * 3 > MAX_CDR_ID_BYTES && Buffer.byteLength(cdrId) > MAX_CDR_ID_BYTES) {
    return `cdr_id is ${Buffer.byteLength(cdrId)} bytes long (limit ${MAX_CDR_ID_BYTES}): ${quote(cdrId, 40)}`;
  }
  // Normalize refuses such a key (naturalKeyProblem); a writer whose cdr_id is bytes, read as a string, gives one.
  if (cdrId.includes('\uFFFD')) return `cdr_id carries U+FFFD, left where bytes were not valid UTF-8 (two calls could read as one): ${quote(cdrId, 60)}`;
  if (row.received_at < 0) return `received_at ${new Date(row.received_at).toISOString()} is before 1970-01-01: the row's version (received_at in ms, the cdr table's UInt64) cannot be negative`;
  if (row.billable_seconds < 0 || row.talk_seconds < 0) return `billable_seconds ${row.billable_seconds} or talk_seconds ${row.talk_seconds} is negative (the cdr table's billable_not_negative)`;
  const minutes = billableMinutes(row.billable_seconds);
  if (row.billable_minutes !== minutes) return `billable_minutes ${row.billable_minutes} is not billable_seconds ${row.billable_seconds} in started minutes, ${minutes} (the cdr table's minutes_from_seconds)`;
  if (row.billable_seconds !== 0 && !row.answered) return `billable_seconds ${row.billable_seconds} on a call neither ANSWERED nor with an answer time (the cdr table's unanswered_bills_nothing)`;
  return null;
}

/**
 * A time the table cannot take as it is: a year before 0000 or after 9999 is written as ±YYYYYY and refused by the
 * engine, and the engine reads the year 0000 as the current year (stored as another time, not refused); the fast path
 * hands such a row to this path. Refused by the engine, 50 of them in a range stopped the
 * sink as the constraints did (rowProblem); here each is its record's dead letter.
 */
export function timeProblem(cdr: NormalizedCdr): string | null {
  const outside = (d: Date | null) => d !== null && (d.getTime() < MIN_TIME_MS || d.getTime() > MAX_TIME_MS);
  const times: [string, Date | null][] = [
    ['started_at', cdr.started_at], ['queued_at', cdr.queued_at], ['ringing_at', cdr.ringing_at], ['answered_at', cdr.answered_at],
    ['ended_at', cdr.ended_at], ['received_at', cdr.received_at],
    ...cdr.legs.flatMap((l, i): [string, Date | null][] => [[`legs[${i}].started_at`, l.started_at], [`legs[${i}].ringing_at`, l.ringing_at], [`legs[${i}].answered_at`, l.answered_at], [`legs[${i}].ended_at`, l.ended_at]]),
    ...cdr.ivr_keys.map((k, i): [string, Date | null] => [`ivr_keys[${i}].at`, k.at]),
  ];
  const bad = times.find(([, d]) => outside(d));
  return bad ? `${bad[0]} ${bad[1]!.toISOString()} is outside the years 0001-9999 the cdr table can store` : null;
}

/**
 * An int field beyond Int32. Avro's int is 32 bits, but avsc reads its varint as a long, so a body can carry any
 * integer to 2^53 there; the table's Int32 columns take such a value wrapped (talk_seconds 2^32 + 5 was stored as 5),
 * and a wrapped billable_seconds breaks the constraints rowProblem checked on the value as it came. The fast path hands
 * such a row to this path.
 */
export function intProblem(cdr: NormalizedCdr): string | null {
  const ints: [string, number | null][] = [
    ['ring_seconds', cdr.ring_seconds], ['queue_seconds', cdr.queue_seconds], ['ivr_seconds', cdr.ivr_seconds],
    ['talk_seconds', cdr.talk_seconds], ['total_seconds', cdr.total_seconds], ['billable_seconds', cdr.billable_seconds],
    ['billable_minutes', cdr.billable_minutes], ['raw_partition', cdr.raw_partition],
    ...cdr.legs.flatMap((l, i): [string, number][] => [[`legs[${i}].sequence`, l.sequence], [`legs[${i}].talk_seconds`, l.talk_seconds]]),
  ];
  const bad = ints.find(([, n]) => n !== null && n !== (n | 0));
  return bad ? `${bad[0]} ${bad[1]} is outside the Int32 of the cdr table` : null;
}

/** The fast path for `format` (TabSeparated only), compiled from the reader schema; undefined = decode and render. */
export function fastPathFor(reader: ReaderCodec<NormalizedCdr>, format: InsertFormat): TsvTranscoder | undefined {
  return format === 'TabSeparated' ? TsvTranscoder.compile(reader.reader) : undefined;
}

/**
 * Renders a batch into columns (the render thread's work, and the inline renderer's). A value written under the
 * reader's own schema goes through `fast` when given (avro-tsv.ts: the same bytes, without decoding); any other value,
 * and any the fast path hands back, is decoded and rendered.
 */
export async function renderBatch(
  reader: ReaderCodec<NormalizedCdr>,
  messages: readonly Positioned[],
  format: InsertFormat,
  fast: TsvTranscoder | undefined,
  slice?: TimeSlice,
): Promise<RenderedBatch> {
  // ~1 KiB a row: one allocation for most batches.
  const out = new LineWriter(1024 * (messages.length + 1));
  const ends = new Uint32Array(messages.length);
  const vendors: string[] = [];
  const cdrIds: string[] = [];
  const receivedAt = new Float64Array(messages.length);
  const errors: RenderedBatch['errors'] = [];
  const refuse = (i: number, kind: ErrorKind, message: string) => {
    errors.push([i, kind, message]);
    vendors.push('');
    cdrIds.push('');
  };
  for (const [i, m] of messages.entries()) {
    if (slice?.due()) await slice.yield();
    const value = m.value;
    const lineStart = out.pos;
    const facts = fast && value !== null && value.length >= 5 && value[0] === 0 && reader.readsDirectly(value.readInt32BE(1)) ? fast.transcode(value, 5, m, out) : undefined;
    if (facts) {
      const problem = rowProblem(facts);
      if (problem !== null) {
        out.pos = lineStart; // the line written already is dropped
        refuse(i, 'bad_record', problem);
      } else {
        vendors.push(facts.vendor);
        cdrIds.push(facts.cdr_id);
        receivedAt[i] = facts.received_at;
      }
    } else {
      const r = await renderOne(reader, m, format);
      const problem = 'error' in r ? null : (intProblem(r.cdr) ?? rowProblem(checkedOf(r.cdr)) ?? timeProblem(r.cdr));
      if ('error' in r) refuse(i, r.error.kind, r.error.message);
      else if (problem !== null) refuse(i, 'bad_record', problem);
      else {
        out.text(r.line);
        vendors.push(r.cdr.vendor);
        cdrIds.push(r.cdr.cdr_id);
        receivedAt[i] = r.cdr.received_at.getTime();
      }
    }
    ends[i] = out.pos;
  }
  return { buffer: out.buf.buffer as ArrayBuffer, byteOffset: out.buf.byteOffset, ends, vendors, cdrIds, receivedAt, errors };
}

/**
 * One row of a rendered batch, read from the batch's columns when asked. A row waits in the sink's buffer until its
 * insert (up to 50,000 of them, for seconds), so every object it holds survives the young generation and is copied
 * by the collector; a row here is one small object instead of five (its line's view, its Date, and the strings
 * cloned per row are made only when the insert, a dead letter or the metrics read them).
 */
class PackedRow {
  constructor(
    private readonly batch: RenderedBatch,
    private readonly index: number,
  ) {}

  get line(): Buffer {
    const { batch, index } = this;
    const start = index === 0 ? 0 : batch.ends[index - 1]!;
    return Buffer.from(batch.buffer, batch.byteOffset + start, batch.ends[index]! - start);
  }

  get vendor(): string {
    return this.batch.vendors[this.index]!;
  }

  get cdr_id(): string {
    return this.batch.cdrIds[this.index]!;
  }

  get received_at(): Date {
    return new Date(this.batch.receivedAt[this.index]!);
  }
}

/** Columns back into one result per message. */
export function unpackBatch(b: RenderedBatch): RenderResult[] {
  const errors = new Map(b.errors.map(([i, kind, message]) => [i, { kind, message }]));
  const out: RenderResult[] = [];
  for (let i = 0; i < b.ends.length; i++) {
    // The known vendors' names as the constants they are: the cloned copy of each row's name dies young.
    b.vendors[i] = VENDORS.find((v) => v === b.vendors[i]) ?? b.vendors[i]!;
    const error = errors.get(i);
    out.push(error ? { error } : new PackedRow(b, i));
  }
  return out;
}

export interface RendererOptions {
  thread: boolean;
  nice?: number;
  /** Where a render thread that does not answer in time is reported. */
  log?: LogFn;
  /** For tests: the render thread's entry (default render-worker.ts) and its deadline for a batch of `records`. */
  entry?: URL;
  deadlineMs?: (records: number) => number;
}

export function createRenderer(registry: SchemaRegistry, format: InsertFormat, opts: RendererOptions): Renderer {
  return opts.thread ? new ThreadRenderer(registry, format, opts) : new InlineRenderer(registry, format);
}

class InlineRenderer implements Renderer {
  private readonly reader: ReaderCodec<NormalizedCdr>;
  private readonly fast: TsvTranscoder | undefined;

  constructor(registry: SchemaRegistry, private readonly format: InsertFormat) {
    this.reader = new ReaderCodec<NormalizedCdr>(registry, SCHEMA_FILES.normalized);
    this.fast = fastPathFor(this.reader, format);
  }

  async render(messages: readonly ConsumedMessage[]): Promise<RenderResult[]> {
    // A registry outage throws out of the whole batch; retried as a whole (decoding is idempotent).
    return unpackBatch(await retry(() => renderBatch(this.reader, messages, this.format, this.fast, new TimeSlice()), RETRY.registry));
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * main -> worker: one partition's batch, with the writer schemas the worker has not seen yet. The values travel packed
 * in one transferred buffer (`valueEnds[i]` = end of value i, -1 for a tombstone): cloning the messages instead would
 * copy every consumed value's whole backing buffer (kafkajs hands out slices of the fetch response) and build an
 * object per message on both sides.
 */
export interface RenderRequest {
  id: number;
  schemas: [number, avro.Schema][];
  /** Writer ids the registry refused for good (unknown id, …) and why: their records are dead letters. */
  refused: [number, string][];
  /** Writer ids the thread lets go before this batch (none of them in it): sent again when a record needs them. */
  forget: number[];
  topic: string;
  partition: number;
  offsets: Float64Array;
  values: ArrayBuffer;
  valueEnds: Int32Array;
}

/** The messages of a request again, values as views into its buffer (the render thread's side). */
export function unpackRequest(r: RenderRequest): Positioned[] {
  const out: Positioned[] = [];
  let start = 0;
  for (let i = 0; i < r.offsets.length; i++) {
    const end = r.valueEnds[i]!;
    out.push({ topic: r.topic, partition: r.partition, offset: r.offsets[i]!, value: end < 0 ? null : Buffer.from(r.values, start, end - start) });
    if (end >= 0) start = end;
  }
  return out;
}

/** One partition's messages packed for the render thread (see RenderRequest). */
function packRequest(id: number, schemas: [number, avro.Schema][], refused: [number, string][], forget: number[], messages: readonly ConsumedMessage[]): RenderRequest {
  const first = messages[0];
  let bytes = 0;
  for (const m of messages) {
    if (m.topic !== first?.topic || m.partition !== first.partition) throw new CdrflowError('bug', 'the render thread takes one partition per batch');
    bytes += m.value?.length ?? 0;
  }
  const values = Buffer.allocUnsafeSlow(bytes);
  const offsets = new Float64Array(messages.length);
  const valueEnds = new Int32Array(messages.length);
  let at = 0;
  for (const [i, m] of messages.entries()) {
    offsets[i] = m.offset;
    if (m.value === null) valueEnds[i] = -1;
    else {
      at += m.value.copy(values, at);
      valueEnds[i] = at;
    }
  }
  return { id, schemas, refused, forget, topic: first?.topic ?? '', partition: first?.partition ?? 0, offsets, values: values.buffer as ArrayBuffer, valueEnds };
}
/** worker -> main: once `ready` when the thread can take batches, then one reply per request. */
export type RenderReply = { ready: true } | { id: number; batch: RenderedBatch } | { id: number; failure: SerializedError };
export interface RenderWorkerData {
  format: InsertFormat;
}

/**
 * How long the render thread may take over a batch of `records` before it counts as hung: generous (it renders 50,000
 * rows in well under a second), yet short enough that halving a batch of 50,000 down to a record that hangs the
 * thread (17 rounds, about 100 s) stays within what the consumer heartbeats a batch for (MAX_CHUNK_HEARTBEAT_MS).
 */
export const renderDeadlineMs = (records: number): number => 5_000 + Math.ceil(records / 10);

/** The render thread ended (a crash, an exit, its heap bound) with the batch out: rendered again as after a hang. */
class RenderThreadEnded extends Error {
  override name = 'RenderThreadEnded';
}

/**
 * The most the render thread's heap may hold, in MB (Worker's resourceLimits): past it the thread ends, and not the
 * process, and the batch is rendered again in halves (ThreadRenderer). Unbounded, the thread could grow its heap as far
 * as the main thread may (4 GiB here), and a record that made it allocate without end took the whole job's memory
 * first. A batch of 50,000 of the benchmark's records (fixtures/sample-cdrs.ts, 2026-12-07, a scratch measurement)
 * rendered with a bound of 32 MB and not with 24, by either path (TabSeparated's fast path, and decode and render);
 * its heap held 35-43 MB after the batch, modules included. 256 is eight times the 32 (values and lines are buffers
 * outside this heap).
 */
export const RENDER_THREAD_HEAP_MB = 256;

class ThreadRenderer implements Renderer {
  /** The thread batches go to; replaced by a fresh one when it does not answer in time. */
  private worker!: Worker;
  private readonly pending = new Map<number, { resolve: (r: RenderResult[]) => void; reject: (e: unknown) => void }>();
  /** Writers the current thread holds. */
  private readonly sent = new Set<number>();
  /** Writers refused for good (no client can build it, or not Avro), as ReaderCodec remembers them. */
  private readonly refusedForGood: RefusedWriters;
  private nextId = 0;
  private broken: CdrflowError | undefined;
  private readonly started: Promise<void>;
  private readonly log: LogFn;
  private readonly deadlineMs: (records: number) => number;

  constructor(
    private readonly registry: SchemaRegistry,
    private readonly format: InsertFormat,
    private readonly opts: RendererOptions,
  ) {
    this.refusedForGood = new RefusedWriters(registry);
    this.log = opts.log ?? (() => {});
    this.deadlineMs = opts.deadlineMs ?? renderDeadlineMs;
    this.started = this.startThread();
  }

  /** Starts a thread and makes it the one batches go to; settles once it can take them (ready). */
  private startThread(): Promise<void> {
    const data: RenderWorkerData = { format: this.format };
    const worker = startTsWorker(this.opts.entry ?? new URL('./render-worker.ts', import.meta.url), data, 'sink render', {
      nice: this.opts.nice ?? 0,
      resourceLimits: { maxOldGenerationSizeMb: RENDER_THREAD_HEAP_MB },
    });
    this.worker = worker;
    let started!: () => void;
    let notStarted!: (err: CdrflowError) => void;
    const starting = new Promise<void>((resolve, reject) => {
      started = resolve;
      notStarted = reject;
    });
    // Nobody may be waiting when the thread dies before it was asked whether it started.
    starting.catch(() => undefined);
    worker.on('message', (reply: RenderReply) => {
      if ('ready' in reply) {
        ready = true;
        return started();
      }
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if ('failure' in reply) p.reject(deserializeError(reply.failure));
      else p.resolve(unpackBatch(reply.batch));
    });
    // A thread that ends (an exception nobody caught, an exit, its heap bound, a native abort) once it had started is
    // replaced as one that hangs is, and the batches out on it are rendered again in halves (renderIsolating): ended
    // as a bug (it stopped the sink and the job), the record that ended it stopped the job again at every restart. One
    // that ends before it said it is ready cannot start (a bug in this code, a missing module): no fresh one would
    // either, so it stops the sink (app/supervise.ts retries only transient errors); as does an end after close.
    let ready = false;
    const ended = (err: CdrflowError) => {
      notStarted(err);
      // A thread replaced already (after its deadline, or its 'error' before its 'exit'): what waited on it has its answer.
      if (worker !== this.worker) return;
      if (this.broken || !ready) {
        this.broken ??= err;
        for (const p of this.pending.values()) p.reject(this.broken);
        this.pending.clear();
        return;
      }
      this.log('error', 'sink.render_thread_ended', { thread: 'sink render', error: err.message, batches: this.pending.size });
      this.replaceThread(new RenderThreadEnded(err.message, { cause: err }));
    };
    worker.on('error', (err) => ended(new CdrflowError('bug', `the sink's render thread crashed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => ended(new CdrflowError('bug', `the sink's render thread exited (code ${code})`)));
    // The thread must not keep a stopping process alive.
    worker.unref();
    return starting;
  }

  /**
   * The thread did not answer in time (answerWithin terminates it) or ended (said by the caller, once): a fresh one
   * takes its place.
   */
  private replaceThread(err: ThreadTimedOut | RenderThreadEnded): void {
    // Every batch out was posted to the thread that hung or ended: each caller renders its batch again (renderIsolating).
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    // The fresh thread holds no writers: they are fetched and sent again as its batches need them.
    for (const id of this.sent) forgetFetchedSchema(this.registry, id);
    this.sent.clear();
    void this.startThread();
  }

  render(messages: readonly ConsumedMessage[]): Promise<RenderResult[]> {
    return this.renderIsolating(messages, false);
  }

  /**
   * A batch the thread did not finish in time, or under which it ended, is rendered again in halves, each by a fresh
   * thread, down to the records that hang or end a thread by themselves: those are dead letters, their neighbours rows
   * (as the batcher halves a batch the engine refuses). A record is given up on only once it hung or ended a thread
   * twice (alone, and before that in its batch or alone again): one hang or end may be the thread's, not the record's.
   */
  private async renderIsolating(messages: readonly ConsumedMessage[], hungBefore: boolean): Promise<RenderResult[]> {
    try {
      return await this.renderOnce(messages);
    } catch (err) {
      if (!(err instanceof ThreadTimedOut || err instanceof RenderThreadEnded)) throw err;
      if (messages.length === 1) {
        if (!hungBefore) return this.renderIsolating(messages, true);
        return [{ error: { kind: 'bad_record', message: `the record ${err instanceof ThreadTimedOut ? 'hung' : 'ended'} the render thread: ${err.message}` } }];
      }
      const mid = messages.length >>> 1;
      return [...(await this.renderIsolating(messages.slice(0, mid), true)), ...(await this.renderIsolating(messages.slice(mid), true))];
    }
  }

  private async renderOnce(messages: readonly ConsumedMessage[]): Promise<RenderResult[]> {
    if (this.broken) throw this.broken;
    const first = messages[0];
    if (!first) return [];
    const worker = this.worker;
    const schemas: [number, avro.Schema][] = [];
    const refused: [number, string][] = [];
    const forget: number[] = [];
    const inBatch = new Set<number>();
    for (const m of messages) {
      if (m.value === null) continue; // a tombstone: the worker says so for this record
      try {
        inBatch.add(framedSchemaId(m.value));
      } catch {
        // bad framing (a negative id too): the worker says so for this record
      }
    }
    for (const id of inBatch) {
      if (this.sent.has(id)) continue;
      let type: avro.Type;
      try {
        type = await retry(async () => {
          try {
            return await fetchWriter(this.registry, id, this.refusedForGood);
          } catch (err) {
            throw classifyDecodeError(err, `writer schema ${id} of ${messages[0]?.topic ?? 'the batch'}`);
          }
        }, RETRY.registry);
      } catch (err) {
        // An id the registry does not know is its records' problem (dead letters, in the thread); asked again next
        // batch. One refused for good (fetchWriter) is not asked again.
        const e = asCdrflowError(err);
        if (e.kind !== 'bad_record') throw e;
        refused.push([id, e.message]);
        continue;
      }
      schemas.push([id, type.schema({ exportAttrs: true })]);
    }
    // Only now, when nothing more can fail before the batch is posted: a batch given up on (the registry away past
    // its retries) is handed over again, and its writers must then be sent again too.
    for (const [id] of schemas) this.sent.add(id);
    // At most MAX_WRITER_SCHEMAS held in the thread (see ReaderCodec), the first sent let go first; never one this
    // batch reads (the thread would meet a record whose writer it no longer has), so a batch of more writers than
    // that holds them until a later batch.
    for (const old of this.sent) {
      if (this.sent.size <= MAX_WRITER_SCHEMAS) break;
      if (inBatch.has(old)) continue;
      this.sent.delete(old);
      forget.push(old);
      forgetFetchedSchema(this.registry, old);
    }
    // The thread may have ended while the writers were fetched: a batch posted to it now would never be answered.
    if (this.broken) throw this.broken;
    // Or been replaced (replaceThread): the writers this batch counted on are not in the fresh one.
    if (worker !== this.worker) return this.renderOnce(messages);
    const id = this.nextId++;
    const request = packRequest(id, schemas, refused, forget, messages);
    const answer = new Promise<RenderResult[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage(request, [request.values, request.offsets.buffer as ArrayBuffer, request.valueEnds.buffer as ArrayBuffer]);
    });
    const doing = `rendering ${first.topic}[${first.partition}] offsets ${first.offset}-${messages[messages.length - 1]!.offset} (${messages.length} records)`;
    return answerWithin(answer, worker, this.deadlineMs(messages.length), { thread: 'sink render', doing }, (err) => {
      this.log('error', 'sink.render_thread_timeout', { thread: err.thread, waitedMs: err.waitedMs, doing: err.doing });
      this.replaceThread(err);
    });
  }

  ready(): Promise<void> {
    return this.started;
  }

  async close(): Promise<void> {
    this.broken ??= new CdrflowError('bug', 'the sink renderer is closed');
    await this.worker.terminate();
  }
}
