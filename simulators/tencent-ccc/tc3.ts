// Server-side TC3-HMAC-SHA256 verification for the simulator (docs/vendors.md §1 "Auth"). Hand-written on purpose:
// the connector signs with Tencent's SDK, and checking it against an independent implementation is the point.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface Tc3Request {
  method: string;
  /** Lower-cased header names. */
  headers: Record<string, string | string[] | undefined>;
  query: string;
  body: Buffer;
}

export type Tc3Result =
  | { ok: true; secretId: string }
  | { ok: false; code: string; message: string };

const sha256hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, msg: string) => createHmac('sha256', key).update(msg, 'utf8').digest();

const AUTH_RE = /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([^/]+)\/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

function header(req: Tc3Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The signature a client holding `secretKey` would send (also used by the unit tests as a reference). */
export function tc3Signature(opts: { secretKey: string; service: string; timestamp: number; canonicalRequest: string }): string {
  const date = new Date(opts.timestamp * 1000).toISOString().slice(0, 10);
  const scope = `${date}/${opts.service}/tc3_request`;
  const stringToSign = `TC3-HMAC-SHA256\n${opts.timestamp}\n${scope}\n${sha256hex(opts.canonicalRequest)}`;
  const kDate = hmac(`TC3${opts.secretKey}`, date);
  const kService = hmac(kDate, opts.service);
  const kSigning = hmac(kService, 'tc3_request');
  return createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
}

export function verifyTc3(
  req: Tc3Request,
  opts: { secrets: ReadonlyMap<string, string>; service: string; nowSec: number; maxSkewSec?: number },
): Tc3Result {
  const auth = header(req, 'authorization');
  if (!auth) return { ok: false, code: 'AuthFailure.SignatureFailure', message: 'The Authorization header is missing.' };
  const m = AUTH_RE.exec(auth);
  if (!m) return { ok: false, code: 'AuthFailure.InvalidAuthorization', message: 'The Authorization header is not a valid TC3-HMAC-SHA256 credential.' };
  const [, secretId, date, service, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string];
  const tsText = header(req, 'x-tc-timestamp');
  const ts = Number(tsText);
  if (!tsText || !Number.isInteger(ts)) return { ok: false, code: 'MissingParameter', message: 'X-TC-Timestamp is missing or not an integer.' };
  if (Math.abs(opts.nowSec - ts) > (opts.maxSkewSec ?? 300)) {
    return { ok: false, code: 'AuthFailure.SignatureExpire', message: `Signature expired: X-TC-Timestamp ${ts} differs from server time ${opts.nowSec} by more than 5 minutes.` };
  }
  const secretKey = opts.secrets.get(secretId);
  if (secretKey === undefined) return { ok: false, code: 'AuthFailure.SecretIdNotFound', message: `SecretId ${secretId} not found.` };
  if (service !== opts.service) return { ok: false, code: 'AuthFailure.SignatureFailure', message: `Credential scope service "${service}" is not "${opts.service}".` };
  if (date !== new Date(ts * 1000).toISOString().slice(0, 10)) {
    return { ok: false, code: 'AuthFailure.SignatureFailure', message: 'Credential date does not match the UTC date of X-TC-Timestamp.' };
  }
  const names = signedHeaders.split(';');
  if (!names.includes('content-type') || !names.includes('host')) {
    return { ok: false, code: 'AuthFailure.SignatureFailure', message: 'SignedHeaders must include content-type and host.' };
  }
  const canonicalHeaders = names
    .map((n) => {
      let v = (header(req, n) ?? '').trim();
      // Tencent signs the host name; the Host header may carry a port for non-default endpoints.
      if (n === 'host') v = v.replace(/:\d+$/, '');
      return `${n}:${n === 'content-type' || n === 'host' ? v.toLowerCase() : v}\n`;
    })
    .join('');
  const canonicalRequest = [req.method.toUpperCase(), '/', req.query, canonicalHeaders, signedHeaders, sha256hex(req.body)].join('\n');
  const expected = tc3Signature({ secretKey, service, timestamp: ts, canonicalRequest });
  if (!timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(signature, 'hex'))) {
    return { ok: false, code: 'AuthFailure.SignatureFailure', message: 'The provided credentials could not be validated. Please check your signature is correct.' };
  }
  return { ok: true, secretId };
}
