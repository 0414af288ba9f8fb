// The import's report of bad lines while it runs, one note per line above the progress bar: limited like every line an
// outsider can drive (core/log-limit.ts), since a file of a million bad lines printed a million notes and buried the
// summary. The first LINES_LOGGED_PER_SECOND bad lines of each second are shown, the rest summed up in one note once
// the second is over; the summary (ImportSummary: badLines, firstBadLines) still counts every one.
import { LimitedLog } from '../../core/log-limit.ts';
import type { LogFn } from '../../core/log.ts';
import type { BadLine } from './import.ts';

const BAD_LINE = 'import.bad_line';

export class BadLineNotes {
  private readonly lines: LimitedLog;

  /** `where` names the input in each note (a file name, "(standard input)"); `note` prints one line. */
  constructor(where: string, note: (line: string) => void, now: () => number = Date.now) {
    const toNote: LogFn = (_level, event, fields = {}) => {
      if (event === BAD_LINE) note(`${where}:${String(fields['line'])}: skipped: ${String(fields['reason'])}`);
      else note(`${where}: ${String(fields['count'])} more bad lines this second, not shown (the summary counts them all)`);
    };
    this.lines = new LimitedLog(toNote, now);
  }

  report(bad: BadLine): void {
    // One kind for every bad line: the reason is the line's own text (it quotes the JSON it choked on), so a kind per
    // reason would give every distinct bad line a share of its own.
    this.lines.line('warn', BAD_LINE, {}, { line: bad.line, reason: bad.reason });
  }

  /** Sums up what is left; called before the summary, so that it comes last. */
  close(): void {
    this.lines.close();
  }
}
