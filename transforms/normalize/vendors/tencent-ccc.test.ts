import { describe, expect, it } from 'vitest';
import { defaultNormalizeContext } from '../context.ts';
import type { NormalizedCdr } from '../cdr.ts';
import { mapTencentCcc } from './tencent-ccc.ts';
import { rawEnvelope } from '../fixtures/envelope.ts';

const NOW = new Date('2026-01-01T00:00:00Z');
const ctx = defaultNormalizeContext({ now: () => NOW });
const envelope = rawEnvelope({ vendor: 'tencent-ccc', tenant_id: '1400000000', natural_key: 's-1', received_at: NOW });
const T = 1_764_547_200;
const call = { SessionId: 's-1', StartTimestamp: T, AcceptTimestamp: T + 5, EndedTimestamp: T + 65, Duration: 60, EndStatus: 1, Direction: 0 };

function map(record: Record<string, unknown>): NormalizedCdr {
  const r = mapTencentCcc(record, envelope, ctx);
  if (!r.ok) throw new Error(r.error.message);
  return r.cdr;
}

const legExtras = (cdr: NormalizedCdr) => Object.fromEntries(Object.entries(cdr.extras).filter(([k]) => k.startsWith('ServeParticipants.')));

describe('tencent-ccc legs (ServeParticipants)', () => {
  it('legs sharing a Sequence each keep their leftover fields: the second and later under `<Sequence>#<n>`', () => {
    const cdr = map({
      ...call,
      ServeParticipants: [
        { Sequence: 1, Mail: 'a@example.com', RecordId: 'rec-a', TransferFromType: 'staffSeat' },
        { Sequence: 0, Mail: 'z@example.com', RecordId: 'rec-z' },
        { Sequence: 1, Mail: 'b@example.com', RecordId: 'rec-b', CustomRecordURL: 'https://cos.example.com/b.mp3' },
        { Sequence: '1', Mail: 'c@example.com', RecordId: 'rec-c' },
      ],
    });
    // The legs keep the vendor's order among equal Sequences, so the nth leg of a Sequence is its `#n` path.
    expect(cdr.legs.map((l) => [l.sequence, l.agent])).toEqual([[0, 'z@example.com'], [1, 'a@example.com'], [1, 'b@example.com'], [1, 'c@example.com']]);
    expect(legExtras(cdr)).toEqual({
      'ServeParticipants.0.RecordId': 'rec-z',
      'ServeParticipants.1.RecordId': 'rec-a',
      'ServeParticipants.1.TransferFromType': 'staffSeat',
      'ServeParticipants.1#2.RecordId': 'rec-b',
      'ServeParticipants.1#2.CustomRecordURL': 'https://cos.example.com/b.mp3',
      'ServeParticipants.1#3.RecordId': 'rec-c',
    });
  });

  it('a leg without a Sequence whose position falls on another leg’s Sequence does not overwrite it either', () => {
    const cdr = map({ ...call, ServeParticipants: [{ Sequence: 1, RecordId: 'rec-a' }, { RecordId: 'rec-b' }] });
    expect(legExtras(cdr)).toEqual({ 'ServeParticipants.1.RecordId': 'rec-a', 'ServeParticipants.1#2.RecordId': 'rec-b' });
  });

  it('a Sequence that is not a whole number is kept in the leg’s extras, the leg taking its position', () => {
    const cdr = map({
      ...call,
      ServeParticipants: [{ Sequence: 1.5, RecordId: 'rec-a' }, { Sequence: 'abc' }, { Sequence: -1 }, { Sequence: { n: 3 } }, { Sequence: null }, { Sequence: '2' }],
    });
    expect(cdr.legs.map((l) => l.sequence)).toEqual([0, 1, 2, 2, 3, 4]);
    expect(legExtras(cdr)).toEqual({
      'ServeParticipants.0.RecordId': 'rec-a',
      'ServeParticipants.0.Sequence': '1.5',
      'ServeParticipants.1.Sequence': 'abc',
      'ServeParticipants.2.Sequence': '-1',
      'ServeParticipants.3.Sequence': '{"n":3}',
    });
  });

  it('distinct Sequences keep the plain dotted paths', () => {
    const cdr = map({ ...call, ServeParticipants: [{ Sequence: 1, RecordId: 'rec-a' }, { Sequence: 0, RecordId: 'rec-b' }, { RecordId: 'rec-c' }] });
    expect(legExtras(cdr)).toEqual({ 'ServeParticipants.1.RecordId': 'rec-a', 'ServeParticipants.0.RecordId': 'rec-b', 'ServeParticipants.2.RecordId': 'rec-c' });
  });
});

describe('tencent-ccc times, talk and channel (MAPPING.md, Tencent CCC)', () => {
  it('started_at is StartTimestamp, else Time; Time is kept in extras only when it differs', () => {
    const { StartTimestamp: _start, ...noStart } = call;
    expect(map({ ...noStart, Time: T }).started_at).toEqual(new Date(T * 1000));
    expect(map({ ...call, Time: T }).extras['Time']).toBeUndefined();
    const differing = map({ ...call, Time: T - 3 });
    expect(differing.started_at).toEqual(new Date(T * 1000));
    expect(differing.extras['Time']).toBe(String(T - 3));
  });

  it('queue_seconds runs from the queue to the ringing, else the answer, else the end', () => {
    const queued = { ...call, QueuedTimestamp: T + 1 };
    expect(map({ ...queued, RingTimestamp: T + 3 }).queue_seconds).toBe(2);
    expect(map(queued).queue_seconds).toBe(4);
    expect(map({ ...queued, AcceptTimestamp: 0, Duration: 0, EndStatus: 103 }).queue_seconds).toBe(64);
  });


  it('an inbound call that ended in the IVR without queueing spent its whole time there, unless IVRDuration says otherwise', () => {
    // IVRDuration is QueuedTimestamp − StartTimestamp (CDR push doc): 0 on a call that never queued, not a measurement.
    const ivrOnly = { SessionId: 's-1', StartTimestamp: T, QueuedTimestamp: 0, EndedTimestamp: T + 34.2, IVRDuration: 0, Direction: 0 };
    for (const code of [100, 102, 106, 107]) expect(map({ ...ivrOnly, EndStatus: code }).ivr_seconds, String(code)).toBe(35);
    expect(map({ ...ivrOnly, EndStatusString: 'ivrGiveUp' }).ivr_seconds).toBe(35);
    const { IVRDuration: _ivr, QueuedTimestamp: _queued, ...bare } = ivrOnly;
    expect(map({ ...bare, EndStatus: 102 }).ivr_seconds).toBe(35);
    expect(map({ ...bare, EndStatus: 102, EndedTimestamp: 0 }).ivr_seconds).toBeNull();
    expect(map({ ...ivrOnly, EndStatus: 102, IVRDuration: 12 }).ivr_seconds).toBe(12);
    // A call that reached a queue, or another end, keeps the vendor's figure; so does any outbound call.
    expect(map({ ...ivrOnly, EndStatus: 102, QueuedTimestamp: T }).ivr_seconds).toBe(0);
    expect(map({ ...ivrOnly, EndStatus: 103 }).ivr_seconds).toBe(0);
    expect(map({ ...ivrOnly, EndStatus: 102, Direction: 1 }).ivr_seconds).toBe(0);
    expect(map({ ...ivrOnly, EndStatus: 102, Direction: 0, CallType: 1 }).ivr_seconds).toBe(0);
    expect(map({ ...bare, EndStatus: 202, Direction: 1 }).ivr_seconds).toBeNull();
  });
  it('without a readable CallType or Direction, an end code only one direction can have gives the direction', () => {
    const { Direction: _d, EndStatus: _e, ...noDirection } = call;
    const unanswered = { ...noDirection, AcceptTimestamp: 0, Duration: 0 };
    for (const code of [17, 100, 102, 103, 104, 105, 106, 107, 232, 233, 501, 502, 503]) {
      expect(map({ ...unanswered, EndStatus: code }).direction, String(code)).toBe('INBOUND');
    }
    for (const code of [108, 109, 110, 111, 202, 203, 204, 205, 206, 207, 208, 209, 210, 212, 213, 215, 216, 217, 218, 219, 220, 221, 222]) {
      expect(map({ ...unanswered, EndStatus: code }).direction, String(code)).toBe('OUTBOUND');
    }
    // Codes both directions have, AI-agent codes the table does not scope, and unknown codes say nothing.
    for (const code of [1, 211, 225, 228, 231, 999]) expect(map({ ...noDirection, EndStatus: code }).direction, String(code)).toBe('UNKNOWN');
    expect(map({ ...unanswered, EndStatusString: 'notAnswer' }).direction).toBe('OUTBOUND');
    // Unreadable fields count as absent; the unreadable Direction is kept in extras.
    const unreadable = map({ ...unanswered, EndStatus: 202, Direction: 'x', CallType: 9 });
    expect(unreadable).toMatchObject({ direction: 'OUTBOUND', call_type: '9' });
    expect(unreadable.extras['Direction']).toBe('x');
    // So is one that is no text or number at all (nothing else keeps it: Direction is a consumed field).
    for (const [direction, kept] of [[true, 'true'], [{ in: 1 }, '{"in":1}'], [[0], '[0]']] as const) {
      expect(map({ ...unanswered, EndStatus: 202, Direction: direction }), kept).toMatchObject({ direction: 'OUTBOUND', extras: { Direction: kept } });
    }
    // The side the code names follows the inferred direction: the user of an outbound call is the callee.
    expect(map({ ...unanswered, EndStatus: 203 }).hangup_side).toBe('CALLEE');
    expect(map({ ...unanswered, EndStatus: 102 }).hangup_side).toBe('CALLER');
  });

  it('the record’s CallType or Direction beats an end code that contradicts it', () => {
    expect(map({ ...call, AcceptTimestamp: 0, EndStatus: 202, Direction: 0 }).direction).toBe('INBOUND');
    expect(map({ ...call, AcceptTimestamp: 0, EndStatus: 102, Direction: 1 }).direction).toBe('OUTBOUND');
    expect(map({ ...call, AcceptTimestamp: 0, EndStatus: 102, Direction: 'x', CallType: 1 }).direction).toBe('OUTBOUND');
    expect(map({ ...call, AcceptTimestamp: 0, EndStatus: 102, CallType: 6 }).direction).toBe('INTERNAL');
    expect(map({ ...call, EndStatus: 202, Direction: 0 }).extras['Direction']).toBeUndefined();
  });

  it('CallType beats a Direction that says otherwise, which is kept in extras as an unrecognised one is', () => {
    const outbound = map({ ...call, CallType: 1, Direction: 0 });
    expect(outbound.direction).toBe('OUTBOUND');
    expect(outbound.extras['Direction']).toBe('0');
    expect(map({ ...call, CallType: 2, Direction: 1 }).extras['Direction']).toBe('1');
    // INTERNAL is neither way: the vendor's own in/out for the extension call is kept, not lost.
    expect(map({ ...call, CallType: 6, Direction: 1 })).toMatchObject({ direction: 'INTERNAL', extras: { Direction: '1' } });
    // A Direction the row shows adds nothing.
    expect(map({ ...call, CallType: 2, Direction: 0 }).extras['Direction']).toBeUndefined();
    expect(map({ ...call, CallType: 3, Direction: '0' }).extras['Direction']).toBeUndefined();
    expect(map({ ...call, CallType: 5, Direction: 1 }).extras['Direction']).toBeUndefined();
  });

  it('a user hang-up on an extension call or a call of no known direction is UNKNOWN, HungUpSide kept in extras', () => {
    const internal = map({ ...call, CallType: 6, Direction: 1, HungUpSide: 'user' });
    expect(internal.hangup_side).toBe('UNKNOWN');
    expect(internal.extras['HungUpSide']).toBe('user');
    const { Direction: _d, ...noDirection } = call;
    expect(map({ ...noDirection, HungUpSide: 'user' })).toMatchObject({ hangup_side: 'UNKNOWN', extras: { HungUpSide: 'user' } });
    expect(map({ ...call, HungUpSide: 'abc' })).toMatchObject({ hangup_side: 'UNKNOWN', extras: { HungUpSide: 'abc' } });
    // Not text: as unrecognised as an unknown word, not absent (the end code 103 would say the user hung up).
    expect(map({ ...call, HungUpSide: true, EndStatus: 103 })).toMatchObject({ hangup_side: 'UNKNOWN', extras: { HungUpSide: 'true' } });
    expect(map({ ...call, HungUpSide: { side: 'user' } })).toMatchObject({ hangup_side: 'UNKNOWN', extras: { HungUpSide: '{"side":"user"}' } });
    expect(map({ ...call, HungUpSide: '' }).extras['HungUpSide']).toBeUndefined();
    // A side the row names, or one only the end code implies, adds nothing.
    expect(map({ ...call, CallType: 6, HungUpSide: 'seat' }).extras['HungUpSide']).toBeUndefined();
    expect(map({ ...call, HungUpSide: 'user' })).toMatchObject({ hangup_side: 'CALLER' });
    expect(map({ ...call, HungUpSide: 'user' }).extras['HungUpSide']).toBeUndefined();
    expect(map({ ...call, CallType: 6, AcceptTimestamp: 0, EndStatus: 203 }).extras['HungUpSide']).toBeUndefined();
  });

  it('an IVR end code without CallType or Direction is an inbound call that ended in the IVR', () => {
    const ivrOnly = { SessionId: 's-1', StartTimestamp: T, EndedTimestamp: T + 34.2, IVRDuration: 0 };
    for (const code of [100, 102, 106, 107]) expect(map({ ...ivrOnly, EndStatus: code }).ivr_seconds, String(code)).toBe(35);
    expect(map({ ...ivrOnly, EndStatusString: 'ivrEnd', Direction: 'in' }).ivr_seconds).toBe(35);
  });

  it('an IVRDuration longer than the call keeps the vendor’s figure, with extras.ivr_note saying the stamps disagree', () => {
    // Not queued, so only the call's length is there to compare with.
    const ivr = { ...call, IVRDuration: 4 };
    const long = map({ ...ivr, IVRDuration: 71 });
    expect(long).toMatchObject({ ivr_seconds: 71, total_seconds: 65, end_status: 'ANSWERED', billable_seconds: 60 });
    expect(long.extras['ivr_note']).toBe("IVRDuration is longer than the call (total_seconds) by more than 5 s: ivr_seconds is the vendor's figure");
    // Within the duration tolerance (5 s) it is whole-second rounding from different clocks, as for Duration.
    expect(map({ ...ivr, IVRDuration: 70 }).extras['ivr_note']).toBeUndefined();
    expect(map({ ...ivr, IVRDuration: 69.5 }).extras['ivr_note']).toBeUndefined();
    expect(map({ ...ivr, IVRDuration: 70.2 }).extras['ivr_note']).toBeDefined();
    expect(map(ivr).extras['ivr_note']).toBeUndefined();
    // Without a measurable call there is nothing to compare with.
    expect(map({ ...ivr, IVRDuration: 900, EndedTimestamp: 0, AcceptTimestamp: 0 }).extras['ivr_note']).toBeUndefined();
  });

  it('an IVRDuration other than QueuedTimestamp − StartTimestamp keeps the vendor’s figure, with extras.ivr_note saying so', () => {
    const queued = { ...call, QueuedTimestamp: T + 12, IVRDuration: 12 };
    const differing = map({ ...queued, IVRDuration: 30 });
    expect(differing).toMatchObject({ ivr_seconds: 30, queued_at: new Date((T + 12) * 1000), end_status: 'ANSWERED' });
    expect(differing.extras['ivr_note']).toBe("IVRDuration differs from queued_at − started_at by more than 5 s: ivr_seconds is the vendor's figure");
    // A 0 that wins over the stamps disagrees as much; within the tolerance either way is rounding.
    expect(map({ ...queued, IVRDuration: 0 })).toMatchObject({ ivr_seconds: 0, extras: { ivr_note: differing.extras['ivr_note'] } });
    for (const seconds of [12, 7, 17, 16.5]) expect(map({ ...queued, IVRDuration: seconds }).extras['ivr_note'], String(seconds)).toBeUndefined();
    expect(map({ ...queued, IVRDuration: 17.2 }).extras['ivr_note']).toBeDefined();
    // Without either stamp there is nothing to compare with; started_at from Time counts as the start.
    expect(map({ ...queued, QueuedTimestamp: 0, IVRDuration: 30 }).extras['ivr_note']).toBeUndefined();
    const { StartTimestamp: _start, ...noStart } = queued;
    expect(map({ ...noStart, IVRDuration: 30 }).extras['ivr_note']).toBeUndefined();
    expect(map({ ...noStart, Time: T, IVRDuration: 30 }).extras['ivr_note']).toBe(differing.extras['ivr_note']);
    // Both disagreements are one note, so filtering on ivr_note finds every row whose IVR figure its stamps contradict.
    expect(map({ ...queued, IVRDuration: 90 }).extras['ivr_note']).toBe(
      "IVRDuration is longer than the call (total_seconds) by more than 5 s; IVRDuration differs from queued_at − started_at by more than 5 s: ivr_seconds is the vendor's figure",
    );
  });

  it('an unanswered call has no talk, whatever Duration says, which stays in extras', () => {
    const cdr = map({ ...call, AcceptTimestamp: 0, Duration: 30, EndStatus: 202 });
    expect(cdr).toMatchObject({ answered_at: null, talk_seconds: 0, billable_seconds: 0 });
    expect(cdr.extras['Duration']).toBe('30');
  });

  it('without CallType the channel is PSTN, except for the VoIP-only end codes 501-503', () => {
    expect(map(call).channel).toBe('PSTN');
    for (const code of [501, 502, 503]) expect(map({ ...call, EndStatus: code }).channel, String(code)).toBe('VOIP');
    expect(map({ ...call, EndStatus: 502, CallType: 1 }).channel).toBe('PSTN');
  });
});

describe('tencent-ccc parties, agent and deprecated duplicates (MAPPING.md, Tencent CCC)', () => {
  it('with both a number and a protection id, the number is the party and the id goes to extras, on either side', () => {
    const cdr = map({ ...call, Caller: '13800000001', ProtectedCaller: 'pc-1', Callee: '13800000002', ProtectedCallee: 'pc-2' });
    expect([cdr.caller?.value, cdr.callees[0]?.value]).toEqual(['+8613800000001', '+8613800000002']);
    expect([cdr.extras['ProtectedCaller'], cdr.extras['ProtectedCallee']]).toEqual(['pc-1', 'pc-2']);
  });

  it('the agent is SeatUser.Mail, else UserId', () => {
    expect(map({ ...call, SeatUser: { Mail: 'a@x', UserId: 'u-1' } }).agent_id).toBe('a@x');
    expect(map({ ...call, SeatUser: { UserId: 'u-1', Name: 'Ann' } })).toMatchObject({ agent_id: 'u-1', agent_name: 'Ann' });
  });

  it('the Ex key lists win; a deprecated list is read only when its Ex list is absent or empty', () => {
    const keys = (cdr: NormalizedCdr) => cdr.ivr_keys.map((k) => `${k.phase}:${k.key}`);
    const both = { IVRKeyPressedEx: [{ Key: '1' }], IVRKeyPressed: ['9'], PostIVRKeyPressedEx: [{ Key: '5' }], PostIVRKeyPressed: [{ Key: '8' }] };
    expect(keys(map({ ...call, ...both }))).toEqual(['IVR:1', 'SURVEY:5']);
    expect(keys(map({ ...call, ...both, IVRKeyPressedEx: [], PostIVRKeyPressedEx: [] }))).toEqual(['IVR:9', 'SURVEY:8']);
    expect(keys(map({ ...call, IVRKeyPressed: ['9'], PostIVRKeyPressed: [{ Key: '8' }] }))).toEqual(['IVR:9', 'SURVEY:8']);
  });

  it('UUI wins over Uui', () => {
    expect(map({ ...call, UUI: 'new', Uui: 'old' }).extras['UUI']).toBe('new');
    expect(map({ ...call, Uui: 'old' }).extras['UUI']).toBe('old');
  });
});
