// `--repair` when the before pass finds nothing to repair, or the repair finds nothing of what it was to re-send: no
// after pass (it took a second full pass, with its own 90 s second look on a day in progress, to print the same table
// again); and the exit status of a repair that listed records as unrepairable, with an after pass or without.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from '../core/kafka.ts';
import { Tally } from './tally.ts';
import { runReconcile, type ReconcileDeps } from './reconcile.ts';
import { renderOutcome } from './render.ts';
import { REPO_ROOT } from '../core/repo-root.ts';
import { emptyClickHouse } from './fixtures/repair-context.ts';

const passes = vi.hoisted(() => ({ raw: 0, rawIds: [] as string[], rawIdsAfter: undefined as string[] | undefined, partialDays: [] as string[], normalizedUndecodable: 0, deadUndecodable: 0, rawKeyless: 0, topic: [] as { key: Buffer; value: Buffer }[] }));
// The raw topic as the repair scans it: `passes.topic` (empty: its retention removed what the reconcile counted); only
// a record found there is sent.
vi.mock('../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../core/kafka.ts')>()),
  scanTopicToEnd: async (_kafka: unknown, _topic: string, visit: (m: unknown) => Promise<void>) => {
    for (const m of passes.topic) await visit(m);
  },
  AckedPublisher: class {
    send() {
      return passes.topic.length > 0 ? Promise.resolve() : Promise.reject(new Error('nothing is to be sent'));
    }
    disconnect() {
      return Promise.resolve();
    }
  },
}));
vi.mock('./contract-decoder.ts', () => ({ contractDecoder: () => (value: Buffer) => Promise.resolve(JSON.parse(value.toString('utf8'), (k, v: unknown) => (k === 'received_at' ? new Date(v as number) : v)) as unknown) }));
vi.mock('./pipeline.ts', () => ({ waitForSnapshot: () => Promise.resolve({ caughtUp: true, behind: 0 }) }));
vi.mock('./history.ts', () => ({ recordRun: () => Promise.resolve(0), recordRunFailure: () => '' }));
// Every layer empty but the raw topic's `passes.rawIds` (then not normalized).
vi.mock('./layers.ts', async (importOriginal) => ({
  // How the layers read become compareLayers' input is the real code's: only the reads are stood in.
  readLayers: (await importOriginal<typeof import('./layers.ts')>()).readLayers,
  readSource: () => Promise.resolve({ tally: new Tally(), keyless: new Map(), unreachable: new Map(), refused: new Map(), tenants: [], windows: new Map() }),
  readDeadLetters: () => Promise.resolve({ rawOrigins: new Set(), sinkOrigins: new Set(), undecodable: passes.deadUndecodable }),
  readRaw: () => {
    passes.raw++;
    const tally = new Tally();
    for (const id of passes.raw > 1 ? (passes.rawIdsAfter ?? passes.rawIds) : passes.rawIds) tally.add('huawei-privatenumber', 'app', '2026-11-30', id, 0);
    return Promise.resolve({ tally, normalizeDead: new Map(), undecodable: 0, keyless: passes.rawKeyless });
  },
  readNormalized: () => Promise.resolve({ tally: new Tally(), sinkDead: new Map(), undecodable: passes.normalizedUndecodable }),
  refileUndated: () => {},
  ClickHouseReader: class {
    static partialDays = () => new Set<string>(passes.partialDays);
    read = () => Promise.resolve({ figures: new Map(), views: { cdr_daily: new Map(), cdr_hourly: new Map(), cdr_end_status: new Map() }, hourlyBasis: new Map(), fingerprints: new Map() });
    ids = () => Promise.resolve(new Set<string>());
  },
}));

function depsLogging(notes: string[], levels: string[] = []): ReconcileDeps {
  return {
    kafka: {} as Kafka,
    registry: {} as SchemaRegistry,
    clickhouse: {} as ClickHouseClient,
    database: 'cdrflow',
    table: 'cdr',
    rawTopics: [{ vendor: 'huawei-privatenumber', topic: 'cdr.raw.huawei-privatenumber' }],
    normalizedTopic: 'cdr.normalized',
    deadLetterTopic: 'cdr.dlq',
    groups: { normalize: { groupId: 'n', topics: [] }, sink: { groupId: 's', topic: 'cdr.normalized' } },
    connectors: [],
    mapping: {} as ReconcileDeps['mapping'],
    settings: { sourceMaxAttempts: 1, repairWaitSec: 180, scanTimeoutSec: 10, confirmSec: 0 },
    log: (msg, level = 'warn') => {
      notes.push(msg);
      levels.push(`${level} ${msg}`);
    },
  };
}
const req = { from: '2026-11-30', to: '2026-11-30', vendors: null, tenants: null, tzOffsetMinutes: 0, settleSec: 0, repair: true, trigger: 'cli' as const };

describe('runReconcile --repair with nothing to repair', () => {
  beforeEach(() => {
    passes.raw = 0;
    passes.rawIds = [];
    passes.partialDays = [];
    passes.normalizedUndecodable = 0;
    passes.deadUndecodable = 0;
    passes.rawKeyless = 0;
    passes.rawIdsAfter = undefined;
    passes.topic = [];
  });

  it('makes one pass, no after pass, and says nothing needed repair', async () => {
    const notes: string[] = [];
    const outcome = await runReconcile(depsLogging(notes), req);
    expect(passes.raw).toBe(1);
    expect(outcome.after).toBeUndefined();
    expect(outcome.repair).toEqual([]);
    expect(outcome.exitCode).toBe(0);
    expect(notes).toContain('nothing needed repair: no repair wait and no after pass');
    expect(renderOutcome(outcome, false)).toContain('repair:\n  nothing needed repair (no after pass)\n');
  });

  // README: for a push vendor the raw topic is the source of truth, "the output says so" (its note as the example
  // output shows it, and `(raw)` in the source column).
  it('says of a push vendor that its raw topic is the source, in the note README.md shows and the source column', async () => {
    passes.rawIds = ['huawei-privatenumber:app:a'];
    const outcome = await runReconcile(depsLogging([]), { ...req, repair: false });
    const note = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n').filter((line) => line.startsWith('note: push vendors'));
    expect(note).toHaveLength(1);
    const text = renderOutcome(outcome, false).split('\n');
    expect(text).toContain(note[0]);
    expect(outcome.before.rows.map((r) => r.sourceKind)).toEqual(['raw-topic']);
    expect(text.find((line) => line.startsWith('huawei-privatenumber'))?.split(/\s{2,}/).slice(0, 5)).toEqual(['huawei-privatenumber', 'app', '2026-11-30', '(raw)', '1']);
  });

  it('makes no after pass when what it was to re-send is no longer there: the repair only lists it as unrepairable', async () => {
    passes.rawIds = ['huawei-privatenumber:app:gone-1'];
    const notes: string[] = [];
    const outcome = await runReconcile(depsLogging(notes), req);
    expect(outcome.before.rows[0]?.drift.map((d) => d.kind)).toEqual(['not_normalized']);
    expect(passes.raw).toBe(1);
    expect(outcome.after).toBeUndefined();
    expect(outcome.repair).toEqual([expect.objectContaining({ kind: 'unrepairable', records: 1, sample: passes.rawIds })]);
    expect(outcome.exitCode).toBe(1);
    expect(notes).toContain('nothing re-fed or merged: no repair wait and no after pass');
    expect(renderOutcome(outcome, false)).toContain('repair:\n  nothing re-fed or merged (no after pass)\n  unrepairable');
  });

  it('exits 1 when the after pass agrees but the repair listed records as unrepairable, as it does with no after pass', async () => {
    // Of two raw records not normalized, retention removed one from the raw topic before the repair scanned it: the
    // other is appended again, the gone one listed. The after pass no longer counts the gone one anywhere.
    const [kept, gone] = ['huawei-privatenumber:app:kept-1', 'huawei-privatenumber:app:gone-1'];
    passes.rawIds = [kept, gone];
    passes.rawIdsAfter = [];
    const envelope = { vendor: 'huawei-privatenumber', tenant_id: 'app', natural_key: 'kept-1', received_at: Date.parse('2026-11-30T10:00:00Z'), payload: '{}' };
    passes.topic = [{ key: Buffer.from('kept-1'), value: Buffer.from(JSON.stringify(envelope)) }];
    const outcome = await runReconcile({ ...depsLogging([]), clickhouse: emptyClickHouse() }, req);
    expect(outcome.repair?.filter((a) => a.kind !== 'merge_duplicates')).toEqual([expect.objectContaining({ kind: 'replay_raw', records: 1 }), expect.objectContaining({ kind: 'unrepairable', records: 1, sample: [gone] })]);
    expect(outcome.after?.exitCode).toBe(0);
    expect(outcome.exitCode).toBe(1);
    expect(renderOutcome(outcome, false)).toMatch(/\nall 0 vendor-tenant-day row\(s\) agree, but the repair listed 1 record\(s\) as unrepairable \(exit 1\)\n$/);
  });

  it('says how many normalized messages could not be decoded: a call among them reads as not normalized', async () => {
    passes.rawIds = ['huawei-privatenumber:app:unreadable-1'];
    passes.normalizedUndecodable = 2;
    const outcome = await runReconcile(depsLogging([]), req);
    expect(outcome.before.rows[0]?.drift.map((d) => d.kind)).toEqual(['not_normalized']);
    expect(outcome.before.notes).toContainEqual(expect.stringMatching(/^2 normalized message\(s\) could not be decoded /));
  });

  it('says how many dead letters could not be decoded: the call a lost one refused reads as not normalized', async () => {
    passes.rawIds = ['huawei-privatenumber:app:refused-1'];
    passes.deadUndecodable = 1;
    const outcome = await runReconcile(depsLogging([]), req);
    expect(outcome.before.rows[0]?.drift.map((d) => d.kind)).toEqual(['not_normalized']);
    expect(outcome.before.notes).toContainEqual(expect.stringMatching(/^1 dead letter\(s\) could not be decoded /));
  });

  it('says how many raw records name no call (an empty tenant_id or natural_key), apart from the undecodable ones', async () => {
    passes.rawKeyless = 3;
    const outcome = await runReconcile(depsLogging([]), req);
    expect(outcome.before.notes).toContainEqual(expect.stringMatching(/^3 raw record\(s\) of these days name no call /));
    expect(outcome.before.notes).not.toContainEqual(expect.stringMatching(/could not be decoded/));
  });

  it('notes its routine steps (a day in progress looked at again, nothing re-fed) as info, not as warnings', async () => {
    // A day in progress with a record on raw and nowhere else: the demo's schedule meets this on every run.
    passes.rawIds = ['huawei-privatenumber:app:in-flight-1'];
    passes.partialDays = ['2026-11-30'];
    const notes: string[] = [];
    const levels: string[] = [];
    const deps = depsLogging(notes, levels);
    const outcome = await runReconcile({ ...deps, settings: { ...deps.settings, confirmSec: 0.001 } }, req);
    expect(passes.raw).toBe(2);
    expect(outcome.exitCode).toBe(1);
    expect(levels).toEqual([
      'info records missing on a day still in progress: looking again in 0.001s (what was only in flight is not drift)',
      'info nothing re-fed or merged: no repair wait and no after pass',
    ]);
  });
});
