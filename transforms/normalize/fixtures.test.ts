// Runs every fixtures/<vendor>/*.in.json through normalize with a fixed clock, compares with the matching
// *.out.json, and validates every normalized record against schemas/cdr-normalized.avsc.
//
// An .in.json is either a bare vendor record (any text: a malformed one must produce the error in its .out.json), or
// a wrapper {"$fixture": {...}, "record": {...}} with optional `tenant` (fallback when the record names none),
// `options` (NormalizeOptions input, e.g. a billing rule or a PII key), `lineage`, and `envelope` (envelope fields;
// when present the record goes through normalize() inside a full raw envelope instead of normalizeBare()).
//
// Regenerate deliberately with `UPDATE_FIXTURES=1 npx vitest run --project unit transforms/normalize/fixtures`, then
// review the diff: an .out.json is a statement of what is right, not a snapshot of what the code did.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { avroType } from '../../core/avro.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import { VENDORS, isVendor } from '../../core/topology.ts';
import type { Vendor } from '../../core/topology.ts';
import { parseNormalizeOptions } from './config.ts';
import type { Lineage, NormalizeContext } from './context.ts';
import { normalize, normalizeBare, tenantOfRecord } from './normalize.ts';
import type { NormalizeResult } from './result.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const UPDATE = process.env.UPDATE_FIXTURES === '1';
const NOW = new Date('2026-01-01T00:00:00.000Z');

/** Tenant for bare records that do not name theirs (the CCC query API and LVMS never do). */
const FIXTURE_TENANT: Readonly<Record<Vendor, string>> = {
  'tencent-ccc': '1400000000', // the SdkAppId of the CCC doc's request example
  'tencent-trtc': '88888888',
  'huawei-privatenumber': 'fixture-app-key',
  'alibaba-lvms': 'fixture-app-key',
};

interface Wrapper {
  $fixture: { tenant?: string; options?: unknown; lineage?: Lineage; envelope?: Partial<Omit<RawEnvelope, 'received_at'>> & { received_at?: string } };
  record: unknown;
}

function isWrapper(v: unknown): v is Wrapper {
  return typeof v === 'object' && v !== null && '$fixture' in v && 'record' in v;
}

function runFixture(vendor: Vendor, inputText: string): NormalizeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(inputText);
  } catch {
    parsed = undefined;
  }
  const spec = isWrapper(parsed) ? parsed.$fixture : {};
  const ctx: NormalizeContext = { now: () => NOW, lineage: spec.lineage ?? null, options: parseNormalizeOptions(spec.options ?? {}) };
  if (isWrapper(parsed)) {
    const recordText = JSON.stringify(parsed.record);
    if (spec.envelope) {
      const { received_at, ...rest } = spec.envelope;
      const envelope: RawEnvelope = {
        vendor,
        tenant_id: spec.tenant ?? FIXTURE_TENANT[vendor],
        natural_key: '',
        received_at: received_at ? new Date(received_at) : NOW,
        connector: 'fixture',
        mode: 'live',
        request_id: null,
        payload: recordText,
        payload_format: 'json',
        attributes: {},
        ...rest,
      };
      return normalize(envelope, ctx);
    }
    const tenant = tenantOfRecord(vendor, parsed.record) === null ? (spec.tenant ?? FIXTURE_TENANT[vendor]) : (spec.tenant ?? null);
    return normalizeBare(vendor, tenant, recordText, ctx);
  }
  const tenant = tenantOfRecord(vendor, parsed) === null ? FIXTURE_TENANT[vendor] : null;
  return normalizeBare(vendor, tenant, inputText, ctx);
}

function fixtureCases(): { vendor: Vendor; name: string; inPath: string; outPath: string }[] {
  const cases = [];
  for (const dir of readdirSync(FIXTURES).sort()) {
    if (!statSync(FIXTURES + dir).isDirectory()) continue;
    if (!isVendor(dir)) throw new Error(`fixtures/${dir}: not a vendor name`);
    for (const file of readdirSync(`${FIXTURES}${dir}`).sort()) {
      if (!file.endsWith('.in.json')) continue;
      const base = file.slice(0, -'.in.json'.length);
      cases.push({ vendor: dir, name: `${dir}/${base}`, inPath: `${FIXTURES}${dir}/${file}`, outPath: `${FIXTURES}${dir}/${base}.out.json` });
    }
  }
  return cases;
}

const cdrType = avroType('cdr-normalized.avsc');
const cases = fixtureCases();

describe('normalize fixtures', () => {
  it('has fixtures for every vendor it maps', () => {
    const vendors = new Set(cases.map((c) => c.vendor));
    expect([...vendors].sort()).toEqual([...VENDORS].sort());
  });

  it.each(cases)('$name', ({ vendor, inPath, outPath }) => {
    const result = runFixture(vendor, readFileSync(inPath, 'utf8'));
    const actual = JSON.parse(JSON.stringify(result)) as unknown;
    if (UPDATE || !existsSync(outPath)) {
      writeFileSync(outPath, `${JSON.stringify(actual, null, 2)}\n`);
      if (!UPDATE) throw new Error(`${outPath} did not exist; wrote it from the current output — review it, then rerun`);
    }
    expect(actual).toEqual(JSON.parse(readFileSync(outPath, 'utf8')));
    if (result.ok) {
      const problems: string[] = [];
      const valid = cdrType.isValid(result.cdr, { errorHook: (path, value) => problems.push(`${path.join('.')} = ${JSON.stringify(value)}`) });
      expect(problems).toEqual([]);
      expect(valid).toBe(true);
      // A full encode/decode round trip: the sink and any Confluent client read exactly these values.
      expect(cdrType.fromBuffer(cdrType.toBuffer(result.cdr))).toEqual(result.cdr);
    }
  });
});
