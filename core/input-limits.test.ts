// parseJsonStrict proves most text clean the cheap way and leaves the rest to the exact scan: on any text, clean or
// hostile, it must answer exactly what the exact scan answers (same value, same first problem, same wording).
import { describe, expect, it } from 'vitest';
import { VENDORS } from './topology.ts';
import { fuzzLines, fuzzText } from '../test/fuzz/generator.ts';
import { seededRandom } from '../simulators/kit.ts';
import { exactParse, jsonText, MAX_JSON_DEPTH, MAX_NATURAL_KEY_BYTES, naturalKeyProblem, parseJsonStrict, printable, quote, terminalReason, terminalText } from './input-limits.ts';

const deep = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;
const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

const CASES: string[] = [
  '{"a":1,"b":"x"}',
  '{"a":1,"a":2}',
  '{"a":{"b":1,"b":1}}',
  '[{"a":1},{"a":1}]',
  '{"a":1, "b" : 2 ,\n"c"\t:\r3}',
  '{"a":"x:y","b":"\\":","c":"\\\\"}',
  '{"a\\"b":1,"a\\"b":2}',
  '{"a":1,"\\u0061":2}',
  '{"k":"\\u003a","k":1}',
  '{"a":"\\ud800"}',
  '{"a":"\\ud800\\udc00"}',
  '{"a":"\ud800"}',
  '{"a":"\ud800\\udc00"}',
  '{"__proto__":1,"__proto__":2}',
  '{"__proto__":{"a":1},"b":1}',
  '{"1":1,"01":2,"1.0":3}',
  '{"1":1,"1":2}',
  '{"":1,"":2}',
  '{"a":[1,2,{"b":[{"c":null}]}]}',
  deep(MAX_JSON_DEPTH),
  deep(MAX_JSON_DEPTH + 1),
  deep(5000),
  deepObject(MAX_JSON_DEPTH),
  deepObject(MAX_JSON_DEPTH + 1),
  `${'['.repeat(5000)}`,
  '{"a":1',
  '{"a":1,}',
  '{"a":1}x',
  '"a"',
  '1',
  'null',
  '',
  '{"a":"b" "c":1}',
];

describe('parseJsonStrict', () => {
  it('answers exactly what the exact scan answers on hand-picked edge cases', () => {
    for (const text of CASES) expect(parseJsonStrict(text), text.slice(0, 80)).toEqual(exactParse(text));
  });

  it('answers exactly what the exact scan answers on mutated vendor records', () => {
    let problems = 0;
    for (const vendor of VENDORS) {
      for (const { line } of fuzzLines(vendor, 400, 7)) {
        const text = fuzzText(line);
        const expected = exactParse(text);
        if (!expected.ok) problems++;
        expect(parseJsonStrict(text), text.slice(0, 200)).toEqual(expected);
      }
    }
    // The mutations reach the exact path too (malformed, duplicated, deep, broken surrogates), not only clean text.
    expect(problems).toBeGreaterThan(50);
  });

  it('answers exactly what the exact scan answers on objects built to fool a count of colons', () => {
    // The clean path proves "no member twice" from the colons that follow a quote (input-limits.ts nameColonBound).
    // These texts put colons where that bound could go wrong: spaces and line breaks before a name's colon, colons and
    // escaped quotes inside strings, strings that begin with a colon, JSON carried in a string, names given twice.
    const random = seededRandom(20261206);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const NAMES = ['a', 'b', ':', 'a:', 'x\\', 'q\\"', ' ', '"', '\\":'].map((n) => JSON.stringify(n));
    const SPACES = ['', '', ' ', '\t', '\n ', '\r\n'];
    const STRINGS = ['":"', '" :"', '"08:00:00"', '"https://x"', '"\\":"', '"\\\\"', '"\\\\\\":"', JSON.stringify(JSON.stringify({ a: 1, b: ':' }))];
    const value = (depth: number): string => {
      const r = random();
      if (depth < 3 && r < 0.2) return object(depth + 1);
      if (depth < 3 && r < 0.3) return `[${Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1)).join(',')}]`;
      return r < 0.5 ? String(Math.floor(random() * 100)) : pick(STRINGS);
    };
    const object = (depth: number): string => {
      const members = Array.from({ length: Math.floor(random() * 5) }, () => `${pick(SPACES)}${pick(NAMES)}${pick(SPACES)}:${pick(SPACES)}${value(depth)}${pick(SPACES)}`);
      return `{${members.join(',')}}`;
    };
    const seen = { clean: 0, duplicate: 0 };
    for (let i = 0; i < 4000; i++) {
      const text = object(0);
      const expected = exactParse(text);
      if (expected.ok) seen.clean++;
      else if (expected.problem.startsWith('duplicate')) seen.duplicate++;
      expect(parseJsonStrict(text), text).toEqual(expected);
    }
    // Both outcomes are reached, many times over.
    expect(seen.clean).toBeGreaterThan(500);
    expect(seen.duplicate).toBeGreaterThan(500);
  });

  it('still finds a repeated member when Object.prototype carries an enumerable property', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto['polluted'] = 1;
    try {
      expect(parseJsonStrict('{"a":1,"a":2}')).toEqual({ ok: false, problem: 'duplicate JSON member "a" in one object' });
    } finally {
      delete proto['polluted'];
    }
  });

  it('refuses a member given twice, too deep a nesting and a lone surrogate', () => {
    expect(parseJsonStrict('{"a":1,"b":{"c":1,"c":2}}')).toEqual({
      ok: false,
      problem: 'duplicate JSON member "c" in one object',
    });
    expect(parseJsonStrict(deep(MAX_JSON_DEPTH + 1))).toEqual({
      ok: false,
      problem: `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
    });
    expect(parseJsonStrict('{"a":"\\udc00"}')).toEqual({
      ok: false,
      problem: 'invalid UTF-8: the text carries an unpaired surrogate',
    });
    expect(parseJsonStrict('{"a":[1,{"b":null}]}')).toEqual({ ok: true, value: { a: [1, { b: null }] } });
  });
});

describe('jsonText: JSON.stringify without its recursion', () => {
  it('writes what JSON.stringify writes of any value JSON.parse gives, hand-picked and mutated vendor records', () => {
    const texts = [
      ...CASES,
      '{"b":1,"a":2,"2":3,"1":4,"-1":5,"01":6}',
      '{"__proto__":{"a":1},"b":[]}',
      '{"a":"\\ud800","b":"\\u0000\\u001f\\"\\\\/","c":"通话 😀"}',
      '[-0,1e21,1e-7,0.1,123456789012345678901234567890,-1.5e300]',
      '[{},[],"",0,false,null,[[]],{"":{}}]',
      ...VENDORS.flatMap((vendor) => [...fuzzLines(vendor, 200, 11)].map(({ line }) => fuzzText(line))),
    ];
    let compared = 0;
    for (const text of texts) {
      let value: unknown;
      let expected: string;
      try {
        value = JSON.parse(text);
        expected = JSON.stringify(value); // CASES' 5000-deep ones overflow it: the test below takes those
      } catch {
        continue;
      }
      expect(jsonText(value), text.slice(0, 200)).toBe(expected);
      compared++;
    }
    expect(compared).toBeGreaterThan(500);
  });

  it('writes a record nested 200,000 levels deep, which JSON.stringify cannot, as the text it was parsed from', () => {
    const depth = 200_000;
    // Already in JSON.stringify's form (no spaces, its escapes and number forms), so parsed and written it is itself.
    const level = '{"id":"x","below":[true,null,-1.5,"é\\n",';
    const text = `${level.repeat(depth)}{},[]${']}'.repeat(depth)}`;
    const value = JSON.parse(text) as unknown;
    expect(() => JSON.stringify(value)).toThrow(RangeError);
    expect(jsonText(value)).toBe(text);
    const arrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    expect(jsonText(JSON.parse(arrays))).toBe(arrays);
  });
});

describe('naturalKeyProblem', () => {
  it('refuses a key with U+FFFD (bytes lost: two calls could read as one), and one over the byte limit', () => {
    expect(naturalKeyProblem('call-1')).toBeNull();
    expect(naturalKeyProblem('通话-1')).toBeNull();
    expect(naturalKeyProblem('call-\uFFFD', 'call_record_id')).toMatch(/^call_record_id carries U\+FFFD/);
    expect(naturalKeyProblem('k'.repeat(MAX_NATURAL_KEY_BYTES + 1))).toMatch(/^natural key is \d+ bytes long/);
  });
});

describe('quote and printable: a value in a message never acts on the terminal', () => {
  it('escapes C0 and C1 controls, DEL, line separators and bidirectional marks, and stays valid JSON for the same string', () => {
    const hostile = 'a\u0000\u0007\n\u001b[31m\u007f\u0085\u2028\u202eb';
    const quoted = quote(hostile);
    // eslint-disable-next-line no-control-regex
    expect(quoted).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    expect(JSON.parse(quoted)).toBe(hostile);
    expect(quote({ k: '\u202e' })).toBe('{"k":"\\u202e"}');
  });

  it('escapes every format character too: zero-width ones and tag characters (two escapes, one per UTF-16 unit)', () => {
    const hidden = 'a\u200b\u2060\ufeff\u{e0041}b';
    expect(quote(hidden)).toBe('"a\\u200b\\u2060\\ufeff\\udb40\\udc41b"');
    expect(JSON.parse(quote(hidden))).toBe(hidden);
    expect(terminalText(hidden)).toBe('a\\u200b\\u2060\\ufeff\\udb40\\udc41b');
    expect(printable('a\u200bb')).toBe('"a\\u200bb"');
  });

  it('printable leaves a plain short text as it is, and quotes and cuts anything else', () => {
    expect(printable('/etc/cdrflow/pipeline.yaml')).toBe('/etc/cdrflow/pipeline.yaml');
    expect(printable('a\u0085b')).toBe('"a\\u0085b"');
    expect(printable('x'.repeat(300))).toBe(`"${'x'.repeat(200)}"… (300 chars)`);
  });
});

describe('terminalReason', () => {
  it('shows a reason on one printable line: line breaks as boundReason writes them, bidi, C1 and zero-width characters as \\u escapes, cut to the limit', () => {
    expect(terminalReason('bad "\u202eevil\u202c"\nnext\r\x1b[2J\u0085\u200b')).toBe('bad "\\u202eevil\\u202c"\\nnext\\r\\u001b[2J\\u0085\\u200b');
    expect(terminalReason(`${'x'.repeat(20)}\u202e`, 10)).toBe('xxxxxxxxxx… (reason cut, 21 chars)');
  });
});
