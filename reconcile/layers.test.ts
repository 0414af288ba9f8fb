// Reading the raw topics: a record batch that could not be read (core/kafkajs-unreadable-batch.ts) is counted with
// the raw messages that could not be decoded, as normalize dead-letters both; the scan itself is core/kafka.ts's.
// A record with no start time is counted on the same day by the vendor side and the raw side.
import { describe, expect, it, vi } from 'vitest';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka, ScanOptions, ScannedMessage } from '../core/kafka.ts';
import type { RawEnvelope } from '../core/envelope.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import type { RecordSink } from '../connectors/poller/publisher.ts';
import { defaultNormalizeOptions, normalize } from '../transforms/normalize/index.ts';
import { readDeadLetters, readNormalized, readRaw, readSource, refileUndated } from './layers.ts';
import { bucketKey, splitBucketKey, Tally } from './tally.ts';
import { compareLayers } from './compare.ts';
import { cccRawEnvelope, rawTopicLayers } from './fixtures/layers.ts';
import { silentStream } from './reconcile.ts';
import type { DayScope } from './days.ts';

/** The raw topic's records, visited at offsets 0..n-1; then one unreadable batch. */
const topic = vi.hoisted(() => ({ envelopes: [] as unknown[] }));

vi.mock('../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../core/kafka.ts')>()),
  // A topic of one unreadable batch after its records: the scan reports it, never visits it.
  scanTopicToEnd: async (_kafka: Kafka, _topic: string, visit: (m: ScannedMessage) => unknown, options: ScanOptions = {}) => {
    const n = topic.envelopes.length;
    options.onStart?.(n + 1);
    for (let i = 0; i < n; i++) await visit({ partition: 0, offset: i, key: null, value: Buffer.from(String(i)), timestamp: 0 } as ScannedMessage);
    options.onUnreadable?.({ partition: 0, offset: n, key: null, value: Buffer.from([1, 2, 3]), timestamp: 0, unreadable: 'a record batch compressed with ZSTD (3 bytes) expands past …' });
    options.onProgress?.(n + 1);
  },
}));
// The registry is not what is tested here: a value is the index of its envelope.
vi.mock('./contract-decoder.ts', () => ({ contractDecoder: () => (value: Buffer) => Promise.resolve(topic.envelopes[Number(value.toString())]) }));

const quiet = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;

describe('readRaw', () => {
  it('counts a record batch that could not be read among the raw messages that could not be decoded', async () => {
    topic.envelopes = [];
    const scope = { from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-01T00:00:00Z') } as Parameters<typeof readRaw>[3];
    const layer = await readRaw({} as Kafka, {} as SchemaRegistry, [{ vendor: 'tencent-ccc', topic: 'cdr.raw.tencent-ccc' }], scope, null, {} as Parameters<typeof readRaw>[5], new Set(), { progress: quiet, timeoutMs: 1_000 });
    expect(layer.undecodable).toBe(1);
  });

  it('counts the records of the scope that name no call (an empty tenant_id or natural_key), apart from the undecodable ones', async () => {
    const options = defaultNormalizeOptions();
    const inScope = '2026-11-30T10:00:00Z';
    const called = cccRawEnvelope({ SessionId: 's-1', EndStatus: 1 }, inScope);
    topic.envelopes = [
      { ...called, tenant_id: '' },
      { ...cccRawEnvelope({ SessionId: 's-2', EndStatus: 1 }, inScope), natural_key: '', payload: 'not json' },
      // Normalize keys it by the record's own SessionId: it names its call.
      { ...cccRawEnvelope({ SessionId: 's-3', EndStatus: 1 }, inScope), natural_key: '' },
      // Received before the scope: not this run's to say.
      { ...called, tenant_id: '', received_at: new Date('2026-11-01T10:00:00Z') },
      called,
    ];
    const scope = { from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-01T00:00:00Z') };
    const layer = await readRaw({} as Kafka, {} as SchemaRegistry, [{ vendor: 'tencent-ccc', topic: 'cdr.raw.tencent-ccc' }], scope, null, options, new Set(), { progress: quiet, timeoutMs: 1_000 });
    expect(layer.keyless).toBe(2);
    expect(layer.undecodable).toBe(1);
    expect(layer.tally.ids(bucketKey('tencent-ccc', '1400', '2026-11-30')).size).toBe(2);
  });
});

describe('readNormalized', () => {
  it('counts the values that are no normalized record, and a record batch that could not be read, as reconcile counts the raw ones', async () => {
    // Two values the contract decoder gives up on (garbage, an unknown schema id), then the unreadable batch.
    topic.envelopes = [undefined, undefined];
    const scope = { from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-01T00:00:00Z') } as Parameters<typeof readNormalized>[4];
    const layer = await readNormalized({} as Kafka, {} as SchemaRegistry, 'cdr.normalized', ['tencent-ccc'], scope, null, new Set(), { progress: quiet, timeoutMs: 1_000 });
    expect(layer.undecodable).toBe(3);
    expect(layer.tally.buckets.size).toBe(0);
  });
});

describe('readDeadLetters', () => {
  it('counts the values that are no dead letter, and a record batch that could not be read, as reconcile counts the raw ones', async () => {
    // A value the contract decoder gives up on, a dead letter of a raw record, then the unreadable batch.
    topic.envelopes = [undefined, { origin_topic: 'cdr.raw.tencent-ccc', origin_partition: 0, origin_offset: 7 }];
    const layer = await readDeadLetters({} as Kafka, {} as SchemaRegistry, { deadLetter: 'cdr.dlq', normalized: 'cdr.normalized', raw: new Set(['cdr.raw.tencent-ccc']) }, { progress: quiet, timeoutMs: 1_000 });
    expect(layer.undecodable).toBe(2);
    expect([...layer.rawOrigins]).toEqual(['cdr.raw.tencent-ccc:0:7']);
  });
});

describe('a record with no start time at midnight', () => {
  const options = defaultNormalizeOptions();
  const twoDays: DayScope = { from: '2026-11-30', to: '2026-12-01', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-01T12:00:00Z') };
  const MIDNIGHT = Date.parse('2026-12-01T00:00:00Z') / 1000;
  // Neither StartTimestamp nor Time: ClickHouse files it by received_at.
  const envelope = (receivedAt: string): RawEnvelope => cccRawEnvelope({ SessionId: 's-undated', EndStatus: 1 }, receivedAt);

  /** Reconciles one start-less call that the vendor serves in the windows starting at `servedIn` and the poller received at `receivedAt` (null: not on the raw topic). */
  async function reconcile(servedIn: number[], receivedAt: string | null) {
    const connector = {
      source: { vendor: 'tencent-ccc', tenants: ['1400'] },
      survey: async (_tenant: string, window: { start: number }, sink: RecordSink) => {
        // The poller's envelope of a re-read: received now, not when the live poll read it.
        if (servedIn.includes(window.start)) await sink.publish([envelope('2026-12-01T11:00:00Z')], 'cdr.raw.tencent-ccc');
        return { records: 0 };
      },
    } as unknown as PullConnector;
    const source = await readSource([connector], twoDays, null, options, { signal: new AbortController().signal, maxAttempts: 1, progress: silentStream(), log: () => {}, now: twoDays.cutoffMs });
    topic.envelopes = receivedAt === null ? [] : [envelope(receivedAt)];
    const raw = await readRaw({} as Kafka, {} as SchemaRegistry, [{ vendor: 'tencent-ccc', topic: 'cdr.raw.tencent-ccc' }], twoDays, null, options, new Set(), { progress: quiet, timeoutMs: 1_000, callTimesOf: source.undated });
    refileUndated(source, raw.callTimes, twoDays);
    // Normalized and ClickHouse file it as the raw side does (call_time = received_at).
    const figures = new Map([...raw.tally.buckets].map(([key, ids]) => [key, { count: ids.size, uniq: ids.size, minutes: 0, storedRows: ids.size }]));
    const views = new Map([...figures].map(([key, f]) => [key, { calls: f.count, minutes: 0 }]));
    return compareLayers({
      scope: twoDays,
      sourceKind: () => 'api',
      sourceTenants: source.tenants,
      source: source.tally,
      sourceKeyless: source.keyless,
      sourceUnreachable: source.unreachable,
      raw: raw.tally,
      normalized: raw.tally,
      normalizeDead: raw.normalizeDead,
      sinkDead: new Map(),
      clickhouse: figures,
      views: { cdr_daily: views, cdr_hourly: views, cdr_end_status: new Map([...views].map(([k, v]) => [k, { calls: v.calls, minutes: null }])) },
      partialDays: new Set(['2026-12-01']),
      clickhouseIds: new Map(),
    }).map((r) => [r.day, r.source?.records, r.raw.records, r.drift.map((d) => d.kind)]);
  }

  it('received at 23:59:59.9 and served in the first window of the next day: one call on the day it was received, no drift', async () => {
    expect(await reconcile([MIDNIGHT], '2026-11-30T23:59:59.900Z')).toEqual([
      ['2026-11-30', 1, 1, []],
      ['2026-12-01', 0, 0, []],
    ]);
  });

  it('received at 00:00:00 and served by both windows that end and start at midnight (ends are inclusive): counted once, on the next day', async () => {
    expect(await reconcile([MIDNIGHT - 3600, MIDNIGHT], '2026-12-01T00:00:00.000Z')).toEqual([
      ['2026-11-30', 0, 0, []],
      ['2026-12-01', 1, 1, []],
    ]);
  });

  it('not on the raw topic: missing in raw on the day of the first window that served it, and only there', async () => {
    expect(await reconcile([MIDNIGHT - 3600, MIDNIGHT], null)).toEqual([
      ['2026-11-30', 1, 0, ['missing_in_raw']],
      ['2026-12-01', 0, 0, []],
    ]);
  });

  it('received on a day outside the scope: it leaves the run with its raw record (the run over that day counts it)', async () => {
    expect(await reconcile([MIDNIGHT], '2026-11-29T23:59:59.900Z')).toEqual([
      ['2026-11-30', 0, 0, []],
      ['2026-12-01', 0, 0, []],
    ]);
  });
});

describe('a record received again on a later day', () => {
  const options = defaultNormalizeOptions();
  const twoDays: DayScope = { from: '2026-11-30', to: '2026-12-01', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-01T12:00:00Z') };
  const envelope = (receivedAt: string, payload: object): RawEnvelope => cccRawEnvelope({ SessionId: 's-again', EndStatus: 1, ...payload }, receivedAt);

  /** Raw and normalized as reconcile reads them; cdr FINAL keeps one row per cdr_id, the latest received (ReplacingMergeTree(version = received_at)). */
  async function layersOf(versions: RawEnvelope[], scope: DayScope = twoDays) {
    topic.envelopes = versions;
    const raw = await readRaw({} as Kafka, {} as SchemaRegistry, [{ vendor: 'tencent-ccc', topic: 'cdr.raw.tencent-ccc' }], scope, null, options, new Set(), { progress: quiet, timeoutMs: 1_000 });
    topic.envelopes = versions.map((e) => {
      const r = normalize(e, { now: () => new Date(), lineage: null, options });
      if (!r.ok) throw new Error(r.error.message);
      return r.cdr;
    });
    const { tally: normalized } = await readNormalized({} as Kafka, {} as SchemaRegistry, 'cdr.normalized', ['tencent-ccc'], scope, null, new Set(), { progress: quiet, timeoutMs: 1_000 });
    const days = (t: Tally) => [...t.buckets].map(([key, ids]) => [splitBucketKey(key).day, [...ids.keys()]]);
    return { raw: days(raw.tally), normalized: days(normalized) };
  }

  it('with no start time, is counted only on the day of the version ClickHouse keeps, the latest received', async () => {
    const id = 'tencent-ccc:1400:s-again';
    expect(await layersOf([envelope('2026-11-30T10:00:00Z', {}), envelope('2026-12-01T10:00:00Z', {})])).toEqual({ raw: [['2026-12-01', [id]]], normalized: [['2026-12-01', [id]]] });
    // The latest version after the cut-off (or on a day outside the scope): not on any day of this run, as in ClickHouse.
    expect(await layersOf([envelope('2026-11-30T10:00:00Z', {}), envelope('2026-12-01T13:00:00Z', {})])).toEqual({ raw: [], normalized: [] });
    // A vendor that moved the start across midnight in a later version: the later start's day.
    const started = (at: string) => ({ StartTimestamp: Date.parse(at) / 1000 });
    expect(await layersOf([envelope('2026-11-30T23:59:59Z', started('2026-11-30T23:59:59Z')), envelope('2026-12-01T00:05:00Z', started('2026-12-01T00:00:00Z'))])).toEqual({ raw: [['2026-12-01', [id]]], normalized: [['2026-12-01', [id]]] });
  });
});

describe('a newer raw version that normalize never saw', () => {
  const options = defaultNormalizeOptions();
  const scope: DayScope = { from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-01T00:00:00Z') };
  const id = 'tencent-ccc:1400:s-updated';
  const started = Date.parse('2026-11-30T10:00:00Z') / 1000;
  // CCC updating a record: the same call re-served later with another end status, the same duration and minutes.
  const version = (receivedAt: string, endStatus: number): RawEnvelope => ({
    vendor: 'tencent-ccc',
    tenant_id: '1400',
    natural_key: 's-updated',
    received_at: new Date(receivedAt),
    connector: 'tencent-ccc-poller',
    mode: 'live',
    request_id: null,
    payload: JSON.stringify({ SessionId: 's-updated', StartTimestamp: started, EndTimestamp: started + 90, Duration: 90, EndStatus: endStatus }),
    payload_format: 'json',
    attributes: {},
  });
  const v1 = version('2026-11-30T10:05:00Z', 1);
  const v2 = version('2026-11-30T12:00:00Z', 2);

  /** The raw topic holds v1 then v2 (offsets 0, 1; `dead` = offsets normalize dead-lettered), the normalized topic `normalizedVersions`. */
  async function driftOf(normalizedVersions: RawEnvelope[], dead: number[] = []) {
    topic.envelopes = [v1, v2];
    const raw = await readRaw({} as Kafka, {} as SchemaRegistry, [{ vendor: 'tencent-ccc', topic: 'cdr.raw.tencent-ccc' }], scope, null, options, new Set(dead.map((o) => `cdr.raw.tencent-ccc:0:${o}`)), { progress: quiet, timeoutMs: 1_000 });
    topic.envelopes = normalizedVersions.map((e) => {
      const r = normalize(e, { now: () => new Date(), lineage: null, options });
      if (!r.ok) throw new Error(r.error.message);
      return r.cdr;
    });
    const { tally: normalized } = await readNormalized({} as Kafka, {} as SchemaRegistry, 'cdr.normalized', ['tencent-ccc'], scope, null, new Set(), { progress: quiet, timeoutMs: 1_000 });
    const [key] = [...raw.tally.buckets.keys()];
    const rows = compareLayers(rawTopicLayers({
      scope,
      raw: raw.tally,
      normalized,
      normalizeDead: raw.normalizeDead,
      clickhouse: new Map([[key!, { count: normalized.count(key!), uniq: normalized.count(key!), minutes: normalized.minutes(key!), storedRows: normalized.count(key!) }]]),
      views: { cdr_daily: null, cdr_hourly: new Map(), cdr_end_status: null },
      hourlyBasis: new Map([[key!, { calls: 0, minutes: 0 }]]),
      partialDays: new Set(),
      clickhouseIds: new Map(),
    }));
    const figures = { raw: [raw.tally.count(key!), raw.tally.minutes(key!)], normalized: [normalized.count(key!), normalized.minutes(key!)] };
    return { figures, drift: rows.flatMap((r) => r.drift.filter((d) => d.kind !== 'minutes').map((d) => ({ kind: d.kind, ids: d.ids, repairable: d.repairable }))) };
  }

  it('is drift stale_in_normalized naming the call, though every layer counts it with the same minutes', async () => {
    const stale = await driftOf([v1]);
    expect(stale.figures.raw).toEqual(stale.figures.normalized);
    expect(stale.figures.raw[0]).toBe(1);
    expect(stale.drift).toEqual([{ kind: 'stale_in_normalized', ids: [id], repairable: true }]);
    expect((await driftOf([v1, v2])).drift).toEqual([]);
  });

  it('is accounted for when normalize dead-lettered that version, and not by the dead letter of an earlier one', async () => {
    expect((await driftOf([v1], [1])).drift).toEqual([]);
    // v1 dead-lettered, v2 neither normalized nor dead-lettered: lost.
    expect((await driftOf([], [0])).drift).toEqual([{ kind: 'not_normalized', ids: [id], repairable: true }]);
  });
});

describe('the dlq column', () => {
  const options = defaultNormalizeOptions();
  const twoDays: DayScope = { from: '2026-11-30', to: '2026-12-01', tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-01T12:00:00Z') };
  const at = (iso: string) => Date.parse(iso) / 1000;
  const version = (receivedAt: string, startedAt: string, session = 's-dlq'): RawEnvelope => cccRawEnvelope({ SessionId: session, StartTimestamp: at(startedAt), EndTimestamp: at(startedAt) + 90, Duration: 90, EndStatus: 1 }, receivedAt);
  const normalizedCdr = (e: RawEnvelope) => {
    const r = normalize(e, { now: () => new Date(), lineage: null, options });
    if (!r.ok) throw new Error(r.error.message);
    return r.cdr;
  };

  /**
   * A run over the raw topic `raw` (offsets 0..n-1; normalize dead-lettered those in `dead`) and the normalized topic
   * `normalized` (the sink dead-lettered those in `sinkDead`); ClickHouse holds what the sink did not refuse.
   * Per day: raw, normalized, dlq and the drift kinds.
   */
  async function rows(given: { raw: RawEnvelope[]; dead?: number[]; normalized: RawEnvelope[]; sinkDead?: number[] }) {
    const origins = (topicName: string, offsets: number[] = []) => new Set(offsets.map((o) => `${topicName}:0:${o}`));
    topic.envelopes = given.raw;
    const raw = await readRaw({} as Kafka, {} as SchemaRegistry, [{ vendor: 'tencent-ccc', topic: 'cdr.raw.tencent-ccc' }], twoDays, null, options, origins('cdr.raw.tencent-ccc', given.dead), { progress: quiet, timeoutMs: 1_000 });
    topic.envelopes = given.normalized.map(normalizedCdr);
    const normalized = await readNormalized({} as Kafka, {} as SchemaRegistry, 'cdr.normalized', ['tencent-ccc'], twoDays, null, origins('cdr.normalized', given.sinkDead), { progress: quiet, timeoutMs: 1_000 });
    const stored = new Map([...normalized.tally.buckets].map(([key, ids]) => [key, new Map([...ids].filter(([id]) => !normalized.sinkDead.get(key)?.has(id)))]));
    const figures = new Map([...stored].map(([key, ids]) => [key, { count: ids.size, uniq: ids.size, minutes: [...ids.values()].reduce((a, b) => a + b, 0), storedRows: ids.size }]));
    return compareLayers(rawTopicLayers({
      scope: twoDays,
      raw: raw.tally,
      normalized: normalized.tally,
      normalizeDead: raw.normalizeDead,
      sinkDead: normalized.sinkDead,
      clickhouse: figures,
      views: { cdr_daily: null, cdr_hourly: new Map(), cdr_end_status: null },
      hourlyBasis: new Map([...figures].map(([key]) => [key, { calls: 0, minutes: 0 }])),
      partialDays: new Set(),
      clickhouseIds: new Map([...stored].map(([key, ids]) => [key, new Map([...ids.keys()].map((id) => [id, normalized.tally.version(id) ?? 0]))])),
    })).map((r) => [r.day, r.raw.records, r.normalized.records, r.deadLettered, r.drift.map((d) => d.kind)]);
  }

  // Another call on the first day, normalized, so that day has a row; a version normalize refused, then the vendor's
  // corrected one, which starts on the next day.
  const other = version('2026-11-30T20:05:00Z', '2026-11-30T20:00:00Z', 's-other');
  const refused = version('2026-11-30T23:59:00Z', '2026-11-30T23:58:00Z');
  const corrected = version('2026-12-01T00:10:00Z', '2026-12-01T00:01:00Z');

  it('does not count a dead-lettered version on the day the call moved away from', async () => {
    expect(await rows({ raw: [other, refused, corrected], dead: [1], normalized: [other, corrected] })).toEqual([
      ['2026-11-30', 1, 1, 0, []],
      ['2026-12-01', 1, 1, 0, []],
    ]);
    // Both versions refused: the call is dead-lettered once, on the day of the version counted.
    expect(await rows({ raw: [other, refused, corrected], dead: [1, 2], normalized: [other] })).toEqual([
      ['2026-11-30', 1, 1, 0, []],
      ['2026-12-01', 1, 0, 1, []],
    ]);
  });

  it('does not count a raw record normalize once refused and a replay normalized (and the sink stored)', async () => {
    const replayed = version('2026-11-30T10:05:00Z', '2026-11-30T10:00:00Z');
    expect(await rows({ raw: [replayed], dead: [0], normalized: [replayed] })).toEqual([['2026-11-30', 1, 1, 0, []]]);
    // The sink refused the replay's copy: dead-lettered once, by the sink.
    expect(await rows({ raw: [replayed], dead: [0], normalized: [replayed], sinkDead: [0] })).toEqual([['2026-11-30', 1, 1, 1, []]]);
    // A later version of the call (the vendor's re-send, the same day) normalized and stored: the dead letter of the
    // earlier one is superseded, the call counted once, as stored.
    const resent = version('2026-11-30T11:00:00Z', '2026-11-30T10:00:00Z');
    expect(await rows({ raw: [replayed, resent], dead: [0], normalized: [resent] })).toEqual([['2026-11-30', 1, 1, 0, []]]);
  });

  it('counts a refused later version of a call normalized at an earlier one (ClickHouse bills the earlier)', async () => {
    const v1 = version('2026-11-30T10:05:00Z', '2026-11-30T10:00:00Z');
    const v2 = version('2026-11-30T12:00:00Z', '2026-11-30T10:00:00Z');
    expect(await rows({ raw: [v1, v2], dead: [1], normalized: [v1] })).toEqual([['2026-11-30', 1, 1, 1, []]]);
  });

  // A call both stages refused at different versions, or one the sink refused whose later copy was stored since.
  const v1 = version('2026-11-30T23:59:00Z', '2026-11-30T23:58:00Z', 's-both');
  const v2SameDay = version('2026-12-01T00:10:00Z', '2026-11-30T23:58:00Z', 's-both');
  const v2NextDay = version('2026-12-01T00:10:00Z', '2026-12-01T00:01:00Z', 's-both');

  it('counts a call once, on the day of its counted version, when the sink refused v1 and normalize v2', async () => {
    // Offsets: raw 0 other, 1 v1, 2 v2; normalized 0 other, 1 v1 (refused by the sink).
    expect(await rows({ raw: [other, v1, v2SameDay], dead: [2], normalized: [other, v1], sinkDead: [1] })).toEqual([['2026-11-30', 2, 2, 1, []]]);
    expect(await rows({ raw: [other, v1, v2NextDay], dead: [2], normalized: [other, v1], sinkDead: [1] })).toEqual([
      ['2026-11-30', 1, 2, 0, ['extra_in_normalized']],
      ['2026-12-01', 1, 0, 1, []],
    ]);
    // v2 not through normalize yet: the sink's dead letter accounts for v1 only, and v2 is drift (not_normalized).
    expect(await rows({ raw: [other, v1, v2NextDay], normalized: [other, v1], sinkDead: [1] })).toEqual([
      ['2026-11-30', 1, 2, 0, ['extra_in_normalized']],
      ['2026-12-01', 1, 0, 0, ['not_normalized']],
    ]);
  });

  it('counts on no day of the run a call whose later raw version starts after the run', async () => {
    // The sink refused v1 (11-30); the vendor's v2 starts on 12-02, outside the run, so the raw count drops the call
    // (it is counted where v2 lies) and its dead letter follows it there, normalized or not.
    const v2Later = version('2026-12-02T00:10:00Z', '2026-12-02T00:01:00Z', 's-both');
    expect(await rows({ raw: [other, v1, v2Later], normalized: [other, v1], sinkDead: [1] })).toEqual([['2026-11-30', 1, 2, 0, ['extra_in_normalized']]]);
    expect(await rows({ raw: [other, v1, v2Later], dead: [2], normalized: [other, v1], sinkDead: [1] })).toEqual([['2026-11-30', 1, 2, 0, ['extra_in_normalized']]]);
  });

  it('does not count a call the sink refused whose later copy was stored since', async () => {
    // A replay of the same normalized record, stored.
    expect(await rows({ raw: [other, v1], normalized: [other, v1, v1], sinkDead: [1] })).toEqual([['2026-11-30', 2, 2, 0, []]]);
    // The vendor's newer version, normalized and stored, on the same day or the next.
    expect(await rows({ raw: [other, v1, v2SameDay], normalized: [other, v1, v2SameDay], sinkDead: [1] })).toEqual([['2026-11-30', 2, 2, 0, []]]);
    expect(await rows({ raw: [other, v1, v2NextDay], normalized: [other, v1, v2NextDay], sinkDead: [1] })).toEqual([
      ['2026-11-30', 1, 1, 0, []],
      ['2026-12-01', 1, 1, 0, []],
    ]);
  });
});
