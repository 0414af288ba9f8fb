// The stand-in's Huawei auth and the connector's must both reproduce the documented digests (vendors.md §4 "Auth"),
// and each must accept what the other signs. The vendor pages give no worked example, so the vector is built here
// from the documented formulas with node:crypto primitives.
import { describe, expect, it } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { akskDigest, buildAuthHeaders, parseAuthHeaders, verifyDigest, wsseDigest } from '../../connectors/huawei-privatenumber/aksk.ts';
import { checkAksk, huaweiAuthHeaders, huaweiDigest } from './sign.ts';

// A non-ASCII secret so that the UTF-8 encoding of the key is part of what is checked.
const VECTOR = { appKey: 'Z0000000abc', appSecret: 'sëcret/キー', nonce: '9f2c1e7a40b84d2b8c7e5d3a1b0f6e4d', created: '2018-02-12T15:30:20Z' };
const NOW = Date.parse(VECTOR.created);
const AKSK = createHmac('sha256', Buffer.from(VECTOR.appSecret, 'utf8')).update(Buffer.from(VECTOR.nonce + VECTOR.created, 'utf8')).digest().toString('base64');
const WSSE = createHash('sha256').update(Buffer.from(VECTOR.nonce + VECTOR.created + VECTOR.appSecret, 'utf8')).digest().toString('base64');
const secrets = new Map([[VECTOR.appKey, VECTOR.appSecret]]);

describe('Huawei auth: the stand-in and the connector against the documented formulas', () => {
  it('both compute the X-AKSK and X-WSSE digests of the vector', () => {
    expect(huaweiDigest('aksk', VECTOR.appSecret, VECTOR.nonce, VECTOR.created)).toBe(AKSK);
    expect(akskDigest(VECTOR.appSecret, VECTOR.nonce, VECTOR.created)).toBe(AKSK);
    expect(huaweiDigest('wsse', VECTOR.appSecret, VECTOR.nonce, VECTOR.created)).toBe(WSSE);
    expect(wsseDigest(VECTOR.appSecret, VECTOR.nonce, VECTOR.created)).toBe(WSSE);
  });

  it.each(['aksk', 'wsse'] as const)('both build the same %s headers for the vector', (scheme) => {
    const opts = { scheme, nowMs: NOW + 987, nonce: VECTOR.nonce };
    const ours = { ...buildAuthHeaders(VECTOR.appKey, VECTOR.appSecret, opts) };
    expect(huaweiAuthHeaders(VECTOR.appKey, VECTOR.appSecret, opts)).toEqual(ours);
    const digest = scheme === 'aksk' ? AKSK : WSSE;
    expect(ours).toEqual({
      authorization: `${scheme.toUpperCase()} realm="SDP",profile="UsernameToken",type="Appkey"`,
      [`x-${scheme}`]: `UsernameToken Username="${VECTOR.appKey}",PasswordDigest="${digest}",Nonce="${VECTOR.nonce}",Created="${VECTOR.created}"`,
    });
  });

  it("the connector accepts the stand-in's pushes, AKSK and WSSE, with the right secret only", () => {
    for (const scheme of ['aksk', 'wsse'] as const) {
      const parsed = parseAuthHeaders(huaweiAuthHeaders(VECTOR.appKey, VECTOR.appSecret, { scheme, nowMs: NOW }), true);
      expect(parsed).toMatchObject({ ok: true, scheme, token: { username: VECTOR.appKey, created: VECTOR.created } });
      if (!parsed.ok) return;
      expect(verifyDigest(scheme, parsed.token, VECTOR.appSecret)).toBe(true);
      expect(verifyDigest(scheme, parsed.token, 'other')).toBe(false);
    }
  });

  it("the stand-in accepts the connector's X-AKSK calls, with the right secret only", () => {
    expect(checkAksk({ ...buildAuthHeaders(VECTOR.appKey, VECTOR.appSecret, { nowMs: NOW }) }, secrets)).toEqual({ ok: true, appKey: VECTOR.appKey, createdMs: NOW });
    expect(checkAksk({ ...buildAuthHeaders(VECTOR.appKey, 'other', { nowMs: NOW }) }, secrets)).toMatchObject({ ok: false, resultcode: '1010003' });
    // A digest of the hex string rather than of the raw bytes is what the documentation warns against.
    const hexDigest = Buffer.from(createHmac('sha256', VECTOR.appSecret).update(VECTOR.nonce + VECTOR.created).digest('hex')).toString('base64');
    const headers = { ...buildAuthHeaders(VECTOR.appKey, VECTOR.appSecret, { nowMs: NOW, nonce: VECTOR.nonce }) };
    expect(checkAksk({ ...headers, 'x-aksk': headers['x-aksk']!.replace(AKSK, hexDigest) }, secrets)).toMatchObject({ ok: false, resultcode: '1010003' });
  });

  it.each([
    [{}, '1023006'],
    [{ authorization: 'AKSK profile="UsernameToken",type="Appkey"' }, '1023007'],
    [{ authorization: 'AKSK realm="SDP",type="Appkey"' }, '1023008'],
    [{ authorization: 'AKSK realm="X",profile="UsernameToken",type="Appkey"' }, '1023009'],
    [{ authorization: 'AKSK realm="SDP",profile="Other",type="Appkey"' }, '1023010'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Other"' }, '1023011'],
    [{ authorization: 'AKSK realm="SDP",profile="UsernameToken"' }, '1023012'],
    [{ 'x-aksk': undefined }, '1023033'],
    [{ 'x-aksk': 'Username="a"' }, '1023038'],
    [{ 'x-aksk': 'UsernameToken PasswordDigest="d",Nonce="n",Created="2018-02-12T15:30:20Z"' }, '1023034'],
    [{ 'x-aksk': 'UsernameToken Username="a",PasswordDigest="d",Created="2018-02-12T15:30:20Z"' }, '1023035'],
    [{ 'x-aksk': 'UsernameToken Username="a",PasswordDigest="d",Nonce="n"' }, '1023036'],
    [{ 'x-aksk': 'UsernameToken Username="a",Nonce="n",Created="2018-02-12T15:30:20Z"' }, '1023037'],
    [{ 'x-aksk': 'UsernameToken Username="a",PasswordDigest="d",Nonce="n-1",Created="2018-02-12T15:30:20Z"' }, '1010002'],
    [{ 'x-aksk': 'UsernameToken Username="a",PasswordDigest="d",Nonce="n",Created="2018-02-12 15:30:20"' }, '1010002'],
  ])('both refuse %j with %s', (change, resultcode) => {
    const headers: Record<string, string | undefined> = Object.keys(change).length === 0
      ? {}
      : { ...buildAuthHeaders(VECTOR.appKey, VECTOR.appSecret, { nowMs: NOW }), ...change };
    // Huawei answers a missing or malformed part with 400 (VoiceCall's result-code table); cdrflow's receiver, refusing
    // a push, answers 401 (any non-200 is a failed push to Huawei).
    expect(checkAksk(headers, secrets)).toMatchObject({ ok: false, status: resultcode.startsWith('1023') ? 400 : 401, resultcode });
    expect(parseAuthHeaders(headers, false)).toMatchObject({ ok: false, status: 401, resultcode });
  });
});
