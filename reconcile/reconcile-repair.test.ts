// `--repair` when the before pass finds nothing to repair: no after pass (it took a second full pass, with its own
// 90 s second look on a day in progress, to print the same table again).
import { describe, expect, it, vi } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from '../core/kafka.ts';
import { Tally } from './tally.ts';
import { runReconcile, type ReconcileDeps } from './reconcile.ts';
import { renderOutcome } from './render.ts';

const passes = vi.hoisted(() => ({ raw: 0 }));
vi.mock('./pipeline.ts', () => ({ waitForSnapshot: () => Promise.resolve({ caughtUp: true, behind: 0 }) }));
vi.mock('./history.ts', () => ({ recordRun: () => Promise.resolve(0), recordRunFailure: () => '' }));
// Every layer empty: everything agrees, nothing to repair.
vi.mock('./layers.ts', () => ({
  readSource: () => Promise.resolve({ tally: new Tally(), keyless: new Map(), unreachable: new Map(), refused: new Map(), tenants: [], windows: new Map() }),
  readDeadLetters: () => Promise.resolve({ rawOrigins: new Set(), sinkDead: new Set() }),
  readRaw: () => {
    passes.raw++;
    return Promise.resolve({ tally: new Tally(), normalizeDead: new Map(), undecodable: 0 });
  },
  readNormalized: () => Promise.resolve(new Tally()),
  refileUndated: () => {},
  ClickHouseReader: class {
    static partialDays = () => new Set<string>();
    read = () => Promise.resolve({ figures: new Map(), views: { cdr_daily: new Map(), cdr_hourly: new Map(), cdr_end_status: new Map() }, hourlyBasis: new Map(), fingerprints: new Map() });
    ids = () => Promise.resolve(new Set<string>());
  },
}));

describe('runReconcile --repair with nothing to repair', () => {
  it('makes one pass, no after pass, and says nothing needed repair', async () => {
    const notes: string[] = [];
    const deps: ReconcileDeps = {
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
      log: (msg) => void notes.push(msg),
    };
    const req = { from: '2026-11-30', to: '2026-11-30', vendors: null, tenants: null, tzOffsetMinutes: 0, settleSec: 0, repair: true, trigger: 'cli' as const };
    const outcome = await runReconcile(deps, req);
    expect(passes.raw).toBe(1);
    expect(outcome.after).toBeUndefined();
    expect(outcome.repair).toEqual([]);
    expect(outcome.exitCode).toBe(0);
    expect(notes).toContain('nothing needed repair: no repair wait and no after pass');
    expect(renderOutcome(outcome, false)).toContain('repair:\n  nothing needed repair (no after pass)\n');
  });
});
