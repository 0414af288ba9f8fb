// The LVMS route's replay guard, driven directly (no HTTP): TOP has no nonce, so the sign stands in for one.
import { describe, expect, it } from 'vitest';
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
    expect(await submit(r, params, () => Promise.reject(new Error('kafka down')))).toMatchObject({ status: 503, code: '10' });
    expect(await submit(r, params)).toMatchObject({ status: 200, success: true });
    expect(await submit(r, params)).toMatchObject({ status: 200, success: false, subCode: 'isv.invalid-signature:already-used' });
  });

  it('at its cap answers a new call 503 (retry later) and still refuses every sign it holds', async () => {
    const r = route();
    const first = call(0);
    expect(await submit(r, first)).toMatchObject({ success: true });
    for (let i = 1; i < 1000; i++) expect(await submit(r, call(i))).toMatchObject({ success: true });
    expect(await submit(r, call(1000))).toMatchObject({ status: 503, code: '10', subCode: 'isp.service-unavailable' });
    expect(await submit(r, first)).toMatchObject({ success: false, subCode: 'isv.invalid-signature:already-used' });
  });
});
