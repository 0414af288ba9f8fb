// Prometheus gauges of the last reconcile run, on the host's registry (the ops /metrics of `cdrflow start`), so an
// alert can fire on drift: records and billable minutes in drift per vendor, sources that could not be read, when it
// last ran.
import { Gauge, type Registry } from 'prom-client';
import { VENDORS } from '../core/topology.ts';
import { driftMinutes, driftRecords, EXIT_NO_VERDICT, type ReconcileOutcome } from './model.ts';

export class ReconcileMetrics {
  readonly drift: Gauge<'vendor'>;
  readonly driftMinutes: Gauge<'vendor'>;
  readonly driftRows: Gauge<'vendor'>;
  readonly sourceUnreachable: Gauge<'vendor'>;
  readonly lastRun: Gauge;
  readonly lastExit: Gauge;

  constructor(registry: Registry) {
    const r = [registry];
    this.drift = new Gauge({ name: 'cdrflow_reconcile_drift_records', help: 'Records (CDRs) in drift per vendor in the last reconcile run (after its repair, if any): missing, extra or duplicated on a layer; not minutes, view differences or unreachable sources', labelNames: ['vendor'], registers: r });
    this.driftMinutes = new Gauge({ name: 'cdrflow_reconcile_drift_minutes', help: 'Billable minutes in drift per vendor in the last reconcile run (after its repair, if any): source (or raw topic) vs cdr FINAL', labelNames: ['vendor'], registers: r });
    this.driftRows = new Gauge({ name: 'cdrflow_reconcile_drift_rows', help: 'Tenant-days with drift per vendor in the last reconcile run', labelNames: ['vendor'], registers: r });
    this.sourceUnreachable = new Gauge({ name: 'cdrflow_reconcile_source_unreachable', help: '1 when the last reconcile run could not read the vendor API', labelNames: ['vendor'], registers: r });
    this.lastRun = new Gauge({ name: 'cdrflow_reconcile_last_run_timestamp_seconds', help: 'When the last reconcile run finished (Unix time)', registers: r });
    this.lastExit = new Gauge({
      name: 'cdrflow_reconcile_last_run_exit_code',
      help: `Exit code of the last reconcile run: 0 agree, 1 drift, 2 source unreachable, ${EXIT_NO_VERDICT} failed (no verdict); no sample until a run has ended`,
      registers: r,
    });
    // prom-client exports a gauge without labels at 0 from the start, which here would read "everything agrees".
    this.lastExit.remove();
  }

  observe(outcome: ReconcileOutcome): void {
    const report = outcome.after ?? outcome.before;
    for (const vendor of VENDORS) {
      const rows = report.rows.filter((r) => r.vendor === vendor);
      if (rows.length === 0 && !report.scope.vendors.includes(vendor)) continue;
      this.drift.set({ vendor }, rows.reduce((s, r) => s + driftRecords(r.drift), 0));
      this.driftMinutes.set({ vendor }, rows.reduce((s, r) => s + driftMinutes(r.drift), 0));
      this.driftRows.set({ vendor }, rows.filter((r) => r.drift.length > 0).length);
      this.sourceUnreachable.set({ vendor }, report.sourceUnreachable.includes(vendor) ? 1 : 0);
    }
    this.lastRun.set(Date.parse(report.finishedAt) / 1000);
    this.lastExit.set(outcome.exitCode);
  }

  /** A run that failed before a verdict (Kafka, ClickHouse or the registry unreachable…): the figures stay the last verdict's. */
  failed(): void {
    this.lastExit.set(EXIT_NO_VERDICT);
  }
}
