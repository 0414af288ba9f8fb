// The v4 (call_record_http_srv) view of the simulator's calls: the same dataset as v1, in v4 field names and
// spellings. One call read through either API must normalize to the same row; this file is the simulator's own
// statement of how the two shapes correspond (the normalize mapper has its own, tested against it).
import type { StoredCall } from './dataset.ts';

const RESULT: Readonly<Record<string, string>> = {
  normal_end: 'NormalEnd',
  cancel: 'Cancel',
  reject: 'Reject',
  not_answer: 'NotAnswer',
  call_busy: 'CallBusy',
  interrupt: 'Interrupt',
  offline: 'Offline',
};
const CALL_TYPE: Readonly<Record<string, string>> = { single: 'SingleCall', group: 'MultiCall' };
const MEDIA: Readonly<Record<string, string>> = { audio: 'Audio', video: 'Video' };

/**
 * RoomIdType of a room id: TRTC rooms are numbered (a 32-bit integer) or named (a string). The value the v4 API uses
 * for each is not published; the simulator says 1 for a numbered room and 2 for a named one.
 */
export function roomIdType(roomId: unknown): number {
  return typeof roomId === 'string' && /^\d{1,10}$/.test(roomId) ? 1 : 2;
}

export function toV4Record(call: StoredCall): Record<string, unknown> {
  const r = call.record;
  const pick = (table: Readonly<Record<string, string>>, v: unknown) => (typeof v === 'string' && Object.hasOwn(table, v) ? table[v] : v);
  return {
    CallId: r['callId'],
    Caller_Account: r['caller'],
    MediaType: pick(MEDIA, r['mediaType']),
    CallType: pick(CALL_TYPE, r['callType']),
    StartTime: r['startCallTs'],
    EndTime: r['endTs'],
    AcceptTime: r['acceptTs'],
    CallResult: pick(RESULT, r['callResult']),
    CalleeList_Account: r['callees'],
    RoomId: r['roomId'],
    RoomIdType: roomIdType(r['roomId']),
  };
}
