// A repair whose run was aborted (its client left the job's POST /reconcile) stops at a safe point: between whole
// actions, before anything more is re-fed or merged, and says what it had done.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from '../core/kafka.ts';
import type { ReconcileReport } from './model.ts';
import { repair } from './repair.ts';
import { emptyClickHouse, repairContext, repairRow, type SentStatement } from './fixtures/repair-context.ts';
import { bucketKey } from './tally.ts';
import { BackfillBusy } from '../connectors/poller/backfill-lock.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';


const context = repairContext;

/** The context of a repair that has nothing to re-feed: only ClickHouse is used (no call in two months), and its commands are kept. */
const mergeOnlyContext = (sent: SentStatement[]) => context({ clickhouse: emptyClickHouse(sent) });

describe('repair', () => {
  it.each([
    ['UTC', '2026-12-01', ['202612']],
    // At +08:00, 1 December runs from 30 November 16:00 UTC: its calls sit in two UTC month partitions.
    ['+08:00', '2026-12-01', ['202611', '202612']],
    ['+08:00', '2026-12-15', ['202612']],
    // At -05:00, 31 December runs to 1 January 05:00 UTC, into the next year's first partition.
    ['-05:00', '2026-12-31', ['202612', '202701']],
  ])('unmerged duplicates of a day at %s (%s): OPTIMIZE on every UTC month partition the day spans', async (tz, day, partitions) => {
    const sent: SentStatement[] = [];
    const report = { scope: { tz }, rows: [repairRow({ day, unmergedDuplicates: 2 })] } as unknown as ReconcileReport;
    const actions = await repair(report, mergeOnlyContext(sent));
    expect(sent.map((s) => s.query)).toEqual(partitions.map((p) => `OPTIMIZE TABLE \`cdrflow\`.\`cdr\` PARTITION ID '${p}' FINAL`));
    expect(actions.map((a) => a.kind)).toEqual(['merge_duplicates']);
    expect(actions[0]!.detail).toContain(`partition(s) ${partitions.join(', ')}`);
  });

  it('sends OPTIMIZE with optimize_throw_if_noop=0: a server set to 1 would fail the repair on a month with nothing to merge', async () => {
    const sent: SentStatement[] = [];
    const report = { scope: { tz: 'UTC' }, rows: [repairRow({ day: '2026-12-01' })] } as unknown as ReconcileReport;
    await repair(report, mergeOnlyContext(sent));
    expect(sent).toEqual([{ query: "OPTIMIZE TABLE `cdrflow`.`cdr` PARTITION ID '202612' FINAL", clickhouse_settings: { wait_end_of_query: 1, optimize_throw_if_noop: 0 } }]);
  });

  // README: the superseded versions are deleted "at most 1,000 calls a statement" (a statement carries every id and
  // its kept version: one for a month of calls would pass the server's query size).
  it('deletes superseded versions in another month at most 1,000 calls a statement', async () => {
    const calls = 2_001;
    const stored = Array.from({ length: calls }, (_, i) =>
      JSON.stringify({ cdr_id: `tencent-ccc:1400000001:c${i}`, rows: [['202611', '1', '1000', String(i)], ['202612', '2', '2000', String(calls + i)]] }),
    ).join('\n');
    const deleted: { partition: unknown; ids: number; keep: unknown[] }[] = [];
    const exec = (params: { query: string; query_params?: Record<string, unknown> }) => {
      const body = params.query.includes('HAVING uniqExact(_partition_id) > 1') ? [Buffer.from(`${stored}\n`)] : [];
      if (params.query.startsWith('DELETE')) {
        const { partition, ids, keep } = params.query_params as { partition: unknown; ids: string[]; keep: unknown[] };
        deleted.push({ partition, ids: ids.length, keep: [...new Set(keep)] });
      }
      return Promise.resolve({ stream: Readable.from(body), http_status_code: 200, response_headers: {} });
    };
    const report = { scope: { tz: 'UTC' }, rows: [repairRow({ day: '2026-11-30', unmergedDuplicates: calls })] } as unknown as ReconcileReport;
    const actions = await repair(report, context({ clickhouse: { exec } as unknown as ClickHouseClient }));
    expect(deleted).toEqual([
      { partition: '202611', ids: 1_000, keep: [2] },
      { partition: '202611', ids: 1_000, keep: [2] },
      { partition: '202611', ids: 1, keep: [2] },
    ]);
    expect(actions.find((a) => a.kind === 'delete_superseded')).toMatchObject({ records: calls });
  });

  it('aborted: re-feeds and merges nothing, rejects with the reason and logs what was done', async () => {
    const used: string[] = [];
    const kafka = { admin: () => (used.push('kafka'), { connect: () => Promise.reject(new Error('not here')) }) } as unknown as Kafka;
    const sent: SentStatement[] = [];
    const clickhouse = emptyClickHouse(sent);
    const report = {
      rows: [repairRow({ drift: [{ kind: 'not_in_clickhouse', count: 1, detail: '1 normalized record(s) missing in ClickHouse', ids: ['tencent-ccc:1400000001:a'], repairable: true }] })],
    } as unknown as ReconcileReport;
    const abort = new AbortController();
    abort.abort(new Error('the client went away'));
    const logged: string[] = [];
    const ctx = context({ kafka, clickhouse, signal: abort.signal, log: (msg) => void logged.push(msg) });
    await expect(repair(report, ctx)).rejects.toThrow('the client went away');
    expect({ used, sent }).toEqual({ used: [], sent: [] });
    expect(logged).toEqual(['repair stopped (the client went away); done before: nothing']);
  });

  // A re-run cannot tell it again: the range's checkpoint is complete, so its backfill reads nothing.
  it.each([
    ['stopped', true, 'repair stopped (SIGINT)'],
    ['failed', false, 'repair failed (SIGINT)'],
  ])('%s after a backfill that did not bring every missing record back: its log lists those records and why', async (_, stop, ended) => {
    const [brought, notBrought, later] = ['a', 'b', 'c'].map((k) => `tencent-ccc:1400000001:${k}`) as [string, string, string];
    const hour = Date.UTC(2026, 10, 30, 10) / 1000;
    const report = {
      scope: { tz: 'UTC' },
      rows: [repairRow({ unmergedDuplicates: 0, drift: [{ kind: 'missing_in_raw', count: 3, detail: '3 record(s) the vendor serves are not on the raw topic', ids: [brought, notBrought, later], repairable: true }] })],
    } as unknown as ReconcileReport;
    const abort = new AbortController();
    const reason = new Error('SIGINT');
    let runs = 0;
    const connector = {
      source: { vendor: 'tencent-ccc' },
      backfill: (req: { onPublished: (keys: string[]) => void }) => {
        if (runs++ > 0) {
          if (stop) abort.abort(reason);
          return Promise.reject(reason);
        }
        req.onPublished(['a']);
        return Promise.resolve({ records: 1, alreadyComplete: false, lostSeconds: 600, lostFrom: '2026-11-30T10:00:00.000Z', lostTo: '2026-11-30T10:10:00.000Z' });
      },
    } as unknown as PullConnector;
    const windows = new Map([[brought, hour], [notBrought, hour], [later, hour + 7200]]);
    const logged: string[] = [];
    const ctx = context({ connectors: [connector], signal: abort.signal, log: (msg) => void logged.push(msg), sourceWindows: new Map([[bucketKey('tencent-ccc', '1400000001', '2026-11-30'), windows]]) });
    await expect(repair(report, ctx)).rejects.toBe(reason);
    expect(logged).toEqual([
      `${ended}; done before: backfill 1, unrepairable 1`,
      `unrepairable tencent-ccc 1400000001: 2026-11-30: 1 missing record(s) the backfill did not bring back: the vendor no longer keeps 2026-11-30T10:00:00.000Z .. 2026-11-30T10:10:00.000Z, or the vendor did not serve them when read again — ${notBrought}`,
    ]);
  });

  // The loss stays on the backfill's checkpoint (every run of the range reports it): so does the reason.
  it('missing in raw, its range backfilled before with a loss: listed as not brought back, naming the hours the vendor no longer keeps', async () => {
    const id = 'tencent-ccc:1400000001:m';
    const report = {
      scope: { tz: 'UTC' },
      rows: [repairRow({ unmergedDuplicates: 0, drift: [{ kind: 'missing_in_raw', count: 1, detail: '', ids: [id], repairable: true }] })],
    } as unknown as ReconcileReport;
    const connector = {
      source: { vendor: 'tencent-ccc' },
      backfill: () => Promise.resolve({ records: 0, alreadyComplete: true, lostSeconds: 600, lostFrom: '2026-11-30T10:00:00.000Z', lostTo: '2026-11-30T10:10:00.000Z' }),
    } as unknown as PullConnector;
    const ctx = context({ connectors: [connector], sourceWindows: new Map([[bucketKey('tencent-ccc', '1400000001', '2026-11-30'), new Map([[id, Date.UTC(2026, 10, 30, 10) / 1000]])]]) });
    const actions = await repair(report, ctx);
    expect(actions.filter((a) => a.kind === 'unrepairable').map((a) => a.detail)).toEqual([
      '2026-11-30: 1 missing record(s) the backfill did not bring back: the vendor no longer keeps 2026-11-30T10:00:00.000Z .. 2026-11-30T10:10:00.000Z, or the vendor did not serve them when read before (its checkpoint says the range was backfilled before; nothing read)',
    ]);
  });

  it('missing in raw, its hour range being backfilled by another run: noted as not run, naming it, and the repair goes on', async () => {
    const id = 'tencent-ccc:1400000001:m';
    const start = Date.UTC(2026, 10, 30, 10) / 1000;
    const report = {
      scope: { tz: 'UTC' },
      rows: [repairRow({ unmergedDuplicates: 0, drift: [{ kind: 'missing_in_raw', count: 1, detail: '1 record(s) the vendor serves are not on the raw topic', ids: [id], repairable: true }] })],
    } as unknown as ReconcileReport;
    const calls: string[] = [];
    const busy = new BackfillBusy('tencent-ccc:1400000001:backfill:2026-11-30T10:00:00.000Z-2026-11-30T11:00:00.000Z', { pid: 4242, since: '2026-12-06T10:00:00.000Z', command: 'cdrflow backfill' });
    const connector = {
      source: { vendor: 'tencent-ccc' },
      backfill: (_req: unknown, _signal: unknown, by: string) => (calls.push(by), Promise.reject(busy)),
    } as unknown as PullConnector;
    const ctx = context({ connectors: [connector], sourceWindows: new Map([[bucketKey('tencent-ccc', '1400000001', '2026-11-30'), new Map([[id, start]])]]) });
    const actions = await repair(report, ctx);
    expect(calls).toEqual(['cdrflow reconcile --repair']);
    expect(actions).toEqual([
      {
        kind: 'backfill',
        vendor: 'tencent-ccc',
        tenant: '1400000001',
        records: 0,
        detail: `backfill 2026-11-30T10:00:00.000Z .. 2026-11-30T11:00:00.000Z for 1 missing record(s): not run, ${busy.message}`,
        sample: [id],
      },
    ]);
  });
});
