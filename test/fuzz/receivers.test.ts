// Fuzz (c): the push receivers over loopback HTTP with an in-memory sink. Every mutated push gets one of the vendor's
// documented answers; success is answered only when every record of the push was stored, and what was stored obeys
// the door's limits (a key of at most 256 bytes, a record of at most 64 KiB, strict JSON), so nothing a hostile
// vendor sends can reach Kafka's partitioner or normalize in a shape that stops them.
// Seeds (test/fuzz/seeds.ts): CDRFLOW_FUZZ_PUSH_SEED (151), CDRFLOW_FUZZ_PUSH_COUNT (1), CDRFLOW_FUZZ_PUSH_ONLY; a seed
// draws the Huawei pushes, the seed after it the LVMS ones. CDRFLOW_FUZZ_PUSHES pushes per seed and vendor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_NATURAL_KEY_BYTES, MAX_RECORD_BYTES, parseJsonStrict } from '../../core/input-limits.ts';
import { huaweiAuthHeaders } from '../../simulators/huawei-privatenumber/sign.ts';
import { signedParams } from '../../simulators/alibaba-lvms/submitter.ts';
import { startReceiver } from '../../connectors/push-vendors.ts';
import { type RunningReceiver } from '../../connectors/receiver/receiver.ts';
import { MemorySink } from '../../connectors/receiver/fixtures/memory-sink.ts';
import { silentLog } from '../../core/log.ts';
import { fuzzLines } from './generator.ts';
import { seededRandom } from '../../simulators/kit.ts';
import { campaignSeeds } from './seeds.ts';

const COUNT = Number(process.env.CDRFLOW_FUZZ_PUSHES ?? 120);
const { seeds } = campaignSeeds('PUSH', 1, undefined, 151);
const APP = { appKey: 'hwFuzzApp', appSecret: 'hwFuzzSecret' };
const LVMS = { appKey: '77777777', appSecret: 'lvmsFuzzSecret' };
const sink = new MemorySink();
let receiver: RunningReceiver;

beforeAll(async () => {
  receiver = await startReceiver(
    { port: 0, huawei: { apps: [APP], topics: { fee: 'f.fee', events: 'f.events' } }, lvms: { apps: [LVMS], topic: 'f.lvms' } },
    { sink, log: silentLog },
  );
});
afterAll(() => receiver.stop());

const stored = () => sink.published.reduce((n, p) => n + p.envelopes.length, 0);

function expectStoredWithinLimits(from: number) {
  for (const e of sink.published.flatMap((p) => p.envelopes).slice(from)) {
    expect(Buffer.byteLength(e.natural_key)).toBeLessThanOrEqual(MAX_NATURAL_KEY_BYTES);
    expect(Buffer.byteLength(e.payload)).toBeLessThanOrEqual(MAX_RECORD_BYTES);
    expect(parseJsonStrict(e.payload).ok).toBe(true);
  }
}

const HUAWEI_DOCUMENTED: Record<number, string[]> = { 200: ['0'], 400: ['1010002'], 413: ['1010002'] };

describe('fuzz: receivers', () => {
  it.each(seeds)(`seed %i: ${COUNT} mutated Huawei fee pushes: a documented answer each, success only with every record stored`, async (seed) => {
    const rnd = seededRandom(seed);
    const records = [...fuzzLines('huawei-privatenumber', COUNT * 2, seed)].map((f) => f.line);
    let accepted = 0;
    for (let i = 0; i < COUNT; i++) {
      const n = 1 + Math.floor(rnd() * 2);
      const parts = records.slice(i * 2, i * 2 + n).map((l) => (Buffer.isBuffer(l) ? l : Buffer.from(l)));
      const joined = Buffer.concat(parts.flatMap((p, j) => (j === 0 ? [p] : [Buffer.from(','), p])));
      const dup = rnd() < 0.1;
      const body = Buffer.concat([Buffer.from('{"eventType":"fee","feeLst":['), joined, Buffer.from(dup ? '],"feeLst":[{"sessionId":"z"}]}' : ']}')]);
      const before = stored();
      const res = await fetch(`${receiver.url}/huawei/privatenumber/fee`, {
        method: 'POST',
        headers: { 'content-type': 'application/json;charset=UTF-8', ...huaweiAuthHeaders(APP.appKey, APP.appSecret) },
        body,
      });
      const answer = (await res.json()) as { resultcode: string; resultdesc: string };
      expect(HUAWEI_DOCUMENTED[res.status], `${res.status} ${answer.resultdesc}`).toContain(answer.resultcode);
      expect(answer.resultdesc).not.toMatch(/[\n\r]/);
      if (res.status === 200) {
        accepted++;
        expect(stored() - before).toBe(n);
      } else {
        expect(stored()).toBe(before);
      }
      expectStoredWithinLimits(before);
    }
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(COUNT);
  });

  // The signs of the calls the receiver stored, over every seed (one receiver serves them all): two lines alike signed
  // in the same second are one call (the same sign), answered success as its first copy was and not stored again.
  const storedSigns = new Set<string>();
  it.each(seeds)(`seed %i: ${COUNT} mutated LVMS submissions: a TOP answer each (success or error_response), success only when stored`, async (seed) => {
    let accepted = 0;
    for (const { line } of fuzzLines('alibaba-lvms', COUNT, seed + 1)) {
      // Invalid bytes travel percent-encoded in a form; the DTO is signed over what the server will decode.
      const raw = Buffer.isBuffer(line) ? line : Buffer.from(line);
      const params = signedParams({ ...LVMS, dto: raw.toString('utf8'), format: 'json' });
      let body = params.toString();
      if (Buffer.isBuffer(line)) {
        params.delete('ivr_call_record_d_t_o');
        body = `${params.toString()}&ivr_call_record_d_t_o=${percentEncode(raw)}`;
      }
      const before = stored();
      const res = await fetch(`${receiver.url}/router/rest`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      const answer = (await res.json()) as Record<string, { code?: number; sub_code?: string; lvms_result_d_t_o?: { success: boolean; message?: string } }>;
      expect([200, 413]).toContain(res.status);
      const ok = answer['alibaba_lvms_lvr_receivecallrecord_response'];
      const err = answer['error_response'];
      expect(Boolean(ok) !== Boolean(err)).toBe(true);
      if (ok) {
        accepted++;
        expect(ok.lvms_result_d_t_o?.success).toBe(true);
        const sign = params.get('sign')!.toUpperCase();
        if (ok.lvms_result_d_t_o?.message?.startsWith('already stored')) {
          expect(storedSigns.has(sign), 'answered "already stored" for a sign no stored call had').toBe(true);
          expect(stored()).toBe(before);
        } else {
          expect(stored() - before).toBe(1);
          storedSigns.add(sign);
        }
      } else {
        expect(typeof err!.code).toBe('number');
        expect(err!.sub_code).toMatch(/^isv\./);
        expect(stored()).toBe(before);
      }
      expectStoredWithinLimits(before);
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

function percentEncode(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += /[A-Za-z0-9*\-._]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}
