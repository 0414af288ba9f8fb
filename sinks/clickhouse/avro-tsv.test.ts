// The TabSeparated fast path must write exactly the line that decoding + rows.ts would, or hand the body back.
// The fuzz, whose bodies would keep the slow path reading forever were the bound of core/avro-block-counts.ts lost,
// runs in a thread of its own (avro-tsv.cases.ts) stopped at a deadline: a lost bound fails it instead of hanging it.
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { avroOptions, loadSchemaJson } from '../../core/avro.ts';
import { VENDORS } from '../../core/topology.ts';
import { seededRandom } from '../../simulators/kit.ts';
import { mixedEnvelopes } from '../../bench/records.ts';
import { defaultNormalizeContext } from '../../transforms/normalize/context.ts';
import { normalize } from '../../transforms/normalize/normalize.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { endsWithin } from '../../test/ends-within.ts';
import { MAX_TIME_MS, MIN_TIME_MS, TsvTranscoder } from './avro-tsv.ts';
import { fastLine, outcomeOf, type, type Outcome } from './avro-tsv.cases.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';

// The fuzz takes about half a second once its thread has loaded; without the bound it would not end.
const inThread = endsWithin<typeof import('./avro-tsv.cases.ts')>(
  new URL('./avro-tsv.cases.ts', import.meta.url),
  10_000,
  "an Avro array's or map's block count is no longer held to the bytes left (core/avro-block-counts.ts)",
);

function expectSameOutcome({ facts, line, untouched, slow }: Outcome, label: string): boolean {
  if (!facts) {
    expect(untouched, `${label}: a handed-back body leaves the writer as it was`).toBe(true);
    return false;
  }
  expect(slow, `${label}: the fast path took a body the slow path refuses`).toBeDefined();
  expect(line, label).toBe(slow!.line);
  expect(facts, label).toEqual(slow!.facts);
  return true;
}

function expectSame(body: Buffer, label: string): boolean {
  return expectSameOutcome(outcomeOf(body), label);
}

function benchCdrs(n: number): NormalizedCdr[] {
  const byVendor = mixedEnvelopes(n);
  const ctx = defaultNormalizeContext();
  const out: NormalizedCdr[] = [];
  for (const v of VENDORS) {
    for (const e of byVendor.get(v) ?? []) {
      const r = normalize(e, ctx);
      if (r.ok) out.push(r.cdr);
    }
  }
  return out;
}

describe('TsvTranscoder (the sink fast path)', () => {
  it('writes byte for byte the line of decode + cdrTsvLine for the sample CDRs (hostile text, legs, IVR keys, extras) and the bench records of every vendor', () => {
    const cdrs = [...Array.from({ length: 1500 }, (_, i) => sampleCdr(i)), ...benchCdrs(2000)];
    let taken = 0;
    for (const [i, cdr] of cdrs.entries()) if (expectSame(type.toBuffer(cdr), `record ${i} ${cdr.cdr_id}`)) taken++;
    // The point of the fast path: it takes every well-formed record.
    expect(taken).toBe(cdrs.length);
  });

  it('hostile text in every string field (each escape, quotes, NUL, \\N, brackets, non-ASCII), Int32 edges and nulls: the same line from both paths', () => {
    const random = seededRandom(23);
    const pick = <T,>(a: readonly T[]): T => a[Math.floor(random() * a.length)]!;
    const atoms = ['\t', '\n', '\r', '\0', '\b', '\f', '\v', '\\', "'", '"', '\\N', 'NULL', '[', ']', '(', ')', '{', '}', ',', ':', ' ', 'a', '1', '深', '☎️', '\u0085', '\u2028', '\x7f', '\x1b', '\\x41', "\\'"];
    const text = () => Array.from({ length: Math.floor(random() * 8) }, () => pick(atoms)).join('');
    const maybe = <T,>(f: () => T): T | null => (random() < 0.3 ? null : f());
    const int = () => pick([0, 1, -1, 2 ** 31 - 1, -(2 ** 31)]);
    for (let i = 0; i < 1000; i++) {
      const base = sampleCdr(i);
      const cdr: NormalizedCdr = {
        ...base, tenant_id: text(), natural_key: text(), call_type: maybe(text), billing_rule: text(), vendor_status_code: maybe(text),
        vendor_status_text: maybe(text), agent_id: maybe(text), agent_name: maybe(text), skill_group_id: maybe(text), skill_group_name: maybe(text),
        recording_url: maybe(text), recording_ref: maybe(text), intent_level: maybe(text), raw_topic: maybe(text), raw_partition: int(),
        ingest_mode: text() as NormalizedCdr['ingest_mode'], mapping_version: text(), room_id: maybe(text), ring_seconds: maybe(int), total_seconds: maybe(int),
        caller: maybe(() => ({ type: 'PHONE' as const, value: text(), e164: random() < 0.5, hashed: random() < 0.5, location: maybe(text) })),
        callees: Array.from({ length: Math.floor(random() * 3) }, () => ({ type: 'APP_USER' as const, value: text(), e164: false, hashed: false, location: maybe(text) })),
        legs: base.legs.map((l) => ({ ...l, sequence: int(), talk_seconds: int(), type: maybe(text), agent: maybe(text), end_status_text: maybe(text), transfer_to: maybe(text) })),
        ivr_keys: Array.from({ length: Math.floor(random() * 3) }, () => ({ phase: 'SURVEY' as const, key: text(), label: maybe(text), at: null, node_label: maybe(text) })),
        // Keys that an object orders by itself (integer-like) half of the time.
        extras: Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, () => [random() < 0.5 ? pick(['1', '10', 'a', "b'"]) : text(), text()])),
      };
      expect(expectSame(type.toBuffer(cdr), `record ${i}`), `record ${i} handed back`).toBe(true);
    }
  });

  it('times: the calendar arithmetic matches toISOString from year 0001 to 9999, and other years are handed back', () => {
    const random = seededRandom(7);
    const min = MIN_TIME_MS;
    const max = MAX_TIME_MS;
    expect([new Date(min).toISOString(), new Date(max).toISOString()]).toEqual(['0001-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z']);
    const edges = [0, -1, 1, min, max, Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(1900, 2, 1), Date.UTC(2100, 1, 28, 12), 951_782_400_000, -2_208_988_800_001];
    const instants = [...edges, ...Array.from({ length: 3000 }, () => Math.floor(min + random() * (max - min)))];
    for (const ms of instants) {
      const cdr = { ...sampleCdr(ms % 97 < 0 ? 1 : ms % 97), started_at: new Date(ms), received_at: new Date(ms) };
      expect(expectSame(type.toBuffer(cdr), new Date(ms).toISOString())).toBe(true);
    }
    // The year 0000 too: the engine reads it as the current year (render.ts timeProblem dead-letters it).
    for (const ms of [min - 1, -62_167_219_200_000, max + 1, 8.64e15]) {
      const cdr = { ...sampleCdr(1), started_at: new Date(ms) };
      expect(fastLine(type.toBuffer(cdr)).facts, String(ms)).toBeUndefined();
    }
  });

  it('extras are keyed as the decoded object is (integer-like keys first, a repeated key once, __proto__ as data)', () => {
    // Written by hand: avsc would not encode a repeated key or a __proto__ key from an object.
    const entries: [string, string][] = [['b', '1'], ['10', 'ten'], ['a', "it's"], ['2', 'two'], ['b', 'again'], ['__proto__', 'x'], ['深', '圳\t']];
    // Two blocks, the second with a negative count and its byte size, as the spec allows.
    const second = Buffer.concat(entries.slice(4).flatMap(([k, v]) => [str(k), str(v)]));
    const block = Buffer.concat([
      zigzag(4), ...entries.slice(0, 4).flatMap(([k, v]) => [str(k), str(v)]),
      zigzag(-(entries.length - 4)), zigzag(second.length), second,
      zigzag(0),
    ]);
    expect(expectSame(spliceExtras(sampleCdr(3), block), 'hand-written extras')).toBe(true);
  });

  it('extras written from their bytes, and each case that needs the object instead, give the line the object gives', () => {
    const mapBlock = (entries: [string, string][]) =>
      Buffer.concat(entries.length === 0 ? [zigzag(0)] : [zigzag(entries.length), ...entries.flatMap(([k, v]) => [str(k), str(v)]), zigzag(0)]);
    const many = (n: number) => Array.from({ length: n }, (_, i): [string, string] => [`k${i}`, `v${i}`]);
    const cases: Record<string, [string, string][]> = {
      'empty map': [],
      'escapes in keys and values, an empty key and value': [["it's", 'a\\b'], ['tab\tkey', 'line\nbreak\r\0'], ['', ''], ['x', "''"]],
      'non-ASCII values': [['city', '深圳'], ['emoji', '☎️ call'], ['mixed', "é'\t"]],
      'a repeated key, nothing else unusual': [['a', '1'], ['b', '2'], ['a', '3']],
      'a repeated key differing only in its last byte is not a repeat': [['ab', '1'], ['ac', '2']],
      'an integer-like key': [['b', '1'], ['7', 'seven']],
      'a key starting with a digit that is no index': [['b', '1'], ['1a', 'x']],
      '__proto__ as a key': [['a', '1'], ['__proto__', 'x']],
      'a non-ASCII key': [['a', '1'], ['区', 'x']],
      'as many entries as the bytewise path takes': many(64),
      'one more than it takes': many(65),
      'a repeat past the bytewise limit': [...many(65), ['k3', 'late']],
    };
    for (const [label, entries] of Object.entries(cases)) expect(expectSame(spliceExtras(sampleCdr(5), mapBlock(entries)), label), label).toBe(true);
  });

  it('hands back, and never writes a different line for, 5,000 fuzz-mutated bodies (flipped bytes, cuts, trailing bytes, extreme varints)', async () => {
    const outcomes = await inThread('fuzzOutcomes');
    expect(outcomes).toHaveLength(5000);
    let taken = 0;
    let refused = 0;
    for (const [n, outcome] of outcomes.entries()) {
      if (expectSameOutcome(outcome, `mutation ${n}`)) taken++;
      else refused++;
    }
    // Both outcomes happen: flipped bytes inside strings still make valid records; cuts and tails never do.
    expect(taken).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(1000);
  });

  it('is off (compile gives undefined) for a schema whose columns are not the cdr columns: the previous version, without room_id', () => {
    const v1 = avro.Type.forSchema(loadSchemaJson('history/cdr-normalized.v1.avsc') as avro.Schema, avroOptions());
    expect(TsvTranscoder.compile(v1)).toBeUndefined();
    expect(TsvTranscoder.compile(type)).toBeDefined();
  });
});

function zigzag(n: number): Buffer {
  return avro.Type.forSchema('long').toBuffer(n);
}
function str(s: string): Buffer {
  return avro.Type.forSchema('string').toBuffer(s);
}

/** The CDR's body with its (empty) extras map replaced by `block`: fields before extras, block, fields after. */
function spliceExtras(cdr: NormalizedCdr, block: Buffer): Buffer {
  const record = type as unknown as { fields: { name: string; type: avro.Type }[] };
  const parts: Buffer[] = [];
  const value = cdr as unknown as Record<string, unknown>;
  for (const f of record.fields) parts.push(f.name === 'extras' ? block : f.type.toBuffer(value[f.name]));
  return Buffer.concat(parts);
}
