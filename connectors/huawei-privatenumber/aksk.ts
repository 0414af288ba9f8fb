// Huawei PrivateNumber request authentication: the X-AKSK header (HMAC-SHA256) and the legacy X-WSSE header
// (plain SHA-256). The same headers sign our outgoing API calls (recording links) and the platform's pushes to us,
// so building and verifying live side by side. Result codes are the ones Huawei documents (docs/vendors.md §4 Auth).
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export type AuthScheme = 'aksk' | 'wsse';

export interface UsernameToken {
  username: string;
  passwordDigest: string;
  nonce: string;
  created: string;
}

/** A refusal with Huawei's resultcode; `status` is the HTTP status the receiver answers with. */
export interface AuthFailure {
  ok: false;
  status: 401 | 403;
  resultcode: string;
  resultdesc: string;
}

export interface AuthSuccess {
  ok: true;
  scheme: AuthScheme;
  token: UsernameToken;
  /** Epoch ms of `Created`. */
  createdAtMs: number;
}

export type AuthResult = AuthSuccess | AuthFailure;

/** `Created` is whole-second UTC, e.g. 2018-02-12T15:30:20Z (fractions tolerated when parsing). */
export function formatCreated(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Demos use a dash-less UUID; the platform accepts 1-128 chars of [0-9A-Za-z]. */
export function newNonce(): string {
  return randomUUID().replace(/-/g, '');
}

export function akskDigest(appSecret: string, nonce: string, created: string): string {
  // Base64 of the raw HMAC bytes, not of the hex string: that is what Huawei's own demos do.
  return createHmac('sha256', appSecret).update(nonce + created, 'utf8').digest('base64');
}

export function wsseDigest(appSecret: string, nonce: string, created: string): string {
  return createHash('sha256').update(nonce + created + appSecret, 'utf8').digest('base64');
}

export interface SignedHeaders {
  authorization: string;
  'x-aksk'?: string;
  'x-wsse'?: string;
}

/** Headers for one request signed as `appKey`. A fresh nonce each call: the server rejects a replayed one. */
export function buildAuthHeaders(
  appKey: string,
  appSecret: string,
  opts: { scheme?: AuthScheme; nowMs?: number; nonce?: string } = {},
): SignedHeaders {
  const scheme = opts.scheme ?? 'aksk';
  const nonce = opts.nonce ?? newNonce();
  const created = formatCreated(opts.nowMs ?? Date.now());
  if (scheme === 'aksk') {
    const digest = akskDigest(appSecret, nonce, created);
    return {
      authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"',
      'x-aksk': `UsernameToken Username="${appKey}",PasswordDigest="${digest}",Nonce="${nonce}",Created="${created}"`,
    };
  }
  const digest = wsseDigest(appSecret, nonce, created);
  return {
    authorization: 'WSSE realm="SDP",profile="UsernameToken",type="Appkey"',
    'x-wsse': `UsernameToken Username="${appKey}",PasswordDigest="${digest}",Nonce="${nonce}",Created="${created}"`,
  };
}

/** Parses `key="value", key2="value2"` (quotes optional: the WSSE demos omit them). Keys are case-sensitive. */
export function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g;
  for (const m of text.matchAll(re)) params.set(m[1]!, m[2] ?? m[3] ?? '');
  return params;
}

function fail(status: 401 | 403, resultcode: string, resultdesc: string): AuthFailure {
  return { ok: false, status, resultcode, resultdesc };
}

const NONCE_RE = /^[0-9A-Za-z]{1,128}$/;
const CREATED_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

/**
 * Checks the Authorization + X-AKSK (or X-WSSE) headers for shape and returns the token, without any secret:
 * the caller looks up the secret by Username and then calls `verifyDigest`.
 */
export function parseAuthHeaders(
  headers: Record<string, string | string[] | undefined>,
  allowWsse: boolean,
): { ok: true; scheme: AuthScheme; token: UsernameToken } | AuthFailure {
  const authorization = single(headers['authorization']);
  if (authorization === undefined || authorization.trim() === '') return fail(401, '1023006', 'No Authorization header');
  const spaceAt = authorization.indexOf(' ');
  const schemeWord = (spaceAt < 0 ? authorization : authorization.slice(0, spaceAt)).trim().toUpperCase();
  const authParams = parseParams(spaceAt < 0 ? '' : authorization.slice(spaceAt + 1));
  let scheme: AuthScheme;
  if (schemeWord === 'AKSK') scheme = 'aksk';
  else if (schemeWord === 'WSSE' && allowWsse) scheme = 'wsse';
  else return fail(401, '1023006', `Unsupported Authorization scheme "${schemeWord}"`);

  const realm = authParams.get('realm');
  if (realm === undefined) return fail(401, '1023007', 'No realm in Authorization');
  const profile = authParams.get('profile');
  if (profile === undefined) return fail(401, '1023008', 'No profile in Authorization');
  if (realm !== 'SDP') return fail(401, '1023009', 'realm must be SDP');
  if (profile !== 'UsernameToken') return fail(401, '1023010', 'profile must be UsernameToken');
  const type = authParams.get('type');
  if (type === undefined) return fail(401, '1023012', 'No type in Authorization');
  if (type !== 'Appkey') return fail(401, '1023011', 'type must be Appkey');

  const tokenHeader = single(headers[scheme === 'aksk' ? 'x-aksk' : 'x-wsse']);
  if (tokenHeader === undefined || tokenHeader.trim() === '') {
    return fail(401, '1023033', scheme === 'aksk' ? 'No X-AKSK header' : 'No X-WSSE header');
  }
  const trimmed = tokenHeader.trim();
  if (!trimmed.startsWith('UsernameToken')) return fail(401, '1023038', 'No UsernameToken');
  const p = parseParams(trimmed.slice('UsernameToken'.length));
  const username = p.get('Username');
  if (!username) return fail(401, '1023034', 'No Username');
  const nonce = p.get('Nonce');
  if (!nonce) return fail(401, '1023035', 'No Nonce');
  const created = p.get('Created');
  if (!created) return fail(401, '1023036', 'No Created');
  const passwordDigest = p.get('PasswordDigest');
  if (!passwordDigest) return fail(401, '1023037', 'No PasswordDigest');
  if (!NONCE_RE.test(nonce)) return fail(401, '1010002', 'Invalid request: Nonce must be 1-128 characters of [0-9A-Za-z]');
  if (!isRealCreated(created)) {
    return fail(401, '1010002', 'Invalid request: Created must be UTC like 2018-02-12T15:30:20Z');
  }
  return { ok: true, scheme, token: { username, passwordDigest, nonce, created } };
}

/**
 * `Created` in the documented shape and a real UTC time: Date.parse rolls 2026-02-30 over to 2 March and 24:00:00 to
 * the next midnight, so the time it reads must also print back as the whole seconds written.
 */
function isRealCreated(created: string): boolean {
  if (!CREATED_RE.test(created)) return false;
  const ms = Date.parse(created);
  return !Number.isNaN(ms) && formatCreated(ms) === created.replace(/\.\d+Z$/, 'Z');
}

/** Constant-time comparison of the presented digest with the one computed from the app secret. */
export function verifyDigest(scheme: AuthScheme, token: UsernameToken, appSecret: string): boolean {
  const expected = Buffer.from(
    scheme === 'aksk' ? akskDigest(appSecret, token.nonce, token.created) : wsseDigest(appSecret, token.nonce, token.created),
  );
  const presented = Buffer.from(token.passwordDigest);
  return expected.length === presented.length && timingSafeEqual(expected, presented);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
