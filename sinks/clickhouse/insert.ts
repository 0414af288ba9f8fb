// One insert of rendered CDR rows into ClickHouse, always with an explicit dedup token: the embedded engine keeps
// `clickhouse_settings` on its connection, so an insert without a token could inherit the previous one and be
// silently dropped as a "duplicate". An empty token means "no token" to ClickHouse.
import type { ClickHouseClient } from '@clickhouse/client';
import { insertBody } from '../../core/clickhouse.ts';
import { TimeSlice } from '../../core/time-slice.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { classifyClickHouseError } from './errors.ts';
import { CDR_COLUMNS, cdrLine, type InsertFormat, type SourcePosition } from './rows.ts';

export interface PositionedCdr {
  cdr: NormalizedCdr;
  at: SourcePosition;
}

/** Inserts rows already rendered as lines of `format` (rows.ts cdrLine), as one block with one dedup token. */
export async function insertLines(
  client: ClickHouseClient,
  table: string,
  lines: readonly { line: string }[],
  format: InsertFormat,
  dedupToken: string,
): Promise<void> {
  const settings = {
    insert_deduplication_token: dedupToken,
    insert_deduplicate: 1,
    // Legs reach cdr_legs through a materialized view; dedup its blocks too so a retried batch adds nothing there.
    deduplicate_blocks_in_dependent_materialized_views: 1,
    // A batch is one block: ClickHouse must not split it (a split block would get a different dedup identity).
    max_insert_block_size: String(Math.max(lines.length, 1)),
    min_insert_block_size_rows: '0',
    min_insert_block_size_bytes: '0',
    // Tuples travel as positional arrays in every JSON format (smaller, and no key lookups when parsing).
    input_format_json_named_tuples_as_objects: 0,
  };
  try {
    await insertBody(client, { table, format, columns: CDR_COLUMNS, body: await joinLines(lines), settings });
  } catch (err) {
    throw classifyClickHouseError(err);
  }
}

/** Renders and inserts (tests, the deploy fixtures, the benchmarks); the sink renders at decode time instead. */
export async function insertCdrs(
  client: ClickHouseClient,
  table: string,
  rows: readonly PositionedCdr[],
  format: InsertFormat,
  dedupToken: string,
): Promise<void> {
  await insertLines(client, table, rows.map((r) => ({ line: cdrLine(r.cdr, r.at, format) })), format, dedupToken);
}

/**
 * The body in chunks, one per time slice: joining 50,000 rows into bytes must not hold the event loop in one piece.
 */
async function joinLines(lines: readonly { line: string }[]): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  const slice = new TimeSlice();
  let part = '';
  for (const { line } of lines) {
    part += line;
    if (slice.due()) {
      chunks.push(Buffer.from(part));
      part = '';
      await slice.yield();
    }
  }
  if (part !== '') chunks.push(Buffer.from(part));
  return chunks;
}
