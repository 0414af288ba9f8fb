// `--repair`: closes the drift it can through the same path as live data, with the same dedup rules.
// - missing in raw (pull vendors): a backfill of exactly the hour windows the vendor served the missing records in
//   (the `cdrflow backfill` code path: mode backfill, its own checkpoint);
// - raw but neither normalized nor dead-lettered: those raw records are appended again, byte for byte, to their raw
//   topic, so the running normalize stage maps them like any record (the group is never rewound under a live job;
//   the copy has the same key, so cdr_id and ReplacingMergeTree keep one row);
// - normalized but not in ClickHouse: those normalized records are appended again to cdr.normalized, so the sink
//   inserts them (a new offset range, so a new dedup token: a re-read under the old token would be dropped by
//   ClickHouse as a duplicate of the insert whose row went missing);
// - a call whose latest version stopped short of a layer (stale_in_normalized, stale_in_clickhouse): its latest raw or
//   normalized record appended again the same way (ReplacingMergeTree(version) then keeps the newer row);
// - rows stored twice (not merged yet): OPTIMIZE … FINAL on the months concerned, so even a reader without FINAL
//   counts them once; versions of one call in two months' partitions, which no merge brings together, by deleting
//   the superseded ones (also a re-fed version's, whose call time moved to another month than the row it supersedes).
// A call re-fed by one step is not re-fed by another: a backfill reads whole hours, so the calls it published there
// that were to be appended again (not normalized, not in ClickHouse, stale) are already on their raw topic anew.
// What it cannot repair is listed: missing records no backfill of the repair brought back (hours the vendor no longer
// keeps, a part not settled yet, a call it no longer serves there); push-vendor records that never reached the
// receiver are invisible from here, and normalized records with no raw record on their vendor's raw topic
// (`extra_in_normalized`: imported or replayed onto another topic, or gone by retention) have no raw record to restore
// — billed rows are never deleted; nor have raw or normalized records to append again that their topic no longer holds
// when the repair scans it.
// Of the copies of a call on a topic, the one appended again is the latest received (received_at, a tie to the later
// offset: tally.ts `supersedes`, as the reconcile counts), not the last one: an older version may have been appended
// after the newer one (a replay, an import of an old file, an earlier repair).
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import type { RawEnvelope } from '../core/envelope.ts';
import { AckedPublisher, scanTopicToEnd, type Kafka, type OutgoingMessage } from '../core/kafka.ts';
import { quoteIdentifier, readRows, RECONCILE_READ, REPAIR_WRITE_MS, runBounded } from '../core/clickhouse.ts';
import { SCHEMA_FILES, type Vendor } from '../core/topology.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import { BackfillBusy } from '../connectors/poller/backfill-lock.ts';
import { normalizedCdrId, normalizedNaturalKey, type NormalizedCdr } from '../transforms/normalize/index.ts';
import { bucketKey, supersedes } from './tally.ts';
import { dayBounds, parseTzOffset, utcMonthsOfDay } from './days.ts';
import { contractDecoder } from './contract-decoder.ts';
import type { DriftKind, ReconcileReport, RepairAction } from './model.ts';
import { waitForSnapshot, type StageGroups } from './pipeline.ts';
import { actionLine } from './render.ts';

export interface RepairContext {
  kafka: Kafka;
  registry: SchemaRegistry;
  clickhouse: ClickHouseClient;
  database: string;
  table: string;
  connectors: PullConnector[];
  rawTopics: { vendor: Vendor; topic: string }[];
  normalizedTopic: string;
  groups: StageGroups;
  /** The mapping's PII key: raw records are matched to the report's cdr_ids as normalize keys them. */
  piiKey: string | null;
  /** Per bucket: cdr_id → the hour window (Unix s) the vendor served it in. */
  sourceWindows: Map<string, Map<string, number>>;
  progress: NodeJS.WriteStream;
  signal: AbortSignal;
  waitSec: number;
  scanTimeoutMs: number;
  log: (msg: string) => void;
}

const SAMPLE = 50;
/** cdr_ids per DELETE: its statement carries them (and their kept versions) in full. */
const DELETE_IDS_PER_STATEMENT = 1000;

type IdBucket = { vendor: Vendor; tenant: string; day: string; ids: string[] };

function idsOf(report: ReconcileReport, ...kinds: DriftKind[]): Map<Vendor, IdBucket[]> {
  const byVendor = new Map<Vendor, IdBucket[]>();
  for (const row of report.rows) {
    for (const d of row.drift) {
      if (!kinds.includes(d.kind) || !d.ids || d.ids.length === 0) continue;
      const list = byVendor.get(row.vendor) ?? [];
      list.push({ vendor: row.vendor, tenant: row.tenant, day: row.day, ids: d.ids });
      byVendor.set(row.vendor, list);
    }
  }
  return byVendor;
}

/** Consecutive hour windows merged into ranges: one backfill per range. */
export function hourRanges(starts: Iterable<number>): { from: number; to: number }[] {
  const sorted = [...new Set(starts)].sort((a, b) => a - b);
  const out: { from: number; to: number }[] = [];
  for (const s of sorted) {
    const last = out.at(-1);
    if (last && last.to === s) last.to = s + 3600;
    else out.push({ from: s, to: s + 3600 });
  }
  return out;
}

/**
 * The ids the reconcile counted on `topic` that the repair's scan no longer found there (its retention removed them
 * since): nothing to append again, so unrepairable, per vendor, tenant and day, with their ids.
 */
function listGone(buckets: IdBucket[], found: ReadonlyMap<string, unknown>, what: 'raw' | 'normalized', topic: string, actions: RepairAction[]): void {
  for (const b of buckets) {
    const gone = b.ids.filter((id) => !found.has(id));
    if (gone.length > 0) actions.push({ kind: 'unrepairable', vendor: b.vendor, tenant: b.tenant, records: gone.length, detail: `${b.day}: ${gone.length} ${what} record(s) no longer on ${topic} (removed by its retention since the reconcile read it?), nothing to append again`, sample: gone.slice(0, SAMPLE) });
  }
}

/** Per cdr_id, the one copy of its latest version read so far: the version the reconcile counted (Tally.addVersion). */
type LatestCopies = Map<string, { version: number; message: OutgoingMessage }>;

/**
 * Keeps `message` for `id` if it supersedes the copy held: an older version appended after a newer one (a replay, an
 * import of an old file, an earlier repair) is not the one to append again. One copy per id, however many the topic holds.
 */
function keepLatest(latest: LatestCopies, id: string, receivedAt: Date, message: OutgoingMessage): void {
  const version = receivedAt.getTime();
  if (supersedes(version, latest.get(id)?.version)) latest.set(id, { version, message });
}

const messagesOf = (latest: LatestCopies) => [...latest.values()].map((c) => c.message);

async function resend(ctx: RepairContext, topic: string, messages: OutgoingMessage[]): Promise<void> {
  const publisher = new AckedPublisher(ctx.kafka);
  try {
    for (let i = 0; i < messages.length; i += 500) await publisher.send(topic, messages.slice(i, i + 500));
  } finally {
    await publisher.disconnect().catch(() => undefined);
  }
}

export async function repair(report: ReconcileReport, ctx: RepairContext): Promise<RepairAction[]> {
  const actions: RepairAction[] = [];
  try {
    await repairSteps(report, ctx, actions);
  } catch (err) {
    const done = actions.map((a) => `${a.kind} ${a.records}`).join(', ') || 'nothing';
    const ended = ctx.signal.aborted ? `stopped (${(ctx.signal.reason as Error | undefined)?.message ?? 'aborted'})` : `failed (${err instanceof Error ? err.message : String(err)})`;
    ctx.log(`repair ${ended}; done before: ${done}`);
    // The run ends without its output: the records found unrepairable so far are said only here. A re-run does not
    // tell them as well (the ranges backfilled have complete checkpoints: their backfills read nothing).
    for (const a of actions) if (a.kind === 'unrepairable') ctx.log(actionLine(a));
    throw err;
  }
  return actions;
}

async function repairSteps(report: ReconcileReport, ctx: RepairContext, actions: RepairAction[]): Promise<void> {
  let refed = 0;
  // Safe points: between whole actions, never within a resend. What was re-fed stays valid (the same cdr_id is the
  // same row) and the pipeline carries it through by itself; a backfill keeps its checkpoint per window.
  const stopIfAborted = () => ctx.signal.throwIfAborted();

  // 1. Missing in raw: backfill the hour windows the vendor served them in.
  // The cdr_ids a backfill below published (acknowledged by Kafka): not only the missing ones, every call the vendor
  // served in the hours it read is on its raw topic again as a new copy that normalize and the sink carry through.
  // Told by the backfill, not inferred from the hours it read: a call the vendor no longer serves there, or a window
  // given up incomplete, was not re-fed.
  const backfilled = new Set<string>();
  // The missing calls of a range another run is backfilling: that run re-feeds them from the vendor, as a backfill of
  // this repair would. Still appended again where found (this repair cannot tell what that run publishes), but copies
  // gone from a topic do not make them unrepairable: the backfill line lists them as left to that run.
  const leftToAnotherRun = new Set<string>();
  // Settled once every backfill ran: a vendor that lists a call under another hour than the reconcile found it in
  // (its start edited since) publishes it in a later backfill of this repair, not in the one for its own hour.
  const pending: { action: RepairAction; inRange: string[]; day: string; why: string }[] = [];
  try {
    for (const [vendor, buckets] of idsOf(report, 'missing_in_raw')) {
      const connector = ctx.connectors.find((c) => c.source.vendor === vendor);
      for (const b of buckets) {
        const windows = ctx.sourceWindows.get(bucketKey(b.vendor, b.tenant, b.day));
        const starts = b.ids.map((id) => windows?.get(id)).filter((s): s is number => s !== undefined);
        if (!connector || starts.length === 0) {
          actions.push({ kind: 'unrepairable', vendor, tenant: b.tenant, records: b.ids.length, detail: `no ${vendor} connector to backfill with`, sample: b.ids.slice(0, SAMPLE) });
          continue;
        }
        for (const range of hourRanges(starts)) {
          stopIfAborted();
          const inRange = b.ids.filter((id) => {
            const h = windows?.get(id);
            return h !== undefined && h >= range.from && h < range.to;
          });
          const what = `backfill ${new Date(range.from * 1000).toISOString()} .. ${new Date(range.to * 1000).toISOString()} for ${inRange.length} missing record(s)`;
          let summary;
          try {
            const onPublished = (keys: string[]) => keys.forEach((k) => backfilled.add(normalizedCdrId(vendor, b.tenant, k, ctx.piiKey)));
            summary = await connector.backfill({ tenant: b.tenant, from: new Date(range.from * 1000), to: new Date(range.to * 1000), windowSec: 3600, progressStream: ctx.progress, onPublished }, ctx.signal, 'cdrflow reconcile --repair');
          } catch (err) {
            if (!(err instanceof BackfillBusy)) throw err;
            // The same range is being backfilled by another run, which re-feeds these records: not read twice.
            actions.push({ kind: 'backfill', vendor, tenant: b.tenant, records: 0, detail: `${what}: not run, ${err.message}`, sample: inRange.slice(0, SAMPLE) });
            inRange.forEach((id) => leftToAnotherRun.add(id));
            continue;
          }
          refed += summary.records;
          const action: RepairAction = {
            kind: 'backfill',
            vendor,
            tenant: b.tenant,
            records: summary.records,
            detail: `${what}${summary.alreadyComplete ? ' (checkpoint says this window was backfilled before; nothing read)' : ''}`,
            sample: [],
          };
          actions.push(action);
          // A loss an earlier run of the range found stays on its checkpoint, and in the summary of a run that reads nothing.
          const lost = summary.lostSeconds > 0 ? `the vendor no longer keeps ${summary.lostFrom} .. ${summary.lostTo}` : undefined;
          const nothingRead = 'its checkpoint says the range was backfilled before; nothing read';
          const why = summary.alreadyComplete
            ? lost ? `${lost}, or the vendor did not serve them when read before (${nothingRead})` : nothingRead
            : [
                lost,
                summary.unsettledFrom ? `${summary.unsettledFrom} on had not settled (run the repair again after ${summary.retryAfter})` : undefined,
                'the vendor did not serve them when read again',
              ].filter(Boolean).join(', or ');
          pending.push({ action, inRange, day: b.day, why });
        }
      }
    }
  } finally {
    // Told, not inferred: a missing call no backfill of this repair published is still missing after it; one a
    // backfill published is in the sample of the backfill of the hour the reconcile found it in. Also when the repair
    // is stopped or fails between backfills: the backfills that ran are settled, for what it says it did before.
    for (const { action, inRange, day, why } of pending) {
      action.sample = inRange.filter((id) => backfilled.has(id)).slice(0, SAMPLE);
      const notBrought = inRange.filter((id) => !backfilled.has(id));
      if (notBrought.length > 0) actions.push({ kind: 'unrepairable', vendor: action.vendor, tenant: action.tenant, records: notBrought.length, detail: `${day}: ${notBrought.length} missing record(s) the backfill did not bring back: ${why}`, sample: notBrought.slice(0, SAMPLE) });
    }
  }
  /**
   * `buckets` without the ids of `calls`, and without the buckets left empty. Without those a backfill above re-fed
   * (published): appended again, they would be re-fed twice in one repair (the raw topic and the report holding an
   * extra copy), and no longer finding their own copies on a topic (retention) does not make them unrepairable.
   */
  const without = (buckets: IdBucket[], calls: ReadonlySet<string>): IdBucket[] =>
    buckets.map((b) => ({ ...b, ids: b.ids.filter((id) => !calls.has(id)) })).filter((b) => b.ids.length > 0);

  // 2. Raw records neither normalized nor dead-lettered, or whose latest version is not: append them again to their raw
  // topic (the copy received last, the version the reconcile found newer than the normalized one).
  // The calls appended again: normalize and the sink carry their latest version into ClickHouse, so step 3 does not
  // re-send an earlier normalized one of the same call (stale in normalized and behind in ClickHouse too).
  const appended = new Set<string>();
  for (const [vendor, all] of idsOf(report, 'not_normalized', 'stale_in_normalized')) {
    const topic = ctx.rawTopics.find((t) => t.vendor === vendor)?.topic;
    const buckets = without(all, backfilled);
    if (!topic || buckets.length === 0) continue;
    stopIfAborted();
    const wanted = new Set(buckets.flatMap((b) => b.ids));
    // The Kafka key is the raw natural key: decode only records whose key normalizes to one of the wanted ids' keys
    // (under a PII key an LVMS composite key does not read back from its cdr_id).
    const naturalKeys = new Set(buckets.flatMap((b) => b.ids.map((id) => id.slice(`${vendor}:${b.tenant}:`.length))));
    const latest: LatestCopies = new Map();
    const decode = contractDecoder<RawEnvelope>(ctx.registry, SCHEMA_FILES.rawEnvelope, topic);
    await scanTopicToEnd(
      ctx.kafka,
      topic,
      async (m) => {
        if (m.value === null || m.key === null || !naturalKeys.has(normalizedNaturalKey(vendor, m.key.toString('utf8'), ctx.piiKey))) return;
        const envelope = await decode(m.value);
        if (envelope === undefined) return; // no raw record of the contract (normalize dead-letters it)
        const id = normalizedCdrId(envelope.vendor, envelope.tenant_id, envelope.natural_key, ctx.piiKey);
        if (wanted.has(id)) keepLatest(latest, id, envelope.received_at, { key: m.key, value: m.value });
      },
      { timeoutMs: ctx.scanTimeoutMs, signal: ctx.signal },
    );
    stopIfAborted();
    await resend(ctx, topic, messagesOf(latest));
    refed += latest.size;
    for (const id of latest.keys()) appended.add(id);
    // Nothing appended is no action: it would make an after pass that can only repeat the before.
    if (latest.size > 0) actions.push({ kind: 'replay_raw', vendor, tenant: null, records: latest.size, detail: `${latest.size} raw record(s) appended again to ${topic} for normalize`, sample: [...latest.keys()].slice(0, SAMPLE) });
    listGone(without(buckets, leftToAnotherRun), latest, 'raw', topic, actions);
  }

  // 3. Normalized records missing in ClickHouse, or held there at an earlier version: append them again to the
  // normalized topic for the sink (the record received last, the version the reconcile counted).
  const missingInCh = without(without([...idsOf(report, 'not_in_clickhouse', 'stale_in_clickhouse').values()].flat(), backfilled), appended);
  const resent = new Set<string>();
  if (missingInCh.length > 0) {
    stopIfAborted();
    const wanted = new Set(missingInCh.flatMap((b) => b.ids));
    const latest: LatestCopies = new Map();
    const decode = contractDecoder<NormalizedCdr>(ctx.registry, SCHEMA_FILES.normalized, ctx.normalizedTopic);
    await scanTopicToEnd(
      ctx.kafka,
      ctx.normalizedTopic,
      async (m) => {
        const id = m.key?.toString('utf8');
        if (m.value === null || id === undefined || !wanted.has(id)) return;
        const cdr = await decode(m.value);
        if (cdr === undefined) return; // no record of the contract (the sink dead-letters it; the reconcile did not count it)
        keepLatest(latest, id, cdr.received_at, { key: m.key, value: m.value });
      },
      { timeoutMs: ctx.scanTimeoutMs, signal: ctx.signal },
    );
    stopIfAborted();
    await resend(ctx, ctx.normalizedTopic, messagesOf(latest));
    refed += latest.size;
    for (const id of latest.keys()) resent.add(id);
    if (latest.size > 0) actions.push({ kind: 'resend_normalized', vendor: null, tenant: null, records: latest.size, detail: `${latest.size} normalized record(s) appended again to ${ctx.normalizedTopic} for the sink`, sample: [...latest.keys()].slice(0, SAMPLE) });
    listGone(without(missingInCh, leftToAnotherRun), latest, 'normalized', ctx.normalizedTopic, actions);
  }

  // 4. Let the live stages carry what was re-fed into ClickHouse.
  if (refed > 0) {
    stopIfAborted();
    const drained = await waitForSnapshot(ctx.kafka, ctx.groups, { timeoutMs: ctx.waitSec * 1000, signal: ctx.signal });
    if (!drained.caughtUp) {
      ctx.log(`normalize / sink did not carry the re-fed records through (${drained.behind} behind after at most ${ctx.waitSec}s): is the pipeline running? They are applied when it runs.`);
    }
  }

  // 5. Rows stored twice: merge the months concerned (also those the re-fed records just added versions to). A row's
  // day is at the run's offset, the table's partitions are UTC months: a day at an offset can span two of them.
  const tz = parseTzOffset(report.scope.tz, 'the report\'s time zone');
  const months = new Set<string>();
  for (const row of report.rows) {
    if (row.unmergedDuplicates > 0 || (refed > 0 && row.drift.some((d) => d.repairable))) for (const m of utcMonthsOfDay(row.day, tz)) months.add(m);
  }
  const duplicates = report.rows.reduce((s, r) => s + r.unmergedDuplicates, 0);
  stopIfAborted();
  const superseded = await deleteSupersededAcrossMonths(report, tz, refed > 0, ctx);
  if (superseded.rows > 0) actions.push({ kind: 'delete_superseded', vendor: null, tenant: null, records: superseded.rows, detail: `${superseded.rows} superseded row(s) of ${superseded.ids.length} call(s) whose call time moved to another month deleted from partition(s) ${superseded.partitions.join(', ')} (no merge reaches across partitions)`, sample: superseded.ids.slice(0, SAMPLE) });
  for (const month of [...months].sort()) {
    stopIfAborted();
    // A server set to optimize_throw_if_noop=1 would fail the repair on a month already merged or without parts.
    await runBounded(ctx.clickhouse, { what: `the merge of partition ${month}`, ms: REPAIR_WRITE_MS, query: `OPTIMIZE TABLE ${quoteIdentifier(ctx.database)}.${quoteIdentifier(ctx.table)} PARTITION ID '${month}' FINAL`, settings: { optimize_throw_if_noop: 0 }, signal: ctx.signal });
  }
  if (months.size > 0) actions.push({ kind: 'merge_duplicates', vendor: null, tenant: null, records: duplicates, detail: `OPTIMIZE … FINAL on partition(s) ${[...months].sort().join(', ')} (${duplicates} unmerged duplicate row(s) before)` });

  // 6. What cannot be repaired from here. For a call re-fed above, a record extra on a day is the version it had
  // before its start moved to another day (the re-fed one's): a ClickHouse row with no normalized record on its day
  // (any re-feed), a normalized record with no raw record on its day (a raw re-feed: a normalized one leaves it with
  // none). The re-fed version supersedes it (merged above, or deleted when in another month): repaired, not left
  // (listed, it would make an after pass that agrees exit 1).
  const rawRefed = (id: string) => backfilled.has(id) || appended.has(id);
  const earlierVersion = (kind: DriftKind, id: string) => (kind === 'extra_in_clickhouse' && (rawRefed(id) || resent.has(id))) || (kind === 'extra_in_normalized' && rawRefed(id));
  for (const row of report.rows) {
    for (const d of row.drift) {
      if (d.repairable) continue;
      const ids = d.ids?.filter((id) => !earlierVersion(d.kind, id));
      if (ids?.length === 0) continue;
      const records = ids ? ids.length : d.count;
      const detail = records === d.count ? d.detail : d.detail.replace(/^\d+/, String(records));
      actions.push({ kind: 'unrepairable', vendor: row.vendor, tenant: row.tenant, records, detail: `${row.day}: ${detail}`, ...(ids ? { sample: ids.slice(0, SAMPLE) } : {}) });
    }
  }
}

/**
 * Versions of one call whose call time moved across a month's boundary (a replay under another LVMS time zone, a
 * Huawei record without callInTime pushed again after midnight at a month's end) sit in two partitions of cdr, which
 * ClickHouse never merges with each other: FINAL keeps the latest, a reader without FINAL counts both, and OPTIMIZE
 * cannot help. The superseded rows (every row of the call outside the partition of its latest version: the highest
 * version, on a tie the last inserted, as a merge keeps it) are deleted, only for days with unmerged rows or, after
 * a re-feed, with repairable drift (the re-fed version may have just landed in another partition). A row is
 * deleted only if its version is not above the one kept, so a newer version stored since the read stays.
 */
/** A call's rows: (partition, version, inserted at, source offset) each, as text. */
const storedCall = z.object({ cdr_id: z.string(), rows: z.array(z.tuple([z.string(), z.string(), z.string(), z.string()])) });

async function deleteSupersededAcrossMonths(report: ReconcileReport, tz: number, refed: boolean, ctx: RepairContext): Promise<{ rows: number; ids: string[]; partitions: string[] }> {
  // A re-fed version whose call time moved to another month than the row it supersedes lands in another partition
  // than that row: its day had nothing unmerged when the reconcile read it.
  const unmerged = report.rows.filter((row) => row.unmergedDuplicates > 0 || (refed && row.drift.some((d) => d.repairable)));
  if (unmerged.length === 0) return { rows: 0, ids: [], partitions: [] };
  const table = `${quoteIdentifier(ctx.database)}.${quoteIdentifier(ctx.table)}`;
  type Stored = z.output<typeof storedCall>;
  const calls = new Map<string, Stored['rows']>();
  for (const row of unmerged) {
    const { start, end } = dayBounds(row.day, tz);
    const stored = await readRows(ctx.clickhouse, {
      query: `SELECT cdr_id, groupArray((_partition_id, toString(version), toString(toUnixTimestamp64Milli(inserted_at)), toString(source_offset))) AS rows FROM ${table}
        WHERE cdr_id IN (SELECT cdr_id FROM ${table} WHERE vendor = {vendor:String} AND tenant_id = {tenant:String} AND call_time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND call_time < fromUnixTimestamp64Milli({to:Int64}, 'UTC'))
        GROUP BY cdr_id HAVING uniqExact(_partition_id) > 1`,
      params: { vendor: row.vendor, tenant: row.tenant, from: start, to: end },
      what: 'the rows of calls stored in two partitions',
      row: storedCall,
      bounds: RECONCILE_READ,
      signal: ctx.signal,
    });
    for (const c of stored) calls.set(c.cdr_id, c.rows);
  }
  // Per partition to delete from: each call and the version it keeps elsewhere.
  const byPartition = new Map<string, Map<string, number>>();
  let rows = 0;
  for (const [id, stored] of calls) {
    const rank = (r: Stored['rows'][number]) => r.slice(1).map(Number);
    const latest = stored.reduce((a, b) => (compareRanks(rank(b), rank(a)) > 0 ? b : a));
    for (const [partition] of stored) {
      if (partition === latest[0]) continue;
      rows++;
      let keep = byPartition.get(partition);
      if (!keep) byPartition.set(partition, (keep = new Map()));
      keep.set(id, Number(latest[1]));
    }
  }
  for (const [partition, keep] of byPartition) {
    const ids = [...keep.keys()];
    for (let i = 0; i < ids.length; i += DELETE_IDS_PER_STATEMENT) {
      ctx.signal.throwIfAborted();
      const some = ids.slice(i, i + DELETE_IDS_PER_STATEMENT);
      await runBounded(ctx.clickhouse, {
        what: `the deletion of superseded rows from partition ${partition}`,
        ms: REPAIR_WRITE_MS,
        query: `DELETE FROM ${table} IN PARTITION ID {partition:String} WHERE cdr_id IN {ids:Array(String)} AND version <= {keep:Array(UInt64)}[indexOf({ids:Array(String)}, cdr_id)]`,
        params: { partition, ids: some, keep: some.map((id) => keep.get(id)!) },
        // Done when the command returns: the after pass must not count the rows again.
        settings: { lightweight_deletes_sync: '2' },
        signal: ctx.signal,
      });
    }
  }
  return { rows, ids: [...calls.keys()].sort(), partitions: [...byPartition.keys()].sort() };
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
