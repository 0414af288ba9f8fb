// A stand-in for Huawei's CDR push platform: sends fee batches (1-50 records) signed with X-AKSK at a steady record
// rate, re-pushes every non-200 (or timeout, or connection error) on Huawei's schedule — 1, 4, 9, 106, 203 and 300
// minutes after the first refusal, then gives up as Huawei does — and now and then pushes an accepted batch again
// (Huawei's duplicates). Every push comes on a connection of its own, as Huawei's short connections do.
// `timeScale` shrinks the schedule (1 = real minutes; 0.001 turns a minute into 60 ms) so tests run it quickly.
import { HuaweiFeeGenerator, type FeeRecord, type HuaweiGeneratorOptions } from './generator.ts';
import { huaweiAuthHeaders, type HuaweiScheme } from './sign.ts';
import { Rng, seededRandom } from '../kit.ts';

export const HUAWEI_RETRY_SCHEDULE_MINUTES = [1, 4, 9, 106, 203, 300] as const;

export interface HuaweiPusherOptions {
  /** The receiver's fee URL. */
  url: string;
  appKey: string;
  appSecret: string;
  scheme?: HuaweiScheme;
  seed: number;
  /** Stop generating after this many records; undefined = until stop(). */
  totalRecords?: number;
  recordsPerSecond: number;
  minBatch?: number;
  maxBatch?: number;
  /** Probability that an accepted batch is pushed once more, a little later. */
  duplicateRate?: number;
  malformedRate?: number;
  mode?: HuaweiGeneratorOptions['mode'];
  retryScheduleMinutes?: readonly number[];
  timeScale?: number;
  /** Parallel pushes in flight. */
  concurrency?: number;
  requestTimeoutMs?: number;
  startMs?: number;
  /** Called after every attempt (tests and the demo log with it). */
  onAttempt?: (attempt: PushAttempt) => void;
}

export interface PushAttempt {
  batchId: number;
  attempt: number;
  records: number;
  status: number | 'network-error' | 'timeout';
  duplicate: boolean;
}

export interface HuaweiPusherStats {
  batches: number;
  recordsGenerated: number;
  attempts: number;
  acceptedBatches: number;
  acceptedRecords: number;
  /** Status code (or network-error / timeout) → count, for every attempt that was not a 200. */
  failures: Record<string, number>;
  retries: number;
  duplicatesPushed: number;
  gaveUpBatches: number;
  gaveUpRecords: number;
  inFlight: number;
  /** Batches queued or waiting for a retry slot. */
  waiting: number;
  /** Batches that were still queued or waiting for a retry when stop() was called. */
  abandonedOnStop: number;
  /**
   * Records the receiver had refused (or not answered) at least once and had not accepted when stop() was called:
   * waiting for their next retry, or refused again while in flight. Never accepted, as the given-up ones.
   */
  unacceptedOnStop: number;
}

export interface HuaweiPusher {
  stats(): HuaweiPusherStats;
  /** Natural keys (sessionId) of every record generated. */
  keys(): Set<string>;
  /** Resolves when every generated batch was accepted or given up (needs totalRecords). */
  done: Promise<HuaweiPusherStats>;
  /** Stops generating and retrying; waits for pushes already on the wire. */
  stop(): Promise<HuaweiPusherStats>;
}

interface Batch {
  id: number;
  records: FeeRecord[];
  attempt: number;
  duplicate: boolean;
  /** performance.now() of the first refusal of this push (attempt 0): every re-push is due at an offset from it. */
  firstRefusedAt?: number;
}

export function startHuaweiPusher(opts: HuaweiPusherOptions): HuaweiPusher {
  if (!(opts.recordsPerSecond > 0)) throw new RangeError('recordsPerSecond must be > 0');
  const generatorOptions: HuaweiGeneratorOptions = { seed: opts.seed, appKey: opts.appKey };
  if (opts.malformedRate !== undefined) generatorOptions.malformedRate = opts.malformedRate;
  if (opts.mode !== undefined) generatorOptions.mode = opts.mode;
  if (opts.startMs !== undefined) generatorOptions.startMs = opts.startMs;
  const generator = new HuaweiFeeGenerator(generatorOptions);
  const rng = new Rng(seededRandom(opts.seed ^ 0x5eed));
  const schedule = opts.retryScheduleMinutes ?? HUAWEI_RETRY_SCHEDULE_MINUTES;
  const minuteMs = 60_000 * (opts.timeScale ?? 1);
  // Huawei merges 1–50 records into one push (vendors.md §4): neither bound may take a batch past 50.
  const maxBatch = Math.max(1, Math.min(50, opts.maxBatch ?? 50));
  const minBatch = Math.min(maxBatch, Math.max(1, opts.minBatch ?? 1));
  const concurrency = opts.concurrency ?? 4;
  const timeoutMs = opts.requestTimeoutMs ?? 15_000;

  const stats: HuaweiPusherStats = {
    batches: 0, recordsGenerated: 0, attempts: 0, acceptedBatches: 0, acceptedRecords: 0, failures: {}, retries: 0,
    duplicatesPushed: 0, gaveUpBatches: 0, gaveUpRecords: 0, inFlight: 0, waiting: 0, abandonedOnStop: 0, unacceptedOnStop: 0,
  };
  const keys = new Set<string>();
  const ready: Batch[] = [];
  const timers = new Set<NodeJS.Timeout>();
  /** Records of refused batches waiting for their retry slot, by batch id. */
  const retrying = new Map<number, number>();
  let generating = true;
  let genTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let nextBatchId = 0;
  const started = performance.now();

  let resolveDone!: (s: HuaweiPusherStats) => void;
  const done = new Promise<HuaweiPusherStats>((r) => (resolveDone = r));
  let idleWaiters: (() => void)[] = [];

  const snapshot = (): HuaweiPusherStats => ({ ...stats, failures: { ...stats.failures }, waiting: timers.size + ready.length });

  const checkIdle = () => {
    if (stats.inFlight === 0 && ready.length === 0 && timers.size === 0 && !generating) {
      resolveDone(snapshot());
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const pump = () => {
    while (!stopped && stats.inFlight < concurrency && ready.length > 0) void send(ready.shift()!);
    checkIdle();
  };

  const send = async (batch: Batch) => {
    stats.inFlight++;
    stats.attempts++;
    if (batch.duplicate) stats.duplicatesPushed++;
    let status: PushAttempt['status'];
    try {
      const res = await fetch(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json;charset=UTF-8',
          // Huawei's APIs, the pushes included, use short connections: one TCP connection per request, closed by the
          // server. Reused keep-alive connections would spare the receiver the connection churn it gets from Huawei.
          connection: 'close',
          ...huaweiAuthHeaders(opts.appKey, opts.appSecret, { scheme: opts.scheme ?? 'aksk' }),
        },
        body: JSON.stringify({ eventType: 'fee', feeLst: batch.records }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.arrayBuffer();
      status = res.status;
    } catch (err) {
      status = (err as Error).name === 'TimeoutError' ? 'timeout' : 'network-error';
    }
    stats.inFlight--;
    opts.onAttempt?.({ batchId: batch.id, attempt: batch.attempt, records: batch.records.length, status, duplicate: batch.duplicate });
    if (status === 200) {
      if (!batch.duplicate) {
        stats.acceptedBatches++;
        stats.acceptedRecords += batch.records.length;
        if (rng.chance(opts.duplicateRate ?? 0) && !stopped) {
          // As if our 200 never reached Huawei: the same batch comes again at the first retry slot.
          later(schedule[0]! * minuteMs, () => {
            ready.push({ ...batch, attempt: 0, duplicate: true });
            pump();
          });
        }
      }
    } else {
      stats.failures[String(status)] = (stats.failures[String(status)] ?? 0) + 1;
      const offset = schedule[batch.attempt];
      if (offset === undefined) {
        if (!batch.duplicate) {
          stats.gaveUpBatches++;
          stats.gaveUpRecords += batch.records.length;
        }
      } else if (!stopped) {
        stats.retries++;
        if (!batch.duplicate) retrying.set(batch.id, batch.records.length);
        // The documented minutes are offsets from the first refusal (the last re-push about 5 h after the call), not
        // gaps between attempts, which would stretch the last one to over 10 h.
        const firstRefusedAt = batch.attempt === 0 || batch.firstRefusedAt === undefined ? performance.now() : batch.firstRefusedAt;
        later(Math.max(0, firstRefusedAt + offset * minuteMs - performance.now()), () => {
          retrying.delete(batch.id);
          ready.push({ ...batch, attempt: batch.attempt + 1, firstRefusedAt });
          pump();
        });
      } else if (!batch.duplicate) {
        stats.unacceptedOnStop += batch.records.length;
      }
    }
    pump();
  };

  const generate = () => {
    if (stopped) return;
    // Open loop, like the real platform: batches are due at a steady record rate whatever the receiver does.
    while (generating) {
      const dueAt = started + (stats.recordsGenerated / opts.recordsPerSecond) * 1000;
      const wait = dueAt - performance.now();
      if (wait > 1) {
        genTimer = setTimeout(() => {
          genTimer = undefined;
          generate();
        }, wait);
        break;
      }
      let size = rng.int(minBatch, maxBatch);
      if (opts.totalRecords !== undefined) size = Math.min(size, opts.totalRecords - stats.recordsGenerated);
      const records = generator.batch(size);
      for (const r of records) if (typeof r['sessionId'] === 'string') keys.add(r['sessionId']);
      stats.batches++;
      stats.recordsGenerated += size;
      ready.push({ id: nextBatchId++, records, attempt: 0, duplicate: false });
      if (opts.totalRecords !== undefined && stats.recordsGenerated >= opts.totalRecords) generating = false;
    }
    pump();
  };
  generate();

  const stop = async () => {
    generating = false;
    stopped = true;
    if (genTimer) clearTimeout(genTimer);
    stats.abandonedOnStop += ready.length + timers.size;
    for (const records of retrying.values()) stats.unacceptedOnStop += records;
    for (const b of ready) if (b.attempt > 0 && !b.duplicate) stats.unacceptedOnStop += b.records.length;
    retrying.clear();
    for (const t of timers) clearTimeout(t);
    timers.clear();
    ready.length = 0;
    if (stats.inFlight > 0) await new Promise<void>((r) => idleWaiters.push(r));
    checkIdle();
    return snapshot();
  };

  return { stats: snapshot, keys: () => new Set(keys), done, stop };
}
