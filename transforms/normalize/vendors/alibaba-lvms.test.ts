import { describe, expect, it } from 'vitest';
import type { RawEnvelope } from '../../../core/envelope.ts';
import { avroType } from '../../../core/avro.ts';
import { SCHEMA_FILES } from '../../../core/topology.ts';
import type { NormalizedCdr } from '../cdr.ts';
import { defaultNormalizeContext, defaultNormalizeOptions } from '../context.ts';
import type { NormalizeContext } from '../context.ts';
import { hashIdentifier } from '../parties.ts';
import type { NormalizeResult } from '../result.ts';
import { normalize } from '../normalize.ts';
import { mapAlibabaLvms } from './alibaba-lvms.ts';
import { rawEnvelope } from '../fixtures/envelope.ts';
import { checkLvmsDto, lvmsNaturalKey } from '../../../core/records/lvms-key.ts';
import { LVMS_RESULT_STATUSES, LVMS_UNDOCUMENTED_STATUS, LvmsDtoGenerator } from '../../../simulators/alibaba-lvms/submitter.ts';

const APP_KEY = '12345678';

const answered = (): Record<string, unknown> => ({
  call_record_id: 880001,
  robot_call_job_id: 5001,
  called_phone_number: '13800138000',
  result_status: 'ANSWERED',
  full_audio_url: 'https://oss.example.com/audio/880001.wav',
  chat_duration: 61,
  start_time: '2026-03-02 10:00:00',
  end_time: '2026-03-02 10:01:15',
  name: '张三',
  properties: '{"loan_id":"L-1"}',
  intent_level_detail_name: 'A级(较强)',
  tenant_phone_number_id: 77,
  phone_number: '02161234567',
  intent_level_code: 0,
  intent_level_tag_id: 0,
});

function envelopeFor(payload: string, naturalKey: string): RawEnvelope {
  return rawEnvelope({ vendor: 'alibaba-lvms', tenant_id: APP_KEY, natural_key: naturalKey, received_at: new Date('2026-03-02T02:02:00Z'), connector: 'lvms-receiver', request_id: 'req-1', payload });
}

function map(record: Record<string, unknown>, ctx: NormalizeContext = defaultNormalizeContext(), naturalKey?: string): NormalizeResult {
  const payload = JSON.stringify(record);
  return mapAlibabaLvms(JSON.parse(payload), envelopeFor(payload, naturalKey ?? String(record['call_record_id'] ?? '')), ctx);
}

function cdrOf(result: NormalizeResult): NormalizedCdr {
  if (!result.ok) throw new Error(`expected a CDR, got ${result.error.message}`);
  return result.cdr;
}

describe('Alibaba LVMS call record', () => {
  it('maps an answered robot call', () => {
    const cdr = cdrOf(map(answered()));
    expect(cdr).toMatchObject({
      natural_key: '880001',
      direction: 'OUTBOUND',
      channel: 'PSTN',
      caller: { type: 'PHONE', value: '+862161234567', e164: true },
      callees: [{ type: 'PHONE', value: '+8613800138000', e164: true }],
      started_at: new Date('2026-03-02T02:00:00Z'),
      ended_at: new Date('2026-03-02T02:01:15Z'),
      answered_at: null,
      total_seconds: 75,
      talk_seconds: 61,
      billable_seconds: 120,
      billable_minutes: 2,
      billing_rule: '60/60',
      end_status: 'ANSWERED',
      vendor_status_code: 'ANSWERED',
      vendor_status_text: 'Answered',
      recording_url: 'https://oss.example.com/audio/880001.wav',
      intent_level: 'A',
    });
    expect(cdr.extras).toMatchObject({
      call_record_id: '880001',
      robot_call_job_id: '5001',
      tenant_phone_number_id: '77',
      chat_duration: '61',
      intent_level_code: '0',
      intent_level_tag_id: '0',
      intent_level_detail_name: 'A级(较强)',
      name: '张三',
      properties: '{"loan_id":"L-1"}',
      key_source: 'call_record_id',
      time_zone: 'Asia/Shanghai',
    });
    expect(avroType(SCHEMA_FILES.normalized).isValid(cdr)).toBe(true);
  });

  it.each([
    [59, 60, 1],
    [60, 60, 1],
    [61, 120, 2],
    [0, 0, 0],
  ])('bills %i s of chat as %i s (%i min) under 60/60', (chat, seconds, minutes) => {
    expect(cdrOf(map({ ...answered(), chat_duration: chat }))).toMatchObject({
      talk_seconds: chat,
      billable_seconds: seconds,
      billable_minutes: minutes,
    });
  });

  it('counts a started second of a fractional duration', () => {
    expect(cdrOf(map({ ...answered(), chat_duration: 59.2 }))).toMatchObject({ talk_seconds: 60, billable_minutes: 1 });
  });

  it('bills nothing for an unanswered call even when chat_duration is set, and keeps the raw duration', () => {
    const cdr = cdrOf(map({ ...answered(), result_status: 'NO_ANSWER', chat_duration: 12 }));
    expect(cdr).toMatchObject({ end_status: 'NO_ANSWER', talk_seconds: 0, billable_seconds: 0, billable_minutes: 0 });
    expect(cdr.extras['chat_duration']).toBe('12');
  });

  it.each([
    ['BUSY', 'BUSY'],
    ['POWER_OFF', 'UNREACHABLE'],
    ['OUT_OF_SERVICE', 'UNREACHABLE'],
    ['VACANT_NUMBER', 'UNREACHABLE'],
    ['CAN_NOT_CONNECT', 'UNREACHABLE'],
    ['REFUSED', 'REJECTED'],
    ['FROM_PHONE_ERROR', 'FAILED'],
    ['SYSTEM_ERROR', 'SYSTEM_ERROR'],
    ['busy', 'BUSY'],
    [' No_Answer ', 'NO_ANSWER'],
  ])('maps result_status %s to %s', (value, status) => {
    expect(cdrOf(map({ ...answered(), result_status: value }))).toMatchObject({ end_status: status, vendor_status_code: value, billable_seconds: 0 });
  });

  it('marks an answered call without chat_duration instead of silently billing 0', () => {
    const r = answered();
    delete r['chat_duration'];
    const cdr = cdrOf(map(r));
    expect(cdr).toMatchObject({ end_status: 'ANSWERED', talk_seconds: 0, billable_seconds: 0 });
    expect(cdr.extras['billing_note']).toMatch(/without chat_duration/);
    expect(cdrOf(map(answered())).extras).not.toHaveProperty('billing_note');
  });

  it('keeps an unknown result_status raw as UNKNOWN', () => {
    const cdr = cdrOf(map({ ...answered(), result_status: 'VOICEMAIL' }));
    expect(cdr).toMatchObject({ end_status: 'UNKNOWN', vendor_status_code: 'VOICEMAIL', vendor_status_text: null, billable_seconds: 0 });
  });

  it('notes on an unknown result_status with chat time that the time was not billed, and only there', () => {
    const note = (record: Record<string, unknown>) => cdrOf(map(record)).extras['billing_note'];
    expect(note({ ...answered(), result_status: 'VOICEMAIL', chat_duration: 40 })).toMatch(/^result_status unknown to this mapping .*not billed/);
    expect(note({ ...answered(), result_status: 'VOICEMAIL', chat_duration: 0 })).toBeUndefined();
    expect(note({ ...answered(), result_status: 'NO_ANSWER', chat_duration: 40 })).toBeUndefined();
    expect(note({ ...answered(), chat_duration: 40 })).toBeUndefined();
  });

  // The stand-in spells the documented values out itself (vendors.md §3), so a value misspelt or dropped in the code
  // table is sent anyway and lands here as UNKNOWN instead of being mirrored by the stand-in.
  it('knows every documented result_status the stand-in sends, and keeps its undocumented one as UNKNOWN', () => {
    const generator = new LvmsDtoGenerator({ seed: 7, noIdRate: 0 });
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const payload = generator.next();
      const key = lvmsNaturalKey(payload)!.key;
      const cdr = cdrOf(mapAlibabaLvms(JSON.parse(payload), envelopeFor(payload, key), defaultNormalizeContext()));
      const sent = cdr.vendor_status_code!;
      seen.add(sent);
      if (sent === LVMS_UNDOCUMENTED_STATUS) expect(cdr).toMatchObject({ end_status: 'UNKNOWN', vendor_status_text: null });
      else expect(cdr.end_status, `${sent} is not known to normalize`).not.toBe('UNKNOWN');
    }
    expect([...seen].sort()).toEqual([...LVMS_RESULT_STATUSES, LVMS_UNDOCUMENTED_STATUS].sort());
  });

  it('reads times in the tenant zone when one is configured', () => {
    const ctx = defaultNormalizeContext();
    ctx.options.lvmsTimeZone.perTenant[APP_KEY] = 'UTC';
    const cdr = cdrOf(map(answered(), ctx));
    expect(cdr.started_at).toEqual(new Date('2026-03-02T10:00:00Z'));
    expect(cdr.extras['time_zone']).toBe('UTC');
  });

  it('reads times in the configured default zone for a tenant without its own', () => {
    const ctx = defaultNormalizeContext();
    ctx.options.lvmsTimeZone.default = 'UTC';
    ctx.options.lvmsTimeZone.perTenant['another-tenant'] = 'Asia/Tokyo';
    const cdr = cdrOf(map(answered(), ctx));
    expect(cdr.started_at).toEqual(new Date('2026-03-02T10:00:00Z'));
    expect(cdr.extras['time_zone']).toBe('UTC');
  });

  describe('intent level', () => {
    it.each([
      [0, 'A'],
      [1, 'B'],
      [2, 'C'],
      [3, 'D'],
      [4, 'E'],
      [5, 'F'],
    ])('built-in tag group code %i → %s', (code, level) => {
      expect(cdrOf(map({ ...answered(), intent_level_code: code })).intent_level).toBe(level);
    });

    it('uses the tag name for a custom tag group, whatever the code', () => {
      expect(cdrOf(map({ ...answered(), intent_level_tag_id: 42, intent_level_code: 1, intent_level_detail_name: '有意向' })).intent_level).toBe('有意向');
    });

    it('uses the tag name when a built-in code is out of range, and null when there is nothing', () => {
      expect(cdrOf(map({ ...answered(), intent_level_code: 9, intent_level_detail_name: 'X' })).intent_level).toBe('X');
      const r = answered();
      delete r['intent_level_code'];
      delete r['intent_level_tag_id'];
      delete r['intent_level_detail_name'];
      expect(cdrOf(map(r)).intent_level).toBeNull();
    });
  });

  it('keys a record without call_record_id by job, callee and start time', () => {
    const r = answered();
    delete r['call_record_id'];
    const cdr = cdrOf(map(r, defaultNormalizeContext(), 'job:5001|13800138000|2026-03-02 10:00:00'));
    expect(cdr.natural_key).toBe('job:5001|13800138000|2026-03-02 10:00:00');
    expect(cdr.extras['key_source']).toBe('composite');
    expect(cdr.extras).not.toHaveProperty('call_record_id');
  });

  it('keys a blank call_record_id as the door does: absent, so by job, callee and start time', () => {
    for (const blank of ['', '  ']) {
      const payload = JSON.stringify({ ...answered(), call_record_id: blank });
      const door = checkLvmsDto(payload);
      if (!door.ok) throw new Error(`the door refused a blank call_record_id: ${door.problem}`);
      const cdr = cdrOf(mapAlibabaLvms(JSON.parse(payload), envelopeFor(payload, door.key.key), defaultNormalizeContext()));
      expect(cdr.natural_key).toBe('job:5001|13800138000|2026-03-02 10:00:00');
      expect(cdr.extras['key_source']).toBe('composite');
      expect(cdr.extras).not.toHaveProperty('call_record_id');
    }
  });

  it('keeps every digit of a call_record_id beyond 2^53', () => {
    const payload = JSON.stringify(answered()).replace('"call_record_id":880001', '"call_record_id":9007199254740993');
    const cdr = cdrOf(mapAlibabaLvms(JSON.parse(payload), envelopeFor(payload, '9007199254740993'), defaultNormalizeContext()));
    expect(cdr.natural_key).toBe('9007199254740993');
    expect(cdr.extras['call_record_id']).toBe('9007199254740993');
  });

  it('dead-letters a DTO stored under the key its text gives (no call_record_id, no job + number + start), under that key', () => {
    const payload = JSON.stringify({ robot_call_job_id: 6, result_status: 'ANSWERED', chat_duration: 42, start_time: '2026-03-02 10:00:00' });
    const result = normalize(envelopeFor(payload, 'sha256:abc'), defaultNormalizeContext());
    expect(result).toEqual({
      ok: false,
      error: {
        kind: 'bad_record',
        message: 'LVMS record has no call_record_id and no robot_call_job_id + called_phone_number + start_time to key it by',
        cdr_id: `alibaba-lvms:${APP_KEY}:sha256:abc`,
      },
    });
  });

  it('trusts the envelope key when the record disagrees, and says so', () => {
    const payload = JSON.stringify(answered());
    const result = normalize(envelopeFor(payload, '999'), defaultNormalizeContext());
    const cdr = cdrOf(result);
    expect(cdr.natural_key).toBe('999');
    expect(cdr.cdr_id).toBe(`alibaba-lvms:${APP_KEY}:999`);
    expect(cdr.extras['record_natural_key']).toBe('880001');
    expect(cdr.extras['key_source']).toBe('envelope');
  });

  it('maps a record with every field missing but its key, with nulls', () => {
    const cdr = cdrOf(map({ call_record_id: 7 }));
    expect(cdr).toMatchObject({
      caller: null,
      callees: [],
      started_at: null,
      ended_at: null,
      total_seconds: null,
      end_status: 'UNKNOWN',
      vendor_status_code: null,
      talk_seconds: 0,
      billable_seconds: 0,
      intent_level: null,
      recording_url: null,
    });
    expect(avroType(SCHEMA_FILES.normalized).isValid(cdr)).toBe(true);
  });

  it('treats blank strings as absent', () => {
    const cdr = cdrOf(map({ ...answered(), phone_number: '', start_time: '', name: '', full_audio_url: '' }));
    expect(cdr).toMatchObject({ caller: null, started_at: null, total_seconds: null, recording_url: null });
    expect(cdr.extras).not.toHaveProperty('name');
  });

  it('hashes numbers and the person name when a PII key is set', () => {
    const options = { ...defaultNormalizeOptions(), piiKey: 'a-pii-key-of-16-chars' };
    const cdr = cdrOf(map(answered(), defaultNormalizeContext({ options })));
    expect(cdr.callees[0]).toMatchObject({ value: hashIdentifier('+8613800138000', 'a-pii-key-of-16-chars'), hashed: true });
    expect(cdr.extras['name']).toBe(hashIdentifier('张三', 'a-pii-key-of-16-chars'));
    expect(JSON.stringify(cdr)).not.toContain('13800138000');
  });

  describe('a composite key under a PII key', () => {
    const piiKey = 'a-pii-key-of-16-chars';
    const ctx = defaultNormalizeContext({ options: { ...defaultNormalizeOptions(), piiKey } });
    const composite = 'job:5001|13800138000|2026-03-02 10:00:00';
    const hashedId = `alibaba-lvms:${APP_KEY}:job:5001|${hashIdentifier('13800138000', piiKey)}|2026-03-02 10:00:00`;
    const keyless = () => {
      const r = answered();
      delete r['call_record_id'];
      return r;
    };

    it('keys the CDR by the hash of the number, from the envelope and from the record alike', () => {
      const payload = JSON.stringify(keyless());
      for (const key of [composite, '']) {
        const cdr = cdrOf(normalize(envelopeFor(payload, key), ctx));
        expect(cdr.cdr_id).toBe(hashedId);
        expect(cdr.natural_key).toBe(hashedId.slice(`alibaba-lvms:${APP_KEY}:`.length));
        expect(JSON.stringify(cdr)).not.toContain('13800138000');
      }
    });

    it('keeps the record\'s own composite key, when the envelope is keyed otherwise, hashed too', () => {
      const cdr = cdrOf(normalize(envelopeFor(JSON.stringify(keyless()), '880001'), ctx));
      expect(cdr.cdr_id).toBe(`alibaba-lvms:${APP_KEY}:880001`);
      expect(cdr.extras['record_natural_key']).toBe(hashedId.slice(`alibaba-lvms:${APP_KEY}:`.length));
      expect(JSON.stringify(cdr)).not.toContain('13800138000');
    });

    it('names a refused record by the same cdr_id, without the number', () => {
      const payload = JSON.stringify({ ...keyless(), end_time: '2026-13-02 10:00:00' });
      const refused = [
        normalize(envelopeFor(payload, composite), ctx),
        mapAlibabaLvms(JSON.parse(payload), envelopeFor(payload, ''), ctx),
        normalize({ ...envelopeFor(payload, composite), payload_format: 'xml' }, ctx),
        normalize({ ...envelopeFor('{"robot_call_job_id":', composite) }, ctx),
      ];
      for (const result of refused) {
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.error.cdr_id).toBe(hashedId);
      }
    });

    it('refuses an over-long raw key without quoting it', () => {
      const long = `job:5001|${'13800138000'.repeat(25)}|2026-03-02 10:00:00`;
      const result = normalize(envelopeFor(JSON.stringify(keyless()), long), ctx);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.message).toMatch(/natural key is \d+ bytes long \(limit 256\)/);
        expect(result.error.message).not.toContain('13800138000');
      }
    });
  });

  describe('bad records', () => {
    it('rejects a record with neither call_record_id nor the composite parts, and no envelope key', () => {
      const r = answered();
      delete r['call_record_id'];
      delete r['robot_call_job_id'];
      const result = map(r, defaultNormalizeContext(), '');
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.message).toMatch(/call_record_id/);
    });

    it.each([
      ['start_time', { start_time: '2026/03/02 10:00' }, /start_time/],
      ['end_time', { end_time: '2026-13-02 10:00:00' }, /end_time/],
      ['chat_duration text', { chat_duration: 'long' }, /chat_duration/],
      ['negative chat_duration', { chat_duration: -5 }, /chat_duration/],
    ])('rejects a malformed %s', (_name, patch, message) => {
      const result = map({ ...answered(), ...patch });
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.message).toMatch(message);
        expect(result.error.cdr_id).toBe(`alibaba-lvms:${APP_KEY}:880001`);
      }
    });

    it('rejects a record that is not an object', () => {
      expect(mapAlibabaLvms([1], envelopeFor('[1]', '1'), defaultNormalizeContext()).ok).toBe(false);
    });
  });
});
