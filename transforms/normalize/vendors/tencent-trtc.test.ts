import { describe, expect, it } from 'vitest';
import { API_VERSION_ATTRIBUTE } from '../../../core/envelope.ts';
import { defaultNormalizeContext } from '../context.ts';
import type { NormalizedCdr } from '../cdr.ts';
import { mapTencentTrtc } from './tencent-trtc.ts';
import { rawEnvelope } from '../fixtures/envelope.ts';

const NOW = new Date('2026-01-01T00:00:00Z');
const ctx = defaultNormalizeContext({ now: () => NOW });
const envelope = rawEnvelope({ vendor: 'tencent-trtc', tenant_id: '1600000001', natural_key: 'c-1', received_at: NOW });
const T = 1_764_547_200;
const call = { callId: 'c-1', callResult: 'normal_end', mediaType: 'audio', callType: 'single', startCallTs: T, acceptTs: T + 5, endTs: T + 65, caller: 'a', callees: ['b'] };

function map(record: Record<string, unknown>, attributes: Record<string, string> = {}): NormalizedCdr {
  const r = mapTencentTrtc(record, { ...envelope, attributes }, ctx);
  if (!r.ok) throw new Error(r.error.message);
  return r.cdr;
}

describe('tencent-trtc (MAPPING.md, Tencent TRTC)', () => {
  it('only a group call whose acceptTs repeats startCallTs carries the billing note; a single call is billed as answered without one', () => {
    expect(map({ ...call, callType: 'group', acceptTs: T }).extras['billing_note']).toMatch(/^group call with acceptTs equal to startCallTs/);
    const single = map({ ...call, acceptTs: T });
    expect(single).toMatchObject({ end_status: 'ANSWERED', talk_seconds: 65 });
    expect(single.extras['billing_note']).toBeUndefined();
  });

  it('a call read as answered by its acceptTs (interrupt, an unknown result) without an endTs bills 0 with the billing note', () => {
    for (const callResult of ['interrupt', 'NewResult']) {
      const cdr = map({ ...call, callResult, acceptTs: T + 30, endTs: undefined });
      expect(cdr.answered_at, callResult).not.toBeNull();
      expect(cdr, callResult).toMatchObject({ talk_seconds: 0, billable_seconds: 0 });
      expect(cdr.extras['billing_note'], callResult).toMatch(/^answered without acceptTs or an endTs at or after it/);
    }
    // Not answered (acceptTs repeating startCallTs): 0 is no unknown talk time, so no note.
    expect(map({ ...call, callResult: 'interrupt', acceptTs: T, endTs: undefined }).extras['billing_note']).toBeUndefined();
  });

  it('callees are de-duplicated, without the caller, and the verbatim list is kept when anything was dropped', () => {
    const cdr = map({ ...call, callees: ['b', 'a', 'b', 'c'] });
    expect(cdr.callees.map((p) => p.value)).toEqual(['b', 'c']);
    expect(cdr.extras['callees']).toBe('["b","a","b","c"]');
    expect(map(call).extras['callees']).toBeUndefined();
  });

  it('a callee list that is not a list is kept verbatim, no callee read from it', () => {
    const cdr = map({ ...call, callees: 'b' });
    expect(cdr.callees).toEqual([]);
    expect(cdr.extras['callees']).toBe('b');
  });

  it('the envelope\'s api_version decides how a record is read, over its shape', () => {
    const v4 = { CallId: 'c-1', CallResult: 'NotAnswer', MediaType: 'Audio', CallType: 'SingleCall', StartTime: T, EndTime: T + 30, Caller_Account: 'a', CalleeList_Account: ['b'] };
    // With callId beside CallId the shape says v1; the poller said v4.
    expect(map({ ...v4, callId: 'c-1' }, { [API_VERSION_ATTRIBUTE]: 'v4' })).toMatchObject({ end_status: 'NO_ANSWER', vendor_status_code: 'not_answer' });
    // The shape says v4; the poller said v1, so the PascalCase fields are extras and nothing is read from them.
    const asV1 = map(v4, { [API_VERSION_ATTRIBUTE]: 'v1' });
    expect(asV1).toMatchObject({ end_status: 'UNKNOWN', vendor_status_code: null, natural_key: '' });
    expect(asV1.extras['CallResult']).toBe('NotAnswer');
  });
});
