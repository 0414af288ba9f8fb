// The dead-letter loader: reads cdr.dlq (read_committed: normalize writes its dead letters inside transactions) and
// loads every dead letter into `<db>.cdr_dead_letters`, so analysts count and read them in SQL. The same Batcher and
// commit order as the cdr sink (one contiguous offset range per insert, dedup token, commit after ClickHouse acked),
// plus which offsets the table holds per partition, so a restart between an insert and its commit adds nothing even
// when the re-read range differs (counts are exact without FINAL).
// A dead letter that cannot be decoded or stored is logged and counted, never dead-lettered again (that could loop).
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { chNumber, LOOKUP_READ, readRows } from '../../core/clickhouse.ts';
import { ReaderCodec } from '../../core/avro.ts';
import { RETRY, retry } from '../../core/backoff.ts';
import { classifyDecodeError, type DeadLetter } from '../../core/dead-letter.ts';
import { CdrflowError, asCdrflowError, disposition } from '../../core/errors.ts';
import { ensureTopics, type Kafka } from '../../core/kafka.ts';
import type { CommittedCounts } from '../../core/kafka-streams.ts';
import { LimitedLog } from '../../core/log-limit.ts';
import type { LogFn } from '../../core/log.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import type { DlqLoaderConfig, SinkConfig } from './config.ts';
import { classifyClickHouseError } from './errors.ts';
import { insertLines } from './insert.ts';
import { migrate } from './migrations.ts';
import { DEAD_LETTER_COLUMNS, deadLetterTsvLine } from './rows.ts';
import type { RenderResult, RowLine, StoredOffsets } from './batcher.ts';
import { assertTableReady, runBatcherStage, type ClickHouseSink } from './sink.ts';

export const DLQ_LOADER = 'dlq-loader';

export interface DlqLoaderDeps {
  kafka: Kafka;
  registry: SchemaRegistry;
  clickhouse: ClickHouseClient;
  /**
   * The normalize mapping's PII key (normalize.mapping.piiKey): with one, no row shows a number in clear (rows.ts
   * deadLetterTsvLine). Required, so no caller can leave it out and store the numbers the key was set to hide.
   */
  piiKey: string | null;
  log?: LogFn;
  /**
   * After each committed range: `skipped` = dead letters that could not be decoded or stored (logged, not loaded);
   * `alreadyStored` = dead letters read again after a crash that the table already held (committed, not loaded twice).
   */
  onCommitted?: (counts: CommittedCounts) => void;
}

export type DlqLoader = ClickHouseSink;

/** DateTime64(3) holds 1900-01-01 .. 2299-12-31; a dead letter outside it is refused by the loader, not by the engine. */
const MIN_TIME = Date.UTC(1900, 0, 1);
const MAX_TIME = Date.UTC(2300, 0, 1);

/** Decodes a dead letter through the registry. Transient registry errors are retried; every other failure is the letter's. */
export async function decodeDeadLetter(reader: ReaderCodec<DeadLetter>, value: Buffer | null, where: string): Promise<DeadLetter> {
  if (value === null) throw new CdrflowError('bad_record', `${where}: no value (tombstone)`);
  const letter = await retry(async () => {
    try {
      return await reader.decode(value);
    } catch (err) {
      throw classifyDecodeError(err, `decoding ${where}`);
    }
  }, RETRY.registry);
  const t = letter.failed_at.getTime();
  if (!(t >= MIN_TIME && t < MAX_TIME)) throw new CdrflowError('bad_record', `${where}: failed_at ${String(t)} ms is outside 1900..2299`);
  // avsc reads an Avro int's varint as a long, so the int origin_partition can carry any integer; the table's Int32
  // column would store it wrapped (2^32 + 5 as 5), not refuse it (as the cdr sink's intProblem, render.ts).
  const p = letter.origin_partition;
  if (p !== (p | 0)) throw new CdrflowError('bad_record', `${where}: origin_partition ${p} is outside the Int32 of cdr_dead_letters`);
  return letter;
}

/**
 * The `dlq-loader.skipped` lines: a topic of garbage (a producer writing to cdr.dlq by mistake) is one per message,
 * so the first of each second per reason are logged and the rest summed up (`dlq-loader.skipped_suppressed`,
 * core/log-limit.ts); cdrflow_stage_skipped_total counts every one.
 */
export function skippedLog(log: LogFn, now?: () => number): { skipped(records: readonly DeadLetter[]): void; close(): void } {
  const lines = new LimitedLog(log, now);
  return {
    skipped(records) {
      for (const r of records) {
        lines.line('warn', `${DLQ_LOADER}.skipped`, { reason: r.error_kind }, {
          at: `${r.origin_topic}[${r.origin_partition}]@${r.origin_offset}`,
          bytes: r.original_value?.length ?? 0,
          error: r.error_message.length > 300 ? `${r.error_message.slice(0, 300)}…` : r.error_message,
        });
      }
    },
    close: () => lines.close(),
  };
}

export async function startDlqLoader(config: DlqLoaderConfig, sink: Pick<SinkConfig, 'database' | 'migrate' | 'createTopics' | 'partitions'>, deps: DlqLoaderDeps): Promise<DlqLoader> {
  const log = deps.log ?? (() => {});
  if (sink.migrate) await migrate(deps.clickhouse, { database: sink.database }, (line) => log('info', `${DLQ_LOADER}.migrate`, { step: line }));
  await assertTableReady(deps.clickhouse, sink.database, config.table, DEAD_LETTER_COLUMNS, 'cdr_dead_letters');
  if (sink.createTopics) await ensureTopics(deps.kafka, [{ topic: config.inputTopic, partitions: sink.partitions }]);
  const reader = new ReaderCodec<DeadLetter>(deps.registry, SCHEMA_FILES.deadLetter);
  const table = `${sink.database}.${config.table}`;
  const skipped = skippedLog(log);
  const rowOptions = { maxOriginalBytes: config.maxOriginalBytes, piiKey: deps.piiKey };

  const loader = await runBatcherStage<RowLine>(
    deps.kafka,
    {
      component: DLQ_LOADER,
      // Decoded and rendered on the main thread: dead letters are few, a render thread would cost more than it saves.
      async render(messages) {
        const results: RenderResult<RowLine>[] = [];
        for (const m of messages) {
          try {
            const letter = await decodeDeadLetter(reader, m.value, `${m.topic}[${m.partition}]@${m.offset}`);
            results.push({ line: deadLetterTsvLine(letter, { topic: m.topic, partition: m.partition, offset: m.offset }, rowOptions), vendor: letter.vendor, cdr_id: letter.cdr_id });
          } catch (err) {
            const e = asCdrflowError(err);
            if (disposition(e) !== 'dead-letter') throw e;
            results.push({ error: { kind: e.kind, message: e.message } });
          }
        }
        return results;
      },
      insert: (rows, token) => insertLines(deps.clickhouse, table, rows, 'TabSeparated', token, DEAD_LETTER_COLUMNS),
      async publishDeadLetters(records) {
        // No dead letter of a dead letter: it is logged with where it sits, and counted (cdrflow_stage_skipped_total).
        skipped.skipped(records);
      },
      stored: storedOffsets(deps.clickhouse, table),
      // The batcher's "dead-lettered" are, here, the skipped ones.
      ...(deps.onCommitted ? { onCommitted: (c: CommittedCounts) => deps.onCommitted!({ records: c.records, deadLettered: 0, skipped: c.deadLettered, ...(c.alreadyStored ? { alreadyStored: c.alreadyStored } : {}) }) } : {}),
    },
    {
      flushRows: config.flushRows,
      flushBytes: config.flushBytes,
      flushMs: config.flushMs,
      maxInsertAttempts: config.maxInsertAttempts,
      // A large range the table rejects entirely is the table's problem (not migrated, a changed column), not the letters'.
      systemicRejectThreshold: 50,
      backgroundFlush: true,
    },
    { groupId: config.groupId, topic: config.inputTopic, sessionTimeoutMs: config.sessionTimeoutMs, events: DLQ_LOADER, log, started: { table } },
  );
  const closeSkipped = () => skipped.close();
  void loader.done.then(closeSkipped, closeSkipped);
  return loader;
}

/** Which offsets of a dead-letter partition the table holds (the batcher's ports.stored). */
function storedOffsets(client: ClickHouseClient, table: string): StoredOffsets {
  const where = `FROM ${table} WHERE dlq_topic = {topic:String} AND dlq_partition = {partition:Int32}`;
  return {
    async upTo(topic, partition) {
      const [row] = await lookup(client, {
        query: `SELECT count() AS n, max(dlq_offset) AS last ${where}`,
        params: { topic, partition },
        what: `the dead letters of ${topic} [${partition}] stored`,
        row: z.object({ n: chNumber, last: chNumber }),
        bounds: LOOKUP_READ,
      });
      return row && row.n > 0 ? row.last + 1 : undefined;
    },
    async among(topic, partition, first, last) {
      // At most one row per offset of the range (DISTINCT: a copy not merged yet is the same offset).
      const rows = last - first + 1;
      const held = await lookup(client, {
        query: `SELECT DISTINCT dlq_offset AS offset ${where} AND dlq_offset BETWEEN {first:Int64} AND {last:Int64}`,
        params: { topic, partition, first, last },
        what: `the dead letters of ${topic} [${partition}] stored at offsets ${first}-${last}`,
        row: z.object({ offset: chNumber }),
        bounds: { ...LOOKUP_READ, rows: rows + 1, bytes: Math.max(LOOKUP_READ.bytes, (rows + 1) * 64) },
      });
      return new Set(held.map((r) => r.offset));
    },
  };
}

async function lookup<S extends z.ZodType>(client: ClickHouseClient, read: Parameters<typeof readRows<S>>[1]): Promise<z.output<S>[]> {
  try {
    return await readRows(client, read);
  } catch (err) {
    throw classifyClickHouseError(err);
  }
}
