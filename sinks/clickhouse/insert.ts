// One insert of rendered rows into ClickHouse (CDRs into `cdr`, dead letters into `cdr_dead_letters`), always with
// an explicit dedup token: the embedded engine keeps `clickhouse_settings` on its connection, so an insert without a
// token could inherit the previous one and be silently dropped as a "duplicate". An empty token means "no token".
import type { ClickHouseClient } from '@clickhouse/client';
import { insertBody } from '../../core/clickhouse.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { LineWriter } from './avro-tsv.ts';
import { classifyClickHouseError } from './errors.ts';
import { CDR_COLUMNS, cdrLine, type InsertFormat, type SourcePosition } from './rows.ts';

export interface PositionedCdr {
  cdr: NormalizedCdr;
  at: SourcePosition;
}

/** Month partitions one insert may touch (ClickHouse's default is 100). */
export const MAX_PARTITIONS_PER_INSERT = 1_000;

/**
 * Inserts rows already rendered as lines of `format` (rows.ts cdrLine, deadLetterTsvLine), as one block with one
 * dedup token. `columns` name the lines' fields in order (default: the cdr table's).
 */
export async function insertLines(
  client: ClickHouseClient,
  table: string,
  lines: readonly { line: Buffer }[],
  format: InsertFormat,
  dedupToken: string,
  columns: readonly string[] = CDR_COLUMNS,
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
    // Tables are partitioned by month, and ClickHouse refuses an insert that touches more than 100 partitions; a
    // backfill of years, or one month-spread batch of dead letters, touched more and was refused at every retry and
    // restart. 1,000 months hold every call time normalize accepts (from 1999-12-31) for decades; a batch that spans
    // more still is split by the batcher until each part fits (errors.ts: a row problem, never a dead letter).
    max_partitions_per_insert_block: String(MAX_PARTITIONS_PER_INSERT),
    // Tuples travel as positional arrays in every JSON format (smaller, and no key lookups when parsing).
    input_format_json_named_tuples_as_objects: 0,
  };
  try {
    await insertBody(client, { table, format, columns, body: contiguousRuns(lines), settings });
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
  const lines = packRows(rows.map((r) => cdrLine(r.cdr, r.at, format)));
  await insertLines(client, table, lines.map((line) => ({ line })), format, dedupToken);
}

/** Lines as ONE buffer (LineWriter, as the render thread packs them), each line a view into it. */
export function packRows(lines: readonly string[]): Buffer[] {
  const out = new LineWriter();
  const ends = lines.map((l) => {
    out.text(l);
    return out.pos;
  });
  // Views only once every line is written: the buffer may have grown (moved) meanwhile.
  return ends.map((end, i) => out.buf.subarray(i === 0 ? 0 : ends[i - 1], end));
}

/** The insert body: rows that sit next to each other in one batch buffer are handed over as one view, not copied. */
function contiguousRuns(lines: readonly { line: Buffer }[]): Buffer[] {
  const runs: Buffer[] = [];
  // The current run: [start, end) of `memory`; its view is made once, when the run ends.
  let memory: ArrayBufferLike | undefined;
  let start = 0;
  let end = 0;
  for (const { line } of lines) {
    if (memory !== undefined && line.buffer === memory && line.byteOffset === end) {
      end += line.length;
      continue;
    }
    if (memory !== undefined) runs.push(Buffer.from(memory, start, end - start));
    memory = line.buffer;
    start = line.byteOffset;
    end = start + line.length;
  }
  if (memory !== undefined) runs.push(Buffer.from(memory, start, end - start));
  return runs;
}
