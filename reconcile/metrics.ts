// Prometheus gauges of the reconcile runs, on the host's registry (the ops /metrics of `cdrflow start`), so an alert
// can fire on drift: records and billable minutes in drift per vendor, sources that could not be read or refused us, when it last
// ran. The verdict gauges (what the alert rules read) describe the job's scheduled runs only (reconcile.schedule): an
// ad-hoc run — `cdrflow reconcile` forwarded to the job, any POST /reconcile — checks whatever scope it was given (an
// empty or future day agrees trivially) and must neither clear nor replace that verdict. Every run, ad-hoc ones
// included, is counted by trigger and exit code, recorded in reconcile_runs and logged.
import { Counter, Gauge, type Registry } from 'prom-client';
import { VENDORS } from '../core/topology.ts';
import { driftMinutes, driftRecords, EXIT_NO_VERDICT, RECONCILE_TRIGGERS, type ReconcileOutcome, type ReconcileTrigger } from './model.ts';

/** Every exit code a run can end with: 0 agree, 1 drift, 2 source unreachable, EXIT_NO_VERDICT failed. */
const EXIT_CODES = ['0', '1', '2', String(EXIT_NO_VERDICT)] as const;

const SCHEDULED = 'in the last scheduled reconcile run (reconcile.schedule; ad-hoc runs — cdrflow reconcile, POST /reconcile — leave it unchanged)';

export class ReconcileMetrics {
  readonly drift: Gauge<'vendor'>;
  readonly driftMinutes: Gauge<'vendor'>;
  readonly driftRows: Gauge<'vendor'>;
  readonly sourceUnreachable: Gauge<'vendor'>;
  readonly sourceRefused: Gauge<'vendor'>;
  readonly lastRun: Gauge;
  readonly lastExit: Gauge;
  readonly runs: Counter<'trigger' | 'exit_code'>;

  constructor(registry: Registry) {
    const r = [registry];
    this.drift = new Gauge({ name: 'cdrflow_reconcile_drift_records', help: `Records (CDRs) in drift per vendor ${SCHEDULED}, after its repair if any: missing, extra, stale or duplicated on a layer, and, of a tenant whose after pass agrees, those the repair listed as unrepairable (gone from where that pass looks); not minutes, view differences or unreachable sources`, labelNames: ['vendor'], registers: r });
    this.driftMinutes = new Gauge({ name: 'cdrflow_reconcile_drift_minutes', help: `Billable minutes in drift per vendor ${SCHEDULED}, after its repair if any: source (or raw topic) vs cdr FINAL`, labelNames: ['vendor'], registers: r });
    this.driftRows = new Gauge({ name: 'cdrflow_reconcile_drift_rows', help: `Tenant-days with drift per vendor ${SCHEDULED}, after its repair if any, and the days with drift before it of a tenant whose records the repair listed as unrepairable while its after pass agrees`, labelNames: ['vendor'], registers: r });
    this.sourceUnreachable = new Gauge({ name: 'cdrflow_reconcile_source_unreachable', help: `1 when the vendor API could not be read ${SCHEDULED}`, labelNames: ['vendor'], registers: r });
    // Apart from unreachable: a refusal (a credential, a permission, a parameter the vendor does not accept) is not
    // retried and does not heal by itself, and an operator fixes it in another place than a network outage.
    this.sourceRefused = new Gauge({ name: 'cdrflow_reconcile_source_refused', help: `1 when the vendor API refused the reconcile's request (not retried: credentials, permissions, a parameter) ${SCHEDULED}`, labelNames: ['vendor'], registers: r });
    this.lastRun = new Gauge({ name: 'cdrflow_reconcile_last_run_timestamp_seconds', help: `When the last scheduled reconcile run finished (Unix time; reconcile.schedule, ad-hoc runs do not count)`, registers: r });
    this.lastExit = new Gauge({
      name: 'cdrflow_reconcile_last_run_exit_code',
      help: `Exit code of the last scheduled reconcile run (reconcile.schedule; ad-hoc runs leave it unchanged): 0 agree, 1 drift, 2 source unreachable, ${EXIT_NO_VERDICT} failed (no verdict); a run the job's stop ended leaves it unchanged; no sample until a scheduled run has ended`,
      registers: r,
    });
    // prom-client exports a gauge without labels at 0 from the start, which here would read "everything agrees".
    this.lastExit.remove();
    this.runs = new Counter({
      name: 'cdrflow_reconcile_runs_total',
      help: `Reconcile runs that ended in this process (not one its stop ended: the job's, or the client gone), by trigger (schedule: reconcile.schedule; ops: POST /reconcile, which cdrflow reconcile uses while the job runs; cli: cdrflow reconcile in its own process) and exit code (0 agree, 1 drift, 2 source unreachable, ${EXIT_NO_VERDICT} failed, no verdict)`,
      labelNames: ['trigger', 'exit_code'],
      registers: r,
    });
    for (const trigger of RECONCILE_TRIGGERS) for (const code of EXIT_CODES) this.runs.inc({ trigger, exit_code: code }, 0);
  }

  /** A run that reached a verdict: counted; only a scheduled one sets the verdict gauges. */
  observe(outcome: ReconcileOutcome, trigger: ReconcileTrigger): void {
    this.runs.inc({ trigger, exit_code: String(outcome.exitCode) });
    if (trigger !== 'schedule') return;
    const report = outcome.after ?? outcome.before;
    for (const vendor of VENDORS) {
      const rows = report.rows.filter((r) => r.vendor === vendor);
      if (rows.length === 0 && !report.scope.vendors.includes(vendor)) continue;
      let records = rows.reduce((s, r) => s + driftRecords(r.drift), 0);
      let driftRows = rows.filter((r) => r.drift.length > 0).length;
      // What a repair lists as unrepairable is mostly gone from where its after pass looks (a record a topic's
      // retention removed, a call the vendor no longer serves): an after pass that agrees would clear the alert on
      // records lost for good, while the run exits 1 for them (repairExitCode). They are drift then, on the before
      // pass's days of their tenants. Per tenant: one whose after pass agrees cannot show them there (no double count),
      // whatever another tenant of the vendor still shows; one whose after pass has drift may, so its own counts.
      const agrees = (tenant: string | null) => !rows.some((r) => r.drift.length > 0 && (tenant === null || r.tenant === tenant));
      const lost = outcome.after ? (outcome.repair ?? []).filter((a) => a.kind === 'unrepairable' && a.vendor === vendor && agrees(a.tenant)) : [];
      if (lost.length > 0) {
        records += lost.reduce((s, a) => s + a.records, 0);
        driftRows += outcome.before.rows.filter((r) => r.vendor === vendor && r.drift.length > 0 && lost.some((a) => a.tenant === null || a.tenant === r.tenant)).length;
      }
      this.drift.set({ vendor }, records);
      this.driftMinutes.set({ vendor }, rows.reduce((s, r) => s + driftMinutes(r.drift), 0));
      this.driftRows.set({ vendor }, driftRows);
      this.sourceUnreachable.set({ vendor }, report.sourceUnreachable.includes(vendor) ? 1 : 0);
      this.sourceRefused.set({ vendor }, rows.some((r) => r.drift.some((d) => d.kind === 'source_refused')) ? 1 : 0);
    }
    this.lastRun.set(Date.parse(report.finishedAt) / 1000);
    this.lastExit.set(outcome.exitCode);
  }

  /**
   * A run that failed before a verdict (Kafka, ClickHouse or the registry unreachable…): counted; a scheduled one sets
   * the exit code to EXIT_NO_VERDICT, the figures stay the last verdict's.
   */
  failed(trigger: ReconcileTrigger): void {
    this.runs.inc({ trigger, exit_code: String(EXIT_NO_VERDICT) });
    if (trigger === 'schedule') this.lastExit.set(EXIT_NO_VERDICT);
  }
}
