// Benchmark inputs shared by the suites: distinct raw envelopes per vendor built from the vendor's good fixture
// inputs (vendor-doc samples and edge cases), cycled, each with its own natural key (so its own cdr_id) and fresh
// mobile numbers, so the phone-number memo sees realistic customer churn (hotline and agent numbers still recur, as
// they do in real traffic). Deterministic: the same count gives the same records in every run.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RawEnvelope } from '../core/envelope.ts';
import { VENDORS, type Vendor } from '../core/topology.ts';
import { defaultNormalizeContext } from '../transforms/normalize/context.ts';
import { normalizeBare, tenantOfRecord } from '../transforms/normalize/normalize.ts';
import { MOBILE_IN_PAYLOAD } from '../transforms/normalize/warm-up.ts';

const FIXTURES = fileURLToPath(new URL('../transforms/normalize/fixtures/', import.meta.url));
const ctx = defaultNormalizeContext({ now: () => new Date('2026-01-01T00:00:00Z') });

/** Good fixture inputs of a vendor (bare records that normalize), as [tenant, payload text]. */
export function templates(vendor: Vendor): [string, string][] {
  let files: string[];
  try {
    files = readdirSync(`${FIXTURES}${vendor}`).filter((f) => f.endsWith('.in.json'));
  } catch {
    return [];
  }
  const out: [string, string][] = [];
  for (const f of files.sort()) {
    const text = readFileSync(`${FIXTURES}${vendor}/${f}`, 'utf8');
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      continue;
    }
    if (typeof record !== 'object' || record === null || '$fixture' in record) continue;
    const tenant = tenantOfRecord(vendor, record) ?? 'bench-tenant';
    const r = normalizeBare(vendor, tenant, text, ctx);
    if (r.ok) out.push([tenant, JSON.stringify(record)]);
  }
  return out;
}

/** Deterministic pseudo-random mobile numbers (LCG), so runs compare. */
function mobileSource(seed: number): () => string {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return `13${String(state % 1_000_000_000).padStart(9, '0')}`;
  };
}

/** `count` distinct envelopes of one vendor. */
export function benchEnvelopes(vendor: Vendor, count: number, seed = 12345): RawEnvelope[] {
  const t = templates(vendor);
  if (t.length === 0) return [];
  const nextMobile = mobileSource(seed);
  return Array.from({ length: count }, (_, i) => {
    const [tenant, template] = t[i % t.length]!;
    const payload = template.replace(MOBILE_IN_PAYLOAD, () => nextMobile());
    return {
      vendor,
      tenant_id: tenant,
      natural_key: `bench-${i}`,
      // Received when the template check above says they are (its `now`), so the consistency rules see the same times.
      received_at: new Date(Date.UTC(2026, 0, 1) + i),
      connector: 'bench',
      mode: 'live',
      request_id: null,
      payload,
      payload_format: 'json',
      attributes: {},
    };
  });
}

/** `total` distinct envelopes, an equal share per vendor (the deterministic mix of the pipeline benchmark). */
export function mixedEnvelopes(total: number): Map<Vendor, RawEnvelope[]> {
  const per = Math.ceil(total / VENDORS.length);
  return new Map(VENDORS.map((v, i) => [v, benchEnvelopes(v, Math.min(per, total - per * i), 12345 + i)]));
}
