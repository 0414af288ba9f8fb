import { describe, expect, it } from 'vitest';
import { normalizedCdrId, normalizedNaturalKey } from './identity.ts';
import { hashIdentifier } from './parties.ts';

const KEY = 'identity-pii-key-0123456789';

describe('normalizedNaturalKey', () => {
  it('without a PII key is the raw key, composite or not', () => {
    expect(normalizedNaturalKey('alibaba-lvms', 'job:5001|13800138000|2025-12-02 10:00:00', null)).toBe('job:5001|13800138000|2025-12-02 10:00:00');
    expect(normalizedCdrId('alibaba-lvms', 't', '880001', null)).toBe('alibaba-lvms:t:880001');
  });

  it('with a PII key replaces the number of an LVMS composite key by its keyed hash, as the text stands in the key', () => {
    expect(normalizedNaturalKey('alibaba-lvms', 'job:5001|138 0013 8000|2025-12-02 10:00:00', KEY)).toBe(`job:5001|${hashIdentifier('138 0013 8000', KEY)}|2025-12-02 10:00:00`);
    expect(normalizedCdrId('alibaba-lvms', 't', 'job:-7|+8613800138000|x', KEY)).toBe(`alibaba-lvms:t:job:-7|${hashIdentifier('+8613800138000', KEY)}|x`);
  });

  it('splits a key one way when the number holds a `|`: everything up to the last one is hashed', () => {
    expect(normalizedNaturalKey('alibaba-lvms', 'job:1|138|0013|8000|2025-12-02 10:00:00', KEY)).toBe(`job:1|${hashIdentifier('138|0013|8000', KEY)}|2025-12-02 10:00:00`);
  });

  it('leaves call_record_ids, keys of other shapes and other vendors\' keys alone', () => {
    for (const key of ['880001', 'job:x|13800138000|t', 'job:1|13800138000', 'job:1||t']) expect(normalizedNaturalKey('alibaba-lvms', key, KEY)).toBe(key);
    expect(normalizedNaturalKey('huawei-privatenumber', 'job:1|13800138000|t', KEY)).toBe('job:1|13800138000|t');
  });

  it('depends on the key: a replay under another PII key gives another cdr_id', () => {
    const raw = 'job:5001|13800138000|2025-12-02 10:00:00';
    expect(normalizedNaturalKey('alibaba-lvms', raw, KEY)).toBe(normalizedNaturalKey('alibaba-lvms', raw, KEY));
    expect(normalizedNaturalKey('alibaba-lvms', raw, `${KEY}-rotated`)).not.toBe(normalizedNaturalKey('alibaba-lvms', raw, KEY));
  });
});
