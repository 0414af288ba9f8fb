// Every run is recorded in ClickHouse (`reconcile_runs`, migration 0007): when, scope, each layer's figures, the drift
// and what the repair did — one row per pass (before / after) and vendor × tenant × day.
import type { ClickHouseClient } from '@clickhouse/client';
import { INSERT_WRITE_MS, quoteIdentifier, runBounded } from '../core/clickhouse.ts';
import { isMissingSchemaError } from '../sinks/clickhouse/errors.ts';
import { driftRecords, type ReconcileOutcome, type ReconcileReport, type RepairAction } from './model.ts';

function rowsOf(report: ReconcileReport, pass: 'before' | 'after', trigger: string, repair: RepairAction[] | undefined) {
  return report.rows.map((r) => ({
    run_id: report.runId,
    started_at: Date.parse(report.startedAt),
    finished_at: Date.parse(report.finishedAt),
    trigger,
    pass,
    scope_from: report.scope.from,
    scope_to: report.scope.to,
    tz: report.scope.tz,
    cutoff: Date.parse(report.scope.cutoff),
    repair: repair !== undefined,
    vendor: r.vendor,
    tenant_id: r.tenant,
    day: r.day,
    // A day beyond the vendor's horizon was never asked for: with 'api' its null source figures would read as a vendor
    // that answered nothing. A String column, so the new value needs no migration.
    source_kind: r.sourceBeyondHorizon !== undefined ? 'beyond' : r.sourceKind,
    source_records: r.source?.records ?? null,
    source_minutes: r.source?.minutes ?? null,
    raw_records: r.raw.records,
    normalized_records: r.normalized.records,
    dead_lettered: r.deadLettered,
    clickhouse_count: r.clickhouse.count,
    clickhouse_uniq: r.clickhouse.uniq,
    clickhouse_minutes: r.clickhouse.minutes,
    clickhouse_stored_rows: r.clickhouse.storedRows,
    daily_calls: r.views.cdr_daily?.calls ?? null,
    daily_minutes: r.views.cdr_daily?.minutes ?? null,
    hourly_calls: r.views.cdr_hourly.calls,
    hourly_minutes: r.views.cdr_hourly.minutes ?? 0,
    end_status_calls: r.views.cdr_end_status?.calls ?? null,
    drift_records: driftRecords(r.drift),
    // Array(Tuple(kind, records, detail)): JSONEachRow reads a named tuple as an object keyed by the element names.
    drift: r.drift.map((d) => ({ kind: d.kind, records: d.count, detail: d.detail })),
    repaired: (repair ?? []).filter((a) => (a.vendor === null || a.vendor === r.vendor) && (a.tenant === null || a.tenant === r.tenant)).map((a) => ({ kind: a.kind, records: a.records, detail: a.detail })),
  }));
}

export async function recordRun(client: ClickHouseClient, database: string, outcome: ReconcileOutcome, trigger: string): Promise<number> {
  const values = [...rowsOf(outcome.before, 'before', trigger, outcome.repair), ...(outcome.after ? rowsOf(outcome.after, 'after', trigger, outcome.repair) : [])];
  if (values.length === 0) return 0;
  await runBounded(client, {
    what: 'the record of a reconcile run',
    ms: INSERT_WRITE_MS,
    table: `${quoteIdentifier(database)}.reconcile_runs`,
    values: { format: 'JSONEachRow', rows: values },
    // A token of its own: the embedded engine would otherwise reuse the last insert's token and drop these rows.
    settings: { insert_deduplication_token: `reconcile_runs:${outcome.before.runId}` },
  });
  return values.length;
}

/** Why a run could not be recorded; `cdrflow migrate` is suggested only when the table (or its database) is missing. */
export function recordRunFailure(database: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `could not record the run in ${database}.reconcile_runs: ${message.trim()}${isMissingSchemaError(err) ? ' (run `cdrflow migrate`)' : ''}`;
}
