// `cdrflow sql "<query>" [--format F]`: a read-only query against the pipeline's ClickHouse. While `cdrflow start`
// runs it goes through that process's ops port (the embedded engine belongs to one process); otherwise it opens the
// embedded engine (or the server at CLICKHOUSE_URL) directly.
import type { Command } from '../command.ts';
import { readingStdin, refuseDirectoryOnStdin, UsageError } from '../command.ts';
import { quote, terminalLines, terminalText } from '../../core/input-limits.ts';
import { MAX_SQL_BYTES } from '../../core/sql-check.ts';
import { DEFAULT_SQL_LIMITS } from '../../core/read-only-sql.ts';
import { PORT_OFFSETS } from '../../core/local-endpoints.ts';
import { parseFlags } from '../args.ts';
import { loadCommandConfig } from '../app-config.ts';
import { endpoints } from '../../app/config.ts';
import { findRunningJob, opsQuery } from '../../app/ops-client.ts';
import { useColor } from '../output.ts';

const usage = `Usage: cdrflow sql "<query>" [--format FORMAT] [--config FILE]
       echo "<query>" | cdrflow sql - [--format FORMAT]

Runs one statement in a read-only engine session (no writes, no settings changes, no files, no network; at most
ops.sql.maxExecutionTimeSec, default ${DEFAULT_SQL_LIMITS.maxExecutionTimeSec} s) and prints the result.
The current database is the sink's (default "cdrflow"): tables cdr, cdr_legs, cdr_dead_letters, reconcile_runs,
end_status_codes, end_statuses; views cdr_daily, cdr_hourly, cdr_end_status, cdr_legs_current. Read cdr with FINAL
to count every call once.

Options:
  --format F, -f F  a ClickHouse text output format: PrettyCompact (default), CSV, CSVWithNames, TSV, JSONEachRow,
                    Markdown, … (binary ones, such as Parquet, Native or RowBinary, are refused)
  --config FILE     the same file as \`cdrflow start\` (ops port, ClickHouse location, database)

While \`cdrflow start\` runs, the query goes through its ops port (127.0.0.1, default port base + ${PORT_OFFSETS.ops}).

Exit status: 0 answered; 1 the query refused or failed (not a read, a syntax error with a caret under it, an unknown
table or column, busy, past a limit: the engine's message); 64 usage (no query, an unknown or binary --format, a query over
${MAX_SQL_BYTES / 1024} KiB); 66 standard input (-) a directory or not readable; 78 config.`;

function parseArgs(args: string[]): { query: string; format: string; config: string | undefined } {
  const { values, positionals } = parseFlags(
    args,
    { format: { type: 'string', short: 'f', needs: 'a format name' }, config: { type: 'string', needs: 'a file' } },
    { maxPositionals: 1 },
  );
  const [query] = positionals;
  if (query === undefined) throw new UsageError('missing query');
  const format = values.format ?? 'PrettyCompact';
  if (!/^[A-Za-z]+$/.test(format)) throw new UsageError(`invalid format ${quote(format)}`);
  return { query, format, config: values.config };
}

const tooLarge = (where: string) => new UsageError(`the query ${where}is larger than ${MAX_SQL_BYTES} bytes, the most a query may be`);

/**
 * The query on standard input (`cdrflow sql -`), read up to one byte past the limit: it was read whole, however
 * large, and a directory there read as an empty query.
 */
async function readStdinQuery(): Promise<string> {
  refuseDirectoryOnStdin('give the query, or a file or a pipe holding it');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_SQL_BYTES) {
      process.stdin.destroy();
      throw tooLarge('on standard input ');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** How far from its end a trailing FORMAT clause is looked for: a keyword, a format name and the spaces around them. */
const FORMAT_CLAUSE_CHARS = 256;

/**
 * A trailing `FORMAT X` in the query wins over --format (the client adds its own FORMAT clause). Only the end of the
 * text is searched: the pattern run over the whole text took time growing with the square of a run of spaces (a
 * query of 1 MB of them hung `cdrflow sql` for minutes).
 */
export function splitFormat(sql: string, fallback: string): { sql: string; format: string } {
  const text = sql.trimEnd();
  const from = Math.max(0, text.length - FORMAT_CLAUSE_CHARS);
  const m = /\s+FORMAT\s+([A-Za-z]+)\s*;?$/i.exec(text.slice(from));
  return m ? { sql: text.slice(0, from + m.index), format: m[1]! } : { sql, format: fallback };
}

/**
 * A syntax error's "failed at position N" with the line of the query it points at and a caret under it, the way
 * clickhouse-client shows it. Positions count from 1 in the query as sent, which is the user's own text.
 */
export function pointAtError(message: string, sql: string): string {
  const m = /failed at position (\d+)/.exec(message);
  if (!m) return message;
  const offset = Math.min(Number(m[1]) - 1, sql.length);
  const lineStart = sql.lastIndexOf('\n', offset - 1) + 1;
  const lineEnd = sql.indexOf('\n', offset);
  const line = sql.slice(lineStart, lineEnd === -1 ? undefined : lineEnd);
  return `${message.trim()}\n\n  ${line}\n  ${' '.repeat(offset - lineStart)}^`;
}

export const command: Command = {
  name: 'sql',
  summary: "run a read-only SQL query against the pipeline's ClickHouse (through the running job if there is one)",
  usage,
  async run(args) {
    const opts = parseArgs(args);
    const raw = opts.query === '-' ? await readingStdin(readStdinQuery) : opts.query;
    if (Buffer.byteLength(raw) > MAX_SQL_BYTES) throw tooLarge('');
    const { sql, format } = splitFormat(raw, opts.format);
    if (sql.trim() === '') throw new UsageError('empty query');
    const config = loadCommandConfig({ file: opts.config });
    const running = config.clickhouse.url ? undefined : await findRunningJob(endpoints(config).opsPort);
    const color = useColor(process.stdout);
    // A failed query (OpsRequestError, a ClickHouse error) is printed as "cdrflow sql: <message>", exit 1, by main.
    try {
      if (running) {
        await opsQuery(running, sql, format, process.stdout, color);
        return 0;
      }
      // Loaded only here: the engine is not needed while a running job answers.
      const { openReadOnlySql } = await import('../../core/read-only-sql.ts');
      const engine = await openReadOnlySql(endpoints(config).clickhouse, config.ops.sql);
      try {
        process.stdout.write(await engine.run(sql, format, { color }));
        return 0;
      } finally {
        await engine.close();
      }
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      // A format name the engine does not know, or a binary one, is the command line's mistake, as the other flags' are.
      if (/\bUNKNOWN_FORMAT\b|^Unknown format\b|\(BINARY_FORMAT\)/.test(err.message)) throw new UsageError(`format ${terminalText(format)}: ${terminalText(err.message)}`);
      // The engine quotes the query back: its control characters (a binary file on stdin) must not reach the terminal.
      err.message = terminalLines(pointAtError(err.message, sql));
      throw err;
    }
  },
};
