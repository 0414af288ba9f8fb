// The submitter's own TOP request signing (docs/vendors.md §3 "Auth: TOP signing"), written from the protocol page and
// not shared with connectors/alibaba-lvms/top-sign.ts on purpose: the receiver verifies with that file, and a mistake
// common to both would pass every test. Every parameter but `sign` is signed, blank ones included, as the Python SDK
// does (TOP's Java sample leaves blank values out; the receiver accepts either).
import { createHash, createHmac } from 'node:crypto';

/** The three `sign_method` values the protocol page lists. */
export const TOP_SIGN_METHODS = ['md5', 'hmac', 'hmac-sha256'] as const;
export type TopSignMethod = (typeof TOP_SIGN_METHODS)[number];

/** Uppercase hex of md5(secret + s + secret), HMAC-MD5(secret, s) or HMAC-SHA256(secret, s); s = sorted name+value. */
export function signTopParams(params: Iterable<readonly [string, string]>, secret: string, method: TopSignMethod): string {
  const byName = new Map([...params].filter(([name]) => name !== 'sign'));
  // Names in ASCII (code unit) order, which is what Array.prototype.sort does without a comparator.
  const s = Buffer.from([...byName.keys()].sort().map((name) => name + byName.get(name)!).join(''), 'utf8');
  const key = Buffer.from(secret, 'utf8');
  const digest =
    method === 'md5'
      ? createHash('md5').update(Buffer.concat([key, s, key]))
      : createHmac(method === 'hmac' ? 'md5' : 'sha256', key).update(s);
  return digest.digest('hex').toUpperCase();
}

/** TOP's `timestamp`: `yyyy-MM-dd HH:mm:ss` on the clock of Beijing (GMT+8, no daylight saving). */
export function topTimestamp(epochMs: number): string {
  const beijing = new Date(epochMs + 8 * 3_600_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${beijing.getUTCFullYear()}-${pad(beijing.getUTCMonth() + 1)}-${pad(beijing.getUTCDate())} ${pad(beijing.getUTCHours())}:${pad(beijing.getUTCMinutes())}:${pad(beijing.getUTCSeconds())}`;
}
