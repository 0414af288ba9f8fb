import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultNormalizeContext } from './context.ts';
import { normalize } from './normalize.ts';
import { MOBILE_IN_PAYLOAD, WARM_UP_SAMPLES, warmUpEnvelopes } from './warm-up.ts';
import { VENDORS } from '../../core/topology.ts';

const fixture = (vendor: string, name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/${vendor}/${name}.in.json`, import.meta.url), 'utf8'));

describe('normalize warm-up samples', () => {
  it('are copies of the mapping fixtures they name, and cover every vendor', () => {
    for (const s of WARM_UP_SAMPLES) expect(s.record, `${s.vendor}/${s.fixture}`).toEqual(fixture(s.vendor, s.fixture));
    expect(new Set(WARM_UP_SAMPLES.map((s) => s.vendor))).toEqual(new Set(VENDORS));
  });

  it('normalize (a failing sample would warm the dead-letter path instead of the mapping)', () => {
    const receivedAt = new Date();
    const ctx = defaultNormalizeContext({ now: () => receivedAt });
    const envelopes = warmUpEnvelopes(WARM_UP_SAMPLES.length * 3, receivedAt);
    for (const e of envelopes) {
      const r = normalize(e, ctx);
      expect(r.ok ? 'ok' : r.error.message, `${e.vendor} ${e.natural_key}`).toBe('ok');
    }
  });

  it('give every record its own natural key and its own mobile numbers, the same ones on every call', () => {
    const a = warmUpEnvelopes(2 * WARM_UP_SAMPLES.length, new Date(0));
    expect(new Set(a.map((e) => e.natural_key)).size).toBe(a.length);
    // The same sample twice, one cycle apart: numbers differ, so the phone-number memo misses as on live traffic.
    const first = a[0]!.payload;
    const again = a[WARM_UP_SAMPLES.length]!.payload;
    expect(first).not.toBe(again);
    const mobiles = (p: string): string[] => p.match(MOBILE_IN_PAYLOAD) ?? [];
    expect(mobiles(first).length).toBeGreaterThan(0);
    expect(mobiles(first).some((m) => mobiles(again).includes(m))).toBe(false);
    expect(warmUpEnvelopes(2 * WARM_UP_SAMPLES.length, new Date(0))).toEqual(a);
    // Built a chunk at a time (the warm-up does), the records are those of one long call.
    const chunks = [0, 5, 11].map((first, k, all) => warmUpEnvelopes((all[k + 1] ?? a.length) - first, new Date(0), first));
    expect(chunks.flat()).toEqual(a);
  });
});
