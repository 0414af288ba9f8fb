// Contract tests of the CCC simulator, driven through the connector's SDK-signed client over loopback only.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from 'node:http';
import * as tencentcloud from 'tencentcloud-sdk-nodejs-common';
import { startCccSimulator, type CccSimulator } from './index.ts';
import { CccDataset, END_STATUS, NEVER_QUEUED } from './dataset.ts';
import { CccApiClient, pinnedLookup } from '../../connectors/tencent-ccc/client.ts';
import type { CdrflowError } from '../../core/errors.ts';
import { rejection } from '../../test/helpers.ts';
import { mapTencentCcc } from '../../transforms/normalize/vendors/tencent-ccc.ts';
import { defaultNormalizeContext } from '../../transforms/normalize/context.ts';
import { CCC_END_CODE_DIRECTION, CCC_IVR_END_CODES } from '../../transforms/normalize/codes/tencent-ccc.ts';
import { cccRawEnvelope } from '../../reconcile/fixtures/layers.ts';

const CREDS = { AKIDsim: 'sim-secret-key' };
let sim: CccSimulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

function client(s: CccSimulator, secretKey = 'sim-secret-key') {
  return new CccApiClient({ secretId: 'AKIDsim', secretKey, ...s.connection, timeoutMs: 5000 });
}

const nowSec = () => Math.floor(Date.now() / 1000);

describe('CCC dataset', () => {
  it('is deterministic from its seed and covers every documented EndStatus', () => {
    const a = new CccDataset({ seed: 42, sdkAppIds: [1400000001] });
    const b = new CccDataset({ seed: 42, sdkAppIds: [1400000001] });
    a.generateRange(1_700_000_000, 1_700_086_400, 3000);
    b.generateRange(1_700_000_000, 1_700_086_400, 3000);
    expect(JSON.stringify(a.all())).toBe(JSON.stringify(b.all()));
    const codes = new Set(a.all().map((r) => r.record['EndStatus']));
    for (const [code] of END_STATUS) expect(codes.has(code)).toBe(true);
    for (const { record } of a.all()) {
      expect(record['Caller']).toBe('');
      expect(String(record['ProtectedCaller'])).toMatch(/^pc_/);
      if (record['AcceptTimestamp'] === 0) expect(record['Duration']).toBe(0);
      else expect(record['Duration']).toBe((record['EndedTimestamp'] as number) - (record['AcceptTimestamp'] as number));
    }
    expect(a.all().some((r) => (r.record['ServeParticipants'] as unknown[]).length > 1)).toBe(true);
  });

  it('ends a call only with a code the code table scopes to its direction (AI codes 232/233 are inbound only)', () => {
    // Scopes as docs/vendors.md §1 "Code tables" gives them, written out here so the dataset's own table is checked.
    const inboundOnly = new Set([17, 100, 102, 103, 104, 105, 106, 107, 232, 233, 501, 502, 503]);
    const outboundOnly = new Set([108, 109, 110, 111, 202, 203, 204, 205, 206, 207, 208, 209, 210, 212, 213, 215, 216, 217, 218, 219, 220, 221, 222]);
    const d = new CccDataset({ seed: 7, sdkAppIds: [1400000001] });
    d.generateRange(1_700_000_000, 1_700_086_400, 3000);
    const misplaced = d.all().flatMap(({ record: r }) => {
      const code = r['EndStatus'] as number;
      const wrong = (inboundOnly.has(code) && r['Direction'] !== 0) || (outboundOnly.has(code) && r['Direction'] !== 1);
      return wrong ? [`${code} on Direction ${String(r['Direction'])}`] : [];
    });
    expect(misplaced).toEqual([]);
    expect(d.all().some((r) => r.record['EndStatus'] === 232 && r.record['Direction'] === 0)).toBe(true);
  });

  it('says the party an end code names as the one who hung up (HungUpSide)', () => {
    // docs/vendors.md §1 code table: "User abandoned …" (102-104), "Callee rejected" (203, the user of an outbound
    // call), "(system side)" / "(system)" (100, 108-111), "Caller (agent) cancelled" (209, 220).
    const named: Record<number, string> = { 102: 'user', 103: 'user', 104: 'user', 203: 'user', 100: 'system', 108: 'system', 109: 'system', 110: 'system', 111: 'system', 209: 'seat', 220: 'seat' };
    const d = new CccDataset({ seed: 7, sdkAppIds: [1400000001] });
    d.generateRange(1_700_000_000, 1_700_086_400, 3000);
    const checked = d.all().filter((r) => named[r.record['EndStatus'] as number] !== undefined);
    expect(checked.length).toBeGreaterThan(200);
    const contrary = checked.filter((r) => r.record['HungUpSide'] !== named[r.record['EndStatus'] as number]);
    expect(contrary.map((r) => `${String(r.record['EndStatus'])} ${String(r.record['HungUpSide'])}`)).toEqual([]);
  });

  it('gives a call that ended in the IVR no queued time, and every other inbound call IVRDuration = Queued − Start', () => {
    // CDR push doc: QueuedTimestamp is when the user entered the queue, IVRDuration = QueuedTimestamp − StartTimestamp.
    // Blacklisted (100), abandoned in the IVR (102), outside working hours (106) and ended in the IVR (107) never queued.
    const d = new CccDataset({ seed: 7, sdkAppIds: [1400000001] });
    d.generateRange(1_700_000_000, 1_700_086_400, 3000);
    const inbound = d.all().filter((r) => r.record['Direction'] === 0);
    const ivrOnly = inbound.filter((r) => [100, 102, 106, 107].includes(r.record['EndStatus'] as number));
    expect(ivrOnly.length).toBeGreaterThan(50);
    expect(ivrOnly.filter((r) => r.record['QueuedTimestamp'] !== 0 || r.record['IVRDuration'] !== 0).map((r) => r.record['EndStatus'])).toEqual([]);
    const queued = inbound.filter((r) => !ivrOnly.includes(r));
    const off = queued.filter((r) => r.record['IVRDuration'] !== (r.record['QueuedTimestamp'] as number) - r.startTimestamp || (r.record['IVRDuration'] as number) <= 0);
    expect(off.map((r) => r.sessionId)).toEqual([]);
    // The mapping reads such a record as never queued: no queue time, no queue wait.
    const cdr = mapTencentCcc(ivrOnly[0]!.record, cccRawEnvelope(ivrOnly[0]!.record as { SessionId: string }, '2023-11-15T00:00:00Z'), defaultNormalizeContext());
    if (!cdr.ok) throw new Error(cdr.error.message);
    expect([cdr.cdr.queued_at, cdr.cdr.queue_seconds]).toEqual([null, null]);
    expect(cdr.cdr.ivr_seconds).toBe(cdr.cdr.total_seconds);
  });

  it('names the same never-queued end codes as the mapping, which reads its IVRDuration 0 as the whole call', () => {
    expect([...NEVER_QUEUED].map(String).sort()).toEqual([...CCC_IVR_END_CODES].sort());
  });

  it('scopes end codes to one direction as the mapping infers a missing direction from them', () => {
    const only = { in: 'INBOUND', 'ai-in': 'INBOUND', voip: 'INBOUND', out: 'OUTBOUND' } as const;
    const scoped = END_STATUS.flatMap(([code, , scope]) => (scope in only ? [[String(code), only[scope as keyof typeof only]]] : []));
    expect(Object.fromEntries(scoped)).toEqual({ ...CCC_END_CODE_DIRECTION });
  });

  it('keeps every service leg inside its session and in order, each starting where the previous one ended', () => {
    // EndedTimestamp is the end of the whole session (vendors.md §1) and a leg is one agent's share of it: no leg ends
    // before it started or was answered, none outlasts the session, and each starts where the previous one ended.
    const d = new CccDataset({ seed: 7, sdkAppIds: [1400000001] });
    d.generateRange(1_700_000_000, 1_700_086_400, 3000);
    const transferred = d.all().filter((r) => (r.record['ServeParticipants'] as unknown[]).length > 1);
    expect(transferred.length).toBeGreaterThan(20);
    const impossible: string[] = [];
    for (const { sessionId, record } of d.all()) {
      const legs = record['ServeParticipants'] as Record<string, number>[];
      legs.forEach((leg, i) => {
        const accept = leg['AcceptTimestamp']!;
        const order = [leg['StartTimestamp']!, ...(accept === 0 ? [] : [accept]), leg['EndedTimestamp']!, record['EndedTimestamp'] as number];
        const previousEnd = i === 0 ? undefined : legs[i - 1]!['EndedTimestamp'];
        if (order.some((t, k) => k > 0 && t < order[k - 1]!) || (previousEnd !== undefined && leg['StartTimestamp'] !== previousEnd)) impossible.push(`${sessionId} leg ${i}`);
      });
    }
    expect(impossible).toEqual([]);
  });

  it('gives outbound calls a QueuedSkillGroupId: the agent’s only skill group, as the CDR push doc says it is chosen', () => {
    const d = new CccDataset({ seed: 7, sdkAppIds: [1400000001] });
    d.generateRange(1_700_000_000, 1_700_086_400, 1000);
    const outbound = d.all().filter((r) => r.record['Direction'] === 1);
    expect(outbound.length).toBeGreaterThan(100);
    for (const { record: r } of outbound) {
      expect(r['QueuedSkillGroupId']).not.toBe(0);
      expect([r['QueuedSkillGroupId'], r['QueuedSkillGroupName']]).toEqual([r['SkillGroupId'], r['SkillGroup']]);
      const groups = (r['SeatUser'] as { SkillGroupNameList?: string[] }).SkillGroupNameList;
      if (groups) expect(groups).toEqual([r['QueuedSkillGroupName']]);
    }
  });
});

describe('CCC simulator', () => {
  it('serves pages to a correctly signed SDK request', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [1400000001], lateFraction: 0 });
    const t = nowSec() - 7200;
    sim.dataset.generateRange(t, t + 3600, 250);
    const c = client(sim);
    const seen = new Set<string>();
    for (let page = 0; page < 3; page++) {
      const res = await c.describeProtectedTelCdr({ sdkAppId: 1400000001, startTimeStamp: t, endTimeStamp: t + 3600, pageSize: 100, pageNumber: page });
      expect(res.totalCount).toBe(250);
      expect(res.requestId).toBeTruthy();
      for (const r of res.records as { SessionId: string }[]) seen.add(r.SessionId);
    }
    expect(seen.size).toBe(250);
    expect(sim.stats.servedKeys.size).toBe(250);
  });

  it('rejects a wrong secret key with AuthFailure.SignatureFailure (auth: stop)', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [1400000001] });
    const err = await rejection(client(sim, 'wrong').describeProtectedTelCdr({ sdkAppId: 1400000001, startTimeStamp: nowSec() - 60, endTimeStamp: nowSec(), pageSize: 10, pageNumber: 0 }));
    expect(err.code).toBe('AuthFailure.SignatureFailure');
    expect(err.kind).toBe('auth');
  });

  it('serves a correctly signed GET (parameters in the query string) and refuses a wrongly signed one', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [1400000001], lateFraction: 0 });
    const t = nowSec() - 7200;
    sim.dataset.generateRange(t, t + 3600, 30);
    // Tencent's SDK signing a GET, as an independent reference for the simulator's verifier.
    const get = (secretKey: string, common: Record<string, string> = {}) =>
      new tencentcloud.CommonClient(sim!.connection.endpoint, '2020-02-10', {
        credential: { secretId: 'AKIDsim', secretKey },
        profile: {
          httpProfile: { endpoint: sim!.connection.endpoint, protocol: 'http://', reqMethod: 'GET', agent: new Agent({ lookup: pinnedLookup(sim!.connection.connectAddress) }) },
        },
      }).request('DescribeProtectedTelCdr', { ...common, StartTimeStamp: t, EndTimeStamp: t + 3600, SdkAppId: 1400000001, PageSize: 100, PageNumber: 0 });
    const res = (await get('sim-secret-key')) as { TotalCount: number; TelCdrList: { SessionId: string }[] };
    expect(res.TotalCount).toBe(30);
    expect(res.TelCdrList.map((r) => r.SessionId).sort()).toEqual(sim.dataset.all().map((r) => r.sessionId).sort());
    await expect(get('wrong')).rejects.toMatchObject({ code: 'AuthFailure.SignatureFailure' });
    // The API page's example query also names Action; it must agree with the signed X-TC-Action header.
    expect(((await get('sim-secret-key', { Action: 'DescribeProtectedTelCdr' })) as { TotalCount: number }).TotalCount).toBe(30);
    await expect(get('sim-secret-key', { Action: 'DescribeTelCdr' })).rejects.toMatchObject({ code: 'InvalidParameter' });
  });

  it('rejects a clock skew over 5 minutes with AuthFailure.SignatureExpire', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [1400000001], now: () => Date.now() + 301_000 });
    const err = await rejection(client(sim).describeProtectedTelCdr({ sdkAppId: 1400000001, startTimeStamp: nowSec() - 60, endTimeStamp: nowSec(), pageSize: 10, pageNumber: 0 }));
    expect(err.code).toBe('AuthFailure.SignatureExpire');
  });

  it('rejects PageSize over 100 and unknown tenants as config errors', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [1400000001] });
    const c = client(sim);
    const big = await rejection(c.describeProtectedTelCdr({ sdkAppId: 1400000001, startTimeStamp: nowSec() - 60, endTimeStamp: nowSec(), pageSize: 101, pageNumber: 0 }));
    expect(big.code).toBe('InvalidParameterValue');
    expect(big.kind).toBe('config');
    const unknown = await rejection(c.describeProtectedTelCdr({ sdkAppId: 1400009999, startTimeStamp: nowSec() - 60, endTimeStamp: nowSec(), pageSize: 10, pageNumber: 0 }));
    expect(unknown.code).toBe('InvalidParameterValue.InstanceNotExist');
  });

  it('answers an EndTimeStamp before StartTimeStamp with an empty page, as the API page’s example request sends one', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [1400000001], lateFraction: 0 });
    const t = nowSec() - 7200;
    sim.dataset.generateRange(t, t + 3600, 50);
    const res = await client(sim).describeProtectedTelCdr({ sdkAppId: 1400000001, startTimeStamp: t + 3600, endTimeStamp: t, pageSize: 100, pageNumber: 0 });
    expect([res.totalCount, res.records]).toEqual([0, []]);
  });

  it('answers RequestLimitExceeded above 20 requests/s', async () => {
    // A frozen simulator clock: all 30 requests fall in the same second whatever the machine's load, so the
    // limiter's verdict does not depend on how fast this process gets scheduled.
    const frozen = Date.now();
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [1400000001], now: () => frozen });
    const c = client(sim);
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () => c.describeProtectedTelCdr({ sdkAppId: 1400000001, startTimeStamp: nowSec() - 60, endTimeStamp: nowSec(), pageSize: 10, pageNumber: 0 })),
    );
    const limited = results.filter((r) => r.status === 'rejected' && (r.reason as CdrflowError).code === 'RequestLimitExceeded');
    expect(limited.length).toBe(10);
    expect((limited[0] as PromiseRejectedResult).reason.kind).toBe('rate_limited');
  });

  it('injects 5xx and vendor faults, and hides late records until they become visible', async () => {
    let clock = Date.now();
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [1400000001], lateFraction: 0, now: () => clock });
    const c = client(sim);
    const t = Math.floor(clock / 1000) - 3600;
    const req = { sdkAppId: 1400000001, startTimeStamp: t, endTimeStamp: t + 600, pageSize: 100, pageNumber: 0 };
    sim.faults.failNext(1, { type: 'http', status: 502 });
    sim.faults.failNext(1, { type: 'vendor-error', code: 'InternalError.DBError', message: 'db down' });
    const e1 = await rejection(c.describeProtectedTelCdr(req));
    expect([e1.code, e1.kind]).toEqual(['http-502', 'transient']);
    const e2 = await rejection(c.describeProtectedTelCdr(req));
    expect([e2.code, e2.kind]).toEqual(['InternalError.DBError', 'transient']);
    sim.dataset.addLate(1400000001, t + 10, Math.floor(clock / 1000) + 60);
    expect((await c.describeProtectedTelCdr(req)).totalCount).toBe(0);
    clock += 61_000;
    expect((await c.describeProtectedTelCdr(req)).totalCount).toBe(1);
  });

  it('demo mode: history at start, then new calls ending "now" at the configured rate', async () => {
    sim = await startCccSimulator({ credentials: CREDS, sdkAppIds: [1400000001, 1400000002], historyHours: 2, historyCallsPerHour: 100, liveCallsPerSecond: 50 });
    expect(sim.dataset.size).toBe(400);
    const deadline = Date.now() + 5000;
    while (sim.dataset.size < 410 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sim.dataset.size).toBeGreaterThanOrEqual(410);
    const newest = sim.dataset.all().reduce((a, b) => ((a.record['EndedTimestamp'] as number) > (b.record['EndedTimestamp'] as number) ? a : b));
    expect(Math.abs(nowSec() - (newest.record['EndedTimestamp'] as number))).toBeLessThanOrEqual(2);
    expect(newest.visibleAt).toBeGreaterThan(newest.record['EndedTimestamp'] as number);
  });
});
