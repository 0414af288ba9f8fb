// The receiver's log of refused pushes, limited per route and outcome: a flood of refused requests (a scanner, a
// pusher with a wrong secret) must not flood the log with one line each. The metric counts every refusal; the log
// keeps the first REFUSALS_LOGGED_PER_SECOND of each second and sums up the rest in one line once the second is over.
import type { LogFn } from '../../core/log.ts';

/** Refused pushes logged per route and outcome in one second; the rest are summed up in one line (the metric counts all). */
export const REFUSALS_LOGGED_PER_SECOND = 20;

interface Window {
  route: string;
  outcome: string;
  second: number;
  logged: number;
  suppressed: number;
}

export class RefusalLog {
  // One window per route and outcome: a handful of entries (routes × outcomes), each dropped once its second ended.
  private readonly windows = new Map<string, Window>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly log: LogFn,
    private readonly now: () => number,
  ) {
    // Sums up a second's suppressed refusals even when no later refusal comes to do it.
    this.timer = setInterval(() => this.flush(), 1_000);
    this.timer.unref();
  }

  /** Logs `receiver.push_refused` with `fields`, unless this second's share for its route and outcome is used up. */
  refused(level: 'warn' | 'error', fields: { route: string; outcome: string } & Record<string, unknown>): void {
    const key = `${fields.route}\u0000${fields.outcome}`;
    const second = Math.floor(this.now() / 1000);
    let window = this.windows.get(key);
    if (window?.second !== second) {
      if (window) this.reportSuppressed(window);
      window = { route: fields.route, outcome: fields.outcome, second, logged: 0, suppressed: 0 };
      this.windows.set(key, window);
    }
    if (window.logged < REFUSALS_LOGGED_PER_SECOND) {
      window.logged++;
      this.log(level, 'receiver.push_refused', fields);
    } else window.suppressed++;
  }

  /** Sums up the seconds that are over (all of them with `all`, when the receiver stops). */
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
    this.log('warn', 'receiver.push_refused_suppressed', {
      route: window.route,
      outcome: window.outcome,
      count: window.suppressed,
      second: new Date(window.second * 1000).toISOString(),
    });
    window.suppressed = 0;
  }
}
