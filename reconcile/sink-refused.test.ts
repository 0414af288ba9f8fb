// A call the ClickHouse sink refused, read as a whole run reads it: the dead-letter, raw and normalized topics scanned
// (here from memory, one list of records per topic, a value being the record's index), ClickHouse holding none of it
// unless a test stores it. The sink's dead letter accounts for the normalized record it refused, not for a later one
// of the same call: after a replay with a fixed mapping republished the call, a copy that never reached ClickHouse is
// drift. Nor for a message ClickHouse took after all (a later delivery of the same bytes): that call is stored.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka, ScanOptions, ScannedMessage } from '../core/kafka.ts';
import type { RawEnvelope } from '../core/envelope.ts';
import type { DeadLetter } from '../core/dead-letter.ts';
import { defaultNormalizeOptions, normalize, type NormalizedCdr } from '../transforms/normalize/index.ts';
import { cccRawEnvelope } from './fixtures/layers.ts';
import { runReconcile, type ReconcileDeps } from './reconcile.ts';
import { bucketKey } from './tally.ts';

const topics = vi.hoisted(() => new Map<string, unknown[]>());
/** cdr FINAL: per bucket, cdr_id → its row's version and billable minutes. */
const stored = vi.hoisted(() => new Map<string, Map<string, { version: number; minutes: number }>>());
/** The buckets whose ids a run read from ClickHouse. */
const idsRead = vi.hoisted(() => [] as string[]);

vi.mock('../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../core/kafka.ts')>()),
  scanTopicToEnd: async (_kafka: Kafka, topic: string, visit: (m: ScannedMessage) => unknown, options: ScanOptions = {}) => {
    const records = topics.get(topic) ?? [];
    options.onStart?.(records.length);
    for (let i = 0; i < records.length; i++) await visit({ partition: 0, offset: i, key: null, value: Buffer.from(String(i)), timestamp: 0 });
    options.onProgress?.(records.length);
  },
}));
vi.mock('./contract-decoder.ts', () => ({ contractDecoder: (_registry: unknown, _schema: string, topic: string) => (value: Buffer) => Promise.resolve(topics.get(topic)?.[Number(value.toString())]) }));
vi.mock('./pipeline.ts', () => ({ waitForSnapshot: () => Promise.resolve({ caughtUp: true, behind: 0 }) }));
vi.mock('./history.ts', () => ({ recordRun: () => Promise.resolve(0), recordRunFailure: () => '' }));
// ClickHouse holds what `stored` does: cdr FINAL's figures, fingerprints and ids, its daily views in step with it.
vi.mock('./layers.ts', async (original) => {
  const layers = await original<typeof import('./layers.ts')>();
  const { bucketKey, idsFingerprint, versionsFingerprint } = await import('./tally.ts');
  const minutesOf = (rows: Map<string, { minutes: number }>) => [...rows.values()].reduce((n, r) => n + r.minutes, 0);
  const each = <T>(f: (rows: Map<string, { version: number; minutes: number }>) => T) => new Map([...stored].map(([key, rows]) => [key, f(rows)]));
  return {
    ...layers,
    ClickHouseReader: class {
      static partialDays = layers.ClickHouseReader.partialDays;
      read = () =>
        Promise.resolve({
          figures: each((rows) => ({ count: rows.size, uniq: rows.size, minutes: minutesOf(rows), storedRows: rows.size })),
          views: { cdr_daily: each((rows) => ({ calls: rows.size, minutes: minutesOf(rows) })), cdr_hourly: new Map(), cdr_end_status: each((rows) => ({ calls: rows.size, minutes: null })) },
          hourlyBasis: new Map(),
          fingerprints: each((rows) => idsFingerprint(rows.keys())),
          versionFingerprints: each((rows) => versionsFingerprint([...rows].map(([id, r]) => [id, r.version]))),
        });
      ids = (_scope: unknown, vendor: string, tenant: string, day: string) => {
        idsRead.push(bucketKey(vendor, tenant, day));
        const rows = stored.get(bucketKey(vendor, tenant, day)) ?? new Map<string, { version: number; minutes: number }>();
        return Promise.resolve({ ids: new Map([...rows].map(([id, r]) => [id, r.version])), count: rows.size, minutes: minutesOf(rows) });
      };
    },
  };
});

const RAW = 'cdr.raw.tencent-ccc';
const NORMALIZED = 'cdr.normalized';
const DLQ = 'cdr.dlq';
const options = defaultNormalizeOptions();
const started = Date.parse('2026-11-30T10:00:00Z') / 1000;
const envelope = (receivedAt: string): RawEnvelope =>
  cccRawEnvelope({ SessionId: 's-refused', StartTimestamp: started, AcceptTimestamp: started + 10, EndTimestamp: started + 100, Duration: 90, EndStatus: 1 }, receivedAt);
const id = 'tencent-ccc:1400:s-refused';

function normalized(e: RawEnvelope): NormalizedCdr {
  const r = normalize(e, { now: () => new Date(), lineage: null, options });
  if (!r.ok) throw new Error(r.error.message);
  return r.cdr;
}

/** The sink's dead letter of the record at `offset` on the normalized topic. */
const refusedAt = (offset: number): DeadLetter => ({
  original_value: null,
  original_key: null,
  origin_topic: NORMALIZED,
  origin_partition: 0,
  origin_offset: offset,
  error_kind: 'rejected_by_sink',
  error_message: 'Cannot parse input',
  component: 'sink.clickhouse',
  vendor: 'tencent-ccc',
  cdr_id: id,
  failed_at: new Date('2026-11-30T10:06:00Z'),
});

const deps: ReconcileDeps = {
  kafka: {} as Kafka,
  registry: {} as SchemaRegistry,
  clickhouse: {} as ClickHouseClient,
  database: 'cdrflow',
  table: 'cdr',
  rawTopics: [{ vendor: 'tencent-ccc', topic: RAW }],
  normalizedTopic: NORMALIZED,
  deadLetterTopic: DLQ,
  groups: { normalize: { groupId: 'n', topics: [] }, sink: { groupId: 's', topic: NORMALIZED } },
  connectors: [],
  mapping: options,
  settings: { sourceMaxAttempts: 1, repairWaitSec: 0, scanTimeoutSec: 10, confirmSec: 0 },
  now: () => Date.parse('2026-12-01T10:00:00Z'),
};
const req = { from: '2026-11-30', to: '2026-11-30', vendors: ['tencent-ccc' as const], tenants: null, tzOffsetMinutes: 0, settleSec: 0, repair: false, trigger: 'cli' as const };

async function rowOf() {
  const outcome = await runReconcile(deps, req);
  const [row] = outcome.before.rows;
  return { dlq: row?.deadLettered, stored: row?.clickhouse.uniq, drift: row?.drift.map((d) => [d.kind, d.repairable, d.ids ?? []]) };
}

/** cdr FINAL holds `cdr` (its version being its received_at, as the sink writes it). */
function store(cdr: NormalizedCdr): void {
  stored.set(bucketKey('tencent-ccc', '1400', '2026-11-30'), new Map([[cdr.cdr_id, { version: cdr.received_at.getTime(), minutes: cdr.billable_minutes }]]));
}

describe('a call the sink refused', () => {
  beforeEach(() => {
    topics.clear();
    stored.clear();
    idsRead.length = 0;
  });

  it('replayed (the same version normalized again) and never stored: not_in_clickhouse, the old dead letter accounts only for the copy it refused', async () => {
    const raw = envelope('2026-11-30T10:05:00Z');
    topics.set(RAW, [raw]);
    topics.set(NORMALIZED, [normalized(raw), normalized(raw)]);
    topics.set(DLQ, [refusedAt(0)]);
    expect(await rowOf()).toEqual({ dlq: 0, stored: 0, drift: [['not_in_clickhouse', true, [id]], ['minutes', true, []]] });
  });

  it('re-sent by the vendor (a later version normalized) and never stored: not_in_clickhouse', async () => {
    const v1 = envelope('2026-11-30T10:05:00Z');
    const v2 = envelope('2026-11-30T12:00:00Z');
    topics.set(RAW, [v1, v2]);
    topics.set(NORMALIZED, [normalized(v1), normalized(v2)]);
    topics.set(DLQ, [refusedAt(0)]);
    expect(await rowOf()).toEqual({ dlq: 0, stored: 0, drift: [['not_in_clickhouse', true, [id]], ['minutes', true, []]] });
  });

  it('refused at the version counted: accounted for by its dead letter, the minutes ClickHouse lacks with it', async () => {
    const raw = envelope('2026-11-30T10:05:00Z');
    topics.set(RAW, [raw]);
    topics.set(NORMALIZED, [normalized(raw), normalized(raw)]);
    topics.set(DLQ, [refusedAt(1)]);
    expect(await rowOf()).toEqual({ dlq: 1, stored: 0, drift: [['minutes', false, []]] });
  });

  it('then accepted after all (a later delivery of the same message): stored, counted once, not as a dead letter', async () => {
    const raw = envelope('2026-11-30T10:05:00Z');
    topics.set(RAW, [raw]);
    topics.set(NORMALIZED, [normalized(raw)]);
    topics.set(DLQ, [refusedAt(0)]);
    store(normalized(raw));
    expect(await rowOf()).toEqual({ dlq: 0, stored: 1, drift: [] });
    // Its figures and fingerprints agree with the whole normalized layer, the refused call at the version refused:
    // the quick check sees it stored, and the day's ids are not read from ClickHouse (on every run, as they were).
    expect(idsRead).toEqual([]);
  });

  it('refused at the version counted while ClickHouse bills an earlier one: still dead-lettered (the later version is not stored)', async () => {
    const v1 = envelope('2026-11-30T10:05:00Z');
    const v2 = envelope('2026-11-30T12:00:00Z');
    topics.set(RAW, [v1, v2]);
    topics.set(NORMALIZED, [normalized(v1), normalized(v2)]);
    topics.set(DLQ, [refusedAt(1)]);
    store(normalized(v1));
    expect(await rowOf()).toEqual({ dlq: 1, stored: 1, drift: [] });
  });

  it('stored at a newer version than the one refused, the newer record gone from the topic: no drift, and the note on calls newer in ClickHouse names it', async () => {
    const v1 = envelope('2026-11-30T10:05:00Z');
    topics.set(RAW, [v1]);
    topics.set(NORMALIZED, [normalized(v1)]);
    topics.set(DLQ, [refusedAt(0)]);
    store(normalized(envelope('2026-11-30T12:00:00Z')));
    const outcome = await runReconcile(deps, req);
    const [row] = outcome.before.rows;
    expect({ dlq: row?.deadLettered, stored: row?.clickhouse.uniq, drift: row?.drift }).toEqual({ dlq: 0, stored: 1, drift: [] });
    expect(outcome.before.notes.filter((n) => n.includes('at a newer version'))).toEqual([expect.stringMatching(new RegExp(`^tencent-ccc tenant 1400: 1 call\\(s\\) on 2026-11-30 are in cdr FINAL at a newer version .* e\\.g\\. ${id}$`))]);
  });
});
