// cdr_dead_letters.original_size: the full size a cut letter says of its original, else what the letter carries.
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_LIMITS, deadLetterForPayload, withinDeadLetterLimits } from '../../core/dead-letter.ts';
import { originalSizeOf } from './rows.ts';

const letter = (value: Buffer | null, original_size?: number) => ({
  ...deadLetterForPayload('x', { kind: 'bad_record' as const, message: 'why' }, 'test', { topic: 't', vendor: null, failed_at: new Date(0) }),
  original_value: value,
  ...(original_size === undefined ? {} : { original_size }),
});

describe('originalSizeOf', () => {
  it('a letter its writer cut says the full size; any other letter is as long as what it carries', () => {
    expect(originalSizeOf(withinDeadLetterLimits(letter(Buffer.alloc(700_000))))).toBe(700_000);
    expect(originalSizeOf(letter(Buffer.from('payload')))).toBe(7);
    expect(originalSizeOf(letter(null))).toBe(0);
  });

  it('does not believe a size no writer gives', () => {
    const cutLength = Buffer.alloc(DEAD_LETTER_LIMITS.valueBytes);
    expect(originalSizeOf(letter(Buffer.from('payload'), 2 ** 40))).toBe(7); // not cut: nothing to say
    expect(originalSizeOf(letter(null, 5_000))).toBe(0);
    expect(originalSizeOf(letter(cutLength, 2 ** 40))).toBe(cutLength.length); // beyond the column's UInt32
    expect(originalSizeOf(letter(cutLength, 3))).toBe(cutLength.length); // below what it carries
    expect(originalSizeOf(letter(cutLength, 1.5e6))).toBe(1_500_000);
  });
});
