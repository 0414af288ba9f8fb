// A reproducible set of TUICallKit call records (v1 get_records_by_filter shape), each with the moment the API
// starts returning it: a record shows up only after the call ended, so long calls land late in old windows.
import { SimulatorDataset, type SimulatorDatasetOptions } from '../kit.ts';

export interface StoredCall {
  sdkAppId: number;
  callId: string;
  startCallTs: number;
  visibleAt: number;
  record: Record<string, unknown>;
}

/** The six documented results plus `offline`, seen in the vendor's own sample (docs/vendors.md §2). */
export const CALL_RESULTS = ['normal_end', 'cancel', 'reject', 'not_answer', 'call_busy', 'interrupt', 'offline'] as const;

export type TrtcDatasetOptions = SimulatorDatasetOptions;

export class TrtcDataset extends SimulatorDataset<StoredCall> {
  /** Calls of one tenant with startCallTs in [start, end], visible at nowSec and not older than `horizonSec`. */
  query(sdkAppId: number, start: number, end: number, nowSec: number, horizonSec: number): StoredCall[] {
    return this.visibleIn(sdkAppId, Math.max(start, horizonSec), end, nowSec);
  }

  protected keyOf(c: StoredCall): string {
    return c.callId;
  }

  protected startOf(c: StoredCall): number {
    return c.startCallTs;
  }

  protected endOf(c: StoredCall): number {
    return Number(c.record['endTs']);
  }

  protected shift(call: StoredCall, deltaSec: number): StoredCall {
    for (const f of ['startCallTs', 'acceptTs', 'endTs']) call.record[f] = Number(call.record[f]) + deltaSec;
    return { ...call, startCallTs: call.startCallTs + deltaSec, visibleAt: call.visibleAt + deltaSec };
  }

  protected makeRecord(sdkAppId: number, start: number): StoredCall {
    const rng = this.rng;
    const callId = rng.uuid();
    const group = rng.chance(0.2);
    // Group calls only ever report normal_end (vendor note); 1:1 calls spread over every result.
    const result = group ? 'normal_end' : rng.weighted([['normal_end', 55], ['cancel', 10], ['reject', 8], ['not_answer', 12], ['call_busy', 5], ['interrupt', 6], ['offline', 4]] as const);
    const connected = result === 'normal_end' || result === 'interrupt';
    const ring = rng.int(2, 30);
    const accept = connected ? start + ring : start; // the vendor sample shows acceptTs == startCallTs when not connected
    const end = connected ? accept + rng.weighted([[rng.int(5, 59), 30], [rng.int(60, 900), 60], [rng.int(901, 5400), 10]] as const) : start + ring;
    const caller = `user_${rng.int(1000, 9999)}`;
    // A callee is invited once: a drawn id already among the callees moves on to the next free one, so the generator
    // draws exactly as many numbers as before and every other call of a seed stays the same. The caller may be among
    // the callees, as in the vendor's own sample response (caller "123", callees ["111", "123"]).
    const taken = new Set<string>();
    const callees = Array.from({ length: group ? rng.int(2, 8) : 1 }, () => {
      let n = rng.int(1000, 9999);
      while (taken.has(`user_${n}`)) n = n === 9999 ? 1000 : n + 1;
      taken.add(`user_${n}`);
      return `user_${n}`;
    });
    const record: Record<string, unknown> = {
      callId,
      sdkAppId,
      mediaType: rng.pick(['audio', 'video']),
      roomId: String(rng.int(100000, 999999)),
      startCallTs: start,
      acceptTs: accept,
      endTs: end,
      caller,
      totalUserNumber: callees.length + 1,
      callType: group ? 'group' : 'single',
      callResult: result,
      callees,
    };
    const visibleAt = end + (rng.chance(this.lateFraction) ? rng.int(300, 1500) : rng.int(2, 30));
    return { sdkAppId, callId, startCallTs: start, visibleAt, record };
  }
}
