// Prometheus gauges of the last reconcile run, on the host's registry (the ops /metrics of `cdrflow start`), so an
// alert can fire on drift: records in drift per vendor, sources that could not be read, when it last ran.
import { Gauge, type Registry } from 'prom-client';
import { VENDORS } from '../core/topology.ts';
import type { ReconcileOutcome } from './model.ts';

export class ReconcileMetrics {
  readonly drift: Gauge<'vendor'>;
  readonly driftRows: Gauge<'vendor'>;
  readonly sourceUnreachable: Gauge<'vendor'>;
  readonly lastRun: Gauge;
  readonly lastExit: Gauge;

  constructor(registry: Registry) {
    const r = [registry];
    this.drift = new Gauge({ name: 'cdrflow_reconcile_drift_records', help: 'Records in drift per vendor in the last reconcile run (after its repair, if any)', labelNames: ['vendor'], registers: r });
    this.driftRows = new Gauge({ name: 'cdrflow_reconcile_drift_rows', help: 'Tenant-days with drift per vendor in the last reconcile run', labelNames: ['vendor'], registers: r });
    this.sourceUnreachable = new Gauge({ name: 'cdrflow_reconcile_source_unreachable', help: '1 when the last reconcile run could not read the vendor API', labelNames: ['vendor'], registers: r });
    this.lastRun = new Gauge({ name: 'cdrflow_reconcile_last_run_timestamp_seconds', help: 'When the last reconcile run finished (Unix time)', registers: r });
    this.lastExit = new Gauge({ name: 'cdrflow_reconcile_last_run_exit_code', help: 'Exit code of the last reconcile run: 0 agree, 1 drift, 2 source unreachable', registers: r });
  }

  observe(outcome: ReconcileOutcome): void {
    const report = outcome.after ?? outcome.before;
    for (const vendor of VENDORS) {
      const rows = report.rows.filter((r) => r.vendor === vendor);
      if (rows.length === 0 && !report.scope.vendors.includes(vendor)) continue;
      this.drift.set({ vendor }, rows.reduce((s, r) => s + r.drift.filter((d) => d.kind !== 'source_unreachable').reduce((n, d) => n + d.count, 0), 0));
      this.driftRows.set({ vendor }, rows.filter((r) => r.drift.length > 0).length);
      this.sourceUnreachable.set({ vendor }, report.sourceUnreachable.includes(vendor) ? 1 : 0);
    }
    this.lastRun.set(Date.parse(report.finishedAt) / 1000);
    this.lastExit.set(outcome.exitCode);
  }
}
