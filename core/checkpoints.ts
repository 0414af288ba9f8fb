// Connector checkpoints kept in Kafka itself (TOPICS.checkpoints, compacted): key = checkpoint id, value = JSON.
// `load()` reads the topic to its end (latest valid value per id); `save()` resolves only after Kafka acknowledged it.
// One writer per checkpoint id (one poller per vendor+tenant, one backfill per range) is assumed; a backfill's is held on
// one machine by its lock (connectors/poller/backfill-lock.ts). Two writers only cost re-reads: the last write wins.
import { z } from 'zod';
import { TOPICS } from './topology.ts';
import { AckedPublisher, ensureTopics, scanTopicToEnd, topicExists, type Kafka } from './kafka.ts';
import { quote } from './input-limits.ts';
import { CdrflowError } from './errors.ts';

export const checkpointSchema = z.looseObject({
  /** Everything before this instant (ISO, UTC) has been read and acknowledged by Kafka. */
  watermark: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type Checkpoint = z.infer<typeof checkpointSchema> & Record<string, unknown>;

/** Ids: `<vendor>:<tenant>:live` and `<vendor>:<tenant>:backfill:<fromISO>-<toISO>`. */
export const checkpointIds = {
  live: (vendor: string, tenant: string) => `${vendor}:${tenant}:live`,
  backfill: (vendor: string, tenant: string, from: Date, to: Date) => `${vendor}:${tenant}:backfill:${from.toISOString()}-${to.toISOString()}`,
};

/** The live checkpoint ids of the tenants the running pollers read; the topic also keeps those of tenants polled before. */
export function polledLiveIds(polled: readonly { vendor: string; tenants: readonly string[] }[]): string[] {
  return polled.flatMap((p) => p.tenants.map((t) => checkpointIds.live(p.vendor, t)));
}

/** A record's value as a checkpoint, or why it is not one (quoted and cut short: the value may be anything). */
function checkpointProblem(value: Buffer): { checkpoint: Checkpoint } | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return `not JSON: ${quote(value.toString('utf8').slice(0, 100))}`;
  }
  const result = checkpointSchema.safeParse(parsed);
  if (!result.success) return `not a checkpoint: ${quote(result.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ').slice(0, 200))}`;
  return { checkpoint: result.data as Checkpoint };
}

export class CheckpointStore {
  private readonly values = new Map<string, Checkpoint>();
  private readonly publisher: AckedPublisher;
  private loaded = false;
  /**
   * What the last load() passed over: records of the topic that are not checkpoints (not JSON, not a checkpoint's
   * shape, no key), for the caller to log. One such record used to stop the connector for good at every start; now
   * the id keeps its last valid checkpoint before it, so at worst a window is read again (deduplicated downstream).
   */
  skipped: { id: string; problem: string }[] = [];

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string = TOPICS.checkpoints,
    publisher?: AckedPublisher,
  ) {
    this.publisher = publisher ?? new AckedPublisher(kafka);
  }

  /**
   * Creates the compacted topic if needed and reads every checkpoint. Safe to call again (re-reads). `readOnly`: a
   * reader that only reports (`cdrflow status`) leaves a missing topic missing and finds no checkpoints.
   */
  async load(options: { readOnly?: boolean } = {}): Promise<void> {
    this.values.clear();
    this.skipped = [];
    if (options.readOnly) {
      if (!(await topicExists(this.kafka, this.topic))) {
        this.loaded = true;
        return;
      }
    } else {
      await ensureTopics(this.kafka, [{ topic: this.topic, partitions: 1, compacted: true }]);
    }
    await scanTopicToEnd(this.kafka, this.topic, (m) => {
      const where = `${this.topic}[${m.partition}]@${m.offset}`;
      if (m.key === null) return void this.skipped.push({ id: '', problem: `${where}: a record without a key` });
      const id = m.key.toString('utf8');
      // A tombstone deletes the id, as compaction will.
      if (m.value === null) return void this.values.delete(id);
      const problem = checkpointProblem(m.value);
      if (typeof problem === 'string') return void this.skipped.push({ id, problem: `${where}: ${problem}` });
      this.values.set(id, problem.checkpoint);
    });
    this.loaded = true;
  }

  get(id: string): Checkpoint | undefined {
    if (!this.loaded) throw new CdrflowError('bug', 'CheckpointStore.get() before load()');
    return this.values.get(id);
  }

  /** Every checkpoint, e.g. for `cdrflow status`. */
  entries(): [string, Checkpoint][] {
    return [...this.values.entries()];
  }

  async save(id: string, checkpoint: Omit<Checkpoint, 'updatedAt'> & { updatedAt?: string }): Promise<Checkpoint> {
    const value = { ...checkpoint, updatedAt: checkpoint.updatedAt ?? new Date().toISOString() } as Checkpoint;
    checkpointSchema.parse(value);
    await this.publisher.send(this.topic, [{ key: id, value: Buffer.from(JSON.stringify(value)) }]);
    this.values.set(id, value);
    return value;
  }

  async close(): Promise<void> {
    await this.publisher.disconnect();
  }
}
