// A Huawei push's signature is computed once: by the route's `authorize`, before the body is read, whose result
// `handle` takes over. The HMACs keyed with the app secret are counted where they are made (node:crypto's createHmac,
// wrapped here), so the production code carries no hook for the count.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as crypto from 'node:crypto';
import { startReceiver } from '../push-vendors.ts';
import { type RunningReceiver } from '../receiver/receiver.ts';
import { MemorySink } from '../receiver/fixtures/memory-sink.ts';
import { silentLog } from '../../core/log.ts';
import { buildAuthHeaders } from './aksk.ts';
import { HuaweiFeeGenerator } from '../../simulators/huawei-privatenumber/generator.ts';
import { createHuaweiRoute } from './receiver-route.ts';
import { HuaweiReceiverConfigSchema } from './config.ts';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, createHmac: vi.fn(actual.createHmac) };
});

const APP = { appKey: 'hwAppKey01', appSecret: 'hwSecret01' };
const running: RunningReceiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

/** The HMACs computed with the app secret as key since `mockClear`. */
const secretHmacs = () => vi.mocked(crypto.createHmac).mock.calls.filter(([, key]) => key === APP.appSecret).length;

describe('Huawei push signature', () => {
  it('is computed once per push, whether the push is stored, refused on its body or a replayed nonce', async () => {
    const sink = new MemorySink();
    const r = await startReceiver({ port: 0, huawei: { apps: [APP], topics: { fee: 't.fee', events: 't.events' } } }, { sink, log: silentLog });
    running.push(r);
    const body = JSON.stringify({ eventType: 'fee', feeLst: new HuaweiFeeGenerator({ seed: 1, appKey: APP.appKey }).batch(2) });
    const push = async (headers: Record<string, string>, text: string) => {
      vi.mocked(crypto.createHmac).mockClear();
      const res = await fetch(`${r.url}/huawei/privatenumber/fee`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text });
      return { status: res.status, hmacs: secretHmacs() };
    };

    const headers = { ...buildAuthHeaders(APP.appKey, APP.appSecret) };
    expect(await push(headers, '{"eventType":"fee"')).toEqual({ status: 400, hmacs: 1 });
    expect(await push(headers, body)).toEqual({ status: 200, hmacs: 1 });
    expect(await push(headers, body)).toEqual({ status: 403, hmacs: 1 });
    expect(sink.envelopes()).toHaveLength(2);
  });
});

describe('Huawei nonce cache at its cap', () => {
  it('answers a new push 503 and keeps every spent nonce refused, rather than forgetting one', async () => {
    const now = Date.parse('2026-03-01T00:00:00Z');
    const OTHER = { appKey: 'hwAppKey02', appSecret: 'hwSecret02' };
    const route = createHuaweiRoute(HuaweiReceiverConfigSchema.parse({ apps: [APP, OTHER], nonceCacheMaxEntries: 1000 }), { now: () => now });
    const ctx = { now: () => now, publish: async () => {} };
    const body = Buffer.from(JSON.stringify({ eventType: 'fee', feeLst: new HuaweiFeeGenerator({ seed: 1, appKey: APP.appKey }).batch(1) }));
    const push = async (app: typeof APP, nonce: string) => {
      const incoming = {
        method: 'POST', path: '/huawei/privatenumber/fee', query: new URLSearchParams(), rawQuery: '', body,
        headers: { ...buildAuthHeaders(app.appKey, app.appSecret, { nowMs: now, nonce }) }, requestId: nonce, receivedAt: new Date(now),
      };
      const auth = route.authorize!(incoming);
      return 'refusal' in auth ? auth.refusal.status : (await route.handle(incoming, ctx, auth.grant)).status;
    };

    expect(await push(APP, 'victim')).toBe(200);
    // Another app, with its own secret, fills the cache.
    for (let i = 0; i < 999; i++) expect(await push(OTHER, `flood${i}`)).toBe(200);
    expect(await push(OTHER, 'flood999')).toBe(503);
    // The victim's captured headers, replayed inside the window, are still refused.
    expect(await push(APP, 'victim')).toBe(403);
  });
});

describe('Huawei push tenant', () => {
  it('is the app whose secret signed the headers, whatever appKey the records name', async () => {
    const now = Date.parse('2026-03-01T00:00:00Z');
    const OTHER = { appKey: 'hwAppKey02', appSecret: 'hwSecret02' };
    const route = createHuaweiRoute(HuaweiReceiverConfigSchema.parse({ apps: [APP, OTHER] }), { now: () => now });
    const stored: string[] = [];
    const ctx = { now: () => now, publish: async (envelopes: { tenant_id: string }[]) => void stored.push(...envelopes.map((e) => e.tenant_id)) };
    // Signed by OTHER, the records claiming APP: stored under OTHER, never under the app they name.
    const body = Buffer.from(JSON.stringify({ eventType: 'fee', feeLst: new HuaweiFeeGenerator({ seed: 1, appKey: APP.appKey }).batch(2) }));
    const incoming = {
      method: 'POST', path: '/huawei/privatenumber/fee', query: new URLSearchParams(), rawQuery: '', body,
      headers: { ...buildAuthHeaders(OTHER.appKey, OTHER.appSecret, { nowMs: now }) }, requestId: 'r', receivedAt: new Date(now),
    };
    const auth = route.authorize!(incoming);
    expect('grant' in auth && (await route.handle(incoming, ctx, auth.grant)).status).toBe(200);
    expect(stored).toEqual([OTHER.appKey, OTHER.appKey]);
    // Username names APP, the digest is OTHER's: refused.
    const forged = buildAuthHeaders(OTHER.appKey, OTHER.appSecret, { nowMs: now });
    const refusal = route.authorize!({ ...incoming, headers: { ...forged, 'x-aksk': forged['x-aksk']!.replace(OTHER.appKey, APP.appKey) } });
    expect('refusal' in refusal && refusal.refusal.status).toBe(401);
  });
});

describe('Huawei nonce lifetime', () => {
  // A nonce is remembered until its own Created goes stale (Created + skew), not for a fixed span from its push.
  const T0 = Date.parse('2026-03-01T00:00:00Z');
  const SKEW_MS = 300_000;
  const setup = () => {
    const clock = { now: T0 };
    const route = createHuaweiRoute(HuaweiReceiverConfigSchema.parse({ apps: [APP], maxClockSkewSeconds: SKEW_MS / 1000, nonceCacheMaxEntries: 1000 }), { now: () => clock.now });
    const ctx = { now: () => clock.now, publish: async () => {} };
    const body = Buffer.from(JSON.stringify({ eventType: 'fee', feeLst: new HuaweiFeeGenerator({ seed: 1, appKey: APP.appKey }).batch(1) }));
    /** The reply's status and resultcode: 1010002 a nonce used, 1010013 a stale Created. */
    const push = async (nonce: string, createdMs: number) => {
      const incoming = {
        method: 'POST', path: '/huawei/privatenumber/fee', query: new URLSearchParams(), rawQuery: '', body,
        headers: { ...buildAuthHeaders(APP.appKey, APP.appSecret, { nowMs: createdMs, nonce }) }, requestId: nonce, receivedAt: new Date(clock.now),
      };
      const auth = route.authorize!(incoming);
      const reply = 'refusal' in auth ? auth.refusal : await route.handle(incoming, ctx, auth.grant);
      return `${reply.status} ${reply.code}`;
    };
    return { clock, push };
  };

  it('refuses a replay for as long as its Created passes, in the past or the future, and no longer', async () => {
    for (const created of [T0 - SKEW_MS + 10_000, T0, T0 + SKEW_MS]) {
      const { clock, push } = setup();
      expect(await push('n1', created)).toBe('200 0');
      clock.now = created + SKEW_MS;
      expect(await push('n1', created)).toBe('403 1010002');
      clock.now = created + SKEW_MS + 1;
      expect(await push('n1', created)).toBe('403 1010013');
    }
  });

  it('frees a nonce\'s place at the cap once its Created is stale, so the cap holds cap / skew pushes a second', async () => {
    const { clock, push } = setup();
    // Pushes sent 10 s before their Created goes stale fill the cache; one more is answered 503.
    for (let i = 0; i < 1000; i++) expect(await push(`old${i}`, T0 - SKEW_MS + 10_000)).toBe('200 0');
    expect(await push('late', T0)).toBe('503 1010001');
    // 10 s on they can no longer pass, so they are no longer remembered: a new push gets in.
    clock.now = T0 + 10_001;
    expect(await push('new0', clock.now)).toBe('200 0');
    // Sent on time, one push every skew / cap (less a margin for Created's whole seconds), for two skews: none is
    // refused, as each is remembered for one skew.
    for (let i = 1; i < 2000; i++) {
      clock.now += 301;
      expect(await push(`new${i}`, clock.now)).toBe('200 0');
    }
  });
});
