// A bounded re-poll of [from, to] for one tenant: same windows and paging as live, envelope mode `backfill`, its
// own checkpoint (resumable; never the live one), progress with ETA, and a summary.
// Unlike live, a backfill publishes every record it reads, even ones the live poller already published unchanged:
// it is a deliberate re-read (repair a gap downstream, re-feed a range), the operator expects its summary to count
// the range, and downstream deduplicates by key. It neither reads nor fills the live cache of published records.
import { checkpointIds, type CheckpointStore } from '../../core/checkpoints.ts';
import { Progress } from '../../core/progress.ts';
import { CdrflowError } from '../../core/errors.ts';
import { readWindow, type PollContext } from './reader.ts';
import { backfillWindows, isoOf, secOf } from './windows.ts';
import { HORIZON_SAFETY_SEC } from './live.ts';

export interface BackfillRequest {
  tenant: string;
  from: Date;
  to: Date;
  windowSec: number;
  /** Progress output; defaults to stderr. */
  progressStream?: NodeJS.WriteStream;
}

export interface BackfillSummary {
  checkpointId: string;
  windows: number;
  pages: number;
  records: number;
  retries: number;
  elapsedMs: number;
  /** Seconds of the range that the vendor no longer keeps. */
  lostSeconds: number;
  /** True when the checkpoint said this range was already complete. */
  alreadyComplete: boolean;
  summaryLine: string;
}

export async function runBackfill(ctx: Omit<PollContext, 'mode'>, store: Pick<CheckpointStore, 'get' | 'save'>, req: BackfillRequest): Promise<BackfillSummary> {
  const { source, metrics, log } = ctx;
  if (!source.tenants.includes(req.tenant)) {
    throw new CdrflowError('config', `tenant ${req.tenant} is not configured for ${source.vendor} (configured: ${source.tenants.join(', ') || 'none'})`);
  }
  const from = Math.floor(req.from.getTime() / 1000);
  const to = Math.floor(req.to.getTime() / 1000);
  if (!(to > from)) throw new CdrflowError('config', `backfill range is empty: --from ${req.from.toISOString()} must be before --to ${req.to.toISOString()}`);
  const id = checkpointIds.backfill(source.vendor, req.tenant, req.from, req.to);
  const cp = store.get(id);
  let cursor = cp ? secOf(cp.watermark) : from;
  const started = ctx.now();
  const retriesBefore = metrics.counts.retries;
  let lostSeconds = 0;
  if (source.retentionSec !== undefined) {
    const horizon = Math.floor(ctx.now() / 1000) - source.retentionSec + HORIZON_SAFETY_SEC;
    if (cursor < horizon) {
      lostSeconds = Math.min(horizon, to) - cursor;
      metrics.gap(req.tenant, lostSeconds);
      log('error', 'poller.data_lost', {
        reason: `${source.vendor} keeps only ${Math.round(source.retentionSec / 86400)} days`,
        tenant: req.tenant,
        lost_from: isoOf(cursor),
        lost_to: isoOf(Math.min(horizon, to)),
        lost_seconds: lostSeconds,
        checkpoint: id,
      });
      cursor = Math.min(horizon, to);
    }
  }
  const windows = backfillWindows(from, to, req.windowSec, cursor);
  const allWindows = backfillWindows(from, to, req.windowSec).length;
  const progress = new Progress({ label: `backfill ${source.vendor} ${req.tenant}`, total: allWindows, unit: 'windows', now: ctx.now, ...(req.progressStream ? { stream: req.progressStream } : {}) });
  progress.skip(allWindows - windows.length);
  let records = 0;
  let pages = 0;
  const pctx: PollContext = { ...ctx, mode: 'backfill', recentKeys: undefined };
  for (const window of windows) {
    const result = await readWindow(pctx, req.tenant, window);
    await store.save(id, {
      watermark: isoOf(window.end),
      from: req.from.toISOString(),
      to: req.to.toISOString(),
      done: window.end >= to,
      records: Number(store.get(id)?.['records'] ?? 0) + result.records,
    });
    metrics.window({ tenant: req.tenant, mode: 'backfill' }, window.end);
    records += result.records;
    pages += result.pages;
    progress.tick(1);
  }
  const elapsedMs = ctx.now() - started;
  const retries = metrics.counts.retries - retriesBefore;
  const summaryLine = progress.finish({
    windows: windows.length,
    pages,
    records,
    retries,
    'records/s': elapsedMs > 0 ? Math.round((records / elapsedMs) * 1000) : 0,
    ...(lostSeconds > 0 ? { lost_seconds: lostSeconds } : {}),
    ...(windows.length === 0 ? { note: 'already complete' } : {}),
  });
  return { checkpointId: id, windows: windows.length, pages, records, retries, elapsedMs, lostSeconds, alreadyComplete: windows.length === 0 && cp !== undefined, summaryLine };
}
