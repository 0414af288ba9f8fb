// Reads each layer into per-day tallies: the vendor API (pull vendors, through the connector's own client and rate
// limit, nothing published), the raw topics, the dead-letter topic, the normalized topic and ClickHouse. Kafka topics
// are scanned once each, read_committed, up to the end they had when the scan began; only cdr_ids are kept.
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import type { DeadLetter } from '../core/dead-letter.ts';
import type { RawEnvelope } from '../core/envelope.ts';
import { asCdrflowError, type CdrflowError } from '../core/errors.ts';
import { scanTopicToEnd, type Kafka, type ScanOptions, type ScannedMessage } from '../core/kafka.ts';
import { Progress } from '../core/progress.ts';
import { SCHEMA_FILES, type Vendor } from '../core/topology.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import type { RecordSink } from '../connectors/poller/publisher.ts';
import { horizonOf, horizonWords } from '../connectors/poller/source.ts';
import { normalize, normalizedCdrId, type NormalizeOptions, type NormalizedCdr } from '../transforms/normalize/index.ts';
import { chNumber, quoteIdentifier, readRows, RECONCILE_READ, type ReadBounds } from '../core/clickhouse.ts';
import { bucketDay, dayBounds, daysOf, hourFloor, scopeBounds, type DayScope } from './days.ts';
import type { ClickHouseFigures, ViewFigures } from './model.ts';
import { bucketKey, ID_FINGERPRINT_SQL, splitBucketKey, supersedes, Tally, VERSION_FINGERPRINT_SQL } from './tally.ts';
import { sourceKey, type Layers } from './compare.ts';
import { contractDecoder } from './contract-decoder.ts';

export interface ProgressSink {
  stream: NodeJS.WriteStream;
}

/**
 * The call time ClickHouse buckets by (call_time = coalesce(started_at, received_at)) and the billable minutes.
 * `started`: the call time is the record's own start; else it is `fallbackMs` or the envelope's received_at.
 */
export function callFigures(envelope: RawEnvelope, options: NormalizeOptions, fallbackMs?: number): { callTimeMs: number; started: boolean; minutes: number; cdrId: string | null } {
  const result = normalize(envelope, { now: () => new Date(), lineage: null, options });
  // A record normalize refuses is counted under the cdr_id its CDR would have had.
  const keyed = envelope.tenant_id !== '' && envelope.natural_key !== '' ? normalizedCdrId(envelope.vendor, envelope.tenant_id, envelope.natural_key, options.piiKey) : null;
  if (!result.ok) return { callTimeMs: fallbackMs ?? envelope.received_at.getTime(), started: false, minutes: 0, cdrId: keyed };
  const cdr = result.cdr;
  const started = cdr.started_at?.getTime();
  return { callTimeMs: started ?? fallbackMs ?? envelope.received_at.getTime(), started: started !== undefined, minutes: cdr.billable_minutes, cdrId: cdr.cdr_id };
}

// ---------------------------------------------------------------- source (pull vendors)

export interface SourceLayer {
  tally: Tally;
  keyless: Map<string, number>;
  unreachable: Map<string, string>;
  /** `vendor\0tenant` → the vendor's refusal of the request's parameters (not retried, not unreachability). */
  refused: Map<string, string>;
  tenants: { vendor: Vendor; tenant: string }[];
  /** Per bucket: cdr_id → the hour window (Unix s) the vendor served it in, so a repair backfills exactly that hour. */
  windows: Map<string, Map<string, number>>;
  /**
   * Per bucket: days reaching further back than the vendor can be queried or keeps (the pollers' horizon), never
   * asked for: why, in the pollers' words ("is further back than tencent-ccc can be queried (180 days)").
   */
  beyondHorizon: Map<string, string>;
  /**
   * Records with no start time (or that normalize refuses), cdr_id → the bucket they were filed under: the day of the
   * first window the vendor served them in, until refileUndated moves them to their raw record's day.
   */
  undated: Map<string, string>;
}

/** What the readers of the vendors' APIs and the topics give compareLayers (the reconcile and its campaigns alike). */
export function readLayers(
  source: SourceLayer,
  raw: Pick<RawLayer, 'tally' | 'normalizeDead'>,
  normalized: Pick<NormalizedLayer, 'tally' | 'sinkDead'>,
): Pick<Layers, 'sourceTenants' | 'source' | 'sourceKeyless' | 'sourceUnreachable' | 'sourceRefused' | 'sourceBeyondHorizon' | 'raw' | 'normalized' | 'normalizeDead' | 'sinkDead'> {
  return {
    sourceTenants: source.tenants,
    source: source.tally,
    sourceKeyless: source.keyless,
    sourceUnreachable: source.unreachable,
    sourceRefused: source.refused,
    sourceBeyondHorizon: source.beyondHorizon,
    raw: raw.tally,
    normalized: normalized.tally,
    normalizeDead: raw.normalizeDead,
    sinkDead: normalized.sinkDead,
  };
}

const SOURCE_WINDOW_SEC = 3600;

/**
 * Files each source record with no start time under the day its raw record is counted on. The stored call time of
 * such a record is the raw envelope's received_at (when the poller read it), which the vendor's answer does not
 * carry: the source can only say which window served it, and near midnight the poll and the window fall on different
 * days (served in the 00:00 window, received at 23:59:59.9), which read as drift on both days. With no raw record it
 * stays on its window's day (missing in raw there, backfilled from that window); with one outside the scope or after
 * the cut-off it leaves the run, as the raw record does.
 */
export function refileUndated(source: SourceLayer, rawCallTimes: ReadonlyMap<string, number>, scope: DayScope): void {
  for (const [cdrId, key] of source.undated) {
    const callTimeMs = rawCallTimes.get(cdrId);
    if (callTimeMs === undefined) continue;
    const { vendor, tenant } = splitBucketKey(key);
    const day = bucketDay(scope, callTimeMs);
    const to = day === undefined ? undefined : bucketKey(vendor, tenant, day);
    if (to === key) continue;
    const minutes = source.tally.ids(key).get(cdrId) ?? 0;
    source.tally.delete(key, cdrId);
    const window = source.windows.get(key)?.get(cdrId);
    source.windows.get(key)?.delete(cdrId);
    if (to === undefined || day === undefined) {
      source.undated.delete(cdrId);
      continue;
    }
    source.tally.add(vendor, tenant, day, cdrId, minutes);
    if (window !== undefined) {
      let w = source.windows.get(to);
      if (!w) source.windows.set(to, (w = new Map()));
      w.set(cdrId, window);
    }
    source.undated.set(cdrId, to);
  }
}

/**
 * The vendor answered and refused the request's parameters (CCC InvalidParameter*, TRTC 70402, an HTTP 4xx). A day
 * older than it serves is not asked for (beyondHorizon), so this is a real refusal. Not unreachability; the clients
 * classify it `config`, so it was never retried.
 */
export function vendorRefusal(e: CdrflowError): boolean {
  if (e.kind !== 'config' || e.code === undefined) return false;
  return /^(InvalidParameter|MissingParameter|UnknownParameter)/.test(e.code) || e.code === '70402' || /^http-4\d\d$/.test(e.code);
}

export async function readSource(
  connectors: PullConnector[],
  scope: DayScope,
  tenantFilter: string[] | null,
  options: NormalizeOptions,
  ctx: { signal: AbortSignal; maxAttempts: number; progress: NodeJS.WriteStream; log: (msg: string) => void; now: number },
): Promise<SourceLayer> {
  const layer: SourceLayer = { tally: new Tally(), keyless: new Map(), unreachable: new Map(), refused: new Map(), tenants: [], windows: new Map(), beyondHorizon: new Map(), undated: new Map() };
  for (const connector of connectors) {
    const vendor = connector.source.vendor;
    // A day the vendor cannot serve in full is not asked for (CCC refuses the request, TRTC serves nothing older, and
    // a part of a day would read as records gone from the vendor): the same horizon the pollers report as lost.
    const horizon = horizonOf(connector.source, Math.floor(ctx.now / 1000));
    for (const tenant of connector.source.tenants) {
      if (tenantFilter && !tenantFilter.includes(tenant)) continue;
      layer.tenants.push({ vendor, tenant });
      const windows: { start: number; end: number }[] = [];
      for (const day of daysOf(scope)) {
        const bounds = dayBounds(day, scope.tzOffsetMinutes);
        const start = bounds.start / 1000;
        const end = Math.floor(Math.min(bounds.end, scope.cutoffMs) / 1000);
        if (horizon !== undefined && start < horizon) {
          layer.beyondHorizon.set(bucketKey(vendor, tenant, day), horizonWords(connector.source).older);
          continue;
        }
        // Window ends are inclusive at the vendor (see poller/windows.ts): the overlap second is deduplicated by key.
        for (let s = start; s < end; s += SOURCE_WINDOW_SEC) windows.push({ start: s, end: Math.min(s + SOURCE_WINDOW_SEC, end) });
      }
      const progress = new Progress({ label: `source ${vendor} ${tenant}`, total: windows.length, unit: 'windows', stream: ctx.progress });
      let records = 0;
      try {
        for (const window of windows) {
          const sink: RecordSink = {
            publish: async (envelopes: RawEnvelope[]) => {
              for (const e of envelopes) {
                const f = callFigures(e, options, window.start * 1000);
                const day = bucketDay(scope, f.callTimeMs);
                if (day === undefined || f.cdrId === null) continue;
                const key = bucketKey(vendor, tenant, day);
                if (!f.started) {
                  // Window ends are inclusive: served again in the next window, on the next day past midnight, it
                  // would be counted on both days.
                  if (layer.undated.has(f.cdrId)) continue;
                  layer.undated.set(f.cdrId, key);
                }
                layer.tally.add(vendor, tenant, day, f.cdrId, f.minutes);
                let w = layer.windows.get(key);
                if (!w) layer.windows.set(key, (w = new Map()));
                w.set(f.cdrId, window.start);
                records++;
              }
            },
            deadLetter: async (letters: DeadLetter[]) => {
              const day = bucketDay(scope, window.start * 1000);
              if (day === undefined) return;
              const key = bucketKey(vendor, tenant, day);
              layer.keyless.set(key, (layer.keyless.get(key) ?? 0) + letters.length);
            },
          };
          await connector.survey(tenant, window, sink, ctx.signal, { maxAttempts: ctx.maxAttempts });
          progress.tick(1);
        }
        progress.finish({ records });
      } catch (err) {
        const e = asCdrflowError(err);
        progress.finish({ records, error: e.message });
        if (vendorRefusal(e)) {
          layer.refused.set(sourceKey(vendor, tenant), e.message);
          ctx.log(`source ${vendor} ${tenant}: the vendor refused the request (not retried): ${e.message}`);
        } else {
          layer.unreachable.set(sourceKey(vendor, tenant), `${e.kind}${e.code ? ` ${e.code}` : ''}: ${e.message}`);
          ctx.log(`source ${vendor} ${tenant} unreachable${e.retryable ? ` after ${ctx.maxAttempts} attempt(s)` : ''}: ${e.message}`);
        }
      }
    }
  }
  return layer;
}

// ---------------------------------------------------------------- Kafka topics

/** Decoding resolves from the registry cache without yielding: give the host's other work (heartbeats) a turn. */
const YIELD_EVERY = 200;

async function scanWithProgress(kafka: Kafka, topic: string, label: string, stream: NodeJS.WriteStream, visit: (m: ScannedMessage) => Promise<void>, timeoutMs: number, signal?: AbortSignal, onUnreadable?: ScanOptions['onUnreadable']): Promise<number> {
  let progress: Progress | undefined;
  let messages = 0;
  await scanTopicToEnd(
    kafka,
    topic,
    async (m) => {
      await visit(m);
      if (++messages % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    },
    {
      timeoutMs,
      ...(signal ? { signal } : {}),
      onStart: (total) => (progress = new Progress({ label, total, unit: 'offsets', stream })),
      onProgress: (n) => progress?.tick(n),
      ...(onUnreadable ? { onUnreadable } : {}),
    },
  );
  progress?.finish({ records: messages });
  return messages;
}

export interface DeadLetterLayer {
  /** `topic:partition:offset` of raw records normalize dead-lettered. */
  rawOrigins: Set<string>;
  /** `topic:partition:offset` of normalized records the sink dead-lettered (ClickHouse refused them). */
  sinkOrigins: Set<string>;
  /** Messages that are no dead letter of the contract, and record batches that could not be read. */
  undecodable: number;
}

/** A message's place on its topic, as a dead letter names its origin. */
const originOf = (topic: string, partition: number, offset: number) => `${topic}:${partition}:${Number(offset)}`;

/**
 * Whether the next stage dead-lettered the message just counted as `cdrId`'s version in bucket `key` (its origin
 * among `deadOrigins`): an earlier version's dead letter, or an earlier copy's (a replay), does not account for a
 * later one that never came through.
 */
function countDead(dead: Map<string, Set<string>>, deadOrigins: ReadonlySet<string>, origin: string, key: string, cdrId: string): void {
  if (deadOrigins.has(origin)) {
    let ids = dead.get(key);
    if (!ids) dead.set(key, (ids = new Set()));
    ids.add(cdrId);
  } else dead.get(key)?.delete(cdrId);
}

export async function readDeadLetters(
  kafka: Kafka,
  registry: SchemaRegistry,
  topics: { deadLetter: string; normalized: string; raw: Set<string> },
  ctx: { progress: NodeJS.WriteStream; timeoutMs: number; signal?: AbortSignal },
): Promise<DeadLetterLayer> {
  const layer: DeadLetterLayer = { rawOrigins: new Set(), sinkOrigins: new Set(), undecodable: 0 };
  const decode = contractDecoder<DeadLetter>(registry, SCHEMA_FILES.deadLetter, topics.deadLetter);
  await scanWithProgress(kafka, topics.deadLetter, `kafka ${topics.deadLetter}`, ctx.progress, async (m) => {
    if (m.value === null) return;
    const letter = await decode(m.value);
    // Names no record to match, but is said: the call it refused reads as not normalized (or not in ClickHouse), as
    // if normalize (or the sink) had lost it.
    if (letter === undefined) {
      layer.undecodable++;
      return;
    }
    const origin = originOf(letter.origin_topic, letter.origin_partition, letter.origin_offset);
    if (topics.raw.has(letter.origin_topic)) layer.rawOrigins.add(origin);
    else if (letter.origin_topic === topics.normalized) layer.sinkOrigins.add(origin);
  }, ctx.timeoutMs, ctx.signal, () => void layer.undecodable++);
  return layer;
}

export interface RawLayer {
  tally: Tally;
  normalizeDead: Map<string, Set<string>>;
  undecodable: number;
  /**
   * Records of the scope's days that name no call: an empty tenant_id, or an empty natural_key and a record normalize
   * refuses (a producer other than cdrflow's). Normalize dead-letters them with no cdr_id.
   */
  keyless: number;
  /** The call time of each raw record `ctx.callTimesOf` asked for, in scope or not (its latest version's, as in Tally.addVersion). */
  callTimes: Map<string, number>;
}

export async function readRaw(
  kafka: Kafka,
  registry: SchemaRegistry,
  rawTopics: { vendor: Vendor; topic: string }[],
  scope: DayScope,
  tenantFilter: string[] | null,
  options: NormalizeOptions,
  deadOrigins: Set<string>,
  ctx: { progress: NodeJS.WriteStream; timeoutMs: number; signal?: AbortSignal; callTimesOf?: ReadonlyMap<string, unknown> },
): Promise<RawLayer> {
  const layer: RawLayer = { tally: new Tally(), normalizeDead: new Map(), undecodable: 0, keyless: 0, callTimes: new Map() };
  const versions = new Map<string, number>();
  for (const { vendor, topic } of rawTopics) {
    const decode = contractDecoder<RawEnvelope>(registry, SCHEMA_FILES.rawEnvelope, topic);
    // A record batch that could not be read (a compression bomb, core/kafkajs-unreadable-batch.ts) counts as one
    // undecodable message: normalize dead-letters it as one record, and it has no call time to count by either.
    await scanWithProgress(kafka, topic, `kafka ${topic}`, ctx.progress, async (m) => {
      if (m.value === null) return;
      const envelope = await decode(m.value);
      if (envelope === undefined) {
        layer.undecodable++;
        return;
      }
      if (envelope.vendor !== vendor || (tenantFilter && !tenantFilter.includes(envelope.tenant_id))) return;
      const f = callFigures(envelope, options);
      if (f.cdrId === null) {
        // No call to count it by, but said: it is in no layer, not even the dead letters'. Only on the scope's days
        // (its received_at, normalize having refused it), or an old one would be noted on every run.
        if (bucketDay(scope, f.callTimeMs) !== undefined) layer.keyless++;
        return;
      }
      const version = envelope.received_at.getTime();
      if (ctx.callTimesOf?.has(f.cdrId) && supersedes(version, versions.get(f.cdrId))) {
        layer.callTimes.set(f.cdrId, f.callTimeMs);
        versions.set(f.cdrId, version);
      }
      const key = layer.tally.addVersion(vendor, envelope.tenant_id, bucketDay(scope, f.callTimeMs), f.cdrId, f.minutes, version);
      if (key === undefined) return;
      // A later version normalize never mapped is then not_normalized or stale_in_normalized.
      countDead(layer.normalizeDead, deadOrigins, originOf(topic, m.partition, m.offset), key, f.cdrId);
    }, ctx.timeoutMs, ctx.signal, () => void layer.undecodable++);
  }
  return layer;
}

export interface NormalizedLayer {
  tally: Tally;
  /** Per bucket: cdr_ids whose counted normalized record the sink dead-lettered (its origin among `deadOrigins`). */
  sinkDead: Map<string, Set<string>>;
  /** Messages that are no normalized record of the contract, and record batches that could not be read. */
  undecodable: number;
}

export async function readNormalized(
  kafka: Kafka,
  registry: SchemaRegistry,
  topic: string,
  vendors: Vendor[],
  scope: DayScope,
  tenantFilter: string[] | null,
  deadOrigins: ReadonlySet<string>,
  ctx: { progress: NodeJS.WriteStream; timeoutMs: number; signal?: AbortSignal },
): Promise<NormalizedLayer> {
  const layer: NormalizedLayer = { tally: new Tally(), sinkDead: new Map(), undecodable: 0 };
  const decode = contractDecoder<NormalizedCdr>(registry, SCHEMA_FILES.normalized, topic);
  const time = (v: Date | null) => (v === null ? null : v.getTime());
  await scanWithProgress(kafka, topic, `kafka ${topic}`, ctx.progress, async (m) => {
    if (m.value === null) return;
    const cdr = await decode(m.value);
    // Names no call to count (the sink dead-letters it, and that letter names none either), but is said: a topic of
    // them (a writer schema the registry lost) reads as every call not normalized.
    if (cdr === undefined) {
      layer.undecodable++;
      return;
    }
    if (!vendors.includes(cdr.vendor as Vendor) || (tenantFilter && !tenantFilter.includes(cdr.tenant_id))) return;
    const key = layer.tally.addVersion(cdr.vendor, cdr.tenant_id, bucketDay(scope, time(cdr.started_at) ?? time(cdr.received_at)!), cdr.cdr_id, cdr.billable_minutes, cdr.received_at.getTime());
    if (key === undefined) return;
    // A call the sink refused that a replay (or the vendor) sent again is expected in ClickHouse again, and is
    // not_in_clickhouse when that copy is not there either.
    countDead(layer.sinkDead, deadOrigins, originOf(topic, m.partition, m.offset), key, cdr.cdr_id);
  }, ctx.timeoutMs, ctx.signal, () => void layer.undecodable++);
  return layer;
}

// ---------------------------------------------------------------- ClickHouse

export interface ClickHouseLayer {
  figures: Map<string, ClickHouseFigures>;
  views: { cdr_daily: Map<string, ViewFigures> | null; cdr_hourly: Map<string, ViewFigures>; cdr_end_status: Map<string, ViewFigures> | null };
  /** cdr FINAL up to the last whole hour before the cut-off: what the hourly view is compared with (= figures on whole hours). */
  hourlyBasis: Map<string, ViewFigures>;
  /** Per bucket: idsFingerprint of the distinct cdr_ids in cdr FINAL, read with `figures` (absent: no rows, 0). */
  fingerprints: Map<string, bigint>;
  /** Per bucket: versionsFingerprint of cdr FINAL's (cdr_id, version) pairs, read with `figures` (absent: no rows, 0). */
  versionFingerprints: Map<string, bigint>;
}

const count = chNumber;
/** A UInt64 fingerprint, quoted (read whole as a bigint: it is compared bit for bit). */
const fingerprint = z.union([z.string().regex(/^\d{1,20}$/), z.number().int().nonnegative()]).transform(BigInt);
const bucketRow = z.object({ vendor: z.string(), tenant_id: z.string(), bucket_day: z.string() });

export class ClickHouseReader {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly database: string,
    private readonly table: string,
    private readonly bounds: ReadBounds = RECONCILE_READ,
    /** The run's stop: a read in progress (minutes of FINAL on a large day) ends at once with its reason. */
    private readonly signal?: AbortSignal,
  ) {}

  private get db() {
    return quoteIdentifier(this.database);
  }

  private rows<S extends z.ZodType>(what: string, row: S, query: string, params: Record<string, unknown>): Promise<z.output<S>[]> {
    return readRows(this.client, { query, params, what, row, bounds: this.bounds, ...(this.signal ? { signal: this.signal } : {}) });
  }

  private filter(scope: DayScope, vendors: Vendor[], tenants: string[] | null, timeColumn: string) {
    const { start, end } = scopeBounds(scope);
    const where = [`${timeColumn} >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')`, `${timeColumn} < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`, 'vendor IN {vendors:Array(String)}'];
    if (tenants) where.push('tenant_id IN {tenants:Array(String)}');
    return { where: where.join(' AND '), params: { from: start, to: end, vendors, tenants: tenants ?? [], offset: scope.tzOffsetMinutes * 60 } };
  }

  async read(scope: DayScope, vendors: Vendor[], tenants: string[] | null): Promise<ClickHouseLayer> {
    const t = `${this.db}.${quoteIdentifier(this.table)}`;
    const { where, params } = this.filter(scope, vendors, tenants, 'call_time');
    const day = `toString(toDate(call_time + toIntervalSecond({offset:Int32}), 'UTC'))`;
    const final = await this.rows('the figures of cdr FINAL', bucketRow.extend({ n: count, u: count, m: count, fp: fingerprint, vfp: fingerprint }), `SELECT vendor, tenant_id, ${day} AS bucket_day, count() AS n, uniqExact(cdr_id) AS u, sum(billable_minutes) AS m, ${ID_FINGERPRINT_SQL('cdr_id')} AS fp, ${VERSION_FINGERPRINT_SQL('cdr_id', 'version')} AS vfp FROM ${t} FINAL WHERE ${where} GROUP BY vendor, tenant_id, bucket_day`, params);
    const stored = await this.rows('the rows stored in cdr', bucketRow.extend({ n: count }), `SELECT vendor, tenant_id, ${day} AS bucket_day, count() AS n FROM ${t} WHERE ${where} GROUP BY vendor, tenant_id, bucket_day`, params);
    const figures = new Map<string, ClickHouseFigures>();
    const fingerprints = new Map<string, bigint>();
    const versionFingerprints = new Map<string, bigint>();
    for (const r of final) {
      const key = bucketKey(r.vendor, r.tenant_id, r.bucket_day);
      figures.set(key, { count: r.n, uniq: r.u, minutes: r.m, storedRows: 0 });
      fingerprints.set(key, r.fp);
      versionFingerprints.set(key, r.vfp);
    }
    for (const r of stored) {
      const key = bucketKey(r.vendor, r.tenant_id, r.bucket_day);
      const f = figures.get(key) ?? { count: 0, uniq: 0, minutes: 0, storedRows: 0 };
      f.storedRows = r.n;
      figures.set(key, f);
    }
    // The hourly view is compared on whole hours only (up to the last one before the cut-off), with cdr FINAL over the
    // same hours read in the same query: on a live pipeline, two queries would see different rows.
    const hourScope = { ...scope, cutoffMs: hourFloor(scope.cutoffMs) };
    const hourly = this.filter(hourScope, vendors, tenants, 'hour');
    const basis = this.filter(hourScope, vendors, tenants, 'call_time');
    const pairs = await this.rows(
      'the figures of cdr_hourly',
      bucketRow.extend({ calls: count, m: count, basis_calls: count, basis_m: count }),
      `SELECT vendor, tenant_id, bucket_day, sum(calls) AS calls, sum(m) AS m, sum(basis_calls) AS basis_calls, sum(basis_m) AS basis_m FROM (
         SELECT vendor, tenant_id, toString(toDate(hour + toIntervalSecond({offset:Int32}), 'UTC')) AS bucket_day, sum(calls) AS calls, sum(billable_minutes) AS m, 0 AS basis_calls, 0 AS basis_m
         FROM ${this.db}.cdr_hourly WHERE ${hourly.where} GROUP BY vendor, tenant_id, bucket_day
         UNION ALL
         SELECT vendor, tenant_id, ${day} AS bucket_day, 0, 0, count(), sum(billable_minutes) FROM ${t} FINAL WHERE ${basis.where} GROUP BY vendor, tenant_id, bucket_day
       ) GROUP BY vendor, tenant_id, bucket_day`,
      hourly.params,
    );
    const cdrHourly = new Map<string, ViewFigures>();
    const hourlyBasis = new Map<string, ViewFigures>();
    for (const r of pairs) {
      const key = bucketKey(r.vendor, r.tenant_id, r.bucket_day);
      cdrHourly.set(key, { calls: r.calls, minutes: r.m });
      hourlyBasis.set(key, { calls: r.basis_calls, minutes: r.basis_m });
    }
    const viewRow = bucketRow.extend({ calls: count, m: count.nullable() });
    const toMap = (rows: z.output<typeof viewRow>[], withMinutes: boolean) => new Map(rows.map((r) => [bucketKey(r.vendor, r.tenant_id, r.bucket_day), { calls: r.calls, minutes: withMinutes ? r.m : null }]));
    // The daily views bucket by UTC day: they are compared only when the reconcile uses UTC days.
    let cdrDaily: Map<string, ViewFigures> | null = null;
    let cdrEndStatus: Map<string, ViewFigures> | null = null;
    if (scope.tzOffsetMinutes === 0) {
      const p = { from: scope.from, to: scope.to, vendors, tenants: tenants ?? [] };
      const tenantWhere = tenants ? ' AND tenant_id IN {tenants:Array(String)}' : '';
      const range = `day >= toDate({from:String}) AND day <= toDate({to:String}) AND vendor IN {vendors:Array(String)}${tenantWhere}`;
      cdrDaily = toMap(await this.rows('the figures of cdr_daily', viewRow, `SELECT vendor, tenant_id, toString(day) AS bucket_day, sum(calls) AS calls, sum(billable_minutes) AS m FROM ${this.db}.cdr_daily WHERE ${range} GROUP BY vendor, tenant_id, bucket_day`, p), true);
      cdrEndStatus = toMap(await this.rows('the figures of cdr_end_status', viewRow, `SELECT vendor, tenant_id, toString(day) AS bucket_day, sum(calls) AS calls, NULL AS m FROM ${this.db}.cdr_end_status WHERE ${range} GROUP BY vendor, tenant_id, bucket_day`, p), false);
    }
    return { figures, views: { cdr_daily: cdrDaily, cdr_hourly: cdrHourly, cdr_end_status: cdrEndStatus }, hourlyBasis, fingerprints, versionFingerprints };
  }

  /**
   * The cdr_ids of one vendor × tenant × day in cdr FINAL (only for buckets whose counts or fingerprints disagree), each
   * with its row's version, with the count and billable minutes of those same rows: the bucket's figures as of this
   * read, which on a live pipeline is later than read()'s.
   */
  async ids(scope: DayScope, vendor: Vendor, tenant: string, day: string): Promise<{ ids: Map<string, number>; count: number; minutes: number }> {
    const { start, end } = dayBounds(day, scope.tzOffsetMinutes);
    const rows = await this.rows(
      'the ids of a bucket',
      z.object({ cdr_id: z.string(), m: count, v: count }),
      `SELECT cdr_id, billable_minutes AS m, toString(version) AS v FROM ${this.db}.${quoteIdentifier(this.table)} FINAL WHERE vendor = {vendor:String} AND tenant_id = {tenant:String} AND call_time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND call_time < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`,
      { vendor, tenant, from: start, to: Math.min(end, scope.cutoffMs) },
    );
    return { ids: new Map(rows.map((r) => [r.cdr_id, r.v])), count: rows.length, minutes: rows.reduce((sum, r) => sum + r.m, 0) };
  }

  /** Days of the scope cut short by the cut-off. */
  static partialDays(scope: DayScope): Set<string> {
    return new Set(daysOf(scope).filter((d) => dayBounds(d, scope.tzOffsetMinutes).end > scope.cutoffMs));
  }
}
