// File import for the push vendors (their backfill: Huawei support can resend CDR files; LVMS records kept by the
// sender). One JSON value per line; each record becomes a raw envelope with mode `import`, published in batches and
// acknowledged by Kafka. Bad lines are reported with their line number and skipped; only an input that is no JSON Lines
// at all (compressed data, UTF-16 text, a line still going after MAX_SKIPPED_LINE_BYTES), a stop request (the caller's
// signal), a batch Kafka refuses past its retries or a read error ends the run early, with a summary of what was done.
// Lines are read by core/byte-lines.ts (bounded, strict UTF-8) and held to the receivers' limits (core/input-limits.ts).
//   huawei-privatenumber: a FeeInfo object, or a whole push body {"eventType":"fee","feeLst":[...]} (each element
//                         kept byte-for-byte); tenant = the record's appKey, else --tenant.
//   alibaba-lvms:         an IvrCallRecordDto object (or that object as a JSON string, as TOP logs it); tenant =
//                         --tenant (the DTO carries no app_key).
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { Socket } from 'node:net';
import { addAbortSignal, type Readable } from 'node:stream';
import { basename } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { RawEnvelope } from '../../core/envelope.ts';
import { TOPICS } from '../../core/topology.ts';
import { huaweiNaturalKey, parseHuaweiText } from '../../core/records/huawei-key.ts';
import { huaweiAppAttributes, type HuaweiApp } from '../huawei-privatenumber/config.ts';
import { MAX_FEE_RECORDS } from '../huawei-privatenumber/receiver-route.ts';
import { checkLvmsDto } from '../../core/records/lvms-key.ts';
import { rawArrayElements } from '../../core/records/json-raw.ts';
import type { EnvelopeSink } from '../receiver/types.ts';
import type { ImportOptions } from './config.ts';
import { RETRY, retry, type BackoffOptions } from '../../core/backoff.ts';
import { asCdrflowError } from '../../core/errors.ts';
import { MAX_LINE_BYTES, naturalKeyProblem, parseJsonStrict, quote, recordSizeProblem, tenantProblem, terminalReason } from '../../core/input-limits.ts';
import { byteLines, overlongReason } from '../../core/byte-lines.ts';

export const IMPORT_CONNECTOR = 'import';

/**
 * A line still going after this many bytes ends the import: the file is no JSON Lines (/dev/zero, a binary, a file
 * without line ends). Lines over MAX_LINE_BYTES are skipped unread and reported, so a file with a few broken huge
 * records still imports the rest; but a line with no end used to be skipped for ever (a core busy, nothing printed).
 * 64 times the longest line accepted is far beyond anything a JSON-lines writer makes, and skipping it takes a fraction
 * of a second from a disk or a pipe, so an endless input ends at once and a merely overlong record still does not.
 */
export const MAX_SKIPPED_LINE_BYTES = 64 * 1024 * 1024;

/** Bytes at the start of the input looked at for compressed data and UTF-16 (its byte order mark, NUL bytes between the characters). */
const SNIFF_BYTES = 4096;

export interface BadLine {
  line: number;
  reason: string;
}

/** A batch Kafka did not acknowledge when the import ended: its records, from line `fromLine` on, were not published. */
export interface Unpublished {
  fromLine: number;
  records: number;
  problem: string;
  /** As the publisher threw it (Kafka, or the registry for the topic's first batch): whether Kafka went away. */
  error: unknown;
}

/**
 * What a user needs of an import that ended with a batch unpublished (a stop while Kafka refused it, or Kafka refusing
 * it past its retries), to decide where to import again from. Importing a line again is harmless: its records get the
 * same cdr_id (the same key, tenant and vendor), and ClickHouse keeps one row per cdr_id (README, "same cdr_id, one row").
 */
export function resumeAdvice(unpublished: Unpublished, records: number): string {
  return `its ${unpublished.records} records, from line ${unpublished.fromLine}, were not published; ${resumePoint(unpublished.fromLine, records)}`;
}

/** The line to import again from, when every line before it was published (`records` records) or reported. */
export function resumePoint(line: number, records: number): string {
  return `the lines before line ${line} were published (${records} records) or reported: import the file again from line ${line} on (a record imported twice is stored once: the same cdr_id is one row in ClickHouse)`;
}

export interface ImportSummary {
  file: string;
  topic: string;
  requestId: string;
  lines: number;
  blankLines: number;
  records: number;
  badLines: number;
  /** The first `maxReportedBadLines` bad lines (all of them are passed to onBadLine). */
  firstBadLines: BadLine[];
  /**
   * Why the import ended before the end of the input, when it did; every line before (`lines` of them) was published
   * or reported, but for `unpublished`. `signal`: the caller's signal aborted (Ctrl-C); `unpublished` when it came
   * while Kafka refused a batch (its retries end there): that batch's records, from line `fromLine` on, were not
   * published (nor counted in `records`), every line before it was. `publish-failed`: a batch was refused past its
   * retries: the same `unpublished`, and no line after that batch was read.
   * `read-failed`: reading the input failed (`error`: EIO on a failing disk, a network file system gone) before line
   * `line`; the records of the lines read were published, but for `unpublished` when Kafka refused that last batch.
   * `not-json-lines`: the input is not JSON Lines (gzip data, UTF-16 text, a line still going after
   * MAX_SKIPPED_LINE_BYTES); `line` is where that was seen, `problem` says it; `unpublished` as for `read-failed`.
   * A read that ended so keeps its reason when Kafka then refuses the last batch: both are told (cli/commands/import.ts).
   */
  stopped?:
    | { reason: 'signal'; unpublished?: Unpublished }
    | { reason: 'publish-failed'; unpublished: Unpublished }
    | { reason: 'read-failed'; line: number; problem: string; error: unknown; unpublished?: Unpublished }
    | { reason: 'not-json-lines'; line: number; problem: string; unpublished?: Unpublished };
}

export interface ImportHooks {
  sink: EnvelopeSink;
  onLine?: (lineNumber: number) => void;
  onBadLine?: (bad: BadLine) => void;
  now?: () => number;
  /** Retry policy for a batch Kafka did not acknowledge (same keys again, so a retry cannot double a record). */
  retry?: Partial<BackoffOptions>;
  /**
   * Stops the import (Ctrl-C): no more lines are read, the records of the lines read so far are published (one try
   * each once aborted, and a retry's wait ends) and the summary says `stopped: { reason: 'signal' }`, with the batch
   * Kafka refused, if any, as `unpublished`.
   */
  signal?: AbortSignal;
  /** What file `-` reads (default process.stdin). */
  stdin?: Readable;
  /**
   * The receiver's Huawei apps (`receiver.huawei.apps`): a record of one of them carries what its pushes carry (the
   * binding mode), so an import and a push of the same call map alike.
   */
  huaweiApps?: readonly HuaweiApp[] | undefined;
}

/** The file name that means standard input, as for most Unix tools. */
export const STDIN_FILE = '-';

/**
 * Reading the input failed before `line` (EIO, a network file system gone): the import ends there
 * (see ImportSummary.stopped).
 */
class ReadFailed extends Error {
  constructor(
    readonly line: number,
    readonly error: unknown,
  ) {
    super(asCdrflowError(error).message);
  }
}

/**
 * The input's chunks, a read error marked as a ReadFailed (a stop's abort stays as it is): a loop reading lines ends
 * with its summary then, not with a throw that leaves the batch pending unpublished and unnamed.
 */
async function* readErrorsMarked(input: AsyncIterable<Buffer>, nextLine: () => number): AsyncGenerator<Buffer> {
  try {
    yield* input;
  } catch (err) {
    throw isAbort(err) ? err : new ReadFailed(nextLine(), err);
  }
}

/** The input is not JSON Lines: the import ends at `line` (see ImportSummary.stopped). */
class NotJsonLines extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Why the start of an input says it is UTF-16 rather than UTF-8, or undefined: a UTF-16 byte order mark, or a first
 * line with NUL bytes between its characters (which UTF-8 JSON never holds). UTF-16 text read as UTF-8 gave one
 * "not valid JSON (Unexpected token '\0' …)" per line, NUL bytes and all.
 */
export function utf16Problem(start: Buffer, file = '<file>'): string | undefined {
  let evidence: string | undefined;
  let encoding = 'UTF-16LE';
  if (start.length >= 2 && start[0] === 0xff && start[1] === 0xfe) evidence = 'it starts with the UTF-16LE byte order mark FF FE';
  else if (start.length >= 2 && start[0] === 0xfe && start[1] === 0xff) [evidence, encoding] = ['it starts with the UTF-16BE byte order mark FE FF', 'UTF-16BE'];
  else {
    const end = start.indexOf(0x0a);
    const line = start.subarray(0, Math.min(end === -1 ? start.length : end, SNIFF_BYTES));
    if (line.length < 4) return undefined;
    const nuls = [0, 0];
    for (let i = 0; i < line.length; i++) if (line[i] === 0) nuls[i % 2]!++;
    // Every other byte NUL (ASCII in UTF-16), allowing for non-ASCII characters; NULs on both sides are no UTF-16.
    const even = nuls[0]! / Math.ceil(line.length / 2);
    const odd = nuls[1]! / Math.floor(line.length / 2);
    if (odd >= 0.5 && even <= 0.1) evidence = 'its first line has NUL bytes between the characters';
    else if (even >= 0.5 && odd <= 0.1) [evidence, encoding] = ['its first line has NUL bytes between the characters', 'UTF-16BE'];
  }
  if (evidence === undefined) return undefined;
  const name = shellName(file);
  return `looks like UTF-16 (${evidence}), not UTF-8: convert it to UTF-8 first (iconv -f ${encoding} -t UTF-8 ${name} > ${name}.utf8.jsonl)`;
}

/** The file's own name in an example command when a shell takes it as it is, else `<file>`. */
function shellName(file: string): string {
  return /^[\w./+-]+$/.test(file) && !file.startsWith('-') ? file : '<file>';
}

/**
 * Compressed formats by their magic bytes, each of which is invalid UTF-8, so no JSON-lines file starts with one. A
 * `calls.jsonl.gz` given as it is was read as text: one "invalid UTF-8" bad line per 0x0A byte of the compressed data.
 */
const COMPRESSED = [
  { format: 'gzip', magic: [0x1f, 0x8b], cat: 'zcat' },
  { format: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], cat: 'xzcat' },
  { format: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], cat: 'zstdcat' },
] as const;

/** Why the start of an input says it is no UTF-8 text (compressed data, UTF-16), or undefined. */
export function startProblem(start: Buffer, file = '<file>'): string | undefined {
  const packed = COMPRESSED.find(({ magic }) => start.length >= magic.length && magic.every((byte, i) => start[i] === byte));
  if (packed === undefined) return utf16Problem(start, file);
  const hex = packed.magic.map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(' ');
  return `looks like ${packed.format} data (it starts with ${hex}), not JSON Lines: decompress it first (${packed.cat} ${shellName(file)} | cdrflow import … --file -)`;
}

/** startProblem of a regular file's first bytes (read without touching the rest), for a check before anything else. */
export function fileStartProblem(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const start = Buffer.alloc(SNIFF_BYTES);
    return startProblem(start.subarray(0, readSync(fd, start, 0, SNIFF_BYTES, 0)), path);
  } finally {
    closeSync(fd);
  }
}

/**
 * The input's chunks as they come, checked on the way: the start for compressed data and UTF-16, and the length of the
 * line in progress, which ends the import once it is over MAX_SKIPPED_LINE_BYTES (byteLines only counts such a line,
 * for ever if it has no end). `nextLine` is the number of the line the next chunk continues: byteLines asks for a chunk only once every
 * line before it was handed on, so the caller's count is exact then.
 */
async function* checkedChunks(input: AsyncIterable<Buffer>, nextLine: () => number, maxLineBytes: number): AsyncGenerator<Buffer> {
  let run = 0; // bytes of the line in progress so far
  const pass = (chunk: Buffer): Buffer => {
    const firstEnd = chunk.indexOf(0x0a);
    if ((firstEnd === -1 ? run + chunk.length : run + firstEnd) > maxLineBytes) {
      const mib = maxLineBytes % (1024 * 1024) === 0 ? `${maxLineBytes / 1024 / 1024} MiB` : `${maxLineBytes} bytes`;
      throw new NotJsonLines(nextLine(), `line ${nextLine()} is still going after ${mib} without a line end: the file does not look like JSON Lines (one JSON value per line); the import stopped there`);
    }
    run = firstEnd === -1 ? run + chunk.length : chunk.length - chunk.lastIndexOf(0x0a) - 1;
    return chunk;
  };
  let head: Buffer[] | undefined = [];
  let headBytes = 0;
  const sniffed = () => {
    const start = Buffer.concat(head!, headBytes);
    head = undefined;
    const problem = startProblem(start);
    if (problem !== undefined) throw new NotJsonLines(1, problem);
    // A UTF-8 byte order mark is no part of the first line: dropped here, before the line's length is counted (a
    // line of the limit after one was refused as 3 bytes too long).
    return start[0] === 0xef && start[1] === 0xbb && start[2] === 0xbf ? start.subarray(3) : start;
  };
  for await (const chunk of input) {
    if (head === undefined) {
      yield pass(chunk);
      continue;
    }
    head.push(chunk);
    headBytes += chunk.length;
    if (headBytes >= SNIFF_BYTES || chunk.includes(0x0a)) yield pass(sniffed());
  }
  if (head !== undefined && headBytes > 0) yield pass(sniffed());
}

/**
 * The input as a stream that `signal` can end at any moment. A file is read with fs reads, which never wait long. A
 * pipe (`--file <(zcat calls.jsonl.gz)`, a FIFO) is read through the event loop instead: an fs read of a pipe blocks a
 * thread of the pool until data comes, and destroying the stream waits for it, so a stop request (or the process's
 * end) waited for the writer's next bytes, for ever from a writer that is alive but silent.
 */
function openInput(path: string, signal: AbortSignal | undefined, stdin: Readable): Readable {
  // Node reads its stdin through the event loop whatever it is (a file, a pipe, a socket, a terminal); opening
  // /dev/stdin instead fails on a socket (ENXIO), which is what a parent process's 'pipe' often is.
  if (path === STDIN_FILE) return signal ? addAbortSignal(signal, stdin) : stdin;
  // O_NONBLOCK: the event loop's reads must not block. A FIFO without a writer yet is opened at once (a blocking open
  // waited for one); its reads then wait for a writer as before.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let stream: Readable;
  try {
    const stats = fstatSync(fd);
    if (stats.isFIFO()) stream = new Socket({ fd, readable: true, writable: false });
    else {
      // A file, a device: fs reads on a descriptor of its own, without O_NONBLOCK (which a terminal would honour).
      closeSync(fd);
      return createReadStream(path, signal ? { signal } : {});
    }
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return signal ? addAbortSignal(signal, stream) : stream;
}

function isAbort(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'AbortError';
}

type LineResult = { ok: true; envelopes: RawEnvelope[] } | { ok: false; reason: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function envelopesFromLine(
  line: string,
  lineNumber: number,
  ctx: { vendor: ImportOptions['vendor']; tenant?: string | undefined; file: string; requestId: string; receivedAt: Date; huaweiApps?: readonly HuaweiApp[] | undefined },
): LineResult {
  // The door's rules (core/input-limits.ts), as at the receivers: depth, a member given twice, lone surrogates; a Huawei
  // line by the Huawei receiver's own reading (U+FFFD refused too; an LVMS DTO gets it in checkLvmsDto).
  const strict = ctx.vendor === 'huawei-privatenumber' ? parseHuaweiText(line) : parseJsonStrict(line);
  if (!strict.ok) return { ok: false, reason: strict.problem.startsWith('malformed JSON') ? `not valid JSON (${strict.problem.slice('malformed JSON: '.length)})` : strict.problem };
  const parsed = strict.value;
  // The record's own text, as a receiver stores it: the blanks a file keeps around a line are no part of it (JSON.parse
  // took them, so they are JSON whitespace, which trim() removes and the value's last character is not). A record with
  // no id is keyed by the hash of its text, so with them the import stored a second copy of what the receiver had.
  const text = line.trim();
  const base = {
    vendor: ctx.vendor,
    received_at: ctx.receivedAt,
    connector: IMPORT_CONNECTOR,
    mode: 'import' as const,
    request_id: ctx.requestId,
    payload_format: 'json',
  };
  const attributes = (extra: Record<string, string> = {}) => ({ file: ctx.file, line: String(lineNumber), ...extra });

  if (ctx.vendor === 'huawei-privatenumber') {
    let items: { record: Record<string, unknown>; payload: string; extra: Record<string, string> }[];
    if (isObject(parsed) && ('eventType' in parsed || 'feeLst' in parsed)) {
      // A push body, never a FeeInfo (which has neither member). Read as a FeeInfo it was published under a hash of
      // the line, counted as imported, and dead-lettered by normalize (no sessionId).
      const eventType = parsed['eventType'];
      if (typeof eventType === 'string' && eventType !== 'fee') {
        return { ok: false, reason: `a call event push (eventType ${quote(eventType, 40)}), not fee records: import takes FeeInfo objects and {"eventType":"fee","feeLst":[...]} push bodies` };
      }
      if (eventType !== 'fee') return { ok: false, reason: 'a push body (it has feeLst) needs "eventType":"fee"' };
      const feeLst = parsed['feeLst'];
      if (!Array.isArray(feeLst) || feeLst.length === 0 || !feeLst.every(isObject)) return { ok: false, reason: 'feeLst must hold one or more objects' };
      // Huawei sends 1 to 50 records a push and the receiver refuses more whole: so does the import (the door's rules).
      if (feeLst.length > MAX_FEE_RECORDS) return { ok: false, reason: `feeLst holds ${feeLst.length} records, more than a push holds (1 to ${MAX_FEE_RECORDS}): the receiver refuses it whole` };
      const raws = rawArrayElements(line, 'feeLst');
      const exact = raws !== undefined && raws.length === feeLst.length;
      items = feeLst.map((record, i) => ({
        record: record as Record<string, unknown>,
        payload: exact ? raws[i]! : JSON.stringify(record),
        extra: { batch_size: String(feeLst.length), batch_index: String(i) },
      }));
    } else if (isObject(parsed)) {
      items = [{ record: parsed, payload: text, extra: {} }];
    } else {
      return { ok: false, reason: 'expected a FeeInfo object or a {"eventType":"fee","feeLst":[...]} push body' };
    }
    const envelopes: RawEnvelope[] = [];
    for (const [index, { record, payload, extra }] of items.entries()) {
      // The tenant is part of every cdr_id: blanks around the appKey are not part of it (normalize reads a record's
      // tenant so too), else the calls the receiver stored under its app's appKey were stored again under another.
      const ownAppKey = typeof record['appKey'] === 'string' ? record['appKey'].trim() : '';
      const appKey = ownAppKey !== '' ? ownAppKey : ctx.tenant;
      if (appKey === undefined) return { ok: false, reason: 'the record has no appKey and no --tenant was given' };
      const { key, source } = huaweiNaturalKey(record, payload);
      // As at the receiver: the line is refused whole, like a push with one such record.
      const tenant = tenantProblem(appKey);
      const problem = (tenant && `appKey ${tenant}`) ?? naturalKeyProblem(appKey, 'appKey') ?? naturalKeyProblem(key, source) ?? recordSizeProblem(payload);
      if (problem !== null) return { ok: false, reason: items.length > 1 ? `feeLst[${index}]: ${problem}` : problem };
      const app = ctx.huaweiApps?.find((a) => a.appKey === appKey);
      envelopes.push({ ...base, tenant_id: appKey, natural_key: key, payload, attributes: attributes({ ...huaweiAppAttributes(app), ...extra, key_source: source }) });
    }
    return { ok: true, envelopes };
  }

  // alibaba-lvms
  const dto = typeof parsed === 'string' ? parsed : text;
  const check = checkLvmsDto(dto);
  if (!check.ok) return { ok: false, reason: check.problem };
  if (ctx.tenant === undefined) return { ok: false, reason: 'LVMS records carry no app_key: pass --tenant' };
  return {
    ok: true,
    envelopes: [{ ...base, tenant_id: ctx.tenant, natural_key: check.key.key, payload: dto, attributes: attributes({ key_source: check.key.source }) }],
  };
}

export async function importFile(options: ImportOptions, hooks: ImportHooks): Promise<ImportSummary> {
  const topic = options.topic ?? TOPICS.raw(options.vendor);
  const requestId = randomUUID();
  const now = hooks.now ?? Date.now;
  const file = options.file === STDIN_FILE ? 'stdin' : basename(options.file);
  const summary: ImportSummary = { file, topic, requestId, lines: 0, blankLines: 0, records: 0, badLines: 0, firstBadLines: [] };
  const pending: RawEnvelope[] = [];
  let pendingFromLine = 0; // the line of pending's first record
  const { signal } = hooks;
  /**
   * Publishes what is pending; false when Kafka refused it past its retries, or a stop (Ctrl-C) came while it refused
   * it (summary.stopped says which, with the batch left out): the import ends there.
   */
  const flush = async (): Promise<boolean> => {
    if (pending.length === 0) return true;
    const batch = pending.splice(0);
    try {
      // Once stopped (Ctrl-C), the batch gets one try, and a retry's wait ends: no backoff keeps the user waiting.
      await retry(() => hooks.sink.publish(batch, topic), hooks.retry ?? RETRY.importPublish, signal ? { signal } : {});
    } catch (err) {
      // Either way the summary so far and where to resume, as a thrown error told neither (the caller named the last
      // line read, inside the batch left out). The user asked to stop: they get the stop's answer, not a Kafka failure.
      const unpublished = { fromLine: pendingFromLine, records: batch.length, problem: asCdrflowError(err).message, error: err };
      // After a read that ended (the last flush: a read error, not JSON Lines), that stays the reason, this batch left
      // out too: the user must hear of both.
      const ended = summary.stopped;
      if (ended?.reason === 'read-failed' || ended?.reason === 'not-json-lines') ended.unpublished = unpublished;
      else summary.stopped = signal?.aborted ? { reason: 'signal', unpublished } : { reason: 'publish-failed', unpublished };
      return false;
    }
    summary.records += batch.length;
    return true;
  };

  // Strict UTF-8: a lenient decoder would turn invalid bytes into U+FFFD and change a call id without a word. The BOM
  // at the start of the input is dropped by checkedChunks; anywhere else (ignoreBOM: true) it is text.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  // Aborting the signal also ends a read that waits (a pipe) or skips (a long line) between two lines.
  const nextLine = () => summary.lines + 1;
  const input = checkedChunks(readErrorsMarked(openInput(options.file, signal, hooks.stdin ?? process.stdin), nextLine), nextLine, MAX_SKIPPED_LINE_BYTES);
  try {
    for await (const bytes of byteLines(input, MAX_LINE_BYTES)) {
      if (signal?.aborted) {
        summary.stopped = { reason: 'signal' };
        break;
      }
      const lineNumber = ++summary.lines;
      let line: string | undefined;
      let result: LineResult | undefined;
      if (!Buffer.isBuffer(bytes)) {
        result = { ok: false, reason: overlongReason(bytes) };
      } else {
        try {
          line = decoder.decode(bytes);
        } catch {
          result = { ok: false, reason: 'invalid UTF-8 in the line' };
        }
      }
      if (line !== undefined && line.trim() === '') {
        summary.blankLines++;
      } else {
        result ??= envelopesFromLine(line!, lineNumber, { vendor: options.vendor, tenant: options.tenant, file, requestId, receivedAt: new Date(now()), huaweiApps: hooks.huaweiApps });
        if (result.ok) {
          // A line's records go in one batch: a push body is one acknowledged unit, as at the receiver, and a line is
          // where a stopped import resumes. What is pending goes first when they would not fit in the batch with it, so
          // a batch holds at most batchSize records, or one push body of more (up to MAX_FEE_RECORDS).
          if (pending.length + result.envelopes.length > options.batchSize && !(await flush())) break;
          if (pending.length === 0) pendingFromLine = lineNumber;
          pending.push(...result.envelopes);
          if (pending.length >= options.batchSize && !(await flush())) break;
        } else {
          summary.badLines++;
          const bad = { line: lineNumber, reason: terminalReason(result.reason) };
          if (summary.firstBadLines.length < options.maxReportedBadLines) summary.firstBadLines.push(bad);
          hooks.onBadLine?.(bad);
        }
      }
      hooks.onLine?.(lineNumber);
    }
  } catch (err) {
    if (err instanceof NotJsonLines) summary.stopped = { reason: 'not-json-lines', line: err.line, problem: err.message };
    else if (signal?.aborted && isAbort(err)) summary.stopped = { reason: 'signal' };
    else if (err instanceof ReadFailed) summary.stopped = { reason: 'read-failed', line: err.line, problem: err.message, error: err.error };
    else throw err;
  }
  await flush();
  return summary;
}

/** Lines in a file (for the progress total), counted by newline bytes without decoding; `signal` stops the count. */
export async function countLines(path: string, signal?: AbortSignal): Promise<number> {
  let count = 0;
  let last = 10;
  for await (const chunk of createReadStream(path, signal ? { signal } : {}) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) count++;
    if (chunk.length > 0) last = chunk[chunk.length - 1]!;
  }
  return last === 10 ? count : count + 1;
}
