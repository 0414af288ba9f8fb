// Every code that docs/vendors.md documents for Huawei PrivateNumber and Alibaba LVMS has a mapping. The lists below are
// copied from docs/vendors.md §3/§4 on purpose, not imported from the code tables: a code dropped from a table must fail
// here, and so must a table entry that maps to nothing useful.
import { describe, expect, it } from 'vitest';
import { END_STATUSES } from '../cdr.ts';
import { Q850_CAUSES, RELEASE_POINTS, endStatusFor as huaweiEndStatus, sipMeaning } from './huawei-privatenumber.ts';
import { RESULT_STATUSES, endStatusFor as lvmsEndStatus } from './alibaba-lvms.ts';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// docs/vendors.md §4 "Release point (ulFailReason): 69 values, plus the 8102–8105 tail".
const DOC_RELEASE_POINTS = [
  0, 522, ...range(7001, 7005), ...range(7100, 7109), ...range(7500, 7508), 7516, ...range(8002, 8016), 8018, 8019,
  8020, 8022, 8023, 8024, 8025, 8033, 8035, 8040, 8041, 8042, 8043, 8044, ...range(8046, 8051), ...range(8055, 8059),
  8100, 8101,
];
const DOC_RELEASE_TAIL = [8102, 8103, 8104, 8105];
// docs/vendors.md §4 hang-up reasons (stateCode) that the release-point table does not list.
const DOC_STATE_CODE_EXTRAS = [8030, 8031, 8032, 8139];
// docs/vendors.md §4 "Q.850 cause … the 70 values Huawei lists".
const DOC_Q850 = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 18, 19, 20, 21, 22, 23, 25, 26, 27, 28, 29, 30, 31, 34, 38, 39, 40, 41, 42, 43,
  44, 46, 47, 49, 50, 53, 55, 57, 58, 62, 63, 65, 66, 69, 70, 79, 81, 82, 83, 84, 85, 86, 87, 88, 90, 91, 95, 96, 97,
  98, 99, 100, 101, 102, 103, 110, 111, 127,
];
// docs/vendors.md §3 result_status, 10 inferred values.
const DOC_RESULT_STATUS = [
  'ANSWERED', 'NO_ANSWER', 'BUSY', 'POWER_OFF', 'OUT_OF_SERVICE', 'REFUSED', 'VACANT_NUMBER', 'CAN_NOT_CONNECT',
  'FROM_PHONE_ERROR', 'SYSTEM_ERROR',
];

const noCodes = { ulFailReason: null, fwdUnaswRsn: null, callOutUnaswRsn: null, sipStatusCode: null };

describe('documented lists are complete copies', () => {
  it('has 69 + 4 release points and 70 Q.850 causes, as docs/vendors.md counts them', () => {
    expect(DOC_RELEASE_POINTS).toHaveLength(69);
    expect(new Set([...DOC_RELEASE_POINTS, ...DOC_RELEASE_TAIL]).size).toBe(73);
    expect(new Set(DOC_Q850).size).toBe(70);
    expect(new Set(DOC_RESULT_STATUS).size).toBe(10);
  });
});

describe('Huawei release points (ulFailReason)', () => {
  it.each([...DOC_RELEASE_POINTS, ...DOC_RELEASE_TAIL, ...DOC_STATE_CODE_EXTRAS])('maps %i', (code) => {
    const meaning = RELEASE_POINTS[code];
    expect(meaning, `release point ${code} missing`).toBeDefined();
    expect(END_STATUSES).toContain(meaning!.status);
    expect(meaning!.status).not.toBe('UNKNOWN');
    expect(meaning!.text.length).toBeGreaterThan(0);
    const decided = huaweiEndStatus({ ...noCodes, ulFailReason: code }, false);
    // 0 and 8010 describe a connected call; without an answer time they must not claim ANSWERED.
    if (code === 0 || code === 8010) expect(decided.status).toBe('UNKNOWN');
    else expect(decided).toMatchObject({ status: meaning!.status, source: 'ulFailReason' });
  });

  it('has no undocumented release points', () => {
    const documented = new Set([...DOC_RELEASE_POINTS, ...DOC_RELEASE_TAIL, ...DOC_STATE_CODE_EXTRAS]);
    expect(Object.keys(RELEASE_POINTS).map(Number).filter((c) => !documented.has(c))).toEqual([]);
  });

  it('maps the callee outcomes the doc names', () => {
    const status = (code: number) => RELEASE_POINTS[code]!.status;
    expect([status(8100), status(8101), status(8102), status(8103), status(8104), status(8105)]).toEqual([
      'UNREACHABLE', 'NO_ANSWER', 'BUSY', 'UNREACHABLE', 'UNREACHABLE', 'UNREACHABLE',
    ]);
    expect(status(7503)).toBe('REJECTED');
    expect(status(7001)).toBe('BLOCKED');
  });
});

describe('Huawei Q.850 causes (fwdUnaswRsn)', () => {
  it.each(DOC_Q850)('maps %i', (code) => {
    const meaning = Q850_CAUSES[code];
    expect(meaning, `Q.850 cause ${code} missing`).toBeDefined();
    const decided = huaweiEndStatus({ ...noCodes, fwdUnaswRsn: code }, false);
    if (code === 0) {
      // 0 = not applicable: nothing to decide from.
      expect(meaning!.status).toBeNull();
      expect(decided.status).toBe('UNKNOWN');
    } else {
      expect(meaning!.status).not.toBe('UNKNOWN');
      expect(decided).toMatchObject({ status: meaning!.status, source: 'fwdUnaswRsn' });
    }
  });

  // Normal clearing on a leg that never answered is a release without a failure: the caller gave up.
  it('reads normal clearing (16, 31) before an answer as the caller cancelling', () => {
    for (const code of [16, 31]) {
      expect(huaweiEndStatus({ ...noCodes, fwdUnaswRsn: code }, false)).toMatchObject({ status: 'CANCELLED', hangup: 'CALLER' });
    }
  });

  it('has exactly the documented causes', () => {
    expect(Object.keys(Q850_CAUSES).map(Number).sort((a, b) => a - b)).toEqual(DOC_Q850);
  });

  it('maps the causes docs/vendors.md singles out for the ETL', () => {
    const status = (code: number) => Q850_CAUSES[code]!.status;
    expect([status(1), status(17), status(18), status(19), status(21)]).toEqual([
      'UNREACHABLE', 'BUSY', 'NO_ANSWER', 'NO_ANSWER', 'REJECTED',
    ]);
  });
});

// The SIP outcomes the issue names (SIP classes: 486/600 busy, 480/408 no answer, 603 rejected, 404/484 unreachable,
// 5xx failed), as independent data.
const SIP_EXPECTED: [number, string][] = [
  [486, 'BUSY'], [600, 'BUSY'], [480, 'NO_ANSWER'], [408, 'NO_ANSWER'], [603, 'REJECTED'], [404, 'UNREACHABLE'],
  [484, 'UNREACHABLE'], [500, 'FAILED'], [502, 'FAILED'], [503, 'FAILED'], [504, 'FAILED'], [599, 'FAILED'],
];

describe('Huawei SIP status (sipStatusCode)', () => {
  it.each(SIP_EXPECTED)('maps %i to %s when it is the only signal', (code, status) => {
    expect(sipMeaning(code)?.status).toBe(status);
    expect(huaweiEndStatus({ ...noCodes, sipStatusCode: code }, false)).toMatchObject({ status, source: 'sipStatusCode' });
  });

  it('ignores 0 and success codes, which say nothing about a failure', () => {
    expect(huaweiEndStatus({ ...noCodes, sipStatusCode: 0 }, false).status).toBe('UNKNOWN');
    expect(huaweiEndStatus({ ...noCodes, sipStatusCode: 200 }, false).status).toBe('UNKNOWN');
  });
});

describe('LVMS result_status', () => {
  it.each(DOC_RESULT_STATUS)('maps %s', (value) => {
    expect(RESULT_STATUSES[value], `${value} missing`).toBeDefined();
    const meaning = lvmsEndStatus(value);
    expect(meaning.known).toBe(true);
    expect(meaning.status).not.toBe('UNKNOWN');
  });

  it('has exactly the documented values', () => {
    expect(Object.keys(RESULT_STATUSES).sort()).toEqual([...DOC_RESULT_STATUS].sort());
  });

  it('maps each value to the outcome its name states', () => {
    expect(DOC_RESULT_STATUS.map((v) => lvmsEndStatus(v).status)).toEqual([
      'ANSWERED', 'NO_ANSWER', 'BUSY', 'UNREACHABLE', 'UNREACHABLE', 'REJECTED', 'UNREACHABLE', 'UNREACHABLE', 'FAILED',
      'SYSTEM_ERROR',
    ]);
  });

  it('keeps unknown values as UNKNOWN', () => {
    expect(lvmsEndStatus('VOICEMAIL')).toMatchObject({ status: 'UNKNOWN', known: false });
    expect(lvmsEndStatus(null)).toMatchObject({ status: 'UNKNOWN', known: false });
  });
});
