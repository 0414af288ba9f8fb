// The live loop of a pull connector: per tenant, read the next window after the checkpoint (with lookback), and
// move the checkpoint only after Kafka acknowledged the whole window. `runOnce()` catches up; `run(signal)` repeats.
// Re-read records whose content Kafka already acknowledged are not published again (recent-keys.ts).
import { setTimeout as delay } from 'node:timers/promises';
import { disposition, asCdrflowError } from '../../core/errors.ts';
import { checkpointIds, type CheckpointStore } from '../../core/checkpoints.ts';
import { KafkaFailure, PollStopped, readWindow, type PollContext } from './reader.ts';
import { aheadOfClock, nextLiveWindow, isoOf, secOf } from './windows.ts';
import { RecentKeys, DEFAULT_RECENT_KEYS_MAX } from './recent-keys.ts';
import { horizonOf, horizonWords, reportDataLost } from './source.ts';
import { restAskedMs, restLeftMs } from './vendor-answer.ts';

/** How one live cycle ended: caught up, or failed on an error it retries at the next cycle. */
export type CycleOutcome = { ok: true } | { ok: false; code: string; error: string };
export interface LiveSettings {
  lookbackSec: number;
  maxCallSec: number;
  settleSec: number;
  maxWindowSec: number;
  /** Where a tenant with no checkpoint starts: now minus this. */
  initialLookbackSec: number;
  pollIntervalSec: number;
  /** Cap of the cache of published (key, content hash); 0 turns it off (every re-read is published). */
  recentKeysMaxEntries?: number;
}

export interface RunOnceResult {
  windows: number;
  /** Distinct records read per window, summed. */
  records: number;
  /** Of those, published to the raw topic. */
  published: number;
  /** Of those, skipped: re-read unchanged, already acknowledged by Kafka. */
  unchanged: number;
  pages: number;
}

export class LivePoller {
  /** In memory only: after a restart the first re-read is published once more (at-least-once; dedup downstream). */
  readonly recentKeys: RecentKeys | undefined;
  /**
   * Where each tenant without a checkpoint (or with one ahead of the clock) starts, fixed at its first cycle: taken
   * afresh at every cycle, a start within settleSec of now (initialLookbackSec ≤ settleSec) stayed unsettled for good
   * and the tenant was never read.
   */
  private readonly starts = new Map<string, number>();
  /**
   * Each tenant that asked for rest (a Retry-After on the page that ran out of attempts): until when, by `ctx.now()`,
   * and its failure. Kept per tenant: one app's 429 must not hold the others, and another tenant's failure without a
   * Retry-After (thrown first) must not cut the rest short.
   */
  private readonly rests = new Map<string, { until: number; err: unknown }>();

  constructor(
    private readonly ctx: Omit<PollContext, 'signal' | 'mode'>,
    private readonly store: Pick<CheckpointStore, 'get' | 'save'>,
    private readonly settings: LiveSettings,
  ) {
    const maxEntries = settings.recentKeysMaxEntries ?? DEFAULT_RECENT_KEYS_MAX;
    this.recentKeys = maxEntries > 0 ? new RecentKeys({ ttlMs: recentKeysTtlSec(settings) * 1000, maxEntries }) : undefined;
  }

  get metrics() {
    return this.ctx.metrics;
  }

  /**
   * Reads every tenant up to now - settle. Throws on the first error (retryable ones were already retried); stopped by
   * `signal`, a PollStopped with the counts of the windows checkpointed before.
   */
  async runOnce(signal: AbortSignal = new AbortController().signal): Promise<RunOnceResult> {
    const total: RunOnceResult = { windows: 0, records: 0, published: 0, unchanged: 0, pages: 0 };
    try {
      await this.catchUp(signal, total);
    } catch (err) {
      // The abort surfaces as whatever the read was doing (an aborted fetch, a wait, a retry's last error).
      if (signal.aborted) throw new PollStopped(total, err);
      throw err;
    }
    return total;
  }

  /** runOnce's reading; adds each checkpointed window to `total`. */
  private async catchUp(signal: AbortSignal, total: RunOnceResult): Promise<void> {
    const ctx: PollContext = { ...this.ctx, signal, mode: 'live', recentKeys: this.recentKeys };
    const { source, log } = ctx;
    this.recentKeys?.expire(ctx.now());
    /**
     * The first retryable failure of a tenant, thrown once every other tenant had its turn: one tenant whose reads
     * keep failing (an outage of its instance only) must not keep the tenants after it from ever being read, their
     * checkpoints from moving, and (TRTC) their data from ageing past the vendor's retention.
     */
    let failed: unknown;
    for (const tenant of source.tenants) {
      // Not asked before its rest ends; the cycle still fails on it (readiness), as it would have had it been asked.
      const rest = this.rests.get(tenant);
      if (rest && this.restMs(tenant, ctx.now()) > 0) {
        failed ??= rest.err;
        continue;
      }
      this.rests.delete(tenant);
      try {
        await this.catchUpTenant(ctx, tenant, signal, total);
      } catch (err) {
        // Stopped, a failure that stops the connector (auth, config, bug), or Kafka's (every tenant's): at once.
        if (signal.aborted || disposition(asCdrflowError(err)) !== 'retry' || err instanceof KafkaFailure) throw err;
        failed ??= err;
        const e = asCdrflowError(err);
        const restMs = restAskedMs(e);
        const until = ctx.now() + restMs;
        if (restMs > 0) this.rests.set(tenant, { until, err });
        log('warn', 'poller.tenant_failed', { tenant, kind: e.kind, code: e.code, error: e.message, ...(restMs > 0 ? { asked_again_at: new Date(until).toISOString() } : {}) });
      }
    }
    if (failed !== undefined) throw failed;
  }

  /** Reads one tenant up to now - settle, window by window; adds each checkpointed window to `total`. */
  private async catchUpTenant(ctx: PollContext, tenant: string, signal: AbortSignal, total: RunOnceResult): Promise<void> {
    const { source, log, metrics } = ctx;
    const id = checkpointIds.live(source.vendor, tenant);
    for (;;) {
      signal.throwIfAborted();
      const nowSec = Math.floor(ctx.now() / 1000);
      const cp = this.store.get(id);
      // A watermark ahead of the clock (saved while the clock ran ahead and set right since, or a checkpoint from
      // elsewhere) would read nothing until the clock reached it, without a word: the tenant starts again as a new one
      // does. What the ahead clock's windows passed over before that start is for a backfill, so the warning says so.
      const believed = cp && !aheadOfClock(secOf(cp.watermark), nowSec) ? cp : undefined;
      // So is a kept start ahead of the clock (taken while it ran ahead, no window saved since): taken again. Nothing
      // was read from it, so nothing before the new start was passed over.
      const kept = this.starts.get(id);
      if (believed) this.starts.delete(id);
      else if (kept === undefined || aheadOfClock(kept, nowSec)) {
        const start = nowSec - this.settings.initialLookbackSec;
        this.starts.set(id, start);
        if (cp) log('warn', 'poller.checkpoint_ahead', { tenant, watermark: cp.watermark, now: isoOf(nowSec), read_from: isoOf(start), hint: 'calls before read_from that the checkpoint passed over are read by a backfill of that range' });
        else if (kept !== undefined) log('warn', 'poller.checkpoint_ahead', { tenant, start: isoOf(kept), now: isoOf(nowSec), read_from: isoOf(start), reason: 'the start was taken by a clock ahead of this one and no window was saved since' });
      }
      const watermark = believed ? secOf(believed.watermark) : this.starts.get(id)!;
      // A read time ahead of the clock (stamped while it ran ahead) or unreadable says nothing of which calls were
      // visible: read as a checkpoint without one, re-reading lookback + maxCall before the watermark.
      const readAt = believed && typeof believed['polledAt'] === 'string' ? secOf(believed['polledAt']) : undefined;
      const polledAt = readAt !== undefined && !aheadOfClock(readAt, nowSec) ? readAt : undefined;
      const horizon = horizonOf(source, nowSec);
      const plan = nextLiveWindow({ ...this.settings, watermark, polledAt, now: nowSec, horizon });
      if (!plan) break;
      /** Saves the checkpoint at `end`, read since `polledAt`; a loss is reported by the first save that moves past it. */
      let lossReported = false;
      const save = async (end: number, polledAt: number, records: number) => {
        const saved = await this.store
          .save(id, {
            watermark: isoOf(end),
            polledAt: isoOf(polledAt),
            windowStart: isoOf(plan.window.start),
            records,
            // The last loss stays on the checkpoint (for `status`) until a newer one replaces it.
            ...(plan.lost
              ? { lostFrom: isoOf(plan.lost.start), lostTo: isoOf(plan.lost.end) }
              : cp?.['lostFrom'] !== undefined
                ? { lostFrom: cp['lostFrom'], lostTo: cp['lostTo'] }
                : {}),
          })
          .catch((err: unknown) => {
            throw new KafkaFailure(err);
          });
        // A loss is logged and counted once the checkpoint that moves past it is saved, never before: a cycle whose
        // window fails leaves the watermark where it was, and the next one finds the loss again (up to its own, later
        // horizon), so reported earlier it was counted once per failed cycle. Each lost second is counted once.
        if (plan.lost && !lossReported) reportDataLost(ctx, tenant, plan.lost, `${horizonWords(source).reason} and the checkpoint is older`, id);
        lossReported = true;
        metrics.window({ tenant, mode: 'live' }, end);
        return saved;
      };
      // A window read in parts (over maxWindowRecords) is checkpointed after each: a restart resumes at the last part
      // read, not at the window's start. The records of the parts so far, read since the first part's read.
      const sofar = { records: 0, polledAt: Infinity };
      const result = await readWindow(ctx, tenant, plan.window, async (part, read) => {
        sofar.records += read.records;
        sofar.polledAt = Math.min(sofar.polledAt, read.polledAt);
        await save(part.end, sofar.polledAt, sofar.records);
        log('info', 'poller.window_part_done', { tenant, window_start: isoOf(plan.window.start), part_start: isoOf(part.start), part_end: isoOf(part.end), records: read.records, published: read.published });
      }).finally(() => {
        if (this.recentKeys) metrics.recentKeys(this.recentKeys.size);
      });
      const saved = await save(plan.window.end, result.polledAt, result.records);
      log('info', 'poller.window_done', {
        tenant,
        window_start: isoOf(plan.window.start),
        window_end: saved.watermark,
        records: result.records,
        published: result.published,
        unchanged: result.unchanged,
        pages: result.pages,
      });
      total.windows++;
      total.records += result.records;
      total.published += result.published;
      total.unchanged += result.unchanged;
      total.pages += result.pages;
      // Caught up: the next window waits for the next cycle. Otherwise a read slower than a second would start
      // another window right away, re-reading the whole lookback for one second of new time, forever.
      if (plan.window.end >= nowSec - this.settings.settleSec) break;
    }
  }

  /**
   * Polls until the signal aborts; `onCycle` hears how each cycle ended (the job's readiness waits on a failing one). Retryable failures (vendor down longer than the retry budget, Kafka away) are
   * logged and the cycle is tried again after the poll interval; a tenant whose vendor asked for rest (Retry-After,
   * capped at RETRY_AFTER_CAP_MS) sits out the cycles before its rest ends, and when every tenant rests the next
   * cycle waits for the first rest to end; auth/config/bug failures stop the loop.
   */
  async run(signal: AbortSignal, onCycle?: (outcome: CycleOutcome) => void): Promise<void> {
    const { log } = this.ctx;
    while (!signal.aborted) {
      try {
        await this.runOnce(signal);
        onCycle?.({ ok: true });
      } catch (thrown) {
        if (signal.aborted) return;
        const err = asCdrflowError(thrown);
        if (disposition(err) === 'stop') {
          log('error', 'poller.stopped', { kind: err.kind, code: err.code, error: err.message });
          throw err;
        }
        // The rest the failure thrown asked for, for the log; the wait is each tenant's own (restOfAllMs).
        const askedMs = restAskedMs(err);
        log('warn', 'poller.cycle_failed', { kind: err.kind, code: err.code, error: err.message, ...(askedMs > 0 ? { retry_after_ms: askedMs } : {}) });
        onCycle?.({ ok: false, code: err.code ?? err.kind, error: err.message });
      }
      try {
        await delay(Math.max(this.settings.pollIntervalSec * 1000, this.restOfAllMs()), undefined, { signal });
        // A timer counts from the event loop's cached time and may end a few ms before the clock says the rest did:
        // the rest of it is waited out, or the next cycle would only skip every tenant once more.
        for (let ms = this.restOfAllMs(); ms > 0; ms = this.restOfAllMs()) await delay(ms, undefined, { signal });
      } catch {
        return;
      }
    }
  }

  /**
   * How long every tenant still rests: until the first rest ends, 0 while any tenant may be read. The next cycle waits
   * at least this: a cycle sooner would only skip every tenant. A tenant whose rest ends later waits for the cycle
   * after, never asked early; a tenant not resting is never held past the poll interval by another's rest.
   */
  private restOfAllMs(): number {
    const now = this.ctx.now();
    let first = Infinity;
    for (const tenant of this.ctx.source.tenants) first = Math.min(first, this.restMs(tenant, now));
    return first === Infinity ? 0 : first;
  }

  /** How long `tenant` still rests at `now`, 0 if it does not (restLeftMs). */
  private restMs(tenant: string, now: number): number {
    return restLeftMs(this.rests.get(tenant)?.until ?? now, now);
  }
}

/**
 * How long a cache entry outlives its last read. A live window re-reads at most lookback + maxCall before the
 * previous read plus maxWindow of new time, so a record not read for longer than that is outside every window to
 * come; the margin covers the poll interval and settle delay. An entry that expires too early costs one
 * republish, never a loss.
 */
export function recentKeysTtlSec(s: Pick<LiveSettings, 'lookbackSec' | 'maxCallSec' | 'maxWindowSec' | 'settleSec' | 'pollIntervalSec'>): number {
  return s.lookbackSec + s.maxCallSec + s.maxWindowSec + s.settleSec + 2 * s.pollIntervalSec + 600;
}
