// Runs against the embedded ClickHouse engine (in-process, no network): two versions of one call whose call time moved
// across a month's boundary sit in two partitions of cdr, which no merge brings together; the repair deletes the
// superseded one, so a reader without FINAL counts the call once, and a second repair changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { migrate } from '../sinks/clickhouse/index.ts';
import { insertCdrs } from '../sinks/clickhouse/insert.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import type { DayScope } from './days.ts';
import { ClickHouseReader } from './layers.ts';
import type { ReconcileReport, ReconcileRow } from './model.ts';
import { repair } from './repair.ts';
import { repairContext } from './fixtures/repair-context.ts';
import { bucketKey } from './tally.ts';
import { embeddedClickHouse } from '../test/helpers.ts';

let client: ClickHouseClient;
let closeClickHouse: () => Promise<void>;
const DB = 'repair_months';
const VENDOR = 'huawei-privatenumber';
const TENANT = 'app';
const OLD_DAY = '2026-11-30';
const scope: DayScope = { from: OLD_DAY, to: '2026-12-01', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-02T00:00:00Z') };
const id = (nk: string) => `${VENDOR}:${TENANT}:${nk}`;
const at = (offset: number) => ({ topic: 'cdr.normalized', partition: 0, offset });
const cdr = (nk: string, startedAt: string, receivedAt: string) =>
  sampleCdr(0, { cdr_id: id(nk), vendor: VENDOR, tenant_id: TENANT, natural_key: nk, started_at: new Date(startedAt), received_at: new Date(receivedAt) });

beforeAll(async () => {
  ({ client, close: closeClickHouse } = await embeddedClickHouse('reconcile-repair-months'));
  await migrate(client, { database: DB });
  // 'moved': received again later with a start after midnight, 1 December. 'tied': replayed with the same received_at
  // (so the same version) under another time zone, the replay inserted last. 'stays': one version, untouched.
  const rows = [
    { cdr: cdr('moved', '2026-11-30T23:59:00Z', '2026-12-01T00:01:00Z'), at: at(1) },
    { cdr: cdr('tied', '2026-11-30T23:30:00Z', '2026-12-01T00:40:00Z'), at: at(2) },
    { cdr: cdr('stays', '2026-11-30T12:00:00Z', '2026-11-30T12:05:00Z'), at: at(3) },
  ];
  await insertCdrs(client, `${DB}.cdr`, rows, 'JSONCompactEachRow', 'months:0');
  const later = [
    { cdr: cdr('moved', '2026-12-01T00:00:30Z', '2026-12-01T00:02:00Z'), at: at(4) },
    { cdr: cdr('tied', '2026-12-01T00:30:00Z', '2026-12-01T00:40:00Z'), at: at(5) },
  ];
  await insertCdrs(client, `${DB}.cdr`, later, 'JSONCompactEachRow', 'months:1');
});
afterAll(() => closeClickHouse());

async function stored(): Promise<{ cdr_id: string; part: string; offset: string }[]> {
  const rs = await client.query({ query: `SELECT cdr_id, _partition_id AS part, toString(source_offset) AS offset FROM ${DB}.cdr ORDER BY cdr_id, part`, format: 'JSONEachRow' });
  return rs.json();
}

/** The report's rows as the reconcile reads ClickHouse: unmerged = rows stored (without FINAL) less cdr FINAL. */
async function report(): Promise<ReconcileReport> {
  const { figures } = await new ClickHouseReader(client, DB, 'cdr').read(scope, [VENDOR], null);
  const rows = ['2026-11-30', '2026-12-01'].map((day): ReconcileRow => {
    const ch = figures.get(bucketKey(VENDOR, TENANT, day)) ?? { count: 0, uniq: 0, minutes: 0, storedRows: 0 };
    return {
      vendor: VENDOR, tenant: TENANT, day, sourceKind: 'raw-topic', source: null,
      raw: { records: ch.count, minutes: ch.minutes }, normalized: { records: ch.count, minutes: ch.minutes }, deadLettered: 0,
      clickhouse: ch, views: { cdr_daily: null, cdr_hourly: { calls: ch.count, minutes: ch.minutes }, cdr_end_status: null },
      unmergedDuplicates: Math.max(0, ch.storedRows - ch.count), inFlight: 0, drift: [],
    };
  });
  return { runId: 'r', startedAt: '', finishedAt: '', scope: { from: scope.from, to: scope.to, tz: 'UTC', cutoff: '', vendors: [VENDOR], tenants: null }, rows, notes: [], driftRows: 0, sourceUnreachable: [], exitCode: 0 };
}

describe('repair: versions of one call in two months', () => {
  it('deletes the superseded version in the other month, keeping the latest, and a second repair changes nothing', async () => {
    const before = await report();
    expect(before.rows.find((r) => r.day === OLD_DAY)?.unmergedDuplicates).toBe(2);
    const ctx = repairContext({ clickhouse: client, database: DB });
    const actions = await repair(before, ctx);
    expect(actions.find((a) => a.kind === 'delete_superseded')).toMatchObject({ records: 2, sample: [id('moved'), id('tied')] });
    const count = await client.query({ query: `SELECT count() AS n, uniqExact(cdr_id) AS u FROM ${DB}.cdr`, format: 'JSONEachRow' });
    expect(await count.json()).toEqual([{ n: '3', u: '3' }]);
    const kept = [
      { cdr_id: id('moved'), part: '202612', offset: '4' },
      { cdr_id: id('stays'), part: '202611', offset: '3' },
      { cdr_id: id('tied'), part: '202612', offset: '5' },
    ];
    expect(await stored()).toEqual(kept);
    expect((await report()).rows.map((r) => r.unmergedDuplicates)).toEqual([0, 0]);

    // Asked again with the same (now stale) report: nothing in two months any more, nothing deleted.
    const again = await repair(before, ctx);
    expect(again.map((a) => a.kind)).toEqual(['merge_duplicates']);
    expect(await stored()).toEqual(kept);
  });
});

// At a positive offset the first day the reconcile allows, 1970-01-01, begins in 1969 in UTC: its calls sit in the
// partitions 196912 and 197001, and the repair merges both. ClickHouse's DateTime64 holds 1969 (toYYYYMM 196912), so
// that partition can exist; normalize dead-letters calls before 1999 (EARLIEST_PLAUSIBLE), so mostly it does not, and
// OPTIMIZE of a partition without parts (and a DELETE in it) is no error: nothing to skip.
describe('repair: 1970-01-01 at +08:00, which begins in December 1969 in UTC', () => {
  const EPOCH_DB = 'repair_months_1970';
  const epoch: DayScope = { from: '1970-01-01', to: '1970-01-01', tzOffsetMinutes: 480, cutoffMs: Date.parse('1970-01-01T16:00:00Z') };
  const row = (ch: { count: number; uniq: number; minutes: number; storedRows: number }): ReconcileRow => ({
    vendor: VENDOR, tenant: TENANT, day: epoch.from, sourceKind: 'raw-topic', source: null,
    raw: { records: ch.count, minutes: ch.minutes }, normalized: { records: ch.count, minutes: ch.minutes }, deadLettered: 0,
    clickhouse: ch, views: { cdr_daily: null, cdr_hourly: { calls: ch.count, minutes: ch.minutes }, cdr_end_status: null },
    unmergedDuplicates: Math.max(0, ch.storedRows - ch.count), inFlight: 0, drift: [],
  });
  const epochReport = (rows: ReconcileRow[]): ReconcileReport => ({
    runId: 'r', startedAt: '', finishedAt: '', scope: { from: epoch.from, to: epoch.to, tz: '+08:00', cutoff: '', vendors: [VENDOR], tenants: null }, rows, notes: [], driftRows: 0, sourceUnreachable: [], exitCode: 0,
  });
  const read = async () => {
    const { figures } = await new ClickHouseReader(client, EPOCH_DB, 'cdr').read(epoch, [VENDOR], null);
    return row(figures.get(bucketKey(VENDOR, TENANT, epoch.from)) ?? { count: 0, uniq: 0, minutes: 0, storedRows: 0 });
  };
  const partitions = async () => {
    const rs = await client.query({ query: `SELECT _partition_id AS part, count() AS n FROM ${EPOCH_DB}.cdr GROUP BY part ORDER BY part`, format: 'JSONEachRow' });
    return rs.json();
  };

  it('merges partition 196912 when it holds the day, and runs on without error when it holds nothing', async () => {
    await migrate(client, { database: EPOCH_DB });
    const ctx = repairContext({ clickhouse: client, database: EPOCH_DB });

    // Nothing stored: the report (as one read earlier) still says the day had rows not merged.
    const empty = await repair(epochReport([row({ count: 1, uniq: 1, minutes: 1, storedRows: 2 })]), ctx);
    expect(empty).toEqual([expect.objectContaining({ kind: 'merge_duplicates', detail: 'OPTIMIZE … FINAL on partition(s) 196912, 197001 (1 unmerged duplicate row(s) before)' })]);
    expect(await partitions()).toEqual([]);

    // Two versions of a call at 04:00 on 1 January at +08:00 (20:00 UTC on 31 December 1969), in two parts; received
    // long after (the version is the time received, in milliseconds since 1970: a UInt64).
    const call = (receivedAt: string, offset: number) => [{ cdr: cdr('epoch', '1969-12-31T20:00:00Z', receivedAt), at: at(offset) }];
    await insertCdrs(client, `${EPOCH_DB}.cdr`, call('2026-12-01T00:00:00Z', 1), 'JSONCompactEachRow', 'epoch:0');
    await insertCdrs(client, `${EPOCH_DB}.cdr`, call('2026-12-01T00:01:00Z', 2), 'JSONCompactEachRow', 'epoch:1');
    const before = await read();
    expect({ count: before.clickhouse.count, unmerged: before.unmergedDuplicates }).toEqual({ count: 1, unmerged: 1 });
    expect(await partitions()).toEqual([{ part: '196912', n: '2' }]);

    const actions = await repair(epochReport([before]), ctx);
    expect(actions.map((a) => a.kind)).toEqual(['merge_duplicates']);
    expect(await partitions()).toEqual([{ part: '196912', n: '1' }]);
    expect((await read()).unmergedDuplicates).toBe(0);
  });
});
