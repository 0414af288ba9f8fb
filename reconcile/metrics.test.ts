// The gauges of the last reconcile run as /metrics serves them.
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { ReconcileMetrics } from './metrics.ts';
import type { Drift, ReconcileOutcome, ReconcileRow } from './model.ts';

function row(vendor: ReconcileRow['vendor'], tenant: string, drift: Drift[]): ReconcileRow {
  return {
    vendor,
    tenant,
    day: '2026-11-30',
    sourceKind: 'api',
    source: null,
    raw: { records: 0, minutes: 0 },
    normalized: { records: 0, minutes: 0 },
    deadLettered: 0,
    clickhouse: { count: 0, uniq: 0, minutes: 0, storedRows: 0 },
    views: { cdr_daily: null, cdr_hourly: { calls: 0, minutes: 0 }, cdr_end_status: null },
    unmergedDuplicates: 0,
    inFlight: 0,
    drift,
  };
}

const drift = (kind: Drift['kind'], count: number): Drift => ({ kind, count, detail: `${kind} ${count}`, repairable: false });

function outcome(rows: ReconcileRow[], exitCode: 0 | 1 | 2): ReconcileOutcome {
  const report = {
    runId: 'r',
    startedAt: '2026-12-01T10:00:00.000Z',
    finishedAt: '2026-12-01T10:00:10.000Z',
    scope: { from: '2026-11-30', to: '2026-11-30', tz: 'UTC', cutoff: '2026-12-01T09:00:00.000Z', vendors: [...new Set(rows.map((r) => r.vendor))], tenants: null },
    rows,
    notes: [],
    driftRows: rows.filter((r) => r.drift.length > 0).length,
    sourceUnreachable: [],
    exitCode,
  };
  return { before: report, exitCode };
}

const sample = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(name) && !l.startsWith('#'));

describe('reconcile gauges', () => {
  it('count records in drift, not minutes, view differences or an unreachable source', async () => {
    const registry = new Registry();
    const metrics = new ReconcileMetrics(registry);
    metrics.observe(
      outcome(
        [
          row('tencent-ccc', '1400', [drift('not_in_source', 1), drift('minutes', 87), drift('not_in_clickhouse', 2), drift('view', 3)]),
          row('tencent-ccc', '1401', [drift('source_unreachable', 1)]),
          row('huawei-privatenumber', 'hw', [drift('minutes', 5)]),
        ],
        2,
      ),
    );
    const text = await registry.metrics();
    expect(text).toContain('cdrflow_reconcile_drift_records{vendor="tencent-ccc"} 3');
    expect(text).toContain('cdrflow_reconcile_drift_records{vendor="huawei-privatenumber"} 0');
    expect(text).toContain('cdrflow_reconcile_drift_minutes{vendor="tencent-ccc"} 87');
    expect(text).toContain('cdrflow_reconcile_drift_minutes{vendor="huawei-privatenumber"} 5');
    expect(text).toContain('cdrflow_reconcile_drift_rows{vendor="tencent-ccc"} 2');
  });

  it('export no exit code before a run has ended (0 would read "everything agrees"), then the last run\'s', async () => {
    const registry = new Registry();
    const metrics = new ReconcileMetrics(registry);
    expect(sample(await registry.metrics(), 'cdrflow_reconcile_last_run_exit_code')).toEqual([]);
    metrics.observe(outcome([row('tencent-ccc', '1400', [drift('not_in_source', 1)])], 1));
    expect(sample(await registry.metrics(), 'cdrflow_reconcile_last_run_exit_code')).toEqual(['cdrflow_reconcile_last_run_exit_code 1']);
    metrics.observe(outcome([row('tencent-ccc', '1400', [])], 0));
    expect(sample(await registry.metrics(), 'cdrflow_reconcile_last_run_exit_code')).toEqual(['cdrflow_reconcile_last_run_exit_code 0']);
    // A run that could not be made: no verdict (3); the drift figures stay the last verdict's.
    metrics.failed();
    const text = await registry.metrics();
    expect(sample(text, 'cdrflow_reconcile_last_run_exit_code')).toEqual(['cdrflow_reconcile_last_run_exit_code 3']);
    expect(text).toContain('cdrflow_reconcile_drift_records{vendor="tencent-ccc"} 0');
  });
});
