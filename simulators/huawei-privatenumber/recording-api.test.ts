// The recording-API stand-in refuses what Huawei's platform refuses: a stale or future Created and missing auth parts.
// Requests are signed with the stand-in's own signer or by hand, never with the connector's, whose mistakes this
// stand-in exists to catch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { huaweiAuthHeaders } from './sign.ts';
import { startRecordingApi, RECORDING_API_MAX_SKEW_MS, type RecordingApiStandIn } from './recording-api.ts';

const APP = { appKey: 'standInApp', appSecret: 'standInSecret' };
const NOW = Date.parse('2026-11-02T03:04:05Z');
let api: RecordingApiStandIn;

beforeAll(async () => {
  api = await startRecordingApi([APP], { now: () => NOW });
});
afterAll(() => api.close());

async function get(headers: Record<string, string>, query = 'fileName=a.wav&recordDomain=ostor.huawei.com') {
  const res = await fetch(`${api.url}/rest/provision/voice/record/v1.0?${query}`, {
    redirect: 'manual',
    headers: { 'content-type': 'application/json;charset=UTF-8', ...headers },
  });
  const body = await res.text();
  const answer = res.status === 301 ? undefined : (JSON.parse(body) as { resultcode: string; resultdesc: string });
  return { status: res.status, location: res.headers.get('location'), resultcode: answer?.resultcode, resultdesc: answer?.resultdesc };
}

describe('recording API stand-in', () => {
  it('answers 301 to a request signed within the skew allowed', async () => {
    for (const nowMs of [NOW, NOW - RECORDING_API_MAX_SKEW_MS + 1000, NOW + RECORDING_API_MAX_SKEW_MS - 1000]) {
      expect(await get({ ...huaweiAuthHeaders(APP.appKey, APP.appSecret, { nowMs }) })).toMatchObject({ status: 301, location: 'https://ostor.huawei.com/download/a.wav?sig=abc' });
    }
  });

  it('answers 301 to headers built by hand from the documented X-AKSK formula, and refuses a wrong digest', async () => {
    const created = '2026-11-02T03:04:05Z';
    const nonce = '0123456789abcdefABCDEF';
    const digest = (secret: string) => createHmac('sha256', secret).update(nonce + created).digest('base64');
    const headers = (secret: string) => ({
      authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"',
      'x-aksk': `UsernameToken Username="${APP.appKey}",PasswordDigest="${digest(secret)}",Nonce="${nonce}",Created="${created}"`,
    });
    expect(await get(headers(APP.appSecret))).toMatchObject({ status: 301 });
    expect(await get(headers('otherSecret'))).toMatchObject({ status: 401, resultcode: '1010003' });
  });

  it('refuses a Created too far from its clock with 1010013, past or future', async () => {
    for (const nowMs of [NOW - 3600_000, NOW + RECORDING_API_MAX_SKEW_MS + 1000]) {
      expect(await get({ ...huaweiAuthHeaders(APP.appKey, APP.appSecret, { nowMs }) })).toMatchObject({ status: 403, resultcode: '1010013' });
    }
  });

  it('names the missing part of the credentials with Huawei result codes', async () => {
    const signed = huaweiAuthHeaders(APP.appKey, APP.appSecret, { nowMs: NOW });
    // 400, as the VoiceCall twin's result-code table gives these codes; the PrivateNumber pages give no status.
    expect(await get({})).toMatchObject({ status: 400, resultcode: '1023006' });
    expect(await get({ authorization: signed['authorization']! })).toMatchObject({ status: 400, resultcode: '1023033' });
    expect(await get({ ...huaweiAuthHeaders('someoneElse', APP.appSecret, { nowMs: NOW }) })).toMatchObject({ status: 401, resultcode: '1010003' });
  });

  it('takes fileName and recordDomain as String(1-128), as documented: missing, empty or longer is 400 1010002', async () => {
    const signed = () => huaweiAuthHeaders(APP.appKey, APP.appSecret, { nowMs: NOW });
    const name = (n: number) => 'f'.repeat(n - 4) + '.wav';
    // A host name of exactly n characters (labels of at most 63).
    const domain = (n: number) => ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(n - 128)].join('.');
    const edge = `fileName=${name(128)}&recordDomain=${domain(128)}`;
    expect(await get(signed(), edge)).toMatchObject({ status: 301, location: `https://${domain(128)}/download/${name(128)}?sig=abc` });
    // Characters, not bytes: 128 CJK characters are 384 bytes of UTF-8.
    expect(await get(signed(), `fileName=${encodeURIComponent('录'.repeat(124) + '.wav')}&recordDomain=ostor.huawei.com`)).toMatchObject({ status: 301 });
    for (const query of [
      `fileName=${name(129)}&recordDomain=ostor.huawei.com`,
      `fileName=a.wav&recordDomain=${domain(129)}`,
      `fileName=${'x'.repeat(8192)}&recordDomain=ostor.huawei.com`,
      'fileName=&recordDomain=ostor.huawei.com',
      'fileName=a.wav&recordDomain=',
      'recordDomain=ostor.huawei.com',
      'fileName=a.wav',
    ]) {
      expect(await get(signed(), query), query.slice(0, 80)).toMatchObject({ status: 400, resultcode: '1010002', resultdesc: expect.stringMatching(/^Invalid request: (fileName|recordDomain) /) });
    }
  });
});
