// Shared building blocks for the vendor mappers: a CDR with every optional field at its Avro default, and the
// "extras" map rule (vendor fields without a column survive as strings, objects as JSON).
import type { RawEnvelope } from '../../core/envelope.ts';
import { usableDownloadUrl } from '../../core/input-limits.ts';
import { cdrIdOf } from './identity.ts';
import type { NormalizedCdr } from './cdr.ts';

/** A CDR carrying only identity and lineage from the envelope; a mapper fills in the rest. */
export function emptyCdr(envelope: RawEnvelope, naturalKey: string): NormalizedCdr {
  return {
    cdr_id: cdrIdOf(envelope.vendor, envelope.tenant_id, naturalKey),
    vendor: envelope.vendor,
    tenant_id: envelope.tenant_id,
    natural_key: naturalKey,
    direction: 'UNKNOWN',
    channel: 'UNKNOWN',
    call_type: null,
    caller: null,
    callees: [],
    started_at: null,
    queued_at: null,
    ringing_at: null,
    answered_at: null,
    ended_at: null,
    ring_seconds: null,
    queue_seconds: null,
    ivr_seconds: null,
    talk_seconds: 0,
    total_seconds: null,
    billable_seconds: 0,
    billable_minutes: 0,
    billing_rule: '60/60',
    end_status: 'UNKNOWN',
    vendor_status_code: null,
    vendor_status_text: null,
    hangup_side: null,
    agent_id: null,
    agent_name: null,
    skill_group_id: null,
    skill_group_name: null,
    legs: [],
    ivr_keys: [],
    recording_url: null,
    recording_ref: null,
    intent_level: null,
    extras: {},
    raw_topic: null,
    raw_partition: -1,
    raw_offset: -1,
    received_at: envelope.received_at,
    ingest_mode: envelope.mode,
    mapping_version: '',
    room_id: null,
  };
}

/** An extras value: strings verbatim, scalars as text, objects and arrays as JSON; null when there is nothing. */
export function extraValue(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/** Copies every field of `record` not in `consumed` into `extras` under `prefix + name`. */
export function keepExtras(
  extras: Record<string, string>,
  record: Record<string, unknown>,
  consumed: ReadonlySet<string>,
  prefix = '',
): void {
  // Object.keys, not Object.entries: one array per record instead of one more per member (the same own members).
  for (const name of Object.keys(record)) {
    if (consumed.has(name)) continue;
    const text = extraValue(record[name]);
    if (text !== null) extras[prefix + name] = text;
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-empty trimmed string of a string or number field, else null ('' and 0-ids mean absent). */
export function text(v: unknown): string | null {
  if (typeof v === 'string') {
    const t = v.trim();
    return t === '' ? null : t;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/**
 * A vendor's recording link for recording_url (a CDR's or a leg's): only one usableDownloadUrl takes, an absolute
 * http(s) URL of printable ASCII within MAX_RECORDING_URL_CHARS, since dashboards and tools render the column as a
 * link. Any other (`javascript:`, escape sequences, bidi overrides) is null; the raw record keeps it (MAPPING.md).
 */
export function recordingUrl(v: unknown): string | null {
  const t = text(v);
  return t !== null && usableDownloadUrl(t) ? t : null;
}

/** An id field where vendors write 0 for "none" (CCC SkillGroupId). */
export function idText(v: unknown): string | null {
  if (v === 0 || v === '0') return null;
  return text(v);
}

/**
 * A vendor's own duration in whole seconds, a started second counted (as `secondsBetween` counts one): a
 * non-negative number or decimal string, or null. SDKs send floats where the docs say integers.
 */
export function startedSeconds(v: unknown): number | null {
  const n = typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.ceil(n) : null;
}

/** A non-negative integer, or null. */
export function count(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : null;
}
