// The one limit on log lines that outsiders can drive: a flood of bad input (refused pushes, records that fail, dead
// letters of dead letters, a broker's error answers) must not flood the job's log with one line each, which fills
// disks and buries the line an operator needs. What is counted (metrics, summaries, dead letters) stays whole; the
// log keeps the first LINES_LOGGED_PER_SECOND of each second per event and kind, and sums up the rest in one
// `<event>_suppressed` line once the second is over. The receiver's refusals were the first user (refusal-log.ts).
import type { LogFields, LogFn, LogLevel } from './log.ts';

/** Lines logged per event and kind in one second; the rest are summed up in one line. */
export const LINES_LOGGED_PER_SECOND = 20;

/**
 * What tells one kind of line from another within an event: a handful of values from a closed set (a route, an
 * outcome, an error kind, a stage), never an outsider's own text, which would make a new share of lines per value.
 */
export type LineKind = Readonly<Record<string, string>>;

interface Window {
  event: string;
  kind: LineKind;
  second: number;
  logged: number;
  suppressed: number;
}

export class LimitedLog {
  // One window per event and kind: a handful of entries, each dropped once its second ended.
  private readonly windows = new Map<string, Window>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly log: LogFn,
    private readonly now: () => number = Date.now,
    private readonly perSecond: number = LINES_LOGGED_PER_SECOND,
  ) {
    // Sums up a second's suppressed lines even when no later line comes to do it.
    this.timer = setInterval(() => this.flush(), 1_000);
    this.timer.unref();
  }

  /** Logs `event` with `kind` and `fields`, unless this second's share for the event and kind is used up. */
  line(level: LogLevel, event: string, kind: LineKind, fields: LogFields = {}): void {
    const key = JSON.stringify([event, kind]);
    const second = Math.floor(this.now() / 1000);
    let window = this.windows.get(key);
    if (window?.second !== second) {
      if (window) this.reportSuppressed(window);
      window = { event, kind, second, logged: 0, suppressed: 0 };
      this.windows.set(key, window);
    }
    if (window.logged < this.perSecond) {
      window.logged++;
      this.log(level, event, { ...kind, ...fields });
    } else window.suppressed++;
  }

  /** Sums up the seconds that are over (all of them with `all`, when the component stops). */
  flush(all = false): void {
    const second = Math.floor(this.now() / 1000);
    for (const [key, window] of this.windows) {
      if (!all && window.second >= second) continue;
      this.reportSuppressed(window);
      this.windows.delete(key);
    }
  }

  /** Stops the timer and sums up what is left. */
  close(): void {
    clearInterval(this.timer);
    this.flush(true);
  }

  private reportSuppressed(window: Window): void {
    if (window.suppressed === 0) return;
    this.log('warn', `${window.event}_suppressed`, { ...window.kind, count: window.suppressed, second: new Date(window.second * 1000).toISOString() });
    window.suppressed = 0;
  }
}
