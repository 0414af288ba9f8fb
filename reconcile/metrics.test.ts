// The gauges of the last scheduled reconcile run as /metrics serves them, and the count of every run by trigger.
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
          row('tencent-trtc', '1500', [drift('source_refused', 1)]),
          row('huawei-privatenumber', 'hw', [drift('minutes', 5)]),
        ],
        2,
      ),
      'schedule',
    );
    const text = await registry.metrics();
    // An unreachable source and a refusing one are told apart (the README's alerts name both).
    expect(sample(text, 'cdrflow_reconcile_source_refused{')).toEqual(['cdrflow_reconcile_source_refused{vendor="tencent-ccc"} 0', 'cdrflow_reconcile_source_refused{vendor="tencent-trtc"} 1', 'cdrflow_reconcile_source_refused{vendor="huawei-privatenumber"} 0']);
    expect(text).toContain('cdrflow_reconcile_drift_records{vendor="tencent-trtc"} 0');
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
    metrics.observe(outcome([row('tencent-ccc', '1400', [drift('not_in_source', 1)])], 1), 'schedule');
    expect(sample(await registry.metrics(), 'cdrflow_reconcile_last_run_exit_code')).toEqual(['cdrflow_reconcile_last_run_exit_code 1']);
    metrics.observe(outcome([row('tencent-ccc', '1400', [])], 0), 'schedule');
    expect(sample(await registry.metrics(), 'cdrflow_reconcile_last_run_exit_code')).toEqual(['cdrflow_reconcile_last_run_exit_code 0']);
    // A run that could not be made: no verdict (3); the drift figures stay the last verdict's.
    metrics.failed('schedule');
    const text = await registry.metrics();
    expect(sample(text, 'cdrflow_reconcile_last_run_exit_code')).toEqual(['cdrflow_reconcile_last_run_exit_code 3']);
    expect(text).toContain('cdrflow_reconcile_drift_records{vendor="tencent-ccc"} 0');
  });

  it('carry the scheduled verdict: an ad-hoc run of an empty or future day neither clears nor replaces it', async () => {
    const registry = new Registry();
    const metrics = new ReconcileMetrics(registry);
    const scheduled = outcome([row('tencent-ccc', '1400', [drift('not_in_clickhouse', 2), drift('minutes', 7)])], 1);
    metrics.observe(scheduled, 'schedule');
    const verdict = (text: string) => text.split('\n').filter((l) => /^cdrflow_reconcile_(drift_|source_unreachable|source_refused|last_run_)/.test(l));
    const before = verdict(await registry.metrics());
    expect(before).toContain('cdrflow_reconcile_drift_rows{vendor="tencent-ccc"} 1');
    expect(before).toContain('cdrflow_reconcile_last_run_exit_code 1');
    expect(before).toContain(`cdrflow_reconcile_last_run_timestamp_seconds ${Date.parse('2026-12-01T10:00:10.000Z') / 1000}`);

    // `cdrflow reconcile --from 2099-01-01 --to 2099-01-01` forwarded to the job: no rows, every vendor in scope, exit 0,
    // finished later.
    const future = outcome([], 0);
    future.before.scope = { ...future.before.scope, from: '2099-01-01', to: '2099-01-01', vendors: ['tencent-ccc', 'tencent-trtc', 'huawei-privatenumber', 'alibaba-lvms'] };
    future.before.finishedAt = '2026-12-01T11:00:00.000Z';
    metrics.observe(future, 'ops');
    metrics.observe(future, 'cli');
    // …nor does an ad-hoc run that failed before a verdict.
    metrics.failed('ops');
    const text = await registry.metrics();
    expect(verdict(text)).toEqual(before);
    // Ad-hoc runs are counted by trigger and exit code, apart from the verdict.
    expect(sample(text, 'cdrflow_reconcile_runs_total{trigger="ops"')).toEqual([
      'cdrflow_reconcile_runs_total{trigger="ops",exit_code="0"} 1',
      'cdrflow_reconcile_runs_total{trigger="ops",exit_code="1"} 0',
      'cdrflow_reconcile_runs_total{trigger="ops",exit_code="2"} 0',
      'cdrflow_reconcile_runs_total{trigger="ops",exit_code="3"} 1',
    ]);
    expect(text).toContain('cdrflow_reconcile_runs_total{trigger="cli",exit_code="0"} 1');
    expect(text).toContain('cdrflow_reconcile_runs_total{trigger="schedule",exit_code="1"} 1');

    // The next scheduled run replaces the verdict, as before.
    metrics.observe(outcome([row('tencent-ccc', '1400', [])], 0), 'schedule');
    const after = await registry.metrics();
    expect(after).toContain('cdrflow_reconcile_drift_rows{vendor="tencent-ccc"} 0');
    expect(sample(after, 'cdrflow_reconcile_last_run_exit_code')).toEqual(['cdrflow_reconcile_last_run_exit_code 0']);
  });

  it('count the records a repair listed as unrepairable when its after pass agrees: the run exits 1, and so the alert fires', async () => {
    const registry = new Registry();
    const metrics = new ReconcileMetrics(registry);
    // Before: CCC tenant 1400 had 3 records not normalized, one of its other days agreed; TRTC had 1 missing in
    // ClickHouse. The repair re-fed 1 CCC record and the TRTC one; 2 CCC raw records were gone from their topic
    // (retention), so they are gone from where the after pass looks too: it agrees, the run exits 1 (repairExitCode).
    const before = outcome([row('tencent-ccc', '1400', [drift('not_normalized', 3)]), { ...row('tencent-ccc', '1400', []), day: '2026-11-29' }, row('tencent-trtc', '1500', [drift('not_in_clickhouse', 1)])], 1).before;
    const after = outcome([row('tencent-ccc', '1400', []), { ...row('tencent-ccc', '1400', []), day: '2026-11-29' }, row('tencent-trtc', '1500', [])], 0).before;
    metrics.observe(
      {
        before,
        repair: [
          { kind: 'replay_raw', vendor: 'tencent-ccc', tenant: null, records: 1, detail: '1 raw record(s) appended again' },
          { kind: 'resend_normalized', vendor: null, tenant: null, records: 1, detail: '1 normalized record(s) appended again' },
          { kind: 'unrepairable', vendor: 'tencent-ccc', tenant: '1400', records: 2, detail: '2026-11-30: 2 raw record(s) no longer on cdr.raw.tencent-ccc', sample: ['a', 'b'] },
        ],
        after,
        exitCode: 1,
      },
      'schedule',
    );
    const text = await registry.metrics();
    expect(sample(text, 'cdrflow_reconcile_last_run_exit_code')).toEqual(['cdrflow_reconcile_last_run_exit_code 1']);
    expect(text).toContain('cdrflow_reconcile_drift_records{vendor="tencent-ccc"} 2');
    expect(text).toContain('cdrflow_reconcile_drift_rows{vendor="tencent-ccc"} 1');
    // A vendor the repair closed entirely agrees.
    expect(text).toContain('cdrflow_reconcile_drift_records{vendor="tencent-trtc"} 0');
    expect(text).toContain('cdrflow_reconcile_drift_rows{vendor="tencent-trtc"} 0');
  });

  it('count the records a repair listed as unrepairable of a tenant whose after pass agrees, beside another tenant\'s drift left', async () => {
    const registry = new Registry();
    const metrics = new ReconcileMetrics(registry);
    // Before: CCC tenant 1400 had 1 record missing in ClickHouse, tenant 1401 3 records not normalized. The repair
    // re-fed 1401's one; 2 of its raw records were gone from their topic (retention), so the after pass no longer sees
    // them: 1401 agrees there, while 1400's record is still missing (a sink refusing it again).
    const before = outcome([row('tencent-ccc', '1400', [drift('not_in_clickhouse', 1)]), row('tencent-ccc', '1401', [drift('not_normalized', 3)])], 1).before;
    const after = outcome([row('tencent-ccc', '1400', [drift('not_in_clickhouse', 1)]), row('tencent-ccc', '1401', [])], 1).before;
    metrics.observe(
      {
        before,
        repair: [
          { kind: 'resend_normalized', vendor: null, tenant: null, records: 1, detail: '1 normalized record(s) appended again' },
          { kind: 'replay_raw', vendor: 'tencent-ccc', tenant: null, records: 1, detail: '1 raw record(s) appended again' },
          { kind: 'unrepairable', vendor: 'tencent-ccc', tenant: '1401', records: 2, detail: '2026-11-30: 2 raw record(s) no longer on cdr.raw.tencent-ccc', sample: ['a', 'b'] },
        ],
        after,
        exitCode: 1,
      },
      'schedule',
    );
    const text = await registry.metrics();
    // 1400's record still in drift after the repair, and 1401's two lost for good; 1400's day and 1401's.
    expect(text).toContain('cdrflow_reconcile_drift_records{vendor="tencent-ccc"} 3');
    expect(text).toContain('cdrflow_reconcile_drift_rows{vendor="tencent-ccc"} 2');
  });

  it('count every trigger and exit code at 0 before the first run', async () => {
    const text = await (async () => {
      const registry = new Registry();
      new ReconcileMetrics(registry);
      return registry.metrics();
    })();
    expect(sample(text, 'cdrflow_reconcile_runs_total')).toHaveLength(12);
    expect(sample(text, 'cdrflow_reconcile_runs_total').every((l) => l.endsWith(' 0'))).toBe(true);
  });
});
