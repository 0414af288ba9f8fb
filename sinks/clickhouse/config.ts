// Configuration of the ClickHouse sink (zod, strict). Where ClickHouse is (embedded data dir or URL) comes from
// core/clickhouse.ts (env); everything named here is injectable so tests use their own topics, group and database.
import { z } from 'zod';
import { CONSUMER_GROUPS, TOPICS } from '../../core/topology.ts';
import { DEFAULT_FLUSH_IDLE_MS } from './batcher.ts';
import { INSERT_FORMATS } from './rows.ts';
import { kafkaName } from '../../core/zod-issues.ts';

const name = kafkaName;
const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain ClickHouse identifier');

export const sinkConfigSchema = z.strictObject({
  groupId: name.default(CONSUMER_GROUPS.clickhouseSink),
  inputTopic: name.default(TOPICS.normalized),
  deadLetterTopic: name.default(TOPICS.deadLetter),
  database: identifier.default('cdrflow'),
  table: identifier.default('cdr'),
  /** Flush a partition's buffer at this many rows... */
  flushRows: z.int().min(1).max(1_000_000).default(50_000),
  /** ...or at this many bytes of consumed Avro values (memory stays bounded in rows and bytes)... */
  flushBytes: z.int().min(1_024).max(1_073_741_824).default(32 * 1_048_576),
  /** ...or when its oldest row has waited this long. */
  flushMs: z.int().min(10).max(600_000).default(1_000),
  /** ...or, every buffer, once no batch came in for this long and they hold 1,000 rows (a replay ended); 0 = never. */
  flushIdleMs: z.int().min(0).max(600_000).default(DEFAULT_FLUSH_IDLE_MS),
  /** TabSeparated was fastest in every `npm run bench -- sink` run (docs/stream-stages.md); all three store identical rows. */
  insertFormat: z.enum(INSERT_FORMATS).default('TabSeparated'),
  /**
   * Decode and render rows in a worker thread of their own, so a large batch never holds the event loop that Kafka
   * heartbeats, the receiver and the ops port share; off = on the main thread, in 20 ms slices.
   */
  renderThread: z.boolean().default(true),
  /** Attempts per insert on transient ClickHouse errors before the sink stops. */
  maxInsertAttempts: z.int().min(1).default(12),
  /**
   * When every row of a flush this large is rejected, the problem is the table or the contract, not the rows:
   * stop instead of dead-lettering everything.
   */
  systemicRejectThreshold: z.int().min(2).default(50),
  /** Run `migrate` at start-up (idempotent). */
  migrate: z.boolean().default(true),
  /**
   * Kafka session timeout: how long the group waits for a member that went silent (a killed process) before giving
   * its partitions to the others or to its restarted successor. The broker's minimum (6 s) makes restarts fast; the
   * stage heartbeats every sixth of it, also during long inserts. A clean stop leaves the group at once.
   */
  sessionTimeoutMs: z.int().min(6_000).max(300_000).default(6_000),
  createTopics: z.boolean().default(true),
  partitions: z.int().min(1).default(3),
});

export type SinkConfig = z.output<typeof sinkConfigSchema>;

/**
 * The dead-letter loader: cdr.dlq -> `<database>.cdr_dead_letters` (the sink's database), with the sink's batcher
 * and exactly-once inserts, in its own consumer group.
 */
export const dlqLoaderConfigSchema = z.strictObject({
  /** Load dead letters into ClickHouse while the job runs. */
  enabled: z.boolean().default(true),
  groupId: name.default(CONSUMER_GROUPS.dlqLoader),
  inputTopic: name.default(TOPICS.deadLetter),
  table: identifier.default('cdr_dead_letters'),
  /** Original values longer than this are stored cut (original_size keeps the full size). */
  maxOriginalBytes: z.int().min(0).max(16 * 1_048_576).default(1_048_576),
  /** Flush a partition's buffer at this many dead letters, at this many bytes, or when the oldest waited this long. */
  flushRows: z.int().min(1).max(1_000_000).default(10_000),
  flushBytes: z.int().min(1_024).max(1_073_741_824).default(32 * 1_048_576),
  flushMs: z.int().min(10).max(600_000).default(1_000),
  maxInsertAttempts: z.int().min(1).default(12),
  sessionTimeoutMs: z.int().min(6_000).max(300_000).default(6_000),
});

export type DlqLoaderConfig = z.output<typeof dlqLoaderConfigSchema>;
export type SinkConfigInput = z.input<typeof sinkConfigSchema>;

export function parseSinkConfig(input: unknown): SinkConfig {
  return sinkConfigSchema.parse(input ?? {});
}
