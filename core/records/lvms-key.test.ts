import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkLvmsDto, lvmsNaturalKey } from './lvms-key.ts';

describe('lvmsNaturalKey', () => {
  it('uses call_record_id with every digit of a Java long', () => {
    expect(lvmsNaturalKey('{"call_record_id":9007199254740993123}')).toEqual({ key: '9007199254740993123', source: 'call_record_id' });
    expect(lvmsNaturalKey('{"call_record_id":"0042"}')).toEqual({ key: '42', source: 'call_record_id' });
  });

  it('falls back to job|called|start when call_record_id is absent or null', () => {
    const dto = '{"call_record_id":null,"robot_call_job_id":77,"called_phone_number":"13800000000","start_time":"2024-01-01 08:00:00"}';
    expect(lvmsNaturalKey(dto)).toEqual({ key: 'job:77|13800000000|2024-01-01 08:00:00', source: 'composite' });
  });

  it('checkLvmsDto takes a blank call_record_id as absent, like null: composite key, else the content key', () => {
    // Refused, it was an error a TOP client does not retry and the call was lost; lvmsNaturalKey (normalize) already
    // read a blank as no id, so the door and normalize now key the DTO alike.
    for (const blank of ['""', '"  "']) {
      const composite = `{"call_record_id":${blank},"robot_call_job_id":77,"called_phone_number":"13800000000","start_time":"2024-01-01 08:00:00"}`;
      expect(checkLvmsDto(composite)).toEqual({ ok: true, key: lvmsNaturalKey(composite) });
      expect(lvmsNaturalKey(composite)).toEqual({ key: 'job:77|13800000000|2024-01-01 08:00:00', source: 'composite' });
      const keyless = `{"call_record_id":${blank},"name":"x"}`;
      expect(checkLvmsDto(keyless)).toEqual({ ok: true, key: { key: `sha256:${createHash('sha256').update(keyless).digest('hex')}`, source: 'payload-sha256' } });
    }
  });

  it('gives undefined when no key can be formed', () => {
    expect(lvmsNaturalKey('{"robot_call_job_id":77,"called_phone_number":""}')).toBeUndefined();
    expect(lvmsNaturalKey('[]')).toBeUndefined();
  });

  it('checkLvmsDto refuses non-JSON, non-objects and non-integer ids; a keyless DTO is taken under a key its text gives', () => {
    expect(checkLvmsDto('{bad')).toMatchObject({ ok: false, problem: expect.stringContaining('not valid JSON') });
    expect(checkLvmsDto('"x"')).toMatchObject({ ok: false, problem: expect.stringContaining('JSON object') });
    expect(checkLvmsDto('{"call_record_id":"abc","robot_call_job_id":1,"called_phone_number":"1","start_time":"t"}')).toMatchObject({ ok: false, problem: expect.stringContaining('integer') });
    // Stored raw for normalize to dead-letter, not refused with an error a TOP client does not retry; the same text
    // (a re-push) gives the same key.
    const keyless = '{"name":"x"}';
    expect(checkLvmsDto(keyless)).toEqual({ ok: true, key: { key: `sha256:${createHash('sha256').update(keyless).digest('hex')}`, source: 'payload-sha256' } });
    expect(lvmsNaturalKey(keyless)).toBeUndefined();
    expect(checkLvmsDto('{"call_record_id":1.5}')).toMatchObject({ ok: false });
    expect(checkLvmsDto('{"call_record_id":5}')).toEqual({ ok: true, key: { key: '5', source: 'call_record_id' } });
  });
});
