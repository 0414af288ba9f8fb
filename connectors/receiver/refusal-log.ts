// The receiver's log of refused pushes, limited per route and outcome: a flood of refused requests (a scanner, a
// pusher with a wrong secret) must not flood the log with one line each. The metric counts every refusal; the log
// keeps the first REFUSALS_LOGGED_PER_SECOND of each second and sums up the rest in one line once the second is over
// (core/log-limit.ts, the project's one limit on such lines).
import { LINES_LOGGED_PER_SECOND, LimitedLog } from '../../core/log-limit.ts';
import type { LogFn } from '../../core/log.ts';

/** Refused pushes logged per route and outcome in one second; the rest are summed up in one line (the metric counts all). */
export const REFUSALS_LOGGED_PER_SECOND = LINES_LOGGED_PER_SECOND;

export class RefusalLog {
  private readonly lines: LimitedLog;

  constructor(log: LogFn, now: () => number) {
    this.lines = new LimitedLog(log, now, REFUSALS_LOGGED_PER_SECOND);
  }

  /** Logs `receiver.push_refused` with `fields`, unless this second's share for its route and outcome is used up. */
  refused(level: 'warn' | 'error', fields: { route: string; outcome: string } & Record<string, unknown>): void {
    this.lines.line(level, 'receiver.push_refused', { route: fields.route, outcome: fields.outcome }, fields);
  }

  /** Sums up the seconds that are over (all of them with `all`, when the receiver stops). */
  flush(all = false): void {
    this.lines.flush(all);
  }

  /** Stops the timer and sums up what is left. */
  close(): void {
    this.lines.close();
  }
}
