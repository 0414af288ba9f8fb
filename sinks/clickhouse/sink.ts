// The ClickHouse sink on Kafka: reads cdr.normalized (read_committed), decodes through the registry into the sink's
// own reader schema, and hands partition batches to the Batcher (one contiguous offset range per insert, dedup token,
// commit after ack, rejected rows to cdr.dlq).
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ClickHouseClient } from '@clickhouse/client';
import { ReaderCodec } from '../../core/avro.ts';
import { RETRY, retry } from '../../core/backoff.ts';
import { DeadLetterWriter, classifyRegistryError } from '../../core/dead-letter.ts';
import { CdrflowError } from '../../core/errors.ts';
import { AckedPublisher, ensureTopics, type Kafka } from '../../core/kafka.ts';
import { runBatchConsumer, type CommittedCounts, type StreamHandle } from '../../core/kafka-streams.ts';
import type { LogFn } from '../../core/log.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { Batcher, type BatcherOptions, type BatcherPorts, type SinkStats } from './batcher.ts';
import type { SinkConfig } from './config.ts';
import { classifyClickHouseError } from './errors.ts';
import { insertCdrs } from './insert.ts';
import { migrate } from './migrations.ts';
import { CDR_COLUMNS } from './rows.ts';

export interface SinkDeps {
  kafka: Kafka;
  registry: SchemaRegistry;
  clickhouse: ClickHouseClient;
  log?: LogFn;
  onCommitted?: (counts: CommittedCounts) => void;
  /** Called with the records of every insert ClickHouse acknowledged (metrics: received → inserted latency). */
  onInserted?: (cdrs: NormalizedCdr[]) => void;
}

export interface ClickHouseSink extends StreamHandle {
  readonly stats: SinkStats;
  /** Rows read but not yet flushed. */
  readonly buffered: () => number;
}

/** Refuses to start against a table that lacks a column the sink writes (run `cdrflow migrate`). */
export async function assertTableReady(client: ClickHouseClient, database: string, table: string, expected: readonly string[] = CDR_COLUMNS): Promise<void> {
  let columns: Set<string>;
  try {
    const rs = await client.query({
      query: 'SELECT name FROM system.columns WHERE database = {db:String} AND table = {table:String}',
      query_params: { db: database, table },
      format: 'JSONEachRow',
    });
    columns = new Set((await rs.json<{ name: string }>()).map((r) => r.name));
  } catch (err) {
    throw classifyClickHouseError(err);
  }
  if (columns.size === 0) throw new CdrflowError('config', `ClickHouse table ${database}.${table} does not exist; run \`cdrflow migrate\``);
  const missing = expected.filter((c) => !columns.has(c));
  if (missing.length > 0) throw new CdrflowError('config', `${database}.${table} lacks column(s) ${missing.join(', ')}; run \`cdrflow migrate\``);
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
  const publisher = new AckedPublisher(deps.kafka);
  await publisher.connect();
  // Decode every writer version into the schema this sink was built for (defaults fill fields older writers lacked).
  const reader = new ReaderCodec<NormalizedCdr>(deps.registry, SCHEMA_FILES.normalized);
  const table = `${config.database}.${config.table}`;

  return runBatcherStage<NormalizedCdr>(
    deps.kafka,
    {
      async decode(message) {
        if (message.value === null) throw new CdrflowError('bad_record', 'message has no value (tombstone) on cdr.normalized');
        return retry(async () => {
          try {
            return await reader.decode(message.value!);
          } catch (err) {
            throw classifyRegistryError(err, `decoding ${message.topic}[${message.partition}]@${message.offset}`);
          }
        }, RETRY.registry);
      },
      async insert(rows, token) {
        await insertCdrs(deps.clickhouse, table, rows, config.insertFormat, token);
        deps.onInserted?.(rows.map((r) => r.record));
      },
      identify: (cdr) => ({ vendor: cdr.vendor, cdr_id: cdr.cdr_id }),
      publishDeadLetters: (records) => retry(() => deadLetters.publish(records, publisher), RETRY.kafkaWrite),
      ...(deps.onCommitted ? { onCommitted: deps.onCommitted } : {}),
    },
    {
      flushRows: config.flushRows,
      flushBytes: config.flushBytes,
      flushMs: config.flushMs,
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
      started: { table, format: config.insertFormat, flushRows: config.flushRows, flushBytes: config.flushBytes, flushMs: config.flushMs },
      release: () => publisher.disconnect().catch(() => undefined),
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
  /** Frees what the stage holds besides the consumer (a producer), once it stopped either way. */
  release?: () => Promise<void>;
}

/**
 * A Batcher fed by a read_committed consumer group: the one consume -> insert -> commit loop of both ClickHouse
 * stages (the cdr sink, the dead-letter loader). Batches are buffered per partition, flushed by size in the
 * consumer's loop and by age on a timer, and committed after ClickHouse acknowledged them.
 */
export async function runBatcherStage<T>(
  kafka: Kafka,
  ports: Omit<BatcherPorts<T>, 'commit' | 'onFailure' | 'log' | 'events'>,
  batcherOptions: BatcherOptions,
  options: BatcherStageOptions,
): Promise<ClickHouseSink> {
  const { log, events } = options;
  const batcher = new Batcher<T>(
    { ...ports, events, log, commit: (topic, partition, next) => consumer.commit(topic, partition, next), onFailure: (err) => consumer.fail(err) },
    batcherOptions,
  );
  let stopping = false;
  const consumer = await runBatchConsumer(kafka, {
    groupId: options.groupId,
    topics: [options.topic],
    sessionTimeoutMs: options.sessionTimeoutMs,
    log: (event, fields) => log('info', `${events}.${event}`, fields),
    onRebalance: () => batcher.dropAll(),
    async handle(batch, ctx) {
      if (stopping) return; // not resolved: re-delivered to whoever consumes next
      const last = await batcher.add(batch, ctx.heartbeat);
      if (last !== undefined) ctx.resolve(last);
      await ctx.heartbeat();
    },
  });

  const timer = setInterval(() => {
    batcher.flushDue().catch((err: unknown) => consumer.fail(err instanceof CdrflowError ? err : classifyClickHouseError(err)));
  }, Math.max(10, Math.min(250, Math.floor(batcherOptions.flushMs / 4))));
  timer.unref();

  const done = consumer.done.finally(async () => {
    clearInterval(timer);
    await options.release?.();
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
      await batcher.flushDue(true).catch((err: unknown) => log('warn', `${events}.final_flush_failed`, { error: String(err) }));
      await consumer.stop();
      await options.release?.();
    },
  };
}
