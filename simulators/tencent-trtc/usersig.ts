// Server-side UserSig (TLS sig v2) verification for the simulator: base64url-unescape, inflate, HMAC-SHA256 over
// the documented lines with the app's key, then expiry (docs/vendors.md §2 "Auth"). Independent of the signing library.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { inflateSync } from 'node:zlib';

export type UserSigResult =
  | { ok: true; identifier: string; sdkAppId: number; expiresAt: number }
  | { ok: false; code: number; message: string };

/** IM REST common codes for UserSig problems (Tencent IM error-code table; see the connector's notes). */
export const USERSIG_ERRORS = {
  expired: 70001,
  empty: 70002,
  undecodable: 70003,
  verifyFailed: 70009,
  identifierMismatch: 70013,
  sdkAppIdMismatch: 70014,
} as const;

export function decodeUserSig(sig: string): Record<string, unknown> {
  const b64 = sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
  return JSON.parse(inflateSync(Buffer.from(b64, 'base64')).toString('utf8')) as Record<string, unknown>;
}

export function verifyUserSig(sig: string, expected: { sdkAppId: number; identifier: string; key: string; nowSec: number }): UserSigResult {
  if (!sig) return { ok: false, code: USERSIG_ERRORS.empty, message: 'UserSig is empty.' };
  let doc: Record<string, unknown>;
  try {
    doc = decodeUserSig(sig);
  } catch {
    return { ok: false, code: USERSIG_ERRORS.undecodable, message: 'UserSig could not be decoded.' };
  }
  const identifier = doc['TLS.identifier'];
  const app = doc['TLS.sdkappid'];
  const time = doc['TLS.time'];
  const expire = doc['TLS.expire'];
  const mac = doc['TLS.sig'];
  if (doc['TLS.ver'] !== '2.0' || typeof identifier !== 'string' || typeof app !== 'number' || typeof time !== 'number' || typeof expire !== 'number' || typeof mac !== 'string') {
    return { ok: false, code: USERSIG_ERRORS.undecodable, message: 'UserSig is not a TLS sig v2 document.' };
  }
  if (app !== expected.sdkAppId) return { ok: false, code: USERSIG_ERRORS.sdkAppIdMismatch, message: `UserSig was issued for SDKAppID ${app}, not ${expected.sdkAppId}.` };
  if (identifier !== expected.identifier) {
    return { ok: false, code: USERSIG_ERRORS.identifierMismatch, message: `UserSig was issued for "${identifier}", the request names "${expected.identifier}".` };
  }
  let content = `TLS.identifier:${identifier}\nTLS.sdkappid:${app}\nTLS.time:${time}\nTLS.expire:${expire}\n`;
  if (typeof doc['TLS.userbuf'] === 'string') content += `TLS.userbuf:${doc['TLS.userbuf']}\n`;
  const want = createHmac('sha256', expected.key).update(content).digest();
  const got = Buffer.from(mac, 'base64');
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    return { ok: false, code: USERSIG_ERRORS.verifyFailed, message: 'UserSig verification failed (wrong secret key?).' };
  }
  if (expected.nowSec > time + expire) return { ok: false, code: USERSIG_ERRORS.expired, message: `UserSig expired at ${time + expire}.` };
  return { ok: true, identifier, sdkAppId: app, expiresAt: time + expire };
}
