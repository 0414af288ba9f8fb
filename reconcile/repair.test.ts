// A repair whose run was aborted (its client left the job's POST /reconcile) stops at a safe point: between whole
// actions, before anything more is re-fed or merged, and says what it had done.
import { describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from '../core/kafka.ts';
import type { ReconcileReport, ReconcileRow } from './model.ts';
import { repair } from './repair.ts';
import { repairContext } from './fixtures/repair-context.ts';

const row = (over: Partial<ReconcileRow>): ReconcileRow => ({
  vendor: 'tencent-ccc',
  tenant: '1400000001',
  day: '2026-11-30',
  sourceKind: 'api',
  source: { records: 2, minutes: 2, keyless: 0 },
  raw: { records: 2, minutes: 2 },
  normalized: { records: 2, minutes: 2 },
  deadLettered: 0,
  clickhouse: { count: 1, uniq: 1, minutes: 1, storedRows: 2 },
  views: { cdr_daily: null, cdr_hourly: { calls: 1, minutes: 1 }, cdr_end_status: null },
  unmergedDuplicates: 1,
  inFlight: 0,
  drift: [],
  ...over,
});

const context = repairContext;

/** The context of a repair that has nothing to re-feed: only ClickHouse is used, and its commands are kept. */
const mergeOnlyContext = (commands: string[]) => context({ clickhouse: { command: (q: { query: string }) => (commands.push(q.query), Promise.resolve()) } as unknown as ClickHouseClient });

describe('repair', () => {
  it.each([
    ['UTC', '2026-12-01', ['202612']],
    // At +08:00, 1 December runs from 30 November 16:00 UTC: its calls sit in two UTC month partitions.
    ['+08:00', '2026-12-01', ['202611', '202612']],
    ['+08:00', '2026-12-15', ['202612']],
    // At -05:00, 31 December runs to 1 January 05:00 UTC, into the next year's first partition.
    ['-05:00', '2026-12-31', ['202612', '202701']],
  ])('unmerged duplicates of a day at %s (%s): OPTIMIZE on every UTC month partition the day spans', async (tz, day, partitions) => {
    const commands: string[] = [];
    const report = { scope: { tz }, rows: [row({ day, unmergedDuplicates: 2 })] } as unknown as ReconcileReport;
    const actions = await repair(report, mergeOnlyContext(commands));
    expect(commands).toEqual(partitions.map((p) => `OPTIMIZE TABLE \`cdrflow\`.\`cdr\` PARTITION ID '${p}' FINAL`));
    expect(actions.map((a) => a.kind)).toEqual(['merge_duplicates']);
    expect(actions[0]!.detail).toContain(`partition(s) ${partitions.join(', ')}`);
  });

  it('aborted: re-feeds and merges nothing, rejects with the reason and logs what was done', async () => {
    const used: string[] = [];
    const kafka = { admin: () => (used.push('kafka'), { connect: () => Promise.reject(new Error('not here')) }) } as unknown as Kafka;
    const clickhouse = { command: (q: { query: string }) => (used.push(q.query), Promise.resolve()) } as unknown as ClickHouseClient;
    const report = {
      rows: [row({ drift: [{ kind: 'not_in_clickhouse', count: 1, detail: '1 normalized record(s) missing in ClickHouse', ids: ['tencent-ccc:1400000001:a'], repairable: true }] })],
    } as unknown as ReconcileReport;
    const abort = new AbortController();
    abort.abort(new Error('the client went away'));
    const logged: string[] = [];
    const ctx = context({ kafka, clickhouse, signal: abort.signal, log: (msg) => void logged.push(msg) });
    await expect(repair(report, ctx)).rejects.toThrow('the client went away');
    expect(used).toEqual([]);
    expect(logged).toEqual(['repair stopped (the client went away); done before: nothing']);
  });
});
