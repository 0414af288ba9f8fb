// Puts the layers side by side, per vendor × tenant × day, and names every difference. Pure: the figures come in,
// rows with their drift go out (unit-tested without servers).
import type { Vendor } from '../core/topology.ts';
import { daysOf, type DayScope } from './days.ts';
import type { ClickHouseFigures, Drift, DriftKind, ReconcileRow, RepairAction, SourceKind, ViewFigures } from './model.ts';
import { bucketKey, difference, idsFingerprint, splitBucketKey, versionsFingerprint, type Tally } from './tally.ts';

export interface Layers {
  scope: DayScope;
  sourceKind: (vendor: Vendor) => SourceKind;
  /** Pull vendor tenants whose API was read: each of their days gets a row even when every figure is 0. */
  sourceTenants: { vendor: Vendor; tenant: string }[];
  source: Tally;
  /** Records the API served that the poller refuses (no natural key, or over the door's limits: they go to the dead-letter topic there), per bucket. */
  sourceKeyless: Map<string, number>;
  /** `vendor\0tenant` → why the API could not be read. */
  sourceUnreachable: Map<string, string>;
  /** `vendor\0tenant` → the vendor's refusal of the request (a parameter it does not take). */
  sourceRefused?: Map<string, string>;
  /** Per bucket: a day further back than the vendor can be queried or keeps, never asked for (the words why). */
  sourceBeyondHorizon?: Map<string, string>;
  raw: Tally;
  normalized: Tally;
  /**
   * Per bucket: cdr_ids whose counted raw record (that very message) normalize dead-lettered. An id can stay in an
   * earlier day's set after its call moved to another day; every reader checks the set against that day's raw ids.
   */
  normalizeDead: Map<string, Set<string>>;
  /** Per bucket: cdr_ids whose counted normalized record (that very message) the sink dead-lettered: ClickHouse refused it. */
  sinkDead: Map<string, Set<string>>;
  clickhouse: Map<string, ClickHouseFigures>;
  views: { cdr_daily: Map<string, ViewFigures> | null; cdr_hourly: Map<string, ViewFigures>; cdr_end_status: Map<string, ViewFigures> | null };
  /** cdr FINAL on whole hours (up to the last one before the cut-off): the hourly view's reference. Absent: the figures. */
  hourlyBasis?: Map<string, ViewFigures>;
  /**
   * cdr FINAL as read beside the daily views (cdr_daily, cdr_end_status): their reference, when a bucket's figures
   * in `clickhouse` come from a later read (with its ids). Absent: `clickhouse`.
   */
  viewBasis?: Map<string, ClickHouseFigures>;
  /** Days cut short by the cut-off: the daily views cover the whole day, so only the hourly view is compared there. */
  partialDays: Set<string>;
  /**
   * cdr_ids in cdr FINAL, fetched only for buckets whose counts or fingerprints disagree with the normalized layer; as
   * a map, with each row's version (received_at ms), which names the calls ClickHouse holds a stale version of.
   */
  clickhouseIds: Map<string, ReadonlySet<string> | ReadonlyMap<string, number>>;
}

const NONE: ReadonlySet<string> = new Set();

export const sourceKey = (vendor: string, tenant: string) => `${vendor}\u0000${tenant}`;

/**
 * Buckets whose ClickHouse ids may not be what the normalized layer says should be there: their count differs, or, with
 * the same count, their fingerprint (idsFingerprint; `fingerprints` per bucket of cdr FINAL, absent = no rows) does,
 * as when one record is missing and another is extra; or, given `versionFingerprints` (versionsFingerprint of cdr
 * FINAL's (cdr_id, version) pairs), the versions differ: ClickHouse holds an earlier version of a call than the topic.
 * Those to `read`. The calls the sink refused are not expected there, unless it took them after all (a later delivery
 * of the same message): a bucket with refused calls whose figures, ids and versions agree with its whole normalized
 * layer instead holds every call at its counted version, the refused ones too, so its ids are known without reading
 * them (`known`, as ClickHouseReader.ids reads them; compareLayers then counts those calls as stored). Any other mix
 * of refused calls stored and not is read.
 */
export function bucketsNeedingIds(
  layers: Pick<Layers, 'normalized' | 'sinkDead' | 'clickhouse'>,
  fingerprints: ReadonlyMap<string, bigint>,
  versionFingerprints?: ReadonlyMap<string, bigint>,
): { read: string[]; known: Map<string, ReadonlyMap<string, number>> } {
  const keys = new Set([...layers.normalized.buckets.keys(), ...layers.clickhouse.keys()]);
  const version = (id: string) => layers.normalized.version(id) ?? 0;
  const agrees = (key: string, expected: string[]) =>
    (layers.clickhouse.get(key)?.uniq ?? 0) === expected.length &&
    (fingerprints.get(key) ?? 0n) === idsFingerprint(expected) &&
    (!versionFingerprints || (versionFingerprints.get(key) ?? 0n) === versionsFingerprint(expected.map((id) => [id, version(id)])));
  const read: string[] = [];
  const known = new Map<string, ReadonlyMap<string, number>>();
  for (const key of keys) {
    const normalized = layers.normalized.ids(key);
    const refused = layers.sinkDead.get(key) ?? NONE;
    if (agrees(key, difference(normalized, refused))) continue;
    const all = [...normalized.keys()];
    // Without the versions' fingerprint, a refused call held at an earlier version would read as stored: read then.
    if (refused.size > 0 && versionFingerprints && agrees(key, all)) known.set(key, new Map(all.map((id) => [id, version(id)])));
    else read.push(key);
  }
  return { read, known };
}

const STALE_KINDS: ReadonlySet<DriftKind> = new Set<DriftKind>(['stale_in_normalized', 'stale_in_clickhouse']);
/** The clause a minutes detail ends with when repairable drift beside it explains it (the one confirmDrift rewrites). */
const FOLLOWS = / \(follows [^)]*\)$/;

/**
 * What a minutes drift follows: the repairable record drift beside it, records missing on a layer (their minutes go
 * with them), calls a layer holds at a stale version (billed at the old version's minutes), or both; '' for none.
 */
function followsClause(drift: readonly Drift[]): string {
  const repairable = drift.filter((d) => d.kind !== 'minutes' && d.repairable);
  const causes = [
    ...(repairable.some((d) => !STALE_KINDS.has(d.kind)) ? ['the missing records'] : []),
    ...(repairable.some((d) => STALE_KINDS.has(d.kind)) ? ['the stale versions'] : []),
  ];
  return causes.length === 0 ? '' : ` (follows ${causes.join(' and ')})`;
}

/**
 * Ids of `later` held by `earlier` at an earlier version: the later layer got a newer version of the call (a vendor's
 * re-send, a corrected duration) that never reached the earlier one, whose counts and minutes may still agree.
 */
function staleIds(laterVersion: (id: string) => number | undefined, ids: Iterable<string>, earlierVersion: (id: string) => number | undefined): string[] {
  const out: string[] = [];
  for (const id of ids) {
    const held = earlierVersion(id);
    const latest = laterVersion(id);
    if (held !== undefined && latest !== undefined && latest > held) out.push(id);
  }
  return out;
}

/**
 * The dlq column: this day's calls whose counted record a stage dead-lettered and the next layer does not hold since.
 * Only this day's raw ids are read: a dead letter of a version whose call moved to another day stays in the earlier
 * day's set. A raw record normalize refused that a replay normalized (the same version, or a later one) is no longer
 * dead-lettered; one normalized only at an earlier version still is (ClickHouse bills that earlier version). A call
 * both stages refused counts once: a sink dead letter counts only while the raw topic holds no later version.
 */
function stillDeadLettered(
  day: { raw: ReadonlyMap<string, number>; normalized: ReadonlyMap<string, number>; dead: ReadonlySet<string>; sinkDead: ReadonlySet<string> },
  rawVersion: (id: string) => number | undefined,
  normalizedVersion: (id: string) => number | undefined,
): number {
  const { raw, normalized, dead, sinkDead } = day;
  const refused = [...raw.keys()].filter((id) => dead.has(id));
  const normalizedEarlier = new Set(staleIds(rawVersion, refused, normalizedVersion));
  const calls = new Set(refused.filter((id) => !normalized.has(id) || normalizedEarlier.has(id)));
  // A sink dead letter of a version the raw topic holds a later one of accounts for that version only: the later one
  // is counted on its own day, by normalize's dead letter or as drift.
  const sinkRefused = [...normalized.keys()].filter((id) => sinkDead.has(id));
  const rawLater = new Set(staleIds(rawVersion, sinkRefused, normalizedVersion));
  for (const id of sinkRefused) if (!rawLater.has(id)) calls.add(id);
  return calls.size;
}

/**
 * The calls of `sinkDead` that cdr FINAL does not hold at the refused version or a later one. A dead letter of a
 * message ClickHouse took after all (a later delivery of the same bytes: a retried batch, a group rewound) is an
 * earlier failure the acceptance superseded: the call is stored, and counted there only, not in the dlq column too.
 * Without the bucket's ids (read, or known from its fingerprints, whenever it holds a refused call: bucketsNeedingIds) none is.
 */
function notStoredSince(sinkDead: ReadonlySet<string>, chIds: ReadonlySet<string> | ReadonlyMap<string, number> | undefined, version: (id: string) => number | undefined): ReadonlySet<string> {
  if (!chIds || sinkDead.size === 0) return sinkDead;
  const storedSince = (id: string) => (chIds instanceof Map ? (chIds.get(id) ?? -Infinity) >= (version(id) ?? Infinity) : chIds.has(id));
  return new Set([...sinkDead].filter((id) => !storedSince(id)));
}

const ZERO_CH: ClickHouseFigures = { count: 0, uniq: 0, minutes: 0, storedRows: 0 };

export function compareLayers(layers: Layers): ReconcileRow[] {
  const keys = new Set<string>();
  for (const t of [layers.source, layers.raw, layers.normalized]) for (const k of t.buckets.keys()) keys.add(k);
  for (const k of layers.clickhouse.keys()) keys.add(k);
  // A view's figures for a day cdr FINAL holds nothing of (rows deleted from cdr stay in the views, which nothing
  // updates on a delete) are drift like any other view's, not a day left out of the report.
  for (const view of Object.values(layers.views)) for (const k of view?.keys() ?? []) keys.add(k);
  for (const { vendor, tenant } of layers.sourceTenants) for (const day of daysOf(layers.scope)) keys.add(bucketKey(vendor, tenant, day));
  const rows: ReconcileRow[] = [];
  for (const key of [...keys].sort()) {
    const { vendor, tenant, day } = splitBucketKey(key);
    const kind = layers.sourceKind(vendor);
    const unreachable = kind === 'api' ? layers.sourceUnreachable.get(sourceKey(vendor, tenant)) : undefined;
    const refused = kind === 'api' ? layers.sourceRefused?.get(sourceKey(vendor, tenant)) : undefined;
    const beyondHorizon = kind === 'api' ? layers.sourceBeyondHorizon?.get(key) : undefined;
    const raw = layers.raw.ids(key);
    const normalized = layers.normalized.ids(key);
    const dead = layers.normalizeDead.get(key) ?? NONE;
    const chIds = layers.clickhouseIds.get(key);
    const sinkDead = notStoredSince(layers.sinkDead.get(key) ?? NONE, chIds, (id) => layers.normalized.version(id));
    const ch = layers.clickhouse.get(key) ?? ZERO_CH;
    const drift: Drift[] = [];
    const add = (d: Omit<Drift, 'ids'>, ids?: string[]) => {
      if (d.count === 0) return;
      drift.push(ids ? { ...d, ids } : d);
    };
    let source: ReconcileRow['source'] = null;
    let served: ReadonlyMap<string, number> | undefined;
    if (beyondHorizon !== undefined) {
      // Never asked for: no source figures to compare with, and no refusal either (see beyondHorizonNotes).
    } else if (kind === 'api' && refused !== undefined) {
      add({ kind: 'source_refused', count: 1, detail: `${vendor} refused the request for tenant ${tenant} (not retried): ${refused}`, repairable: false });
    } else if (kind === 'api' && unreachable !== undefined) {
      add({ kind: 'source_unreachable', count: 1, detail: `${vendor} API not reachable for tenant ${tenant}: ${unreachable}`, repairable: false });
    } else if (kind === 'api') {
      const ids = (served = layers.source.ids(key));
      source = { records: ids.size, minutes: layers.source.minutes(key), keyless: layers.sourceKeyless.get(key) ?? 0 };
      const missing = difference(ids, raw);
      add({ kind: 'missing_in_raw', count: missing.length, detail: `${missing.length} record(s) the vendor serves are not on the raw topic`, repairable: true }, missing);
      const extra = difference(raw, ids);
      add({ kind: 'not_in_source', count: extra.length, detail: `${extra.length} raw record(s) the vendor no longer serves for this day`, repairable: false }, extra);
    }
    const notNormalized = difference(raw, normalized, dead);
    add({ kind: 'not_normalized', count: notNormalized.length, detail: `${notNormalized.length} raw record(s) with neither a normalized record nor a dead letter`, repairable: true }, notNormalized);
    const rawVersion = (id: string) => layers.raw.version(id);
    const normalizedVersion = (id: string) => (normalized.has(id) ? layers.normalized.version(id) : undefined);
    // A newer raw version that normalize dead-lettered is accounted for (the dead letter); one it never saw is not.
    const staleNormalized = staleIds(rawVersion, difference(raw, dead), normalizedVersion);
    add({ kind: 'stale_in_normalized', count: staleNormalized.length, detail: `${staleNormalized.length} call(s) whose latest raw version (received later) has neither a normalized record nor a dead letter: the normalized topic, and so ClickHouse, holds an earlier version`, repairable: true }, staleNormalized);
    // The other way round: normalized (and so usually in ClickHouse) with no raw record on this vendor's raw topic —
    // imported or replayed onto another topic (normalize goes by the envelope's vendor, the raw scan by the topic's), or
    // gone from the raw topic by retention. What the vendor API still serves is `missing_in_raw` already, which a
    // backfill repairs; the rest has no raw record to restore, so it cannot be repaired from here.
    const notInRaw = served ? difference(normalized, raw, served) : difference(normalized, raw);
    add({ kind: 'extra_in_normalized', count: notInRaw.length, detail: `${notInRaw.length} normalized record(s) with no raw record on the ${vendor} raw topic for this day (imported or replayed onto another topic, or removed by the raw topic's retention)`, repairable: false }, notInRaw);
    const expected = difference(normalized, sinkDead);
    if (chIds) {
      const missing = expected.filter((id) => !chIds.has(id));
      add({ kind: 'not_in_clickhouse', count: missing.length, detail: `${missing.length} normalized record(s) missing in ClickHouse`, repairable: true }, missing);
      if (chIds instanceof Map) {
        const stale = staleIds((id) => layers.normalized.version(id), expected, (id) => chIds.get(id));
        add({ kind: 'stale_in_clickhouse', count: stale.length, detail: `${stale.length} call(s) whose cdr FINAL row is an earlier version than the latest normalized record`, repairable: true }, stale);
      }
      const extra = difference(chIds, normalized);
      add({ kind: 'extra_in_clickhouse', count: extra.length, detail: `${extra.length} ClickHouse row(s) with no normalized record for this day`, repairable: false }, extra);
    } else if (ch.uniq !== expected.length) {
      const diff = Math.abs(ch.uniq - expected.length);
      add({ kind: ch.uniq < expected.length ? 'not_in_clickhouse' : 'extra_in_clickhouse', count: diff, detail: `ClickHouse holds ${ch.uniq} distinct CDRs, the normalized topic ${expected.length}`, repairable: ch.uniq < expected.length });
    }
    add({ kind: 'final_not_unique', count: Math.abs(ch.count - ch.uniq), detail: `cdr FINAL has ${ch.count} rows for ${ch.uniq} cdr_ids`, repairable: false });
    const referenceMinutes = source ? source.minutes : kind === 'raw-topic' ? layers.raw.minutes(key) : null;
    if (referenceMinutes !== null && referenceMinutes !== ch.minutes) {
      // Missing records take their minutes with them, a stale version bills its own: repairing the records repairs the minutes.
      const follows = followsClause(drift);
      add({ kind: 'minutes', count: Math.abs(referenceMinutes - ch.minutes), detail: `billable minutes: ${kind === 'api' ? 'source' : 'raw'} ${referenceMinutes}, ClickHouse ${ch.minutes}${follows}`, repairable: follows !== '' });
    }
    const partial = layers.partialDays.has(day);
    const views: ReconcileRow['views'] = {
      cdr_daily: layers.views.cdr_daily && !partial ? (layers.views.cdr_daily.get(key) ?? { calls: 0, minutes: 0 }) : null,
      cdr_hourly: layers.views.cdr_hourly.get(key) ?? { calls: 0, minutes: 0 },
      cdr_end_status: layers.views.cdr_end_status && !partial ? (layers.views.cdr_end_status.get(key) ?? { calls: 0, minutes: null }) : null,
    };
    for (const [name, v] of Object.entries(views) as [string, ViewFigures | null][]) {
      if (!v) continue;
      const basis = layers.viewBasis?.get(key) ?? ch;
      const ref = name === 'cdr_hourly' && layers.hourlyBasis ? (layers.hourlyBasis.get(key) ?? { calls: 0, minutes: 0 }) : { calls: basis.count, minutes: basis.minutes };
      if (v.calls !== ref.calls || (v.minutes !== null && v.minutes !== ref.minutes)) {
        add({
          kind: 'view',
          count: Math.abs(v.calls - ref.calls) || Math.abs((v.minutes ?? 0) - (ref.minutes ?? 0)),
          detail: `${name}: ${v.calls} calls${v.minutes === null ? '' : ` / ${v.minutes} min`} vs cdr FINAL ${ref.calls} calls / ${ref.minutes ?? 0} min${name === 'cdr_hourly' && ref.calls !== basis.count ? ' (whole hours before the cut-off)' : ''}`,
          repairable: false,
        });
      }
    }
    rows.push({
      vendor,
      tenant,
      day,
      sourceKind: kind,
      source,
      ...(beyondHorizon !== undefined ? { sourceBeyondHorizon: beyondHorizon } : {}),
      raw: { records: raw.size, minutes: layers.raw.minutes(key) },
      normalized: { records: normalized.size, minutes: layers.normalized.minutes(key) },
      deadLettered: stillDeadLettered({ raw, normalized, dead, sinkDead }, rawVersion, normalizedVersion),
      clickhouse: ch,
      views,
      unmergedDuplicates: Math.max(0, ch.storedRows - ch.count),
      inFlight: 0,
      drift,
    });
  }
  return rows;
}

// Layers are read one after the other; on a live pipeline a record can be on a later layer and not yet on an earlier
// one's snapshot (extra) or the other way round (missing). A second look tells those apart from real drift. The
// layers are read in pipeline order, each snapshot ending later than the one before: a record published to the raw
// topic after the raw scan took its end offsets and normalized before the normalized scan took its own is normalized
// but not raw in that look (`extra_in_normalized`), so that kind gets the second look too; as does a newer version
// still on its way (`stale_in_*`).
const EDGE_KINDS = new Set(['missing_in_raw', 'not_in_source', 'not_normalized', 'stale_in_normalized', 'extra_in_normalized', 'not_in_clickhouse', 'stale_in_clickhouse', 'extra_in_clickhouse']);

/** Whether a report has drift a record in flight could explain (worth a second look on a day still in progress). */
export function hasEdgeDrift(rows: ReconcileRow[], partialDays: Set<string>): boolean {
  return rows.some((r) => partialDays.has(r.day) && r.drift.some((d) => EDGE_KINDS.has(d.kind)));
}

/**
 * Keeps, in the second look, only the drift the first look saw too: a record missing in one look only was in flight
 * (counted in `inFlight`). Minutes drift that only followed such records goes with them.
 */
export function confirmDrift(first: ReconcileRow[], second: ReconcileRow[], partialDays: Set<string>): ReconcileRow[] {
  const seen = new Map<string, Set<string>>();
  for (const r of first) for (const d of r.drift) if (d.ids) seen.set(`${r.vendor}\u0000${r.tenant}\u0000${r.day}\u0000${d.kind}`, new Set(d.ids));
  return second.map((r) => {
    if (!partialDays.has(r.day)) return r;
    let inFlight = 0;
    const drift: Drift[] = [];
    for (const d of r.drift) {
      if (!EDGE_KINDS.has(d.kind) || !d.ids) {
        drift.push(d);
        continue;
      }
      const before = seen.get(`${r.vendor}\u0000${r.tenant}\u0000${r.day}\u0000${d.kind}`) ?? new Set<string>();
      const confirmed = d.ids.filter((id) => before.has(id));
      inFlight += d.ids.length - confirmed.length;
      if (confirmed.length > 0) drift.push({ ...d, ids: confirmed, count: confirmed.length, detail: d.detail.replace(/^\d+/, String(confirmed.length)) });
    }
    // Minutes differ whenever counts differ: with no record drift confirmed, the in-flight records explain them.
    const recordDrift = drift.some((d) => EDGE_KINDS.has(d.kind));
    // Minutes drift is repairable only while it follows records a repair re-feeds: the second look's may have been
    // nothing but in-flight records, dropped above, leaving only drift no repair closes (not_in_source, …), or only
    // stale versions; its clause names what is left.
    const follows = followsClause(drift);
    const kept = drift
      .filter((d) => !(d.kind === 'minutes' && !recordDrift && inFlight > 0))
      .map((d) => (d.kind === 'minutes' && d.repairable ? { ...d, repairable: follows !== '', detail: d.detail.replace(FOLLOWS, follows) } : d));
    return { ...r, drift: kept, inFlight };
  });
}

/** Per vendor × tenant, the days not checked against the vendor because they are beyond what it serves. */
export function beyondHorizonNotes(rows: ReconcileRow[]): string[] {
  const days = new Map<string, { first: string; last: string; clause: string }>();
  for (const r of rows) {
    if (r.sourceBeyondHorizon === undefined) continue;
    const key = `${r.vendor} tenant ${r.tenant}`;
    const seen = days.get(key);
    if (!seen) days.set(key, { first: r.day, last: r.day, clause: r.sourceBeyondHorizon });
    else seen.last = r.day > seen.last ? r.day : seen.last;
  }
  return [...days].map(([who, d]) => `${who}: ${d.first === d.last ? d.first : `${d.first} .. ${d.last}`} ${d.clause}: not checked against the vendor (source "beyond"); the other layers are reconciled`);
}

/**
 * Calls cdr FINAL holds at a newer version than the latest on the normalized topic: the newer record gone from the
 * topic (its retention) while an older copy appended after it (a replay, an import of an old file) is still there.
 * ClickHouse bills the newest version, so this is no drift and nothing to repair; but the (cdr_id, version)
 * fingerprints cannot tell which side is newer (only fetching the ids can), so such a day's ids are read from
 * ClickHouse on every run. Said once per vendor × tenant, so that read is not unexplained.
 */
export function newerInClickHouseNotes(layers: Pick<Layers, 'normalized' | 'sinkDead' | 'clickhouseIds'>): string[] {
  const found = new Map<string, { days: string[]; ids: string[] }>();
  for (const [key, chIds] of layers.clickhouseIds) {
    if (!(chIds instanceof Map)) continue;
    // The calls compareLayers expects in ClickHouse: a refused call cdr FINAL holds at a newer version than the one
    // refused is stored since, and newer in ClickHouse like any other.
    const version = (id: string) => layers.normalized.version(id);
    const newer = staleIds((id) => chIds.get(id), difference(layers.normalized.ids(key), notStoredSince(layers.sinkDead.get(key) ?? NONE, chIds, version)), version);
    if (newer.length === 0) continue;
    const { vendor, tenant, day } = splitBucketKey(key);
    const who = `${vendor} tenant ${tenant}`;
    const f = found.get(who) ?? { days: [], ids: [] };
    f.days.push(day);
    f.ids.push(...newer);
    found.set(who, f);
  }
  return [...found].map(([who, f]) => {
    const days = f.days.sort();
    return `${who}: ${f.ids.length} call(s) on ${days.length === 1 ? days[0] : `${days.length} days (${days[0]} .. ${days.at(-1)})`} are in cdr FINAL at a newer version than the latest on the normalized topic (the newer record removed by the topic's retention, an older copy appended after it still there): not drift, ClickHouse bills the newest version; the version fingerprints cannot tell which side is newer, so these days' ids are read from ClickHouse on every run — e.g. ${f.ids.slice(0, 3).join(', ')}`;
  });
}

/** What a kind means and what to do about it, once per report, for the kinds whose one-line detail cannot say it all. */
export function driftNotes(rows: ReconcileRow[]): string[] {
  const notes: string[] = [];
  if (rows.some((r) => r.drift.some((d) => d.kind === 'extra_in_normalized'))) {
    notes.push(
      'extra_in_normalized: records on the normalized topic (and so in ClickHouse, unless the sink refused them) whose raw record is not on their vendor\'s raw topic for that day — imported or replayed onto another topic the stages read (normalize goes by the record\'s vendor, reconcile reads each vendor\'s own raw topic), or removed from the raw topic by its retention. --repair cannot restore a raw record it does not have and never deletes billed rows: it lists them as unrepairable. For a push vendor, import the records again onto its own raw topic (`cdrflow import <vendor> --file …` without --topic; the same cdr_id keeps one row in ClickHouse); if retention removed them, only the raw copy is gone',
    );
  }
  return notes;
}

export function exitCodeOf(rows: ReconcileRow[]): 0 | 1 | 2 {
  if (rows.some((r) => r.drift.some((d) => d.kind === 'source_unreachable' || d.kind === 'source_refused'))) return 2;
  return rows.some((r) => r.drift.length > 0) ? 1 : 0;
}

/**
 * The exit code of a repair with an after pass: the after pass's, but drift (1) where it agrees while the repair
 * listed records as unrepairable. What is listed is mostly gone from where the after pass looks (a topic's retention,
 * a vendor that no longer serves the call), so it no longer reads as drift there; a repair with nothing else to do
 * makes no after pass and keeps the before's 1 for the same records.
 */
export function repairExitCode(after: 0 | 1 | 2, actions: readonly RepairAction[]): 0 | 1 | 2 {
  return after === 0 && actions.some((a) => a.kind === 'unrepairable') ? 1 : after;
}
