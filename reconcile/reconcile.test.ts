// The one check of a reconcile request (the CLI's flags and the job's POST /reconcile), and which runs may set the
// alerting gauges when a run fails before its verdict.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from '../core/kafka.ts';
import { checkRequest, CLI_REQUEST_NAMES, JSON_REQUEST_NAMES, runReconcile, type ReconcileDeps, type RequestInput } from './reconcile.ts';
import { ReconcileMetrics } from './metrics.ts';
import { reconcileConfigSchema } from './config.ts';
import { REPO_ROOT } from '../core/repo-root.ts';
import type { ReconcileReport } from './model.ts';

// The first step of a run waits for the stages; here it fails at once, as when Kafka cannot be reached.
vi.mock('./pipeline.ts', () => ({ waitForSnapshot: () => Promise.reject(new Error('Kafka unreachable')), waitForStages: () => Promise.reject(new Error('Kafka unreachable')) }));

const NOW = Date.parse('2026-12-01T10:00:00Z');
const ctx = (settleSec = 3600) => ({ now: NOW, trigger: 'cli' as const, defaults: () => ({ settleSec }) });
const refusal = (input: RequestInput, names = CLI_REQUEST_NAMES) => {
  try {
    checkRequest(input, names, ctx());
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

describe('checkRequest', () => {
  it('refuses, naming the flag or the key as written', () => {
    const day = { from: '2026-11-30', to: '2026-11-30' };
    expect(refusal({ from: '2099-01-01', to: '1999-01-01' })).toBe('--to must not be before --from');
    expect(refusal({ from: '2099-01-01', to: '1999-01-01' }, JSON_REQUEST_NAMES)).toBe('to must not be before from');
    expect(refusal({ from: '2026-02-31', to: '2026-03-01' })).toBe('--from needs a day as YYYY-MM-DD, got "2026-02-31"');
    expect(refusal({ from: '1999-01-01', to: '2099-01-01' })).toBe('--from 1999-01-01 and --to 2099-01-01 cover 36526 days; one run covers at most 366 (a year): split it into several runs');
    expect(refusal({ from: '2024-01-01', to: '2025-01-01' }, JSON_REQUEST_NAMES)).toBe('from 2024-01-01 and to 2025-01-01 cover 367 days; one run covers at most 366 (a year): split it into several runs');
    expect(refusal({ from: '2024-01-01', to: '2024-12-31' })).toBe('accepted');
    expect(refusal({ to: '2026-03-01' })).toBe('--from is required');
    // Outside ClickHouse's Date: stored as 1970-01-01, so runs of such days could not be told apart.
    expect(refusal({ from: '0001-01-01', to: '0001-01-02' })).toBe('--from must be a day from 1970-01-01 to 2149-06-06 (what ClickHouse\'s Date holds), got "0001-01-01"');
    expect(refusal({ from: '1969-12-31', to: '1970-01-01' }, JSON_REQUEST_NAMES)).toBe('from must be a day from 1970-01-01 to 2149-06-06 (what ClickHouse\'s Date holds), got "1969-12-31"');
    expect(refusal({ from: '2149-06-06', to: '2149-06-07' })).toBe('--to must be a day from 1970-01-01 to 2149-06-06 (what ClickHouse\'s Date holds), got "2149-06-07"');
    expect(refusal({ from: '1970-01-01', to: '1970-01-01' })).toBe('accepted');
    expect(refusal({ from: '2149-06-06', to: '2149-06-06' })).toBe('accepted');
    expect(refusal({ ...day, tz: '+05:30' })).toBe('--tz must be a whole-hour offset within ±14:00, got "+05:30"');
    expect(refusal({ ...day, tz: Number.NaN }, JSON_REQUEST_NAMES)).toBe('tzOffsetMinutes must be a whole-hour offset in minutes within ±840 (480 = +08:00), got NaN');
    expect(refusal({ ...day, tz: 900 }, JSON_REQUEST_NAMES)).toBe('tzOffsetMinutes must be a whole-hour offset in minutes within ±840 (480 = +08:00), got 900');
    expect(refusal({ ...day, settleSec: '1e3' })).toBe('--settle needs an integer 0..604800, got "1e3"');
    expect(refusal({ ...day, settleSec: '604801' })).toBe('--settle needs an integer 0..604800, got "604801"');
    expect(refusal({ ...day, settleSec: Number.NaN }, JSON_REQUEST_NAMES)).toBe('settleSec needs an integer 0..604800, got NaN');
    expect(refusal({ ...day, vendors: ['tencent-ccc', 'ccc'] })).toBe('--vendor needs one of the vendors (tencent-ccc, tencent-trtc, huawei-privatenumber, alibaba-lvms), got "ccc"');
    expect(refusal({ ...day, tenants: ['1400', ' '] })).toBe('--tenant needs a tenant, got " "');
    expect(refusal({ ...day, tenants: [] }, JSON_REQUEST_NAMES)).toBe('tenants names no tenant: leave it out for every tenant');
  });

  it('accepts what the usage allows, with the defaults', () => {
    expect(checkRequest({ from: 'yesterday', to: 'today', vendors: ['tencent-ccc', 'tencent-ccc'], tz: '+08:00', settleSec: '0', repair: true }, CLI_REQUEST_NAMES, ctx())).toEqual({
      from: '2026-11-30',
      to: '2026-12-01',
      vendors: ['tencent-ccc'],
      tenants: null,
      tzOffsetMinutes: 480,
      settleSec: 0,
      repair: true,
      trigger: 'cli',
    });
    expect(checkRequest({ from: '2024-02-29', to: '2024-02-29', tz: -840, settleSec: 604800 }, JSON_REQUEST_NAMES, { ...ctx(), trigger: 'ops' })).toMatchObject({ tzOffsetMinutes: -840, settleSec: 604800, repair: false, trigger: 'ops' });
    expect(checkRequest({ from: '2026-11-30', to: '2026-11-30' }, CLI_REQUEST_NAMES, ctx(120)).settleSec).toBe(120);
  });

  it('reads the defaults (the configuration) only once the rest of the request has passed', () => {
    const defaults = vi.fn(() => ({ settleSec: 3600 }));
    expect(() => checkRequest({ from: '2026-11-30', to: '2026-11-29' }, CLI_REQUEST_NAMES, { now: NOW, trigger: 'cli', defaults })).toThrow('--to must not be before --from');
    expect(defaults).not.toHaveBeenCalled();
  });
});

describe('runReconcile without a verdict', () => {
  const deps = (metrics: ReconcileMetrics): ReconcileDeps => ({
    kafka: {} as Kafka,
    registry: {} as SchemaRegistry,
    clickhouse: {} as ClickHouseClient,
    database: 'cdrflow',
    table: 'cdr',
    rawTopics: [],
    normalizedTopic: 'cdr.normalized',
    deadLetterTopic: 'cdr.dlq',
    groups: { normalize: { groupId: 'n', topics: [] }, sink: { groupId: 's', topic: 'cdr.normalized' } },
    connectors: [],
    mapping: {} as ReconcileDeps['mapping'],
    settings: { sourceMaxAttempts: 1, repairWaitSec: 0, scanTimeoutSec: 10, confirmSec: 0 },
    metrics,
  });
  const exitCode = async (registry: Registry) => (await registry.metrics()).split('\n').filter((l) => l.startsWith('cdrflow_reconcile_last_run_exit_code '));

  it('sets the alerting exit code to 3 for a scheduled run only; an ad-hoc failure is only counted', async () => {
    const registry = new Registry();
    const metrics = new ReconcileMetrics(registry);
    const req = { from: '2099-01-01', to: '2099-01-01', vendors: null, tenants: null, tzOffsetMinutes: 0, settleSec: 0, repair: false };
    await expect(runReconcile(deps(metrics), { ...req, trigger: 'ops' })).rejects.toThrow('Kafka unreachable');
    expect(await exitCode(registry)).toEqual([]);
    expect(await registry.metrics()).toContain('cdrflow_reconcile_runs_total{trigger="ops",exit_code="3"} 1');
    await expect(runReconcile(deps(metrics), { ...req, trigger: 'schedule' })).rejects.toThrow('Kafka unreachable');
    expect(await exitCode(registry)).toEqual(['cdrflow_reconcile_last_run_exit_code 3']);
  });

  it('leaves the gauges and the count as they were when the run\'s own stop ended it (the job\'s Ctrl-C): no failed run', async () => {
    const registry = new Registry();
    const metrics = new ReconcileMetrics(registry);
    const verdict = { rows: [], notes: [], scope: { vendors: [] }, finishedAt: '2026-12-01T09:55:00.000Z', sourceUnreachable: [] } as unknown as ReconcileReport;
    metrics.observe({ before: verdict, exitCode: 0 }, 'schedule');
    const stop = new AbortController();
    stop.abort(new Error('shutdown requested'));
    const req = { from: '2026-12-01', to: '2026-12-01', vendors: null, tenants: null, tzOffsetMinutes: 0, settleSec: 0, repair: false, trigger: 'schedule' as const };
    await expect(runReconcile(deps(metrics), req, stop.signal)).rejects.toThrow();
    expect(await exitCode(registry)).toEqual(['cdrflow_reconcile_last_run_exit_code 0']);
    expect(await registry.metrics()).toContain('cdrflow_reconcile_runs_total{trigger="schedule",exit_code="3"} 0');
  });
});

// README ("Reconciling a month") gives these defaults in words a billing team plans by (how recent a call is left out,
// when a day in progress is looked at again, how often a vendor API is tried before the run exits 2).
describe('the reconcile defaults README.md gives', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  const documented = (pattern: RegExp, what: string): number => {
    const found = pattern.exec(readme)?.[1];
    expect(found, `README.md no longer says ${what}`).toBeDefined();
    return Number(found);
  };

  it('are the configuration\'s defaults', () => {
    const defaults = reconcileConfigSchema.parse({});
    expect(defaults.settleSec).toBe(documented(/\(default `reconcile\.settleSec` = (\d+)\)/, 'the default settle time'));
    expect(defaults.confirmSec).toBe(documented(/looked at a second time `reconcile\.confirmSec` \((\d+) s\) later/, 'when a day in progress is looked at again'));
    expect(defaults.sourceMaxAttempts).toBe(documented(/`reconcile\.sourceMaxAttempts` \((\d+)\) attempts/, 'how often a vendor API is tried'));
  });
});
