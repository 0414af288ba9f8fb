// Raw envelope → normalized CDR v1: parse the verbatim payload, run the vendor's mapper, then stamp what every vendor
// shares (identity from the envelope, lineage, mapping version) and check the record fits the Avro contract, so a
// bad record becomes a dead-letter value here instead of an encoding failure later.
import type { RawEnvelope } from '../../core/envelope.ts';
import { naturalKeyProblem, parseJsonStrict, quote, recordSizeProblem, replacementCharProblem } from '../../core/input-limits.ts';
import { isVendor } from '../../core/topology.ts';
import type { Vendor } from '../../core/topology.ts';
import type { NormalizedCdr } from './cdr.ts';
import { FUTURE_TOLERANCE_SECONDS, consistencyProblem } from './consistency.ts';
import { cdrIdOf, normalizedCdrId, normalizedNaturalKey } from './identity.ts';
import type { NormalizeContext } from './context.ts';
import { badRecord, ok } from './result.ts';
import type { NormalizeResult } from './result.ts';
import { isRecord, text } from './skeleton.ts';
import { mapAlibabaLvms } from './vendors/alibaba-lvms.ts';
import { mapHuaweiPrivatenumber } from './vendors/huawei-privatenumber.ts';
import { mapTencentCcc } from './vendors/tencent-ccc.ts';
import { mapTencentTrtc } from './vendors/tencent-trtc.ts';

/** Bump on any change of mapping output, so replays through a fixed mapping are distinguishable downstream. */
export const MAPPING_VERSION = '1.9.0';

export type VendorMapper = (record: unknown, envelope: RawEnvelope, ctx: NormalizeContext) => NormalizeResult;

const MAPPERS: Readonly<Record<Vendor, VendorMapper>> = {
  'tencent-ccc': mapTencentCcc,
  'tencent-trtc': mapTencentTrtc,
  'huawei-privatenumber': mapHuaweiPrivatenumber,
  'alibaba-lvms': mapAlibabaLvms,
};

/**
 * Where a bare vendor record names its own tenant. CCC carries SdkAppId only in pushed CDRs (the query API takes it
 * as a request parameter); LVMS records never say which app_key submitted them.
 */
export const TENANT_FIELDS: Readonly<Record<Vendor, readonly string[]>> = {
  'tencent-ccc': ['SdkAppId'],
  'tencent-trtc': ['sdkAppId'],
  'huawei-privatenumber': ['appKey'],
  'alibaba-lvms': [],
};

export function tenantOfRecord(vendor: Vendor, record: unknown): string | null {
  if (!isRecord(record)) return null;
  for (const field of TENANT_FIELDS[vendor]) {
    const t = text(record[field]);
    if (t !== null) return t;
  }
  return null;
}

type Parsed = { ok: true; record: Record<string, unknown> } | { ok: false; message: string };

/** The door's rules again (size, UTF-8, depth, duplicate members): pollers and imports write raw topics too. */
function parsePayload(payload: string): Parsed {
  const problem = recordSizeProblem(payload) ?? replacementCharProblem(payload);
  if (problem !== null) return { ok: false, message: problem };
  const parsed = parseJsonStrict(payload);
  if (!parsed.ok) return { ok: false, message: parsed.problem };
  const record = parsed.value;
  if (!isRecord(record)) {
    // Named by its type, not quoted: a bare value or a record sent as a JSON string can be a phone number, and the
    // reason is stored in clear (cdr_dead_letters.error_message) even under a PII key.
    const got = record === null ? 'null' : Array.isArray(record) ? 'an array' : `a ${typeof record}`;
    return { ok: false, message: `expected a JSON object, got ${got}` };
  }
  return { ok: true, record };
}

const INT32_MAX = 2_147_483_647;
const isInt32 = (n: number | null) => n === null || (Number.isInteger(n) && n >= -INT32_MAX - 1 && n <= INT32_MAX);

/** The int columns of the contract (every other number is a long), checked by name without building anything. */
const INT_FIELDS = ['ring_seconds', 'queue_seconds', 'ivr_seconds', 'talk_seconds', 'total_seconds', 'billable_seconds', 'billable_minutes'] as const;

/** Avro int fields outside int32 would fail at encode time, after the transaction began; catch them per record. */
function intFieldProblem(cdr: NormalizedCdr): string | null {
  for (const name of INT_FIELDS) {
    const value = cdr[name];
    if (!isInt32(value)) return `${name} = ${value} does not fit an Avro int`;
  }
  for (const leg of cdr.legs) {
    if (!isInt32(leg.sequence) || !isInt32(leg.talk_seconds)) return `leg ${leg.sequence} has a duration or sequence out of range`;
  }
  return null;
}

function finish(result: NormalizeResult, envelope: RawEnvelope, ctx: NormalizeContext): NormalizeResult {
  if (!result.ok) return result;
  const cdr = result.cdr;
  // The envelope's key is the Kafka key every earlier stage deduplicated on; the cdr_id must follow it so a replay
  // through a new mapping lands on the same row. A record that disagrees keeps its own id as an extra. Mappers key
  // by the record's own id in its raw form; both keys become normalized keys here (identity.ts).
  const { piiKey } = ctx.options;
  const recordKey = cdr.natural_key;
  const rawKey = envelope.natural_key !== '' ? envelope.natural_key : recordKey;
  if (rawKey === '') return badRecord(`${envelope.vendor} record has no natural key (call id)`);
  const naturalKey = normalizedNaturalKey(envelope.vendor, rawKey, piiKey);
  // The raw key is held to the door's limits and the normalized one to the sink's (a hash can be longer than the
  // number it replaces); either is quoted as normalized, since the raw one may carry a number.
  const keyProblem =
    naturalKeyProblem(rawKey, 'natural key', naturalKey) ?? naturalKeyProblem(naturalKey) ?? naturalKeyProblem(envelope.tenant_id, 'tenant id');
  if (keyProblem !== null) return badRecord(keyProblem);
  const extras =
    recordKey !== '' && recordKey !== rawKey
      ? { ...cdr.extras, record_natural_key: normalizedNaturalKey(envelope.vendor, recordKey, piiKey) }
      : cdr.extras;
  const cdrId = cdrIdOf(envelope.vendor, envelope.tenant_id, naturalKey);
  // The mapper's record is new and ours alone: stamped in place rather than copied (43 fields, every record).
  const finished: NormalizedCdr = cdr;
  finished.cdr_id = cdrId;
  finished.vendor = envelope.vendor;
  finished.tenant_id = envelope.tenant_id;
  finished.natural_key = naturalKey;
  finished.extras = extras;
  finished.raw_topic = ctx.lineage?.topic ?? null;
  finished.raw_partition = ctx.lineage?.partition ?? -1;
  finished.raw_offset = ctx.lineage?.offset ?? -1;
  finished.received_at = envelope.received_at;
  finished.ingest_mode = envelope.mode;
  finished.mapping_version = MAPPING_VERSION;
  // Nothing in the record can postdate its arrival by more than the tolerance. The arrival, not the clock: a replay's
  // later clock (or a test's fixed one) changes nothing; bare records arrive now (received_at = ctx.now()).
  const problem = consistencyProblem(finished, envelope.received_at) ?? intFieldProblem(finished);
  return problem === null ? ok(finished) : badRecord(problem, cdrId);
}

function knownCdrId(envelope: RawEnvelope, ctx: NormalizeContext): string | null {
  return envelope.tenant_id !== '' && envelope.natural_key !== '' && naturalKeyProblem(envelope.natural_key) === null
    ? normalizedCdrId(envelope.vendor, envelope.tenant_id, envelope.natural_key, ctx.options.piiKey)
    : null;
}

function normalizeRecord(envelope: RawEnvelope, record: Record<string, unknown>, ctx: NormalizeContext): NormalizeResult {
  const result = MAPPERS[envelope.vendor](record, envelope, ctx);
  if (result.ok) return finish(result, envelope, ctx);
  // A mapper knows only the record's own id; a refused record is named by the cdr_id its row would have had (the
  // envelope's key, as finish keys a row and reconcile counts a dead letter), so a later, corrected version's row and
  // this dead letter are found under one cdr_id. Bare records (no envelope key) keep the mapper's.
  const known = knownCdrId(envelope, ctx);
  return known === null || known === result.error.cdr_id ? result : { ok: false, error: { ...result.error, cdr_id: known } };
}

/** One raw envelope → a normalized CDR or a bad_record value. Throws only on bugs, never on data. */
export function normalize(envelope: RawEnvelope, ctx: NormalizeContext): NormalizeResult {
  const vendor: string = envelope.vendor;
  if (!isVendor(vendor)) return badRecord(`unknown vendor ${quote(vendor)}`);
  if (envelope.tenant_id === '') return badRecord('envelope has an empty tenant_id');
  if (!Number.isFinite(envelope.received_at.getTime())) return badRecord('envelope received_at is not a valid instant');
  // received_at is the version the sink's ReplacingMergeTree keeps the latest of: one from the future would outrank
  // every later version of its call for good. Connectors stamp it with their clock; the call times' tolerance covers skew.
  const now = ctx.now();
  if (envelope.received_at.getTime() > now.getTime() + FUTURE_TOLERANCE_SECONDS * 1000) {
    return badRecord(
      `envelope received_at ${envelope.received_at.toISOString()} is more than ${FUTURE_TOLERANCE_SECONDS} s after now (${now.toISOString()}): no record arrives from the future`,
      knownCdrId(envelope, ctx),
    );
  }
  if (envelope.payload_format !== 'json') {
    return badRecord(`payload_format ${quote(envelope.payload_format)} is not supported (json only)`, knownCdrId(envelope, ctx));
  }
  const parsed = parsePayload(envelope.payload);
  if (!parsed.ok) return badRecord(parsed.message, knownCdrId(envelope, ctx));
  return normalizeRecord(envelope, parsed.record, ctx);
}

/**
 * A bare vendor record (no envelope: a file, stdin) → normalized CDR. The tenant is the record's own (SdkAppId,
 * sdkAppId, appKey) when it has one, else `tenant`; both present and different is an error, because the rows would
 * land under an account the record does not belong to.
 */
export function normalizeBare(vendor: Vendor, tenant: string | null, recordText: string, ctx: NormalizeContext): NormalizeResult {
  const parsed = parsePayload(recordText);
  if (!parsed.ok) return badRecord(parsed.message);
  const own = tenantOfRecord(vendor, parsed.record);
  if (own !== null && tenant !== null && own !== tenant) {
    return badRecord(`record belongs to tenant ${own}, not to the requested tenant ${tenant}`);
  }
  const tenantId = own ?? tenant;
  if (tenantId === null) {
    const fields = TENANT_FIELDS[vendor];
    return badRecord(
      fields.length > 0
        ? `record has no ${fields.join('/')}: give the tenant explicitly (--tenant)`
        : `${vendor} records do not carry their tenant: give it explicitly (--tenant)`,
    );
  }
  const envelope: RawEnvelope = {
    vendor,
    tenant_id: tenantId,
    natural_key: '',
    received_at: ctx.now(),
    connector: 'cli',
    mode: 'import',
    request_id: null,
    payload: recordText,
    payload_format: 'json',
    attributes: {},
  };
  return normalizeRecord(envelope, parsed.record, ctx);
}
