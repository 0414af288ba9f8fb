// A query whose result is shown to a person (`cdrflow sql`, the ops port's /sql): the text the engine renders in a
// chosen output format. The statement is sent exactly as written, with the format as the `default_format` setting
// instead of an appended `FORMAT` clause, so a syntax error's position points into the user's own text (an appended
// clause would be swallowed by an unfinished expression: `SELECT 1 +` became `SELECT 1 + FORMAT …`), and a
// `FORMAT` the user wrote wins as it does in clickhouse-client.
import type { ClickHouseClient, ClickHouseSettings, DataFormat } from '@clickhouse/client';

export interface TextQueryOptions {
  format: string;
  /** ANSI colours in the Pretty formats: the CLIENT's terminal decides, never the engine's own stdout. */
  color: boolean;
  /** Further settings for this query. */
  settings?: ClickHouseSettings;
}

export async function queryText(client: ClickHouseClient, sql: string, options: TextQueryOptions): Promise<string> {
  const result = await client.exec({
    query: sql,
    clickhouse_settings: {
      ...options.settings,
      default_format: options.format as DataFormat,
      output_format_pretty_color: options.color ? 1 : 0,
    },
  });
  const chunks: Buffer[] = [];
  for await (const chunk of result.stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}
