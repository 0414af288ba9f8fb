// Call parties. Phone numbers become E.164 when libphonenumber-js accepts them; an empty string is never a number
// (CCC blanks protected numbers); app user ids (TRTC) and protection ids (CCC) are typed so analysts never join them
// against phone numbers. With a PII key, numbers are replaced by a keyed hash of their E.164 form, so the same
// number still joins across vendors without being readable.
import { createHmac } from 'node:crypto';
// The full ("max") metadata, not the package default ("min"): with "min", isValid() only checks a number's length,
// so a mobile missing a digit (1380000002), a prefix that does not exist (111…) or a Hong Kong number written without
// its + (85221234567) came out as a "valid" +86 E.164 number. Costs ~3 µs more per distinct number (memoised below).
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { Party } from './cdr.ts';
import type { NormalizeOptions } from './context.ts';
import { GroupedMemo } from './memo.ts';

/** Separators people and vendors put inside numbers; they carry no meaning for routing. */
const SEPARATORS = /[\s\-().]/g;
/**
 * Full-width ASCII forms (U+FF01–FF5E): digits, ＋, －, （） typed through a CJK input method are the same number, so
 * they are read as ASCII and get the same E.164 form and PII hash as its ASCII spelling. Only this block: NFKC would
 * also read circled or superscript digits as a number.
 */
const FULL_WIDTH = /[\uFF01-\uFF5E]/g;

function textOf(raw: unknown): string | null {
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  if (typeof raw !== 'string') return null;
  const t = raw.trim();
  return t === '' ? null : t;
}

/** Candidate international form, or null to parse as a national number of the default region. */
function internationalForm(digits: string): string | null {
  if (digits.startsWith('+')) return digits;
  // 00 is the international prefix in China; CCC writes agent numbers as 0086….
  if (digits.startsWith('00')) return `+${digits.slice(2)}`;
  // 86 + an 11-digit mobile (13 digits): a country code written without its prefix; a Chinese national number never
  // starts with 86 at that length.
  if (/^861[3-9]\d{9}$/.test(digits)) return `+${digits}`;
  return null;
}

/**
 * libphonenumber-js costs ~10 µs a number; hotline, agent and line numbers recur in nearly every record, so parses are
 * memoised. Bounded: dropped wholesale when full, which costs one re-parse per number, never a wrong answer.
 */
export const e164Memo = new GroupedMemo<string, string | null>(50_000);

/**
 * Longest text memoised: a number as written (at most 15 digits, a 00 prefix, separators) is far shorter. A field may
 * be as long as its record (MAX_RECORD_BYTES), and 50,000 distinct long ones held the memo at gigabytes; longer text is
 * parsed each time (libphonenumber-js refuses it at once).
 */
export const MAX_MEMOISED_NUMBER_CHARS = 64;

/** E.164 form of a phone number, or null when it cannot be read as a valid number. */
export function toE164(raw: string, region: NormalizeOptions['defaultRegion']): string | null {
  if (raw.length > MAX_MEMOISED_NUMBER_CHARS) return parseE164(raw, region);
  const memo = e164Memo.of(region);
  const cached = memo.get(raw);
  if (cached !== undefined) return cached;
  return e164Memo.remember(memo, raw, parseE164(raw, region));
}

function parseE164(raw: string, region: NormalizeOptions['defaultRegion']): string | null {
  const compact = raw.replace(FULL_WIDTH, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)).replace(SEPARATORS, '');
  if (!/^\+?\d+$/.test(compact)) return null;
  const intl = internationalForm(compact);
  const parsed = intl ? parsePhoneNumberFromString(intl) : parsePhoneNumberFromString(compact, region);
  return parsed?.isValid() ? parsed.number : null;
}

export function hashIdentifier(value: string, key: string): string {
  return createHmac('sha256', key).update(value).digest('hex');
}

/**
 * A phone party: null when there is no number ('' / null / missing); PHONE with the E.164 value when valid; PHONE
 * with the vendor's text and e164=false when it is not a valid number (short codes, extensions, garbage), so nothing
 * the vendor said is lost.
 */
export function phoneParty(raw: unknown, options: NormalizeOptions, location: string | null = null): Party | null {
  const text = textOf(raw);
  if (text === null) return null;
  // A JSON number is the vendor's digits only when whole, non-negative and safe: the minus of -13800138000 would be
  // dropped as a separator and a made-up +86 number come out; a fraction or a rounded value past 2^53 is no number.
  const readable = typeof raw !== 'number' || (Number.isSafeInteger(raw) && raw >= 0);
  // The field as written, blanks included (parseE164 drops them as separators): its trimmed text may be a slice that
  // keeps the whole field alive, so a short number padded to a huge field would be memoised at the field's size.
  const e164 = readable ? toE164(typeof raw === 'string' ? raw : text, options.defaultRegion) : null;
  const value = e164 ?? text;
  if (options.piiKey !== null) {
    return { type: 'PHONE', value: hashIdentifier(value, options.piiKey), e164: e164 !== null, hashed: true, location };
  }
  return { type: 'PHONE', value, e164: e164 !== null, hashed: false, location };
}

/** An app user id (TRTC caller/callees); not a number, so never parsed or hashed as one. */
export function appUserParty(id: unknown): Party | null {
  const text = textOf(id);
  return text === null ? null : { type: 'APP_USER', value: text, e164: false, hashed: false, location: null };
}

/** A vendor protection id (CCC ProtectedCaller/ProtectedCallee): already pseudonymous. */
export function protectedParty(id: unknown, location: string | null = null): Party | null {
  const text = textOf(id);
  return text === null ? null : { type: 'PROTECTED', value: text, e164: false, hashed: false, location };
}
