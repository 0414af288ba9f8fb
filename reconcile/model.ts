// What a reconcile run produces: one row per vendor × tenant × day with the figures of every layer side by side,
// the drift found between them, and (with --repair) what was done about it. Plain data: rendered as a table, JSON,
// ClickHouse rows (`reconcile_runs`) and Prometheus gauges.
import type { Vendor } from '../core/topology.ts';

/**
 * Who asked for a run: `schedule` the job's own runs (reconcile.schedule), whose verdict the alerting gauges carry;
 * `ops` a POST /reconcile on the job's ops port (what `cdrflow reconcile` sends while `cdrflow start` runs); `cli`
 * `cdrflow reconcile` in its own process. Recorded in reconcile_runs.trigger.
 */
export const RECONCILE_TRIGGERS = ['schedule', 'ops', 'cli'] as const;
export type ReconcileTrigger = (typeof RECONCILE_TRIGGERS)[number];

/**
 * Pull vendors are re-read from their API; for push vendors the raw topic (what the receiver acknowledged) is the source.
 * reconcile_runs.source_kind also takes `beyond`: an `api` row with sourceBeyondHorizon set (see history.ts).
 */
export type SourceKind = 'api' | 'raw-topic';

export interface ViewFigures {
  calls: number;
  minutes: number | null;
}

export interface ClickHouseFigures {
  /** count() over cdr FINAL. */
  count: number;
  /** uniqExact(cdr_id) over cdr FINAL. */
  uniq: number;
  minutes: number;
  /** count() without FINAL: stored rows including versions not merged yet. */
  storedRows: number;
}

export type DriftKind =
  | 'missing_in_raw'
  | 'not_in_source'
  | 'not_normalized'
  | 'stale_in_normalized'
  | 'extra_in_normalized'
  | 'not_in_clickhouse'
  | 'stale_in_clickhouse'
  | 'extra_in_clickhouse'
  | 'final_not_unique'
  | 'minutes'
  | 'view'
  | 'source_unreachable'
  | 'source_refused';

/**
 * The kinds whose `count` is a number of records (CDRs). The others are not: `minutes` counts billable minutes, `view`
 * the calls (or, when those agree, the minutes) an aggregate view differs by, `source_unreachable` a tenant whose API
 * could not be read. Sums of records in drift (`drift_records` in reconcile_runs, `cdrflow_reconcile_drift_records`)
 * add only these.
 */
export const RECORD_DRIFT_KINDS: ReadonlySet<DriftKind> = new Set<DriftKind>(['missing_in_raw', 'not_in_source', 'not_normalized', 'stale_in_normalized', 'extra_in_normalized', 'not_in_clickhouse', 'stale_in_clickhouse', 'extra_in_clickhouse', 'final_not_unique']);

/** Records in drift: the counts of the record kinds only (see RECORD_DRIFT_KINDS). */
export function driftRecords(drift: readonly Drift[]): number {
  return drift.reduce((n, d) => (RECORD_DRIFT_KINDS.has(d.kind) ? n + d.count : n), 0);
}

/** Billable minutes in drift: the `minutes` kind (source or raw vs cdr FINAL). */
export function driftMinutes(drift: readonly Drift[]): number {
  return drift.reduce((n, d) => (d.kind === 'minutes' ? n + d.count : n), 0);
}

export interface Drift {
  kind: DriftKind;
  /**
   * Records concerned for the record kinds (RECORD_DRIFT_KINDS); for `minutes` the difference in billable minutes, for
   * `view` in calls (else minutes), for `source_unreachable` and `source_refused` (the vendor refused the request's
   * parameters; a day older than it serves is never asked for, see ReconcileRow.sourceBeyondHorizon) 1.
   */
  count: number;
  detail: string;
  /** Every cdr_id concerned (repair works from these); reports show the first 50. */
  ids?: string[];
  /** In JSON output, instead of `ids`: the first 50. */
  sample?: string[];
  repairable: boolean;
}

export interface ReconcileRow {
  vendor: Vendor;
  tenant: string;
  day: string;
  sourceKind: SourceKind;
  /**
   * Null when the source could not be read (see drift `source_unreachable`) or is the raw topic. `keyless`: records the
   * poller refuses at the door (no natural key, or over a limit) and dead-letters; the name predates the other limits.
   */
  source: { records: number; minutes: number; keyless: number } | null;
  /**
   * Set when the day reaches further back than the vendor can be queried (CCC, 180 days) or keeps (TRTC, 7 days): it
   * was not asked for and cannot be checked against the vendor (`source` null, no source drift), in the pollers'
   * words, of the day ("is further back than tencent-ccc can be queried (180 days)"). Not a refusal, not drift.
   */
  sourceBeyondHorizon?: string;
  raw: { records: number; minutes: number };
  normalized: { records: number; minutes: number };
  /**
   * Calls whose counted raw record normalize dead-lettered, plus calls whose counted normalized record the sink did:
   * that very message, not an earlier version or copy of it. Less the calls normalized since at that version (a
   * replay of the refused raw record), the calls the sink refused at a version older than the raw topic's latest
   * (that latest one counts), and the calls cdr FINAL holds at the refused version or a later one (stored after all: a
   * later delivery of the same message); each call once, on its counted version's day.
   */
  deadLettered: number;
  clickhouse: ClickHouseFigures;
  views: { cdr_daily: ViewFigures | null; cdr_hourly: ViewFigures; cdr_end_status: ViewFigures | null };
  /** Rows stored twice that a reader without FINAL would double count (merged by --repair); not drift: FINAL hides them. */
  unmergedDuplicates: number;
  /**
   * Records missing on one layer in the first look at a day still in progress but not missing in a second look a
   * little later (polled, normalized or inserted meanwhile): in flight at the live edge, not drift.
   */
  inFlight: number;
  drift: Drift[];
}

export interface ReconcileScopeInfo {
  from: string;
  to: string;
  tz: string;
  cutoff: string;
  vendors: Vendor[];
  tenants: string[] | null;
}

export interface RepairAction {
  kind: 'backfill' | 'replay_raw' | 'resend_normalized' | 'merge_duplicates' | 'delete_superseded' | 'unrepairable';
  vendor: Vendor | null;
  tenant: string | null;
  /** Records re-published / rows merged / superseded rows deleted / records that cannot be repaired. */
  records: number;
  detail: string;
  sample?: string[];
}

export interface ReconcileReport {
  runId: string;
  startedAt: string;
  finishedAt: string;
  scope: ReconcileScopeInfo;
  rows: ReconcileRow[];
  notes: string[];
  /** Rows with drift (source unreachable included). */
  driftRows: number;
  sourceUnreachable: Vendor[];
  /** 0 everything agrees, 1 drift, 2 a source could not be read. */
  exitCode: 0 | 1 | 2;
}

/**
 * Exit code of a reconcile that gives no verdict about the data: the run could not be made (another run in progress,
 * Kafka, ClickHouse or the registry unreachable, or any other failure of the run itself). 0 / 1 / 2 are verdicts (see
 * ReconcileReport.exitCode); 64 stays a usage error and 78 a configuration error, as in every command.
 */
export const EXIT_NO_VERDICT = 3;

export interface ReconcileOutcome {
  before: ReconcileReport;
  repair?: RepairAction[];
  after?: ReconcileReport;
  /** The exit code of the run: the after-pass when there is one, 1 if it agrees but the repair listed records as unrepairable. */
  exitCode: 0 | 1 | 2;
}
