import { describe, expect, it } from 'vitest';
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
});
