// Runs against the embedded ClickHouse engine (in-process, no network): the ids' fingerprint computed in JS over a
// Tally must be the one ClickHouse computes over cdr FINAL, byte for byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { migrate } from '../sinks/clickhouse/index.ts';
import { insertCdrs } from '../sinks/clickhouse/insert.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import { bucketsNeedingIds, compareLayers, newerInClickHouseNotes } from './compare.ts';
import { rawTopicLayers } from './fixtures/layers.ts';
import type { DayScope } from './days.ts';
import { ClickHouseReader } from './layers.ts';
import { bucketKey, ID_FINGERPRINT_SQL, idsFingerprint, Tally, VERSION_FINGERPRINT_SQL, versionsFingerprint } from './tally.ts';
import { versionOf } from '../sinks/clickhouse/rows.ts';
import { embeddedClickHouse } from '../test/helpers.ts';

let client: ClickHouseClient;
let closeClickHouse: () => Promise<void>;
const DB = 'fingerprint';

beforeAll(async () => {
  ({ client, close: closeClickHouse } = await embeddedClickHouse('reconcile-fingerprint'));
  await migrate(client, { database: DB });
});
afterAll(() => closeClickHouse());

const VENDOR = 'huawei-privatenumber';
const TENANT = 'app-租户';
const DAY = '2024-05-01';
const KEY = bucketKey(VENDOR, TENANT, DAY);
const scope: DayScope = { from: DAY, to: DAY, tzOffsetMinutes: 0, cutoffMs: Date.parse('2024-06-01T00:00:00Z') };
const id = (nk: string) => `${VENDOR}:${TENANT}:${nk}`;
const IDS = ['a', 'b', 'ü-Ærø', '呼叫-42', '😀 call', 'e\u0301', 'tab\tquote"\\'].map(id);

describe('idsFingerprint and ID_FINGERPRINT_SQL', () => {
  it('agree on the same ids, non-ASCII included, and ClickHouse counts an id given twice once', async () => {
    const rs = await client.query({
      query: `SELECT ${ID_FINGERPRINT_SQL('s')} AS fp FROM (SELECT arrayJoin({ids:Array(String)}) AS s)`,
      query_params: { ids: [...IDS, IDS[2]!, IDS[0]!] },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ fp: string }>();
    expect(BigInt(row!.fp)).toBe(idsFingerprint(IDS));
    // Order-independent, and a different set gives a different fingerprint.
    expect(idsFingerprint([...IDS].reverse())).toBe(idsFingerprint(IDS));
    expect(idsFingerprint(IDS.slice(1))).not.toBe(idsFingerprint(IDS));
    expect(idsFingerprint([])).toBe(0n);
  });
});

describe('reconcile against cdr FINAL', () => {
  const stored = [IDS[0]!, IDS[2]!, IDS[3]!, id('extra')];
  beforeAll(async () => {
    const at = (offset: number) => ({ topic: 'cdr.normalized', partition: 0, offset });
    const cdrs = stored.map((cdrId, k) => ({ cdr: sampleCdr(0, { cdr_id: cdrId, vendor: VENDOR, tenant_id: TENANT, natural_key: cdrId.split(':')[2]! }), at: at(k) }));
    await insertCdrs(client, `${DB}.cdr`, cdrs, 'JSONCompactEachRow', 'fingerprint:0');
    // A second, unmerged version of one row: FINAL keeps one, and its id counts once.
    await insertCdrs(client, `${DB}.cdr`, [{ cdr: cdrs[0]!.cdr, at: at(10) }], 'JSONCompactEachRow', 'fingerprint:1');
  });

  // README: at `--tz` the daily views (UTC days) are not comparable, "so only `cdr_hourly` is compared then".
  it('reads the daily views on UTC days only; at another offset only cdr_hourly', async () => {
    const reader = new ClickHouseReader(client, DB, 'cdr');
    const views = async (tzOffsetMinutes: number) => {
      const { views: v } = await reader.read({ ...scope, tzOffsetMinutes }, [VENDOR], null);
      return { daily: v.cdr_daily !== null, hourly: v.cdr_hourly !== null, endStatus: v.cdr_end_status !== null };
    };
    expect(await views(0)).toEqual({ daily: true, hourly: true, endStatus: true });
    expect(await views(480)).toEqual({ daily: false, hourly: true, endStatus: false });
    expect(await views(-300)).toEqual({ daily: false, hourly: true, endStatus: false });
  });

  function tallyOf(ids: string[]): Tally {
    const t = new Tally();
    for (const cdrId of ids) t.add(VENDOR, TENANT, DAY, cdrId, 1);
    return t;
  }

  async function reconcile(normalizedIds: string[]) {
    const reader = new ClickHouseReader(client, DB, 'cdr');
    const ch = await reader.read(scope, [VENDOR], null);
    const normalized = tallyOf(normalizedIds);
    const needing = bucketsNeedingIds({ normalized, sinkDead: new Map(), clickhouse: ch.figures }, ch.fingerprints).read;
    const clickhouseIds = new Map<string, ReadonlyMap<string, number>>();
    for (const key of needing) clickhouseIds.set(key, (await reader.ids(scope, VENDOR, TENANT, DAY)).ids);
    const [row] = compareLayers(rawTopicLayers({
      scope,
      raw: tallyOf(normalizedIds),
      normalized,
      clickhouse: ch.figures,
      views: ch.views,
      hourlyBasis: ch.hourlyBasis,
      partialDays: ClickHouseReader.partialDays(scope),
      clickhouseIds,
    }));
    return { needing, row: row!, figures: ch.figures.get(KEY) };
  }

  it('reads the same ids as agreement without fetching them', async () => {
    const { needing, row } = await reconcile([...stored].reverse());
    expect(needing).toEqual([]);
    expect(row.drift.filter((d) => d.kind.endsWith('_in_clickhouse'))).toEqual([]);
  });

  it('with equal counts, one record missing in ClickHouse and another extra there is drift, with both ids', async () => {
    const normalizedIds = [IDS[0]!, IDS[2]!, IDS[3]!, IDS[4]!];
    const { needing, row, figures } = await reconcile(normalizedIds);
    expect(figures).toMatchObject({ count: normalizedIds.length, uniq: normalizedIds.length, storedRows: normalizedIds.length + 1 });
    expect(needing).toEqual([KEY]);
    const kinds = row.drift.filter((d) => d.kind.endsWith('_in_clickhouse')).map((d) => ({ kind: d.kind, ids: d.ids }));
    expect(kinds).toEqual([
      { kind: 'not_in_clickhouse', ids: [IDS[4]] },
      { kind: 'extra_in_clickhouse', ids: [id('extra')] },
    ]);
  });
});

describe('versionsFingerprint and VERSION_FINGERPRINT_SQL', () => {
  it('agree on the same (cdr_id, version) pairs, and tell a changed version apart', async () => {
    const pairs = IDS.map((cdrId, k) => [cdrId, 1_700_000_000_000 + k] as const);
    const rs = await client.query({
      query: `SELECT ${VERSION_FINGERPRINT_SQL('s', 'v')} AS fp FROM (SELECT tupleElement(p, 1) AS s, tupleElement(p, 2) AS v FROM (SELECT arrayJoin(arrayZip({ids:Array(String)}, {versions:Array(UInt64)})) AS p))`,
      query_params: { ids: pairs.map(([i]) => i), versions: pairs.map(([, v]) => v) },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ fp: string }>();
    expect(BigInt(row!.fp)).toBe(versionsFingerprint(pairs));
    expect(versionsFingerprint(pairs.map(([i, v], k) => [i, k === 0 ? v + 1 : v] as const))).not.toBe(versionsFingerprint(pairs));
  });
});

describe('a call ClickHouse holds at an earlier version than the normalized topic', () => {
  const day = '2024-05-02';
  const key = bucketKey(VENDOR, TENANT, day);
  const dayScope: DayScope = { ...scope, from: day, to: day };
  const at = (offset: number) => ({ topic: 'cdr.normalized', partition: 0, offset });
  const cdrs = ['v1', 'v2', 'v3'].map((nk, k) => sampleCdr(k, { cdr_id: id(nk), vendor: VENDOR, tenant_id: TENANT, natural_key: nk, started_at: new Date(`${day}T10:0${k}:00Z`) }));
  beforeAll(async () => {
    await insertCdrs(client, `${DB}.cdr`, cdrs.map((cdr, k) => ({ cdr, at: at(100 + k) })), 'JSONCompactEachRow', 'versions:0');
  });

  /**
   * The normalized topic as read: every stored row's version, but `newer` received again later (same minutes), and
   * `older` only at an earlier version (the stored one gone from the topic).
   */
  async function reconcile(newer: string[], older: string[] = []) {
    const normalized = new Tally();
    for (const cdr of cdrs) normalized.addVersion(VENDOR, TENANT, day, cdr.cdr_id, cdr.billable_minutes, versionOf(cdr) + (newer.includes(cdr.cdr_id) ? 60_000 : 0) - (older.includes(cdr.cdr_id) ? 60_000 : 0));
    const reader = new ClickHouseReader(client, DB, 'cdr');
    const ch = await reader.read(dayScope, [VENDOR], null);
    const needing = bucketsNeedingIds({ normalized, sinkDead: new Map(), clickhouse: ch.figures }, ch.fingerprints, ch.versionFingerprints).read;
    const clickhouseIds = new Map<string, ReadonlyMap<string, number>>();
    for (const k of needing) clickhouseIds.set(k, (await reader.ids(dayScope, VENDOR, TENANT, day)).ids);
    const rows = compareLayers(rawTopicLayers({
      scope: dayScope,
      raw: normalized,
      normalized,
      clickhouse: ch.figures,
      views: ch.views,
      hourlyBasis: ch.hourlyBasis,
      partialDays: ClickHouseReader.partialDays(dayScope),
      clickhouseIds,
    }));
    const notes = newerInClickHouseNotes({ normalized, sinkDead: new Map(), clickhouseIds });
    return { needing, drift: rows.find((r) => r.day === day)!.drift.map((d) => ({ kind: d.kind, ids: d.ids })), notes };
  }

  it('reads the same versions as agreement without fetching the ids', async () => {
    expect(await reconcile([])).toEqual({ needing: [], drift: [], notes: [] });
  });

  it('with equal counts and minutes, fetches the bucket and names the call as stale_in_clickhouse', async () => {
    expect(await reconcile([id('v2')])).toEqual({ needing: [key], drift: [{ kind: 'stale_in_clickhouse', ids: [id('v2')] }], notes: [] });
  });

  it('a call ClickHouse holds at a newer version than the topic is no drift; the day it makes fetched is said in a note', async () => {
    const { needing, drift, notes } = await reconcile([], [id('v3')]);
    // The fingerprints cannot tell which side is newer: the ids are fetched, on every run.
    expect(needing).toEqual([key]);
    expect(drift).toEqual([]);
    expect(notes).toEqual([expect.stringMatching(new RegExp(`^${VENDOR} tenant ${TENANT}: 1 call\\(s\\) on ${day} are in cdr FINAL at a newer version than the latest on the normalized topic .*ids are read from ClickHouse on every run — e\\.g\\. ${id('v3')}$`))]);
  });
});
