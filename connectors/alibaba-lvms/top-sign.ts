// Alibaba TOP request signing (docs/vendors.md §3 Auth): sort every parameter except `sign` by name (ASCII order),
// concatenate name+value, digest the UTF-8 bytes with md5 (secret+s+secret), hmac (HMAC-MD5) or hmac-sha256, and
// write uppercase hex. Used to verify incoming TOP calls and by the LVMS submitter to sign its own.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { SignMethod } from './config.ts';

export function topSignString(params: Iterable<[string, string]>): string {
  const entries = [...params].filter(([name]) => name !== 'sign');
  // ASCII order of names, as TOP's SDKs sort (Java TreeMap / byte order), not locale order.
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.map(([name, value]) => name + value).join('');
}

export function topSign(params: Iterable<[string, string]>, secret: string, method: SignMethod): string {
  const s = topSignString(params);
  switch (method) {
    case 'md5':
      return createHash('md5').update(secret + s + secret, 'utf8').digest('hex').toUpperCase();
    case 'hmac':
      return createHmac('md5', secret).update(s, 'utf8').digest('hex').toUpperCase();
    case 'hmac-sha256':
      return createHmac('sha256', secret).update(s, 'utf8').digest('hex').toUpperCase();
  }
}

export function verifyTopSign(params: Iterable<[string, string]>, secret: string, method: SignMethod, presented: string): boolean {
  // Clients differ in hex case; the digest, not the spelling, is what must match.
  const given = Buffer.from(presented.toUpperCase());
  const matches = (entries: [string, string][]) => {
    const expected = Buffer.from(topSign(entries, secret, method));
    return expected.length === given.length && timingSafeEqual(expected, given);
  };
  const all = [...params];
  if (matches(all)) return true;
  // TOP's own signing sample (the Java SDK's signTopRequest) leaves out a parameter whose value is empty or blank,
  // while the Python SDK signs every parameter it sends: a blank one sent along may be in the signature or not.
  const valued = all.filter(([, value]) => !BLANK.test(value));
  return valued.length < all.length && matches(valued);
}

/** Empty, or only the ASCII white space Java's Character.isWhitespace (the sample's blank test) knows. */
const BLANK = /^[\t\n\v\f\r ]*$/;

/** TOP's `timestamp`: `yyyy-MM-dd HH:mm:ss` in GMT+8, whatever the local zone is. */
export function formatTopTimestamp(epochMs: number): string {
  return new Date(epochMs + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Epoch ms of a TOP timestamp, or undefined when it is not `yyyy-MM-dd HH:mm:ss` or not a real date. */
export function parseTopTimestamp(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(utc);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return utc - 8 * 3600_000;
}
