import { describe, expect, it } from 'vitest';
import { bucketDay, cutoffFor, dayBounds, daysOf, parseTzOffset, type DayScope } from './days.ts';
import { beyondHorizonNotes, bucketsNeedingIds, compareLayers, confirmDrift, driftNotes, exitCodeOf, hasEdgeDrift, sourceKey, type Layers } from './compare.ts';
import { bucketKey, idsFingerprint, Tally, versionsFingerprint } from './tally.ts';
import { hourRanges, repair, type RepairContext } from './repair.ts';
import { COLUMNS_LEGEND, outcomeJson, renderDrift, renderOutcome } from './render.ts';
import { driftRecords, type ReconcileReport, type ReconcileRow } from './model.ts';
import { callFigures, readSource, vendorRefusal } from './layers.ts';
import { silentStream } from './reconcile.ts';
import { CdrflowError } from '../core/errors.ts';
import { terminalText } from '../core/input-limits.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import type { RawEnvelope } from '../core/envelope.ts';
import { defaultNormalizeOptions, normalize, type NormalizeOptions } from '../transforms/normalize/index.ts';

const scope: DayScope = { from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-01T12:00:00Z') };
const KEY = bucketKey('tencent-ccc', '1400', '2026-11-30');

/** A push vendor's source: its raw topic, no vendor API to ask (overrides layers()'s CCC API source). */
function rawTopicSource(): Pick<Layers, 'sourceKind' | 'sourceTenants' | 'source'> {
  return { sourceKind: () => 'raw-topic', sourceTenants: [], source: new Tally() };
}

function layers(overrides: Partial<Layers> = {}): Layers {
  const source = new Tally();
  const raw = new Tally();
  const normalized = new Tally();
  for (const id of ['a', 'b', 'c']) {
    source.add('tencent-ccc', '1400', '2026-11-30', `tencent-ccc:1400:${id}`, 2);
    raw.add('tencent-ccc', '1400', '2026-11-30', `tencent-ccc:1400:${id}`, 2);
    normalized.add('tencent-ccc', '1400', '2026-11-30', `tencent-ccc:1400:${id}`, 2);
  }
  const fig = { calls: 3, minutes: 6 };
  return {
    scope,
    sourceKind: () => 'api',
    sourceTenants: [{ vendor: 'tencent-ccc', tenant: '1400' }],
    source,
    sourceKeyless: new Map(),
    sourceUnreachable: new Map(),
    raw,
    normalized,
    normalizeDead: new Map(),
    sinkDead: new Map(),
    clickhouse: new Map([[KEY, { count: 3, uniq: 3, minutes: 6, storedRows: 3 }]]),
    views: { cdr_daily: new Map([[KEY, fig]]), cdr_hourly: new Map([[KEY, fig]]), cdr_end_status: new Map([[KEY, { calls: 3, minutes: null }]]) },
    partialDays: new Set(),
    clickhouseIds: new Map(),
    ...overrides,
  };
}

describe('reconcile days', () => {
  it('buckets by UTC day or a whole-hour offset, and leaves out calls after the cut-off', () => {
    const late = Date.parse('2026-11-30T20:00:00Z');
    expect(bucketDay(scope, late)).toBe('2026-11-30');
    expect(bucketDay({ ...scope, tzOffsetMinutes: parseTzOffset('+08:00') }, late)).toBeUndefined(); // 04:00 on Dec 1 in GMT+8
    expect(bucketDay({ ...scope, cutoffMs: late }, late)).toBeUndefined();
    expect(dayBounds('2026-11-30', 480).start).toBe(Date.parse('2026-11-29T16:00:00Z'));
    expect(daysOf({ from: '2026-11-29', to: '2026-12-01' })).toEqual(['2026-11-29', '2026-11-30', '2026-12-01']);
    expect(cutoffFor(Date.parse('2026-12-01T12:34:56.789Z'), 600)).toBe(Date.parse('2026-12-01T12:24:56Z'));
    expect(() => parseTzOffset('+05:30')).toThrow(/whole-hour/);
  });

  it('merges the hour windows a backfill repairs into ranges', () => {
    expect(hourRanges([7200, 0, 3600, 36000])).toEqual([{ from: 0, to: 10800 }, { from: 36000, to: 39600 }]);
  });
});

describe('compareLayers', () => {
  it('agrees when every layer holds the same calls and minutes', () => {
    const rows = compareLayers(layers());
    expect(rows).toHaveLength(1);
    expect(rows[0]!.drift).toEqual([]);
    expect(exitCodeOf(rows)).toBe(0);
  });

  it('names each gap with its cdr_ids, and a view that double counts', () => {
    const l = layers();
    l.source.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:d', 3);
    l.raw.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:e', 0);
    l.clickhouse.set(KEY, { count: 3, uniq: 3, minutes: 6, storedRows: 4 });
    l.views.cdr_daily!.set(KEY, { calls: 4, minutes: 8 });
    const [row] = compareLayers(l);
    const byKind = Object.fromEntries(row!.drift.map((d) => [d.kind, d]));
    expect(byKind['missing_in_raw']!.ids).toEqual(['tencent-ccc:1400:d']);
    expect(byKind['not_in_source']!.ids).toEqual(['tencent-ccc:1400:e']);
    expect(byKind['not_normalized']!.ids).toEqual(['tencent-ccc:1400:e']);
    expect(byKind['view']!.detail).toMatch(/cdr_daily: 4 calls/);
    expect(byKind['minutes']!.repairable).toBe(true);
    expect(row!.unmergedDuplicates).toBe(1);
    expect(exitCodeOf([row!])).toBe(1);
  });

  it('a view holding calls of a vendor × tenant × day no other layer holds is drift too, not a day left out', () => {
    // Rows gone from cdr (deleted, or a partition dropped) stay in the views, which nothing updates on a delete.
    const gone = bucketKey('huawei-privatenumber', 'app-1', '2026-11-30');
    const l = layers();
    l.views.cdr_daily!.set(gone, { calls: 2, minutes: 5 });
    l.views.cdr_hourly.set(gone, { calls: 2, minutes: 5 });
    const rows = compareLayers({ ...l, sourceKind: (v) => (v === 'tencent-ccc' ? 'api' : 'raw-topic') });
    const row = rows.find((r) => r.vendor === 'huawei-privatenumber');
    expect(row?.drift.map((d) => [d.kind, d.count])).toEqual([['view', 2], ['view', 2]]);
    expect(row?.clickhouse.count).toBe(0);
    expect(exitCodeOf(rows)).toBe(1);
  });

  it('asks ClickHouse for ids only where counts disagree, and lists what is missing there', () => {
    const l = layers({ clickhouse: new Map([[KEY, { count: 2, uniq: 2, minutes: 4, storedRows: 2 }]]) });
    const stored = new Set(['tencent-ccc:1400:a', 'tencent-ccc:1400:b']);
    expect(bucketsNeedingIds(l, new Map([[KEY, idsFingerprint(stored)]])).read).toEqual([KEY]);
    l.clickhouseIds.set(KEY, stored);
    const [row] = compareLayers(l);
    expect(row!.drift.find((d) => d.kind === 'not_in_clickhouse')!.ids).toEqual(['tencent-ccc:1400:c']);
  });

  it('knows a bucket\'s ids without reading them when ClickHouse took every call the sink refused, at its counted version; reads any other', () => {
    const all = ['a', 'b', 'c'].map((x) => `tencent-ccc:1400:${x}`);
    // Each call received at 1000 (ms), as the normalized scan counts them; the sink refused c.
    const normalized = new Tally();
    for (const id of all) normalized.addVersion('tencent-ccc', '1400', '2026-11-30', id, 2, 1000);
    const l = layers({ normalized, sinkDead: new Map([[KEY, new Set([all[2]!])]]) });
    const ids = new Map([[KEY, idsFingerprint(all)]]);
    const versions = (c: number) => new Map([[KEY, versionsFingerprint(all.map((id) => [id, id === all[2] ? c : 1000]))]]);
    const needing = bucketsNeedingIds(l, ids, versions(1000));
    expect(needing).toEqual({ read: [], known: new Map([[KEY, new Map(all.map((id) => [id, 1000]))]]) });
    const [row] = compareLayers({ ...l, clickhouseIds: needing.known });
    expect({ dlq: row!.deadLettered, drift: row!.drift }).toEqual({ dlq: 0, drift: [] });
    // The refused call held at another version than the one refused (earlier: still dead-lettered; later: newer in
    // ClickHouse), or no versions to tell: read.
    expect(bucketsNeedingIds(l, ids, versions(999))).toEqual({ read: [KEY], known: new Map() });
    expect(bucketsNeedingIds(l, ids, versions(1001))).toEqual({ read: [KEY], known: new Map() });
    expect(bucketsNeedingIds(l, ids)).toEqual({ read: [KEY], known: new Map() });
    // ClickHouse without the refused call: agrees with what is expected there, nothing to read.
    l.clickhouse.set(KEY, { count: 2, uniq: 2, minutes: 4, storedRows: 2 });
    expect(bucketsNeedingIds(l, new Map([[KEY, idsFingerprint(all.slice(0, 2))]]), new Map([[KEY, versionsFingerprint(all.slice(0, 2).map((id) => [id, 1000]))]]))).toEqual({ read: [], known: new Map() });
  });

  it('on a day in progress, only what is missing in both looks is drift; the rest was in flight', () => {
    const first = layers();
    first.source.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:x', 1);
    first.source.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:y', 1);
    const second = layers();
    second.source.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:y', 1);
    second.source.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:z', 1);
    const partial = new Set(['2026-11-30']);
    const [row] = confirmDrift(compareLayers(first), compareLayers(second), partial);
    expect(row!.drift.map((d) => [d.kind, d.ids])).toEqual([['missing_in_raw', ['tencent-ccc:1400:y']], ['minutes', undefined]]);
    expect(row!.inFlight).toBe(1);
    // A closed day is never second-guessed.
    expect(confirmDrift(compareLayers(first), compareLayers(second), new Set())[0]!.inFlight).toBe(0);
  });

  it('after the second look, minutes drift is repairable only if drift a repair closes is left (not when only in-flight records made it so)', () => {
    // Both looks: e is on the raw topic but the vendor no longer serves it (not_in_source: nothing to repair), and
    // ClickHouse has its minutes. The second look also sees z served and not yet polled: in flight, dropped.
    const look = (extra: string[]) => {
      const fig = { calls: 4, minutes: 11 };
      const l = layers({
        clickhouse: new Map([[KEY, { count: 4, uniq: 4, minutes: 11, storedRows: 4 }]]),
        views: { cdr_daily: new Map([[KEY, fig]]), cdr_hourly: new Map([[KEY, fig]]), cdr_end_status: new Map([[KEY, { calls: 4, minutes: null }]]) },
      });
      for (const id of ['e']) {
        l.raw.add('tencent-ccc', '1400', '2026-11-30', `tencent-ccc:1400:${id}`, 5);
        l.normalized.add('tencent-ccc', '1400', '2026-11-30', `tencent-ccc:1400:${id}`, 5);
      }
      for (const id of extra) l.source.add('tencent-ccc', '1400', '2026-11-30', `tencent-ccc:1400:${id}`, 1);
      return compareLayers(l);
    };
    const second = look(['z']);
    expect(second[0]!.drift.find((d) => d.kind === 'minutes')!.repairable).toBe(true);
    const [row] = confirmDrift(look([]), second, new Set(['2026-11-30']));
    expect(row!.inFlight).toBe(1);
    expect(row!.drift.map((d) => d.kind)).toEqual(['not_in_source', 'minutes']);
    const minutes = row!.drift.find((d) => d.kind === 'minutes')!;
    expect(minutes.repairable).toBe(false);
    expect(minutes.detail).not.toMatch(/follows the missing records/);
    const rendered = renderDrift({ runId: 'r', startedAt: '', finishedAt: '', scope: { from: '2026-11-30', to: '2026-11-30', tz: 'UTC', cutoff: '', vendors: [], tenants: null }, rows: [row!], notes: [], driftRows: 1, sourceUnreachable: [], exitCode: 1 });
    expect(rendered.join('\n')).toMatch(/: minutes: billable minutes: source 7, ClickHouse 11$/m);
  });

  it('compares the daily views with cdr FINAL as read beside them, not with a bucket read again later with its ids', () => {
    // The views and the first figures saw 3 calls; the sink stored a fourth before the ids were read: the bucket's
    // figures are the later read's (4), the views' reference stays the one read with them (3): no view drift.
    const d = new Tally();
    for (const id of ['a', 'b', 'c', 'd']) d.add('tencent-ccc', '1400', '2026-11-30', `tencent-ccc:1400:${id}`, 2);
    const later = { count: 4, uniq: 4, minutes: 8, storedRows: 4 };
    const read = layers({ source: d, raw: d, normalized: d, clickhouse: new Map([[KEY, later]]), hourlyBasis: new Map([[KEY, { calls: 3, minutes: 6 }]]) });
    const withBasis = compareLayers({ ...read, viewBasis: new Map([[KEY, { count: 3, uniq: 3, minutes: 6, storedRows: 3 }]]) });
    expect(withBasis[0]!.drift).toEqual([]);
    // Without it, the later figures against views read before: a view drift no view has.
    expect(compareLayers(read)[0]!.drift.map((x) => x.detail)).toEqual(['cdr_daily: 3 calls / 6 min vs cdr FINAL 4 calls / 8 min', 'cdr_end_status: 3 calls vs cdr FINAL 4 calls / 8 min']);
  });

  it('an unreachable source is exit 2, and the other layers are still compared', () => {
    const rows = compareLayers(layers({ sourceUnreachable: new Map([[sourceKey('tencent-ccc', '1400'), 'transient: connect ECONNREFUSED']]) }));
    expect(rows[0]!.source).toBeNull();
    expect(rows[0]!.drift.map((d) => d.kind)).toEqual(['source_unreachable']);
    expect(exitCodeOf(rows)).toBe(2);
  });

  it('an unreachable or refusing source is never repaired from: what it served before failing is not read as missing in raw', async () => {
    // The API answered some windows, then failed: the source tally holds a call the raw topic lacks.
    const partial = layers();
    partial.source.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:d', 2);
    const served = compareLayers(partial);
    expect(served[0]!.drift.map((d) => [d.kind, d.repairable])).toEqual([['missing_in_raw', true], ['minutes', true]]);
    for (const failed of [{ sourceUnreachable: new Map([[sourceKey('tencent-ccc', '1400'), 'transient: 503']]) }, { sourceRefused: new Map([[sourceKey('tencent-ccc', '1400'), 'InvalidParameterValue']]) }]) {
      const rows = compareLayers({ ...partial, ...failed });
      expect(rows[0]!.drift.map((d) => [d.kind, d.repairable])).toEqual([[failed.sourceUnreachable ? 'source_unreachable' : 'source_refused', false]]);
      // Nothing to backfill: the repair only lists the source it could not read.
      const r = { runId: 'r', startedAt: '', finishedAt: '', scope: { from: '2026-11-30', to: '2026-11-30', tz: 'UTC', cutoff: '', vendors: [], tenants: null }, rows, notes: [], driftRows: 1, sourceUnreachable: [], exitCode: 2 as const };
      const actions = await repair(r, { log: () => {}, signal: new AbortController().signal } as unknown as RepairContext);
      expect(actions.map((a) => a.kind)).toEqual(['unrepairable']);
    }
  });

  it('a vendor refusing the range is said so, with its message, not as an unreachable API; read once, not retried', async () => {
    const message = 'DescribeProtectedTelCdr SdkAppId=1400 [1767225600,1767229200] page 0 (100 records a page): "InvalidParameterValue": "StartTimeStamp must be within the last 180 days."';
    let surveys = 0;
    const connector = {
      source: { vendor: 'tencent-ccc', tenants: ['1400'] },
      survey: () => {
        surveys++;
        return Promise.reject(new CdrflowError('config', message, { code: 'InvalidParameterValue' }));
      },
    } as unknown as PullConnector;
    const logged: string[] = [];
    const source = await readSource([connector], scope, null, {} as NormalizeOptions, { signal: new AbortController().signal, maxAttempts: 4, progress: silentStream(), log: (m) => void logged.push(m), now: Date.parse('2026-12-01T10:00:00Z') });
    expect(surveys).toBe(1);
    expect([...source.unreachable]).toEqual([]);
    expect(logged).toEqual([`source tencent-ccc 1400: the vendor refused the request (not retried): ${message}`]);
    const rows = compareLayers(layers({ sourceRefused: source.refused }));
    expect(rows[0]!.drift.map((d) => [d.kind, d.detail])).toEqual([['source_refused', `tencent-ccc refused the request for tenant 1400 (not retried): ${message}`]]);
    expect(exitCodeOf(rows)).toBe(2);
    const report = { runId: 'r', startedAt: '', finishedAt: '', scope: { from: '2026-11-30', to: '2026-11-30', tz: 'UTC', cutoff: '', vendors: [], tenants: null }, rows, notes: [], driftRows: 1, sourceUnreachable: [], exitCode: 2 as const };
    const text = renderOutcome({ before: report, exitCode: 2 }, false);
    expect(text).toContain('the vendor refused the request: tencent-ccc (exit 2)');
    expect(text).not.toContain('unreachable');
    // Unreachable stays unreachable: a network error is retried and named so.
    expect(vendorRefusal(new CdrflowError('transient', 'network error', { code: 'network' }))).toBe(false);
    expect(vendorRefusal(new CdrflowError('auth', 'AuthFailure', { code: 'AuthFailure.SignatureFailure' }))).toBe(false);
    expect(vendorRefusal(new CdrflowError('config', 'HTTP 400', { code: 'http-400' }))).toBe(true);
  });

  it('renders what came from outside printably: a vendor\'s refusal, a tenant, a note, a repair\'s detail and sample ids', () => {
    const hostile = 'HTTP 400: \u202eterces\u202c\r\x1b[2J\u0085\u200b';
    const shown = terminalText(hostile);
    const rows = compareLayers(layers({ sourceRefused: new Map([[sourceKey('tencent-ccc', '1400'), hostile]]) }));
    const report = { runId: 'r', startedAt: '', finishedAt: '', scope: { from: '2026-11-30', to: '2026-11-30', tz: 'UTC', cutoff: '', vendors: [], tenants: null }, rows, notes: [`a note ${hostile}`], driftRows: 1, sourceUnreachable: [], exitCode: 2 as const };
    const repairActions = [{ kind: 'unrepairable' as const, vendor: 'tencent-ccc' as const, tenant: `t${hostile}`, records: 1, detail: hostile, sample: [`id${hostile}`] }];
    const text = renderOutcome({ before: report, repair: repairActions, exitCode: 2 }, true);
    expect(text).toContain(`note: a note ${shown}\n`);
    expect(text).toContain(`tencent-ccc 1400 2026-11-30: source_refused: tencent-ccc refused the request for tenant 1400 (not retried): ${shown}\n`);
    expect(text).toContain(`  unrepairable tencent-ccc t${shown}: ${shown} — id${shown}\n`);
    // Only the table's own colour drives the terminal.
    const uncoloured = text.replaceAll('\x1b[31m', '').replaceAll('\x1b[0m', '');
    expect(uncoloured).not.toMatch(/[^\P{C}\n]|[\p{Zl}\p{Zp}]/u);
  });

  it('a day further back than the vendor can be queried or keeps is not asked for and said so, not refused and not drift', async () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    const DAY = 86_400;
    // CCC refuses a StartTimeStamp more than 180 days back; TRTC v4 moves it up to its 7 days and serves nothing older.
    const cases = [
      { vendor: 'tencent-ccc', retentionSec: 180 * DAY, retentionLimit: 'queryable', old: '2026-06-04', words: 'is further back than tencent-ccc can be queried (180 days)', tooOld: () => Promise.reject(new CdrflowError('config', 'StartTimeStamp must be within the last 180 days.', { code: 'InvalidParameterValue' })) },
      { vendor: 'tencent-trtc', retentionSec: 7 * DAY, old: '2026-11-24', words: 'is older than tencent-trtc keeps (7 days)', tooOld: () => Promise.resolve({ records: 0 }) },
    ] as const;
    for (const c of cases) {
      const asked: number[] = [];
      const connector = {
        source: { vendor: c.vendor, tenants: ['1400'], retentionSec: c.retentionSec, ...('retentionLimit' in c ? { retentionLimit: c.retentionLimit } : {}) },
        survey: (_tenant: string, window: { start: number }) => {
          asked.push(window.start);
          return window.start < now / 1000 - c.retentionSec ? c.tooOld() : Promise.resolve({ records: 0 });
        },
      } as unknown as PullConnector;
      // The day the horizon falls in and the day after it.
      const next = new Date(Date.parse(`${c.old}T00:00:00Z`) + DAY * 1000).toISOString().slice(0, 10);
      const twoDays: DayScope = { from: c.old, to: next, tzOffsetMinutes: 0, cutoffMs: now };
      const source = await readSource([connector], twoDays, null, {} as NormalizeOptions, { signal: new AbortController().signal, maxAttempts: 4, progress: silentStream(), log: () => {}, now });
      expect(Math.min(...asked)).toBe(Date.parse(`${next}T00:00:00Z`) / 1000);
      expect([...source.refused]).toEqual([]);
      // The raw topic holds a call of the old day: without the vendor's answer it is not `not_in_source`.
      const raw = new Tally();
      raw.add(c.vendor, '1400', c.old, `${c.vendor}:1400:x`, 2);
      const oldKey = bucketKey(c.vendor, '1400', c.old);
      const rows = compareLayers(
        layers({
          scope: twoDays,
          sourceKind: () => 'api',
          sourceTenants: source.tenants,
          source: source.tally,
          sourceRefused: source.refused,
          sourceBeyondHorizon: source.beyondHorizon,
          raw,
          normalized: raw,
          clickhouse: new Map([[oldKey, { count: 1, uniq: 1, minutes: 2, storedRows: 1 }]]),
          views: { cdr_daily: new Map([[oldKey, { calls: 1, minutes: 2 }]]), cdr_hourly: new Map([[oldKey, { calls: 1, minutes: 2 }]]), cdr_end_status: new Map([[oldKey, { calls: 1, minutes: null }]]) },
        }),
      );
      expect(rows.map((r) => [r.day, r.source, r.sourceBeyondHorizon, r.drift.map((d) => d.kind)])).toEqual([
        [c.old, null, c.words, []],
        [next, { records: 0, minutes: 0, keyless: 0 }, undefined, []],
      ]);
      expect(exitCodeOf(rows)).toBe(0);
      const report = { runId: 'r', startedAt: '', finishedAt: '', scope: { from: c.old, to: next, tz: 'UTC', cutoff: '', vendors: [], tenants: null }, rows, notes: beyondHorizonNotes(rows), driftRows: 0, sourceUnreachable: [], exitCode: 0 as const };
      const text = renderOutcome({ before: report, exitCode: 0 }, false);
      expect(text).toContain(`note: ${c.vendor} tenant 1400: ${c.old} ${c.words}: not checked against the vendor (source "beyond"); the other layers are reconciled`);
      expect(text).toMatch(new RegExp(`${c.vendor}\\s+1400\\s+${c.old}\\s+beyond\\s+1\\s`));
      expect(text).toContain('all 2 vendor-tenant-day row(s) agree, 1 of them not checked against the vendor (beyond what it serves) (exit 0)');
      expect(text).not.toMatch(/refused|unreachable/);
    }
  });

  it('renders a table and JSON with a sample of ids instead of the full lists', () => {
    const l = layers();
    l.source.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:d', 3);
    const rows = compareLayers(l);
    const report = { runId: 'r', startedAt: '', finishedAt: '', scope: { from: '2026-11-30', to: '2026-11-30', tz: 'UTC', cutoff: '', vendors: [], tenants: null }, rows, notes: [], driftRows: 1, sourceUnreachable: [], exitCode: 1 as const };
    const text = renderOutcome({ before: report, exitCode: 1 }, false);
    expect(text).toMatch(/tencent-ccc\s+1400\s+2026-11-30\s+4\s+3\s+3/);
    expect(text).toMatch(/DRIFT missing_in_raw/);
    expect(text.includes('\u001b[')).toBe(false);
    expect(renderOutcome({ before: report, exitCode: 1 }, true).includes('\u001b[31m')).toBe(true);
    const json = outcomeJson({ before: report, exitCode: 1 }) as { before: { rows: { drift: { ids?: unknown; sample?: string[] }[] }[] } };
    expect(json.before.rows[0]!.drift[0]!.ids).toBeUndefined();
    expect(json.before.rows[0]!.drift[0]!.sample).toEqual(['tencent-ccc:1400:d']);
  });

  it('asks ClickHouse for ids where it holds more than the normalized topic, and names the extra rows', () => {
    const l = layers({ clickhouse: new Map([[KEY, { count: 4, uniq: 4, minutes: 8, storedRows: 4 }]]) });
    const stored = new Set(['tencent-ccc:1400:a', 'tencent-ccc:1400:b', 'tencent-ccc:1400:c', 'tencent-ccc:1400:w']);
    expect(bucketsNeedingIds(l, new Map([[KEY, idsFingerprint(stored)]])).read).toEqual([KEY]);
    l.clickhouseIds.set(KEY, stored);
    const [row] = compareLayers(l);
    expect(row!.drift.find((d) => d.kind === 'extra_in_clickhouse')).toMatchObject({ ids: ['tencent-ccc:1400:w'], count: 1, repairable: false });
    expect(row!.drift.map((d) => d.kind)).not.toContain('extra_in_normalized');
  });
});

describe('compareLayers: minutes drift from a stale version', () => {
  // A push vendor's day: c re-sent with 3 minutes instead of 2, the new version never normalized. ClickHouse bills the
  // old one; the minutes differ because of a stale version, not of a missing record. `lost`: also not in ClickHouse.
  const look = (opts: { lost?: string } = {}) => {
    const raw = new Tally();
    const normalized = new Tally();
    const ids = ['a', 'b', 'c', ...(opts.lost ? [opts.lost] : [])];
    for (const id of ids) {
      raw.addVersion('tencent-ccc', '1400', '2026-11-30', `tencent-ccc:1400:${id}`, id === 'c' ? 3 : 2, id === 'c' ? 2_000 : 1_000);
      normalized.addVersion('tencent-ccc', '1400', '2026-11-30', `tencent-ccc:1400:${id}`, 2, 1_000);
    }
    const chIds = new Map(['a', 'b', 'c'].map((id) => [`tencent-ccc:1400:${id}`, 1_000]));
    return compareLayers(layers({ ...rawTopicSource(), raw, normalized, clickhouseIds: new Map([[KEY, chIds]]) }));
  };
  const minutesOf = (rows: ReconcileRow[]) => rows[0]!.drift.find((d) => d.kind === 'minutes')!;

  it('says the minutes follow the stale versions, and both when a record is missing too', () => {
    const [row] = look();
    expect(row!.drift.map((d) => d.kind)).toEqual(['stale_in_normalized', 'minutes']);
    expect(minutesOf([row!])).toMatchObject({ repairable: true, detail: 'billable minutes: raw 7, ClickHouse 6 (follows the stale versions)' });
    expect(minutesOf(look({ lost: 'd' })).detail).toBe('billable minutes: raw 9, ClickHouse 6 (follows the missing records and the stale versions)');
  });

  it('after the second look, names what is left: a missing record in flight leaves only the stale version', () => {
    const [row] = confirmDrift(look(), look({ lost: 'd' }), new Set(['2026-11-30']));
    expect(row!.inFlight).toBe(1);
    expect(row!.drift.map((d) => d.kind)).toEqual(['stale_in_normalized', 'minutes']);
    expect(minutesOf([row!])).toMatchObject({ repairable: true, detail: 'billable minutes: raw 9, ClickHouse 6 (follows the stale versions)' });
  });
});

describe('compareLayers: normalized but not on the raw topic', () => {
  const HUAWEI = bucketKey('huawei-privatenumber', 'app', '2026-11-30');
  // The operator's repro: records imported onto another vendor's raw topic (`cdrflow import huawei-privatenumber
  // --topic cdr.raw.alibaba-lvms`) are normalized by their envelope's vendor and reach ClickHouse, but are not on
  // cdr.raw.huawei-privatenumber: normalized + dlq > raw.
  function pushLayers(): Layers {
    const raw = new Tally();
    const normalized = new Tally();
    for (const id of ['a', 'b', 'c', 'dead']) raw.add('huawei-privatenumber', 'app', '2026-11-30', `huawei-privatenumber:app:${id}`, id === 'dead' ? 0 : 2);
    for (const id of ['a', 'b', 'c', 'x', 'y', 'z']) normalized.add('huawei-privatenumber', 'app', '2026-11-30', `huawei-privatenumber:app:${id}`, id === 'x' ? 3 : 2);
    const fig = { calls: 6, minutes: 13 };
    return {
      ...layers(),
      ...rawTopicSource(),
      raw,
      normalized,
      normalizeDead: new Map([[HUAWEI, new Set(['huawei-privatenumber:app:dead'])]]),
      clickhouse: new Map([[HUAWEI, { count: 6, uniq: 6, minutes: 13, storedRows: 6 }]]),
      views: { cdr_daily: new Map([[HUAWEI, fig]]), cdr_hourly: new Map([[HUAWEI, fig]]), cdr_end_status: new Map([[HUAWEI, { calls: 6, minutes: null }]]) },
    };
  }
  const EXTRA = ['huawei-privatenumber:app:x', 'huawei-privatenumber:app:y', 'huawei-privatenumber:app:z'];
  const report = (rows: ReconcileRow[]): ReconcileReport => ({
    runId: 'r',
    startedAt: '',
    finishedAt: '',
    scope: { from: '2026-11-30', to: '2026-11-30', tz: 'UTC', cutoff: '', vendors: [], tenants: null },
    rows,
    notes: driftNotes(rows),
    driftRows: rows.filter((r) => r.drift.length > 0).length,
    sourceUnreachable: [],
    exitCode: exitCodeOf(rows),
  });

  it('names them with their ids as a record kind, not only as a minutes difference', () => {
    const [row] = compareLayers(pushLayers());
    expect([row!.raw.records, row!.normalized.records, row!.deadLettered]).toEqual([4, 6, 1]);
    expect(row!.drift.map((d) => d.kind)).toEqual(['extra_in_normalized', 'minutes']);
    const extra = row!.drift[0]!;
    expect(extra).toMatchObject({ count: 3, ids: EXTRA, repairable: false });
    expect(extra.detail).toBe("3 normalized record(s) with no raw record on the huawei-privatenumber raw topic for this day (imported or replayed onto another topic, or removed by the raw topic's retention)");
    // Counted in the verdict like the other record kinds (drift_records, cdrflow_reconcile_drift_records).
    expect(driftRecords(row!.drift)).toBe(3);
    expect(exitCodeOf([row!])).toBe(1);
    expect(renderDrift(report([row!]))).toContain(`  huawei-privatenumber app 2026-11-30: extra_in_normalized: ${extra.detail} — ${EXTRA.join(', ')}`);
  });

  it('is explained once in the notes and listed as unrepairable by --repair', async () => {
    const rows = compareLayers(pushLayers());
    const r = report(rows);
    expect(r.notes).toHaveLength(1);
    expect(r.notes[0]).toMatch(/^extra_in_normalized: records on the normalized topic .* whose raw record is not on their vendor's raw topic/);
    expect(r.notes[0]).toMatch(/--repair cannot restore a raw record/);
    expect(driftNotes(compareLayers(layers()))).toEqual([]);
    // Nothing to re-feed: repair reads no topic and touches no table, it only lists what it cannot repair.
    const actions = await repair(r, { log: () => {}, signal: new AbortController().signal } as unknown as RepairContext);
    expect(actions.filter((a) => a.records === 3)).toEqual([{ kind: 'unrepairable', vendor: 'huawei-privatenumber', tenant: 'app', records: 3, detail: `2026-11-30: ${rows[0]!.drift[0]!.detail}`, sample: EXTRA }]);
  });

  it('gets a second look on a day in progress: a record published to raw after the raw scan was in flight', () => {
    const partial = new Set(['2026-11-30']);
    const first = compareLayers(pushLayers());
    expect(hasEdgeDrift(first, partial)).toBe(true);
    expect(hasEdgeDrift(first, new Set())).toBe(false);
    // A moment later x is on the raw topic too (it was only published after the raw scan began); y and z never are.
    const later = pushLayers();
    later.raw.add('huawei-privatenumber', 'app', '2026-11-30', 'huawei-privatenumber:app:x', 3);
    const [row] = confirmDrift(first, compareLayers(later), partial);
    expect(row!.drift.find((d) => d.kind === 'extra_in_normalized')).toMatchObject({ count: 2, ids: EXTRA.slice(1), detail: expect.stringMatching(/^2 normalized record\(s\)/) });
  });

  it('leaves to missing_in_raw what the vendor API still serves (a backfill repairs both), names the rest', () => {
    const l = layers();
    l.normalized.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:served', 2);
    l.source.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:served', 2);
    l.normalized.add('tencent-ccc', '1400', '2026-11-30', 'tencent-ccc:1400:gone', 2);
    const [row] = compareLayers(l);
    expect(row!.drift.find((d) => d.kind === 'missing_in_raw')!.ids).toEqual(['tencent-ccc:1400:served']);
    expect(row!.drift.find((d) => d.kind === 'extra_in_normalized')!.ids).toEqual(['tencent-ccc:1400:gone']);
    // With the API unreachable nothing is known to be served: every normalized record without a raw one is named.
    const [blind] = compareLayers({ ...l, sourceUnreachable: new Map([[sourceKey('tencent-ccc', '1400'), 'transient: down']]) });
    expect(blind!.drift.find((d) => d.kind === 'extra_in_normalized')!.ids).toEqual(['tencent-ccc:1400:served', 'tencent-ccc:1400:gone']);
  });
});

describe('an LVMS call keyed job|number|start, under a PII key', () => {
  const options: NormalizeOptions = { ...defaultNormalizeOptions(), piiKey: 'reconcile-pii-key-0123456789' };
  const record = { robot_call_job_id: 5001, called_phone_number: '13800138000', phone_number: '02161234567', result_status: 'ANSWERED', chat_duration: 61, start_time: '2026-11-30 18:00:00', end_time: '2026-11-30 18:01:15' };
  const envelope = (payload: object): RawEnvelope => ({
    vendor: 'alibaba-lvms',
    tenant_id: 'app',
    natural_key: 'job:5001|13800138000|2026-11-30 18:00:00',
    received_at: new Date('2026-11-30T10:02:00Z'),
    connector: 'lvms-receiver',
    mode: 'live',
    request_id: null,
    payload: JSON.stringify(payload),
    payload_format: 'json',
    attributes: {},
  });
  const key = bucketKey('alibaba-lvms', 'app', '2026-11-30');

  it('reconciles as present: the raw layer counts it under the cdr_id its row in ClickHouse has, without the number', () => {
    // The raw layer as reconcile reads it; the normalized topic and ClickHouse as the stages wrote them.
    const raw = new Tally();
    const f = callFigures(envelope(record), options);
    raw.add('alibaba-lvms', 'app', bucketDay(scope, f.callTimeMs)!, f.cdrId!, f.minutes);
    const stored = normalize(envelope(record), { now: () => new Date(), lineage: null, options });
    if (!stored.ok) throw new Error(stored.error.message);
    const normalized = new Tally();
    normalized.add('alibaba-lvms', 'app', '2026-11-30', stored.cdr.cdr_id, stored.cdr.billable_minutes);
    const fig = { calls: 1, minutes: 2 };
    const [row] = compareLayers({
      ...layers(),
      ...rawTopicSource(),
      raw,
      normalized,
      clickhouse: new Map([[key, { count: 1, uniq: 1, minutes: 2, storedRows: 1 }]]),
      clickhouseIds: new Map([[key, new Set([stored.cdr.cdr_id])]]),
      views: { cdr_daily: new Map([[key, fig]]), cdr_hourly: new Map([[key, fig]]), cdr_end_status: new Map([[key, { calls: 1, minutes: null }]]) },
    });
    expect(row!.drift).toEqual([]);
    expect(row!.raw.records).toBe(1);
    expect(f.cdrId).not.toContain('13800138000');
  });

  it('counts a call normalize refuses under the cdr_id its dead letter names, without the number', () => {
    const refused = { ...record, end_time: '2026-13-30 18:01:15' };
    const dead = normalize(envelope(refused), { now: () => new Date(), lineage: null, options });
    if (dead.ok) throw new Error('expected a dead letter');
    expect(callFigures(envelope(refused), options).cdrId).toBe(dead.error.cdr_id);
    expect(dead.error.cdr_id).not.toContain('13800138000');
  });
});

describe('compareLayers: normalized + dead-lettered above raw on a day in progress', () => {
  // The demo's row after a restart: raw 577, normalized 577, dlq 5, ClickHouse 572, ok with 10 in flight. The layers
  // are read one after another (dead letters, raw, normalized, ClickHouse): 5 calls published to raw after its scan
  // took its end offsets were normalized before the normalized scan (and not yet inserted when ClickHouse was read).
  const day = '2026-11-30';
  const KEY = bucketKey('huawei-privatenumber', 'app', day);
  const id = (n: string) => `huawei-privatenumber:app:${n}`;
  const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => id(`${prefix}${i}`));
  const settled = range('s', 572);
  const dead = range('d', 5);
  const arrived = range('n', 5);
  function look(opts: { raw: string[]; normalized: string[]; clickhouse: string[] }): Layers {
    const raw = new Tally();
    const normalized = new Tally();
    for (const r of opts.raw) raw.add('huawei-privatenumber', 'app', day, r, dead.includes(r) ? 0 : 2);
    for (const n of opts.normalized) normalized.add('huawei-privatenumber', 'app', day, n, 2);
    const ch = { count: opts.clickhouse.length, uniq: opts.clickhouse.length, minutes: opts.clickhouse.length * 2, storedRows: opts.clickhouse.length };
    const fig = { calls: ch.count, minutes: ch.minutes };
    return {
      ...layers(),
      ...rawTopicSource(),
      raw,
      normalized,
      normalizeDead: new Map([[KEY, new Set(dead)]]),
      clickhouse: new Map([[KEY, ch]]),
      clickhouseIds: new Map([[KEY, new Set(opts.clickhouse)]]),
      views: { cdr_daily: null, cdr_hourly: new Map([[KEY, fig]]), cdr_end_status: null },
      hourlyBasis: new Map([[KEY, fig]]),
    };
  }
  const partial = new Set([day]);
  const second = look({ raw: [...settled, ...dead], normalized: [...settled, ...arrived], clickhouse: settled });

  it('is ok with the arrivals counted in flight when the first look had not seen them', () => {
    // The first look a moment earlier: 3 calls not yet in ClickHouse (which is why it looked again), the 5 not sent yet.
    const first = compareLayers(look({ raw: [...settled, ...dead], normalized: settled, clickhouse: settled.slice(3) }));
    expect(hasEdgeDrift(first, partial)).toBe(true);
    const [row] = confirmDrift(first, compareLayers(second), partial);
    expect([row!.raw.records, row!.normalized.records, row!.deadLettered, row!.clickhouse.uniq]).toEqual([577, 577, 5, 572]);
    expect(row!.drift).toEqual([]);
    expect(row!.inFlight).toBe(10);
    expect(exitCodeOf([row!])).toBe(0);
  });

  it('is drift when the first look saw the same calls normalized without a raw record (not arrivals between scans)', () => {
    const [row] = confirmDrift(compareLayers(second), compareLayers(second), partial);
    expect(row!.drift.map((d) => [d.kind, d.count])).toEqual([['extra_in_normalized', 5], ['not_in_clickhouse', 5]]);
    expect(row!.inFlight).toBe(0);
    expect(exitCodeOf([row!])).toBe(1);
    // A day no longer in progress gets no second look: the same figures are drift at once.
    expect(compareLayers(second)[0]!.drift.map((d) => d.kind)).toEqual(['extra_in_normalized', 'not_in_clickhouse']);
  });
});

describe("the table's column legend", () => {
  it('is the line the README shows under its example output', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { REPO_ROOT } = await import('../core/repo-root.ts');
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n');
    expect(readme.filter((line) => line.startsWith('columns: source ='))).toEqual([COLUMNS_LEGEND]);
  });
});
