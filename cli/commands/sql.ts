// `cdrflow sql "<query>" [--format F]`: a read-only query against the pipeline's ClickHouse. While `cdrflow start`
// runs it goes through that process's ops port (the embedded engine belongs to one process); otherwise it opens the
// embedded engine (or the server at CLICKHOUSE_URL) directly.
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { parseFlags } from '../args.ts';
import { loadCommandConfig } from '../app-config.ts';
import { endpoints } from '../../app/config.ts';
import { findRunningJob, opsQuery } from '../../app/ops-client.ts';
import { useColor } from '../output.ts';

const usage = `Usage: cdrflow sql "<query>" [--format FORMAT] [--config FILE]
       echo "<query>" | cdrflow sql - [--format FORMAT]

Runs one statement in a read-only engine session (no writes, no settings changes, no files, no network; at most
ops.sql.maxExecutionTimeSec, default 30 s) and prints the result.
The current database is the sink's (default "cdrflow"): tables cdr, cdr_legs, cdr_dead_letters, reconcile_runs,
end_status_codes, end_statuses; views cdr_daily, cdr_hourly, cdr_end_status, cdr_legs_current. Read cdr with FINAL
to count every call once.

Options:
  --format F     any ClickHouse output format: PrettyCompact (default), CSV, CSVWithNames, TSV, JSONEachRow, Markdown, …
  --config FILE  the same file as \`cdrflow start\` (ops port, ClickHouse location, database)

While \`cdrflow start\` runs, the query goes through its ops port (127.0.0.1, default port base + 70).`;

function parseArgs(args: string[]): { query: string; format: string; config: string | undefined } {
  const { values, positionals } = parseFlags(
    args,
    { format: { type: 'string', short: 'f', needs: 'a format name' }, config: { type: 'string', needs: 'a file' } },
    { maxPositionals: 1 },
  );
  const [query] = positionals;
  if (query === undefined) throw new UsageError('missing query');
  const format = values.format ?? 'PrettyCompact';
  if (!/^[A-Za-z]+$/.test(format)) throw new UsageError(`invalid format "${format}"`);
  if (values.config === '') throw new UsageError('--config needs a file');
  return { query, format, config: values.config };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A trailing `FORMAT X` in the query wins over --format (the client adds its own FORMAT clause). */
export function splitFormat(sql: string, fallback: string): { sql: string; format: string } {
  const m = /\s+FORMAT\s+([A-Za-z]+)\s*;?\s*$/i.exec(sql);
  return m ? { sql: sql.slice(0, m.index), format: m[1]! } : { sql, format: fallback };
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
    const raw = opts.query === '-' ? await readStdin() : opts.query;
    const { sql, format } = splitFormat(raw, opts.format);
    if (sql.trim() === '') throw new UsageError('empty query');
    const config = loadCommandConfig({ file: opts.config });
    const running = config.clickhouse.url ? undefined : await findRunningJob(endpoints(config).opsPort);
    const color = useColor(process.stdout);
    // A failed query (OpsRequestError, a ClickHouse error) is printed as "cdrflow sql: <message>", exit 1, by main.
    try {
      if (running) {
        process.stdout.write(await opsQuery(running, sql, format, color));
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
      if (err instanceof Error) err.message = pointAtError(err.message, sql);
      throw err;
    }
  },
};
