import { describe, expect, it } from 'vitest';
import { VENDORS } from '../core/topology.ts';
import { defaultNormalizeContext } from '../transforms/normalize/context.ts';
import { normalize } from '../transforms/normalize/normalize.ts';
import { mixedEnvelopes } from './records.ts';

// The benchmarks refuse to run when their inputs stop fitting the mappings (a rule added to normalize can do that);
// this catches it in CI instead of at the next benchmark run.
describe('benchmark records', () => {
  it('are distinct, an equal share per vendor, and every one normalizes under the default context', () => {
    const byVendor = mixedEnvelopes(2_000);
    const ctx = defaultNormalizeContext();
    for (const vendor of VENDORS) {
      const envelopes = byVendor.get(vendor) ?? [];
      expect(envelopes.length, vendor).toBe(500);
      const failures = envelopes.map((e) => normalize(e, ctx)).filter((r) => !r.ok);
      expect(failures.slice(0, 1), vendor).toEqual([]);
      const ids = new Set(envelopes.map((e) => e.natural_key));
      expect(ids.size, vendor).toBe(500);
    }
  });

  it('at the default 100,000: 25,000 a vendor, as many different cdr_ids, and the same records in every call', () => {
    const byVendor = mixedEnvelopes(100_000);
    const ctx = defaultNormalizeContext();
    const cdrIds = new Set<string>();
    for (const vendor of VENDORS) {
      const envelopes = byVendor.get(vendor) ?? [];
      expect(envelopes.length, vendor).toBe(25_000);
      for (const e of envelopes) {
        const r = normalize(e, ctx);
        if (r.ok) cdrIds.add(r.cdr.cdr_id);
      }
    }
    // What the sink counts: one row per cdr_id, so a repeated one would store fewer than the benchmark sent.
    expect(cdrIds.size).toBe(100_000);
    expect(mixedEnvelopes(100_000)).toEqual(byVendor);
  });
});
