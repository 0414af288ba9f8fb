// A bounded re-poll of [from, to] for one tenant: same windows and paging as live, envelope mode `backfill`, its
// own checkpoint (resumable; never the live one), progress with ETA, and a summary.
// Unlike live, a backfill publishes every record it reads, even ones the live poller already published unchanged:
// it is a deliberate re-read (repair a gap downstream, re-feed a range), the operator expects its summary to count
// the range, and downstream deduplicates by key. It neither reads nor fills the live cache of published records.
//
// Like live, it reads only what has settled (up to now - settleSec): the vendor is still producing the last minutes,
// and a window read before then would be checkpointed with records still missing, which a re-run would then skip for
// good. A range that reaches past now - settle is read up to there; the checkpoint says so (not `done`), and the same
// command run again later reads the rest. A range that has not started settling yet is refused.
// Windows filter on call start, a call's record appears only once it ended, and may appear up to lookbackSec after
// that: what was read is complete only up to now - max(settleSec, lookbackSec) - maxCallSec (a call that started
// later may still have been running, or its record not out yet). The live poller re-reads that much on every poll; a backfill keeps the part open (not `done`, summary `unsettled_from`, exit 75), and the
// same command run later reads it again from `unsettled_from` on, however long the first run took (its records once
// more; downstream deduplicates by key).
import { checkpointIds, type Checkpoint, type CheckpointStore } from '../../core/checkpoints.ts';
import { Progress } from '../../core/progress.ts';
import { CdrflowError } from '../../core/errors.ts';
import { PAST_HORIZON, PollStopped, readWindow, type PollContext, type WindowResult } from './reader.ts';
import { aheadOfClock, backfillWindows, isoOf, secOf, type TimeWindow } from './windows.ts';
import { horizonOf, horizonWords, reportDataLost } from './source.ts';

/** The pollers' default settle time (connectors/poller/config.ts), for callers that do not pass theirs. */
export const DEFAULT_BACKFILL_SETTLE_SEC = 120;

export interface BackfillRequest {
  tenant: string;
  from: Date;
  to: Date;
  windowSec: number;
  /**
   * The connector's `settleSec`: only [from, now - settleSec] is read; default 120 (the config default). Never
   * checkpointed as read: anything later.
   */
  settleSec?: number;
  /**
   * The connector's `maxCallSec`, the longest call expected: a call that started less than this before now - settle
   * may still have been running, so that part of the range stays open for a later run. Default 0.
   */
  maxCallSec?: number;
  /**
   * The connector's `lookbackSec`: how long after a call ENDS its record can still appear (late records). A call that
   * started less than lookback + maxCallSec before now may still get its record, so that part stays open too, as the
   * live poller re-reads it. Default 0 (then settleSec stands in for it).
   */
  lookbackSec?: number;
  /** Progress output; defaults to stderr. */
  progressStream?: NodeJS.WriteStream;
  /**
   * Told the natural keys of each page once Kafka acknowledged it: the calls this run re-fed, which reconcile's repair
   * then does not re-feed again. A vendor that no longer serves a call, or a window given up incomplete, leaves it out.
   */
  onPublished?: (naturalKeys: string[]) => void;
}

export interface BackfillSummary {
  checkpointId: string;
  windows: number;
  pages: number;
  records: number;
  retries: number;
  elapsedMs: number;
  /** Seconds of the range that the vendor no longer keeps (found by this run or an earlier one of the same range). */
  lostSeconds: number;
  /** The unreadable part of the range (ISO), when lostSeconds > 0. */
  lostFrom?: string;
  lostTo?: string;
  /** True when the checkpoint said this range was already complete: nothing was read. */
  alreadyComplete: boolean;
  /** True when nothing of the range is left to read (every part read, or lost): a re-run reads nothing. */
  complete: boolean;
  /**
   * Set when the range reaches past now - settleSec - maxCallSec: [unsettledFrom, to] was left unread or may miss
   * calls still running when it was read (ISO).
   */
  unsettledFrom?: string;
  /** When the unread rest will have settled: run the same backfill again after this (ISO). */
  retryAfter?: string;
  /**
   * Set when a shutdown request stopped the run (then thrown as the `partial` of a PollStopped): where the same
   * command run again resumes (ISO); the counts are of the windows read and checkpointed before.
   */
  stoppedAt?: string;
  summaryLine: string;
}

/**
 * Why a backfill of [from, ...] cannot start at `nowMs` (one line), or undefined when it can: nothing of a range that
 * starts at or after now - settleSec has settled at the vendor yet.
 */
export function backfillStartProblem(from: Date, nowMs: number, settleSec: number = DEFAULT_BACKFILL_SETTLE_SEC): string | undefined {
  const settled = Math.floor(nowMs / 1000) - settleSec;
  const fromSec = Math.floor(from.getTime() / 1000);
  if (fromSec < settled) return undefined;
  return (
    `--from ${from.toISOString()} has not settled yet: the vendor's records are read only up to now - ${settleSec} s (settleSec), ` +
    `${isoOf(settled)} at the moment; give an earlier --from, or run after ${isoOf(fromSec + settleSec + 1)}`
  );
}

export interface BackfillPlanInput {
  /** The range, Unix seconds. */
  from: number;
  to: number;
  windowSec: number;
  /** Where reading resumes: the checkpoint's watermark, or `from`. */
  cursor: number;
  now: number;
  settleSec: number;
  /** The longest call expected: [now - settle - maxCallSec, now - settle] is read but stays open. Default 0. */
  maxCallSec?: number;
  /** How long after its call ended a record can still appear; when longer than settleSec it widens the open part. Default 0. */
  lookbackSec?: number;
  /** Oldest instant the vendor still serves (TRTC: now - 7 days + safety); undefined = no retention limit. */
  horizon?: number | undefined;
}

export interface BackfillPlan {
  /** What this run reads, in order. */
  windows: TimeWindow[];
  /** The not yet read part that is older than the horizon: it can never be read. */
  lost?: TimeWindow;
  /** Where this run's reading stops: `to`, or now - settle when the range is not over yet. */
  readTo: number;
  /**
   * When the range reaches past now - settle - maxCallSec: the part a later run reads (again), [readTo, to] left
   * unread and before it what may miss calls still running.
   */
  unsettled?: TimeWindow;
}

/** What one backfill run reads. Pure; throws (kind config) for a range that has not started settling yet. */
export function planBackfill(input: BackfillPlanInput): BackfillPlan {
  const { from, to, windowSec, now, settleSec, horizon } = input;
  const settled = now - settleSec;
  if (from >= settled) throw new CdrflowError('config', backfillStartProblem(new Date(from * 1000), now * 1000, settleSec)!);
  let cursor = Math.max(from, input.cursor);
  let lost: TimeWindow | undefined;
  if (horizon !== undefined && cursor < Math.min(horizon, to)) {
    lost = { start: cursor, end: Math.min(horizon, to) };
    cursor = lost.end;
  }
  const readTo = Math.min(to, settled);
  const plan: BackfillPlan = { windows: backfillWindows(from, readTo, windowSec, cursor), readTo };
  if (lost) plan.lost = lost;
  // A record appears at most maxCall + lookback after its call started (the live poller's model, windows.ts): what
  // started later than that before now may still be missing from what was read.
  const complete = now - Math.max(settleSec, input.lookbackSec ?? 0) - (input.maxCallSec ?? 0);
  if (complete < to) plan.unsettled = { start: Math.max(complete, from, lost?.end ?? from), end: to };
  return plan;
}

/**
 * Where a run may resume from a checkpoint: its watermark, unless part of what it covers had not settled when it was
 * read. Checkpoints written since backfill reads only settled time carry `polledAt`, when the run that wrote them read
 * its first window: each window it covers was read then or later, so everything up to polledAt - settle (here the
 * whole open time) had settled when read, and what came before that run's first window was trusted by the checkpoint
 * it resumed from. Not when the last window was read: a run that took longer than the open time would have vouched
 * for its earlier windows, read while calls in them were still running, and a re-run skipped them for good.
 * Older checkpoints may cover unsettled time (a range that reached into the present was marked done as soon as it was
 * read): their last window was read shortly before `updatedAt`, so anything after updatedAt - settle (less one window,
 * for the time the read took) is read again. A re-read costs duplicates, deduplicated by key.
 */
export function resumePoint(cp: Pick<Checkpoint, 'watermark' | 'updatedAt'> & Record<string, unknown>, from: number, settleSec: number, windowSec: number, nowSec: number): number {
  const watermark = secOf(cp.watermark);
  const readAt = readTimeOf(cp);
  // A read time ahead of the clock (or no time at all) was stamped by a clock that ran ahead: the range looked settled
  // to it, calls still running were passed over and marked read. Nothing of it is vouched for; the range is read again.
  if (aheadOfClock(readAt, nowSec)) return from;
  const trusted = typeof cp['polledAt'] === 'string' ? readAt - settleSec : readAt - settleSec - windowSec;
  return watermark <= trusted ? watermark : Math.max(from, trusted);
}

/** When a checkpoint's reads were made, by the clock of the run that made them: `polledAt`, or for older ones `updatedAt`. */
const readTimeOf = (cp: Pick<Checkpoint, 'updatedAt'> & Record<string, unknown>) => secOf(typeof cp['polledAt'] === 'string' ? cp['polledAt'] : cp.updatedAt);

export async function runBackfill(ctx: Omit<PollContext, 'mode'>, store: Pick<CheckpointStore, 'get' | 'save'>, req: BackfillRequest): Promise<BackfillSummary> {
  const { source, metrics } = ctx;
  if (!source.tenants.includes(req.tenant)) {
    throw new CdrflowError('config', `tenant ${req.tenant} is not configured for ${source.vendor} (configured: ${source.tenants.join(', ') || 'none'})`);
  }
  const from = Math.floor(req.from.getTime() / 1000);
  const to = Math.floor(req.to.getTime() / 1000);
  if (!(to > from)) throw new CdrflowError('config', `backfill range is empty: --from ${req.from.toISOString()} must be before --to ${req.to.toISOString()}`);
  const settleSec = req.settleSec ?? DEFAULT_BACKFILL_SETTLE_SEC;
  const maxCallSec = req.maxCallSec ?? 0;
  const lookbackSec = req.lookbackSec ?? 0;
  /** How long after reading a window its calls can still change at the vendor: calls running, records appearing late. */
  const openSec = Math.max(settleSec, lookbackSec) + maxCallSec;
  const id = checkpointIds.backfill(source.vendor, req.tenant, req.from, req.to);
  const cp = store.get(id);
  const nowSec = Math.floor(ctx.now() / 1000);
  const horizon = horizonOf(source, nowSec);
  // A checkpoint is trusted as far as calls had all ended and their records appeared when it was read.
  const cursor = cp ? resumePoint(cp, from, openSec, req.windowSec, nowSec) : from;
  // The read time as the checkpoint wrote it: one that is no time at all is read again too, and has no ISO form.
  if (cp && aheadOfClock(readTimeOf(cp), nowSec)) {
    ctx.log('warn', 'poller.checkpoint_ahead', { tenant: req.tenant, checkpoint: id, polled_at: cp['polledAt'] ?? cp.updatedAt, now: isoOf(nowSec), read_from: isoOf(cursor), reason: 'the checkpoint was read by a clock ahead of this one: the range is read again' });
  }
  const plan = planBackfill({ from, to, windowSec: req.windowSec, cursor, now: nowSec, settleSec, maxCallSec, lookbackSec, horizon });
  // `done` only once nothing of the range can still change at the vendor.
  const done = plan.unsettled === undefined;
  const retriesBefore = metrics.counts.retries;
  const beyondHorizon = horizonWords(source);
  // The loss found by an earlier run of this range stays on the checkpoint: every run of it reports it.
  let lost = recordedLoss(cp);
  const lostFields = () => (lost ? { lostFrom: isoOf(lost.from), lostTo: isoOf(lost.to), lostSeconds: lost.seconds } : {});
  /**
   * Losses found and not yet on a saved checkpoint. A loss is logged and counted once the checkpoint that records it
   * is saved, never before: a run stopped or failed before that leaves the checkpoint without it, and the next run
   * finds it again (up to its own, later horizon), so reported at once it was counted by both. Each lost second of a
   * range is counted once, by the run that records it; the summary names the loss on every run.
   */
  const unrecorded: TimeWindow[] = [];
  const reportLoss = (part: TimeWindow) => {
    unrecorded.push(part);
    lost = { from: Math.min(lost?.from ?? part.start, part.start), to: Math.max(lost?.to ?? part.end, part.end), seconds: (lost?.seconds ?? 0) + part.end - part.start };
  };
  const save = async (value: Omit<Checkpoint, 'updatedAt'>) => {
    await store.save(id, { ...value, ...lostFields() });
    for (const part of unrecorded.splice(0)) reportDataLost(ctx, req.tenant, part, beyondHorizon.reason, id);
  };
  if (plan.lost) reportLoss(plan.lost);
  /** What of `span` the vendor still serves at `atSec`; what lies before its horizon is reported lost. */
  const withinHorizon = (span: TimeWindow, atSec: number): TimeWindow => {
    const edge = horizonOf(source, atSec);
    if (edge === undefined || span.start >= edge) return span;
    reportLoss({ start: span.start, end: Math.min(edge, span.end) });
    return { start: Math.min(edge, span.end), end: span.end };
  };
  const { windows } = plan;
  const allWindows = backfillWindows(from, plan.readTo, req.windowSec).length;
  // Timed on the monotonic clock (Progress's own), not ctx.now: a step of the wall clock is no time the backfill took.
  const progress = new Progress({ label: `backfill ${source.vendor} ${req.tenant}`, total: allWindows, unit: 'windows', ...(req.progressStream ? { stream: req.progressStream } : {}) });
  progress.skip(allWindows - windows.length);
  const base = { from: req.from.toISOString(), to: req.to.toISOString() };
  if (plan.lost && windows.length === 0) {
    // Nothing readable after the loss this run: the checkpoint still records how far the range is settled (and the loss).
    await save({ ...base, watermark: isoOf(plan.lost.end), polledAt: isoOf(nowSec), done: done && plan.lost.end >= to, records: Number(cp?.['records'] ?? 0) });
  }
  let records = 0;
  let pages = 0;
  let read = 0;
  /** Parts checkpointed of windows read in parts (each also counted in `read` once its window is done). */
  let partsRead = 0;
  let stopped: { at: number; cause: unknown } | undefined;
  /** When this run read its first window (the earliest read of any window it checkpoints). */
  let readSince: number | undefined;
  const { sink } = ctx;
  const { onPublished } = req;
  const tellingSink: PollContext['sink'] = onPublished
    ? { publish: (envelopes, topic) => sink.publish(envelopes, topic).then(() => onPublished(envelopes.map((e) => e.natural_key))), deadLetter: (letters, topic) => sink.deadLetter(letters, topic) }
    : sink;
  const pctx: PollContext = { ...ctx, sink: tellingSink, mode: 'backfill', recentKeys: undefined };
  for (const window of windows) {
    let result: WindowResult | undefined;
    /** Of a window read in parts: what its parts checkpointed so far hold, and where the last one ends. */
    const parts: { records: number; pages: number; end?: number } = { records: 0, pages: 0 };
    // The vendor purges while the run goes: a run slower than real time near the edge reaches windows that were
    // within the horizon (by HORIZON_SAFETY_SEC) when it started, and the vendor would answer them without the
    // purged calls. So each window is judged against the horizon of when it is read.
    const judgedAt = Math.floor(ctx.now() / 1000);
    try {
      ctx.signal.throwIfAborted();
      let part = withinHorizon(window, judgedAt);
      // A window read in parts (over maxWindowRecords) is checkpointed after each, as a window of its own: a run stopped
      // in it resumes at the last part read. Its records are counted from then on (`parts`).
      const readPart = (span: TimeWindow) =>
        readWindow(pctx, req.tenant, span, async (piece, pieceRead) => {
          readSince = Math.min(readSince ?? pieceRead.polledAt, pieceRead.polledAt);
          parts.records += pieceRead.records;
          parts.pages += pieceRead.pages;
          parts.end = piece.end;
          partsRead++;
          records += pieceRead.records;
          pages += pieceRead.pages;
          await save({ ...base, watermark: isoOf(piece.end), polledAt: isoOf(readSince), done: false, records: Number(store.get(id)?.['records'] ?? 0) + pieceRead.records });
          metrics.window({ tenant: req.tenant, mode: 'backfill' }, piece.end);
        });
      try {
        if (part.start < part.end) result = await readPart(part);
      } catch (err) {
        if (!(err instanceof CdrflowError && err.code === PAST_HORIZON)) throw err;
        // Its start passed the horizon while it was read (a read longer than HORIZON_SAFETY_SEC at the edge): judged
        // again, as the live poller's next cycle does, from after the parts already checkpointed (read, not lost). Once:
        // a second refusal fails the run as any other.
        const earlier = { records: parts.records, pages: parts.pages };
        part = withinHorizon({ start: parts.end ?? part.start, end: window.end }, Math.floor(ctx.now() / 1000));
        if (part.start < part.end) {
          const rest = await readPart(part);
          // As if read in one go: the window's result holds its parts, the earlier ones too.
          result = { ...rest, records: rest.records + earlier.records, pages: rest.pages + earlier.pages };
        }
      }
    } catch (err) {
      // A shutdown request surfaces as whatever the read was doing (an aborted fetch, a wait, a retry): a stop here,
      // after the last saved window; this one is read again by the next run.
      if (!ctx.signal.aborted) throw err;
      stopped = { at: parts.end ?? window.start, cause: err };
      break;
    }
    if (result === undefined) {
      // Lost whole: as for the loss found at the start, the checkpoint moves past it and records the loss.
      await save({ ...base, watermark: isoOf(window.end), polledAt: isoOf(readSince ?? judgedAt), done: done && window.end >= to, records: Number(store.get(id)?.['records'] ?? 0) });
      progress.tick(1);
      continue;
    }
    readSince = Math.min(readSince ?? result.polledAt, result.polledAt);
    await save({
      ...base,
      watermark: isoOf(window.end),
      // Not this window's read time: the checkpoint vouches for every window this run read, the first one too, and
      // that one may have had calls still running when it was read (see resumePoint).
      polledAt: isoOf(readSince),
      done: done && window.end >= to,
      records: Number(store.get(id)?.['records'] ?? 0) + result.records - parts.records,
    });
    metrics.window({ tenant: req.tenant, mode: 'backfill' }, window.end);
    records += result.records - parts.records;
    pages += result.pages - parts.pages;
    read++;
    progress.tick(1);
  }
  const elapsedMs = progress.elapsedMs;
  const retries = metrics.counts.retries - retriesBefore;
  const alreadyComplete = windows.length === 0 && !plan.lost && !plan.unsettled && cp !== undefined;
  const notes: string[] = [];
  if (alreadyComplete) notes.push('already complete');
  if (lost) notes.push(`${isoOf(lost.from)} to ${isoOf(lost.to)} ${beyondHorizon.older} and cannot be read`);
  const retryAfter = isoOf(to + openSec);
  // Where the same command run again resumes: the window not read, or before it the open part this run read, which
  // the next run reads again from what this run checkpointed (resumePoint).
  const saved = stopped && read + partsRead > 0 ? store.get(id) : undefined;
  const resumeAt = stopped && saved ? Math.min(stopped.at, resumePoint(saved, from, openSec, req.windowSec, Math.floor(ctx.now() / 1000))) : stopped?.at;
  if (stopped) notes.push(`stopped before the end of the range: the windows read are checkpointed, run the same command again to resume from ${isoOf(resumeAt!)}`);
  else if (plan.unsettled) notes.push(`run again after ${retryAfter} for the rest${plan.readTo >= to ? ' (calls still running when read)' : ''}`);
  const summaryLine = progress.finish(
    {
      windows: read,
      pages,
      records,
      retries,
      'records/s': elapsedMs > 0 ? Math.round((records / elapsedMs) * 1000) : 0,
      ...(lost ? { lost_seconds: lost.seconds } : {}),
      ...(plan.unsettled && !stopped ? { unsettled_from: isoOf(plan.unsettled.start) } : {}),
      ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
    },
    stopped ? 'stopped' : 'done',
  );
  const summary: BackfillSummary = {
    checkpointId: id,
    windows: read,
    pages,
    records,
    retries,
    elapsedMs,
    lostSeconds: lost?.seconds ?? 0,
    ...(lost ? { lostFrom: isoOf(lost.from), lostTo: isoOf(lost.to) } : {}),
    alreadyComplete,
    complete: plan.unsettled === undefined && !stopped,
    ...(plan.unsettled ? { unsettledFrom: isoOf(plan.unsettled.start), retryAfter } : {}),
    ...(resumeAt !== undefined ? { stoppedAt: isoOf(resumeAt) } : {}),
    summaryLine,
  };
  // Still a rejection for callers (reconcile's repair): a stopped range is not a finished one.
  if (stopped) throw new PollStopped(summary, stopped.cause);
  return summary;
}

function recordedLoss(cp: Checkpoint | undefined): { from: number; to: number; seconds: number } | undefined {
  if (!cp || typeof cp['lostFrom'] !== 'string' || typeof cp['lostTo'] !== 'string') return undefined;
  const from = secOf(cp['lostFrom']);
  const to = secOf(cp['lostTo']);
  const seconds = typeof cp['lostSeconds'] === 'number' ? cp['lostSeconds'] : to - from;
  return seconds > 0 ? { from, to, seconds } : undefined;
}
