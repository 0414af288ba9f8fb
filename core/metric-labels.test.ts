import { describe, expect, it } from 'vitest';
import { BoundedLabels, MAX_CODE_LABELS, OTHER_LABEL } from './metric-labels.ts';

describe('BoundedLabels', () => {
  it('admits the first plain values up to the limit, keeps them, and folds the rest into other', () => {
    const labels = new BoundedLabels(3);
    expect(['a', 'b', 'a', 'c', 'd', 'b', 'e'].map((v) => labels.of(v))).toEqual(['a', 'b', 'a', 'c', OTHER_LABEL, 'b', OTHER_LABEL]);
  });

  it('never admits a value a label should not carry, and such values take no place', () => {
    const labels = new BoundedLabels(2);
    for (const hostile of ['', 'x'.repeat(65), 'a"b', 'a}b', 'line\nbreak', 'sp ace', 'é', '\u202e', 'a{b="c"}']) expect(labels.of(hostile)).toBe(OTHER_LABEL);
    expect(labels.of('RequestLimitExceeded')).toBe('RequestLimitExceeded');
    expect(labels.of('http-503')).toBe('http-503');
    expect(labels.of('ResourceUnavailable.X:1')).toBe(OTHER_LABEL);
  });

  // 40: the README's figure ("name the first 40 distinct values"), written out so a change of the constant fails here.
  it('holds 40 distinct values by default against 100,000 offered, then "other"', () => {
    const labels = new BoundedLabels();
    const out = new Set<string>();
    for (let i = 0; i < 100_000; i++) out.add(labels.of(`code-${i}`));
    expect(MAX_CODE_LABELS).toBe(40);
    expect(out.size).toBe(40 + 1);
    expect(out.has(OTHER_LABEL)).toBe(true);
  });
});
