// Which time window a pull connector reads next. Pure functions over Unix seconds; the clock is passed in.

export interface TimeWindow {
  /** Inclusive, Unix seconds. */
  start: number;
  /**
   * Inclusive, Unix seconds; the next window starts at `end` again. Whether the vendor's EndTimeStamp is
   * inclusive is undocumented, so the one-second overlap costs at most a duplicate (deduplicated by key), never a gap.
   */
  end: number;
}

export interface LivePlanInput {
  /** Everything before this was read and acknowledged. */
  watermark: number;
  /** When the window that produced the watermark was read (records visible by then were seen). */
  polledAt: number | undefined;
  now: number;
  /** How long after a call ENDS its record can still appear (late records). */
  lookbackSec: number;
  /**
   * Longest call expected. The vendors filter windows on call START while a record appears only after the call
   * ends, so a re-read must reach back lookback + the longest call to catch a long call that ended late.
   */
  maxCallSec: number;
  settleSec: number;
  /** Most new time (beyond the watermark) one window covers; the re-read part comes on top. */
  maxWindowSec: number;
  /** Oldest instant the vendor still serves (TRTC: now - 7 days); undefined = no retention limit. */
  horizon?: number | undefined;
}

export interface LivePlan {
  window: TimeWindow;
  /** Set when the watermark is older than the vendor's horizon: this interval can no longer be read. */
  lost?: TimeWindow;
}

/**
 * The next live window, or undefined when there is nothing new to read yet.
 *
 * The start re-reads only where records could still have been missing when the previous window was read: a
 * record appears at most `maxCallSec + lookbackSec` after its call started, so anything that started before
 * `polledAt - maxCall - lookback` was already visible then. A feed catching up from far behind therefore never
 * re-reads; a live feed re-reads roughly the last `maxCall + lookback` each time.
 */
export function nextLiveWindow(input: LivePlanInput): LivePlan | undefined {
  const { watermark, now, lookbackSec, maxCallSec, settleSec, maxWindowSec, horizon } = input;
  const latestEnd = now - settleSec;
  const polledAt = input.polledAt ?? watermark;
  let start = Math.min(watermark, polledAt - lookbackSec - maxCallSec);
  let lost: TimeWindow | undefined;
  if (horizon !== undefined) {
    if (watermark < horizon) lost = { start: watermark, end: horizon };
    start = Math.max(start, horizon);
  }
  const end = Math.min(Math.max(watermark, horizon ?? watermark) + maxWindowSec, latestEnd);
  // Nothing new: the window would not move the watermark.
  if (end <= Math.max(watermark, horizon ?? watermark)) return undefined;
  return lost ? { window: { start, end }, lost } : { window: { start, end } };
}

/** Fixed windows covering [from, to] for a backfill, resuming at `cursor`. */
export function backfillWindows(from: number, to: number, sizeSec: number, cursor: number = from): TimeWindow[] {
  const windows: TimeWindow[] = [];
  for (let start = Math.max(from, cursor); start < to; start += sizeSec) windows.push({ start, end: Math.min(start + sizeSec, to) });
  return windows;
}

/**
 * How far a checkpoint's time (a live watermark, a read time) may be ahead of the clock and still be believed: a clock
 * stepped back a little waits it out; further ahead, it was stamped by a clock that ran ahead, and places nothing in time.
 */
const CLOCK_SLACK_SEC = 300;

/** Whether a checkpoint's time (Unix s) is further ahead of the clock than CLOCK_SLACK_SEC, or no time at all (NaN). */
export const aheadOfClock = (sec: number, nowSec: number) => !(sec <= nowSec + CLOCK_SLACK_SEC);

export const isoOf = (sec: number) => new Date(sec * 1000).toISOString();
export const secOf = (iso: string) => Math.floor(Date.parse(iso) / 1000);
