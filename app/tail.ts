// What `cdrflow tail` and `cdrflow dlq` read: any cdrflow topic, its values decoded through the schema registry
// (Confluent framing: the writer schema's id is in each value) — a raw envelope with its vendor payload parsed, a
// normalized CDR, a dead letter with its reason first and the record it carries decoded the same way — or as JSON /
// text where a topic holds no Avro (checkpoints). Reads are read_committed: what a downstream consumer would see.
import { createHash } from 'node:crypto';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { MAX_WRITER_SCHEMAS, RefusedWriters, forgetFetchedSchema, schemaCannotBeBuilt } from '../core/avro.ts';
// Reading a topic (from the beginning or its last N, optionally following) is the Kafka wrapper's: core/kafka.ts.
export { isMissingTopic, readTopic, type ReadOptions } from '../core/kafka.ts';
import type { AppConfig } from './config.ts';
import { TOPICS } from '../core/topology.ts';
import { terminalText } from '../core/input-limits.ts';
import { OTHER_LABEL } from '../core/metric-labels.ts';

/** The topics a configuration reads and writes, by role (names carry the namespace, if any). */
export function cdrflowTopics(config: AppConfig): { topic: string; role: string }[] {
  const ns = (t: string) => (config.namespace ? `${config.namespace}.${t}` : t);
  const list = [
    ...config.normalize.inputTopics.map((topic) => ({ topic, role: 'raw' })),
    { topic: ns(TOPICS.huaweiCallEvents), role: 'raw (call events)' },
    { topic: config.normalize.outputTopic, role: 'normalized' },
    { topic: config.normalize.deadLetterTopic, role: 'dead letters' },
    { topic: config.sink.deadLetterTopic, role: 'dead letters' },
    { topic: ns(TOPICS.checkpoints), role: 'checkpoints' },
  ];
  const seen = new Set<string>();
  return list.filter((t) => (seen.has(t.topic) ? false : (seen.add(t.topic), true)));
}

export interface TailRecord {
  topic: string;
  partition: number;
  offset: number;
  /** Kafka timestamp (ISO, UTC). */
  timestamp: string;
  key: string | null;
  /**
   * What the value is: `dead-letter`, `raw`, `normalized`, `avro` (another registered schema), `json`, `text`, `null`,
   * `unreadable batch` (a record batch that could not be read: the stages dead-letter it).
   */
  kind: string;
  value: unknown;
}

/**
 * A record read from Kafka as `tail` and `dlq` print it. Its timestamp is the producer's (CreateTime) and may lie
 * beyond what a Date holds (brokers before Kafka 4 take any): then it is shown as its milliseconds, never thrown on.
 */
export async function tailRecord(
  registry: SchemaRegistry,
  topic: string,
  r: { partition: number; offset: number; timestamp: number; key: Buffer | null; value: Buffer | null; unreadable?: string },
): Promise<TailRecord> {
  const at = new Date(r.timestamp);
  const timestamp = Number.isNaN(at.getTime()) ? `${r.timestamp} ms (not a date)` : at.toISOString();
  const head = { topic, partition: r.partition, offset: r.offset, timestamp, key: r.key?.toString('utf8') ?? null };
  // A record batch that could not be read (core/kafkajs-unreadable-batch.ts): why, and its compressed size.
  if (r.unreadable !== undefined) return { ...head, kind: 'unreadable batch', value: { error: r.unreadable, compressed_bytes: r.value?.length ?? 0 } };
  return { ...head, ...(await decodeValue(registry, r.value)) };
}

const CONFLUENT_MAGIC = 0;

/** JSON-safe: Dates as ISO strings, Buffers decoded, bigints as strings. */
function plain(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function parseJsonOrText(text: string): { kind: 'json' | 'text'; value: unknown } {
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown };
  } catch {
    return { kind: 'text', value: text };
  }
}

/**
 * How many dead letters deep a dead letter's original is decoded. A dead letter of a dead letter happens (a loader
 * that refused one); a value nested thousands deep only by someone who wrote it so, and decoding it all took minutes
 * and then overflowed the stack. Below this depth the original is shown as its bytes.
 */
export const MAX_NESTED_DEAD_LETTERS = 4;

/**
 * What a command remembers of the writers it met, per registry client: the writers no client can build (each of
 * their values is shown undecodable at once instead of being fetched and built again: a writer of 40,000 fields took
 * 0.35-0.5 s a value, 73 s for 200 of them), and the writers decoded with, in the order first met. The client keeps
 * every writer it fetched: beyond MAX_WRITER_SCHEMAS the one met first is let go (fetched again if a later value
 * needs it), so a topic of many distinct writers does not grow the command without a bound.
 */
interface WritersMet {
  refused: RefusedWriters;
  used: Set<number>;
}

const writersMet = new WeakMap<SchemaRegistry, WritersMet>();

function writersOf(registry: SchemaRegistry): WritersMet {
  let met = writersMet.get(registry);
  if (!met) writersMet.set(registry, (met = { refused: new RefusedWriters(registry), used: new Set() }));
  return met;
}

function decodedWith(registry: SchemaRegistry, id: number): void {
  const { used } = writersOf(registry);
  if (used.has(id)) return;
  used.add(id);
  if (used.size <= MAX_WRITER_SCHEMAS) return;
  const first = used.values().next().value!;
  used.delete(first);
  forgetFetchedSchema(registry, first);
}

/**
 * Decodes one value: registry-framed Avro (an envelope's `payload` parsed as JSON; a dead letter's
 * `original_value` decoded recursively, up to MAX_NESTED_DEAD_LETTERS deep, and its reason moved first), else JSON,
 * else text.
 */
export async function decodeValue(registry: SchemaRegistry, value: Buffer | null, depth = 0): Promise<{ kind: string; value: unknown }> {
  if (value === null) return { kind: 'null', value: null };
  if (value.length > 5 && value[0] === CONFLUENT_MAGIC) {
    const id = value.readInt32BE(1);
    const known = writersOf(registry).refused.get(id);
    if (known !== undefined) return { kind: 'undecodable', value: { error: known, bytes: value.toString('base64') } };
    let decoded: unknown;
    try {
      decoded = await registry.decode(value);
    } catch (err) {
      const error = (err as Error).message;
      if (schemaCannotBeBuilt(err)) writersOf(registry).refused.refuse(id, error, err);
      return { kind: 'undecodable', value: { error, bytes: value.toString('base64') } };
    }
    decodedWith(registry, id);
    // A schema of a string, a number or an array (a key's schema, another team's topic) decodes to no record.
    if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded) || Buffer.isBuffer(decoded)) return { kind: 'avro', value: plain(decoded) };
    const record = decoded as Record<string, unknown>;
    if ('error_kind' in record && 'origin_topic' in record) {
      const { error_kind, error_message, component, vendor, cdr_id, origin_topic, origin_partition, origin_offset, failed_at, original_key, original_value } = record;
      const bytes = (original_value as Buffer | null) ?? null;
      const original =
        depth + 1 < MAX_NESTED_DEAD_LETTERS || bytes === null
          ? await decodeValue(registry, bytes, depth + 1)
          : { kind: 'not decoded (nested too deep)', value: bytes.toString('base64') };
      return {
        kind: 'dead-letter',
        value: plain({
          reason: error_kind,
          error: error_message,
          stage: component,
          vendor,
          cdr_id,
          origin: { topic: origin_topic, partition: origin_partition, offset: origin_offset },
          failed_at,
          original_key: original_key === null ? null : (original_key as Buffer).toString('utf8'),
          original: original.value,
          original_kind: original.kind,
        }),
      };
    }
    if ('payload' in record && 'payload_format' in record && typeof record['payload'] === 'string') {
      const payload = record['payload_format'] === 'json' ? parseJsonOrText(record['payload']).value : record['payload'];
      return { kind: 'raw', value: plain({ ...record, payload }) };
    }
    if ('cdr_id' in record && 'end_status' in record) return { kind: 'normalized', value: plain(record) };
    return { kind: 'avro', value: plain(record) };
  }
  return parseJsonOrText(value.toString('utf8'));
}

/**
 * One line per record for a person: time, position, then what matters for the kind of record; what the record holds
 * is shown with its control characters escaped (terminalText).
 */
export function tableLine(r: TailRecord): string {
  return terminalText(tableFields(r));
}

function tableFields(r: TailRecord): string {
  const at = `${r.timestamp.slice(0, 19).replace('T', ' ')}  ${r.partition}@${r.offset}`;
  const v = r.value as Record<string, unknown> | null;
  const s = (x: unknown) => (x === null || x === undefined || x === '' ? '-' : typeof x === 'string' ? x : JSON.stringify(x));
  if (r.kind === 'dead-letter' && v) {
    const o = v['origin'] as { topic: string; partition: number; offset: number };
    return [at, s(v['reason']), s(v['stage']), s(v['vendor']), s(v['cdr_id']), `${o.topic}[${o.partition}]@${o.offset}`, s(v['error'])].join('  ');
  }
  if (r.kind === 'normalized' && v) {
    return [at, s(v['vendor']), s(v['cdr_id']), s(v['started_at']), s(v['end_status']), `${s(v['talk_seconds'])}s`, `${s(v['billable_minutes'])}min`, s(v['tenant_id'])].join('  ');
  }
  if (r.kind === 'unreadable batch' && v) {
    return [at, 'unreadable batch', `${s(v['compressed_bytes'])} bytes`, s(v['error'])].join('  ');
  }
  if (r.kind === 'raw' && v) {
    const payload = typeof v['payload'] === 'string' ? v['payload'] : JSON.stringify(v['payload']);
    return [at, s(v['vendor']), s(v['natural_key'] ?? r.key), s(v['mode']), payload.length > 120 ? `${payload.slice(0, 120)}…` : payload].join('  ');
  }
  return [at, s(r.key), typeof r.value === 'string' ? r.value : JSON.stringify(r.value)].join('  ');
}

export interface DlqSummary {
  total: number;
  /** Counts per reason (error kind) and stage, then per vendor: each cut to DLQ_CELL_CHARS, and past MAX_DLQ_COUNT_ROWS rows under `other`. */
  byReason: { reason: string; stage: string; vendor: string; count: number }[];
  latest: TailRecord[];
}

/**
 * Rows of `cdrflow dlq`'s counts: the real ones are a handful (error kinds × stages × vendors), but each names what its
 * letters say, and a topic of letters that each name their own vendor made one row per letter, held whole.
 */
export const MAX_DLQ_COUNT_ROWS = 1_000;

/**
 * `cdrflow dlq`'s summary, one letter at a time: every letter counted, only the latest N (and at most as many more
 * awaiting the next cut) held. A topic of many large letters (each up to 512 KiB of original, decoded) was held whole.
 */
export class DeadLetterTally {
  /** By a digest of the three values, so a long value is told apart by all of it but held only as its cell. */
  private readonly counts = new Map<string, { reason: string; stage: string; vendor: string; count: number }>();
  private newest: TailRecord[] = [];
  private total = 0;

  constructor(private readonly latest: number) {}

  add(r: TailRecord): void {
    this.total++;
    const v = (r.kind === 'dead-letter' ? r.value : {}) as Record<string, unknown>;
    const [reason, stage, vendor] = [String(v['reason'] ?? r.kind), String(v['stage'] ?? '-'), String(v['vendor'] ?? '-')];
    const key = createHash('sha256').update(JSON.stringify([reason, stage, vendor])).digest('base64');
    let seen = this.counts.get(key);
    if (!seen) {
      // Past the bound, every new combination is counted under one row of OTHER_LABEL: counted, never lost.
      const row = this.counts.size < MAX_DLQ_COUNT_ROWS ? key : OTHER_LABEL;
      seen = this.counts.get(row) ?? (row === key ? { reason: dlqCell(reason), stage: dlqCell(stage), vendor: dlqCell(vendor), count: 0 } : { reason: OTHER_LABEL, stage: OTHER_LABEL, vendor: OTHER_LABEL, count: 0 });
      this.counts.set(row, seen);
    }
    seen.count++;
    this.newest.push(r);
    if (this.newest.length >= 2 * this.latest) this.newest = this.latestOnly();
  }

  summary(): DlqSummary {
    const byReason = [...this.counts.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason) || a.vendor.localeCompare(b.vendor));
    return { total: this.total, byReason, latest: this.latestOnly() };
  }

  private latestOnly(): TailRecord[] {
    return this.newest.sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.partition - b.partition || a.offset - b.offset).slice(-this.latest);
  }
}

export function summarizeDeadLetters(records: TailRecord[], latest: number): DlqSummary {
  const tally = new DeadLetterTally(latest);
  for (const r of records) tally.add(r);
  return tally.summary();
}

/**
 * The widest a reason, stage or vendor is shown in `cdrflow dlq`'s counts table (the real ones are under 30): they come
 * from the letters, and every row is padded to the longest, so one hostile 1 MB reason made each row 1 MB.
 */
export const DLQ_CELL_CHARS = 60;

/** A reason, stage or vendor as `cdrflow dlq` holds and shows it: cut to DLQ_CELL_CHARS, and said so. */
function dlqCell(text: string): string {
  return text.length > DLQ_CELL_CHARS ? `${text.slice(0, DLQ_CELL_CHARS - 1)}…` : text;
}

export function formatDlqSummary(topic: string, s: DlqSummary): string {
  if (s.total === 0) return `${topic}: no dead letters`;
  const lines = [`${topic}: ${s.total.toLocaleString('en-US')} dead letter(s)`, ''];
  const rows = s.byReason.map((r) => ({ reason: dlqCell(r.reason), stage: dlqCell(r.stage), vendor: dlqCell(r.vendor), count: r.count }));
  const w = {
    reason: Math.max(6, ...rows.map((r) => r.reason.length)),
    stage: Math.max(5, ...rows.map((r) => r.stage.length)),
    vendor: Math.max(6, ...rows.map((r) => r.vendor.length)),
  };
  lines.push(`${'reason'.padEnd(w.reason)}  ${'stage'.padEnd(w.stage)}  ${'vendor'.padEnd(w.vendor)}  ${'count'.padStart(7)}`);
  for (const r of rows) lines.push(`${r.reason.padEnd(w.reason)}  ${r.stage.padEnd(w.stage)}  ${r.vendor.padEnd(w.vendor)}  ${r.count.toLocaleString('en-US').padStart(7)}`);
  lines.push('', `latest ${s.latest.length}:`);
  for (const r of s.latest) lines.push(`  ${tableLine(r)}`);
  // Reasons, stages and vendors come from the records too.
  return lines.map(terminalText).join('\n');
}
