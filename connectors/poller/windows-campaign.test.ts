// A seeded campaign against the live poller's choice of windows and its checkpoint (windows.ts nextLiveWindow, driven
// through live.ts LivePoller.runOnce with in-memory stand-ins). Each case draws, from its own seed, the settings within
// their documented ranges (README "Configuration reference": lookbackSec, maxCallSec, settleSec ≥ 0, maxWindowSec > 0,
// initialLookbackSec ≥ 0, a CCC window under 90 days), a vendor (CCC: 180 days back, TRTC: 7 days, none), a starting
// checkpoint or none, a clock advancing in random steps (poll intervals, pauses of hours and days, longer than the
// retention, small steps back as NTP makes), reads taking time, a failing read, Kafka publish or checkpoint save in
// some cycles, and calls that start at s, last d ≤ maxCallSec and become visible at s + d + v, v ≤ lookbackSec (the
// vendor shares the poller's clock: see below). Every case is held to:
//  - each window ends after it starts, asks for no more new time than maxWindowSec (re-read on top: the span stays
//    within maxWindowSec + lookbackSec + maxCallSec), never before the vendor's retention, never past now − settleSec;
//  - the checkpoint only moves forward, only once a window was read whole, and never past now − settleSec;
//  - the completed windows and the reported losses (poller.data_lost, the gap counter) cover every second from the
//    first window's start to the final checkpoint, and every call that was visible by the last completed read and
//    started in that range was served by a completed window read once it was visible (README: "a call up to
//    `maxCallSec` long whose record appears up to `lookbackSec` after it ends is never missed"), or lies in a
//    reported loss;
//  - each lost second is reported once (no two poller.data_lost share a second; the gap counter is their sum), and
//    only after the checkpoint that moves past it, recording it as lostFrom/lostTo, was saved;
//  - a cycle nothing made fail catches up (checkpoint at now − settleSec, within the clock's moves during the cycle),
//    and a pause longer than the retention is a reported loss, not a failed cycle;
//  - bounded: within a cycle every window but the last takes maxWindowSec of new time, and a hard cap on windows per
//    cycle turns a runaway into a failure.
// The vendor judges visibility on the poller's own clock: a poller clock running ahead of the vendor's by δ would
// overstate polledAt by δ, which the re-read has no margin for; NTP steps back are modelled between cycles.
// Found: a tenant without a checkpoint whose initialLookbackSec is not above settleSec was never read: its start was
// taken afresh from each cycle's clock, always inside the unsettled time (58 of seeds 1..400, e.g. 1, 2, 5, 11; poller.test.ts has it as a plain test). A loss was reported before
// its first window was read: when that window failed, the next cycle reported it again up to its later horizon, the
// same seconds counted twice or more (22 of seeds 1..400, e.g. 32, 50, 76; backfill.test.ts has it as a plain test). Left alone: after a pause of about the retention the re-read is clamped to the horizon and late records of the part cut off are not reported lost (windows.test.ts expects the clamp "without calling it a loss"; the oracle lets such calls pass, judging the first read after the call appeared for good: seed 628837 stepped the clock back, hiding the call again, after a read made while it was visible).
// The same seed draws the same case, so a failure replays: it prints its seed and case, and
// CDRFLOW_FUZZ_WINDOWS_ONLY=<seed>[,<seed>] runs just those (CDRFLOW_FUZZ_WINDOWS_SEED / _COUNT move the range).
import { describe, expect, it } from 'vitest';
import { LivePoller, type LiveSettings } from './live.ts';
import type { PullSource } from './source.ts';
import { MemoryCheckpoints, MemorySink } from './fixtures/memory.ts';
import { PollerMetrics } from './metrics.ts';
import { secOf } from './windows.ts';
import { CdrflowError } from '../../core/errors.ts';
import { TokenBucket } from '../../core/token-bucket.ts';
import type { Checkpoint } from '../../core/checkpoints.ts';
import { CCC_MAX_SPAN_SEC, CCC_RETENTION_SEC } from '../tencent-ccc/config.ts';
import { TRTC_RETENTION_SEC } from '../tencent-trtc/source.ts';
import { Rng, seededRandom } from '../../simulators/kit.ts';
import { campaignSeeds } from '../../test/fuzz/seeds.ts';

const { seeds: SEEDS, replaying: REPLAYING, timeoutMs } = campaignSeeds('WINDOWS', 400);

const HOUR = 3600;
const DAY = 86_400;
const T0 = 1_760_000_000;
const TENANT = '1400000001';
/** Windows in one cycle after which the cycle is stopped as a runaway. */
const CYCLE_CAP = 5_000;
/** The poller's page size in every case. */
const PAGE_SIZE = 100;
/** Windows a whole case may need at most; maxWindowSec is raised (within its range) to keep each case quick. */
const CASE_WINDOWS = 600;

type Vendor = 'tencent-ccc' | 'tencent-trtc' | 'none';
type Failure = 'fetch' | 'kafka' | 'save';

interface Call {
  id: string;
  start: number;
  visible: number;
}

interface Step {
  /** Clock move before the cycle (negative: NTP stepped back). */
  advanceSec: number;
  failure?: { kind: Failure; window: number };
}

interface Case {
  seed: number;
  vendor: Vendor;
  retentionSec: number | undefined;
  settings: LiveSettings;
  checkpoint: { watermark: number; polledAt: number | undefined } | undefined;
  steps: Step[];
  calls: Call[];
  /** Most clock advance one page read takes, ms. */
  readMs: number;
}

function describeCase(c: Case): string {
  const s = c.settings;
  const steps = c.steps.map((st) => `${st.advanceSec}${st.failure ? `!${st.failure.kind}@${st.failure.window}` : ''}`).join(' ');
  return [
    `seed ${c.seed}: ${c.vendor}`,
    `lookback ${s.lookbackSec} maxCall ${s.maxCallSec} settle ${s.settleSec} maxWindow ${s.maxWindowSec} initialLookback ${s.initialLookbackSec}`,
    c.checkpoint ? `checkpoint ${c.checkpoint.watermark - T0} polledAt ${c.checkpoint.polledAt === undefined ? '-' : c.checkpoint.polledAt - T0} (from T0)` : 'no checkpoint',
    `${c.calls.length} calls, reads up to ${c.readMs} ms a page`,
    `steps (s): ${steps}`,
  ].join('; ');
}

function planCase(seed: number): Case {
  const r = new Rng(seededRandom(seed));
  const vendor = r.weighted<Vendor>([['tencent-ccc', 2], ['tencent-trtc', 2], ['none', 1]]);
  const retentionSec = vendor === 'tencent-ccc' ? CCC_RETENTION_SEC : vendor === 'tencent-trtc' ? TRTC_RETENTION_SEC : undefined;
  const lookbackSec = r.weighted<number>([[0, 1], [1800, 3], [r.int(1, 600), 2], [r.int(600, 6 * HOUR), 2]]);
  const maxCallSec = r.weighted<number>([[0, 1], [3600, 2], [7200, 2], [r.int(1, 4 * HOUR), 2]]);
  const settleSec = r.weighted<number>([[0, 1], [120, 4], [r.int(1, 900), 2], [r.int(900, 6 * HOUR), 1]]);
  let maxWindowSec = r.weighted<number>([[3600, 4], [r.int(1, 3600), 1], [r.int(300, 6 * HOUR), 2], [DAY, 1], [r.int(DAY, 30 * DAY), 1]]);
  const initialLookbackSec = r.weighted<number>([[0, 2], [3600, 3], [r.int(1, 600), 2], [r.int(600, 3 * DAY), 2]]);
  const reach = retentionSec ?? 30 * DAY;

  const checkpoint = r.weighted<Case['checkpoint'] | 'none'>([
    ['none', 4],
    [{ watermark: T0 - settleSec - r.int(0, 2 * HOUR), polledAt: undefined }, 1],
    [(() => { const w = T0 - settleSec - r.int(0, 2 * HOUR); return { watermark: w, polledAt: w + settleSec + r.int(0, 600) }; })(), 3],
    [(() => { const w = T0 - reach - r.int(-2 * HOUR, 20 * DAY); return { watermark: w, polledAt: w + settleSec + r.int(0, 600) }; })(), 1],
  ]);

  const steps: Step[] = [];
  const n = r.int(10, 50);
  for (let i = 0; i < n; i++) {
    const advanceSec = r.weighted<number>([
      [r.int(1, 120), 14],
      [-r.int(1, 60), 2],
      [r.int(120, 6 * HOUR), 2],
      [r.int(6 * HOUR, 3 * DAY), 1],
      // Around the retention: just inside it (the re-read reaches past it), and beyond it.
      [reach - r.int(0, 12 * HOUR), 0.4],
      [reach + r.int(0, 5 * DAY), 0.4],
    ]);
    const failure = r.chance(0.15) ? { kind: r.pick<Failure>(['fetch', 'kafka', 'save']), window: r.weighted<number>([[0, 3], [1, 1], [r.int(2, 20), 1]]) } : undefined;
    steps.push(failure ? { advanceSec, failure } : { advanceSec });
  }

  // Keep a case quick: the new time it may need to read over the windows it may take.
  const span = (checkpoint === 'none' || checkpoint === undefined ? initialLookbackSec : T0 - checkpoint.watermark) + steps.reduce((s, st) => s + Math.max(0, st.advanceSec), 0);
  maxWindowSec = Math.max(maxWindowSec, Math.ceil(Math.min(span, 3 * reach) / CASE_WINDOWS));
  if (vendor === 'tencent-ccc' && maxWindowSec + lookbackSec + maxCallSec >= CCC_MAX_SPAN_SEC) maxWindowSec = CCC_MAX_SPAN_SEC - 1 - lookbackSec - maxCallSec;

  // Calls around every point the clock visits, many of them late across a read's boundary.
  const calls: Call[] = [];
  let clock = T0;
  const points = [T0, ...steps.map((st) => (clock += st.advanceSec))];
  for (const p of points) {
    for (let k = r.int(0, 4); k > 0; k--) {
      const start = p - r.int(0, lookbackSec + maxCallSec + settleSec + 600);
      const d = r.weighted<number>([[maxCallSec, 1], [0, 1], [r.int(0, maxCallSec), 3]]);
      const v = r.weighted<number>([[lookbackSec, 1], [0, 1], [r.int(0, lookbackSec), 3]]);
      calls.push({ id: `c${calls.length}`, start, visible: start + d + v });
    }
  }
  // A window's new time outlasts its read twice over: a window read slower than the time it covers (3 s windows whose
  // page reads took up to 20 s, seed 14311268) leaves any live poller further behind with each, a vendor slower than
  // time that no choice of windows can catch up with; the cycle cap would end it as a runaway. Drawn here, after the
  // calls, so that every other case draws as it did.
  const readMs = r.weighted<number>([[0, 1], [2000, 3], [20_000, 1]]);
  const pages = Math.max(1, Math.ceil(calls.length / PAGE_SIZE));
  maxWindowSec = Math.max(maxWindowSec, Math.ceil((2 * pages * readMs) / 1000));
  return {
    seed,
    vendor,
    retentionSec,
    settings: { lookbackSec, maxCallSec, settleSec, maxWindowSec, initialLookbackSec, pollIntervalSec: 60, recentKeysMaxEntries: 0 },
    checkpoint: checkpoint === 'none' ? undefined : checkpoint,
    steps,
    calls,
    readMs,
  };
}

interface Done {
  start: number;
  end: number;
  /** The new time: from the previous checkpoint, or the horizon when a loss was reported. */
  newFrom: number;
  prevEnd: number | undefined;
  polledAt: number;
  lost: { from: number; to: number } | undefined;
  served: Set<string>;
  cycle: number;
}

const clampedAway = { count: 0 };

async function runCase(c: Case): Promise<string[]> {
  const r = new Rng(seededRandom(c.seed * 7919 + 1));
  const s = c.settings;
  const problems: string[] = [];
  const problem = (p: string) => {
    if (problems.length < 8) problems.push(p);
  };
  let clockMs = T0 * 1000;
  /** Clock readings of the current cycle, and those before the current window's first request. */
  let readings: number[] = [];
  let planReadings: number[] = [];
  let windowsInCycle = 0;
  let failure: Step['failure'];
  let cycle = 0;
  let stop = new AbortController();

  const sink = new MemorySink();
  const metrics = new PollerMetrics('campaign-poller');
  const lostLogs: { from: number; to: number }[] = [];
  /** The window whose checkpoint was just saved, with the loss fields it saved: a loss is reported only after it. */
  let justSaved: { window: Done; value: Record<string, unknown> } | undefined;
  let current = { key: '', served: new Set<string>() };
  const done: Done[] = [];
  const id = `${c.vendor === 'none' ? 'tencent-ccc' : c.vendor}:${TENANT}:live`;

  const source: PullSource = {
    vendor: c.vendor === 'none' ? 'tencent-ccc' : c.vendor,
    connector: 'campaign-poller',
    tenants: [TENANT],
    firstPage: 0,
    pageSize: PAGE_SIZE,
    ...(c.retentionSec === undefined ? {} : { retentionSec: c.retentionSec }),
    async fetchPage(_tenant, window, page, pageSize) {
      const nowSec = Math.floor(clockMs / 1000);
      const key = `${window.start}-${window.end}`;
      if (key !== current.key) {
        // A new read: check the window as planned.
        current = { key, served: new Set() };
        justSaved = undefined;
        windowsInCycle++;
        planReadings = [...readings];
        if (windowsInCycle > CYCLE_CAP) stop.abort();
        if (window.end <= window.start) problem(`cycle ${cycle}: window [${window.start - T0}, ${window.end - T0}] ends before it starts`);
        if (window.end - window.start > s.maxWindowSec + s.lookbackSec + s.maxCallSec)
          problem(`cycle ${cycle}: window [${window.start - T0}, ${window.end - T0}] spans ${window.end - window.start} s, above maxWindow + lookback + maxCall`);
        if (c.vendor === 'tencent-ccc' && window.end - window.start >= CCC_MAX_SPAN_SEC) problem(`cycle ${cycle}: CCC would refuse a span of ${window.end - window.start} s`);
        if (c.retentionSec !== undefined && window.start < nowSec - c.retentionSec)
          problem(`cycle ${cycle}: window starts ${nowSec - c.retentionSec - window.start} s before the retention (${c.vendor} refuses it)`);
        const latest = Math.floor(Math.max(...planReadings) / 1000) - s.settleSec;
        if (window.end > latest) problem(`cycle ${cycle}: window ends at ${window.end - T0}, past now − settle ${latest - T0}`);
      }
      if (failure?.window === windowsInCycle - 1) {
        if (failure.kind === 'fetch') throw new CdrflowError('transient', 'InternalError (injected)', { code: 'InternalError' });
        if (failure.kind === 'kafka') sink.failWhen = () => true;
      }
      const visible = c.calls.filter(
        (call) => call.start >= window.start && call.start <= window.end && call.visible <= nowSec && (c.retentionSec === undefined || call.start >= nowSec - c.retentionSec),
      );
      clockMs += r.int(0, c.readMs);
      const records = visible.slice(page * pageSize, (page + 1) * pageSize).map((call) => ({ id: call.id, start: call.start }));
      for (const rec of records) current.served.add(rec.id);
      return { total: visible.length, records, requestId: null };
    },
    naturalKey: (record) => (record as { id: string }).id,
  };

  const store = new MemoryCheckpoints();
  const save = store.save.bind(store);
  store.save = async (cpId, value) => {
    if (failure?.kind === 'save' && failure.window === windowsInCycle - 1) throw new CdrflowError('transient', 'checkpoint not acknowledged (injected)');
    const before = store.get(cpId);
    const end = secOf(String(value.watermark));
    const start = secOf(String(value['windowStart']));
    const latest = Math.floor(Math.max(...planReadings) / 1000) - s.settleSec;
    if (`${start}-${end}` !== current.key) problem(`cycle ${cycle}: checkpoint for [${start - T0}, ${end - T0}] saved, but the window read was ${current.key}`);
    if (before && end <= secOf(before.watermark)) problem(`cycle ${cycle}: checkpoint moved from ${secOf(before.watermark) - T0} to ${end - T0}`);
    if (end > latest) problem(`cycle ${cycle}: checkpoint ${end - T0} past now − settle ${latest - T0}`);
    const prevEnd = before ? secOf(before.watermark) : undefined;
    const w: Done = { start, end, newFrom: prevEnd ?? start, prevEnd, polledAt: secOf(String(value['polledAt'])), lost: undefined, served: current.served, cycle };
    done.push(w);
    justSaved = { window: w, value };
    current = { key: '', served: new Set() };
    return save(cpId, value as Omit<Checkpoint, 'updatedAt'>);
  };
  if (c.checkpoint) {
    await save(id, {
      watermark: new Date(c.checkpoint.watermark * 1000).toISOString(),
      ...(c.checkpoint.polledAt === undefined ? {} : { polledAt: new Date(c.checkpoint.polledAt * 1000).toISOString() }),
    });
  }

  const poller = new LivePoller(
    {
      source,
      sink,
      bucket: new TokenBucket({ ratePerSecond: 1, capacity: Infinity, now: () => 0 }),
      metrics,
      log: (level, msg, fields) => {
        if (msg !== 'poller.data_lost') return;
        if (level !== 'error') problem(`poller.data_lost logged at ${level}`);
        const lost = { from: secOf(String(fields?.['lost_from'])), to: secOf(String(fields?.['lost_to'])) };
        lostLogs.push(lost);
        // Reported once the checkpoint that moves past it, and records it, is saved: a window that fails first leaves
        // it to the next cycle, which reports it once.
        if (!justSaved) return problem(`cycle ${cycle}: loss [${lost.from - T0}, ${lost.to - T0}] reported before a checkpoint recorded it`);
        if (justSaved.value['lostFrom'] !== fields?.['lost_from'] || justSaved.value['lostTo'] !== fields?.['lost_to'])
          problem(`cycle ${cycle}: loss [${lost.from - T0}, ${lost.to - T0}] reported, the checkpoint records ${String(justSaved.value['lostFrom'])}..${String(justSaved.value['lostTo'])}`);
        justSaved.window.lost = lost;
        justSaved.window.newFrom = lost.to;
        justSaved = undefined;
      },
      topics: { raw: 'raw', deadLetter: 'dlq' },
      retry: { initialMs: 0, maxMs: 0, maxAttempts: 1 },
      now: () => {
        readings.push(clockMs);
        return clockMs;
      },
    },
    store,
    s,
  );

  let startAt = c.checkpoint?.watermark;
  for (const step of c.steps) {
    cycle++;
    clockMs += step.advanceSec * 1000;
    readings = [];
    planReadings = [];
    windowsInCycle = 0;
    failure = step.failure;
    sink.failWhen = undefined;
    stop = new AbortController();
    const doneBefore = done.length;
    const outcome = await poller.runOnce(stop.signal).then(
      () => undefined,
      (err: unknown) => err,
    );
    justSaved = undefined;
    current = { key: '', served: new Set() };
    startAt ??= Math.floor(Math.min(...readings) / 1000) - s.initialLookbackSec;
    if (stop.signal.aborted) {
      problem(`cycle ${cycle}: more than ${CYCLE_CAP} windows in one cycle`);
      break;
    }
    const injected = failure !== undefined && windowsInCycle > failure.window;
    if (outcome !== undefined && !injected) problem(`cycle ${cycle}: failed without an injected failure: ${String(outcome)}`);
    if (outcome === undefined) {
      // Caught up: nothing is left up to now − settle (as of some clock reading of the cycle).
      const cp = store.get(id);
      const caughtUp = Math.floor(Math.min(...readings) / 1000) - s.settleSec;
      // Without a checkpoint the tenant starts at now − initialLookbackSec as of its first cycle: once that settled,
      // it is read.
      if (!cp && startAt < caughtUp) problem(`cycle ${cycle}: a cycle that did not fail left no checkpoint, its start ${startAt - T0} settled (clock ${Math.floor(clockMs / 1000) - T0})`);
      else if (cp && secOf(cp.watermark) < caughtUp) problem(`cycle ${cycle}: a cycle that did not fail stopped at ${secOf(cp.watermark) - T0}, now − settle ${caughtUp - T0}`);
    }
    // Bounded: every window of the cycle but the last took all the new time it may.
    const cycleDone = done.slice(doneBefore);
    for (const w of cycleDone) {
      if (w.lost && w.end - w.lost.to > s.maxWindowSec) problem(`cycle ${cycle}: ${w.end - w.lost.to} s of new time after a loss, above maxWindowSec`);
      else if (!w.lost && w.prevEnd !== undefined && w.end - w.prevEnd > s.maxWindowSec) problem(`cycle ${cycle}: ${w.end - w.prevEnd} s of new time, above maxWindowSec`);
    }
    cycleDone.slice(0, -1).forEach((w) => {
      // A tenant's first window has no checkpoint before it to count new time from.
      if (w === done[0] && !c.checkpoint) return;
      if (w.end - w.newFrom !== s.maxWindowSec) problem(`cycle ${cycle}: a window took ${w.end - w.newFrom} s of new time, yet the cycle went on (maxWindowSec ${s.maxWindowSec})`);
    });
  }

  if (metrics.counts.gapSeconds !== lostLogs.reduce((sum, l) => sum + (l.to - l.from), 0)) problem(`gap counter ${metrics.counts.gapSeconds} s, logged losses disagree`);
  // Each lost second counted once: no two reported losses share a second.
  const sorted = [...lostLogs].sort((a, b) => a.from - b.from);
  sorted.slice(1).forEach((l, k) => {
    if (l.from < sorted[k]!.to) problem(`loss [${l.from - T0}, ${l.to - T0}] reported again: [${sorted[k]!.from - T0}, ${sorted[k]!.to - T0}] was reported before`);
  });
  if (done.length === 0) return problems;
  // Continuity: the new time of the completed windows, with the reported losses, has no hole.
  let reach = done[0]!.end;
  for (const w of done.slice(1)) {
    const from = w.lost ? Math.min(w.start, w.lost.from) : w.start;
    if (from > reach) problem(`cycle ${w.cycle}: [${reach - T0}, ${from - T0}] read by no completed window and reported lost by none`);
    if (w.lost && w.lost.from > reach) problem(`cycle ${w.cycle}: loss reported from ${w.lost.from - T0}, the checkpoint was ${reach - T0}`);
    reach = Math.max(reach, w.end);
  }
  const first = done[0]!.start;
  const last = done.at(-1)!;
  const inLoss = (t: number) => lostLogs.some((l) => t >= l.from && t < l.to);
  for (const call of c.calls) {
    if (call.start < first || call.start > last.end || call.visible > last.polledAt) continue;
    if (done.some((w) => w.served.has(call.id)) || inLoss(call.start)) continue;
    // Left alone (see the header): the first read after the call appeared no longer reached its start, as the
    // re-read was clamped to the retention horizon after a pause of about the retention; no loss is reported for it.
    // The first read after the call appeared for good: a clock stepped back between cycles may have hidden it again
    // from a later read (seed 628837), so a read before the last one that could not see it does not count.
    const hidden = done.findLastIndex((w) => w.polledAt < call.visible);
    const next = done.slice(hidden + 1).find((w) => w.polledAt >= call.visible);
    if (c.retentionSec !== undefined && next && call.start < next.start && next.start <= next.polledAt - c.retentionSec + 300 + 60) {
      clampedAway.count++;
      continue;
    }
    const covering = done.filter((w) => call.start >= w.start && call.start <= w.end).map((w) => `[${w.start - T0}, ${w.end - T0}] at ${w.polledAt - T0}`);
    problem(`call ${call.id} started ${call.start - T0}, visible ${call.visible - T0}, never read (windows on it: ${covering.join(', ') || 'none'})`);
  }
  return problems;
}

describe('live windows and checkpoint: a seeded campaign of settings, clocks and failures', () => {
  it(`${SEEDS.length} cases (seeds ${SEEDS[0]}..${SEEDS.at(-1)}): windows within bounds, checkpoint only forward over what was read, every promised call read or its loss reported`, async () => {
    const failures: string[] = [];
    let losses = 0;
    let failed = 0;
    for (const seed of SEEDS) {
      const c = planCase(seed);
      if (c.steps.some((st) => st.failure)) failed++;
      const problems = await runCase(c);
      if (c.steps.some((st) => st.advanceSec > (c.retentionSec ?? Infinity))) losses++;
      if (problems.length > 0) failures.push(`${describeCase(c)}\n    ${problems.join('\n    ')}`);
    }
    expect(failures.length, `${failures.length} failing case(s); replay with CDRFLOW_FUZZ_WINDOWS_ONLY=<seed>\n  ${failures.slice(0, 10).join('\n  ')}`).toBe(0);
    if (!REPLAYING) {
      expect(losses).toBeGreaterThan(SEEDS.length / 20);
      expect(failed).toBeGreaterThan(SEEDS.length / 4);
    }
    // 120 s for the default count: about 6 s on a quiet machine, up to 47 s seen beside other test runs on 2 cores.
  }, timeoutMs(120_000));
});
