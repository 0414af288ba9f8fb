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
