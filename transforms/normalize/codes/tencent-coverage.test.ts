// Every documented Tencent code is mapped. The documented lists are copied here from docs/vendors.md on purpose, not
// imported from the code tables, so a code dropped from a table (or a typo in its string) fails this test.
import { describe, expect, it } from 'vitest';
import { END_STATUSES } from '../cdr.ts';
import { CCC_CALL_TYPE, CCC_END_STATUS, endStatusFor as cccEndStatusFor, unifiedSide } from './tencent-ccc.ts';
import { TRTC_CALL_RESULT, endStatusFor as trtcEndStatusFor } from './tencent-trtc.ts';

// docs/vendors.md §1 "EndStatus / EndStatusString": 35 SDK codes + 10 doc-only codes.
const CCC_DOCUMENTED: [number, string][] = [
  [1, 'ok'], [211, 'clientError'], [100, 'blackList'], [102, 'ivrGiveUp'], [103, 'waitingGiveUp'],
  [104, 'ringingGiveUp'], [105, 'noSeatOnline'], [106, 'notWorkTime'], [107, 'ivrEnd'], [108, 'restrictedCallee'],
  [109, 'tooManyRequest'], [110, 'restrictedArea'], [111, 'restrictedTime'], [202, 'notAnswer'], [203, 'userReject'],
  [204, 'powerOff'], [205, 'numberNotExist'], [206, 'busy'], [207, 'outOfCredit'], [208, 'operatorError'],
  [209, 'callerCancel'], [210, 'notInService'], [212, 'carrierBlocked'], [213, 'callReminder'], [215, 'numberInvalid'],
  [216, 'callRestricted'], [217, 'calleeRestricted'], [218, 'areaRestricted'], [219, 'promptCallForwarding'],
  [220, 'callerCancelWhileRing'], [221, 'callerCancelWithoutRing'], [222, 'voiceMailReached'], [501, 'callConflict'],
  [502, 'clientTimeout'], [503, 'voipClientError'], [17, 'seatGiveUp'], [225, 'asrError'], [226, 'llmasrError'],
  [227, 'ttsError'], [228, 'functionCallHangup'], [229, 'maxCallDurationReached'], [230, 'userInactivity'],
  [231, 'callTerminatedByAPI'], [232, 'userHangupDuringAiCall'], [233, 'aiAgentEndCall'],
];

// docs/vendors.md §2: the 6 documented callResult values plus `offline` from the doc's sample.
const TRTC_DOCUMENTED = ['cancel', 'reject', 'not_answer', 'normal_end', 'call_busy', 'interrupt', 'offline'];

describe('Tencent CCC EndStatus table', () => {
  it('lists 45 distinct documented codes', () => {
    expect(new Set(CCC_DOCUMENTED.map(([c]) => c)).size).toBe(45);
  });

  it.each(CCC_DOCUMENTED)('code %i (%s) maps to a known unified status with its documented string', (code, text) => {
    const byCode = cccEndStatusFor(code, undefined);
    expect(byCode.status).not.toBe('UNKNOWN');
    expect(END_STATUSES).toContain(byCode.status);
    expect(byCode).toMatchObject({ code: String(code), text });
    // The string alone finds the same entry (records that lost their numeric code).
    expect(cccEndStatusFor(undefined, text)).toEqual(byCode);
  });

  // MAPPING.md "Tencent CCC", End status: the choices the vendor docs leave open, written out again on purpose.
  it.each([
    ['ANSWERED', ['ivrEnd', 'functionCallHangup', 'maxCallDurationReached', 'userInactivity', 'callTerminatedByAPI', 'userHangupDuringAiCall', 'aiAgentEndCall']],
    ['NO_ANSWER', ['noSeatOnline', 'notWorkTime', 'seatGiveUp', 'voiceMailReached']],
    ['UNREACHABLE', ['outOfCredit', 'callReminder', 'numberInvalid', 'promptCallForwarding', 'callerCancelWithoutRing']],
    ['BLOCKED', ['callRestricted']],
    ['SYSTEM_ERROR', ['asrError', 'llmasrError', 'ttsError']],
    ['FAILED', ['clientError', 'operatorError', 'callConflict', 'clientTimeout', 'voipClientError']],
  ] as const)('the mapping reads as %s: %j', (status, texts) => {
    for (const text of texts) expect(cccEndStatusFor(undefined, text).status, text).toBe(status);
  });

  it('maps nothing beyond the documented codes', () => {
    expect(Object.keys(CCC_END_STATUS).map(Number).sort((a, b) => a - b)).toEqual(CCC_DOCUMENTED.map(([c]) => c).sort((a, b) => a - b));
  });

  it('keeps unknown codes (214, 223, 224 were never documented) as UNKNOWN with the raw value', () => {
    expect(cccEndStatusFor(214, 'newThing')).toEqual({ status: 'UNKNOWN', code: '214', text: 'newThing', side: null });
    expect(cccEndStatusFor(undefined, undefined)).toEqual({ status: 'UNKNOWN', code: null, text: null, side: null });
  });

  it('prefers the vendor string when both are given', () => {
    expect(cccEndStatusFor(1, 'ok-ish')).toMatchObject({ status: 'ANSWERED', text: 'ok-ish' });
  });

  it('resolves the customer side against the direction', () => {
    expect(unifiedSide('user', 'INBOUND')).toBe('CALLER');
    expect(unifiedSide('user', 'OUTBOUND')).toBe('CALLEE');
    expect(unifiedSide('seat', 'OUTBOUND')).toBe('AGENT');
    expect(unifiedSide('system', 'INBOUND')).toBe('SYSTEM');
    expect(unifiedSide(null, 'INBOUND')).toBeNull();
    // Both ends of an extension call are seats: "user" names neither the caller nor the callee.
    expect(unifiedSide('user', 'INTERNAL')).toBe('UNKNOWN');
    expect(unifiedSide('user', 'UNKNOWN')).toBe('UNKNOWN');
    expect(unifiedSide('seat', 'INTERNAL')).toBe('AGENT');
  });

  it('covers the documented CallType values (1, 2, 3, 5, 6)', () => {
    expect(Object.keys(CCC_CALL_TYPE).sort()).toEqual(['1', '2', '3', '5', '6']);
    expect(CCC_CALL_TYPE['6']?.direction).toBe('INTERNAL');
    expect(CCC_CALL_TYPE['3']?.channel).toBe('VOIP');
  });
});

describe('Tencent TRTC callResult table', () => {
  it.each(TRTC_DOCUMENTED)('%s maps to a known unified status', (value) => {
    const s = trtcEndStatusFor(value);
    expect(s.status).not.toBe('UNKNOWN');
    expect(END_STATUSES).toContain(s.status);
    expect(s.code).toBe(value);
  });

  it('maps nothing beyond the documented values', () => {
    expect(Object.keys(TRTC_CALL_RESULT).sort()).toEqual([...TRTC_DOCUMENTED].sort());
  });

  it('only normal_end is answered outright; interrupt depends on acceptTs', () => {
    const answered = TRTC_DOCUMENTED.filter((v) => trtcEndStatusFor(v).answered === 'yes');
    expect(answered).toEqual(['normal_end']);
    expect(trtcEndStatusFor('interrupt').answered).toBe('if-accepted');
  });

  it('keeps unknown values as UNKNOWN with the raw value', () => {
    expect(trtcEndStatusFor('NormalEnd')).toMatchObject({ status: 'UNKNOWN', code: 'NormalEnd' });
    expect(trtcEndStatusFor('')).toMatchObject({ status: 'UNKNOWN', code: null });
  });
});
