// One insert of rows into ClickHouse (CDRs into `cdr`, dead letters into `cdr_dead_letters`), always with an
// explicit dedup token: the embedded engine keeps `clickhouse_settings` on its connection, so an insert without a
// token could inherit the previous one and be silently dropped as a "duplicate". An empty token means "no token".
import type { ClickHouseClient } from '@clickhouse/client';
import { insertBody } from '../../core/clickhouse.ts';
import { TimeSlice } from '../../core/time-slice.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { classifyClickHouseError } from './errors.ts';
import type { DeadLetter } from '../../core/dead-letter.ts';
import { CDR_COLUMNS, DEAD_LETTER_COLUMNS, cdrObject, cdrTsvLine, cdrValues, deadLetterTsvLine, type InsertFormat, type Positioned } from './rows.ts';

export type PositionedCdr = Positioned<NormalizedCdr>;

/** The settings of every insert: one block per call, deduplicated by the token that names its offset range. */
function exactlyOnce(dedupToken: string, rows: number) {
  return {
    insert_deduplication_token: dedupToken,
    insert_deduplicate: 1 as const,
    // A batch is one block: ClickHouse must not split it (a split block would get a different dedup identity).
    max_insert_block_size: String(Math.max(rows, 1)),
    min_insert_block_size_rows: '0',
    min_insert_block_size_bytes: '0',
  };
}

export async function insertCdrs(
  client: ClickHouseClient,
  table: string,
  rows: readonly PositionedCdr[],
  format: InsertFormat,
  dedupToken: string,
): Promise<void> {
  const clickhouse_settings = {
    ...exactlyOnce(dedupToken, rows.length),
    // Legs reach cdr_legs through a materialized view; dedup its blocks too so a retried batch adds nothing there.
    deduplicate_blocks_in_dependent_materialized_views: 1 as const,
    // Tuples travel as positional arrays in every JSON format (smaller, and no key lookups when parsing).
    input_format_json_named_tuples_as_objects: 0 as const,
  };
  try {
    if (format === 'TabSeparated') {
      await insertBody(client, { table, format, columns: CDR_COLUMNS, body: await tsvBody(rows), settings: clickhouse_settings });
    } else if (format === 'JSONCompactEachRow') {
      await client.insert({ table, format, values: rows.map((r) => cdrValues(r.record, r.at)), columns: [...CDR_COLUMNS], clickhouse_settings });
    } else {
      await client.insert({ table, format, values: rows.map((r) => cdrObject(r.record, r.at)), columns: [...CDR_COLUMNS], clickhouse_settings });
    }
  } catch (err) {
    throw classifyClickHouseError(err);
  }
}

/**
 * Dead letters with their position on the dead-letter topic into `cdr_dead_letters`, as TabSeparated: the original
 * key and value are bytes (Avro, or anything a hostile sender wrote), which TSV carries exactly and JSON cannot.
 */
export async function insertDeadLetters(client: ClickHouseClient, table: string, rows: readonly Positioned<DeadLetter>[], maxOriginalBytes: number, dedupToken: string): Promise<void> {
  try {
    await insertBody(client, { table, format: 'TabSeparated', columns: DEAD_LETTER_COLUMNS, body: rows.map((r) => deadLetterTsvLine(r.record, r.at, maxOriginalBytes)), settings: exactlyOnce(dedupToken, rows.length) });
  } catch (err) {
    throw classifyClickHouseError(err);
  }
}

/**
 * The TabSeparated body in chunks, one per time slice: rendering 50,000 rows takes over a second, which must not
 * hold the event loop in one piece.
 */
async function tsvBody(rows: readonly PositionedCdr[]): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  const slice = new TimeSlice();
  let part = '';
  for (const r of rows) {
    part += cdrTsvLine(r.record, r.at);
    if (slice.due()) {
      chunks.push(Buffer.from(part));
      part = '';
      await slice.yield();
    }
  }
  if (part !== '') chunks.push(Buffer.from(part));
  return chunks;
}
