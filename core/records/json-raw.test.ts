import { describe, expect, it } from 'vitest';
import { parseJsonStrict } from '../input-limits.ts';
import { VENDORS } from '../topology.ts';
import { fuzzLines, fuzzText } from '../../test/fuzz/generator.ts';
import { rawArrayElements, rawMembers } from './json-raw.ts';

describe('json-raw', () => {
  it('cuts array elements out byte-for-byte, whitespace, escapes and big numbers included', () => {
    const a = '{"sessionId":"x\\"}]","n":12345678901234567890,"f":1.50}';
    const b = '{ "k" : [1, {"z":"]"}] }';
    const text = `{"eventType":"fee", "feeLst" : [ ${a} ,\n${b}], "tail":null}`;
    expect(rawArrayElements(text, 'feeLst')).toEqual([a, b]);
    expect(JSON.parse(rawArrayElements(text, 'feeLst')![0]!)).toEqual(JSON.parse(a));
  });

  it('last duplicate member wins like JSON.parse; non-objects give undefined', () => {
    expect(rawMembers('{"a":1,"a":[2]}')!.get('a')).toBe('[2]');
    expect(rawMembers('[1]')).toBeUndefined();
    expect(rawArrayElements('{"feeLst":{}}', 'feeLst')).toBeUndefined();
    expect(rawArrayElements('{"feeLst":[]}', 'feeLst')).toEqual([]);
  });

  it('decodes escaped member names', () => {
    expect(rawMembers('{"fee\\u004cst":[true]}')!.get('feeLst')).toBe('[true]');
  });

  it('agrees with JSON.parse on every member of mutated vendor records', () => {
    let objects = 0;
    for (const vendor of VENDORS) {
      for (const { line } of fuzzLines(vendor, 300, 3)) {
        const text = fuzzText(line);
        // Only text the strict parse accepted is ever cut (it also keeps 5,000-deep nestings out of toEqual).
        const strict = parseJsonStrict(text);
        if (!strict.ok) continue;
        const parsed = strict.value;
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) continue;
        objects++;
        const members = rawMembers(text)!;
        expect([...members.keys()].sort(), text.slice(0, 200)).toEqual(Object.keys(parsed).sort());
        for (const [name, raw] of members) expect(JSON.parse(raw), name).toEqual((parsed as Record<string, unknown>)[name]);
      }
    }
    expect(objects).toBeGreaterThan(500);
  });
});
