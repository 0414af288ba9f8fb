// The LVMS route's replay guard, driven directly (no HTTP): TOP has no nonce, so the sign stands in for one.
import { describe, expect, it, vi } from 'vitest';
import { createLvmsRoute } from './receiver-route.ts';
import { LvmsReceiverConfigSchema } from './config.ts';
import { readTopAnswer, signedParams } from '../../simulators/alibaba-lvms/submitter.ts';

const LVMS = { appKey: '34567890', appSecret: 'lvmsSecret' };
const NOW = Date.parse('2026-03-01T00:00:00Z');

describe('LVMS sign cache', () => {
  const route = () => createLvmsRoute(LvmsReceiverConfigSchema.parse({ apps: [LVMS], signCacheMaxEntries: 1000 }), { now: () => NOW });
  const call = (id: number, nowMs = NOW) => signedParams({ ...LVMS, dto: `{"call_record_id":${id}}`, format: 'json', nowMs });
  const submit = async (r: ReturnType<typeof route>, params: URLSearchParams, publish: () => Promise<void> = async () => {}) => {
    const push = {
      method: 'POST', path: '/router/rest', query: new URLSearchParams(), rawQuery: '', body: Buffer.from(params.toString()),
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, requestId: 'r', receivedAt: new Date(NOW),
    };
    const reply = await r.handle(push, { now: () => NOW, publish });
    return { status: reply.status, ...readTopAnswer(reply.body) };
  };

  it('gives a sign back when its call was not stored, so the same call sent again gets in', async () => {
    const r = route();
    const params = call(1);
    let stored = 0;
    const publish = async () => void stored++;
    expect(await submit(r, params, () => Promise.reject(new Error('kafka down')))).toMatchObject({ status: 503, code: '10' });
    expect(await submit(r, params, publish)).toMatchObject({ status: 200, success: true });
    expect(stored).toBe(1);
    // Sent again once stored (a client whose answer was lost): answered as the first copy was, and not stored again.
    expect(await submit(r, params, publish)).toMatchObject({ status: 200, success: true, message: expect.stringContaining('already stored') });
    expect(stored).toBe(1);
  });

  it('answers its 503s in the format the form body asks for, as every other answer after the body is read', async () => {
    const r = route();
    const params = call(3);
    const push = {
      method: 'POST', path: '/router/rest', query: new URLSearchParams(), rawQuery: '', body: Buffer.from(params.toString()),
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, requestId: 'r', receivedAt: new Date(NOW),
    };
    // Kafka down: the call is not stored (its sign given back) and the answer says retry later, in JSON (it was XML).
    const reply = await r.handle(push, { now: () => NOW, publish: () => Promise.reject(new Error('kafka down')) });
    expect(reply.status).toBe(503);
    expect(JSON.parse(reply.body.toString())).toMatchObject({ error_response: { code: 10, sub_code: 'isp.service-unavailable' } });
  });

  it('answers a copy of a call still being stored "retry later": the first copy may yet fail', async () => {
    const r = route();
    const params = call(2);
    let fail!: (err: Error) => void;
    const first = submit(r, params, () => new Promise<void>((_, reject) => (fail = reject)));
    await vi.waitFor(() => expect(fail).toBeTypeOf('function'));
    let stored = 0;
    expect(await submit(r, params, async () => void stored++)).toMatchObject({ status: 503, code: '10', subCode: 'isp.service-unavailable' });
    fail(new Error('kafka down'));
    expect(await first).toMatchObject({ status: 503, code: '10' });
    // The first copy failed: the call sent again is stored now.
    expect(await submit(r, params, async () => void stored++)).toMatchObject({ status: 200, success: true, message: 'accepted' });
    expect(stored).toBe(1);
  });

  it('at its cap answers a new call 503 (retry later) and still knows every sign it holds', async () => {
    const r = route();
    const first = call(0);
    expect(await submit(r, first)).toMatchObject({ success: true });
    for (let i = 1; i < 1000; i++) expect(await submit(r, call(i))).toMatchObject({ success: true });
    expect(await submit(r, call(1000))).toMatchObject({ status: 503, code: '10', subCode: 'isp.service-unavailable' });
    let stored = 0;
    expect(await submit(r, first, async () => void stored++)).toMatchObject({ success: true, message: expect.stringContaining('already stored') });
    expect(stored).toBe(0);
  });
});

describe('LVMS sign lifetime', () => {
  // A sign is remembered until its own timestamp goes stale (timestamp + skew), not for a fixed span from its call.
  const SKEW_MS = 600_000;
  const setup = () => {
    const clock = { now: NOW };
    const r = createLvmsRoute(LvmsReceiverConfigSchema.parse({ apps: [LVMS], signCacheMaxEntries: 1000 }), { now: () => clock.now });
    const submit = async (id: number, timestampMs: number) => {
      const params = signedParams({ ...LVMS, dto: `{"call_record_id":${id}}`, format: 'json', nowMs: timestampMs });
      const push = {
        method: 'POST', path: '/router/rest', query: new URLSearchParams(), rawQuery: '', body: Buffer.from(params.toString()),
        headers: { 'content-type': 'application/x-www-form-urlencoded' }, requestId: 'r', receivedAt: new Date(clock.now),
      };
      const reply = await r.handle(push, { now: () => clock.now, publish: async () => {} });
      return reply.code;
    };
    return { clock, submit };
  };

  it('answers a copy as already stored for as long as its timestamp passes, in the past or the future, and no longer', async () => {
    for (const timestamp of [NOW - SKEW_MS + 10_000, NOW, NOW + SKEW_MS]) {
      const { clock, submit } = setup();
      expect(await submit(1, timestamp)).toBe('SUCCESS');
      clock.now = timestamp + SKEW_MS;
      expect(await submit(1, timestamp)).toBe('SUCCESS/already-stored');
      clock.now = timestamp + SKEW_MS + 1;
      expect(await submit(1, timestamp)).toBe('31/isv.invalid-parameter:timestamp');
    }
  });

  it('frees a sign\'s place at the cap once its timestamp is stale, so the cap holds cap / skew calls a second', async () => {
    const { clock, submit } = setup();
    // Calls sent 10 s before their timestamp goes stale fill the cache; one more is answered 503.
    for (let i = 0; i < 1000; i++) expect(await submit(i, NOW - SKEW_MS + 10_000)).toBe('SUCCESS');
    expect(await submit(1000, NOW)).toBe('10/isp.service-unavailable');
    // 10 s on they can no longer pass, so they are no longer remembered: a new call gets in.
    clock.now = NOW + 10_001;
    expect(await submit(2000, clock.now)).toBe('SUCCESS');
    // Sent on time, one call every skew / cap (less a margin for the timestamp's whole seconds), for two skews: none is
    // refused, as each is remembered for one skew.
    for (let i = 1; i < 2000; i++) {
      clock.now += 601;
      expect(await submit(2000 + i, clock.now)).toBe('SUCCESS');
    }
  });
});
