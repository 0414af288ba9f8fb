// A reproducible set of TUICallKit call records (v1 get_records_by_filter shape), each with the moment the API
// starts returning it: a record shows up only after the call ended, so long calls land late in old windows.
import { Rng, seededRandom, ContinuousGenerator } from '../../poller/simulator-kit.ts';

export interface StoredCall {
  sdkAppId: number;
  callId: string;
  startCallTs: number;
  visibleAt: number;
  record: Record<string, unknown>;
}

/** The six documented results plus `offline`, seen in the vendor's own sample (vendors.md §2). */
export const CALL_RESULTS = ['normal_end', 'cancel', 'reject', 'not_answer', 'call_busy', 'interrupt', 'offline'] as const;

export interface TrtcDatasetOptions {
  seed: number;
  sdkAppIds: number[];
  lateFraction?: number;
}

export class TrtcDataset {
  private readonly rng: Rng;
  private readonly records: StoredCall[] = [];
  private readonly lateFraction: number;
  private generator: ContinuousGenerator | undefined;

  constructor(private readonly options: TrtcDatasetOptions) {
    this.rng = new Rng(seededRandom(options.seed));
    this.lateFraction = options.lateFraction ?? 0.03;
  }

  get size(): number {
    return this.records.length;
  }

  all(): readonly StoredCall[] {
    return this.records;
  }

  generateRange(fromSec: number, toSec: number, countPerTenant: number): StoredCall[] {
    const added: StoredCall[] = [];
    for (const app of this.options.sdkAppIds) {
      for (let i = 0; i < countPerTenant; i++) {
        added.push(this.add(this.makeCall(app, fromSec + Math.floor(((toSec - fromSec) * i) / countPerTenant))));
      }
    }
    return added;
  }

  addLate(sdkAppId: number, startSec: number, visibleAtSec: number): StoredCall {
    const call = this.makeCall(sdkAppId, startSec);
    call.visibleAt = visibleAtSec;
    return this.add(call);
  }

  startLive(ratePerSecond: number, now: () => number): void {
    this.stopLive();
    let n = 0;
    this.generator = new ContinuousGenerator(ratePerSecond, now, (nowSec) => {
      const app = this.options.sdkAppIds[n++ % this.options.sdkAppIds.length]!;
      const call = this.makeCall(app, nowSec);
      const shift = nowSec - Number(call.record['endTs']);
      for (const f of ['startCallTs', 'acceptTs', 'endTs']) call.record[f] = Number(call.record[f]) + shift;
      this.add({ ...call, startCallTs: call.startCallTs + shift, visibleAt: call.visibleAt + shift });
    });
    this.generator.start();
  }

  stopLive(): void {
    this.generator?.stop();
    this.generator = undefined;
  }

  /** Calls of one tenant with startCallTs in [start, end], visible at nowSec and not older than `horizonSec`. */
  query(sdkAppId: number, start: number, end: number, nowSec: number, horizonSec: number): StoredCall[] {
    const out: StoredCall[] = [];
    for (let i = this.lowerBound(Math.max(start, horizonSec)); i < this.records.length; i++) {
      const r = this.records[i]!;
      if (r.startCallTs > end) break;
      if (r.sdkAppId === sdkAppId && r.visibleAt <= nowSec) out.push(r);
    }
    return out;
  }

  private lowerBound(start: number): number {
    let lo = 0;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.records[mid]!.startCallTs < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private add(call: StoredCall): StoredCall {
    let i = this.lowerBound(call.startCallTs);
    while (i < this.records.length && this.records[i]!.startCallTs === call.startCallTs && this.records[i]!.callId < call.callId) i++;
    this.records.splice(i, 0, call);
    return call;
  }

  private makeCall(sdkAppId: number, start: number): StoredCall {
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
    const callees = Array.from({ length: group ? rng.int(2, 8) : 1 }, () => `user_${rng.int(1000, 9999)}`);
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
