// Runs against the embedded ClickHouse engine (in-process, no network): a call re-sent with its start moved across a
// month's end whose newer version the sink lost. cdr holds only the old version, in November's partition; the repair
// appends the newer normalized record again, and the sink stores it in December's. The old row is then superseded in
// another partition, which no merge reaches: the same repair deletes it, so a reader without FINAL counts the call
// once (without this, only a second repair, seeing the rows unmerged, would).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka, OutgoingMessage, ScannedMessage } from '../core/kafka.ts';
import { migrate } from '../sinks/clickhouse/index.ts';
import { insertCdrs } from '../sinks/clickhouse/insert.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import type { NormalizedCdr } from '../transforms/normalize/index.ts';
import type { ReconcileReport, ReconcileRow } from './model.ts';
import { repair } from './repair.ts';
import { repairContext } from './fixtures/repair-context.ts';
import { embeddedClickHouse } from '../test/helpers.ts';

const stand = vi.hoisted(() => ({ topic: [] as NormalizedCdr[], sent: [] as NormalizedCdr[], sink: async (_cdrs: NormalizedCdr[]) => {} }));

vi.mock('../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../core/kafka.ts')>()),
  scanTopicToEnd: async (_kafka: Kafka, _topic: string, visit: (m: ScannedMessage) => Promise<void> | void) => {
    for (let i = 0; i < stand.topic.length; i++) await visit({ partition: 0, offset: i, key: Buffer.from(stand.topic[i]!.cdr_id), value: Buffer.from(String(i)), timestamp: 0 } as unknown as ScannedMessage);
  },
  AckedPublisher: class {
    send(_topic: string, messages: OutgoingMessage[]) {
      stand.sent.push(...messages.map((m) => stand.topic[Number(String(m.value))]!));
      return Promise.resolve();
    }
    disconnect() {
      return Promise.resolve();
    }
  },
}));
vi.mock('./contract-decoder.ts', () => ({ contractDecoder: () => (value: Buffer) => Promise.resolve(stand.topic[Number(value.toString())]) }));
// The running sink stores what the repair appended.
vi.mock('./pipeline.ts', () => ({
  waitForSnapshot: async () => {
    await stand.sink(stand.sent.splice(0));
    return { caughtUp: true, behind: 0 };
  },
}));

let client: ClickHouseClient;
let closeClickHouse: () => Promise<void>;
const DB = 'repair_refed_months';
const VENDOR = 'tencent-trtc';
const TENANT = '1600000001';
const ID = `${VENDOR}:${TENANT}:moved`;
const cdr = (startedAt: string, receivedAt: string) => sampleCdr(0, { cdr_id: ID, vendor: VENDOR, tenant_id: TENANT, natural_key: 'moved', started_at: new Date(startedAt), received_at: new Date(receivedAt) });
const OLD = cdr('2026-11-30T23:50:00Z', '2026-11-30T23:55:00Z');
const NEW = cdr('2026-12-01T00:10:00Z', '2026-12-01T00:20:00Z');

const row = (day: string, over: Partial<ReconcileRow>): ReconcileRow => ({
  vendor: VENDOR, tenant: TENANT, day, sourceKind: 'raw-topic', source: null,
  raw: { records: 0, minutes: 0 }, normalized: { records: 0, minutes: 0 }, deadLettered: 0,
  clickhouse: { count: 0, uniq: 0, minutes: 0, storedRows: 0 },
  views: { cdr_daily: null, cdr_hourly: { calls: 0, minutes: 0 }, cdr_end_status: null },
  unmergedDuplicates: 0, inFlight: 0, drift: [], ...over,
});
// As the reconcile reads it: cdr FINAL holds the old version on 30 November, the normalized topic the new one on
// 1 December; nothing stored twice yet.
const report: ReconcileReport = {
  runId: 'r', startedAt: '', finishedAt: '', scope: { from: '2026-11-30', to: '2026-12-01', tz: 'UTC', cutoff: '', vendors: [VENDOR], tenants: null },
  rows: [
    row('2026-11-30', { clickhouse: { count: 1, uniq: 1, minutes: 1, storedRows: 1 }, drift: [{ kind: 'extra_in_clickhouse', count: 1, detail: '1 ClickHouse row(s) with no normalized record for this day', ids: [ID], repairable: false }] }),
    row('2026-12-01', { raw: { records: 1, minutes: 1 }, normalized: { records: 1, minutes: 1 }, drift: [{ kind: 'not_in_clickhouse', count: 1, detail: '1 normalized record(s) missing in ClickHouse', ids: [ID], repairable: true }] }),
  ],
  notes: [], driftRows: 2, sourceUnreachable: [], exitCode: 1,
};

beforeAll(async () => {
  ({ client, close: closeClickHouse } = await embeddedClickHouse('reconcile-repair-refed'));
  await migrate(client, { database: DB });
  await insertCdrs(client, `${DB}.cdr`, [{ cdr: OLD, at: { topic: 'cdr.normalized', partition: 0, offset: 0 } }], 'JSONCompactEachRow', 'refed:0');
  stand.topic = [OLD, NEW];
  stand.sink = async (cdrs) => {
    if (cdrs.length > 0) await insertCdrs(client, `${DB}.cdr`, cdrs.map((c, i) => ({ cdr: c, at: { topic: 'cdr.normalized', partition: 0, offset: 2 + i } })), 'JSONCompactEachRow', 'refed:1');
  };
});
afterAll(() => closeClickHouse());

async function stored(): Promise<{ part: string; version: string }[]> {
  const rs = await client.query({ query: `SELECT _partition_id AS part, toString(version) AS version FROM ${DB}.cdr ORDER BY part`, format: 'JSONEachRow' });
  return rs.json();
}

describe('repair: a re-fed version that lands in another month than the row it supersedes', () => {
  it('deletes the superseded row in the old month in the same repair', async () => {
    const ctx = repairContext({ clickhouse: client, database: DB });
    const actions = await repair(report, ctx);
    expect(actions.find((a) => a.kind === 'resend_normalized')).toMatchObject({ records: 1, sample: [ID] });
    expect(actions.find((a) => a.kind === 'delete_superseded')).toMatchObject({ records: 1, sample: [ID] });
    // The old row, extra on 30 November, is the call's superseded version: re-fed and deleted, nothing is left
    // unrepaired (listed so, the run would exit 1 with an after pass that agrees).
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([]);
    const kept = [{ part: '202612', version: String(NEW.received_at.getTime()) }];
    expect(await stored()).toEqual(kept);
  });
});
