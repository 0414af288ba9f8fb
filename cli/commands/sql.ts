// `cdrflow sql "<query>" [--format F]`: a read-only query against the pipeline's ClickHouse. While `cdrflow start`
// runs it goes through that process's ops port (the embedded engine belongs to one process); otherwise it opens the
// embedded engine (or the server at CLICKHOUSE_URL) directly.
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { ConfigError, loadAppConfig, opsPort } from '../../app/config.ts';
import { clickhouseTargetOf } from '../../app/job.ts';
import { findRunningJob, opsQuery, OpsRequestError } from '../../app/ops-client.ts';
import { assertReadOnly } from '../../core/ops-server.ts';
import { createClickHouse } from '../../core/clickhouse.ts';
import { EXIT_CONFIG } from './start.ts';

const usage = `Usage: cdrflow sql "<query>" [--format FORMAT] [--config FILE]
       echo "<query>" | cdrflow sql - [--format FORMAT]

Runs one read-only statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS) and prints the result.
The current database is the sink's (default "cdrflow"): tables cdr, cdr_legs, end_status_codes, end_statuses;
views cdr_daily, cdr_hourly, cdr_end_status. Read cdr with FINAL to count every call once.

Options:
  --format F     any ClickHouse output format: PrettyCompact (default), CSV, CSVWithNames, TSV, JSONEachRow, Markdown, …
  --config FILE  the same file as \`cdrflow start\` (ops port, ClickHouse location, database)

While \`cdrflow start\` runs, the query goes through its ops port (127.0.0.1, default port base + 70).`;

function parseArgs(args: string[]): { query: string; format: string; config?: string } {
  let query: string | undefined;
  let format = 'PrettyCompact';
  let config: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--format' || a === '-f') {
      const v = args[++i];
      if (!v) throw new UsageError(`${a} needs a format name`);
      format = v;
    } else if (a.startsWith('--format=')) format = a.slice(9);
    else if (a === '--config') {
      const v = args[++i];
      if (!v) throw new UsageError('--config needs a file');
      config = v;
    } else if (query === undefined && (a === '-' || !a.startsWith('--'))) query = a;
    else throw new UsageError(`unexpected argument "${a}"`);
  }
  if (query === undefined) throw new UsageError('missing query');
  if (!/^[A-Za-z]+$/.test(format)) throw new UsageError(`invalid format "${format}"`);
  return { query, format, ...(config ? { config } : {}) };
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

export const command: Command = {
  name: 'sql',
  summary: 'run a read-only SQL query against the pipeline\'s ClickHouse (through the running job if there is one)',
  usage,
  async run(args) {
    const opts = parseArgs(args);
    const raw = opts.query === '-' ? await readStdin() : opts.query;
    const { sql: body, format } = splitFormat(raw, opts.format);
    let sql: string;
    try {
      sql = assertReadOnly(body);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    let config;
    try {
      config = loadAppConfig({ file: opts.config });
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(`cdrflow sql: ${err.message}`);
        return EXIT_CONFIG;
      }
      throw err;
    }
    const running = config.clickhouse.url ? undefined : await findRunningJob(opsPort(config));
    if (running) {
      try {
        process.stdout.write(await opsQuery(running, sql, format));
        return 0;
      } catch (err) {
        if (err instanceof OpsRequestError) {
          console.error(`cdrflow sql: ${err.message}`);
          return 1;
        }
        throw err;
      }
    }
    const client = await createClickHouse(clickhouseTargetOf(config));
    try {
      const rs = await client.query({ query: sql, format: format as 'JSONEachRow' });
      process.stdout.write(await rs.text());
      return 0;
    } catch (err) {
      console.error(`cdrflow sql: ${(err as Error).message}`);
      return 1;
    } finally {
      await client.close();
    }
  },
};
