// Backfill against a vendor stand-in with its own clock: only settled time is checkpointed as read (a range reaching
// into the present is finished by a later run of the same command), a range starting in the future is refused, and
// the part older than the vendor's retention is reported as lost on every run, never as "already complete".
// The live poller meets the same slow reads on the same stand-in, for comparison.
import { describe, expect, it } from 'vitest';
import { runBackfill, type BackfillSummary } from './backfill.ts';
import { LivePoller } from './live.ts';
import { MemoryCheckpoints, MemorySink, memoryPollContext } from './fixtures/memory.ts';
import type { PullSource, SourcePage } from './source.ts';
import type { TimeWindow } from './windows.ts';
import { checkpointIds, type Checkpoint } from '../../core/checkpoints.ts';
import { backfillExitCode } from '../../cli/commands/backfill.ts';
import { CdrflowError } from '../../core/errors.ts';

const T = 1_800_000_000; // "now" at the start of each test, Unix seconds
const iso = (s: number) => new Date(s * 1000).toISOString();
const devnull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

interface FakeCall {
  id: string;
  start: number;
  /** When the vendor starts serving it. */
  visibleAt: number;
}

/**
 * A vendor whose records appear at `visibleAt` on the test's clock (filtered on start, both ends inclusive);
 * `readSec`: how far the clock moves while it answers a window (a slow vendor, a rate limit, retries).
 */
function fakeVendor(opts: { retentionSec?: number; readSec?: number } = {}) {
  const clock = { sec: T };
  const calls: FakeCall[] = [];
  const asked: TimeWindow[] = [];
  const source: PullSource = {
    vendor: 'tencent-trtc',
    connector: 'fake-poller',
    tenants: ['t1'],
    firstPage: 1,
    pageSize: 50,
    ...(opts.retentionSec === undefined ? {} : { retentionSec: opts.retentionSec }),
    async fetchPage(_tenant, window, page, pageSize): Promise<SourcePage> {
      if (page === 1) asked.push(window);
      if (page === 1) clock.sec += opts.readSec ?? 0;
      const horizon = opts.retentionSec === undefined ? -Infinity : clock.sec - opts.retentionSec;
      const matching = calls.filter((c) => c.start >= window.start && c.start <= window.end && c.visibleAt <= clock.sec && c.start >= horizon);
      return { total: matching.length, records: matching.slice((page - 1) * pageSize, page * pageSize).map((c) => ({ id: c.id, start: c.start })), requestId: null };
    },
    naturalKey: (r) => (r as { id: string }).id,
  };
  const add = (start: number, visibleAt = start + 30) => calls.push({ id: `call-${calls.length}`, start, visibleAt });
  return { clock, calls, asked, source, add };
}

function setup(vendor: ReturnType<typeof fakeVendor>) {
  const sink = new MemorySink();
  const store = new MemoryCheckpoints();
  const logs: { level: string; msg: string; fields: Record<string, unknown> | undefined }[] = [];
  const ctx = memoryPollContext(vendor.source, sink, { now: () => vendor.clock.sec * 1000, log: (level, msg, fields) => logs.push({ level, msg, fields }) });
  return { sink, store, logs, ctx };
}

describe('backfill of a range that is not over yet', () => {
  it('reads only up to now - settle, does not mark the range done, and a later run of the same command reads the rest', async () => {
    const v = fakeVendor();
    const from = T - 3 * 3600;
    const to = T + 3600;
    for (let s = from + 60; s < T - 600; s += 600) v.add(s);
    v.add(T - 300); // visible by now
    const h = setup(v);
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, progressStream: devnull };

    const first = await runBackfill(h.ctx, h.store, req);
    expect(Math.max(...v.asked.map((w) => w.end))).toBe(T - 120);
    expect(first).toMatchObject({ unsettledFrom: iso(T - 120), retryAfter: iso(to + 120), complete: false, alreadyComplete: false });
    expect(first.summaryLine).toContain(`unsettled_from=${iso(T - 120)}`);
    expect(first.summaryLine).toContain(`note=run again after ${iso(to + 120)} for the rest`);
    expect(first.summaryLine).not.toContain('already complete');
    const cp = h.store.get(first.checkpointId)!;
    expect(cp).toMatchObject({ watermark: iso(T - 120), done: false });

    // The vendor serves the rest of the range later (a call in the last settle seconds, calls after the first run).
    v.add(T - 60, T + 10);
    v.add(T + 600);
    v.add(to - 1);
    v.clock.sec = to + 600;
    const second = await runBackfill(h.ctx, h.store, req);
    expect(second.windows).toBeGreaterThan(0);
    expect(second).toMatchObject({ complete: true, alreadyComplete: false });
    expect(second.unsettledFrom).toBeUndefined();
    expect(second.summaryLine).not.toMatch(/already complete|unsettled_from/);
    expect(h.sink.keys()).toEqual(new Set(v.calls.map((c) => c.id)));
    expect(h.store.get(first.checkpointId)).toMatchObject({ watermark: iso(to), done: true });
    // Only what was left: the second run starts where the first one stopped.
    expect(Math.min(...v.asked.slice(-second.windows).map((w) => w.start))).toBe(T - 120);

    const third = await runBackfill(h.ctx, h.store, req);
    expect(third).toMatchObject({ windows: 0, alreadyComplete: true, complete: true });
    expect(third.summaryLine).toContain('note=already complete');
  });

  it('keeps open what calls still running may add (maxCallSec): a later run reads it again and finds the long call', async () => {
    const v = fakeVendor();
    const from = T - 6 * 3600;
    const to = T - 3600;
    for (let s = from + 60; s < to; s += 1200) v.add(s);
    // Started inside the range, still running at T: its record appears only when it ends, 110 minutes after it began
    // (within maxCallSec).
    v.add(to - 1800, T + 1200);
    const h = setup(v);
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, maxCallSec: 7200, progressStream: devnull };

    const first = await runBackfill(h.ctx, h.store, req);
    expect(Math.max(...v.asked.map((w) => w.end))).toBe(to);
    expect(first).toMatchObject({ complete: false, unsettledFrom: iso(T - 120 - 7200), retryAfter: iso(to + 120 + 7200) });
    expect(first.summaryLine).toContain(`note=run again after ${iso(to + 120 + 7200)} for the rest (calls still running when read)`);
    expect(h.sink.keys().has('call-15')).toBe(false);
    expect(h.store.get(first.checkpointId)).toMatchObject({ watermark: iso(to), done: false });

    v.clock.sec = to + 120 + 7200 + 1;
    const second = await runBackfill(h.ctx, h.store, req);
    expect(second).toMatchObject({ complete: true, alreadyComplete: false });
    expect(Math.min(...v.asked.slice(-second.windows).map((w) => w.start))).toBe(T - 120 - 7200);
    expect(h.sink.keys()).toEqual(new Set(v.calls.map((c) => c.id)));
    expect(h.store.get(first.checkpointId)).toMatchObject({ done: true });

    const third = await runBackfill(h.ctx, h.store, req);
    expect(third).toMatchObject({ windows: 0, alreadyComplete: true, complete: true });
  });

  it('keeps open what late records may still add (lookbackSec): a record that appears after its call ended is found by a later run', async () => {
    const v = fakeVendor();
    const from = T - 6 * 3600;
    // Ended more than settle + maxCallSec ago, but less than settle + maxCallSec + lookbackSec.
    const to = T - 120 - 3600 - 600;
    for (let s = from + 60; s < to; s += 1200) v.add(s);
    // Started just before `to`; its record appears 87 minutes after that, within maxCallSec + lookbackSec (90 min).
    v.add(to - 300, T + 600);
    const h = setup(v);
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, maxCallSec: 3600, lookbackSec: 1800, progressStream: devnull };

    const first = await runBackfill(h.ctx, h.store, req);
    const late = `call-${v.calls.length - 1}`;
    expect(h.sink.keys().has(late)).toBe(false);
    expect(first).toMatchObject({ complete: false, unsettledFrom: iso(T - 1800 - 3600), retryAfter: iso(to + 1800 + 3600) });
    expect(h.store.get(first.checkpointId)).toMatchObject({ done: false });

    v.clock.sec = to + 1800 + 3600 + 1;
    const second = await runBackfill(h.ctx, h.store, req);
    expect(second).toMatchObject({ complete: true, alreadyComplete: false });
    expect(h.sink.keys()).toEqual(new Set(v.calls.map((c) => c.id)));
    expect(h.store.get(first.checkpointId)).toMatchObject({ done: true });
  });

  it('a slow run: a later run reads again from unsettled_from, not from the last window read minus maxCallSec', async () => {
    // Each window takes two minutes: the run reads its last window 22 minutes after its first one. A window it read
    // early had calls still running then, though the last window's read time says they had all ended.
    const v = fakeVendor({ readSec: 120 });
    const from = T - 2 * 3600;
    const to = T - 120;
    for (let s = from + 60; s < to; s += 900) v.add(s);
    // In the window [T - 3000, T - 2400], read at T + 840; the call ends (and its record appears) at T + 1000, 58
    // minutes after it started (within maxCallSec). Every window after that one starts after the call did.
    v.add(T - 2500, T + 1000);
    const running = `call-${v.calls.length - 1}`;
    const h = setup(v);
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 600, settleSec: 120, maxCallSec: 3600, progressStream: devnull };

    const first = await runBackfill(h.ctx, h.store, req);
    expect(first).toMatchObject({ windows: 12, complete: false, unsettledFrom: iso(T - 3720), retryAfter: iso(to + 3720) });
    expect(h.sink.keys().has(running)).toBe(false);

    v.clock.sec = to + 3720 + 1;
    const second = await runBackfill(h.ctx, h.store, req);
    expect(second).toMatchObject({ complete: true });
    expect(h.store.get(first.checkpointId)).toMatchObject({ done: true });
    // The range is done for good: the call is read by this run or never.
    expect(h.sink.keys()).toEqual(new Set(v.calls.map((c) => c.id)));
    expect(v.asked.slice(-second.windows)[0]!.start).toBe(T - 3720);
  });

  it('a stop inside the open tail names where the next run resumes: the open tail\'s start, which it reads again', async () => {
    // The whole range is within maxCallSec of now - settle: open from `from` on. Stopped after two windows, the next run
    // reads from `from` again (resumePoint), so that is the time the stopped run must name, not its next window.
    const v = fakeVendor();
    const from = T - 1200;
    const to = T - 120;
    const h = setup(v);
    const ac = new AbortController();
    const store = { get: (id: string) => h.store.get(id), save: async (id: string, cp: Omit<Checkpoint, 'updatedAt'>) => {
      const saved = await h.store.save(id, cp);
      if (h.store.history.length === 2) ac.abort(new Error('shutdown requested'));
      return saved;
    } };
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 300, settleSec: 120, maxCallSec: 3600, progressStream: devnull };
    const stopped = await runBackfill({ ...h.ctx, signal: ac.signal }, store, req).then(
      () => undefined,
      (err: unknown) => (err as { partial: BackfillSummary }).partial,
    );
    expect(stopped).toMatchObject({ windows: 2, stoppedAt: iso(from) });
    expect(stopped!.summaryLine).toContain(`resume from ${iso(from)}`);
    const before = v.asked.length;
    await runBackfill(h.ctx, h.store, req);
    expect(v.asked[before]!.start).toBe(from);
  });

  it('refuses a range that starts after now - settle, naming the time up to which records have settled', async () => {
    const v = fakeVendor();
    const h = setup(v);
    const req = { tenant: 't1', from: new Date((T - 60) * 1000), to: new Date((T + 3600) * 1000), windowSec: 3600, settleSec: 120, progressStream: devnull };
    await expect(runBackfill(h.ctx, h.store, req)).rejects.toMatchObject({ kind: 'config', message: expect.stringContaining(iso(T - 120)) });
    await expect(runBackfill(h.ctx, h.store, { ...req, from: new Date((T + 86400) * 1000), to: new Date((T + 2 * 86400) * 1000) })).rejects.toThrow(/has not settled yet/);
    expect(v.asked).toEqual([]);
    expect(h.store.history).toEqual([]);
  });

  it('re-reads the unsettled tail of a checkpoint an earlier version marked done while the range was not over', async () => {
    const v = fakeVendor();
    const from = T - 4 * 3600;
    const to = T + 3600;
    const h = setup(v);
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, progressStream: devnull };
    // Written at T - 2 h by the old code: the whole range "done", though it reached 3 h past that moment.
    const id = `tencent-trtc:t1:backfill:${req.from.toISOString()}-${req.to.toISOString()}`;
    await h.store.save(id, { watermark: iso(to), from: iso(from), to: iso(to), done: true, records: 0, updatedAt: iso(T - 2 * 3600) } as Omit<Checkpoint, 'updatedAt'>);
    v.add(T - 3600); // served after that run
    v.clock.sec = to + 600;
    const summary = await runBackfill(h.ctx, h.store, req);
    expect(summary.alreadyComplete).toBe(false);
    expect(h.sink.keys()).toEqual(new Set(['call-0']));
    expect(Math.min(...v.asked.map((w) => w.start))).toBe(T - 2 * 3600 - 120 - 3600);
  });
});

describe('backfill under a clock that ran ahead', () => {
  it('a checkpoint read while the clock ran a day ahead vouches for nothing: the range is read again, with a warning', async () => {
    // The host clock a day ahead of the vendor's: the whole range looks settled, a call still running (it started 15
    // minutes ago and its record is out in 10 minutes) is not there yet, and the range is checkpointed done.
    const v = fakeVendor();
    const from = T - 3 * 3600;
    const to = T - 600;
    v.add(from + 60);
    v.add(T - 900, T + 600);
    const h = setup(v);
    let aheadSec = 86_400;
    const ctx = { ...h.ctx, now: () => (v.clock.sec + aheadSec) * 1000 };
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, maxCallSec: 3600, progressStream: devnull };
    const first = await runBackfill(ctx, h.store, req);
    expect(first).toMatchObject({ records: 1, complete: true });

    // The clock set right; two hours on the call's record is out and the range has settled for real.
    aheadSec = 0;
    v.clock.sec += 2 * 3600;
    const before = v.asked.length;
    const second = await runBackfill(ctx, h.store, req);
    expect(v.asked[before]!.start).toBe(from);
    expect(second).toMatchObject({ records: 2, complete: true, alreadyComplete: false });
    expect(h.sink.envelopes.map((e) => e.natural_key)).toContain('call-1');
    expect(h.logs.find((l) => l.msg === 'poller.checkpoint_ahead')?.fields).toMatchObject({ polled_at: iso(T + 86_400), read_from: iso(from) });
  });

  it('a checkpoint whose read time is no time (a hand-edited or foreign polledAt) is read again from --from, the warning quoting it', async () => {
    // Taken as ahead of the clock (it vouches for nothing); the warning printed it through toISOString, which throws on
    // an invalid date: the backfill stopped with "Invalid time value" instead of reading the range.
    const v = fakeVendor();
    const from = T - 3 * 3600;
    const to = T - 2 * 3600;
    v.add(from + 60);
    const h = setup(v);
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, maxCallSec: 3600, progressStream: devnull };
    const id = `${v.source.vendor}:t1:backfill:${iso(from)}-${iso(to)}`;
    await h.store.save(id, { watermark: iso(to), polledAt: 'yesterday', done: true });
    const run = await runBackfill(h.ctx, h.store, req);
    expect(run).toMatchObject({ records: 1, complete: true, alreadyComplete: false });
    expect(h.logs.find((l) => l.msg === 'poller.checkpoint_ahead')?.fields).toMatchObject({ polled_at: 'yesterday', read_from: iso(from) });
  });
});

describe('backfill under a clock stepped while it runs', () => {
  it('a step of an hour, back or forward, is no time the run took: elapsedMs and records/s are timed as the summary\'s elapsed is', async () => {
    // Timed on the wall clock, a step back an hour made elapsedMs negative and records/s 0, a step forward an hour
    // made them an hour and about 0, while the summary's own elapsed (the monotonic clock) said a moment.
    for (const stepSec of [-3600, 3600]) {
      const v = fakeVendor({ readSec: stepSec });
      const from = T - 6 * 3600;
      const to = T - 4 * 3600;
      for (let s = from + 60; s < to; s += 600) v.add(s);
      const h = setup(v);
      const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, progressStream: devnull };
      const run = await runBackfill(h.ctx, h.store, req);
      expect(run, `${stepSec}`).toMatchObject({ records: v.calls.length, complete: true });
      expect(run.elapsedMs, `${stepSec}`).toBeGreaterThanOrEqual(0);
      expect(run.elapsedMs, `${stepSec}`).toBeLessThan(60_000);
      expect(run.summaryLine, `${stepSec}`).not.toContain('records/s=0 ');
    }
  });
});

describe('the live poller under the same slow reads', () => {
  it('finds the call still running when its window was read: each window re-reads from the previous one\'s read time', async () => {
    // Live checkpoints one window at a time, and the next window starts maxCallSec + lookbackSec before the previous
    // window's read: what the checkpoint vouches for was read last by that window. The backfill case above, unlike it.
    const v = fakeVendor({ readSec: 120 });
    for (let s = T - 7200 + 60; s < T - 120; s += 900) v.add(s);
    v.add(T - 2500, T + 1000);
    const h = setup(v);
    const settings = { lookbackSec: 0, maxCallSec: 3600, settleSec: 120, maxWindowSec: 600, initialLookbackSec: 7200, pollIntervalSec: 60, recentKeysMaxEntries: 0 };
    await new LivePoller(h.ctx, h.store, settings).runOnce();
    // A restart later: only the checkpoint carries over.
    v.clock.sec = T + 7200;
    await new LivePoller(h.ctx, h.store, settings).runOnce();
    expect(h.sink.keys()).toEqual(new Set(v.calls.map((c) => c.id)));
  });
});

describe('backfill past the vendor retention', () => {
  const RETENTION = 7 * 86400;

  it('a range entirely older than the vendor keeps: reported lost, never "already complete", on the first run and after', async () => {
    const v = fakeVendor({ retentionSec: RETENTION });
    const from = T - 8 * 86400;
    const to = from + 7200;
    v.add(from + 100);
    const h = setup(v);
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, progressStream: devnull };
    const first = await runBackfill(h.ctx, h.store, req);
    expect(first).toMatchObject({ windows: 0, lostSeconds: 7200, lostFrom: iso(from), lostTo: iso(to), alreadyComplete: false, complete: true });
    expect(first.summaryLine).not.toContain('already complete');
    expect(first.summaryLine).toContain('lost_seconds=7,200');
    expect(first.summaryLine).toContain(`note=${iso(from)} to ${iso(to)} is older than tencent-trtc keeps (7 days) and cannot be read`);
    expect(h.logs.filter((l) => l.msg === 'poller.data_lost')).toHaveLength(1);
    expect(h.ctx.metrics.counts.gapSeconds).toBe(7200);
    // A re-run reads nothing and says the range is done, but still that this part was never read; no second gap counted.
    const again = await runBackfill(h.ctx, h.store, req);
    expect(again).toMatchObject({ windows: 0, lostSeconds: 7200, alreadyComplete: true });
    expect(again.summaryLine).toContain('note=already complete; ');
    expect(again.summaryLine).toContain('cannot be read');
    expect(h.ctx.metrics.counts.gapSeconds).toBe(7200);
  });

  it('a range across the horizon: the older part reported lost, the rest read', async () => {
    const v = fakeVendor({ retentionSec: RETENTION });
    const horizon = T - RETENTION + 300;
    const from = T - RETENTION - 2 * 3600;
    const to = T - RETENTION + 4 * 3600;
    v.add(from + 60); // purged
    v.add(horizon + 60);
    v.add(to - 60);
    const h = setup(v);
    // Told what it published (reconcile's repair re-feeds nothing of it again): not the purged call.
    const told = new Set<string>();
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, progressStream: devnull, onPublished: (keys: string[]) => keys.forEach((k) => told.add(k)) };
    const summary = await runBackfill(h.ctx, h.store, req);
    expect(summary).toMatchObject({ lostSeconds: horizon - from, lostFrom: iso(from), lostTo: iso(horizon), alreadyComplete: false, complete: true });
    expect(h.sink.keys()).toEqual(new Set(['call-1', 'call-2']));
    expect(told).toEqual(h.sink.keys());
    expect(h.store.get(summary.checkpointId)).toMatchObject({ done: true, lostFrom: iso(from), lostTo: iso(horizon) });
    const again = await runBackfill(h.ctx, h.store, req);
    expect(again).toMatchObject({ windows: 0, alreadyComplete: true, lostSeconds: horizon - from });
  });

  it('a run slower than the vendor purges near the edge: what ages past the horizon before its window is read is reported lost, the rest read', async () => {
    // Each 120 s window takes 300 s to read: the horizon (now - 7 days + 300 s) overtakes the run's windows while it
    // goes. Judged only at the start, the later windows were asked for after the vendor had purged their calls: not
    // read, not reported lost, exit 0.
    const v = fakeVendor({ retentionSec: RETENTION, readSec: 300 });
    const from = T - RETENTION + 300 + 60; // within the horizon at the start, by one minute
    const to = from + 5 * 120;
    for (let s = from + 10; s < to; s += 20) v.add(s, s);
    const h = setup(v);
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 120, settleSec: 120, progressStream: devnull };
    const summary = await runBackfill(h.ctx, h.store, req);

    // The horizon moves 300 s with each window read, from `from` - 60: [from, +120] read whole at the start; at
    // T + 300 the horizon is +240, so [+120, +240] is lost whole and [+240, +360] read whole; at T + 600 it is +540:
    // [+360, +480] lost, [+480, +600] lost up to +540 and the rest read.
    expect(v.asked).toEqual([
      { start: from, end: from + 120 },
      { start: from + 240, end: from + 360 },
      { start: from + 540, end: to },
    ]);
    const lostParts = [[from + 120, from + 240], [from + 360, from + 540]] as const;
    const lostSeconds = lostParts.reduce((n, [a, b]) => n + b - a, 0);
    expect(summary).toMatchObject({ windows: 3, lostSeconds, lostFrom: iso(from + 120), lostTo: iso(from + 540), complete: true });
    expect(backfillExitCode(summary)).toBe(2);
    expect(summary.summaryLine).toContain(`lost_seconds=${lostSeconds}`);
    expect(summary.summaryLine).toContain(`note=${iso(from + 120)} to ${iso(from + 540)} is older than tencent-trtc keeps (7 days) and cannot be read`);
    const logged = h.logs.filter((l) => l.msg === 'poller.data_lost');
    expect(logged.reduce((n, l) => n + Number(l.fields?.['lost_seconds']), 0)).toBe(lostSeconds);
    expect(h.ctx.metrics.counts.gapSeconds).toBe(lostSeconds);
    // Every call outside the lost parts was read.
    const lostCall = (start: number) => lostParts.some(([a, b]) => start > a && start < b);
    expect(h.sink.keys()).toEqual(new Set(v.calls.filter((c) => !lostCall(c.start)).map((c) => c.id)));
    expect(h.store.get(summary.checkpointId)).toMatchObject({ watermark: iso(to), done: true, lostFrom: iso(from + 120), lostTo: iso(from + 540), lostSeconds });

    // A re-run reads nothing and still names the loss.
    const again = await runBackfill(h.ctx, h.store, req);
    expect(again).toMatchObject({ windows: 0, alreadyComplete: true, lostSeconds });
    expect(backfillExitCode(again)).toBe(2);
  });
});

describe('each second lost behind the horizon is counted once, across cycles and runs', () => {
  const RETENTION = 7 * 86400;
  const settings = { lookbackSec: 0, maxCallSec: 0, settleSec: 120, maxWindowSec: 3600, initialLookbackSec: 0, pollIntervalSec: 60, recentKeysMaxEntries: 0 };
  const loggedSeconds = (h: ReturnType<typeof setup>) => h.logs.filter((l) => l.msg === 'poller.data_lost').reduce((n, l) => n + Number(l.fields?.['lost_seconds']), 0);

  it('live: a loss whose first window then fails is not counted again by the next cycle, only up to its later horizon', async () => {
    const v = fakeVendor({ retentionSec: RETENTION });
    v.add(T - RETENTION + 3000);
    const h = setup(v);
    const watermark = T - RETENTION - 3600;
    await h.store.save('tencent-trtc:t1:live', { watermark: iso(watermark), polledAt: iso(watermark + 120) });
    const fetchPage = v.source.fetchPage.bind(v.source);
    let down = true;
    v.source.fetchPage = async (...args) => {
      if (down) throw new CdrflowError('transient', 'vendor down (injected)', { code: '503' });
      return fetchPage(...args);
    };
    const poller = new LivePoller(h.ctx, h.store, settings);
    await expect(poller.runOnce()).rejects.toThrow('vendor down');
    v.clock.sec += 600;
    down = false;
    await poller.runOnce();

    // Lost: from the checkpoint to the horizon of the cycle that read on, each second once.
    const horizon = v.clock.sec - RETENTION + 300;
    expect(h.ctx.metrics.counts.gapSeconds).toBe(horizon - watermark);
    expect(loggedSeconds(h)).toBe(horizon - watermark);
    expect(h.store.get('tencent-trtc:t1:live')).toMatchObject({ lostFrom: iso(watermark), lostTo: iso(horizon) });
    expect(h.sink.keys()).toEqual(new Set(['call-0']));
  });

  it('backfill: a loss found by a run stopped, or failed, before its checkpoint recorded it is counted once, by the run that records it', async () => {
    const v = fakeVendor({ retentionSec: RETENTION });
    const from = T - RETENTION - 3600;
    const to = T - RETENTION + 4 * 3600;
    v.add(to - 60);
    const h = setup(v);
    const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, progressStream: devnull };
    const fetchPage = v.source.fetchPage.bind(v.source);
    let trouble: 'stop' | 'fail' | undefined = 'stop';
    const stop = new AbortController();
    v.source.fetchPage = async (...args) => {
      if (trouble === 'stop') {
        stop.abort(new Error('shutdown requested'));
        throw stop.signal.reason;
      }
      if (trouble === 'fail') throw new CdrflowError('transient', 'vendor down (injected)', { code: '503' });
      return fetchPage(...args);
    };
    // Stopped in its first read, after the loss before it was found.
    await expect(runBackfill({ ...h.ctx, signal: stop.signal }, h.store, req)).rejects.toThrow();
    v.clock.sec += 600;
    trouble = 'fail';
    // Its first read fails past the retries.
    await expect(runBackfill(h.ctx, h.store, req)).rejects.toThrow('vendor down');
    v.clock.sec += 600;
    trouble = undefined;
    const summary = await runBackfill(h.ctx, h.store, req);

    const horizon = v.clock.sec - RETENTION + 300;
    expect(summary).toMatchObject({ lostSeconds: horizon - from, lostFrom: iso(from), lostTo: iso(horizon), complete: true });
    expect(h.ctx.metrics.counts.gapSeconds).toBe(horizon - from);
    expect(loggedSeconds(h)).toBe(horizon - from);
    expect(h.sink.keys()).toEqual(new Set(['call-0']));
  });
});

describe('backfill: a window whose start passes the horizon while it is read', () => {
  const RETENTION = 7 * 86400;
  const loggedSeconds = (h: ReturnType<typeof setup>) => h.logs.filter((l) => l.msg === 'poller.data_lost').reduce((n, l) => n + Number(l.fields?.['lost_seconds']), 0);
  // Within the horizon (now - 7 days + 300 s) at the start, by one minute.
  const from = T - RETENTION + 360;
  const to = from + 3600;
  const req = { tenant: 't1', from: new Date(from * 1000), to: new Date(to * 1000), windowSec: 3600, settleSec: 120, progressStream: devnull };

  /**
   * The vendor refuses a window whose start is further back than it keeps, as the simulator does (CCC
   * InvalidParameterValue); a request takes as many seconds to answer as `stall` says (more than the 300 s safety margin).
   */
  function refusingVendor(stall: (window: TimeWindow, asked: number) => number) {
    const v = fakeVendor({ retentionSec: RETENTION });
    const fetchPage = v.source.fetchPage.bind(v.source);
    let asked = 0;
    v.source.fetchPage = async (tenant, window, page, size, signal) => {
      v.clock.sec += stall(window, ++asked);
      if (window.start < v.clock.sec - RETENTION) throw new CdrflowError('config', 'InvalidParameterValue: StartTimeStamp must be within the last 7 days', { code: 'InvalidParameterValue' });
      return fetchPage(tenant, window, page, size, signal);
    };
    return v;
  }

  it('is judged again against the horizon of now: the part now before it reported lost (exit 2), the rest read', async () => {
    // Its second page is answered 400 s later: the window's start has passed the vendor's horizon by then.
    const v = refusingVendor((_w, asked) => (asked === 2 ? 400 : 0));
    for (let s = from; s < to; s += 30) v.add(s, s);
    const h = setup(v);
    const summary = await runBackfill(h.ctx, h.store, req);

    const edge = from + 400 - 60; // the horizon when the refusal came
    expect(summary).toMatchObject({ windows: 1, lostSeconds: edge - from, lostFrom: iso(from), lostTo: iso(edge), complete: true });
    expect(summary.records).toBe(v.calls.filter((c) => c.start >= edge).length);
    expect(backfillExitCode(summary)).toBe(2);
    expect(h.ctx.metrics.counts.gapSeconds).toBe(edge - from);
    expect(loggedSeconds(h)).toBe(edge - from);
    for (const c of v.calls.filter((c) => c.start >= edge)) expect(h.sink.keys().has(c.id), c.id).toBe(true);
    expect(h.store.get(summary.checkpointId)).toMatchObject({ watermark: iso(to), done: true, records: summary.records, lostFrom: iso(from), lostTo: iso(edge) });
  });

  it('of a window read in parts: the part already checkpointed is neither reported lost nor counted twice', async () => {
    // Few calls in the first half, 120 in the second: the window is halved (maxWindowRecords 60), the first half read
    // and checkpointed, the second halved again; asking for its first quarter takes 400 s, and its start has passed the
    // horizon by then.
    const mid = from + 1800;
    let stalled = false;
    const v = refusingVendor((w) => (w.start === mid && w.end < to && !stalled ? ((stalled = true), 2200) : 0));
    for (let i = 0; i < 10; i++) v.add(from + 100 + 100 * i, 0);
    for (let i = 0; i < 120; i++) v.add(mid + 10 + 15 * i, 0);
    const h = setup(v);
    const summary = await runBackfill({ ...h.ctx, maxWindowRecords: 60 }, h.store, req);

    const edge = v.clock.sec - RETENTION + 300; // the horizon when the refusal came
    expect(edge).toBeGreaterThan(mid);
    expect(summary).toMatchObject({ windows: 1, lostSeconds: edge - mid, lostFrom: iso(mid), lostTo: iso(edge), complete: true });
    const read = v.calls.filter((c) => c.start <= mid || c.start >= edge);
    expect(summary.records).toBe(read.length);
    expect(backfillExitCode(summary)).toBe(2);
    expect(h.ctx.metrics.counts.gapSeconds).toBe(edge - mid);
    expect(loggedSeconds(h)).toBe(edge - mid);
    expect(h.sink.keys()).toEqual(new Set(read.map((c) => c.id)));
    expect(h.store.get(summary.checkpointId)).toMatchObject({ watermark: iso(to), done: true, records: read.length, lostFrom: iso(mid), lostTo: iso(edge) });
  });

  it('wholly past the horizon once judged again: the whole window is reported lost once, nothing read, the run complete', async () => {
    // The first page is answered 4000 s later: by then the horizon has passed the window's end.
    const v = refusingVendor((_w, asked) => (asked === 1 ? 4000 : 0));
    for (let s = from; s < to; s += 30) v.add(s, s);
    const h = setup(v);
    const summary = await runBackfill(h.ctx, h.store, req);
    expect(summary).toMatchObject({ records: 0, lostSeconds: to - from, lostFrom: iso(from), lostTo: iso(to), complete: true });
    expect(backfillExitCode(summary)).toBe(2);
    expect(h.ctx.metrics.counts.gapSeconds).toBe(to - from);
    expect(loggedSeconds(h)).toBe(to - from);
    expect(h.sink.keys().size).toBe(0);
    expect(h.store.get(summary.checkpointId)).toMatchObject({ watermark: iso(to), done: true, records: 0, lostFrom: iso(from), lostTo: iso(to) });
  });

  it('a vendor that refuses the window again once judged again: the run fails as before, the loss left to the next run', async () => {
    const v = refusingVendor(() => 400);
    v.add(to - 60, 0);
    const h = setup(v);
    await expect(runBackfill(h.ctx, h.store, req)).rejects.toThrow(/passed the horizon while it was read/);
    expect(h.ctx.metrics.counts.gapSeconds).toBe(0);
    expect(h.store.get(checkpointIds.backfill('tencent-trtc', 't1', req.from, req.to))).toBeUndefined();
  });
});
