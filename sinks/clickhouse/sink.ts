// The ClickHouse sink on Kafka: reads cdr.normalized (read_committed), decodes through the registry into the sink's
// own reader schema, and hands partition batches to the Batcher (contiguous offset ranges, the ranges due together
// in one insert, dedup token, commit after ack, a range's rejected rows to cdr.dlq in one Kafka transaction with its
// offsets).
import { randomUUID } from 'node:crypto';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ClickHouseClient } from '@clickhouse/client';
import { RETRY, retry } from '../../core/backoff.ts';
import { DeadLetterWriter } from '../../core/dead-letter.ts';
import { CdrflowError } from '../../core/errors.ts';
import { ensureTopics, type Kafka } from '../../core/kafka.ts';
import { connectOffsetTransactions, runBatchConsumer, unknownGeneration, type CommittedCounts, type StreamHandle } from '../../core/kafka-streams.ts';
import type { LogFn } from '../../core/log.ts';
import { Batcher, DEFAULT_FLUSH_IDLE_MS, type BatcherOptions, type BatcherPorts, type RenderedRow, type RowLine, type SinkStats } from './batcher.ts';
import type { SinkConfig } from './config.ts';
import { classifyClickHouseError } from './errors.ts';
import { insertLines } from './insert.ts';
import { migratedShapes, migrate } from './migrations.ts';
import { assertTableShape } from './table-shape.ts';
import { createRenderer } from './render.ts';
import { CDR_COLUMNS } from './rows.ts';

export interface SinkDeps {
  kafka: Kafka;
  registry: SchemaRegistry;
  clickhouse: ClickHouseClient;
  log?: LogFn;
  onCommitted?: (counts: CommittedCounts) => void;
  /** Called with the rows of every insert ClickHouse acknowledged (metrics: received → inserted latency). */
  onInserted?: (rows: readonly RenderedRow[]) => void;
  /** Nice value of the render thread (the job's `workerThreads.nice`); default 0, the process's priority. */
  renderThreadNice?: number;
}

export interface ClickHouseSink extends StreamHandle {
  readonly stats: SinkStats;
  /** Rows read but not yet flushed. */
  readonly buffered: () => number;
}

/**
 * Refuses to start against a table that lacks a column the sink writes (run `cdrflow migrate`), or that is not the
 * table the migrations make of `shapeOf` (another engine, a view, a written column of another type).
 */
export async function assertTableReady(client: ClickHouseClient, database: string, table: string, expected: readonly string[] = CDR_COLUMNS, shapeOf = 'cdr'): Promise<void> {
  await assertTableShape(client, database, table, migratedShapes().get(shapeOf)!, expected, 'run `cdrflow migrate`');
}

/**
 * How long the broker lets a sink's transaction (a range's dead letters and its offsets) stay open before aborting it
 * itself. Each sink's transactional id is its own (sinkTransactionalId), so no successor aborts a transaction that a
 * killed sink left open: until this timeout (and the broker's check for timed-out transactions, every 10 s by
 * default) it holds cdr.dlq's last stable offset, and with it the dead-letter loader and every read_committed reader
 * of that partition; and a range whose offsets it holds waits this long for its next reader (stable offsets). A
 * transaction takes milliseconds: a few dead letters and one offset.
 */
export const SINK_TRANSACTION_TIMEOUT_MS = 10_000;

/**
 * A transactional id of its own for every running sink: two sinks of one group in one process (tests) or two
 * processes on one host must never share one, or each would fence the other's producer at every start. A stable id
 * would let a restarted sink abort its predecessor's open transaction at once, but the sink has no instance id to
 * build one from, and a collision costs more than a killed sink's transaction left to SINK_TRANSACTION_TIMEOUT_MS.
 */
export function sinkTransactionalId(groupId: string): string {
  return `${groupId}.${randomUUID()}`;
}

export async function startClickHouseSink(config: SinkConfig, deps: SinkDeps): Promise<ClickHouseSink> {
  const log = deps.log ?? (() => {});
  if (config.migrate) await migrate(deps.clickhouse, { database: config.database }, (line) => log('info', 'sink.migrate', { step: line }));
  await assertTableReady(deps.clickhouse, config.database, config.table);
  if (config.createTopics) {
    await ensureTopics(deps.kafka, [config.inputTopic, config.deadLetterTopic].map((topic) => ({ topic, partitions: config.partitions })));
  }
  const deadLetters = new DeadLetterWriter(deps.registry, config.deadLetterTopic);
  await deadLetters.register();
  const transactions = await connectOffsetTransactions(deps.kafka, {
    groupId: config.groupId,
    transactionalId: sinkTransactionalId(config.groupId),
    transactionTimeoutMs: SINK_TRANSACTION_TIMEOUT_MS,
    log: (event, fields) => log('info', `sink.${event}`, fields),
  });
  // Decode every writer version into the schema this sink was built for (defaults fill fields older writers lacked),
  // and render each row as soon as it is decoded: in the render thread unless the config says inline.
  const renderer = createRenderer(deps.registry, config.insertFormat, { thread: config.renderThread, nice: deps.renderThreadNice ?? 0, log });
  // What the stage holds besides its consumer: freed once it stops, or here if it never gets to start.
  const release = async () => {
    await transactions.disconnect().catch(() => undefined);
    await renderer.close();
    deadLetters.close();
  };
  try {
    await renderer.ready();
  } catch (err) {
    await release();
    throw err;
  }
  const table = `${config.database}.${config.table}`;

  return runBatcherStage<RenderedRow>(
    deps.kafka,
    {
      render: (messages) => renderer.render(messages),
      async insert(rows, token) {
        await insertLines(deps.clickhouse, table, rows, config.insertFormat, token);
        deps.onInserted?.(rows);
      },
      async commitWithDeadLetters(range, records) {
        if (range.membership === undefined) throw unknownGeneration(config.groupId);
        const messages = await retry(() => Promise.all(records.map((r) => deadLetters.message(r))), RETRY.registry);
        await transactions.commit(
          [{ topic: config.deadLetterTopic, messages }],
          new Map([[range.topic, [{ partition: range.partition, offset: String(range.nextOffset) }]]]),
          range.membership,
          () => `${range.topic}[${range.partition}] up to offset ${range.nextOffset} with ${records.length} dead letter(s)`,
          // The letters are sent, the offset and the commit not yet: the point a crash test kills the sink at
          // (CDRFLOW_CRASH_AFTER_EVENT, core/log.ts). Only ranges with dead letters come here, so rows pay nothing.
          () => log('debug', 'sink.dead_letters_sent', { topic: range.topic, partition: range.partition, nextOffset: range.nextOffset, deadLetters: records.length }),
        );
      },
      ...(deps.onCommitted ? { onCommitted: deps.onCommitted } : {}),
    },
    {
      flushRows: config.flushRows,
      flushBytes: config.flushBytes,
      flushMs: config.flushMs,
      flushIdleMs: config.flushIdleMs,
      maxInsertAttempts: config.maxInsertAttempts,
      systemicRejectThreshold: config.systemicRejectThreshold,
      backgroundFlush: true,
    },
    {
      groupId: config.groupId,
      topic: config.inputTopic,
      sessionTimeoutMs: config.sessionTimeoutMs,
      events: 'sink',
      log,
      started: { table, format: config.insertFormat, renderThread: config.renderThread, flushRows: config.flushRows, flushBytes: config.flushBytes, flushMs: config.flushMs, flushIdleMs: config.flushIdleMs },
      release,
    },
  );
}

export interface BatcherStageOptions {
  groupId: string;
  topic: string;
  sessionTimeoutMs: number;
  /** Prefix of the log events (`sink.started`, `sink.inserted`, ...). */
  events: string;
  log: LogFn;
  /** Extra fields of the `<events>.started` line. */
  started?: Record<string, unknown>;
  /** Frees what the stage holds besides the consumer (a producer, a render thread), once it stopped either way. */
  release?: () => Promise<void>;
}

/**
 * A Batcher fed by a read_committed consumer group: the one consume -> insert -> commit loop of both ClickHouse
 * stages (the cdr sink, the dead-letter loader). Batches are buffered per partition, flushed by size in the
 * consumer's loop and by age on a timer, and committed after ClickHouse acknowledged them.
 */
export async function runBatcherStage<R extends RowLine>(
  kafka: Kafka,
  ports: Omit<BatcherPorts<R>, 'commit' | 'onFailure' | 'log' | 'events'>,
  batcherOptions: BatcherOptions,
  options: BatcherStageOptions,
): Promise<ClickHouseSink> {
  const { log, events } = options;
  const batcher = new Batcher<R>(
    {
      ...ports,
      events,
      log,
      commit: (topic, partition, next, fetchedAs) => consumer.commit(topic, partition, next, fetchedAs),
      committedOffset: (topic, partition) => consumer.committedOffset(topic, partition),
      onFailure: (err) => consumer.fail(err),
    },
    batcherOptions,
  );
  let stopping = false;
  /** The final flush of a stop, once it began. */
  let draining: Promise<void> | undefined;
  const consumer = await runBatchConsumer(kafka, {
    groupId: options.groupId,
    topics: [options.topic],
    sessionTimeoutMs: options.sessionTimeoutMs,
    log: (event, fields) => log('info', `${events}.${event}`, fields),
    onRebalance: () => batcher.dropAll(),
    // Where ranges commit in transactions (their dead letters with their offsets), a partition's next reader must
    // start from its stable committed offset: kafkajs reads the offset without KIP-447's require_stable, so a range
    // whose transaction committed a moment ago (its markers not yet written) would be read from before it, and its
    // letters published again (a re-insert is deduplicated by its token or FINAL, a re-published letter is not).
    stableOffsets: ports.commitWithDeadLetters !== undefined,
    onMarkersOnly: (range) => {
      if (!stopping) void batcher.skipMarkers(range).catch((err: unknown) => log('warn', `${events}.skip_markers_failed`, { error: String(err) }));
    },
    async handle(batch, ctx) {
      if (stopping) {
        // Not resolved: re-delivered to whoever consumes next. Held until the final flush is done: kafkajs fetches
        // again from the last resolved offset as soon as the handler returns, so returning at once had it fetch and
        // hand over the same records, over and over, for as long as the final insert took, taking the CPU and the
        // broker from it. kafkajs's stop waits for this handler, and stop() calls it only after the flush.
        await draining;
        return;
      }
      const last = await batcher.add(batch, ctx.heartbeat);
      if (last !== undefined) ctx.resolve(last);
      await ctx.heartbeat();
    },
  }).catch(async (err: unknown) => {
    // Never started (its group could not be joined, its topic is missing): what it holds goes now, as on a stop.
    await options.release?.().catch(() => undefined);
    throw err;
  });

  // Often enough to see a buffer's age (a quarter of flushMs) and the input's pause (half of flushIdleMs) in time.
  const idleMs = batcherOptions.flushIdleMs ?? DEFAULT_FLUSH_IDLE_MS;
  const timer = setInterval(() => {
    batcher.flushDue().catch((err: unknown) => consumer.fail(err instanceof CdrflowError ? err : classifyClickHouseError(err)));
  }, Math.max(10, Math.min(250, Math.floor(batcherOptions.flushMs / 4), idleMs > 0 ? Math.floor(idleMs / 2) : Infinity)));
  timer.unref();

  // Released once, whichever comes first: a clean stop or the consumer ending by itself.
  let released: Promise<void> | undefined;
  const release = () => (released ??= options.release?.() ?? Promise.resolve());
  const done = consumer.done.finally(async () => {
    clearInterval(timer);
    await release();
  });
  done.catch(() => undefined);
  log('info', `${events}.started`, { groupId: options.groupId, topic: options.topic, ...options.started });

  return {
    done,
    stats: batcher.stats,
    buffered: () => batcher.bufferedRows,
    async stop() {
      // Clean shutdown: stop taking batches, flush and commit what is buffered, then leave the group.
      stopping = true;
      clearInterval(timer);
      draining = batcher.flushDue(true).catch((err: unknown) => log('warn', `${events}.final_flush_failed`, { error: String(err) }));
      await draining;
      await consumer.stop();
      await release();
    },
  };
}
