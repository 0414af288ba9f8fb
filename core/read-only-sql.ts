// The one path for SQL typed by a user (`cdrflow sql`, `POST /sql` on the ops port): read-only enforced by the engine,
// with a time, memory and result-size limit, cancellable, and never on the sink's own connection.
//
// Embedded engine (checked against chdb by core/read-only-sql.test.ts):
// - Each chdb Session is its own ClickHouse session: settings given as `connectionArgs` bind that session only, and
//   two sessions run queries in parallel, while one session runs its queries one after another. User queries
//   therefore get their own small pool of sessions opened with `readonly=1` (which also forbids changing any setting,
//   so a query cannot lift its limits with SETTINGS or SET). The sink's session never waits for a user query.
// - readonly=1 refuses writes, DDL, most of SYSTEM, and the table functions that read files or reach the network
//   (file, url, s3, remote, mysql, postgresql, sqlite, executable, …: "Cannot execute query in readonly mode").
// - It does NOT refuse `INTO OUTFILE` (the embedded engine writes the file itself), `KILL QUERY` (which could
//   cancel the sink's inserts), the global `SYSTEM STOP …` statements (merges, views, moves), `DESCRIBE file(…)`/
//   `url(…)`/… (which reads the file or address to infer the columns), `USE` (which sticks to a pooled session),
//   and `sqlite()` creates its file before it is refused. No setting turns those off, so a second layer asks the
//   engine's own parser (formatQuery) for the canonical text of the one statement and refuses those there.
//   formatQuery also refuses multi-statements and reports syntax errors with their position; comments and string
//   literals cannot fool it (literals come back escaped, on one line).
// - Nor does it refuse `BACKUP … TO S3(…)`/`Memory(…)` (the engine uploads the tables to the address named) or the
//   scalar function `file(path)`, which the embedded engine answers with any file's contents (it does not keep to
//   user_files_path). So the second layer also refuses, on the canonical text's tokens (string literals left out), a
//   function reading files, reaching other hosts or running programs (OUTSIDE_FUNCTIONS) wherever it is called,
//   applied or passed by name: `file(`, `* APPLY file`, `arrayMap(file, …)`, inside a SHOW's WHERE (`outsideReach`).
//   The engine's own syntax tree (EXPLAIN AST) does not print all of these (APPLY, functions passed by name and
//   SHOW's clauses are missing from it), so it is not used to find functions; the text is. The same tokens refuse
//   `system.models` (it starts a separate program) and tables named by a file path. The third layer is an allowlist of statements: the
//   root of the engine's AST (EXPLAIN AST, which only parses) must be a read — SELECT (WITH, UNION, INTERSECT),
//   SHOW, DESCRIBE, EXPLAIN or EXISTS (`astRefusal`): a denylist of statements cannot keep up with the engine.
// The second and third layers, and the allowlist of callable functions added after six probes of this path, are
// core/sql-check.ts.
// - A cancelled call does not stop the engine (chdb rejects early and computes on), so a caller that goes away is
//   followed by `KILL QUERY` for its tagged query, and max_execution_time bounds everything else.
// Server (CLICKHOUSE_URL): the same settings go with each request (readonly=1 applied with the others), and the
// server cancels a read-only query when its client disconnects. A deployment should also give cdrflow's query user a
// read-only profile. The result and time limits are also kept on this side (boundedAnswer): a server that ignores
// the settings it is sent must not take the job's memory or hold a query past its time.
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { createClient, parseError, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { CdrflowError } from './errors.ts';
import { logger, type LogFn } from './log.ts';
import { clientLogger, EXCEPTION_TAG_HEADER, quoteIdentifier, STREAMED_ERROR_BYTES, streamedError, type ClickHouseTarget } from './clickhouse.ts';
import { cancelOnExit, engineCall, trackIn } from './engine-exit.ts';
import { astRefusal, functionsCallable, MAX_SQL_BYTES, refusalOf, withoutFormatClause, type CallableFunctions, type RefusalOptions } from './sql-check.ts';

export interface SqlLimits {
  /** The engine cancels a query after this many seconds. */
  maxExecutionTimeSec: number;
  maxResultRows: number;
  /** The answer's bytes in its format: the engine counts its blocks, and cdrflow the answer itself (answerTooLarge). */
  maxResultBytes: number;
  /**
   * Memory one query may use. It bounds what a query adds to the job's RSS too: the engine's result for a query of few
   * huge rows is not stopped by maxResultBytes (checked per block) and costs several times its size while it is built
   * (150 MB of result took 1.1 GB at 1 GiB; refused at 512 MiB with 0.4 GB added).
   */
  maxMemoryBytes: number;
  /** Engine threads per query (the machine's other work keeps the rest). */
  maxThreads: number;
  /** Queries running at once; more are refused as busy (never queued behind an endless one). */
  maxConcurrent: number;
}

export const DEFAULT_SQL_LIMITS: SqlLimits = {
  maxExecutionTimeSec: 30,
  maxResultRows: 1_000_000,
  maxResultBytes: 256 * 1024 * 1024,
  maxMemoryBytes: 512 * 1024 * 1024,
  maxThreads: 2,
  maxConcurrent: 2,
};

/**
 * What the answers of the ops port's /sql may hold in the job at once (core/ops-server.ts): room for a full answer for
 * every query running, and one more maxResultBytes between the answers computed but not yet read by their clients
 * (a pager waiting, a client that never reads). Past it a new query is refused 429 until those are read or their
 * clients go; the queries running never wait for it.
 */
export function answerBudget(limits: SqlLimits): { bytes: number; perAnswer: number } {
  return { bytes: (limits.maxConcurrent + 1) * limits.maxResultBytes, perAnswer: limits.maxResultBytes };
}

/** Why a query was not answered; `status` is the HTTP status the ops port answers with. */
export class SqlQueryError extends CdrflowError {
  constructor(
    readonly status: 400 | 403 | 413 | 422 | 429 | 499,
    message: string,
    options: { code?: string; cause?: unknown } = {},
  ) {
    super(status === 429 ? 'rate_limited' : 'config', message, options);
  }
}

/** A query whose client went away (499): before it ran, or while it ran (`cause`, the engine's). */
export function cancelledQuery(cause?: unknown): SqlQueryError {
  return new SqlQueryError(499, 'cancelled: the client went away', { code: 'CANCELLED', ...(cause === undefined ? {} : { cause }) });
}

/**
 * An answer longer than maxResultBytes, refused as the engine refuses a result past max_result_bytes (396). The
 * engine's own check counts its blocks, not the answer: a value the same on every row counts once
 * (`SELECT repeat('x', 10000) FROM numbers(1000)` answered 10 MB under a 1 MiB limit), and a format adds its own text.
 */
function answerTooLarge(limits: SqlLimits): SqlQueryError {
  return new SqlQueryError(422, `Limit for result exceeded: the answer passed ${limits.maxResultBytes} bytes (ops.sql.maxResultBytes) and was not sent (TOO_MANY_ROWS_OR_BYTES)`, { code: '396' });
}

/**
 * The output formats whose answer is bytes, not text, refused (400) on this path: the answer is handed on as a string
 * (the ops port sends it as text/plain), so a Parquet or RowBinary answer reached the client mangled (every byte not
 * UTF-8 replaced). Taken from the engine's own list (system.formats, is_output) by writing one row in each: these
 * wrote bytes that are not UTF-8, or are binary framings (MySQLWire, PostgreSQLWire, ODBCDriver2, Buffers), or need
 * a schema file (CapnProto, Protobuf). RawBLOB writes values unseparated and unescaped, numbers as bytes.
 */
const BINARY_FORMATS = new Set(
  ['Arrow', 'ArrowStream', 'Avro', 'AvroConfluent', 'BSONEachRow', 'Buffers', 'CapnProto', 'MsgPack', 'MySQLWire', 'Native', 'Npy', 'ODBCDriver2', 'ORC', 'PNG', 'Parquet', 'PostgreSQLWire', 'Protobuf', 'ProtobufList', 'ProtobufSingle', 'RawBLOB', 'RowBinary', 'RowBinaryWithNames', 'RowBinaryWithNamesAndTypes'].map((f) => f.toLowerCase()),
);

export function binaryFormatRefusal(format: string): SqlQueryError | undefined {
  if (!BINARY_FORMATS.has(format.toLowerCase())) return undefined;
  return new SqlQueryError(
    400,
    `format ${format} is binary: this endpoint answers in text formats only (TSV, TSVWithNames, CSV, CSVWithNames, JSON, JSONEachRow, JSONCompact, Pretty, PrettyCompact, Vertical, Markdown, XML, Values, …) (BINARY_FORMAT)`,
    { code: 'BINARY_FORMAT' },
  );
}

/** The statement's own FORMAT clause, from the engine's canonical text (a line of its own there: withoutFormatClause). */
function ownFormat(formatted: string): string | undefined {
  return /^FORMAT ([A-Za-z0-9_]+)$/m.exec(formatted)?.[1];
}

export interface ReadOnlySql {
  /** Runs one read-only statement, returns the engine's output in `format`. Throws SqlQueryError. */
  run(sql: string, format: string, options?: { signal?: AbortSignal; color?: boolean }): Promise<string>;
  /** Queries running now (checked, parsed or in the engine), at most maxConcurrent. */
  readonly running: number;
  close(): Promise<void>;
}

/**
 * The settings every user query runs under. They are fixed when a session opens (readonly=1 forbids changing any
 * setting afterwards, limits included), so the Pretty formats' colour is one of them too: by default the engine
 * would colour by its own process's terminal, which is the running job's, not the asking client's.
 */
function engineSettings(limits: SqlLimits, color = false): Record<string, string> {
  return {
    readonly: '1',
    output_format_pretty_color: color ? '1' : '0',
    // addressToSymbol, demangle, …: the engine's own memory layout is not the pipeline's data.
    allow_introspection_functions: '0',
    // multiMatch*/multiFuzzyMatch* compile with Hyperscan, which neither max_execution_time nor KILL stops (a 300-
    // character fuzzy pattern held a session 4.6 s past a 2 s limit). match() and multiSearch* stay.
    allow_hyperscan: '0',
    // The time limit is checked between blocks: smaller blocks bound what costly per-row work over many rows can run
    // past it (a linear function on a 10 MB constant over 2,000 rows: 7 s against 2 s).
    max_block_size: '8192',
    // Expressions compiled to machine code (the 3rd/4th time the engine sees one) compile under a lock the whole process
    // shares, past the time limit: a 63 KB sum took 40 s against 2 s, and a pipeline insert needing a compile of its
    // own waited for it. Interpreted, the same queries are bounded by the limit.
    compile_expressions: '0',
    compile_aggregate_expressions: '0',
    compile_sort_description: '0',
    max_execution_time: String(limits.maxExecutionTimeSec),
    max_result_rows: String(limits.maxResultRows),
    max_result_bytes: String(limits.maxResultBytes),
    result_overflow_mode: 'throw',
    max_memory_usage: String(limits.maxMemoryBytes),
    max_threads: String(limits.maxThreads),
  };
}

// ClickHouse error codes (the engine's `Code: N`), mapped to what the caller did wrong.
const REFUSED_CODES = new Set([164 /* READONLY */, 446 /* FUNCTION_NOT_ALLOWED: introspection */, 497 /* ACCESS_DENIED */]);
const BAD_QUERY_CODES = new Set([62 /* SYNTAX_ERROR */]);

function engineCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e.code === 'string' && /^\d+$/.test(e.code)) return Number(e.code);
  // chdb's Session throws plain Errors whose text starts with the engine's "Code: N." — its only structured field.
  const m = typeof e.message === 'string' ? /^Code: (\d+)\./.exec(e.message) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * The engine's message once: chdb wraps an error in its own "Code: N. DB::Exception: … (NAME) (version …)" up to three
 * times (`--format Nope` printed "Code: 73" three times); the code, the text and the error's name are kept.
 */
export function tidyEngineMessage(message: string): string {
  const name = /\(([A-Z][A-Z0-9_]*)\)(?: \(version [^)]*\))?\.?\s*$/.exec(message)?.[1];
  let text = message.replace(/^(?:Code: (\d+)\. DB::Exception: )+/, 'Code: $1. DB::Exception: ');
  if (name === undefined) return text;
  text = text.replace(/(?:\s*\([A-Z][A-Z0-9_]*\)(?: \(version [^)]*\))?\.?)+\s*$/, '');
  return `${text} (${name})`;
}

function asQueryError(err: unknown): SqlQueryError {
  if (err instanceof SqlQueryError) return err;
  // Positions in a syntax error count in the user's text; the wrapper that parsed it is noise.
  let message = tidyEngineMessage((err instanceof Error ? err.message : String(err)).replace(/:? In scope SELECT formatQuery\([\s\S]*$/, ''));
  // A server's error comes parsed by its client (parseError), its name apart from its text: named as the engine names it.
  const type = (err as { type?: unknown }).type;
  if (typeof type === 'string' && /^[A-Z][A-Z0-9_]*$/.test(type) && !message.endsWith(`(${type})`)) message = `${message.trim()} (${type})`;
  const code = engineCode(err);
  const status = code !== undefined && REFUSED_CODES.has(code) ? 403 : code !== undefined && BAD_QUERY_CODES.has(code) ? 400 : 422;
  return new SqlQueryError(status, message, { ...(code !== undefined ? { code: String(code) } : {}), cause: err });
}


interface Engine {
  /** What a query may call on this engine (the embedded one); undefined: no allowlist (a server's own profile rules). */
  callable?: CallableFunctions;
  /**
   * The canonical text of `sql` by the engine's parser. `deadline` (performance.now() ms, maxExecutionTimeSec after the
   * run began) bounds the three calls of one run on a server; the embedded engine keeps to max_execution_time.
   */
  format(sql: string, deadline: number): Promise<string>;
  /** The engine's `EXPLAIN AST` of one canonical statement, one node per line (parsing only: nothing runs). */
  ast(formatted: string, deadline: number): Promise<string>;
  /** `sql` as the user wrote it and `formatted`, its canonical text (formatQuery), which the checks read. */
  query(sql: string, formatted: string, format: string, tag: string, signal: AbortSignal | undefined, color: boolean, deadline: number): Promise<string>;
  close(): Promise<void>;
}

/** `log`: where a server's client logs (its own entries would otherwise go to the console). */
export async function openReadOnlySql(target: ClickHouseTarget, limits: SqlLimits = DEFAULT_SQL_LIMITS, options: { log?: LogFn } = {}): Promise<ReadOnlySql> {
  const engine = target.kind === 'embedded' ? await embeddedEngine(target, limits) : httpEngine(target, limits, options.log ?? logger('sql'));
  // A server's default database is an ordinary one; the embedded engine's is the Overlay (outsideReach), unless the
  // pipeline itself was configured into it.
  const refusalOptions: RefusalOptions = { fileBackedDefault: target.kind === 'embedded' && target.database !== 'default', callable: engine.callable };
  let running = 0;
  return {
    get running() {
      return running;
    },
    async run(sql, format, options = {}) {
      if (!/^[A-Za-z]+$/.test(format)) throw new SqlQueryError(400, `invalid format ${format}`);
      if (sql.trim() === '') throw new SqlQueryError(400, 'empty query');
      if (Buffer.byteLength(sql) > MAX_SQL_BYTES) throw new SqlQueryError(413, `query larger than ${MAX_SQL_BYTES} bytes`);
      if (running >= limits.maxConcurrent) {
        throw new SqlQueryError(429, `busy: ${running} queries are running (at most ${limits.maxConcurrent}); retry when one ends (each ends within ${limits.maxExecutionTimeSec} s)`, { code: 'BUSY' });
      }
      running++;
      // On the monotonic clock: the limit is a duration, which a wall clock stepped forward must not use up at once.
      const deadline = performance.now() + limits.maxExecutionTimeSec * 1000;
      try {
        const formatted = await engine.format(sql, deadline).catch((err: unknown) => {
          throw asQueryError(err);
        });
        const refusal =
          refusalOf(formatted, refusalOptions) ??
          astRefusal(
            await engine.ast(withoutFormatClause(formatted), deadline).catch((err: unknown) => {
              throw asQueryError(err);
            }),
          );
        if (refusal) throw new SqlQueryError(403, refusal, { code: 'READONLY' });
        // A FORMAT clause of the statement's own wins over `format`, on both engines: the embedded one takes `format`
        // as a default only, and a server is sent the one clause (a second one was a syntax error there).
        const answerFormat = ownFormat(formatted) ?? format;
        const binary = binaryFormatRefusal(answerFormat);
        if (binary) throw binary;
        // A caller that left while the statement was parsed: the abort has fired already, so the query's abort
        // listener never would, and the query would hold its session until max_execution_time.
        if (options.signal?.aborted) throw cancelledQuery();
        return await engine.query(sql, formatted, answerFormat, randomUUID(), options.signal, options.color ?? false, deadline).catch((err: unknown) => {
          throw options.signal?.aborted ? cancelledQuery(err) : asQueryError(err);
        });
      } finally {
        running--;
      }
    },
    close: () => engine.close(),
  };
}

type ChdbSession = InstanceType<typeof import('chdb').Session>;

/**
 * The zone names the loader finds as files (relative to TZDIR, else /usr/share/zoneinfo) besides the engine's own
 * list: it opens there any name the engine does not know (`America/Coyhaique`, newer than the engine's list: a tenth
 * probe). posix/ and right/ are refused by name (core/sql-check.ts).
 */
function zoneFiles(): string[] {
  const root = process.env['TZDIR'] || '/usr/share/zoneinfo';
  try {
    return readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(root, join(e.parentPath, e.name)))
      .filter((name) => !/^(?:posix|right)\//.test(name));
  } catch {
    return [];
  }
}

async function embeddedEngine(target: Extract<ClickHouseTarget, { kind: 'embedded' }>, limits: SqlLimits): Promise<Engine> {
  const { Session } = await import('chdb');
  // One session per concurrent query (a session runs its queries one at a time) plus one for parsing and KILL, so a
  // cancel never waits behind the query it cancels; one pool with colour and one without (see engineSettings).
  const open = async (color = false) => {
    const connectionArgs = Object.entries(engineSettings(limits, color)).map(([k, v]) => `--${k}=${v}`);
    const s = new Session(target.dataDir, { connectionArgs });
    // USE is allowed in readonly mode and binds this session only. Before the pipeline first ran there is no database
    // to use (and a read-only session cannot create it): bare names then resolve in information_schema (views of the
    // engine's own tables) and get "unknown table", never in the engine's default database, whose Overlay answers
    // whether a file of that name exists in the working directory (`EXISTS TABLE Makefile`).
    // A pipeline configured into `default` itself keeps it (README: its names then stay answerable).
    const current = target.database === 'default' || (await databaseExists(s)) ? target.database : 'information_schema';
    await s.queryAsync(`USE ${quoteIdentifier(current)}`);
    return s;
  };
  const databaseExists = async (s: ChdbSession) =>
    (await s.queryBindAsync('SELECT count() FROM system.databases WHERE name = {db:String}', { db: target.database }, { format: 'TSV' })).text().trim() === '1';
  const control = await open();
  // The allowlist of calls, from this engine's own lists (so a chdb upgrade's new functions are sorted by category),
  // read on a session of its own: the users' result limits would cut the list short.
  const lister = new Session(target.dataDir, { connectionArgs: ['--readonly=1'] });
  let callable: CallableFunctions;
  try {
    const rows = async (sql: string) => (await lister.queryAsync(sql, { format: 'JSONEachRow' })).text().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    callable = functionsCallable(
      (await rows('SELECT name, alias_to, is_aggregate, categories, syntax FROM system.functions')) as unknown as Parameters<typeof functionsCallable>[0],
      (await rows('SELECT name FROM system.data_type_families')).map((r) => String(r['name'])),
    );
    callable.zones = new Set([...(await rows('SELECT time_zone FROM system.time_zones')).map((r) => String(r['time_zone'])), ...zoneFiles()]);
  } finally {
    lister.close();
  }
  const idle: Record<'plain' | 'color', ChdbSession[]> = { plain: [], color: [] };
  for (let i = 0; i < limits.maxConcurrent; i++) {
    idle.plain.push(await open(false));
    idle.color.push(await open(true));
  }
  const all = [control, ...idle.plain, ...idle.color];
  // What still runs on the sessions (a query, the KILL its caller's abort sent): close() waits for it, bounded by
  // CLOSE_WAIT_MS, before closing them. The job's stop aborts a query in flight and closes the sessions right after;
  // a session closed under its running statement is the engine's use after free (a stop during an endless query
  // once ended in a segfault in the engine's background pool instead of exit 0).
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => trackIn(inFlight, work);
  const killAll = () => control.queryAsync(`KILL QUERY WHERE query LIKE '%cdrflow-sql %' AND query NOT LIKE '%system.processes%' ASYNC`);
  // A forced exit (a second Ctrl-C, the job's hard deadline) kills the queries running and waits for them, as for the
  // other calls into the engine (core/engine-exit.ts).
  const uncancel = cancelOnExit(() => (inFlight.size > 0 ? killAll().catch(() => undefined) : Promise.resolve()));
  return {
    callable,
    async format(sql) {
      return (await control.queryBindAsync('SELECT formatQuery({q:String})', { q: sql }, { format: 'RawBLOB' })).text();
    },
    async ast(formatted) {
      return (await control.queryAsync(`EXPLAIN AST ${formatted}`, { format: 'TSVRaw' })).text();
    },
    query: (...args) => track(engineCall(() => runQuery(...args))),
    async close() {
      uncancel();
      if (inFlight.size > 0) {
        // Killed, not waited out: a query still running here was not aborted by its caller (its client is still there).
        await track(killAll()).catch(() => undefined);
        let timer: NodeJS.Timeout | undefined;
        const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
        await Promise.race([Promise.all(inFlight), waited]);
        clearTimeout(timer);
      }
      for (const s of all) s.close();
    },
  };

  async function runQuery(...[sql, _formatted, format, tag, signal, color]: Parameters<Engine['query']>): Promise<string> {
    const pool = color ? idle.color : idle.plain;
    const session = pool.pop();
    if (!session) throw new SqlQueryError(429, 'busy', { code: 'BUSY' });
    const onAbort = () => {
      // The tag comment is part of the query text in system.processes; KILL finds it there.
      void track(control.queryAsync(`KILL QUERY WHERE query LIKE '%cdrflow-sql ${tag}%' AND query NOT LIKE '%system.processes%' ASYNC`)).catch(() => undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // The tag goes on its own line first: a user's trailing `--` comment cannot swallow it.
      const result = await session.queryAsync(`/* cdrflow-sql ${tag} */\n${sql}`, { format });
      // Measured before it becomes a string: the engine's output buffer is held only by maxMemoryBytes.
      if (result.bytes().byteLength > limits.maxResultBytes) throw answerTooLarge(limits);
      return result.text();
    } catch (err) {
      // chdb keeps what a failed query's format wrote before the error (the header of Markdown, JSON, XML,
      // CSVWithNames, …) and hands it out at the start of the session's next result, another caller's. A query
      // that succeeds takes it first (found by test/fuzz/ops-port.test.ts).
      await session.queryAsync('SELECT 1', { format: 'Null' }).catch(() => undefined);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      pool.push(session);
    }
  }
}

/**
 * How long closing the embedded sessions waits for the statements still running on them, killed first. A killed query
 * ends within a block of its work (milliseconds); the bound only keeps a stop from hanging on an engine that does not.
 */
const CLOSE_WAIT_MS = 10_000;

/**
 * One request to the server, its answer read as it arrives and counted: past `maxBytes` or `deadline` (a
 * performance.now() instant) the connection is closed and the query refused as the engine refuses it (396, 159). The server is sent the
 * same limits, but the client cannot count on them: one that ignores them (misbehaving, or not ClickHouse) took
 * `rs.text()` to the largest string (~512 MB), and request_timeout is an idle timer that a byte at a time resets.
 * An error answer is read under the same bounds (the client's own error path reads it whole).
 */
async function boundedAnswer(
  client: ClickHouseClient,
  request: { query: string; format: string; settings: ClickHouseSettings; params?: Record<string, unknown>; signal?: AbortSignal | undefined },
  limits: SqlLimits,
  deadline: number,
): Promise<string> {
  const stop = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop.abort();
  }, Math.max(0, deadline - performance.now()));
  const onAbort = () => stop.abort();
  request.signal?.addEventListener('abort', onAbort, { once: true });
  let stream: Readable | undefined;
  try {
    // As client.query sends it: FORMAT on a line of its own, after any trailing `;` and `--` comment.
    const res = await client.exec({
      query: `${request.query.trim().replace(/;+$/, '')} \nFORMAT ${request.format}`,
      ...(request.params ? { query_params: request.params } : {}),
      clickhouse_settings: request.settings,
      abort_signal: stop.signal,
      ignore_error_response: true,
    });
    stream = addAbortSignal(stop.signal, res.stream);
    const tag = res.response_headers[EXCEPTION_TAG_HEADER];
    // Rows just short of the bound and the server's error block after them pass it: a block more is read to tell.
    const room = limits.maxResultBytes + (typeof tag === 'string' ? STREAMED_ERROR_BYTES : 0);
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > room) {
        throw answerTooLarge(limits);
      }
      chunks.push(chunk);
    }
    const answer = Buffer.concat(chunks);
    const text = answer.toString('utf8');
    const failed = (res.http_status_code !== undefined && (res.http_status_code < 200 || res.http_status_code > 299)) || res.response_headers['x-clickhouse-exception-code'] !== undefined;
    if (failed) throw parseError(text);
    // An error after the server began its answer (a memory limit reached half-way): a 200 whose rows are cut short,
    // which must not reach the caller as the whole answer. Servers before 25.11 append the bare error text instead,
    // which cannot be told from a value that reads the same (a query of system.query_log's exceptions).
    const streamed = streamedError(answer.subarray(-STREAMED_ERROR_BYTES), tag);
    if (streamed) throw streamed;
    if (bytes > limits.maxResultBytes) throw answerTooLarge(limits);
    return text;
  } catch (err) {
    if (timedOut) {
      throw new SqlQueryError(422, `Timeout exceeded: the server's answer had not ended after ${limits.maxExecutionTimeSec} s (ops.sql.maxExecutionTimeSec) (TIMEOUT_EXCEEDED)`, { code: '159', cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', onAbort);
    // Closing the connection is what cancels the query in the server (cancel_http_readonly_queries_on_client_close).
    stream?.destroy();
  }
}

function httpEngine(target: Extract<ClickHouseTarget, { kind: 'http' }>, limits: SqlLimits, log: LogFn): Engine {
  const client: ClickHouseClient = createClient({
    url: target.url,
    username: target.username,
    password: target.password,
    database: target.database,
    request_timeout: (limits.maxExecutionTimeSec + 10) * 1000,
    // A query boundedAnswer cuts (the limits, a caller that left) is already answered to the caller as 422 or 499.
    log: { LoggerClass: clientLogger(log, 'sql.client') },
  });
  const settingsFor = (color: boolean) => ({ ...engineSettings(limits, color), cancel_http_readonly_queries_on_client_close: '1' }) as unknown as ClickHouseSettings;
  const settings = settingsFor(false);
  return {
    async format(sql, deadline) {
      // RawBLOB, as on the embedded engine: the canonical text is the answer itself, not a field of a JSON row taken on trust.
      return boundedAnswer(client, { query: 'SELECT formatQuery({q:String})', params: { q: sql }, format: 'RawBLOB', settings }, limits, deadline);
    },
    async ast(formatted, deadline) {
      return boundedAnswer(client, { query: `EXPLAIN AST ${formatted}`, format: 'TabSeparatedRaw', settings }, limits, deadline);
    },
    async query(_sql, formatted, format, _tag, signal, color, deadline) {
      // The canonical text, as checked, without its FORMAT clause (boundedAnswer adds the one): the user's own text
      // may end in `; -- comment`, which left the added clause after the `;` (a second statement to the server), and
      // the canonical text has neither comments nor the `;`.
      return boundedAnswer(client, { query: withoutFormatClause(formatted), format, settings: settingsFor(color), signal }, limits, deadline);
    },
    close: () => client.close(),
  };
}
