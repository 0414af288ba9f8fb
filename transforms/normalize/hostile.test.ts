// The hostile records of issue 15, one test each: every one is a bounded, escaped reason naming what is wrong, or a
// CDR inside the contract — never a throw, never an impossible bill.
import { describe, expect, it } from 'vitest';
import { avroType } from '../../core/avro.ts';
import { MAX_RECORDING_URL_CHARS } from '../../core/input-limits.ts';
import type { Vendor } from '../../core/topology.ts';
import { defaultNormalizeContext } from './context.ts';
import { normalizeLine } from './lines.ts';
import { normalize } from './normalize.ts';
import { rawEnvelope } from './fixtures/envelope.ts';
import type { NormalizeResult } from './result.ts';

const NOW = new Date('2026-01-01T00:00:00Z');
const ctx = defaultNormalizeContext({ now: () => NOW });
const cdrType = avroType('cdr-normalized.avsc');
const TENANT: Record<Vendor, string> = { 'tencent-ccc': '1400000001', 'tencent-trtc': '1600000001', 'huawei-privatenumber': 'app-1', 'alibaba-lvms': 'app-2' };

function run(vendor: Vendor, record: Record<string, unknown> | string, naturalKey = 'k-1', tenant = TENANT[vendor], context = ctx): NormalizeResult {
  const envelope = rawEnvelope({ vendor, tenant_id: tenant, natural_key: naturalKey, received_at: NOW, payload: typeof record === 'string' ? record : JSON.stringify(record) });
  return normalize(envelope, context);
}

const reason = (r: NormalizeResult) => (r.ok ? `normalized (${JSON.stringify(r.cdr)})` : r.error.message);
const valid = (r: NormalizeResult) => {
  if (!r.ok) throw new Error(`expected a CDR, got: ${r.error.message}`);
  expect(cdrType.isValid(r.cdr)).toBe(true);
  return r.cdr;
};

// 2025-12-01 00:00:00 UTC and an answered 60 s call of each vendor.
const T = 1_764_547_200;
const ccc = { SessionId: 'k-1', StartTimestamp: T, RingTimestamp: T + 2, AcceptTimestamp: T + 5, EndedTimestamp: T + 65, Duration: 60, EndStatus: 1, Direction: 0 };
const trtc = { callId: 'k-1', sdkAppId: 1600000001, callResult: 'normal_end', mediaType: 'audio', startCallTs: T, acceptTs: T + 5, endTs: T + 65, caller: 'a', callees: ['b'] };
const huawei = { sessionId: 'k-1', callInTime: '2025-12-01 00:00:00', fwdAlertingTime: '2025-12-01 00:00:02', fwdAnswerTime: '2025-12-01 00:00:05', callEndTime: '2025-12-01 00:01:05', ulFailReason: 0 };
const lvms = { call_record_id: 1, result_status: 'ANSWERED', chat_duration: 60, start_time: '2025-12-01 08:00:00', end_time: '2025-12-01 08:01:05' };

describe('issue 15: what used to stop the job', () => {
  it('a record nested 5,000 levels deep is a reason, not a stack overflow', () => {
    const deep = JSON.stringify({ ...ccc, x: 0 }).replace('"x":0', `"x":${'['.repeat(5000)}1${']'.repeat(5000)}`);
    expect(reason(run('tencent-ccc', deep))).toBe('JSON nested deeper than 16 levels');
  });

  it('CCC "Direction":"constructor" finds no code (a CDR inside the contract, direction UNKNOWN)', () => {
    expect(valid(run('tencent-ccc', { ...ccc, Direction: 'constructor' })).direction).toBe('UNKNOWN');
  });

  it('CCC "EndStatus":"toString" is an unknown code kept raw, not a lost end_status', () => {
    const cdr = valid(run('tencent-ccc', { ...ccc, EndStatus: 'toString', HungUpSide: 'constructor' }));
    expect(cdr).toMatchObject({ end_status: 'UNKNOWN', vendor_status_code: 'toString', hangup_side: 'UNKNOWN' });
    expect(cdr.extras['HungUpSide']).toBe('constructor');
  });

  it('TRTC "mediaType":"__proto__" and "callResult":"constructor" are unknown values kept raw', () => {
    const cdr = valid(run('tencent-trtc', { ...trtc, mediaType: '__proto__', callResult: 'constructor' }));
    expect(cdr).toMatchObject({ channel: 'VOIP', end_status: 'UNKNOWN', vendor_status_code: 'constructor' });
    expect(cdr.extras['mediaType']).toBe('__proto__');
  });

  it('LVMS "result_status":"__proto__" and Huawei codes named like built-ins are unknown, not errors', () => {
    expect(valid(run('alibaba-lvms', { ...lvms, result_status: '__proto__' })).end_status).toBe('UNKNOWN');
    expect(valid(run('huawei-privatenumber', { ...huawei, direction: 'constructor' })).direction).toBe('UNKNOWN');
  });

  it('an envelope line whose received_at is beyond the largest date is a report, not a crash', () => {
    const line = JSON.stringify({ vendor: 'tencent-ccc', tenant_id: '1', natural_key: 'k-1', received_at: 8.64e15 + 1, payload: JSON.stringify(ccc) });
    expect(reason(normalizeLine(line, { vendor: 'tencent-ccc', tenant: null }, ctx))).toBe('invalid envelope: received_at 8640000000000001 is beyond the largest date');
  });

  it('a natural key over 256 bytes is refused (it would be a Kafka key and a ClickHouse id)', () => {
    expect(reason(run('huawei-privatenumber', { ...huawei, sessionId: 's'.repeat(300) }, 's'.repeat(300)))).toMatch(/^natural key is 300 bytes long \(limit 256\): "s{40}"… \(300 chars\)$/);
    expect(reason(run('huawei-privatenumber', { ...huawei, sessionId: 's'.repeat(250_000) }, ''))).toMatch(/^record is 250\d{3} bytes \(limit 65536 per record\)$/);
  });

  it('a tenant id over 256 bytes is refused, as the natural key is', () => {
    expect(reason(run('tencent-trtc', { ...trtc, sdkAppId: undefined }, 'k-1', 't'.repeat(300)))).toMatch(/^tenant id is 300 bytes long \(limit 256\): "t{40}"… \(300 chars\)$/);
  });

  it('an LVMS key within 256 bytes whose number\'s hash takes it past them is refused, naming the normalized key', () => {
    // The raw key passes the door; under a PII key the 11-digit number becomes 64 hex digits: 253 bytes grow to 306.
    const job = '9'.repeat(253 - 'job:|13800000000|2025-12-01 08:00:00'.length);
    const key = `job:${job}|13800000000|2025-12-01 08:00:00`;
    expect(Buffer.byteLength(key)).toBe(253);
    const dto = { ...lvms, call_record_id: undefined, robot_call_job_id: job, called_phone_number: '13800000000' };
    expect(valid(run('alibaba-lvms', dto, key)).natural_key).toBe(key);
    const keyed = defaultNormalizeContext({ now: () => NOW, options: { ...ctx.options, piiKey: 'k' } });
    expect(reason(run('alibaba-lvms', dto, key, TENANT['alibaba-lvms'], keyed))).toMatch(/^natural key is 306 bytes long \(limit 256\): "job:9{36}"… \(306 chars\)$/);
  });
});

describe('an envelope received in the future', () => {
  const at = (receivedAt: Date) =>
    normalize(rawEnvelope({ vendor: 'tencent-ccc', tenant_id: TENANT['tencent-ccc'], natural_key: 'k-1', received_at: receivedAt, payload: JSON.stringify(ccc) }), ctx);

  it('is a reason: its received_at is the row\'s version, and a year-3000 one would outrank every later version of the call', () => {
    expect(reason(at(new Date('3000-01-01T00:00:00Z')))).toBe(
      'envelope received_at 3000-01-01T00:00:00.000Z is more than 86400 s after now (2026-01-01T00:00:00.000Z): no record arrives from the future',
    );
    expect(at(new Date(NOW.getTime() + 86_401_000)).ok).toBe(false);
  });

  it('is normalized within the clock tolerance, and a replay long after the arrival changes nothing', () => {
    valid(at(new Date(NOW.getTime() + 86_400_000)));
    valid(at(new Date('2025-12-02T00:00:00Z')));
  });
});

describe('issue 15: impossible CDRs are never billed', () => {
  it('answer before start: answered 10 minutes before the start, 661 s talk on a 61 s call', () => {
    const r = run('tencent-ccc', { SessionId: 'r1', StartTimestamp: 1767225600, AcceptTimestamp: 1767225000, EndedTimestamp: 1767225661, EndStatus: 1 }, 'r1');
    expect(reason(r)).toBe(
      'consistency rule time-order: answered_at (AcceptTimestamp) 2025-12-31T23:50:00.000Z is 600 s before started_at (StartTimestamp) 2026-01-01T00:00:00.000Z (tolerance 2 s)',
    );
  });

  it('a CCC Duration of 2,147,483,000 s on a 60 s call', () => {
    expect(reason(run('tencent-ccc', { ...ccc, Duration: 2_147_483_000 }))).toBe(
      'consistency rule duration-agrees: talk_seconds (Duration) = 2147483000 s but answered_at (AcceptTimestamp) → ended_at (EndedTimestamp) is 60 s (tolerance 5 s)',
    );
  });

  it('a CCC Duration of 0 on a 60 s answered call is refused like any other disagreeing Duration, not billed 0', () => {
    expect(reason(run('tencent-ccc', { ...ccc, Duration: 0 }))).toBe(
      'consistency rule duration-agrees: talk_seconds (Duration) = 0 s but answered_at (AcceptTimestamp) → ended_at (EndedTimestamp) is 60 s (tolerance 5 s)',
    );
    expect(reason(run('tencent-ccc', { ...ccc, Duration: '0' }))).toMatch(/^consistency rule duration-agrees: talk_seconds \(Duration\) = 0 s /);
    // A call answered and ended in the same second (or within the tolerance) still bills 0.
    expect(valid(run('tencent-ccc', { ...ccc, EndedTimestamp: T + 5, Duration: 0 }))).toMatchObject({ talk_seconds: 0, billable_seconds: 0 });
  });

  it('an answered CCC or TRTC call whose talk time cannot be known is marked, as LVMS is, not silently billed 0', () => {
    const note = (r: NormalizeResult) => valid(r).extras['billing_note'];
    const { Duration: _duration, EndedTimestamp: _ended, ...cccOpen } = ccc;
    expect(valid(run('tencent-ccc', cccOpen))).toMatchObject({ talk_seconds: 0, billable_seconds: 0 });
    expect(note(run('tencent-ccc', cccOpen))).toMatch(/^answered without Duration or an EndedTimestamp/);
    const { endTs: _endTs, ...trtcOpen } = trtc;
    expect(note(run('tencent-trtc', trtcOpen))).toMatch(/^answered without acceptTs or an endTs/);
    const { acceptTs: _acceptTs, ...trtcUnaccepted } = trtc;
    expect(valid(run('tencent-trtc', trtcUnaccepted))).toMatchObject({ end_status: 'ANSWERED', talk_seconds: 0, billable_seconds: 0 });
    expect(note(run('tencent-trtc', trtcUnaccepted))).toMatch(/^answered without acceptTs/);
    // A talk time the record gives, or its stamps measure, is no note; nor is an unanswered call's 0.
    expect(note(run('tencent-ccc', ccc))).toBeUndefined();
    expect(note(run('tencent-ccc', { ...ccc, EndedTimestamp: undefined }))).toBeUndefined();
    expect(note(run('tencent-trtc', trtc))).toBeUndefined();
    expect(note(run('tencent-trtc', { ...trtc, callResult: 'not_answer', acceptTs: undefined, endTs: undefined }))).toBeUndefined();
  });

  it('an LVMS chat_duration of 2,147,483,000 s, with and without end_time', () => {
    expect(reason(run('alibaba-lvms', { ...lvms, chat_duration: 2_147_483_000 }))).toMatch(/^consistency rule duration-agrees: talk_seconds \(chat_duration\) = 2147483000 s but the whole call .* is 65 s/);
    expect(reason(run('alibaba-lvms', { ...lvms, chat_duration: 2_147_483_000, end_time: '' }))).toMatch(/^consistency rule max-call-length: talk_seconds \(chat_duration\) = 2147483000 s is longer than 86400 s/);
  });

  it('a 24 h call measured a few seconds long is billed; the cap has the duration tolerance, and past it is refused', () => {
    // Huawei cuts a binding at 1,440 min; whole-second stamps from two clocks may read that as 86,401 s or more.
    const day = { ...trtc, acceptTs: T + 5, endTs: T + 5 + 86_401 };
    expect(valid(run('tencent-trtc', day))).toMatchObject({ talk_seconds: 86_401, billable_minutes: 1_441 });
    expect(valid(run('tencent-trtc', { ...day, endTs: T + 5 + 86_405 })).talk_seconds).toBe(86_405);
    expect(reason(run('tencent-trtc', { ...day, endTs: T + 5 + 86_406 }))).toBe(
      'consistency rule max-call-length: talk_seconds (endTs − acceptTs) = 86406 s is longer than 86400 s (24 h; tolerance 5 s)',
    );
    const leg = (talk: number) => ({ ...ccc, ServeParticipants: [{ Sequence: 0, StartTimestamp: T - 86_500, AcceptTimestamp: T - 86_450, EndedTimestamp: T - 86_450 + talk }] });
    expect(valid(run('tencent-ccc', leg(86_405))).legs[0]!.talk_seconds).toBe(86_405);
    expect(reason(run('tencent-ccc', leg(86_406)))).toBe('consistency rule max-call-length: legs[0].talk_seconds = 86406 s is longer than 86400 s (24 h; tolerance 5 s)');
  });

  it('years 0000-0099 are not shifted by 1900: "0050-06-15 12:00:00" is a year-50 call, refused', () => {
    expect(reason(run('huawei-privatenumber', { ...huawei, callInTime: '0050-06-15 12:00:00' }))).toBe(
      'consistency rule time-range: started_at (callInTime) 0050-06-15T12:00:00.000Z is before 1999-12-31T10:00:00.000Z',
    );
    expect(reason(run('alibaba-lvms', { ...lvms, start_time: '0099-12-31 23:59:59' }))).toMatch(/^consistency rule time-range: started_at \(start_time\) 0099-12-31T15:\d\d:\d\d\.000Z is before/);
  });

  it('a zero time spelt as a decimal ("0.0", " 0 ") is absent, as 0 and "0" are, not a call in 1970', () => {
    const unanswered = { ...ccc, RingTimestamp: '0.00', AcceptTimestamp: ' 0 ', Duration: 0, EndStatus: 102 };
    expect(valid(run('tencent-ccc', unanswered))).toMatchObject({ ringing_at: null, answered_at: null, talk_seconds: 0 });
    expect(valid(run('tencent-trtc', { ...trtc, callResult: 'not_answer', acceptTs: '0.0' })).answered_at).toBeNull();
  });

  it('a call more than a day after the record was received', () => {
    expect(reason(run('tencent-trtc', { ...trtc, startCallTs: T + 86_400 * 60, acceptTs: T + 86_400 * 60 + 5, endTs: T + 86_400 * 60 + 65 }))).toMatch(
      /^consistency rule time-range: started_at \(startCallTs\) 2026-01-30T00:00:00.000Z is more than 24 h after the record was received \(2026-01-01T00:00:00.000Z\)$/,
    );
  });

  it('invalid UTF-8 (U+FFFD left by a lenient decoder) is a reason, not a changed call id', () => {
    expect(reason(run('tencent-ccc', JSON.stringify({ ...ccc, SessionId: 'k\uFFFD1' })))).toMatch(/^invalid UTF-8/);
  });

  it('a duplicate member is a reason, not a silently dropped value', () => {
    expect(reason(run('tencent-ccc', JSON.stringify(ccc).replace('{', '{"Duration":99999,')))).toBe('duplicate JSON member "Duration" in one object');
  });

  it('still bills an answered 60 s call 60 s and an unanswered call 0, for every vendor', () => {
    for (const [vendor, record] of [['tencent-ccc', ccc], ['tencent-trtc', trtc], ['huawei-privatenumber', huawei], ['alibaba-lvms', lvms]] as const) {
      expect(valid(run(vendor, record)), vendor).toMatchObject({ talk_seconds: 60, billable_seconds: 60, billable_minutes: 1 });
    }
    expect(valid(run('tencent-ccc', { ...ccc, AcceptTimestamp: 0, Duration: 0, EndStatus: 202 }))).toMatchObject({ talk_seconds: 0, billable_seconds: 0 });
    expect(valid(run('tencent-trtc', { ...trtc, callResult: 'not_answer', acceptTs: T }))).toMatchObject({ talk_seconds: 0, billable_seconds: 0 });
    expect(valid(run('huawei-privatenumber', { ...huawei, fwdAnswerTime: '', ulFailReason: 11 }))).toMatchObject({ talk_seconds: 0, billable_seconds: 0 });
    expect(valid(run('alibaba-lvms', { ...lvms, result_status: 'NO_ANSWER' }))).toMatchObject({ talk_seconds: 0, billable_seconds: 0 });
  });

  // Each pair alone (the other stamps absent), so no other pair or rule can be the one that refuses it.
  const stamp = { started_at: 'StartTimestamp', queued_at: 'QueuedTimestamp', ringing_at: 'RingTimestamp', answered_at: 'AcceptTimestamp', ended_at: 'EndedTimestamp' } as const;
  it.each([
    ['started_at', 'queued_at'],
    ['started_at', 'ringing_at'],
    ['started_at', 'answered_at'],
    ['started_at', 'ended_at'],
    ['queued_at', 'ended_at'],
    ['ringing_at', 'answered_at'],
    ['ringing_at', 'ended_at'],
    ['answered_at', 'ended_at'],
  ] as const)('time-order: %s ≤ %s, 2 s of tolerance', (first, then) => {
    const call = (early: number) => ({ SessionId: 'k-1', EndStatus: 1, Direction: 0, [stamp[first]]: T + early, [stamp[then]]: T });
    expect(reason(run('tencent-ccc', call(3)))).toBe(
      `consistency rule time-order: ${then} (${stamp[then]}) 2025-12-01T00:00:00.000Z is 3 s before ${first} (${stamp[first]}) 2025-12-01T00:00:03.000Z (tolerance 2 s)`,
    );
    expect(valid(run('tencent-ccc', call(2)))[then]).toEqual(new Date(T * 1000));
  });

  it('time-range holds the legs and the IVR key presses too, not only the call', () => {
    const leg = { Sequence: 1, StartTimestamp: T, AcceptTimestamp: T + 5, EndedTimestamp: T + 65 };
    expect(valid(run('tencent-ccc', { ...ccc, ServeParticipants: [leg], IVRKeyPressedEx: [{ Key: '1', Timestamp: T * 1000 }] })).legs).toHaveLength(1);
    expect(reason(run('tencent-ccc', { ...ccc, ServeParticipants: [{ ...leg, StartTimestamp: 946_000_000 }] }))).toBe(
      'consistency rule time-range: legs[1].started_at 1999-12-24T01:46:40.000Z is before 1999-12-31T10:00:00.000Z',
    );
    expect(reason(run('tencent-ccc', { ...ccc, ServeParticipants: [{ ...leg, EndedTimestamp: T + 86_400 * 60 }] }))).toMatch(
      /^consistency rule time-range: legs\[1\]\.ended_at 2026-01-30T00:00:00\.000Z is more than 24 h after the record was received/,
    );
    expect(reason(run('tencent-ccc', { ...ccc, IVRKeyPressedEx: [{ Key: '1', Timestamp: 946_000_000_000 }] }))).toBe(
      'consistency rule time-range: ivr_keys[0].at 1999-12-24T01:46:40.000Z is before 1999-12-31T10:00:00.000Z',
    );
  });

  it('a leg Sequence that does not fit the Avro int is a reason, not an encode failure later', () => {
    expect(reason(run('tencent-ccc', { ...ccc, ServeParticipants: [{ Sequence: 3_000_000_000, StartTimestamp: T }] }))).toBe(
      'leg 3000000000 has a duration or sequence out of range',
    );
  });

  it('tolerates vendor clock rounding: answer 2 s before the start, duration 5 s off its stamps', () => {
    expect(valid(run('tencent-ccc', { ...ccc, RingTimestamp: 0, AcceptTimestamp: T - 2, Duration: 62 })).billable_seconds).toBe(120);
    expect(valid(run('tencent-ccc', { ...ccc, Duration: 65 })).talk_seconds).toBe(65);
  });
});

describe('a vendor field named like a note the mapping writes cannot erase it', () => {
  const unmeasured = /^answered without /;
  it('CCC: billing_note stays the mapping\'s on a call whose talk time is unknown', () => {
    const { Duration: _, ...noDuration } = ccc;
    expect(valid(run('tencent-ccc', { ...noDuration, EndedTimestamp: 0, billing_note: '' })).extras['billing_note']).toMatch(unmeasured);
  });

  it('TRTC v1 and v4: billing_note stays the mapping\'s on a call whose talk time is unknown', () => {
    expect(valid(run('tencent-trtc', { ...trtc, acceptTs: 0, billing_note: '' })).extras['billing_note']).toMatch(unmeasured);
    const v4 = { CallId: 'k-1', CallResult: 'NormalEnd', MediaType: 'Audio', StartTime: T, EndTime: T + 65, Caller_Account: 'a', CalleeList_Account: ['b'], billing_note: '' };
    expect(valid(run('tencent-trtc', v4)).extras['billing_note']).toMatch(unmeasured);
  });
});

describe('fractional Unix timestamps (SDKs and clients send them): a started second is billed', () => {
  it('TRTC: a 60.4 s talk is 61 s, billed as 2 minutes under 60/60, from numbers, decimal strings and v4 alike', () => {
    const expected = { talk_seconds: 61, billable_seconds: 120, billable_minutes: 2 };
    expect(valid(run('tencent-trtc', { ...trtc, acceptTs: T + 5, endTs: T + 65.4 }))).toMatchObject(expected);
    expect(valid(run('tencent-trtc', { ...trtc, startCallTs: `${T}`, acceptTs: `${T + 5}`, endTs: `${T + 65}.4` }))).toMatchObject(expected);
    const v4 = { CallId: 'k-1', CallResult: 'NormalEnd', MediaType: 'Audio', StartTime: T, AcceptTime: T + 5.6, EndTime: T + 66, Caller_Account: 'a', CalleeList_Account: ['b'] };
    expect(valid(run('tencent-trtc', v4))).toMatchObject(expected);
    // The answer instant keeps its milliseconds; ring and whole-call times count a started second too.
    const cdr = valid(run('tencent-trtc', { ...trtc, startCallTs: T, acceptTs: T + 0.4, endTs: T + 60.4 }));
    expect(cdr).toMatchObject({ talk_seconds: 60, ring_seconds: 1, total_seconds: 61 });
    expect(cdr.answered_at?.toISOString()).toBe('2025-12-01T00:00:00.400Z');
  });

  it('TRTC: two fractional stamps exactly 60 s apart are 60 s, not 61 (no float noise billed)', () => {
    expect(valid(run('tencent-trtc', { ...trtc, acceptTs: T + 5.6, endTs: T + 65.6 }))).toMatchObject({ talk_seconds: 60, billable_minutes: 1 });
  });

  it('CCC: stamps, legs and a fractional Duration count a started second; the vendor text of the Duration is kept', () => {
    const { Duration: _duration, ...noDuration } = ccc;
    expect(valid(run('tencent-ccc', { ...noDuration, EndedTimestamp: T + 65.4 }))).toMatchObject({ talk_seconds: 61, billable_minutes: 2 });
    const cdr = valid(run('tencent-ccc', { ...ccc, Duration: 60.4 }));
    expect(cdr).toMatchObject({ talk_seconds: 61, billable_seconds: 120, billable_minutes: 2 });
    expect(cdr.extras['Duration']).toBe('60.4');
    expect(valid(run('tencent-ccc', { ...ccc, Duration: '60.4' })).talk_seconds).toBe(61);
    expect(valid(run('tencent-ccc', { ...ccc, IVRDuration: 2.5 })).ivr_seconds).toBe(3);
    const legs = [{ Sequence: 0, StartTimestamp: T, AcceptTimestamp: T + 5, EndedTimestamp: T + 65.4 }];
    expect(valid(run('tencent-ccc', { ...ccc, ServeParticipants: legs })).legs[0]!.talk_seconds).toBe(61);
  });
});

describe('recording links are rendered as links (dashboards, tools): only a plain http(s) one is kept', () => {
  const HOSTILE = [
    'javascript:alert(document.cookie)',
    'data:text/html,<script>alert(1)</script>',
    'https://dl.example/\u001b]8;;https://evil.example\u0007r.wav',
    'https://dl.example/\u202evaw.exe',
    'https://dl.example/a\u0085b\u200b.wav',
    'https://dl.example/a\nSet-Cookie: x.wav',
    `https://dl.example/${'a'.repeat(MAX_RECORDING_URL_CHARS)}.wav`,
    '/relative/a.wav',
  ];
  const link = (url: string) => ({
    'tencent-ccc': { ...ccc, RecordURL: url, ServeParticipants: [{ Sequence: 0, StartTimestamp: T, AcceptTimestamp: T + 5, EndedTimestamp: T + 65, RecordURL: url }] },
    'huawei-privatenumber': { ...huawei, recordFlag: 1, recordFileDownloadUrl: url },
    'alibaba-lvms': { ...lvms, full_audio_url: url },
  });

  it('recording_url (a CCC leg\'s too) is null for anything else, and the call is mapped and billed as before', () => {
    for (const url of HOSTILE) {
      for (const [vendor, record] of Object.entries(link(url)) as [Vendor, Record<string, unknown>][]) {
        const cdr = valid(run(vendor, record));
        expect(cdr.recording_url, `${vendor} ${JSON.stringify(url)}`).toBeNull();
        expect(cdr.legs.map((l) => l.recording_url).filter((u) => u !== null)).toEqual([]);
        expect(cdr.billable_seconds).toBe(60);
      }
    }
  });

  it('keeps a plain signed link as the vendor wrote it, up to the bound', () => {
    const longest = `https://dl.example/${'a'.repeat(MAX_RECORDING_URL_CHARS - 'https://dl.example/'.length)}`;
    for (const url of ['https://cos.example.com/rec/a.mp3?sign=q%2Bx&t=1', 'http://10.0.0.1:8080/a.wav', longest]) {
      for (const [vendor, record] of Object.entries(link(url)) as [Vendor, Record<string, unknown>][]) {
        const cdr = valid(run(vendor, record));
        expect(cdr.recording_url).toBe(url);
        if (vendor === 'tencent-ccc') expect(cdr.legs[0]!.recording_url).toBe(url);
      }
    }
  });
});

describe('issue 15: reasons an operator can read', () => {
  it('quotes and escapes the value, so a newline cannot forge a report line', () => {
    const r = reason(run('tencent-ccc', { ...ccc, StartTimestamp: 'x\nline 7: forged' }));
    expect(r).toBe('StartTimestamp: not a Unix timestamp in seconds: "x\\nline 7: forged"');
  });

  it('cuts a 60 KB value to a few hundred characters and states its length', () => {
    const r = reason(run('tencent-ccc', { ...ccc, StartTimestamp: 'y'.repeat(60_000) }));
    expect(r.length).toBeLessThan(300);
    expect(r).toMatch(/"y{200}"… \(60000 chars\)$/);
  });
});
