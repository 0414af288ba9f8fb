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
