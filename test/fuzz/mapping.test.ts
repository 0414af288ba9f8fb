// Fuzz (a): the pure mapping. Every mutated record of every vendor is a normalized CDR that the independent oracle
// accepts, or a one-line bounded reason — never a throw. Seeded and small for CI; `npm run fuzz` runs a larger campaign.
// Seeds (test/fuzz/seeds.ts): CDRFLOW_FUZZ_MAPPING_SEED (15), CDRFLOW_FUZZ_MAPPING_COUNT (1), CDRFLOW_FUZZ_MAPPING_ONLY;
// CDRFLOW_FUZZ_RECORDS records per seed and vendor.
import { describe, expect, it } from 'vitest';
import { VENDORS } from '../../core/topology.ts';
import { defaultNormalizeContext } from '../../transforms/normalize/context.ts';
import { normalizeLine } from '../../transforms/normalize/lines.ts';
import { fuzzLines, fuzzText, tenantOption } from './generator.ts';
import { oracleProblems } from './oracle.ts';
import { campaignSeeds } from './seeds.ts';

const COUNT = Number(process.env.CDRFLOW_FUZZ_RECORDS ?? 300);
const { seeds } = campaignSeeds('MAPPING', 1, undefined, 15);
const NOW = new Date('2026-01-01T00:00:00Z');
const ctx = defaultNormalizeContext({ now: () => NOW });

describe.each(VENDORS)('fuzz: %s mapping', (vendor) => {
  it.each(seeds)(`seed %i: ${COUNT} mutated records: each an output passing the oracle or a bounded reason, never a throw`, (seed) => {
    let outputs = 0;
    let reasons = 0;
    for (const { line, mutations } of fuzzLines(vendor, COUNT, seed)) {
      // What a lenient reader (Avro string, readline) makes of broken bytes: U+FFFD, which normalize must refuse.
      const text = fuzzText(line);
      let result;
      try {
        result = normalizeLine(text, { vendor, tenant: tenantOption(vendor) }, ctx);
      } catch (err) {
        throw new Error(`threw on [${mutations.join(', ')}]: ${String(err)}`, { cause: err });
      }
      if (result.ok) {
        outputs++;
        expect(oracleProblems(result.cdr as unknown as Record<string, unknown>), `[${mutations.join(', ')}]`).toEqual([]);
      } else {
        reasons++;
        expect(result.error.message).not.toMatch(/[\n\r]/);
        expect(result.error.message.length).toBeLessThan(600);
      }
    }
    expect(outputs + reasons).toBe(COUNT);
    // The generator keeps a share of records intact or harmlessly changed: both paths are exercised.
    expect(outputs).toBeGreaterThan(COUNT / 20);
    expect(reasons).toBeGreaterThan(COUNT / 5);
  });
});
