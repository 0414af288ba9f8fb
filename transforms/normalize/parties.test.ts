import { describe, expect, it } from 'vitest';
import { defaultNormalizeOptions } from './context.ts';
import { appUserParty, e164Memo, hashIdentifier, MAX_MEMOISED_NUMBER_CHARS, phoneParty, protectedParty, toE164 } from './parties.ts';

const options = defaultNormalizeOptions();

describe('toE164', () => {
  it.each([
    ['008613800138000', '+8613800138000'], // CCC agent numbers
    ['+8613800138000', '+8613800138000'], // Huawei global format
    ['13800138000', '+8613800138000'], // bare Chinese mobile
    ['8613800138000', '+8613800138000'],
    ['075512345678', '+8675512345678'], // Shenzhen landline with trunk prefix
    ['010-1234 5678', '+861012345678'], // Beijing landline with separators
    ['+14155552671', '+14155552671'],
  ])('%s → %s', (raw, e164) => {
    expect(toE164(raw, 'CN')).toBe(e164);
  });
  it.each(['95555', '10086', '1001', 'abc', '+'])('%s is not an E.164 number', (raw) => {
    expect(toE164(raw, 'CN')).toBeNull();
  });
  // Right length, wrong digits: a mobile missing or gaining a digit, a mobile prefix that does not exist, a landline
  // without an area code, a Hong Kong number written without its + or 00 (which would become a Chinese one).
  it.each(['1380000002', '138000000211', '11112345678', '12012345678', '01234567', '85221234567', '+8610123456789'])(
    '%s has a plausible length but is not a valid number, so it is not given an E.164 form',
    (raw) => {
      expect(toE164(raw, 'CN')).toBeNull();
    },
  );
  it('still reads the valid numbers of every range the vendors write', () => {
    for (const [raw, e164] of [
      ['19912345678', '+8619912345678'],
      ['16612345678', '+8616612345678'],
      ['17012345678', '+8617012345678'],
      ['14512345678', '+8614512345678'],
      ['4008123123', '+864008123123'],
      ['0086075512345678', '+8675512345678'], // CCC doc sample: 0086 + trunk 0 + Shenzhen landline
      ['00819098841234', '+819098841234'], // CCC doc sample: a Japanese mobile with its trunk 0
      ['+852 2123 4567', '+85221234567'],
    ]) {
      expect(toE164(raw!, 'CN'), raw).toBe(e164);
    }
  });
  // A number typed through a CJK input method comes in full-width forms (U+FF10–FF19, ＋, －): the same number, so
  // the same E.164 and the same PII hash, not vendor text that joins nothing.
  it.each([
    ['１３８００１３８０００', '+8613800138000'],
    ['＋８６ １３８ ００１３ ８０００', '+8613800138000'],
    ['０７５５－１２３４５６７８', '+8675512345678'],
  ])('full-width %s → %s', (raw, e164) => {
    expect(toE164(raw, 'CN')).toBe(e164);
  });
});

describe('phoneParty', () => {
  it('never turns an empty value into a number', () => {
    for (const v of ['', '  ', null, undefined, {}]) expect(phoneParty(v, options)).toBeNull();
  });
  it('keeps unparsable numbers verbatim, flagged as not E.164', () => {
    expect(phoneParty(' 95555 ', options)).toEqual({ type: 'PHONE', value: '95555', e164: false, hashed: false, location: null });
  });
  // A JSON number is a phone number only as a whole non-negative one: the sign of -13800138000 is no separator, and
  // a fraction or a value past 2^53 (already rounded by JSON.parse) is not the digits the vendor sent.
  it('reads a JSON number as a phone number only when it is a whole non-negative safe integer', () => {
    expect(phoneParty(13800138000, options)).toMatchObject({ value: '+8613800138000', e164: true });
    for (const n of [-13800138000, -8613800138000, 13800138000.5]) {
      expect(phoneParty(n, options), String(n)).toMatchObject({ value: String(n), e164: false });
    }
  });
  it('carries the vendor location', () => {
    expect(phoneParty('008613800138000', options, '广东深圳')).toEqual({
      type: 'PHONE',
      value: '+8613800138000',
      e164: true,
      hashed: false,
      location: '广东深圳',
    });
  });
  it('hashes the E.164 form with the PII key, so spellings of one number hash alike', () => {
    const piiOptions = { ...options, piiKey: 'a-secret-key-of-16+' };
    const a = phoneParty('008613800138000', piiOptions);
    const b = phoneParty('13800138000', piiOptions);
    expect(a).toEqual({ type: 'PHONE', value: hashIdentifier('+8613800138000', 'a-secret-key-of-16+'), e164: true, hashed: true, location: null });
    expect(b?.value).toBe(a?.value);
    expect(a?.value).toMatch(/^[0-9a-f]{64}$/);
    expect(phoneParty('13800138000', { ...options, piiKey: 'another-key-of-16+' })?.value).not.toBe(a?.value);
  });
});

describe('app user and protected parties', () => {
  it('types identifiers and treats empty as absent', () => {
    expect(appUserParty('user_1')).toEqual({ type: 'APP_USER', value: 'user_1', e164: false, hashed: false, location: null });
    expect(protectedParty('p-123')).toEqual({ type: 'PROTECTED', value: 'p-123', e164: false, hashed: false, location: null });
    expect(appUserParty('')).toBeNull();
    expect(protectedParty(undefined)).toBeNull();
  });
});

describe('the phone-number memo', () => {
  const heldChars = () => [...e164Memo.keys()].reduce((n, key) => n + key.length, 0);
  const LONG = 60_000; // a field near MAX_RECORD_BYTES: a record may be that large
  // Keys are counted by their length: a key that is a slice of a longer string (a trimmed field) would hide what it
  // keeps alive, so the padded case below also checks that the memo is keyed by the whole field.

  it('holds no long text: a stream of records with distinct huge phone fields does not grow it by their size', () => {
    const before = heldChars();
    for (let i = 0; i < 50; i++) {
      const raw = `+86${'1'.repeat(LONG)}${i}`;
      expect(toE164(raw, 'CN')).toBeNull();
      // A short number padded with blanks: the trimmed text is a slice that keeps the whole field alive.
      expect(phoneParty(`${' '.repeat(LONG)}+86138001${String(i).padStart(5, '0')}`, options)?.e164).toBe(true);
    }
    expect(heldChars() - before).toBeLessThanOrEqual(50 * 2 * MAX_MEMOISED_NUMBER_CHARS);
  });

  it('still memoises numbers as vendors write them', () => {
    toE164('+86 138 0013 8000', 'CN');
    expect([...e164Memo.keys()]).toContain('+86 138 0013 8000');
  });
});
