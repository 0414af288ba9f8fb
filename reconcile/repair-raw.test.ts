// `--repair` of raw records neither normalized nor dead-lettered: the report names them by cdr_id, the raw topic by
// its raw key; under a PII key an LVMS composite key's number is hashed in the cdr_id, so the raw records are found
// by normalizing their keys, never by reading a key back out of a cdr_id.
// Records the report names that the repair's scan no longer finds on their topic are listed as unrepairable.
import { describe, expect, it, vi } from 'vitest';
import type { Kafka, OutgoingMessage, ScannedMessage } from '../core/kafka.ts';
import type { RawEnvelope } from '../core/envelope.ts';
import { normalizedCdrId } from '../transforms/normalize/index.ts';
import type { ReconcileReport, ReconcileRow } from './model.ts';
import { repair } from './repair.ts';
import { renderOutcome } from './render.ts';
import { emptyClickHouse, repairContext } from './fixtures/repair-context.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import type { BackfillRequest } from '../connectors/poller/backfill.ts';
import { BackfillBusy } from '../connectors/poller/backfill-lock.ts';

const sent: OutgoingMessage[] = [];
let topicMessages: ScannedMessage[] = [];

vi.mock('../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../core/kafka.ts')>()),
  scanTopicToEnd: async (_kafka: Kafka, _topic: string, visit: (m: ScannedMessage) => Promise<void> | void) => {
    for (const m of topicMessages) await visit(m);
  },
  AckedPublisher: class {
    send(_topic: string, messages: OutgoingMessage[]) {
      sent.push(...messages);
      return Promise.resolve();
    }
    disconnect() {
      return Promise.resolve();
    }
  },
}));
// Raw envelopes and normalized records alike, as JSON: received_at as the contract's decoder gives it, a Date.
vi.mock('./contract-decoder.ts', () => ({
  contractDecoder: () => (value: Buffer) => Promise.resolve(JSON.parse(value.toString('utf8'), (k, v: unknown) => (k === 'received_at' ? new Date(v as number) : v)) as RawEnvelope),
}));
vi.mock('./pipeline.ts', () => ({ waitForSnapshot: () => Promise.resolve({ caughtUp: true, behind: 0 }) }));

function normalizedMessage(cdrId: string, offset: number, receivedAt: number, v: number): ScannedMessage {
  return { partition: 0, offset, key: Buffer.from(cdrId), value: Buffer.from(JSON.stringify({ cdr_id: cdrId, received_at: receivedAt, v })), timestamp: 0 } as unknown as ScannedMessage;
}

const PII_KEY = 'repair-pii-key-0123456789';
const TOPIC = 'cdr.raw.alibaba-lvms';

const RECEIVED = Date.parse('2026-11-30T18:05:00Z');

function rawMessage(naturalKey: string, offset: number, receivedAt = RECEIVED, payload = '{}'): ScannedMessage {
  const envelope = { vendor: 'alibaba-lvms', tenant_id: 'app', natural_key: naturalKey, received_at: receivedAt, payload };
  return { partition: 0, offset, key: Buffer.from(naturalKey), value: Buffer.from(JSON.stringify(envelope)), timestamp: 0 } as unknown as ScannedMessage;
}

describe('repair: raw records not normalized', () => {
  it('appends again the composite-keyed LVMS record the report names by its hashed cdr_id, and no other', async () => {
    const wanted = 'job:5001|13800138000|2026-11-30 18:00:00';
    topicMessages = [rawMessage('job:5001|13900139000|2026-11-30 18:00:00', 0), rawMessage(wanted, 1), rawMessage('880001', 2)];
    const id = normalizedCdrId('alibaba-lvms', 'app', wanted, PII_KEY);
    const report = {
      scope: { tz: 'UTC' },
      rows: [{ vendor: 'alibaba-lvms', tenant: 'app', day: '2026-11-30', unmergedDuplicates: 0, drift: [{ kind: 'not_normalized', count: 1, detail: '', ids: [id], repairable: true }] }],
    } as unknown as ReconcileReport;
    const ctx = repairContext({
      clickhouse: emptyClickHouse(),
      rawTopics: [{ vendor: 'alibaba-lvms', topic: TOPIC }],
      piiKey: PII_KEY,
    });
    const actions = await repair(report, ctx);
    expect(actions.find((a) => a.kind === 'replay_raw')).toMatchObject({ records: 1, sample: [id] });
    expect(sent.map((m) => String(m.key))).toEqual([wanted]);
  });

  it('lists the records the report names that are no longer on the raw topic as unrepairable, and replays the rest', async () => {
    sent.length = 0;
    topicMessages = [rawMessage('880001', 0)];
    const [kept, gone] = ['880001', '880002'].map((nk) => normalizedCdrId('alibaba-lvms', 'app', nk, null)) as [string, string];
    const row: ReconcileRow = {
      vendor: 'alibaba-lvms', tenant: 'app', day: '2026-11-30', sourceKind: 'raw-topic', source: null,
      raw: { records: 2, minutes: 0 }, normalized: { records: 0, minutes: 0 }, deadLettered: 0,
      clickhouse: { count: 0, uniq: 0, minutes: 0, storedRows: 0 },
      views: { cdr_daily: null, cdr_hourly: { calls: 0, minutes: 0 }, cdr_end_status: null },
      unmergedDuplicates: 0, inFlight: 0,
      drift: [{ kind: 'not_normalized', count: 2, detail: '2 raw record(s) with neither a normalized record nor a dead letter', ids: [kept, gone], repairable: true }],
    };
    const before: ReconcileReport = { runId: 'r', startedAt: '', finishedAt: '', scope: { from: row.day, to: row.day, tz: 'UTC', cutoff: '', vendors: ['alibaba-lvms'], tenants: null }, rows: [row], notes: [], driftRows: 1, sourceUnreachable: [], exitCode: 1 };
    const ctx = repairContext({ clickhouse: emptyClickHouse(), rawTopics: [{ vendor: 'alibaba-lvms', topic: TOPIC }] });
    const actions = await repair(before, ctx);
    expect(sent.map((m) => String(m.key))).toEqual(['880001']);
    expect(actions.find((a) => a.kind === 'replay_raw')).toMatchObject({ records: 1, sample: [kept] });
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([
      expect.objectContaining({ vendor: 'alibaba-lvms', tenant: 'app', records: 1, sample: [gone], detail: expect.stringMatching(/^2026-11-30: 1 raw record\(s\) no longer on cdr\.raw\.alibaba-lvms/) }),
    ]);
    const text = renderOutcome({ before, repair: actions, after: { ...before, rows: [{ ...row, drift: [] }], driftRows: 0, exitCode: 0 }, exitCode: 0 }, false);
    expect(text).toMatch(new RegExp(`unrepairable alibaba-lvms app: 2026-11-30: 1 raw record\\(s\\) no longer on ${TOPIC.replace(/\./g, '\\.')}.* — ${gone}\n`));
  });

  it('lists the normalized records missing in ClickHouse that are no longer on the normalized topic as unrepairable, and re-sends the rest', async () => {
    sent.length = 0;
    const [kept, gone] = ['880001', '880002'].map((nk) => normalizedCdrId('alibaba-lvms', 'app', nk, null)) as [string, string];
    topicMessages = [normalizedMessage(kept, 0, RECEIVED, 1)];
    const report = {
      scope: { tz: 'UTC' },
      rows: [{ vendor: 'alibaba-lvms', tenant: 'app', day: '2026-11-30', unmergedDuplicates: 0, drift: [{ kind: 'not_in_clickhouse', count: 2, detail: '', ids: [kept, gone], repairable: true }] }],
    } as unknown as ReconcileReport;
    const actions = await repair(report, repairContext({ clickhouse: emptyClickHouse() }));
    expect(sent.map((m) => String(m.key))).toEqual([kept]);
    expect(actions.find((a) => a.kind === 'resend_normalized')).toMatchObject({ records: 1, sample: [kept] });
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([
      expect.objectContaining({ vendor: 'alibaba-lvms', tenant: 'app', records: 1, sample: [gone], detail: expect.stringMatching(/^2026-11-30: 1 normalized record\(s\) no longer on cdr\.normalized/) }),
    ]);
  });
});

/** One LVMS call stale in normalized and another stale in ClickHouse, repairable, and the repair of that report. */
const [inRaw, inNormalized] = ['880001', '880002'].map((nk) => normalizedCdrId('alibaba-lvms', 'app', nk, null)) as [string, string];
const report = {
  scope: { tz: 'UTC' },
  rows: [{ vendor: 'alibaba-lvms', tenant: 'app', day: '2026-11-30', unmergedDuplicates: 0, drift: [
    { kind: 'stale_in_normalized', count: 1, detail: '', ids: [inRaw], repairable: true },
    { kind: 'stale_in_clickhouse', count: 1, detail: '', ids: [inNormalized], repairable: true },
  ] }],
} as unknown as ReconcileReport;
const run = () => repair(report, repairContext({ clickhouse: emptyClickHouse(), rawTopics: [{ vendor: 'alibaba-lvms', topic: TOPIC }] }));

describe('repair: a newer version that stopped short of a layer', () => {
  it('appends again the latest raw copy of a call stale in normalized, and the latest normalized record of one stale in ClickHouse', async () => {
    sent.length = 0;
    const older = rawMessage('880001', 0, RECEIVED, '{"v":1}');
    const newer = rawMessage('880001', 1, RECEIVED + 60_000, '{"v":2}');
    const normalizedRecord = normalizedMessage(inNormalized, 2, RECEIVED + 60_000, 2);
    topicMessages = [older, newer, normalizedRecord];
    const actions = await run();
    expect(actions.find((a) => a.kind === 'replay_raw')).toMatchObject({ records: 1, sample: [inRaw] });
    expect(actions.find((a) => a.kind === 'resend_normalized')).toMatchObject({ records: 1, sample: [inNormalized] });
    expect(sent.map((m) => String(m.value))).toEqual([String(newer.value), String(normalizedRecord.value)]);
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([]);
  });
});

describe('repair: a call stale in normalized and behind in ClickHouse too', () => {
  // Raw v3, normalized v2, ClickHouse v1 (or no row): the raw v3 appended again reaches ClickHouse through normalize
  // and the sink; re-sending v2 as well would re-feed the call twice in one repair.
  it.each(['stale_in_clickhouse', 'not_in_clickhouse'])('%s: only its latest raw copy is appended again', async (behind) => {
    sent.length = 0;
    const raw = rawMessage('880001', 0, RECEIVED + 120_000, '{"v":3}');
    topicMessages = [raw, normalizedMessage(inRaw, 1, RECEIVED + 60_000, 2)];
    const twoLayers = {
      scope: { tz: 'UTC' },
      rows: [{ vendor: 'alibaba-lvms', tenant: 'app', day: '2026-11-30', unmergedDuplicates: 0, drift: [
        { kind: 'stale_in_normalized', count: 1, detail: '', ids: [inRaw], repairable: true },
        { kind: behind, count: 1, detail: '', ids: [inRaw], repairable: true },
      ] }],
    } as unknown as ReconcileReport;
    const actions = await repair(twoLayers, repairContext({ clickhouse: emptyClickHouse(), rawTopics: [{ vendor: 'alibaba-lvms', topic: TOPIC }] }));
    expect(sent.map((m) => String(m.value))).toEqual([String(raw.value)]);
    expect(actions.filter((a) => a.kind !== 'merge_duplicates').map((a) => [a.kind, a.records])).toEqual([['replay_raw', 1]]);
  });
});

describe('repair: the copy appended again is the latest received, not the last on the topic', () => {
  // An older version appended after the newer one (a replay, an import of an old file, an earlier repair): re-fed, it
  // would leave the call stale, as the reconcile judges versions by received_at (Tally.addVersion).

  it('a topic holding v2 then an older v1 appended later: v2 is appended again, once per call', async () => {
    sent.length = 0;
    const v2Raw = rawMessage('880001', 0, RECEIVED + 60_000, '{"v":2}');
    const v2Normalized = normalizedMessage(inNormalized, 1, RECEIVED + 60_000, 2);
    topicMessages = [v2Raw, v2Normalized, rawMessage('880001', 2, RECEIVED, '{"v":1}'), normalizedMessage(inNormalized, 3, RECEIVED, 1)];
    const actions = await run();
    expect(sent.map((m) => String(m.value))).toEqual([String(v2Raw.value), String(v2Normalized.value)]);
    expect(actions.filter((a) => a.kind === 'replay_raw' || a.kind === 'resend_normalized').map((a) => a.records)).toEqual([1, 1]);
  });

  it('versions received at the same time: the later offset, as the reconcile counts them', async () => {
    sent.length = 0;
    const later = rawMessage('880001', 2, RECEIVED, '{"v":"b"}');
    const laterNormalized = normalizedMessage(inNormalized, 3, RECEIVED, 2);
    topicMessages = [rawMessage('880001', 0, RECEIVED, '{"v":"a"}'), normalizedMessage(inNormalized, 1, RECEIVED, 1), later, laterNormalized];
    await run();
    expect(sent.map((m) => String(m.value))).toEqual([String(later.value), String(laterNormalized.value)]);
  });
});

describe('repair: one re-feed per call, whichever step brings it back', () => {
  // A backfill re-reads whole hours: besides the call missing on the raw topic, it publishes again every call the vendor
  // served in them, also those the report names as not normalized or not in ClickHouse. Those are re-fed already.
  const CCC = 'tencent-ccc' as const;
  const TENANT = '1400000001';
  const HOUR = Date.parse('2026-11-30T10:00:00Z') / 1000;
  const [missing, notNormalized, notInCh, elsewhere] = ['m-1', 'n-1', 'c-1', 'e-1'];
  const id = (nk: string) => normalizedCdrId(CCC, TENANT, nk, null);
  const cccRaw = (nk: string, offset: number, receivedAt: number, mode = 'live'): ScannedMessage => {
    const envelope = { vendor: CCC, tenant_id: TENANT, natural_key: nk, received_at: receivedAt, payload: '{}', mode };
    return { partition: 0, offset, key: Buffer.from(nk), value: Buffer.from(JSON.stringify(envelope)), timestamp: 0 } as unknown as ScannedMessage;
  };
  const cccReport = {
    scope: { tz: 'UTC' },
    rows: [{ vendor: CCC, tenant: TENANT, day: '2026-11-30', unmergedDuplicates: 0, drift: [
      { kind: 'missing_in_raw', count: 1, detail: '', ids: [id(missing)], repairable: true },
      { kind: 'not_normalized', count: 2, detail: '', ids: [id(notNormalized), id(elsewhere)], repairable: true },
      { kind: 'not_in_clickhouse', count: 1, detail: '', ids: [id(notInCh)], repairable: true },
    ] }],
  } as unknown as ReconcileReport;
  // The vendor served the missing call and its neighbours in 10:00, the other not-normalized call in 14:00.
  const sourceWindows = new Map([[`${CCC}\u0000${TENANT}\u00002026-11-30`, new Map([[id(missing), HOUR], [id(notNormalized), HOUR], [id(notInCh), HOUR], [id(elsewhere), HOUR + 4 * 3600]])]]);
  /**
   * A backfill of the missing call's hour: it reads that hour, publishing the calls the vendor `serves` there now, or
   * finds it lost, or (`unread`) reads nothing this run.
   */
  function connector(lost?: { from: number; to: number }, unread = false, serves = [missing, notNormalized, notInCh]) {
    return {
      source: { vendor: CCC, tenants: [TENANT] },
      backfill: (req: BackfillRequest) => {
        const read = lost || unread ? [] : serves;
        read.forEach((nk, i) => topicMessages.push(cccRaw(nk, 100 + i, RECEIVED + 3_600_000, 'backfill')));
        if (read.length > 0) req.onPublished?.(read);
        const loss = lost ? { lostSeconds: lost.to - lost.from, lostFrom: new Date(lost.from * 1000).toISOString(), lostTo: new Date(lost.to * 1000).toISOString() } : { lostSeconds: 0 };
        return Promise.resolve({ checkpointId: 'c', windows: read.length > 0 ? 1 : 0, pages: 1, records: read.length, retries: 0, elapsedMs: 0, alreadyComplete: false, complete: !unread, ...loss });
      },
    } as unknown as PullConnector;
  }
  const runCcc = (lost?: { from: number; to: number }, unread = false, serves?: string[]) =>
    repair(cccReport, repairContext({ clickhouse: emptyClickHouse(), connectors: [connector(lost, unread, serves)], rawTopics: [{ vendor: CCC, topic: 'cdr.raw.tencent-ccc' }], sourceWindows }));

  it('does not append again the copy a backfill of this repair just published: the call is re-fed once, by the backfill', async () => {
    sent.length = 0;
    topicMessages = [cccRaw(notNormalized, 0, RECEIVED), cccRaw(elsewhere, 1, RECEIVED), normalizedMessage(id(notInCh), 2, RECEIVED, 1)];
    const actions = await runCcc();
    // Only the call of an hour the backfill did not read is appended again.
    expect(sent.map((m) => String(m.key))).toEqual([elsewhere]);
    expect(actions.filter((a) => a.kind !== 'backfill' && a.kind !== 'merge_duplicates')).toEqual([expect.objectContaining({ kind: 'replay_raw', records: 1, sample: [id(elsewhere)] })]);
    expect(actions.find((a) => a.kind === 'backfill')).toMatchObject({ records: 3, sample: [id(missing)] });
  });

  it('a backfill that read nothing of the hour this run (its unsettled tail, a checkpoint of an earlier run) leaves its calls to be appended again', async () => {
    sent.length = 0;
    topicMessages = [cccRaw(notNormalized, 0, RECEIVED), cccRaw(elsewhere, 1, RECEIVED), normalizedMessage(id(notInCh), 2, RECEIVED, 1)];
    await runCcc(undefined, true);
    expect(sent.map((m) => String(m.key)).sort()).toEqual([id(notInCh), elsewhere, notNormalized].sort());
  });

  it('a call of an hour the backfill read that the vendor no longer serves there (deleted, moved, a window given up incomplete) is appended again', async () => {
    sent.length = 0;
    topicMessages = [cccRaw(notNormalized, 0, RECEIVED), cccRaw(elsewhere, 1, RECEIVED), normalizedMessage(id(notInCh), 2, RECEIVED, 1)];
    // The backfill read the whole hour but published only the missing call.
    const actions = await runCcc(undefined, false, [missing]);
    expect(sent.map((m) => String(m.key)).sort()).toEqual([id(notInCh), elsewhere, notNormalized].sort());
    expect(actions.find((a) => a.kind === 'backfill')).toMatchObject({ records: 1, sample: [id(missing)] });
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([]);
  });

  it('a missing call the backfill did not bring back (the vendor no longer serves it there) is listed as unrepairable, not as backfilled', async () => {
    sent.length = 0;
    topicMessages = [cccRaw(notNormalized, 0, RECEIVED), cccRaw(elsewhere, 1, RECEIVED), normalizedMessage(id(notInCh), 2, RECEIVED, 1)];
    const actions = await runCcc(undefined, false, [notNormalized, notInCh]);
    expect(actions.find((a) => a.kind === 'backfill')).toMatchObject({ records: 2, sample: [], detail: expect.stringMatching(/for 1 missing record\(s\)$/) });
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([
      expect.objectContaining({ records: 1, sample: [id(missing)], detail: '2026-11-30: 1 missing record(s) the backfill did not bring back: the vendor did not serve them when read again' }),
    ]);
  });

  it('a missing call the vendor now lists under an hour a later backfill of this repair reads is brought back there, not listed as unrepairable', async () => {
    sent.length = 0;
    topicMessages = [];
    const moved = 'm-2';
    const report = {
      scope: { tz: 'UTC' },
      rows: [{ vendor: CCC, tenant: TENANT, day: '2026-11-30', unmergedDuplicates: 0, drift: [{ kind: 'missing_in_raw', count: 2, detail: '', ids: [id(moved), id(missing)], repairable: true }] }],
    } as unknown as ReconcileReport;
    // The reconcile found the moved call in 10:00, the other in 14:00; the vendor lists both under 14:00 now.
    const windows = new Map([[`${CCC}\u0000${TENANT}\u00002026-11-30`, new Map([[id(moved), HOUR], [id(missing), HOUR + 4 * 3600]])]]);
    const asked: number[] = [];
    const vendor = {
      source: { vendor: CCC, tenants: [TENANT] },
      backfill: (req: BackfillRequest) => {
        asked.push(req.from.getTime() / 1000);
        const read = req.from.getTime() / 1000 === HOUR + 4 * 3600 ? [missing, moved] : [];
        if (read.length > 0) req.onPublished?.(read);
        return Promise.resolve({ checkpointId: 'c', windows: 1, pages: 1, records: read.length, retries: 0, elapsedMs: 0, alreadyComplete: false, complete: true, lostSeconds: 0 });
      },
    } as unknown as PullConnector;
    const actions = await repair(report, repairContext({ clickhouse: emptyClickHouse(), connectors: [vendor], rawTopics: [{ vendor: CCC, topic: 'cdr.raw.tencent-ccc' }], sourceWindows: windows }));
    expect(asked).toEqual([HOUR, HOUR + 4 * 3600]);
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([]);
    expect(actions.filter((a) => a.kind === 'backfill').flatMap((a) => a.sample).sort()).toEqual([id(missing), id(moved)].sort());
  });

  it('a call whose copies retention removed, that the backfill re-feeds, is not listed as unrepairable', async () => {
    sent.length = 0;
    // cdr.normalized no longer holds the call missing in ClickHouse; the backfill brings its raw record back.
    topicMessages = [cccRaw(notNormalized, 0, RECEIVED), cccRaw(elsewhere, 1, RECEIVED)];
    const actions = await runCcc();
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([]);
    expect(actions.find((a) => a.kind === 'resend_normalized')).toBeUndefined();
  });

  it('a missing call of a range another run is backfilling is left to that run: its copies gone from a topic do not make it unrepairable', async () => {
    sent.length = 0;
    // Missing on the raw topic and in ClickHouse, its normalized record gone from cdr.normalized by retention.
    topicMessages = [];
    const report = {
      scope: { tz: 'UTC' },
      rows: [{ vendor: CCC, tenant: TENANT, day: '2026-11-30', unmergedDuplicates: 0, drift: [
        { kind: 'missing_in_raw', count: 1, detail: '', ids: [id(missing)], repairable: true },
        { kind: 'not_in_clickhouse', count: 1, detail: '', ids: [id(missing)], repairable: true },
      ] }],
    } as unknown as ReconcileReport;
    const held = {
      source: { vendor: CCC, tenants: [TENANT] },
      backfill: () => Promise.reject(new BackfillBusy('c', { pid: 4242, command: 'cdrflow backfill', since: '2026-12-01T23:00:00.000Z' } as BackfillBusy['holder'])),
    } as unknown as PullConnector;
    const actions = await repair(report, repairContext({ clickhouse: emptyClickHouse(), connectors: [held], rawTopics: [{ vendor: CCC, topic: 'cdr.raw.tencent-ccc' }], sourceWindows }));
    expect(actions.find((a) => a.kind === 'backfill')).toMatchObject({ records: 0, sample: [id(missing)], detail: expect.stringMatching(/: not run, a backfill of c is already running/) });
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([]);
  });

  it('the hours the vendor no longer keeps are not read: their missing call is listed as unrepairable, the others are appended again', async () => {
    sent.length = 0;
    topicMessages = [cccRaw(notNormalized, 0, RECEIVED), cccRaw(elsewhere, 1, RECEIVED), normalizedMessage(id(notInCh), 2, RECEIVED, 1)];
    const actions = await runCcc({ from: HOUR - 3600, to: HOUR + 3600 });
    expect(sent.map((m) => String(m.key)).sort()).toEqual([id(notInCh), elsewhere, notNormalized].sort());
    expect(actions.find((a) => a.kind === 'backfill')).toMatchObject({ records: 0, sample: [] });
    expect(actions.filter((a) => a.kind === 'unrepairable')).toEqual([
      expect.objectContaining({ vendor: CCC, tenant: TENANT, records: 1, sample: [id(missing)], detail: expect.stringMatching(/^2026-11-30: 1 missing record\(s\) the backfill did not bring back: the vendor no longer keeps 2026-11-30T09:00:00\.000Z \.\. 2026-11-30T11:00:00\.000Z, or the vendor did not serve them when read again$/) }),
    ]);
  });
});
