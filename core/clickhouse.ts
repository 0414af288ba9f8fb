// The one place that creates ClickHouse clients. Everything speaks @clickhouse/client; by default the engine is
// embedded (chdb, ClickHouse in-process, plugged in through `chdb/connection`), or an HTTP server; which one, and
// where, is the config's (app/config.ts endpoints()).
//
// Embedded caveats (checked by core/clickhouse.test.ts):
// - One data directory per process: the engine is a process singleton; opening a second path while one is live
//   throws "only one active data directory per process". Two clients on the same path share the same engine.
//   A table written by one process cannot be read by another process at the same time: run the writer in-process
//   or use a ClickHouse server (CLICKHOUSE_URL) for multi-process setups.
// - `clickhouse_settings` persist on the embedded session: after one insert with `insert_deduplication_token`, a
//   later insert of *different* rows without a token reuses the old token and is silently dropped as a duplicate.
//   This factory therefore sends `insert_deduplication_token: ''` with every request unless the caller sets one.
// - 64-bit integers come back as JSON numbers (losing precision above 2^53) where a server quotes them; the factory
//   asks for quoted 64-bit integers (the server's default too), so read them with Number()/BigInt() either way.
// - The current database is per process too (see createClickHouse): qualify table names when mixing databases.
// - The engine's time zone is the process's: run with TZ=UTC (the vitest config does).
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { addAbortSignal, Readable as ReadableStream } from 'node:stream';
import { createClient, parseError } from '@clickhouse/client';
import type { ClickHouseClient, ClickHouseClientConfigOptions, ClickHouseSettings, Logger, WarnLogParams } from '@clickhouse/client';
import { z } from 'zod';
import { CdrflowError } from './errors.ts';
import { quote } from './input-limits.ts';
import { logger, type LogFn, type LogLevel } from './log.ts';
import { engineCall } from './engine-exit.ts';
import { processAlive } from './process-identity.ts';

export type ClickHouseTarget =
  | { kind: 'embedded'; dataDir: string; database: string }
  | { kind: 'http'; url: string; username: string; password: string; database: string };

// Sent with every request so both engines behave alike; a caller's per-request settings override these.
const COMMON_SETTINGS: ClickHouseSettings = {
  insert_deduplication_token: '',
  output_format_json_quote_64bit_integers: 1,
};

/**
 * The client's own entries through the project's logger, as `event` (its default writes them to the console, with a
 * stack). A request we end ourselves (a deadline of readRows or runBounded, a caller's abort signal, an answer we stop
 * reading) makes it log the abort as an error, and the answer left unread as a warning once its socket closes:
 * expected, and already reported to the caller by the request's own error, so those are debug. Its other errors are
 * warnings: each failed request reaches its caller too, which reports it.
 */
export function clientLogger(log: LogFn, event: string): new () => Logger {
  const cut = (message: string, err: Error | undefined) => err?.message === 'The user aborted a request.' || message.includes('socket was closed or ended before the response was fully read');
  const entry =
    (level: LogLevel) =>
    ({ module, message, args, err }: WarnLogParams) =>
      log(level === 'warn' && cut(message, err) ? 'debug' : level, event, { module, message, ...args, ...(err ? { error: err.message } : {}) });
  return class {
    trace = entry('debug');
    debug = entry('debug');
    info = entry('debug');
    warn = entry('warn');
    error = entry('warn');
  };
}

/** `log`: where the client's own entries go, as `clickhouse.client` (component `clickhouse` unless given). */
export async function createClickHouse(target: ClickHouseTarget, options: { log?: LogFn } = {}): Promise<ClickHouseClient> {
  const logFn = options.log ?? logger('clickhouse');
  const log = { LoggerClass: clientLogger(logFn, 'clickhouse.client') };
  if (target.kind === 'http') {
    return createClient({
      url: withoutIdleTimeout(target.url, logFn),
      username: target.username,
      password: target.password,
      database: target.database,
      clickhouse_settings: COMMON_SETTINGS,
      // The client's request_timeout is one idle timer on the socket for every request (socket.setTimeout in its
      // socket_pool.js, 30 s by default), and a statement sent with wait_end_of_query is silent until it has ended:
      // an OPTIMIZE … FINAL of the repair or a slow insert was cut after 30 s, long before its own deadline. Every
      // request of this client has one (execBounded: readRows, runBounded), so that deadline alone ends it.
      request_timeout: 0,
      log,
    });
  }
  mkdirSync(target.dataDir, { recursive: true });
  assertEngineFree(target.dataDir);
  // Loaded lazily: the native engine is large and HTTP users never need it.
  const { createChdbConnection } = await import('chdb/connection');
  // chdb types its Connection against @clickhouse/client-common, while @clickhouse/client 1.23 bundles its own copy
  // of those types; they match at run time but not structurally under exactOptionalPropertyTypes.
  let connection: NonNullable<ClickHouseClientConfigOptions['connection']>;
  try {
    connection = trackedConnection(createChdbConnection({ path: target.dataDir }) as unknown as typeof connection);
  } catch (err) {
    throw new CdrflowError(
      'config',
      `cannot open embedded ClickHouse at ${target.dataDir}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const client = createClient({ connection, database: target.database, clickhouse_settings: COMMON_SETTINGS, log });
  const { chdb } = connection as unknown as { chdb: EngineSession };
  rawInserts.set(client, stagedInsert(chdb, stagingDir(target.dataDir)));
  if (target.database !== 'default') {
    // chdb/connection ignores the client's `database` option, and the session is shared by every client in the
    // process, so `USE` switches the current database for all of them: with several databases in one process,
    // qualify table names (`db.table`) instead of relying on the current database.
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(target.database)}` });
    await client.command({ query: `USE ${quoteIdentifier(target.database)}` });
  }
  return client;
}

/** The embedded connection with each of its calls into the engine tracked (engineCall), for exitProcess. */
function trackedConnection<C extends object>(connection: C): C {
  const calls = new Set(['query', 'exec', 'command', 'insert', 'ping']);
  return new Proxy(connection, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      if (typeof key === 'string' && calls.has(key)) return (...args: unknown[]) => engineCall(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

/**
 * The server's URL without a `request_timeout` parameter, which would override the client's setting above and cut
 * statements silent for longer than it before their own deadline; a URL the client cannot read is its to refuse.
 */
function withoutIdleTimeout(url: string, log: LogFn): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (!parsed.searchParams.has('request_timeout')) return url;
  parsed.searchParams.delete('request_timeout');
  log('warn', 'clickhouse.request_timeout_ignored', { reason: "CLICKHOUSE_URL's request_timeout is ignored: each read and statement has its own deadline" });
  return parsed.toString();
}

// --- Bounded reads --------------------------------------------------------------------------------------------
// A server at CLICKHOUSE_URL may be another program, or misbehave. @clickhouse/client bounds none of what it answers:
// its request_timeout is an idle timeout on the socket (socket.setTimeout), reset by every byte (and turned off here,
// createClickHouse), so an answer trickling a byte a second, or a 200 that never ends, holds the read for good; ResultSet.json() and the
// row stream keep an unfinished line whole, however long; and a failed answer (not 2xx) is read whole into one string
// before parseError (socket_pool.js, getAsText), which an abort signal ends only by time, not by size. So every read
// of rows goes through readRows: the statement's answer taken as bytes (exec, with ignore_error_response, so a failed
// answer is ours to read too), cut at a number of rows, of bytes and a deadline for the whole read, each row checked.

/** The bounds of one kind of read (readRows). Past any of them the read ends with a CdrflowError. */
export interface ReadBounds {
  rows: number;
  bytes: number;
  /** The whole read: connecting, the server's work, and every byte of its answer (a server's only, see readRows). */
  ms: number;
}

const MiB = 1024 * 1024;

/**
 * The schema and the sink's own bookkeeping: a table's columns, the migrations applied, the highest dead letter stored.
 * Tens of rows of a few dozen bytes; a minute is more than a server busy merging needs for them.
 */
export const LOOKUP_READ: ReadBounds = { rows: 10_000, bytes: 4 * MiB, ms: 60_000 };

/**
 * Reconcile's figures per vendor × tenant × day and the (cdr_id, version) pairs of one such bucket: the Kafka side of
 * the same run holds those ids in memory too, so a bucket of two million calls is already more than one run is made
 * for; FINAL over a day of a large table takes a server minutes, not ten.
 */
export const RECONCILE_READ: ReadBounds = { rows: 2_000_000, bytes: 256 * MiB, ms: 10 * 60_000 };

/** The status figures: one row per vendor (app/status.ts); it answers every status line, so within seconds. */
export const STATUS_READ: ReadBounds = { rows: 100, bytes: 64 * 1024, ms: 10_000 };

/** How much of a failed answer is read: ClickHouse's own error text is a few KiB; a proxy's page has its status early. */
export const MAX_ERROR_BYTES = 64 * 1024;

/** A number as ClickHouse gives it, for readRows' row schemas: a quoted 64-bit integer, or a JSON number (Float64, UInt32). */
export const chNumber = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i)]).transform(Number);

/** Old servers end an answer cut by an error with ClickHouse's error text on a line of its own. */
const ERROR_LINE = /^Code: \d{1,5}[.,]/;
/** The same, on any line of an answer that holds no rows of its own (runBounded). */
const ERROR_ANYWHERE = /(?<=^|\n)[ \t\r]*Code: \d{1,5}[.,]/;

// Once a server has sent its 200 and part of an answer, an error can no longer change the status. ClickHouse 25.11
// and later end the body with a block framed by a random tag that it also sends up front, in a header:
//   \r\n__exception__\r\n<tag>\r\n<message>\n<length> <tag>\r\n__exception__\r\n      (16 KiB at most, the last bytes)
// The tag keeps data from ever reading as the block. Older servers append the error text on a line of its own
// (ERROR_LINE), which only a reader that knows the shape of its answer can tell from data.

/** The header carrying the tag of the block above; absent from servers before 25.11. */
export const EXCEPTION_TAG_HEADER = 'x-clickhouse-exception-tag';

/** The most a tagged error block takes at the end of an answer (ClickHouse's own bound), with room for a cut UTF-8 character. */
export const STREAMED_ERROR_BYTES = 16 * 1024 + 4;

/**
 * The error a server's 2xx answer ends with, or undefined when it ends without one. `tail` is the answer's last
 * STREAMED_ERROR_BYTES or more; `tag` the answer's EXCEPTION_TAG_HEADER (none: the server cannot say so this way).
 */
export function streamedError(tail: Buffer | string, tag: string | string[] | undefined): Error | undefined {
  if (typeof tag !== 'string' || tag === '') return undefined;
  const text = typeof tail === 'string' ? tail : tail.toString('utf8');
  const close = ` ${tag}\r\n__exception__\r\n`;
  const open = `__exception__\r\n${tag}\r\n`;
  if (!text.endsWith(close)) {
    // A block begun and never closed: the answer was cut inside it (the connection closed, a proxy's limit). Data never
    // holds the tag, so the server did fail the statement; what arrived of its message is kept, with its code.
    const begun = text.lastIndexOf(open);
    return begun < 0 || text.includes(close, begun) ? undefined : cutError(text.slice(begun + open.length).trim());
  }
  const start = text.lastIndexOf(open, text.length - close.length);
  // The message's length sits on the block's last line, before the tag (after \n, or \r\n as the reference words it).
  const message = start < 0 ? '' : text.slice(start + open.length, text.length - close.length).replace(/\r?\n\d+$/, '').trim();
  return message === '' ? cutError('') : parseError(message);
}

/**
 * The error of a block cut short: ClickHouse's own when its message arrived whole, else the code its first line gives.
 * Without a code, what failed is unknown but the cut is the connection's or a proxy's: transient, as the closed
 * connection alone would be, so a read or an insert (its dedup token kept) is retried and meets the error whole,
 * instead of an unknown error stopping the sink.
 */
function cutError(message: string): Error {
  const err = parseError(message) as Error & { code?: string };
  if (err.code !== undefined) return err;
  const code = /^Code: (\d{1,5})[.,]/.exec(message)?.[1];
  const text = `ClickHouse ended its answer with an error whose text was cut${message === '' ? '' : `: ${message}`}`;
  return code === undefined ? new CdrflowError('transient', text) : Object.assign(new Error(text), { code });
}

/** The last `bytes` (or a little more) of a stream, kept as it passes: where a streamed error would be. */
class Tail {
  private chunks: Uint8Array[] = [];
  private kept = 0;

  constructor(private readonly bytes: number) {}

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.kept += chunk.length;
    while (this.chunks.length > 1 && this.kept - this.chunks[0]!.length >= this.bytes) this.kept -= this.chunks.shift()!.length;
  }

  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface RowsRead<S extends z.ZodType> {
  /** A SELECT without FORMAT (JSONEachRow is asked for). */
  query: string;
  params?: Record<string, unknown>;
  /** What is read, for the errors: "the applied migrations". */
  what: string;
  row: S;
  bounds: ReadBounds;
  /** The caller's stop (a reconcile run's): ends the read at once, rejecting with its reason, as the caller's other steps do. */
  signal?: AbortSignal;
}

/**
 * The rows of a SELECT, each checked with `row`, within `bounds`. Past a bound, or a row of another shape: a
 * CdrflowError, `transient` for the deadline (a slow server or network), `config` for the rest (the server at
 * CLICKHOUSE_URL answers what ClickHouse would not, or far more than the read is made for). A failed answer is the
 * error the client would have made of it (parseError of its first MAX_ERROR_BYTES, with its HTTP status), for the
 * caller's classification as before.
 */
export async function readRows<S extends z.ZodType>(client: ClickHouseClient, read: RowsRead<S>): Promise<z.output<S>[]> {
  read.signal?.throwIfAborted();
  // None on the embedded engine, as before: it runs the query in this process, and an abort there only ends the wait
  // while the work goes on, so a slow status or reconcile read failed and its retry ran beside the abandoned one.
  return execBounded(
    client,
    { query: `${read.query}\nFORMAT JSONEachRow`, ...(read.params ? { query_params: read.params } : {}) },
    { ms: rawInserts.has(client) ? undefined : read.bounds.ms, signal: read.signal, late: `ClickHouse did not answer ${read.what} within ${read.bounds.ms / 1000} s; stopped reading` },
    (answer, exceptionTag) => rowsOf(answer, read, exceptionTag),
  );
}

/**
 * One statement through exec, its answer taken as bytes: a failed answer (not 2xx, or an exception header) becomes the
 * error the client would have made of it, parseError of its first MAX_ERROR_BYTES with its HTTP status; a 2xx answer
 * goes to `take`. Ended by `ms` (absent: no deadline) with a transient error saying `late`, or by `signal` with its
 * reason.
 */
async function execBounded<T>(
  client: ClickHouseClient,
  params: Parameters<ClickHouseClient['exec']>[0],
  limits: { ms: number | undefined; signal: AbortSignal | undefined; late: string },
  take: (answer: AsyncIterable<Buffer>, exceptionTag: string | string[] | undefined) => Promise<T>,
): Promise<T> {
  const deadline = limits.ms === undefined ? undefined : AbortSignal.timeout(limits.ms);
  const signals = [deadline, limits.signal].filter((s): s is AbortSignal => s !== undefined);
  const stop = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  let answer: ReadableStream | undefined;
  try {
    const result = await client.exec({ ...params, ...(stop ? { abort_signal: stop } : {}), ignore_error_response: true });
    // The client stops listening to the signal once the headers are in: the body is ended by it here.
    answer = stop ? addAbortSignal(stop, result.stream) : result.stream;
    const status = result.http_status_code;
    const headerCode = result.response_headers['x-clickhouse-exception-code'];
    if ((status !== undefined && (status < 200 || status > 299)) || headerCode !== undefined) {
      const err = parseError(await answerHead(answer as AsyncIterable<Buffer>)) as Error & { code?: string };
      // The header is ClickHouse's word on the error, also when it comes with a 200 (send_progress_in_http_headers sent
      // the status before the failure) and a body that does not say it: classified by it, not by that 200.
      if (err.code === undefined && typeof headerCode === 'string' && /^\d{1,5}$/.test(headerCode)) err.code = headerCode;
      throw status === undefined ? err : Object.assign(err, { status });
    }
    return await take(answer as AsyncIterable<Buffer>, result.response_headers[EXCEPTION_TAG_HEADER]);
  } catch (err) {
    limits.signal?.throwIfAborted();
    if (deadline?.aborted) throw new CdrflowError('transient', limits.late, { cause: err });
    throw err;
  } finally {
    answer?.destroy();
  }
}

async function answerHead(answer: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of answer) {
    chunks.push(chunk);
    bytes += chunk.length;
    if (bytes >= MAX_ERROR_BYTES) break;
  }
  return Buffer.concat(chunks).subarray(0, MAX_ERROR_BYTES).toString('utf8');
}

async function rowsOf<S extends z.ZodType>(answer: AsyncIterable<Uint8Array>, read: RowsRead<S>, exceptionTag: string | string[] | undefined): Promise<z.output<S>[]> {
  const { bounds, what } = read;
  const rows: z.output<S>[] = [];
  const take = (line: Buffer) => {
    const text = line.toString('utf8');
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      if (ERROR_LINE.test(text.trim())) throw parseError(text.trim());
    }
    const parsed = read.row.safeParse(value);
    if (!parsed.success) throw new CdrflowError('config', `ClickHouse answered with what is not ${what} asked for: ${quote(text, 100)}`);
    if (rows.length === bounds.rows) throw new CdrflowError('config', `ClickHouse answered ${what} with more than ${bounds.rows} rows; stopped reading`);
    rows.push(parsed.data);
  };
  // A line that is not a row may be where the server's error block begins (streamedError): the answer's last bytes
  // tell, so it is read to its end first, which is at most a block away.
  const tail = new Tail(STREAMED_ERROR_BYTES);
  let refused: { err: unknown; bytesAfter: number } | undefined;
  const refuse = (err: unknown) => {
    if (typeof exceptionTag !== 'string') throw err;
    refused = { err, bytesAfter: 0 };
  };
  let bytes = 0;
  let pending: Uint8Array[] = [];
  try {
    for await (const chunk of answer) {
      bytes += chunk.length;
      tail.push(chunk);
      if (refused) {
        refused.bytesAfter += chunk.length;
        if (refused.bytesAfter > STREAMED_ERROR_BYTES) throw refused.err;
        continue;
      }
      // An error block that ends rows just short of the bound takes the answer past it: read on a block as for a bad line.
      if (bytes > bounds.bytes) {
        refuse(new CdrflowError('config', `ClickHouse answered ${what} with more than ${bounds.bytes} bytes; stopped reading`));
        continue;
      }
      try {
        let start = 0;
        for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
          pending.push(chunk.subarray(start, end));
          take(Buffer.concat(pending));
          pending = [];
          start = end + 1;
        }
        if (start < chunk.length) pending.push(chunk.subarray(start));
      } catch (err) {
        refuse(err);
      }
    }
  } catch (err) {
    // The connection closed inside the server's error block: that error, not the closing, is what happened.
    throw streamedError(tail.buffer(), exceptionTag) ?? err;
  }
  if (!refused) {
    try {
      take(Buffer.concat(pending));
    } catch (err) {
      refuse(err);
    }
  }
  if (refused) throw streamedError(tail.buffer(), exceptionTag) ?? refused.err;
  return rows;
}

// --- Bounded statements -------------------------------------------------------------------------------------
// The same server may hold a statement that reads no rows (DDL, OPTIMIZE, DELETE) or an insert for good too: the
// client's command() and insert() read a 2xx answer to its end (drainStreamInternal), so a 200 that never ends or
// trickles holds them, and read a failed answer whole (getAsText). So these go through runBounded: exec, the answer's
// first bytes only, and a deadline for the whole statement, per kind below. ClickHouse answers them with an empty
// body, and only once they have ended (wait_end_of_query): until then the server is silent, for as long as the
// statement takes, so nothing but that deadline ends the wait (no idle timeout, see createClickHouse).

/**
 * An insert of a batch (up to 50,000 rows, 32 MiB: the sink's and the dead-letter loader's) or of the bookkeeping's
 * few rows. Sending 32 MiB over a 10 Mbit/s link takes under 30 s; a busy server delays an insert into a partition
 * with many parts by seconds (max_delay_to_insert) and parses a batch in seconds more; five minutes leave room for all
 * of it at once. An insert past it is retried like a network error, with the same insert_deduplication_token: if the
 * server did store it, the retry adds nothing.
 */
export const INSERT_WRITE_MS = 5 * 60_000;

/** Migrations' DDL and CREATE DATABASE: metadata changes, seconds even on a busy server; ten minutes for a cluster's ON CLUSTER round. */
export const SCHEMA_WRITE_MS = 10 * 60_000;

/**
 * Reconcile's repair: OPTIMIZE … FINAL rewrites every part of a month's partition, and a synchronous lightweight
 * DELETE marks rows in each of them; on a month of a large table, tens of minutes.
 */
export const REPAIR_WRITE_MS = 30 * 60_000;

/** How much of a 2xx answer to a statement without rows is read: ClickHouse sends none; past this it is not ClickHouse. */
export const MAX_STATEMENT_ANSWER_BYTES = 64 * 1024;

export interface BoundedStatement {
  /** What is done, for the errors: "the insert into cdrflow.cdr". */
  what: string;
  /** The whole statement: connecting, sending the rows, the server's work, and its answer (INSERT_WRITE_MS, …). */
  ms: number;
  settings?: ClickHouseSettings;
  /**
   * The caller's stop (a reconcile run's): ends the wait at once, rejecting with its reason, as the caller's other steps
   * do. What the statement started goes on where it runs: a server does not cancel a write whose client went, and the
   * embedded engine cannot cancel a statement at all (chdb has no interrupt: it finishes it in the background).
   */
  signal?: AbortSignal;
}

/** A statement without rows to send (DDL, OPTIMIZE, DELETE). */
export interface BoundedCommand extends BoundedStatement {
  query: string;
  params?: Record<string, unknown>;
}

/** An insert: rows already rendered in `format` (body), or objects sent as JSONEachRow (rows). */
export interface BoundedInsert extends BoundedStatement {
  table: string;
  columns?: readonly string[];
  values: { format: BodyInsert['format']; body: readonly Buffer[] } | { format: 'JSONEachRow'; rows: readonly Record<string, unknown>[] };
}

/**
 * Runs a command or an insert within `ms`, reading at most MAX_STATEMENT_ANSWER_BYTES of a 2xx answer and
 * MAX_ERROR_BYTES of a failed one. Past the deadline: a CdrflowError, `transient`; a longer 2xx answer: `config` (the
 * server at CLICKHOUSE_URL is not ClickHouse). A failed answer is the error the client would have made of it
 * (parseError of its head, with its HTTP status), for the caller's classification as before. The embedded engine
 * has no socket to bound: there the client's own command() and insert() run, as they always did, and `signal` ends only
 * the wait for them.
 */
export async function runBounded(client: ClickHouseClient, statement: BoundedCommand | BoundedInsert): Promise<void> {
  const settings = statement.settings ? { clickhouse_settings: statement.settings } : {};
  const { signal } = statement;
  signal?.throwIfAborted();
  if (rawInserts.has(client)) {
    try {
      if (!('table' in statement)) {
        await client.command({ query: statement.query, ...(statement.params ? { query_params: statement.params } : {}), ...settings, ...(signal ? { abort_signal: signal } : {}) });
        return;
      }
      const { values } = statement;
      await client.insert({
        table: statement.table,
        format: values.format,
        values: 'rows' in values ? [...values.rows] : ReadableStream.from(values.body, { objectMode: false }),
        ...(statement.columns ? { columns: [...statement.columns] as [string, ...string[]] } : {}),
        ...settings,
        ...(signal ? { abort_signal: signal } : {}),
      });
    } catch (err) {
      signal?.throwIfAborted();
      throw err;
    }
    return;
  }
  await execBounded(
    client,
    {
      ...('table' in statement ? insertOf(statement) : { query: statement.query, ...(statement.params ? { query_params: statement.params } : {}) }),
      // The server holds its status until the statement has ended, so a failure comes as a failed answer with its code
      // header rather than after a 200 (ClickHouse's "HTTP response codes caveats"); these answers are empty, or a few
      // hosts' lines, so the buffering costs nothing.
      clickhouse_settings: { wait_end_of_query: 1, ...statement.settings },
    },
    { ms: statement.ms, signal, late: `ClickHouse did not finish ${statement.what} within ${statement.ms / 1000} s; stopped waiting` },
    async (answer, exceptionTag) => {
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      try {
        for await (const chunk of answer) {
          bytes += chunk.length;
          if (bytes > MAX_STATEMENT_ANSWER_BYTES) throw new CdrflowError('config', `ClickHouse answered ${statement.what} with more than ${MAX_STATEMENT_ANSWER_BYTES} bytes; stopped reading`);
          chunks.push(chunk);
        }
      } catch (err) {
        // The connection closed inside the server's error block: that error, not the closing, is what happened.
        throw streamedError(Buffer.concat(chunks), exceptionTag) ?? err;
      }
      // ClickHouse answers these with an empty body, or (DDL ON CLUSTER) a table of the hosts' outcomes, each line a
      // host's name first: an error in it (tagged, or the older bare text on a line of its own, after rows or in a block
      // whose tag header a proxy dropped) is taken for what it says, not for success.
      if (bytes === 0) return;
      const text = Buffer.concat(chunks).toString('utf8');
      const line = ERROR_ANYWHERE.exec(text);
      const failed = streamedError(text, exceptionTag) ?? (line ? parseError(text.slice(line.index).trim()) : undefined);
      if (failed) throw failed;
    },
  );
}

/** The statement and rows client.insert() would send (its getInsertQuery, its JSONEachRow encoding). */
function insertOf(insert: BoundedInsert): { query: string; values: ReadableStream } {
  const columns = insert.columns && insert.columns.length > 0 ? ` (${insert.columns.join(', ')})` : '';
  const { values } = insert;
  const body = 'rows' in values ? values.rows.map((row) => Buffer.from(`${JSON.stringify(row)}\n`)) : values.body;
  return { query: `INSERT INTO ${insert.table.trim()}${columns} FORMAT ${values.format}`, values: ReadableStream.from(body, { objectMode: false }) };
}

/**
 * The engine writes `<dataDir>/status` (its PID) while a process holds the directory and removes it on close. When
 * another live process holds it, say so plainly instead of the engine's lock error; a file left by a crashed process
 * (its PID gone) does not count.
 */
export function assertEngineFree(dataDir: string): void {
  let text: string;
  try {
    text = readFileSync(resolve(dataDir, 'status'), 'utf8');
  } catch {
    return;
  }
  const pid = Number(/^PID:\s*(\d+)/m.exec(text)?.[1]);
  if (!Number.isInteger(pid) || pid === process.pid || !processAlive(pid)) return;
  const since = /^Started at:\s*(.+)$/m.exec(text)?.[1];
  throw new CdrflowError(
    'config',
    `the embedded ClickHouse in ${dataDir} is in use by another process (PID ${pid}${since ? `, since ${since}` : ''}), ` +
      'most likely `cdrflow start`: while it runs, ask it with `cdrflow sql` or `cdrflow status`; stop it before `migrate`, ' +
      '`run sink` or anything else that opens the engine (or point CLICKHOUSE_URL at a ClickHouse server)',
  );
}

export function quoteIdentifier(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

export type RawInsert = (params: {
  table: string;
  format: BodyInsert['format'];
  columns: readonly string[];
  /** The rendered rows, in chunks, in order. */
  body: readonly Buffer[];
  settings: Record<string, string | number | boolean>;
}) => Promise<unknown>;

/** What insertBody uses of the embedded engine's session (chdb/connection's `chdb` extension). */
interface EngineSession {
  queryAsync(sql: string): Promise<unknown>;
}

/**
 * Body inserts into the embedded engine are staged as files and read by the engine with `INSERT … FROM INFILE`:
 * on the same bytes, that costs the engine about a third less CPU per row than chdb's raw insert, which hands it the
 * body inline (50,000 CDR rows: 13–17 against 21–27 µs per row; 15,000, the writing and removing of the file counted:
 * 16–24 against 23–31), and the sink ran 21,500–30,000 rows/s against 18,600–21,700 in five interleaved pairs
 * (docs/performance.md, fourth stop of 2026-12-04). One file per insert, removed when the insert ends either way. A
 * data directory is held by one process at a time (assertEngineFree), so whatever a killed process left in its staging
 * folder is removed when the engine is opened.
 */
function stagingDir(dataDir: string): string {
  const dir = resolve(dataDir, 'insert-staging');
  // Once per process: a second client on the same engine must not remove the files of the first one's inserts.
  if (!stagingCleared.has(dir)) {
    rmSync(dir, { recursive: true, force: true });
    stagingCleared.add(dir);
  }
  return dir;
}
const stagingCleared = new Set<string>();
/** Staged files are named by process and a sequence shared by every client in it, so no two inserts share one. */
let stagedSequence = 0;

function stagedInsert(engine: EngineSession, dir: string): RawInsert {
  return async (params) => {
    // Built first: a name the engine could not be asked for safely fails before anything is written.
    const file = join(dir, `${process.pid}-${++stagedSequence}.body`);
    const sql = infileInsertSql(params, file);
    try {
      try {
        // Made again if it went (a folder removed by hand while the job runs costs no insert).
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await writeFile(file, params.body, { flag: 'wx', mode: 0o600 });
      } catch (err) {
        throw stagingError(err, dir);
      }
      await engineCall(() => engine.queryAsync(sql)).catch((err: unknown) => {
        throw engineError(err);
      });
    } finally {
      // A file that cannot be removed now (its folder gone or blocked) is removed with the rest when the engine is
      // next opened; the insert's own outcome is what the caller needs.
      await rm(file, { force: true }).catch(() => undefined);
    }
  };
}

/** The engine's error in the client's ClickHouseError shape (code, type), as an HTTP server's would come. */
function engineError(err: unknown): unknown {
  const mapped = parseError((err as Error)?.message ?? String(err));
  if (mapped !== err) (mapped as Error & { cause?: unknown }).cause ??= err;
  return mapped;
}

/** A full or failing disk may recover (transient: the stage retries and restarts); anything else is the setup's. */
const STAGING_TRANSIENT = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY']);

function stagingError(err: unknown, dir: string): CdrflowError {
  const code = (err as NodeJS.ErrnoException)?.code;
  return new CdrflowError(STAGING_TRANSIENT.has(code ?? '') ? 'transient' : 'config', `could not stage an insert's rows in ${dir} (the embedded engine's data directory): ${(err as Error)?.message ?? String(err)}`, {
    ...(code ? { code } : {}),
    cause: err,
  });
}

const INSERT_FORMATS: ReadonlySet<string> = new Set<BodyInsert['format']>(['TabSeparated', 'JSONEachRow', 'JSONCompactEachRow']);
/** Table (`db.table` or `table`), column and setting names: the same rule chdb's own insert applies. */
const PLAIN_NAME = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

function plainName(what: string, name: string): string {
  if (!PLAIN_NAME.test(name)) throw new CdrflowError('config', `invalid ${what} ${JSON.stringify(name)} for an insert: expected [A-Za-z0-9_] names separated by '.'`);
  return name;
}

/** A ClickHouse string literal: backslash escapes for the backslash, the quote and NUL. */
export function sqlString(text: string): string {
  return "'" + text.replace(/[\\']/g, '\\$&').replace(/\0/g, '\\0') + "'";
}

function settingValue(name: string, value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CdrflowError('config', `setting ${name} must be a finite number, got ${value}`);
    return String(value);
  }
  return sqlString(value);
}

/** The statement that makes the engine insert the staged `file`, with the insert's columns and settings. */
export function infileInsertSql(params: Omit<Parameters<RawInsert>[0], 'body'>, file: string): string {
  if (!INSERT_FORMATS.has(params.format)) throw new CdrflowError('config', `unsupported insert format ${JSON.stringify(params.format)}`);
  if (params.columns.length === 0) throw new CdrflowError('config', 'an insert names at least one column');
  const columns = params.columns.map((c) => plainName('column', c)).join(', ');
  const settings = Object.entries(params.settings).map(([k, v]) => `${plainName('setting', k)} = ${settingValue(k, v)}`);
  return (
    `INSERT INTO ${plainName('table', params.table)} (${columns}) FROM INFILE ${sqlString(file)} COMPRESSION 'none'` +
    (settings.length > 0 ? ` SETTINGS ${settings.join(', ')}` : '') +
    ` FORMAT ${params.format}`
  );
}

/** The embedded engine's staged insert (stagedInsert), per client created by createClickHouse on it (or wrapping one). */
const rawInserts = new WeakMap<ClickHouseClient, RawInsert>();

/**
 * `wrapper` stands for `client` (a Proxy that times inserts, say): body inserts through it keep the embedded engine's
 * staged path, through `wrap` when given. Without this, a wrapper is an unknown client to insertBody, which then sends
 * the body through the client's own embedded connection: one SQL string built on the main thread, ~150 ms of event
 * loop per 15,000 rows in `cdrflow start`. On a server, `wrap` wraps the bounded insert (runBounded) the same way, as the
 * wrapper's own insert() is not what insertBody calls there.
 */
export function sameEngine(wrapper: ClickHouseClient, client: ClickHouseClient, wrap?: (insert: RawInsert) => RawInsert): ClickHouseClient {
  const raw = rawInserts.get(client);
  if (raw) rawInserts.set(wrapper, wrap ? wrap(raw) : raw);
  else if (wrap) serverInsertWraps.set(wrapper, wrap);
  return wrapper;
}

/** `wrap` of sameEngine for a client of a server: its body inserts go through runBounded (exec), not the wrapped insert(). */
const serverInsertWraps = new WeakMap<ClickHouseClient, (insert: RawInsert) => RawInsert>();

/** True when body inserts through `client` go to the embedded engine's staged insert (see insertBody). */
export function insertsRaw(client: ClickHouseClient): boolean {
  return rawInserts.has(client);
}

export interface BodyInsert {
  table: string;
  /** A text input format the body is in (TabSeparated, JSONEachRow, …). */
  format: 'TabSeparated' | 'JSONEachRow' | 'JSONCompactEachRow';
  columns: readonly string[];
  /** The rendered rows, in chunks (they are sent in order, as one insert). */
  body: readonly Buffer[];
  /** Per-insert settings; an explicit insert_deduplication_token belongs here (see the caveat above). */
  settings: Record<string, string | number>;
}

/**
 * One insert of an already rendered body. On the embedded engine the bytes are written to a staged file the engine
 * reads itself (stagedInsert: the parsing is the engine's, off the main thread); through the client's embedded
 * connection the body would first become one JS string and then one SQL statement on the main thread (~260 ms for
 * 50,000 CDR rows).
 * The engine's errors are the client's ClickHouseError shape either way (code, type), for the caller's
 * classification; the staged path's own (a name refused, the disk) are CdrflowErrors, classified already.
 */
export async function insertBody(client: ClickHouseClient, insert: BodyInsert): Promise<void> {
  const raw = rawInserts.get(client);
  if (!raw) {
    const send: RawInsert = (params) =>
      runBounded(client, {
        what: `the insert into ${params.table}`,
        ms: INSERT_WRITE_MS,
        table: params.table,
        columns: params.columns,
        values: { format: params.format, body: params.body },
        settings: params.settings as ClickHouseSettings,
      });
    const wrap = serverInsertWraps.get(client);
    await (wrap ? wrap(send) : send)({ table: insert.table, format: insert.format, columns: insert.columns, body: insert.body, settings: insert.settings });
    return;
  }
  if (insert.body.every((chunk) => chunk.length === 0)) return;
  await raw({ table: insert.table, format: insert.format, columns: insert.columns, body: insert.body, settings: { ...COMMON_SETTINGS, ...insert.settings } as Record<string, string | number> });
}
