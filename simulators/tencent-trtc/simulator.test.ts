// Contract tests of the TRTC simulator through the connector's client (loopback only).
import { afterEach, describe, expect, it } from 'vitest';
import tlsSig from 'tls-sig-api-v2';
import { startTrtcSimulator, type TrtcSimulator, verifyUserSig, TrtcDataset, CALL_RESULTS } from './index.ts';
import { TrtcApiClient, UserSigCache } from '../../connectors/tencent-trtc/client.ts';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rejection, waitFor } from '../../test/helpers.ts';

const APP = 1600000001;
const KEY = 'trtc-secret-key';
let sim: TrtcSimulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

function client(s: TrtcSimulator, overrides: Partial<{ secretKey: string; identifier: string; sdkAppId: number; userSigValiditySec: number }> = {}) {
  return new TrtcApiClient({ baseUrl: s.url, sdkAppId: APP, secretKey: KEY, identifier: 'administrator', timeoutMs: 5000, userSigValiditySec: 86400, userSigRenewBeforeSec: 3600, ...overrides });
}

const nowSec = () => Math.floor(Date.now() / 1000);

describe('UserSig', () => {
  it('verifies a sig from the official library and rejects a wrong key and expiry', () => {
    const sig = new tlsSig.Api(APP, KEY).genUserSig('administrator', 100);
    const t = nowSec();
    expect(verifyUserSig(sig, { sdkAppId: APP, identifier: 'administrator', key: KEY, nowSec: t }).ok).toBe(true);
    expect(verifyUserSig(sig, { sdkAppId: APP, identifier: 'administrator', key: 'other', nowSec: t })).toMatchObject({ ok: false, code: 70009 });
    expect(verifyUserSig(sig, { sdkAppId: APP, identifier: 'administrator', key: KEY, nowSec: t + 200 })).toMatchObject({ ok: false, code: 70001 });
    expect(verifyUserSig(sig, { sdkAppId: APP, identifier: 'admin', key: KEY, nowSec: t })).toMatchObject({ ok: false, code: 70013 });
  });

  it('caches the sig and renews it before expiry', () => {
    let clock = 1_700_000_000_000;
    const cache = new UserSigCache(APP, KEY, 'administrator', 3600, 600, () => clock);
    const first = cache.get();
    clock += 2000 * 1000;
    expect(cache.get()).toBe(first);
    expect(cache.generated).toBe(1);
    clock += 1100 * 1000; // inside the renew margin
    cache.get();
    expect(cache.generated).toBe(2);
    cache.invalidate();
    cache.get();
    expect(cache.generated).toBe(3);
  });
});

describe('TRTC dataset', () => {
  it('is reproducible from a seed and uses every call result', () => {
    const a = new TrtcDataset({ seed: 7, sdkAppIds: [APP] });
    const b = new TrtcDataset({ seed: 7, sdkAppIds: [APP] });
    a.generateRange(1_700_000_000, 1_700_086_400, 1000);
    b.generateRange(1_700_000_000, 1_700_086_400, 1000);
    expect(JSON.stringify(a.all())).toBe(JSON.stringify(b.all()));
    const results = new Set(a.all().map((c) => c.record['callResult']));
    for (const r of CALL_RESULTS) expect(results.has(r)).toBe(true);
  });

  it('invites each callee of a call once (the caller may be among them, as in the vendor sample), totalUserNumber counting callees and caller', () => {
    const d = new TrtcDataset({ seed: 1, sdkAppIds: [APP] });
    d.generateRange(1_700_000_000, 1_700_000_000 + 6 * 86400, 20_000);
    const wrong = d.all().filter((c) => {
      const callees = c.record['callees'] as string[];
      return new Set(callees).size !== callees.length || c.record['totalUserNumber'] !== callees.length + 1;
    });
    expect(wrong.map((c) => [c.record['caller'], c.record['callees']])).toEqual([]);
    // The vendor's own sample has the caller among the callees: so may a simulated call.
    expect(d.all().some((c) => (c.record['callees'] as string[]).includes(c.record['caller'] as string))).toBe(true);
  });
});

describe('TRTC simulator', () => {
  it('pages through all records with a valid UserSig', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY }, lateFraction: 0 });
    const t = nowSec() - 86400;
    sim.dataset.generateRange(t, t + 3600, 230);
    const c = client(sim);
    const keys = new Set<string>();
    for (let page = 1; page <= 3; page++) {
      const res = await c.getRecordsByFilter({ startTimestamp: t, endTimestamp: t + 3600, page, numberPerPage: 100 });
      expect(res.totalNum).toBe(230);
      for (const r of res.records as { callId: string }[]) keys.add(r.callId);
    }
    expect(keys.size).toBe(230);
    // past the last page: 70011 reads as an empty page
    expect((await c.getRecordsByFilter({ startTimestamp: t, endTimestamp: t + 3600, page: 4, numberPerPage: 100 })).records).toEqual([]);
  });

  it('answers data.page > 0 while more data follows and 0 on the last page (the API page: "page > 0 indicates that there is more data")', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY }, lateFraction: 0 });
    const t = nowSec() - 86400;
    sim.dataset.generateRange(t, t + 3600, 25);
    const usersig = new tlsSig.Api(APP, KEY).genUserSig('administrator', 3600);
    const q = new URLSearchParams({ sdkappid: String(APP), identifier: 'administrator', usersig, random: '1', contenttype: 'json' });
    const ask = async (body: Record<string, number>) => {
      const res = await fetch(`${sim!.url}/v1/records/get_records_by_filter?${q}`, { method: 'POST', body: JSON.stringify({ startTimestamp: t, endTimestamp: t + 3600, ...body }) });
      const data = ((await res.json()) as { data: { totalNum: number; page: number; callRecordList: unknown[] } }).data;
      return [data.totalNum, data.page, data.callRecordList.length];
    };
    expect(await ask({ numberPerPage: 10, page: 1 })).toEqual([25, 1, 10]);
    expect(await ask({ numberPerPage: 10, page: 2 })).toEqual([25, 2, 10]);
    expect(await ask({ numberPerPage: 10, page: 3 })).toEqual([25, 0, 5]);
    // One page holds everything (the default 100 a page, the first page): nothing more follows it.
    expect(await ask({})).toEqual([25, 0, 25]);
  });

  it('refuses a request whose random query parameter is missing, empty or not a 32-bit unsigned integer', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY } });
    const usersig = new tlsSig.Api(APP, KEY).genUserSig('administrator', 3600);
    const ask = async (random: string | undefined) => {
      const q = new URLSearchParams({ sdkappid: String(APP), identifier: 'administrator', usersig, contenttype: 'json', ...(random === undefined ? {} : { random }) });
      const res = await fetch(`${sim!.url}/v1/records/get_records_by_filter?${q}`, { method: 'POST', body: JSON.stringify({ startTimestamp: nowSec() - 3600 }) });
      return ((await res.json()) as { errorCode: number }).errorCode;
    };
    expect(await ask('4294967295')).toBe(70011);
    for (const random of [undefined, '', '4294967296', '-1', '1.5']) expect(await ask(random)).toBe(70402);
  });

  it('answers a wrong key with an auth error and 50001 with a config error', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY, 1600000002: 'k2' }, unlicensedSdkAppIds: [1600000002] });
    const req = { startTimestamp: nowSec() - 60, endTimestamp: nowSec(), page: 1, numberPerPage: 100 };
    const bad = await rejection(client(sim, { secretKey: 'nope' }).getRecordsByFilter(req));
    expect([bad.code, bad.kind]).toEqual(['70009', 'auth']);
    const unlicensed = await rejection(client(sim, { sdkAppId: 1600000002, secretKey: 'k2' }).getRecordsByFilter(req));
    expect([unlicensed.code, unlicensed.kind]).toEqual(['50001', 'config']);
  });

  it('serves only the last 7 days, without refusing an older start (the API page documents no error for one), and retries other codes', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY }, lateFraction: 0 });
    const c = client(sim);
    sim.dataset.generateRange(nowSec() - 9 * 86400, nowSec() - 8 * 86400, 10);
    const recent = sim.dataset.generateRange(nowSec() - 6 * 86400, nowSec() - 6 * 86400 + 600, 20);
    const spanning = await c.getRecordsByFilter({ startTimestamp: nowSec() - 9 * 86400, endTimestamp: nowSec(), page: 1, numberPerPage: 100 });
    expect(spanning.totalNum).toBe(recent.length);
    // Nothing left within 7 days: the documented "no records" code, which the client reads as an empty page.
    const gone = await c.getRecordsByFilter({ startTimestamp: nowSec() - 9 * 86400, endTimestamp: nowSec() - 8 * 86400, page: 1, numberPerPage: 100 });
    expect(gone).toMatchObject({ totalNum: 0, records: [] });
    sim.faults.failNext(1, { type: 'vendor-error', code: 70500, message: 'internal error' });
    const internal = await rejection(c.getRecordsByFilter({ startTimestamp: nowSec() - 60, endTimestamp: nowSec(), page: 1, numberPerPage: 100 }));
    expect([internal.code, internal.kind]).toEqual(['70500', 'transient']);
  });

  it('a freshly made UserSig refused as expired is a clock problem (auth, with a hint), not a retry loop', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY }, now: () => Date.now() + 2 * 86400 * 1000 });
    const err = await rejection(client(sim).getRecordsByFilter({ startTimestamp: nowSec() - 60, endTimestamp: nowSec(), page: 1, numberPerPage: 100 }));
    expect([err.code, err.kind]).toEqual(['70001', 'auth']);
    expect(err.message).toMatch(/clock/);
  });
});

describe('UserSig renewal with requests in flight', () => {
  it('a request sent with the old sig and answered "expired" after a new sig was made is retried, not taken for a clock problem', async () => {
    // The vendor's clock runs a little ahead: it refuses the old sig as expired while this machine still uses it.
    // Requests run concurrently (the poller prefetches pages), so an "expired" answer to a request sent with the old
    // sig can arrive after another request already made the new one.
    // Requests 2 and 3 are the two sent with the old sig: held, then answered "expired" one by one.
    let requests = 0;
    const held: ServerResponse[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        if (requests === 2 || requests === 3) return void held.push(res);
        res.end(JSON.stringify({ errorCode: 0, errorMessage: '', requestId: 'r', data: { totalNum: 0, page: 1, callRecordList: [] } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const expired = (res: ServerResponse) => res.end(JSON.stringify({ errorCode: 70001, errorMessage: 'UserSig expired', requestId: 'r' }));
    try {
      let clock = Date.now();
      const c = new TrtcApiClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sdkAppId: APP, secretKey: KEY, identifier: 'administrator', timeoutMs: 5000, userSigValiditySec: 100, userSigRenewBeforeSec: 0, now: () => clock });
      const req = { startTimestamp: nowSec() - 60, endTimestamp: nowSec(), page: 1, numberPerPage: 100 };
      await c.getRecordsByFilter(req); // makes the first sig
      clock += 99_000; // still valid by this machine's clock
      const a = rejection(c.getRecordsByFilter(req));
      const b = rejection(c.getRecordsByFilter(req));
      await waitFor(() => held.length === 2, { message: 'both requests with the old sig at the server' });
      expired(held.shift()!);
      expect(await a).toMatchObject({ code: '70001', kind: 'transient' });
      await c.getRecordsByFilter(req); // a retry: a new sig, accepted
      expired(held.shift()!);
      const late = await b;
      expect([late.code, late.kind]).toEqual(['70001', 'transient']);
      expect(late.message).not.toMatch(/clock/);
    } finally {
      for (const res of held) res.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('TRTC simulator, v4 API', () => {
  const v4client = (s: TrtcSimulator, overrides: Partial<{ secretKey: string; sdkAppId: number }> = {}) =>
    new TrtcApiClient({ baseUrl: s.url, api: 'v4', sdkAppId: APP, secretKey: KEY, identifier: 'administrator', timeoutMs: 5000, userSigValiditySec: 86400, userSigRenewBeforeSec: 3600, ...overrides });

  it('pages from 1 with TotalNum over the same dataset as v1, in v4 field names', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY }, lateFraction: 0 });
    const t = nowSec() - 86400;
    sim.dataset.generateRange(t, t + 3600, 230);
    const c = v4client(sim);
    const ids = new Set<string>();
    for (let page = 1; page <= 3; page++) {
      const res = await c.getRecordsByFilter({ startTimestamp: t, endTimestamp: t + 3600, page, numberPerPage: 100 });
      expect(res.totalNum).toBe(230);
      expect(res.requestId).toMatch(/^Id-/);
      for (const r of res.records as Record<string, unknown>[]) {
        expect(Object.keys(r).sort()).toEqual(['AcceptTime', 'CallId', 'CallResult', 'CallType', 'CalleeList_Account', 'Caller_Account', 'EndTime', 'MediaType', 'RoomId', 'RoomIdType', 'StartTime']);
        ids.add(r['CallId'] as string);
      }
    }
    expect(ids).toEqual(new Set(sim.dataset.all().map((x) => x.callId)));
    // Past the last page: a success with an empty list (v4 has no "no records" code).
    expect(await c.getRecordsByFilter({ startTimestamp: t, endTimestamp: t + 3600, page: 4, numberPerPage: 100 })).toMatchObject({ totalNum: 230, records: [] });
  });

  it('get_record_by_callid answers one call, and null for an unknown one', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY }, lateFraction: 0 });
    const t = nowSec() - 7200;
    const [call] = sim.dataset.generateRange(t, t + 60, 1);
    const c = v4client(sim);
    const found = await c.getRecordByCallId(call!.callId);
    expect(found.record).toMatchObject({ CallId: call!.callId, StartTime: call!.startCallTs, Caller_Account: call!.record['caller'] });
    expect((await c.getRecordByCallId('no-such-call')).record).toBeNull();
    // v1 apps have no such call (its v1 counterpart is not implemented): a clear configuration error.
    const v1 = await rejection(client(sim).getRecordByCallId(call!.callId));
    expect(v1.kind).toBe('config');
  });

  it('ErrorCode / ActionStatus FAIL: a wrong key is auth, 50001 config, other codes retried', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY, 1600000002: 'k2' }, unlicensedSdkAppIds: [1600000002] });
    const req = { startTimestamp: nowSec() - 60, endTimestamp: nowSec(), page: 1, numberPerPage: 100 };
    const bad = await rejection(v4client(sim, { secretKey: 'nope' }).getRecordsByFilter(req));
    expect([bad.code, bad.kind]).toEqual(['70009', 'auth']);
    expect(bad.message).toMatch(/ErrorCode 70009 ActionStatus "FAIL"/);
    const unlicensed = await rejection(v4client(sim, { sdkAppId: 1600000002, secretKey: 'k2' }).getRecordsByFilter(req));
    expect([unlicensed.code, unlicensed.kind]).toEqual(['50001', 'config']);
    sim.faults.failNext(1, { type: 'vendor-error', code: 70500, message: 'internal error' });
    const internal = await rejection(v4client(sim).getRecordsByFilter(req));
    expect([internal.code, internal.kind]).toEqual(['70500', 'transient']);
  });

  it('maxServedPageSize: serves fewer records a page than asked, paging in steps of what it serves (both APIs)', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY }, lateFraction: 0, maxServedPageSize: 50 });
    const t = nowSec() - 86400;
    const calls = sim.dataset.generateRange(t, t + 3600, 120);
    for (const c of [v4client(sim), client(sim)]) {
      const pages = [];
      for (let page = 1; page <= 3; page++) pages.push(await c.getRecordsByFilter({ startTimestamp: t, endTimestamp: t + 3600, page, numberPerPage: 100 }));
      expect(pages.map((p) => [p.totalNum, p.records.length])).toEqual([[120, 50], [120, 50], [120, 20]]);
      const ids = pages.flatMap((p) => (p.records as Record<string, unknown>[]).map((r) => r['CallId'] ?? r['callId']));
      expect(new Set(ids)).toEqual(new Set(calls.map((x) => x.callId)));
    }
  });

  it('moves a StartTime older than 7 days up to the horizon instead of refusing it (as v1)', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY }, lateFraction: 0 });
    const recent = sim.dataset.generateRange(nowSec() - 6 * 86400, nowSec() - 6 * 86400 + 600, 20);
    const res = await v4client(sim).getRecordsByFilter({ startTimestamp: nowSec() - 9 * 86400, endTimestamp: nowSec(), page: 1, numberPerPage: 100 });
    expect(res.totalNum).toBe(recent.length);
  });
});

describe('the documented contract where the simulator could be stricter', () => {
  it('answers a request over 200 queries/s with HTTP 200 and an error code (every error but a network one, per the API page), which the client retries', async () => {
    const at = Date.parse('2026-06-01T00:00:00Z');
    sim = await startTrtcSimulator({ apps: { [APP]: KEY }, rateLimitPerSecond: 1, now: () => at });
    const req = { startTimestamp: Math.floor(at / 1000) - 60, endTimestamp: Math.floor(at / 1000), page: 1, numberPerPage: 100 };
    const raw = async (path: string) => {
      const url = new URL(path, sim!.url);
      for (const [k, v] of Object.entries({ sdkappid: APP, identifier: 'administrator', usersig: new tlsSig.Api(APP, KEY).genUserSig('administrator', 86400), random: 1, contenttype: 'json' })) url.searchParams.set(k, String(v));
      const res = await fetch(url, { method: 'POST', body: JSON.stringify(req) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const c = new TrtcApiClient({ baseUrl: sim.url, sdkAppId: APP, secretKey: KEY, identifier: 'administrator', timeoutMs: 5000, userSigValiditySec: 86400, userSigRenewBeforeSec: 3600, now: () => at });
    await c.getRecordsByFilter(req);
    const limited = await rejection(c.getRecordsByFilter(req));
    expect([limited.code, limited.kind]).toEqual(['60007', 'transient']);
    expect(await raw('/v1/records/get_records_by_filter')).toMatchObject({ status: 200, body: { errorCode: 60007, errorMessage: expect.stringContaining('frequency'), requestId: expect.any(String) } });
    expect(await raw('/v4/call_record_http_srv/get_record_by_filter')).toMatchObject({ status: 200, body: { ErrorCode: 60007, ActionStatus: 'FAIL', ErrorInfo: expect.stringContaining('frequency') } });
  });

  it('refuses a page size over 100 (the pages give no maximum: the simulator\'s choice, written down in server.ts)', async () => {
    sim = await startTrtcSimulator({ apps: { [APP]: KEY } });
    const err = await rejection(client(sim).getRecordsByFilter({ startTimestamp: nowSec() - 60, endTimestamp: nowSec(), page: 1, numberPerPage: 101 }));
    expect([err.code, err.kind]).toEqual(['70402', 'config']);
  });
});
