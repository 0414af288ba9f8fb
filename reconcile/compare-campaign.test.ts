// A seeded campaign against compareLayers (README "Reconciling a month"). Each case draws, from its own seed, a history
// of 1-14 calls of two vendors (tencent-ccc read from a stand-in vendor API, tencent-trtc with no connector: its raw
// topic is the source) and two tenants each, over three UTC days: some started a minute or two before midnight and
// received after it, some with no start time (CCC, counted on the day received), re-sent with a newer version (a
// corrected duration) and sometimes a start moved to another day, duplicated on the topics; keyless records on the raw
// topic and refused at the vendor API's door. Then faults: a call missing on the raw topic (the vendor serves it) or
// served no more, a raw version normalize lost, dead-lettered, or dead-lettered and replayed; a normalized version the
// sink lost, dead-lettered, or dead-lettered and then stored after all (a later delivery of the same message); a normalized record whose minutes differ from the raw one's; a ClickHouse row extra, of
// other minutes, unmerged; a view out of step with cdr FINAL. The topics are read by the reconcile's own readers
// (readSource, readDeadLetters, readRaw, readNormalized, refileUndated, with the scan and the registry stood in), cdr
// FINAL's figures, fingerprints and ids are handed over as reconcile.ts does (bucketsNeedingIds), then compareLayers
// and exitCodeOf run.
// Oracle, every case, written from the README's definitions of each kind and the layers' contents, not from compare.ts:
//  - the rows are the buckets any layer holds plus every day of each API tenant;
//  - per row, the ids of each record kind (missing_in_raw, not_in_source, not_normalized, stale_in_normalized,
//    extra_in_normalized, not_in_clickhouse, stale_in_clickhouse, extra_in_clickhouse) are exactly the oracle's;
//    `minutes` is there exactly when the source's (or, for TRTC, the raw topic's) minutes differ from cdr FINAL's, by
//    that difference; `view` once per view out of step with cdr FINAL; nothing else;
//  - every layer's figures (source records / minutes / keyless, raw, normalized, dlq, ClickHouse, unmerged) are the
//    oracle's;
//  - every injected fault is reported in its bucket under a kind that names it; a history with no drift injected
//    reports none and exits 0, one with drift exits 1;
//  - a second look identical to the first (confirmDrift on a day in progress) keeps all of it, nothing in flight.
// The same seed plays the same case: CDRFLOW_FUZZ_RECONCILE_ONLY=<seed>[,<seed>] runs just those
// (CDRFLOW_FUZZ_RECONCILE_SEED / _COUNT move the range).
import { describe, expect, it, vi } from 'vitest';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka, ScanOptions, ScannedMessage } from '../core/kafka.ts';
import type { RawEnvelope } from '../core/envelope.ts';
import type { Vendor } from '../core/topology.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import type { RecordSink } from '../connectors/poller/publisher.ts';
import { defaultNormalizeOptions, type NormalizedCdr } from '../transforms/normalize/index.ts';
import { callEnvelope, normalizedOf } from './fixtures/layers.ts';
import { Rng, seededRandom } from '../simulators/kit.ts';
import { campaignSeeds } from '../test/fuzz/seeds.ts';
import { readDeadLetters, readLayers, readNormalized, readRaw, readSource, refileUndated } from './layers.ts';
import { bucketsNeedingIds, compareLayers, confirmDrift, exitCodeOf, hasEdgeDrift } from './compare.ts';
import { bucketKey, idsFingerprint, splitBucketKey, versionsFingerprint } from './tally.ts';
import type { ClickHouseFigures, DriftKind, ReconcileRow, ViewFigures } from './model.ts';
import { silentStream } from './reconcile.ts';
import type { DayScope } from './days.ts';

const { seeds: SEEDS, timeoutMs } = campaignSeeds('RECONCILE', 300);

/** The stand-in topics: a value is `topic\0index`, decoded to the object at that index. */
const topics = vi.hoisted(() => ({ byName: new Map<string, unknown[]>() }));

vi.mock('../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../core/kafka.ts')>()),
  scanTopicToEnd: async (_kafka: Kafka, topic: string, visit: (m: ScannedMessage) => unknown, options: ScanOptions = {}) => {
    const values = topics.byName.get(topic) ?? [];
    options.onStart?.(values.length);
    for (let i = 0; i < values.length; i++) await visit({ partition: 0, offset: i, key: null, value: Buffer.from(`${topic}\u0000${i}`), timestamp: 0 } as ScannedMessage);
    options.onProgress?.(values.length);
  },
}));
vi.mock('./contract-decoder.ts', () => ({
  contractDecoder: () => (value: Buffer) => {
    const [topic, i] = value.toString().split('\u0000') as [string, string];
    return Promise.resolve(topics.byName.get(topic)?.[Number(i)]);
  },
}));

const OPTIONS = defaultNormalizeOptions();
const DAYS = ['2026-11-29', '2026-11-30', '2026-12-01'];
const SCOPE: DayScope = { from: DAYS[0]!, to: DAYS[2]!, tzOffsetMinutes: 0, cutoffMs: Date.parse('2026-12-02T00:00:00Z') };
const API: Vendor = 'tencent-ccc';
const PUSH: Vendor = 'tencent-trtc';
const TENANTS: Record<string, string[]> = { [API]: ['1400000001', '1400000002'], [PUSH]: ['1600000001', '1600000002'] };
const RAW_TOPIC = (v: Vendor) => `cdr.raw.${v}`;
const NORMALIZED = 'cdr.normalized';
const DLQ = 'cdr.dlq';
const H = 3_600_000;

type NormOutcome = 'ok' | 'lost' | 'dead' | 'dead_replayed';
/** `dead_stored`: refused (a dead letter written), then stored after all by a later delivery of the same message. */
type SinkOutcome = 'ok' | 'lost' | 'dead' | 'dead_stored';

interface Version {
  receivedMs: number;
  /** null: no start time (CCC without StartTimestamp and Time): counted on the day received. */
  startMs: number | null;
  talk: number;
  envelope: RawEnvelope;
  cdr: NormalizedCdr;
  rawPresent: boolean;
  rawDup: boolean;
  norm: NormOutcome;
  normMinutesDelta: number;
  sink: SinkOutcome;
}

interface Call {
  vendor: Vendor;
  tenant: string;
  key: string;
  cdrId: string;
  versions: Version[];
  /** The vendor API still serves the call (its latest version); API vendor only. */
  served: boolean;
}

interface Injected {
  what: string;
  key: string;
  kinds: DriftKind[];
  id?: string;
}

interface Case {
  seed: number;
  calls: Call[];
  rawKeyless: number;
  /** Per bucket: records the API refused at the door (keyless), at the half hour of an hour of that day. */
  sourceKeyless: Map<string, number[]>;
  chExtra: { vendor: Vendor; tenant: string; cdrId: string; day: string; minutes: number; version: number }[];
  chMinutes: Map<string, number>;
  unmerged: Map<string, number>;
  viewOff: { key: string; view: 'cdr_daily' | 'cdr_hourly' | 'cdr_end_status'; calls: number; minutes: number }[];
  injected: Injected[];
  faults: string[];
}

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const inScope = (ms: number) => ms < SCOPE.cutoffMs && DAYS.includes(utcDay(ms));



function planCase(seed: number): Case {
  const r = new Rng(seededRandom(seed));
  const c: Case = { seed, calls: [], rawKeyless: 0, sourceKeyless: new Map(), chExtra: [], chMinutes: new Map(), unmerged: new Map(), viewOff: [], injected: [], faults: [] };
  const faulty = r.chance(0.75);
  const p = (x: number) => (faulty ? x : 0);
  const dayStart = (i: number) => Date.parse(`${DAYS[i]}T00:00:00Z`);
  const drawStart = () => {
    // A third start a minute or two before a midnight, to be received after it.
    if (r.chance(0.35)) return dayStart(r.int(1, 2)) - r.int(20, 150) * 1000;
    return dayStart(r.int(0, 2)) + r.int(0, 22 * 3600 - 1) * 1000;
  };
  const n = r.int(1, 14);
  for (let i = 0; i < n; i++) {
    const vendor = r.chance(0.55) ? API : PUSH;
    const tenant = r.pick(TENANTS[vendor]!);
    const key = `k${i}-${r.hex(6)}`;
    const undated = vendor === API && r.chance(0.12);
    const versions: Version[] = [];
    let start: number = drawStart();
    let received = start + r.int(30, 400) * 1000;
    const count = r.chance(0.3) ? r.int(2, 3) : 1;
    for (let v = 0; v < count; v++) {
      if (v > 0) {
        // A re-send, a corrected duration; sometimes the vendor moved the start to another day.
        if (r.chance(0.3)) start = drawStart();
        received = Math.max(received + r.int(1, 3 * 3600) * 1000, start + 60_000);
      }
      if (!inScope(received)) received = SCOPE.cutoffMs - r.int(1, 3600) * 1000;
      const talk = r.int(0, 600);
      const envelope = callEnvelope(vendor, tenant, key, undated ? null : start, talk, received);
      versions.push({ receivedMs: received, startMs: undated ? null : start, talk, envelope, cdr: normalizedOf(envelope), rawPresent: true, rawDup: r.chance(0.1), norm: 'ok', normMinutesDelta: 0, sink: 'ok' });
    }
    // Versions must reach the topics in the order received: one received "earlier" after a later one is the
    // known limit of Tally.addVersion (a later version read first outside the scope), not what this campaign draws.
    versions.sort((a, b) => a.receivedMs - b.receivedMs);
    const call: Call = { vendor, tenant, key, cdrId: versions[0]!.cdr.cdr_id, versions, served: true };
    c.calls.push(call);
    const last = versions.at(-1)!;
    const say = (what: string) => c.faults.push(`${call.cdrId}: ${what}`);
    if (vendor === API && r.chance(p(0.08))) {
      for (const v of versions) v.rawPresent = false;
      // Lost before the raw topic (nothing downstream), or the raw copy gone by retention (downstream still holds it).
      const downstream = r.chance(0.5);
      if (!downstream) for (const v of versions) v.norm = 'lost';
      say(`missing on the raw topic${downstream ? ', still normalized' : ''}`);
      continue;
    }
    if (vendor === API && r.chance(p(0.07))) {
      call.served = false;
      say('no longer served by the vendor');
    }
    if (vendor === PUSH && r.chance(p(0.05))) {
      for (const v of versions) v.rawPresent = false;
      say('normalized, but not on its raw topic');
    }
    for (const v of versions) {
      if (!v.rawPresent) continue;
      const roll = r.next();
      if (roll < p(0.08)) v.norm = 'lost';
      else if (roll < p(0.14)) v.norm = 'dead';
      else if (roll < p(0.18)) v.norm = 'dead_replayed';
      if (v.norm !== 'ok') say(`version ${new Date(v.receivedMs).toISOString()} ${v.norm} at normalize`);
    }
    for (const v of versions) {
      if (v.norm === 'lost' || v.norm === 'dead') continue;
      if (r.chance(p(0.05))) {
        v.normMinutesDelta = r.int(1, 5);
        say(`normalized version ${new Date(v.receivedMs).toISOString()} bills ${v.normMinutesDelta} min more`);
      }
      const roll = r.next();
      if (roll < p(0.07)) v.sink = 'lost';
      else if (roll < p(0.12)) v.sink = 'dead';
      else if (roll < p(0.15)) v.sink = 'dead_stored';
      if (v.sink !== 'ok') say(`version ${new Date(v.receivedMs).toISOString()} ${v.sink} at the sink`);
    }
    // A duplicate of it is a replay, which normalize then maps.
    if (last.rawPresent && last.norm === 'lost' && !last.rawDup) c.injected.push({ what: 'latest raw version lost by normalize', key: '', kinds: ['not_normalized', 'stale_in_normalized'], id: call.cdrId });
  }
  c.rawKeyless = r.chance(0.2) ? r.int(1, 3) : 0;
  if (r.chance(0.2)) {
    const key = bucketKey(API, r.pick(TENANTS[API]!), r.pick(DAYS));
    c.sourceKeyless.set(key, Array.from({ length: r.int(1, 3) }, () => r.int(0, 23)));
  }
  if (r.chance(p(0.1))) {
    const vendor = r.chance(0.5) ? API : PUSH;
    const tenant = r.pick(TENANTS[vendor]!);
    const day = r.pick(DAYS);
    const cdrId = `${vendor}:${tenant}:extra-${r.hex(6)}`;
    c.chExtra.push({ vendor, tenant, cdrId, day, minutes: r.int(0, 9), version: Date.parse(`${day}T12:00:00Z`) });
    c.injected.push({ what: 'a cdr FINAL row nothing normalized', key: bucketKey(vendor, tenant, day), kinds: ['extra_in_clickhouse'], id: cdrId });
    c.faults.push(`${cdrId}: extra in ClickHouse on ${day}`);
  }
  if (r.chance(p(0.1))) {
    const call = r.pick(c.calls);
    c.chMinutes.set(call.cdrId, r.int(1, 7));
    c.faults.push(`${call.cdrId}: its cdr FINAL row bills ${c.chMinutes.get(call.cdrId)} min more`);
  }
  if (r.chance(0.15)) {
    const call = r.pick(c.calls);
    c.unmerged.set(call.cdrId, r.int(1, 2));
  }
  if (r.chance(p(0.1))) {
    const vendor = r.chance(0.5) ? API : PUSH;
    const key = bucketKey(vendor, r.pick(TENANTS[vendor]!), r.pick(DAYS));
    const view = r.pick(['cdr_daily', 'cdr_hourly', 'cdr_end_status'] as const);
    // cdr_end_status has no minutes: it is out of step only by its calls.
    const calls = view === 'cdr_end_status' || r.chance(0.5) ? r.pick([-1, 1, 2]) : 0;
    c.viewOff.push({ key, view, calls, minutes: calls === 0 || r.chance(0.5) ? r.int(1, 4) : 0 });
    c.injected.push({ what: `${view} out of step`, key, kinds: ['view'] });
    c.faults.push(`${view} out of step on ${key.replaceAll('\u0000', ' ')}`);
  }
  return c;
}

// ------------------------------------------------------------------ the topics and ClickHouse of a case

interface World {
  raw: Map<Vendor, RawEnvelope[]>;
  /** Per raw topic: the offsets normalize dead-lettered. */
  rawDead: Set<string>;
  normalized: NormalizedCdr[];
  sinkDead: Set<number>;
  /** cdr FINAL: per cdr_id the row kept (highest version, on a tie the last inserted). */
  final: Map<string, { vendor: Vendor; tenant: string; day: string; minutes: number; version: number }>;
}

function buildWorld(c: Case): World {
  const w: World = { raw: new Map([[API, []], [PUSH, []]]), rawDead: new Set(), normalized: [], sinkDead: new Set(), final: new Map() };
  const events = c.calls.flatMap((call) => call.versions.map((v) => ({ call, v }))).sort((a, b) => a.v.receivedMs - b.v.receivedMs);
  const dups: { call: Call; v: Version }[] = [];
  const insert = (call: Call, v: Version, cdr: NormalizedCdr) => {
    const held = w.final.get(call.cdrId);
    const version = v.receivedMs;
    if (held && held.version > version) return;
    w.final.set(call.cdrId, { vendor: call.vendor, tenant: call.tenant, day: utcDay(v.startMs ?? v.receivedMs), minutes: cdr.billable_minutes, version });
  };
  const publish = ({ call, v }: { call: Call; v: Version }) => {
    let rawOffset: number | undefined;
    if (v.rawPresent) {
      const topic = w.raw.get(call.vendor)!;
      rawOffset = topic.length;
      topic.push(v.envelope);
    }
    if (v.norm === 'dead' || v.norm === 'dead_replayed') w.rawDead.add(`${RAW_TOPIC(call.vendor)}:${rawOffset}`);
    if (v.norm === 'lost' || v.norm === 'dead') return;
    const cdr = { ...v.cdr, billable_minutes: v.cdr.billable_minutes + v.normMinutesDelta };
    const offset = w.normalized.length;
    w.normalized.push(cdr);
    if (v.sink === 'dead' || v.sink === 'dead_stored') w.sinkDead.add(offset);
    if (v.sink === 'ok' || v.sink === 'dead_stored') insert(call, v, cdr);
  };
  for (const e of events) {
    publish(e);
    if (e.v.rawDup && e.v.rawPresent) dups.push(e);
  }
  // A duplicate (a producer retry, a replay) of a version already through every stage, after the rest.
  for (const e of dups) publish({ call: e.call, v: { ...e.v, norm: 'ok', sink: 'ok', normMinutesDelta: e.v.normMinutesDelta } });
  for (let i = 0; i < c.rawKeyless; i++) w.raw.get(PUSH)!.push({ ...callEnvelope(PUSH, '1600000001', `kl${i}`, Date.parse('2026-11-30T08:00:00Z'), 30, Date.parse('2026-11-30T08:05:00Z')), tenant_id: '' });
  for (const x of c.chExtra) w.final.set(x.cdrId, { vendor: x.vendor, tenant: x.tenant, day: x.day, minutes: x.minutes, version: x.version });
  for (const [id, extra] of c.chMinutes) {
    const row = w.final.get(id);
    if (row) row.minutes += extra;
  }
  return w;
}

async function runCase(c: Case) {
  const w = buildWorld(c);
  const dlq: unknown[] = [...[...w.rawDead].map((o) => ({ origin_topic: o.slice(0, o.lastIndexOf(':')), origin_partition: 0, origin_offset: Number(o.slice(o.lastIndexOf(':') + 1)) })), ...[...w.sinkDead].map((offset) => ({ origin_topic: NORMALIZED, origin_partition: 0, origin_offset: offset }))];
  topics.byName = new Map<string, unknown[]>([[RAW_TOPIC(API), w.raw.get(API)!], [RAW_TOPIC(PUSH), w.raw.get(PUSH)!], [NORMALIZED, w.normalized], [DLQ, dlq]]);
  const served = c.calls.filter((call) => call.vendor === API && call.served);
  const connector = {
    source: { vendor: API, tenants: TENANTS[API] },
    survey: async (tenant: string, window: { start: number; end: number }, sink: RecordSink) => {
      const out: RawEnvelope[] = [];
      for (const call of served) {
        if (call.tenant !== tenant) continue;
        const v = call.versions.at(-1)!;
        // Window ends are inclusive at the vendor; one with no start time is served in the window it was received in.
        const at = Math.floor((v.startMs ?? v.receivedMs) / 1000);
        if (v.startMs === null ? at >= window.start && at < window.start + 3600 : at >= window.start && at <= window.end) out.push({ ...v.envelope, received_at: new Date(SCOPE.cutoffMs + H) });
      }
      if (out.length > 0) await sink.publish(out, RAW_TOPIC(API));
      for (const [key, hours] of c.sourceKeyless) {
        const { tenant: t, day } = splitBucketKey(key);
        const refused = hours.filter((h) => t === tenant && Date.parse(`${day}T00:00:00Z`) + h * H + 1_800_000 === (window.start + 1800) * 1000);
        if (refused.length > 0) await sink.deadLetter(refused.map(() => ({}) as never), DLQ);
      }
    },
  } as unknown as PullConnector;
  const progress = silentStream();
  const ctx = { progress, timeoutMs: 1_000 };
  const source = await readSource([connector], SCOPE, null, OPTIONS, { signal: new AbortController().signal, maxAttempts: 1, progress, log: () => {}, now: SCOPE.cutoffMs + H });
  const rawTopics = [API, PUSH].map((vendor) => ({ vendor, topic: RAW_TOPIC(vendor) }));
  const dead = await readDeadLetters({} as Kafka, {} as SchemaRegistry, { deadLetter: DLQ, normalized: NORMALIZED, raw: new Set(rawTopics.map((t) => t.topic)) }, ctx);
  const raw = await readRaw({} as Kafka, {} as SchemaRegistry, rawTopics, SCOPE, null, OPTIONS, dead.rawOrigins, { ...ctx, callTimesOf: source.undated });
  refileUndated(source, raw.callTimes, SCOPE);
  const normalizedLayer = await readNormalized({} as Kafka, {} as SchemaRegistry, NORMALIZED, [API, PUSH], SCOPE, null, dead.sinkOrigins, ctx);
  // cdr FINAL as ClickHouseReader.read gives it, then the ids of the buckets that need them, as reconcile.ts reads them.
  const figures = new Map<string, ClickHouseFigures>();
  const fingerprints = new Map<string, bigint>();
  const versionFingerprints = new Map<string, bigint>();
  const finalIds = new Map<string, Map<string, number>>();
  for (const [id, row] of w.final) {
    const key = bucketKey(row.vendor, row.tenant, row.day);
    const f = figures.get(key) ?? { count: 0, uniq: 0, minutes: 0, storedRows: 0 };
    f.count++;
    f.uniq++;
    f.minutes += row.minutes;
    f.storedRows += 1 + (c.unmerged.get(id) ?? 0);
    figures.set(key, f);
    const ids = finalIds.get(key) ?? new Map<string, number>();
    ids.set(id, row.version);
    finalIds.set(key, ids);
  }
  for (const [key, ids] of finalIds) {
    fingerprints.set(key, idsFingerprint(ids.keys()));
    versionFingerprints.set(key, versionsFingerprint(ids));
  }
  const views = { cdr_daily: new Map<string, ViewFigures>(), cdr_hourly: new Map<string, ViewFigures>(), cdr_end_status: new Map<string, ViewFigures>() };
  for (const [key, f] of figures) {
    views.cdr_daily.set(key, { calls: f.count, minutes: f.minutes });
    views.cdr_hourly.set(key, { calls: f.count, minutes: f.minutes });
    views.cdr_end_status.set(key, { calls: f.count, minutes: null });
  }
  for (const off of c.viewOff) {
    const v = views[off.view].get(off.key) ?? { calls: 0, minutes: off.view === 'cdr_end_status' ? null : 0 };
    views[off.view].set(off.key, { calls: v.calls + off.calls, minutes: v.minutes === null ? null : v.minutes + off.minutes });
  }
  const hourlyBasis = new Map([...figures].map(([k, f]) => [k, { calls: f.count, minutes: f.minutes }]));
  const viewBasis = new Map(figures);
  const clickhouseIds = new Map<string, ReadonlyMap<string, number>>();
  const needing = bucketsNeedingIds({ normalized: normalizedLayer.tally, sinkDead: normalizedLayer.sinkDead, clickhouse: figures }, fingerprints, versionFingerprints);
  for (const [key, ids] of needing.known) clickhouseIds.set(key, ids);
  for (const key of needing.read) clickhouseIds.set(key, finalIds.get(key) ?? new Map());
  const rows = compareLayers({
    scope: SCOPE,
    sourceKind: (v) => (v === API ? 'api' : 'raw-topic'),
    ...readLayers(source, raw, normalizedLayer),
    clickhouse: figures,
    views,
    hourlyBasis,
    viewBasis,
    partialDays: new Set(),
    clickhouseIds,
  });
  return { rows, world: w, rawKeyless: raw.keyless, views };
}

// ------------------------------------------------------------------ the oracle

interface Counted {
  day: string;
  version: number;
  minutes: number;
  dead: boolean;
}

/** Per cdr_id the version a topic counts: the latest received, on a tie the later offset; in scope only. */
function counted<T>(messages: T[], of: (m: T, offset: number) => { id: string; callMs: number; version: number; minutes: number; dead: boolean } | null): Map<string, Counted> {
  const latest = new Map<string, { version: number; callMs: number; minutes: number; dead: boolean }>();
  messages.forEach((m, offset) => {
    const x = of(m, offset);
    if (!x) return;
    const held = latest.get(x.id);
    if (held && held.version > x.version) return;
    latest.set(x.id, x);
  });
  const out = new Map<string, Counted>();
  for (const [id, x] of latest) if (inScope(x.callMs)) out.set(id, { day: utcDay(x.callMs), version: x.version, minutes: x.minutes, dead: x.dead });
  return out;
}

interface Expected {
  ids: Map<DriftKind, Set<string>>;
  minutes: number;
  views: number;
  source: { records: number; minutes: number; keyless: number } | null;
  raw: { records: number; minutes: number };
  normalized: { records: number; minutes: number };
  dlq: number;
  ch: ClickHouseFigures;
}

function oracle(c: Case, w: World, views: Awaited<ReturnType<typeof runCase>>['views']): Map<string, Expected> {
  const byId = new Map(c.calls.map((call) => [call.cdrId, call]));
  const rawCounted = new Map<string, Counted & { key: string }>();
  for (const vendor of [API, PUSH]) {
    const topic = RAW_TOPIC(vendor);
    const cs = counted(w.raw.get(vendor)!, (e, offset) => (e.tenant_id === '' ? null : { id: normalizedOf(e).cdr_id, callMs: normalizedOf(e).started_at?.getTime() ?? e.received_at.getTime(), version: e.received_at.getTime(), minutes: normalizedOf(e).billable_minutes, dead: w.rawDead.has(`${topic}:${offset}`) }));
    for (const [id, x] of cs) rawCounted.set(id, { ...x, key: bucketKey(vendor, byId.get(id)!.tenant, x.day) });
  }
  const normCounted = new Map<string, Counted & { key: string }>();
  // A sink dead letter of a version cdr FINAL holds (or holds a later one of) is superseded: the call counts as stored.
  const storedSince = (cdr: NormalizedCdr) => (w.final.get(cdr.cdr_id)?.version ?? -Infinity) >= cdr.received_at.getTime();
  for (const [id, x] of counted(w.normalized, (cdr, offset) => ({ id: cdr.cdr_id, callMs: (cdr.started_at ?? cdr.received_at).getTime(), version: cdr.received_at.getTime(), minutes: cdr.billable_minutes, dead: w.sinkDead.has(offset) && !storedSince(cdr) }))) {
    const call = byId.get(id)!;
    normCounted.set(id, { ...x, key: bucketKey(call.vendor, call.tenant, x.day) });
  }
  // The vendor serves its latest version; one with no start time is counted on its raw record's day (in scope or
  // not), else on the day of the window that served it (the hour it was received in).
  const servedAt = new Map<string, { key: string; minutes: number }>();
  for (const call of c.calls) {
    if (call.vendor !== API || !call.served) continue;
    const v = call.versions.at(-1)!;
    let day: string | undefined = inScope(v.startMs ?? v.receivedMs) ? utcDay(v.startMs ?? v.receivedMs) : undefined;
    if (v.startMs === null) {
      const rawLatest = call.versions.filter((x) => x.rawPresent).at(-1);
      if (rawLatest) day = inScope(rawLatest.receivedMs) ? utcDay(rawLatest.receivedMs) : undefined;
    }
    if (day !== undefined) servedAt.set(call.cdrId, { key: bucketKey(API, call.tenant, day), minutes: v.cdr.billable_minutes });
  }
  const keys = new Set<string>();
  for (const m of [rawCounted, normCounted, servedAt]) for (const x of m.values()) keys.add(x.key);
  for (const row of w.final.values()) keys.add(bucketKey(row.vendor, row.tenant, row.day));
  for (const tenant of TENANTS[API]!) for (const day of DAYS) keys.add(bucketKey(API, tenant, day));
  // A view's figures are compared wherever it has some, even on a day cdr FINAL holds nothing of.
  for (const view of Object.values(views)) for (const key of view.keys()) keys.add(key);
  const idsIn = <T extends { key: string }>(m: Map<string, T>, key: string) => new Map([...m].filter(([, x]) => x.key === key));
  const out = new Map<string, Expected>();
  for (const key of keys) {
    const { vendor } = splitBucketKey(key);
    const api = vendor === API;
    const raw = idsIn(rawCounted, key);
    const norm = idsIn(normCounted, key);
    const served = idsIn(servedAt, key);
    const ch = new Map([...w.final].filter(([, r]) => bucketKey(r.vendor, r.tenant, r.day) === key));
    const ids = new Map<DriftKind, Set<string>>();
    const put = (kind: DriftKind, list: Iterable<string>) => {
      const s = new Set(list);
      if (s.size > 0) ids.set(kind, s);
    };
    const minus = (a: Iterable<string>, ...b: Map<string, unknown>[]) => [...a].filter((id) => !b.some((m) => m.has(id)));
    if (api) {
      put('missing_in_raw', minus(served.keys(), raw));
      put('not_in_source', minus(raw.keys(), served));
    }
    put('not_normalized', [...raw].filter(([id, x]) => !norm.has(id) && !x.dead).map(([id]) => id));
    put('stale_in_normalized', [...raw].filter(([id, x]) => norm.has(id) && !x.dead && x.version > norm.get(id)!.version).map(([id]) => id));
    put('extra_in_normalized', api ? minus(norm.keys(), raw, served) : minus(norm.keys(), raw));
    const expected = [...norm].filter(([, x]) => !x.dead).map(([id]) => id);
    put('not_in_clickhouse', expected.filter((id) => !ch.has(id)));
    put('stale_in_clickhouse', expected.filter((id) => ch.has(id) && ch.get(id)!.version < norm.get(id)!.version));
    put('extra_in_clickhouse', minus(ch.keys(), norm));
    const sum = (m: Map<string, { minutes: number }>) => [...m.values()].reduce((s, x) => s + x.minutes, 0);
    const chFig: ClickHouseFigures = { count: ch.size, uniq: ch.size, minutes: sum(ch), storedRows: ch.size + [...ch.keys()].reduce((s, id) => s + (c.unmerged.get(id) ?? 0), 0) };
    const reference = api ? sum(served) : sum(raw);
    let viewDrift = 0;
    for (const name of ['cdr_daily', 'cdr_hourly', 'cdr_end_status'] as const) {
      const v = views[name].get(key) ?? { calls: 0, minutes: name === 'cdr_end_status' ? null : 0 };
      if (v.calls !== chFig.count || (v.minutes !== null && v.minutes !== chFig.minutes)) viewDrift++;
    }
    // dlq: a call whose counted raw record normalize refused and that is not normalized at that version since; a call
    // whose counted normalized record the sink refused, unless the raw topic holds a later version (counted by that).
    const dlq = new Set([...raw].filter(([id, x]) => x.dead && (!norm.has(id) || norm.get(id)!.version < x.version)).map(([id]) => id));
    for (const [id, x] of norm) if (x.dead && !((rawCounted.get(id)?.version ?? -Infinity) > x.version)) dlq.add(id);
    out.set(key, {
      ids,
      minutes: Math.abs(reference - chFig.minutes),
      views: viewDrift,
      source: api ? { records: served.size, minutes: sum(served), keyless: c.sourceKeyless.get(key)?.length ?? 0 } : null,
      raw: { records: raw.size, minutes: sum(raw) },
      normalized: { records: norm.size, minutes: sum(norm) },
      dlq: dlq.size,
      ch: chFig,
    });
  }
  return out;
}

// ------------------------------------------------------------------ checks

function check(c: Case, rows: ReconcileRow[], expected: Map<string, Expected>): string[] {
  const problems: string[] = [];
  const got = new Map(rows.map((r) => [bucketKey(r.vendor, r.tenant, r.day), r]));
  const name = (key: string) => key.replaceAll('\u0000', ' ');
  for (const key of new Set([...got.keys(), ...expected.keys()])) {
    const row = got.get(key);
    const want = expected.get(key);
    if (!row || !want) {
      problems.push(`${name(key)}: row ${row ? 'reported' : 'missing'}, the oracle ${want ? 'has it' : 'has none'}`);
      continue;
    }
    const figures = (x: { source: unknown; raw: unknown; normalized: unknown; dlq: number; ch: unknown; unmerged: number }) => JSON.stringify(x);
    const gotFigures = figures({ source: row.source, raw: row.raw, normalized: row.normalized, dlq: row.deadLettered, ch: row.clickhouse, unmerged: row.unmergedDuplicates });
    const wantFigures = figures({ source: want.source, raw: want.raw, normalized: want.normalized, dlq: want.dlq, ch: want.ch, unmerged: want.ch.storedRows - want.ch.count });
    if (gotFigures !== wantFigures) problems.push(`${name(key)}: figures ${gotFigures}, the oracle ${wantFigures}`);
    const gotIds = new Map<string, string[]>();
    let gotMinutes = 0;
    let gotViews = 0;
    for (const d of row.drift) {
      if (d.kind === 'minutes') gotMinutes += d.count;
      else if (d.kind === 'view') gotViews++;
      else {
        if (gotIds.has(d.kind)) problems.push(`${name(key)}: ${d.kind} reported twice`);
        gotIds.set(d.kind, [...(d.ids ?? [])].sort());
        if (d.count !== (d.ids ?? []).length) problems.push(`${name(key)}: ${d.kind} counts ${d.count} but names ${(d.ids ?? []).length}`);
      }
    }
    for (const kind of new Set<string>([...gotIds.keys(), ...want.ids.keys()])) {
      const a = JSON.stringify(gotIds.get(kind) ?? []);
      const b = JSON.stringify([...(want.ids.get(kind as DriftKind) ?? [])].sort());
      if (a !== b) problems.push(`${name(key)}: ${kind} ${a}, the oracle ${b}`);
    }
    if (gotMinutes !== want.minutes) problems.push(`${name(key)}: minutes drift ${gotMinutes}, the oracle ${want.minutes}`);
    if (gotViews !== want.views) problems.push(`${name(key)}: ${gotViews} view drift(s), the oracle ${want.views}`);
  }
  for (const inj of c.injected) {
    const hit = rows.some((r) => (inj.key === '' || bucketKey(r.vendor, r.tenant, r.day) === inj.key) && r.drift.some((d) => inj.kinds.includes(d.kind) && (inj.id === undefined || d.ids?.includes(inj.id))));
    if (!hit) problems.push(`injected, not reported: ${inj.what}${inj.id ? ` (${inj.id})` : ''} under ${inj.kinds.join(' / ')}`);
  }
  const anyDrift = [...expected.values()].some((e) => e.ids.size > 0 || e.minutes > 0 || e.views > 0);
  if (exitCodeOf(rows) !== (anyDrift ? 1 : 0)) problems.push(`exit ${exitCodeOf(rows)}, the oracle ${anyDrift ? 1 : 0}`);
  if (c.faults.length === 0 && rows.some((r) => r.drift.length > 0)) problems.push('a history with no fault injected reports drift');
  // A second look that saw the same: nothing in flight, all confirmed.
  const partial = new Set(DAYS);
  const again = confirmDrift(rows, rows, partial);
  if (JSON.stringify(again.map((r) => r.drift)) !== JSON.stringify(rows.map((r) => r.drift)) || again.some((r) => r.inFlight !== 0)) problems.push('confirmDrift of a second look equal to the first changed the drift');
  const edge = rows.some((r) => r.drift.some((d) => !['minutes', 'view', 'final_not_unique'].includes(d.kind)));
  if (hasEdgeDrift(rows, partial) !== edge) problems.push(`hasEdgeDrift ${!edge}, the oracle ${edge}`);
  return problems;
}

describe('compareLayers: a seeded campaign of call histories across the layers', () => {
  it(`${SEEDS.length} cases (seeds ${SEEDS[0]}..${SEEDS.at(-1)}): every difference named in its bucket, nothing else, figures and exit code as the oracle's`, async () => {
    const failures: string[] = [];
    let drifting = 0;
    for (const seed of SEEDS) {
      const c = planCase(seed);
      const { rows, world, rawKeyless, views } = await runCase(c);
      const problems = check(c, rows, oracle(c, world, views));
      if (rawKeyless !== c.rawKeyless) problems.push(`raw keyless ${rawKeyless}, injected ${c.rawKeyless}`);
      if (exitCodeOf(rows) === 1) drifting++;
      if (problems.length > 0) failures.push(`seed ${seed}: ${c.calls.length} call(s); faults: ${c.faults.join('; ') || 'none'}\n    ${problems.join('\n    ')}`);
    }
    // The campaign draws both: histories that agree and ones that do not.
    if (SEEDS.length >= 50) expect(drifting).toBeGreaterThan(SEEDS.length / 5);
    if (SEEDS.length >= 50) expect(drifting).toBeLessThan(SEEDS.length);
    expect(failures.slice(0, 8).join('\n')).toBe('');
  }, timeoutMs(60_000));
});
