import { describe, expect, it } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { formatTopTimestamp, parseTopTimestamp, topSign, topSignString, verifyTopSign } from './top-sign.ts';

const params: [string, string][] = [
  ['v', '2.0'],
  ['method', 'alibaba.lvms.lvr.receivecallrecord'],
  ['app_key', '12345678'],
  ['sign', 'IGNORED'],
  ['ivr_call_record_d_t_o', '{"call_record_id":3,"name":"张三"}'],
  ['Zeta', 'upper-case sorts before lower-case in ASCII'],
];

describe('TOP signing', () => {
  it('sorts names in ASCII order and drops sign', () => {
    expect(topSignString(params)).toBe(
      'Zetaupper-case sorts before lower-case in ASCIIapp_key12345678ivr_call_record_d_t_o{"call_record_id":3,"name":"张三"}methodalibaba.lvms.lvr.receivecallrecordv2.0',
    );
  });

  it('md5 / hmac / hmac-sha256 as uppercase hex over the UTF-8 bytes', () => {
    const s = topSignString(params);
    expect(topSign(params, 'sec', 'md5')).toBe(createHash('md5').update(`sec${s}sec`, 'utf8').digest('hex').toUpperCase());
    expect(topSign(params, 'sec', 'hmac')).toBe(createHmac('md5', 'sec').update(s, 'utf8').digest('hex').toUpperCase());
    expect(topSign(params, 'sec', 'hmac-sha256')).toHaveLength(64);
    expect(verifyTopSign(params, 'sec', 'hmac', topSign(params, 'sec', 'hmac').toLowerCase())).toBe(true);
    expect(verifyTopSign(params, 'other', 'hmac', topSign(params, 'sec', 'hmac'))).toBe(false);
  });

  it("accepts a signature over only the parameters with a value, as TOP's own signing sample leaves blank ones out", () => {
    const withBlank: [string, string][] = [...params, ['session', ''], ['partner_id', ' \t']];
    // TOP's Java SDK skips a blank (empty or whitespace) value when it signs; the Python SDK signs what it sends.
    const sampleSign = topSign(params, 'sec', 'hmac-sha256');
    expect(verifyTopSign(withBlank, 'sec', 'hmac-sha256', sampleSign)).toBe(true);
    expect(verifyTopSign(withBlank, 'sec', 'hmac-sha256', topSign(withBlank, 'sec', 'hmac-sha256'))).toBe(true);
    expect(verifyTopSign(withBlank, 'other', 'hmac-sha256', sampleSign)).toBe(false);
    // A value that is there cannot be left out of what was signed.
    expect(verifyTopSign(params, 'sec', 'hmac-sha256', topSign(params.filter(([name]) => name !== 'Zeta'), 'sec', 'hmac-sha256'))).toBe(false);
  });

  it('matches only the digest: another length or non-hex text is refused without throwing, hex case aside', () => {
    const right = topSign(params, 'sec', 'hmac');
    for (const other of ['', 'A', right.slice(0, -1), `${right}0`, `${right.slice(0, -2)}ß`, Buffer.from(right, 'hex').toString('base64'), topSign(params, 'sec', 'hmac-sha256')]) {
      expect(verifyTopSign(params, 'sec', 'hmac', other)).toBe(false);
    }
    expect(verifyTopSign(params, 'sec', 'hmac', right.toLowerCase())).toBe(true);
  });

  it('a parameter with a value cannot be moved into the sign, nor out of it', () => {
    const signed = topSign(params, 'sec', 'hmac-sha256');
    // `sign` itself is never part of what is signed, whatever it holds.
    expect(topSign(params.map(([k, v]) => [k, k === 'sign' ? 'OTHER' : v] as [string, string]), 'sec', 'hmac-sha256')).toBe(signed);
    const changed: [string, string][] = params.map(([k, v]) => [k, k === 'ivr_call_record_d_t_o' ? v.replace('3', '4') : v]);
    expect(verifyTopSign(changed, 'sec', 'hmac-sha256', signed)).toBe(false);
    expect(verifyTopSign([...params, ['target_app_key', 'x']], 'sec', 'hmac-sha256', signed)).toBe(false);
  });

  it('timestamps are GMT+8 regardless of TZ', () => {
    const t = Date.UTC(2024, 5, 30, 20, 15, 0);
    expect(formatTopTimestamp(t)).toBe('2024-07-01 04:15:00');
    expect(parseTopTimestamp('2024-07-01 04:15:00')).toBe(t);
    expect(parseTopTimestamp('2024-02-30 00:00:00')).toBeUndefined();
    expect(parseTopTimestamp('2024-07-01T04:15:00')).toBeUndefined();
    expect(parseTopTimestamp('2024-02-29 00:00:00')).toBe(Date.UTC(2024, 1, 28, 16));
    for (const bad of ['2023-02-29 00:00:00', '2024-12-31 23:59:60', '2024-07-01 24:00:00', '2024-07-01 04:15:00+08:00', '2024-07-01 04:15:00Z', '12024-07-01 04:15:00', '1719800100', '2024-7-1 4:15:00']) {
      expect(parseTopTimestamp(bad)).toBeUndefined();
    }
  });
});
