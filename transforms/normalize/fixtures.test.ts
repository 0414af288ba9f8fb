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
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
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
  $fixture: { tenant?: string; options?: Record<string, unknown>; lineage?: Lineage; envelope?: Partial<Omit<RawEnvelope, 'received_at'>> & { received_at?: string } };
  record: unknown;
}

function isWrapper(v: unknown): v is Wrapper {
  return typeof v === 'object' && v !== null && '$fixture' in v && 'record' in v;
}

/** `options` is laid over the fixture's own options (the PII property below sets a key on every fixture). */
function runFixture(vendor: Vendor, inputText: string, options: Record<string, unknown> = {}): NormalizeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(inputText);
  } catch {
    parsed = undefined;
  }
  const spec = isWrapper(parsed) ? parsed.$fixture : {};
  const ctx: NormalizeContext = { now: () => NOW, lineage: spec.lineage ?? null, options: parseNormalizeOptions({ ...(spec.options ?? {}), ...options }) };
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
    // Compared as text, so in key order too: extras is an Avro map, and its order is the order of the bytes in
    // cdr.normalized and of ClickHouse's Map; toEqual would pass a changed order unseen (and a regeneration would then
    // rewrite files whose content had not changed).
    expect(JSON.stringify(actual, null, 2)).toBe(JSON.stringify(JSON.parse(readFileSync(outPath, 'utf8')), null, 2));
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

// The PII key's promise (MAPPING.md "PII key"), as a property of every fixture that maps to a CDR: normalized with a
// key, no phone number of the input is anywhere in clear in the encoded output, except in the fields the promise
// leaves out (free text, app user ids, protection ids).
const PII_KEY = 'property-pii-key-0123456789';

const members = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** The input fields each mapping reads as phone numbers (the ones it hashes under a PII key). */
const PHONE_FIELDS: Readonly<Record<Vendor, (record: Record<string, unknown>) => unknown[]>> = {
  'alibaba-lvms': (r) => [r['phone_number'], r['called_phone_number']],
  // Huawei names its numbers `…Num`; extendNum is an AXE extension.
  'huawei-privatenumber': (r) => Object.keys(r).filter((k) => k.endsWith('Num') && k !== 'extendNum').map((k) => r[k]),
  'tencent-ccc': (r) => [r['Caller'], r['Callee'], members(r['SeatUser'])['Phone'], ...(Array.isArray(r['ServeParticipants']) ? r['ServeParticipants'] : []).map((p) => members(p)['Phone'])],
  'tencent-trtc': () => [],
};

/** What people and vendors put inside a number; dropped on both sides so a number is found however it is written. */
const SEPARATORS = /[\s\-().+]/g;

/** The digit strings of 7 and more by which a number could show: as written, and as E.164 with and without its country code. */
function numberForms(raw: unknown): string[] {
  if (typeof raw !== 'string' && typeof raw !== 'number') return [];
  const digits = String(raw).replace(SEPARATORS, '');
  if (!/^\d+$/.test(digits)) return [];
  const forms = [digits];
  const parsed = parsePhoneNumberFromString(String(raw).trim().startsWith('00') ? `+${digits.slice(2)}` : String(raw), 'CN');
  if (parsed) forms.push(parsed.number.slice(1), parsed.nationalNumber);
  return [...new Set(forms)].filter((f) => f.length >= 7);
}

/** The vendor record of a fixture, bare or inside its wrapper. */
function fixtureRecord(inputText: string): Record<string, unknown> {
  const parsed = JSON.parse(inputText) as unknown;
  return members(isWrapper(parsed) ? parsed.record : parsed);
}

/** Output fields the promise does not cover: free text, and ids that are pseudonyms already. */
function unscanned(path: string[], parent: Record<string, unknown>): boolean {
  const last = path.at(-1) ?? '';
  if (path[0] === 'extras' && ['UUI', 'Uui', 'Remark', 'ProtectedCaller', 'ProtectedCallee'].includes(last.split('.').at(-1)!)) return true;
  return last === 'value' && (parent['type'] === 'APP_USER' || parent['type'] === 'PROTECTED');
}

/** Every string of a decoded CDR with its path, except the unscanned ones. */
function scannedStrings(value: unknown, path: string[] = [], parent: Record<string, unknown> = {}): { path: string; text: string }[] {
  if (typeof value === 'string') return unscanned(path, parent) ? [] : [{ path: path.join('.'), text: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => scannedStrings(v, [...path, String(i)], parent));
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const object = value as Record<string, unknown>;
    return Object.entries(object).flatMap(([k, v]) => scannedStrings(v, [...path, k], object));
  }
  return [];
}

/**
 * Clear numbers known and left as they are, per fixture and field. Huawei's sessionId is the vendor's own opaque call
 * id and so the natural key; the one in Huawei's public sample embeds the caller's number (and another).
 */
const KNOWN_CLEAR: Readonly<Record<string, readonly string[]>> = {
  'huawei-privatenumber/public-sample-new-field-voicechecktype': ['cdr_id', 'natural_key'],
};

/** `field = "value" shows <digits>` for every input phone number in clear in the fixture's encoded output. */
function clearNumbers(vendor: Vendor, name: string, inputText: string, options: Record<string, unknown>): string[] {
  const result = runFixture(vendor, inputText, options);
  if (!result.ok) throw new Error(`${name} does not map with ${JSON.stringify(options)}: ${result.error.message}`);
  const numbers = PHONE_FIELDS[vendor](fixtureRecord(inputText)).flatMap(numberForms);
  const known = KNOWN_CLEAR[name] ?? [];
  return scannedStrings(cdrType.fromBuffer(cdrType.toBuffer(result.cdr))).flatMap(({ path, text }) => {
    if (known.includes(path)) return [];
    const compact = text.replace(SEPARATORS, '');
    return numbers.filter((n) => compact.includes(n)).map((n) => `${path} = ${JSON.stringify(text)} shows ${n}`);
  });
}

describe('with a PII key, no input phone number is in clear in any fixture output', () => {
  // Good by the fixture's statement; a missing one is written (and reported) by the suite above.
  const good = cases.filter((c) => existsSync(c.outPath) && (JSON.parse(readFileSync(c.outPath, 'utf8')) as { ok: boolean }).ok);

  it('has good fixtures of every vendor, and without a key finds their numbers in clear (telephony vendors)', () => {
    expect(new Set(good.map((c) => c.vendor)).size).toBe(VENDORS.length);
    for (const vendor of VENDORS.filter((v) => v !== 'tencent-trtc')) {
      const found = good.filter((c) => c.vendor === vendor).flatMap((c) => clearNumbers(vendor, c.name, readFileSync(c.inPath, 'utf8'), { piiKey: null }));
      expect(found.length, vendor).toBeGreaterThan(0);
    }
  });

  it.each(good)('$name', ({ vendor, name, inPath }) => {
    expect(clearNumbers(vendor, name, readFileSync(inPath, 'utf8'), { piiKey: PII_KEY })).toEqual([]);
  });
});

// The same promise for refused records: a dead letter's reason and cdr_id (`cdr_dead_letters.error_message`, `cdr_id`)
// are what analysts read in ClickHouse, so under a PII key neither shows an input number (MAPPING.md "Errors").
describe('with a PII key, no input phone number is in clear in any bad fixture reason or cdr_id', () => {
  const bad = cases.filter((c) => existsSync(c.outPath) && !(JSON.parse(readFileSync(c.outPath, 'utf8')) as { ok: boolean }).ok);
  /** The input's numbers, when the input is a record at all (malformed JSON has no fields to read). */
  const inputNumbers = (vendor: Vendor, inputText: string) => {
    try {
      return PHONE_FIELDS[vendor](fixtureRecord(inputText)).flatMap(numberForms);
    } catch {
      return [];
    }
  };
  const shown = (vendor: Vendor, inputText: string, options: Record<string, unknown>) => {
    const result = runFixture(vendor, inputText, options);
    if (result.ok) throw new Error('maps to a CDR');
    const numbers = inputNumbers(vendor, inputText);
    return [['error.message', result.error.message], ['error.cdr_id', result.error.cdr_id ?? '']].flatMap(([path, text]) =>
      numbers.filter((n) => text!.replace(SEPARATORS, '').includes(n)).map((n) => `${path} = ${JSON.stringify(text)} shows ${n}`));
  };

  it('has bad fixtures with numbers of every telephony vendor', () => {
    for (const vendor of VENDORS.filter((v) => v !== 'tencent-trtc')) {
      expect(bad.filter((c) => c.vendor === vendor && inputNumbers(vendor, readFileSync(c.inPath, 'utf8')).length > 0).length, vendor).toBeGreaterThan(0);
    }
  });

  it.each(bad)('$name', ({ vendor, inPath }) => {
    expect(shown(vendor, readFileSync(inPath, 'utf8'), { piiKey: PII_KEY })).toEqual([]);
  });
});
