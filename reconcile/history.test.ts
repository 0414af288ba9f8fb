// `reconcile_runs` on the embedded ClickHouse engine (in-process, no network): a run with drift of several kinds and a
// repair is stored and reads back as it was written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { migrate } from '../sinks/clickhouse/index.ts';
import { recordRun, recordRunFailure } from './history.ts';
import type { Drift, ReconcileOutcome, ReconcileReport, ReconcileRow } from './model.ts';
import { embeddedClickHouse } from '../test/helpers.ts';

let client: ClickHouseClient;
let closeClickHouse: () => Promise<void>;
const DB = 'history';

beforeAll(async () => {
  ({ client, close: closeClickHouse } = await embeddedClickHouse('reconcile-history'));
  await migrate(client, { database: DB });
});
afterAll(() => closeClickHouse());

const DAY = '2026-11-30';

function row(vendor: ReconcileRow['vendor'], tenant: string, drift: Drift[]): ReconcileRow {
  return {
    vendor,
    tenant,
    day: DAY,
    sourceKind: vendor === 'tencent-ccc' ? 'api' : 'raw-topic',
    source: vendor === 'tencent-ccc' ? { records: 42, minutes: 227, keyless: 0 } : null,
    raw: { records: 41, minutes: 226 },
    normalized: { records: 40, minutes: 225 },
    deadLettered: 0,
    clickhouse: { count: 39, uniq: 39, minutes: 140, storedRows: 40 },
    views: { cdr_daily: { calls: 39, minutes: 140 }, cdr_hourly: { calls: 39, minutes: 140 }, cdr_end_status: { calls: 39, minutes: null } },
    unmergedDuplicates: 1,
    inFlight: 0,
    drift,
  };
}

function report(runId: string, rows: ReconcileRow[]): ReconcileReport {
  return {
    runId,
    startedAt: '2026-12-01T10:00:00.000Z',
    finishedAt: '2026-12-01T10:00:12.000Z',
    scope: { from: DAY, to: DAY, tz: 'UTC', cutoff: '2026-12-01T09:00:00.000Z', vendors: ['tencent-ccc', 'huawei-privatenumber'], tenants: null },
    rows,
    notes: [],
    driftRows: rows.filter((r) => r.drift.length > 0).length,
    sourceUnreachable: [],
    exitCode: rows.some((r) => r.drift.length > 0) ? 1 : 0,
  };
}

const CCC_DRIFT: Drift[] = [
  { kind: 'missing_in_raw', count: 1, detail: '1 record(s) the vendor serves are not on the raw topic', ids: ['tencent-ccc:1400:a'], repairable: true },
  { kind: 'not_in_source', count: 1, detail: '1 raw record(s) the vendor no longer serves for this day', ids: ['tencent-ccc:1400:b'], repairable: false },
  { kind: 'not_normalized', count: 1, detail: '1 raw record(s) with neither a normalized record nor a dead letter', ids: ['tencent-ccc:1400:c'], repairable: true },
  { kind: 'not_in_clickhouse', count: 2, detail: '2 normalized record(s) missing in ClickHouse', ids: ['tencent-ccc:1400:d', 'tencent-ccc:1400:e'], repairable: true },
  { kind: 'minutes', count: 87, detail: 'billable minutes: source 227, ClickHouse 140 (follows the missing records)', repairable: true },
  { kind: 'view', count: 3, detail: 'cdr_daily: 42 calls / 227 min vs cdr FINAL 39 calls / 140 min', repairable: false },
];

describe('reconcile_runs', () => {
  it('stores a run with drift of several kinds and its repair, and reads them back as written', async () => {
    const runId = 'run-with-drift';
    const before = report(runId, [row('tencent-ccc', '1400', CCC_DRIFT), row('huawei-privatenumber', 'hw-app', [])]);
    const after = report(runId, [row('tencent-ccc', '1400', [CCC_DRIFT[1]!]), row('huawei-privatenumber', 'hw-app', [])]);
    const outcome: ReconcileOutcome = {
      before,
      repair: [
        { kind: 'backfill', vendor: 'tencent-ccc', tenant: '1400', records: 1, detail: 'backfill 2026-11-30T10:00:00.000Z .. 2026-11-30T11:00:00.000Z for 1 missing record(s)' },
        { kind: 'replay_raw', vendor: 'tencent-ccc', tenant: null, records: 1, detail: '1 raw record(s) appended again to cdr.raw.tencent-ccc for normalize' },
        { kind: 'resend_normalized', vendor: null, tenant: null, records: 2, detail: '2 normalized record(s) appended again to cdr.normalized for the sink' },
      ],
      after,
      exitCode: 1,
    };
    expect(await recordRun(client, DB, outcome, 'cli')).toBe(4);

    const rs = await client.query({
      query: `SELECT pass, vendor, tenant_id, drift_records, drift, repaired FROM ${DB}.reconcile_runs WHERE run_id = {id:String} ORDER BY pass DESC, vendor DESC`,
      query_params: { id: runId },
      format: 'JSONEachRow',
    });
    type Tuple = { kind: string; records: string | number; detail: string };
    const rows = await rs.json<{ pass: string; vendor: string; tenant_id: string; drift_records: string; drift: Tuple[]; repaired: Tuple[] }>();
    const plain = (ts: Tuple[]) => ts.map((t) => ({ kind: t.kind, records: Number(t.records), detail: t.detail }));
    expect(rows.map((r) => `${r.pass} ${r.vendor}`)).toEqual(['before tencent-ccc', 'before huawei-privatenumber', 'after tencent-ccc', 'after huawei-privatenumber']);

    const [cccBefore, huaweiBefore, cccAfter, huaweiAfter] = rows;
    expect(plain(cccBefore!.drift)).toEqual(CCC_DRIFT.map((d) => ({ kind: d.kind, records: d.count, detail: d.detail })));
    const repaired = outcome.repair!.map((a) => ({ kind: a.kind, records: a.records, detail: a.detail }));
    // Every action concerning the row: its vendor and tenant, its vendor (any tenant), or every vendor.
    expect(plain(cccBefore!.repaired)).toEqual(repaired);
    expect(plain(cccAfter!.repaired)).toEqual(repaired);
    expect(plain(cccAfter!.drift)).toEqual([{ kind: 'not_in_source', records: 1, detail: CCC_DRIFT[1]!.detail }]);
    expect(plain(huaweiBefore!.drift)).toEqual([]);
    expect(plain(huaweiBefore!.repaired)).toEqual([repaired[2]]);
    expect(plain(huaweiAfter!.drift)).toEqual([]);
  });

  it('drift_records counts records only: not the minutes of a minutes drift, nor a view\'s difference, nor an unreachable source', async () => {
    const runId = 'run-records-only';
    const unreachable: Drift = { kind: 'source_unreachable', count: 1, detail: 'tencent-ccc API not reachable for tenant 1401: ECONNREFUSED', repairable: false };
    const outcome: ReconcileOutcome = {
      before: report(runId, [row('tencent-ccc', '1400', CCC_DRIFT), row('tencent-ccc', '1401', [unreachable]), row('huawei-privatenumber', 'hw-app', [CCC_DRIFT[4]!])]),
      exitCode: 2,
    };
    await recordRun(client, DB, outcome, 'schedule');
    const rs = await client.query({ query: `SELECT tenant_id, drift_records FROM ${DB}.reconcile_runs WHERE run_id = {id:String} ORDER BY tenant_id`, query_params: { id: runId }, format: 'JSONEachRow' });
    const byTenant = Object.fromEntries((await rs.json<{ tenant_id: string; drift_records: string }>()).map((r) => [r.tenant_id, Number(r.drift_records)]));
    // 1 missing in raw + 1 not in source + 1 not normalized + 2 not in ClickHouse; not the 87 minutes or the view's 3.
    expect(byTenant).toEqual({ '1400': 5, '1401': 0, 'hw-app': 0 });
  });

  it('stores a day beyond the vendor\'s horizon as source_kind beyond, so its missing source figures do not read as a vendor that served nothing', async () => {
    const runId = 'run-beyond';
    const beyond: ReconcileRow = { ...row('tencent-ccc', '1401', []), source: null, sourceBeyondHorizon: 'is further back than tencent-ccc can be queried (180 days)' };
    const outcome: ReconcileOutcome = { before: report(runId, [row('tencent-ccc', '1400', []), beyond, row('huawei-privatenumber', 'hw-app', [])]), exitCode: 0 };
    await recordRun(client, DB, outcome, 'cli');
    const rs = await client.query({ query: `SELECT tenant_id, source_kind, source_records, source_minutes FROM ${DB}.reconcile_runs WHERE run_id = {id:String} ORDER BY tenant_id`, query_params: { id: runId }, format: 'JSONEachRow' });
    const rows = await rs.json<{ tenant_id: string; source_kind: string; source_records: string | null; source_minutes: string | null }>();
    expect(rows.map((r) => [r.tenant_id, r.source_kind, r.source_records === null ? null : Number(r.source_records), r.source_minutes === null ? null : Number(r.source_minutes)])).toEqual([
      ['1400', 'api', 42, 227],
      ['1401', 'beyond', null, null],
      ['hw-app', 'raw-topic', null, null],
    ]);
  });

  it('suggests `cdrflow migrate` only when the table or its database is missing', async () => {
    const outcome: ReconcileOutcome = { before: report('run-failing', [row('tencent-ccc', '1400', CCC_DRIFT)]), exitCode: 1 };
    const failure = (database: string) => recordRun(client, database, outcome, 'cli').then(() => expect.fail('recorded'), (err: unknown) => recordRunFailure(database, err));
    expect(await failure('no_such_db')).toMatch(/^could not record the run in no_such_db\.reconcile_runs: .*does not exist.* \(run `cdrflow migrate`\)$/s);
    await client.command({ query: 'CREATE DATABASE IF NOT EXISTS not_migrated' });
    expect(await failure('not_migrated')).toMatch(/does not exist.* \(run `cdrflow migrate`\)$/s);
    // A table that is there but refuses the row: migrating again would not help, so no such hint.
    await client.command({ query: 'CREATE DATABASE IF NOT EXISTS odd' });
    await client.command({ query: 'CREATE TABLE IF NOT EXISTS odd.reconcile_runs (run_id UUID) ENGINE = Memory' });
    const refused = await failure('odd');
    expect(refused).toMatch(/^could not record the run in odd\.reconcile_runs: /);
    expect(refused).not.toContain('migrate');
  });
});
