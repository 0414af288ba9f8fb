// NormalizedCdr -> a row of the `cdr` table, in the insert formats the sink can use. Column order is fixed here and
// sent with every insert, so the table's physical column order never matters. It follows the normalized schema's
// field order (the caller record spread over its columns), then where the sink read the row: the TabSeparated fast
// path (avro-tsv.ts) writes the Avro fields in the order they come.
import { DEAD_LETTER_LIMITS, type DeadLetter } from '../../core/dead-letter.ts';
import type { IvrKey, Leg, NormalizedCdr, Party } from '../../transforms/normalize/cdr.ts';
import { normalizedNaturalKey } from '../../transforms/normalize/identity.ts';

/** Where the sink read the record; part of every row (lineage and the ReplacingMergeTree version). */
export interface SourcePosition {
  topic: string;
  partition: number;
  offset: number;
}

export const CDR_COLUMNS = [
  'cdr_id', 'vendor', 'tenant_id', 'natural_key', 'direction', 'channel', 'call_type',
  'caller_type', 'caller_value', 'caller_e164', 'caller_hashed', 'caller_location', 'callees',
  'started_at', 'queued_at', 'ringing_at', 'answered_at', 'ended_at',
  'ring_seconds', 'queue_seconds', 'ivr_seconds', 'talk_seconds', 'total_seconds',
  'billable_seconds', 'billable_minutes', 'billing_rule',
  'end_status', 'vendor_status_code', 'vendor_status_text', 'hangup_side',
  'agent_id', 'agent_name', 'skill_group_id', 'skill_group_name',
  'legs', 'ivr_keys', 'recording_url', 'recording_ref', 'intent_level', 'extras',
  'raw_topic', 'raw_partition', 'raw_offset', 'received_at', 'ingest_mode', 'mapping_version',
  'room_id',
  'source_topic', 'source_partition', 'source_offset', 'version',
] as const;

export type InsertFormat = 'JSONEachRow' | 'JSONCompactEachRow' | 'TabSeparated';
export const INSERT_FORMATS: readonly InsertFormat[] = ['JSONEachRow', 'JSONCompactEachRow', 'TabSeparated'];

/**
 * Which row survives per cdr_id: the latest received. A replay of the same raw record through a new mapping has the
 * same received_at; ReplacingMergeTree then keeps the last inserted, which is the replayed one.
 */
export const versionOf = (cdr: NormalizedCdr) => cdr.received_at.getTime();

/** 'YYYY-MM-DD hh:mm:ss.mmm' in UTC: the DateTime64 text every input format parses without best-effort mode. */
export function chTime(d: Date): string {
  const iso = d.toISOString();
  return iso.slice(0, 10) + ' ' + iso.slice(11, 23);
}
const chTimeOrNull = (d: Date | null) => (d === null ? null : chTime(d));

type Scalar = string | number | boolean | null;
type Value = Scalar | Value[] | { [k: string]: string };

function partyTuple(p: Party): Value[] {
  return [p.type, p.value, p.e164, p.hashed, p.location];
}
function legTuple(l: Leg): Value[] {
  return [
    l.sequence, l.type, l.agent, l.agent_phone, l.skill_group_id, l.skill_group_name,
    chTimeOrNull(l.started_at), chTimeOrNull(l.ringing_at), chTimeOrNull(l.answered_at), chTimeOrNull(l.ended_at),
    l.talk_seconds, l.end_status_text, l.transfer_from, l.transfer_to, l.recording_url,
  ];
}
function ivrTuple(k: IvrKey): Value[] {
  return [k.phase, k.key, k.label, chTimeOrNull(k.at), k.node_label];
}

/** Values in CDR_COLUMNS order; tuples as positional arrays (JSON input accepts arrays for named tuples). */
export function cdrValues(cdr: NormalizedCdr, at: SourcePosition): Value[] {
  const caller = cdr.caller;
  return [
    cdr.cdr_id, cdr.vendor, cdr.tenant_id, cdr.natural_key, cdr.direction, cdr.channel, cdr.call_type,
    caller?.type ?? 'UNKNOWN', caller?.value ?? null, caller?.e164 ?? false, caller?.hashed ?? false, caller?.location ?? null,
    cdr.callees.map(partyTuple),
    chTimeOrNull(cdr.started_at), chTimeOrNull(cdr.queued_at), chTimeOrNull(cdr.ringing_at), chTimeOrNull(cdr.answered_at), chTimeOrNull(cdr.ended_at),
    cdr.ring_seconds, cdr.queue_seconds, cdr.ivr_seconds, cdr.talk_seconds, cdr.total_seconds,
    cdr.billable_seconds, cdr.billable_minutes, cdr.billing_rule,
    cdr.end_status, cdr.vendor_status_code, cdr.vendor_status_text, cdr.hangup_side,
    cdr.agent_id, cdr.agent_name, cdr.skill_group_id, cdr.skill_group_name,
    cdr.legs.map(legTuple), cdr.ivr_keys.map(ivrTuple), cdr.recording_url, cdr.recording_ref, cdr.intent_level, cdr.extras,
    cdr.raw_topic, cdr.raw_partition, cdr.raw_offset, chTime(cdr.received_at), cdr.ingest_mode, cdr.mapping_version,
    cdr.room_id,
    at.topic, at.partition, at.offset, versionOf(cdr),
  ];
}

/**
 * One row of the `cdr` table as one line of `format` (every format the sink inserts is one row per line). The sink
 * renders each record as soon as it is decoded, so the decoded object dies young and only the line is buffered.
 */
export function cdrLine(cdr: NormalizedCdr, at: SourcePosition, format: InsertFormat): string {
  if (format === 'TabSeparated') return cdrTsvLine(cdr, at);
  if (format === 'JSONCompactEachRow') return `${JSON.stringify(cdrValues(cdr, at))}\n`;
  return `${JSON.stringify(cdrObject(cdr, at))}\n`;
}

export function cdrObject(cdr: NormalizedCdr, at: SourcePosition): Record<string, Value> {
  const values = cdrValues(cdr, at);
  const row: Record<string, Value> = {};
  CDR_COLUMNS.forEach((c, i) => (row[c] = values[i]!));
  return row;
}

// TabSeparated: top-level values escaped per TSV rules; nested values (arrays, tuples, maps) in ClickHouse's quoted
// literal syntax, which TSV reads as-is (its escapes already cover tab and newline, so no second escaping).
// Rendering is the sink's largest cost per row, hence the loops and the test-before-replace: most values need no
// escaping, and a regex test allocates nothing.
const TSV_SPECIAL = /[\\\t\n\r\0\b\f]/;
function tsvEscape(s: string): string {
  return TSV_SPECIAL.test(s) ? s.replace(/[\\\t\n\r\0\b\f]/g, (c) => TSV_ESC[c]!) : s;
}
const TSV_ESC: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0', '\b': '\\b', '\f': '\\f' };

const QUOTE_SPECIAL = /[\\'\t\n\r\0]/;
function quoted(v: Value): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return QUOTE_SPECIAL.test(v) ? `'${v.replace(/[\\'\t\n\r\0]/g, (c) => QUOTE_ESC[c]!)}'` : `'${v}'`;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${quotedList(v)}]`;
  let out = '';
  for (const k in v) out += `${out === '' ? '' : ','}${quoted(k)}:${quoted(v[k]!)}`;
  return `{${out}}`;
}
const QUOTE_ESC: Record<string, string> = { '\\': '\\\\', "'": "\\'", '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' };

/**
 * The same escapes per byte, for text written as bytes (avro-tsv.ts, dead letters): the escape's second character by
 * ASCII code, -1 for a byte kept as it is (every byte >= 0x80 is kept: escapes are all ASCII).
 */
function byteEscapes(escapes: Record<string, string>): Int16Array {
  const table = new Int16Array(128).fill(-1);
  for (const [c, e] of Object.entries(escapes)) table[c.charCodeAt(0)] = e.charCodeAt(1);
  return table;
}
export const TSV_BYTE_ESCAPES = byteEscapes(TSV_ESC);
export const QUOTE_BYTE_ESCAPES = byteEscapes(QUOTE_ESC);

/** A nested value (array, tuple, map) in ClickHouse's quoted literal syntax, as a TSV field holds it. */
export const quotedValue = (v: Value): string => quoted(v);

function quotedList(v: Value[]): string {
  let out = '';
  for (let i = 0; i < v.length; i++) out += i === 0 ? quoted(v[i]!) : `,${quoted(v[i]!)}`;
  return out;
}

function tupleQuoted(v: Value[]): string {
  return `(${quotedList(v)})`;
}

const TUPLE_ARRAYS = new Set(['callees', 'legs', 'ivr_keys']);

export function cdrTsvLine(cdr: NormalizedCdr, at: SourcePosition): string {
  const values = cdrValues(cdr, at);
  let line = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (i > 0) line += '\t';
    if (v === null) line += '\\N';
    else if (typeof v === 'string') line += tsvEscape(v);
    else if (typeof v === 'number') line += String(v);
    else if (typeof v === 'boolean') line += v ? 'true' : 'false';
    else if (Array.isArray(v) && TUPLE_ARRAYS.has(CDR_COLUMNS[i]!)) {
      line += '[';
      for (let j = 0; j < v.length; j++) line += j === 0 ? tupleQuoted(v[j] as Value[]) : `,${tupleQuoted(v[j] as Value[])}`;
      line += ']';
    }
    else line += quoted(v);
  }
  return line + '\n';
}

// A dead letter -> a row of `cdr_dead_letters` (migrations/0008), positioned by where it sits on the dead-letter
// topic. TabSeparated only: the original key and value are arbitrary bytes, escaped byte by byte below.
export const DEAD_LETTER_COLUMNS = [
  'dlq_topic', 'dlq_partition', 'dlq_offset', 'failed_at', 'error_kind', 'error_message', 'component', 'vendor', 'cdr_id',
  'origin_topic', 'origin_partition', 'origin_offset', 'original_key', 'original_value', 'original_size',
] as const;

/** TSV escaping on bytes: the same escapes as tsvEscape, every other byte (any encoding, or none) kept as it is. */
function tsvBytes(b: Buffer): Buffer {
  const escape = (c: number) => (c < 0x80 ? TSV_BYTE_ESCAPES[c]! : -1);
  let special = 0;
  for (const c of b) if (escape(c) >= 0) special++;
  if (special === 0) return b;
  const out = Buffer.allocUnsafe(b.length + special);
  let j = 0;
  for (const c of b) {
    const esc = escape(c);
    if (esc < 0) out[j++] = c;
    else {
      out[j++] = 0x5c;
      out[j++] = esc;
    }
  }
  return out;
}

const tsvText = (s: string | null) => (s === null ? '\\N' : tsvEscape(s));
const tsvBytesOrNull = (b: Buffer | null, max: number) => (b === null ? Buffer.from('\\N') : tsvBytes(b.length > max ? b.subarray(0, max) : b));

/**
 * The full size of a dead letter's original value: the letter's own `original_size` when its writer cut the value,
 * else the length of what it carries. A size no writer could have given (below what the letter carries, beyond the
 * column's UInt32) is not believed: a dead-letter topic is an input like any other.
 */
export function originalSizeOf(d: DeadLetter): number {
  const carried = d.original_value?.length ?? 0;
  const claimed = d.original_size;
  // Only a letter whose value its writer cut (to exactly DEAD_LETTER_LIMITS.valueBytes) has a size of its own to say.
  const cut = carried === DEAD_LETTER_LIMITS.valueBytes;
  return cut && typeof claimed === 'number' && Number.isSafeInteger(claimed) && claimed > carried && claimed <= 0xffff_ffff ? claimed : carried;
}

/** How the loader stores a letter's original: cut at `maxOriginalBytes`; with the mapping's PII key, no number in clear. */
export interface DeadLetterRowOptions {
  maxOriginalBytes: number;
  piiKey: string | null;
}

/**
 * The original key as `cdr_dead_letters` stores it. With a PII key an LVMS composite key
 * (`job:<id>|<called number>|<start>`) carries the number hashed as normalize hashes it (identity.ts), so the key
 * matches the letter's cdr_id; any other key (a vendor's call id, a cdr_id, which normalize already hashed) is kept.
 * Whatever the letter's vendor label says: a letter of unknown vendor (null) can carry such a key too.
 */
function storedKey(key: Buffer | null, piiKey: string | null): Buffer | null {
  if (key === null || piiKey === null) return key;
  const text = key.toString('utf8');
  const hashed = normalizedNaturalKey('alibaba-lvms', text, piiKey);
  return hashed === text ? key : Buffer.from(hashed);
}

/**
 * One TSV line; the original value is cut at `maxOriginalBytes` (original_size keeps the full size). With a PII key
 * the value is not stored (NULL, original_size still its size): it is the record as the vendor sent it, numbers in
 * clear. The dead-letter topic keeps it, for `cdrflow dlq` and the replay of dead letters.
 */
export function deadLetterTsvLine(d: DeadLetter, at: SourcePosition, { maxOriginalBytes, piiKey }: DeadLetterRowOptions): Buffer {
  const head = [
    tsvEscape(at.topic), at.partition, at.offset, chTime(d.failed_at), tsvEscape(d.error_kind), tsvEscape(d.error_message), tsvEscape(d.component),
    tsvText(d.vendor), tsvText(d.cdr_id), tsvEscape(d.origin_topic), d.origin_partition, d.origin_offset,
  ].join('\t');
  return Buffer.concat([
    Buffer.from(`${head}\t`),
    tsvBytesOrNull(storedKey(d.original_key, piiKey), maxOriginalBytes),
    Buffer.from('\t'),
    tsvBytesOrNull(piiKey === null ? d.original_value : null, maxOriginalBytes),
    Buffer.from(`\t${originalSizeOf(d)}\n`),
  ]);
}
