// The submitter's TOP signing and the connector's must both reproduce the documented signature (vendors.md §3 "Auth:
// TOP signing"), and the connector must accept what the submitter signs. The protocol page gives no worked example,
// so the vector is built here: the sorted name+value string is written out by hand and digested with node:crypto.
import { describe, expect, it } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { formatTopTimestamp, topSign, verifyTopSign } from '../../connectors/alibaba-lvms/top-sign.ts';
import { signTopParams, topTimestamp, type TopSignMethod } from './sign.ts';

const SECRET = 'sëcret-密钥';
const PARAMS: [string, string][] = [
  ['v', '2.0'],
  ['sign_method', 'PLACEHOLDER'],
  ['timestamp', '2024-07-01 04:15:00'],
  ['method', 'alibaba.lvms.lvr.receivecallrecord'],
  ['app_key', '12345678'],
  ['ivr_call_record_d_t_o', '{"call_record_id":3,"name":"张三"}'],
  ['Zeta', 'upper case sorts first'],
  ['_x', 'underscore sorts between upper and lower case'],
  ['partner_id', ''],
  ['format', 'json'],
  ['sign', 'NEVER SIGNED'],
];

const withMethod = (method: TopSignMethod, params = PARAMS): [string, string][] =>
  params.map(([name, value]) => [name, name === 'sign_method' ? method : value]);
const withoutBlank = (params: [string, string][]) => params.filter(([, value]) => value.trim() !== '');

/** name+value in ASCII order of the names, `sign` left out, written out by hand. */
function sortedString(method: TopSignMethod, blank: boolean): string {
  return (
    'Zetaupper case sorts first' +
    '_xunderscore sorts between upper and lower case' +
    'app_key12345678' +
    'formatjson' +
    'ivr_call_record_d_t_o{"call_record_id":3,"name":"张三"}' +
    'methodalibaba.lvms.lvr.receivecallrecord' +
    (blank ? 'partner_id' : '') +
    `sign_method${method}` +
    'timestamp2024-07-01 04:15:00' +
    'v2.0'
  );
}

function expected(method: TopSignMethod, blank: boolean): string {
  const s = Buffer.from(sortedString(method, blank), 'utf8');
  const key = Buffer.from(SECRET, 'utf8');
  if (method === 'md5') return createHash('md5').update(Buffer.concat([key, s, key])).digest('hex').toUpperCase();
  return createHmac(method === 'hmac' ? 'md5' : 'sha256', key).update(s).digest('hex').toUpperCase();
}

describe('TOP signing: the submitter and the connector against the documented algorithm', () => {
  it.each(['md5', 'hmac', 'hmac-sha256'] as const)('both reproduce the %s vector, with and without the blank parameter', (method) => {
    const all = withMethod(method);
    expect(expected(method, true)).toMatch(method === 'hmac-sha256' ? /^[0-9A-F]{64}$/ : /^[0-9A-F]{32}$/);
    expect(signTopParams(all, SECRET, method)).toBe(expected(method, true));
    expect(topSign(all, SECRET, method)).toBe(expected(method, true));
    // TOP's Java sample leaves blank values out of what it signs.
    expect(signTopParams(withoutBlank(all), SECRET, method)).toBe(expected(method, false));
    expect(topSign(withoutBlank(all), SECRET, method)).toBe(expected(method, false));
  });

  it.each(['md5', 'hmac', 'hmac-sha256'] as const)("the connector accepts the submitter's %s signature, blank parameter signed or not", (method) => {
    const all = withMethod(method);
    expect(verifyTopSign(all, SECRET, method, signTopParams(all, SECRET, method))).toBe(true);
    expect(verifyTopSign(all, SECRET, method, signTopParams(withoutBlank(all), SECRET, method))).toBe(true);
    expect(verifyTopSign(all, 'other', method, signTopParams(all, SECRET, method))).toBe(false);
  });

  it('both write the timestamp on the GMT+8 clock', () => {
    const t = Date.UTC(2024, 5, 30, 20, 15, 0);
    expect(topTimestamp(t)).toBe('2024-07-01 04:15:00');
    expect(formatTopTimestamp(t)).toBe('2024-07-01 04:15:00');
    expect(topTimestamp(Date.UTC(2024, 11, 31, 16, 0, 0, 999))).toBe('2025-01-01 00:00:00');
    expect(formatTopTimestamp(Date.UTC(2024, 11, 31, 16, 0, 0, 999))).toBe('2025-01-01 00:00:00');
  });
});
