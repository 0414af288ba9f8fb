import { describe, expect, it } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { akskDigest, buildAuthHeaders, formatCreated, parseAuthHeaders, verifyDigest, wsseDigest } from './aksk.ts';

describe('X-AKSK', () => {
  it('digest is Base64 of the raw HMAC-SHA256 bytes of Nonce+Created', () => {
    const raw = createHmac('sha256', 'secret').update('abc2018-02-12T15:30:20Z').digest();
    expect(akskDigest('secret', 'abc', '2018-02-12T15:30:20Z')).toBe(raw.toString('base64'));
    expect(akskDigest('secret', 'abc', '2018-02-12T15:30:20Z')).not.toBe(Buffer.from(raw.toString('hex')).toString('base64'));
  });

  it('Created is whole-second UTC', () => {
    expect(formatCreated(Date.UTC(2018, 1, 12, 15, 30, 20, 987))).toBe('2018-02-12T15:30:20Z');
  });

  it('round-trips: built headers parse and verify with the right secret only', () => {
    const h = buildAuthHeaders('app1', 's3cret', { nowMs: Date.UTC(2024, 0, 1), nonce: 'N0nce' });
    const parsed = parseAuthHeaders({ ...h }, false);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.token).toMatchObject({ username: 'app1', nonce: 'N0nce', created: '2024-01-01T00:00:00Z' });
    expect(verifyDigest('aksk', parsed.token, 's3cret')).toBe(true);
    expect(verifyDigest('aksk', parsed.token, 'other')).toBe(false);
  });

  it('verifies only the exact Base64 of the digest, and a digest of another length is refused without throwing', () => {
    const token = { username: 'app1', nonce: 'N0nce', created: '2024-01-01T00:00:00Z', passwordDigest: '' };
    const right = akskDigest('s3cret', token.nonce, token.created);
    expect(right).toMatch(/=$/);
    const raw = Buffer.from(right, 'base64');
    for (const other of ['', 'x', right.replace(/=+$/, ''), `${right}=`, raw.toString('hex'), raw.toString('base64url'), right.slice(0, -2) + 'é']) {
      expect(verifyDigest('aksk', { ...token, passwordDigest: other }, 's3cret')).toBe(false);
    }
    expect(verifyDigest('aksk', { ...token, passwordDigest: right }, 's3cret')).toBe(true);
  });

  it('legacy WSSE verifies only when allowed, with the plain SHA-256 digest', () => {
    const h = buildAuthHeaders('app1', 's3cret', { scheme: 'wsse', nonce: 'abc', nowMs: Date.UTC(2018, 1, 12, 15, 30, 20) });
    expect(parseAuthHeaders({ ...h }, false)).toMatchObject({ ok: false, resultcode: '1023006' });
    const parsed = parseAuthHeaders({ ...h }, true);
    expect(parsed.ok && verifyDigest('wsse', parsed.token, 's3cret')).toBe(true);
    // Base64 of the plain SHA-256 of Nonce+Created+secret, computed here: not from wsseDigest, which also signs and verifies.
    const plain = createHash('sha256').update('abc2018-02-12T15:30:20Zs3cret').digest('base64');
    expect(parsed.ok && parsed.token.passwordDigest).toBe(plain);
    expect(wsseDigest('s3cret', 'abc', '2018-02-12T15:30:20Z')).toBe(plain);
    expect(parsed.ok && verifyDigest('wsse', { ...parsed.token, passwordDigest: createHmac('sha256', 's3cret').update('abc2018-02-12T15:30:20Z').digest('base64') }, 's3cret')).toBe(false);
  });

  it.each([
    [{}, '1023006'],
    [{ authorization: 'AKSK profile="UsernameToken",type="Appkey"' }, '1023007'],
    [{ authorization: 'AKSK realm="SDP",type="Appkey"' }, '1023008'],
    [{ authorization: 'AKSK realm="X",profile="UsernameToken",type="Appkey"' }, '1023009'],
    [{ authorization: 'AKSK realm="SDP",profile="Other",type="Appkey"' }, '1023010'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="User"' }, '1023011'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken"' }, '1023012'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"' }, '1023033'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'Token x="1"' }, '1023038'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Nonce="a"' }, '1023034'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a"' }, '1023035'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a",Nonce="b"' }, '1023036'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a",Nonce="b",Created="2020-01-01T00:00:00Z"' }, '1023037'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a",Nonce="b-c",Created="2020-01-01T00:00:00Z",PasswordDigest="x"' }, '1010002'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a",Nonce="b",Created="2020-01-01 00:00:00",PasswordDigest="x"' }, '1010002'],
    // Not a real time: Date.parse rolls these over (to 2 March, to the next midnight) instead of refusing them.
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a",Nonce="b",Created="2026-02-30T00:00:00Z",PasswordDigest="x"' }, '1010002'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a",Nonce="b",Created="2026-03-01T24:00:00Z",PasswordDigest="x"' }, '1010002'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a",Nonce="b",Created="2026-12-31T23:59:60Z",PasswordDigest="x"' }, '1010002'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a",Nonce="b",Created="2026-03-01T08:00:00+08:00",PasswordDigest="x"' }, '1010002'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"', 'x-aksk': 'UsernameToken Username="a",Nonce="b",Created="+275760-09-13T00:00:00Z",PasswordDigest="x"' }, '1010002'],
  ])('refuses %j with Huawei code %s', (headers, code) => {
    expect(parseAuthHeaders(headers, false)).toMatchObject({ ok: false, resultcode: code, status: 401 });
  });
});
