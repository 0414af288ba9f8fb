// Progress for long runs (backfill, import, replay): a redrawn bar with rate and ETA on a terminal,
// plain progress lines (at most one per interval) when stderr is not a TTY, and a summary at the end.
import { terminalText } from './input-limits.ts';

export interface ProgressOptions {
  label: string;
  /** Total units when known (records, windows); undefined shows a count without a bar or ETA. */
  total?: number | undefined;
  unit?: string;
  stream?: NodeJS.WriteStream;
  /** Minimum ms between redraws / lines. */
  intervalMs?: number;
  /** Milliseconds on a clock that only moves forward (tests set it); performance.now by default. */
  now?: () => number;
}

export class Progress {
  private done = 0;
  /** Units already done before this run (a rerun's finished windows): counted, but not in the rate. */
  private skipped = 0;
  private readonly started: number;
  private lastDraw = Number.NEGATIVE_INFINITY;
  /** Whether the bar is on the terminal (a note draws it again below itself). */
  private drawn = false;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly intervalMs: number;
  total: number | undefined;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    // The monotonic clock: a step of the wall clock (NTP, an operator) is no time the run took; a step back stopped
    // the lines for as long and read as elapsed 0s with no rate.
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
    this.total = options.total;
    this.intervalMs = options.intervalMs ?? (this.tty ? 100 : 5_000);
  }

  /** Adds `n` units; redraws at most once per interval. */
  tick(n = 1): void {
    this.done += n;
    const t = this.now();
    if (t - this.lastDraw >= this.intervalMs) {
      this.lastDraw = t;
      this.draw();
    }
  }

  /** Adds `n` units that were done before (nothing to do for them now): they move the count, not the rate. */
  skip(n: number): void {
    this.done += n;
    this.skipped += n;
  }

  get count(): number {
    return this.done;
  }

  /** Time since the bar was made, on its clock (monotonic by default). */
  get elapsedMs(): number {
    return this.now() - this.started;
  }

  /** The progress text (also used by tests): "label 1,234/5,000 24.7% 812/s ETA 4s". */
  render(): string {
    const elapsedS = this.elapsedMs / 1000;
    // Under a second a rate says nothing (one record in a millisecond is not 1,000/s): shown as "–/s" until then.
    const rate = elapsedS >= 1 ? (this.done - this.skipped) / elapsedS : undefined;
    const rateText = rate === undefined ? '–/s' : `${fmt(Math.round(rate))}/s`;
    const unit = this.options.unit ?? 'records';
    const parts = [terminalText(this.options.label)];
    if (this.total !== undefined && this.done > this.total) {
      // The total was what was known at the start (a file's lines counted before the import, appended to since): past
      // it, no ratio or ETA means anything (it showed 5,100/5,000 100.0% ETA ?), so the count alone, saying so.
      parts.push(`${fmt(this.done)} ${unit} (${fmt(this.total)} at the start: it grew)`, rateText);
    } else if (this.total !== undefined && this.total > 0) {
      const ratio = Math.min(this.done / this.total, 1);
      const width = 24;
      const filled = Math.round(ratio * width);
      if (this.tty) parts.push(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`);
      parts.push(`${fmt(this.done)}/${fmt(this.total)} ${unit}`, `${(ratio * 100).toFixed(1)}%`);
      parts.push(rateText);
      const remaining = this.total - this.done;
      parts.push(`ETA ${remaining === 0 ? '0s' : rate ? formatDuration((remaining / rate) * 1000) : '?'}`);
    } else {
      parts.push(`${fmt(this.done)} ${unit}`, rateText);
    }
    return parts.join(' ');
  }

  /**
   * A line to keep (a skipped line's report) while the progress runs. On a terminal it goes above the bar, which is
   * drawn again below it; elsewhere it is one line among the progress lines. A report that began with a newline to
   * get past the bar left a stale bar above every report on a terminal and a blank line before each in a log.
   */
  note(line: string): void {
    line = terminalText(line);
    if (!this.tty) {
      this.stream.write(`${line}\n`);
      return;
    }
    this.stream.write(`\r\x1b[2K${line}\n`);
    if (this.drawn) this.stream.write(this.render());
  }

  private draw(): void {
    this.drawn = true;
    if (this.tty) this.stream.write(`\r\x1b[2K${this.render()}`);
    else this.stream.write(`${this.render()}\n`);
  }

  /**
   * Final line: clears the bar and prints the summary fields given (plus elapsed); `outcome` says how it ended. A
   * field may be a vendor's error text (reconcile's source layer), and the label names a tenant: the line is printable
   * (terminalText), as every line Progress writes.
   */
  finish(summary: Record<string, string | number>, outcome: 'done' | 'stopped' = 'done'): string {
    const elapsed = formatDuration(this.elapsedMs);
    const text = terminalText(
      `${this.options.label} ${outcome}: ${Object.entries({ ...summary, elapsed })
        .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v}`)
        .join(' ')}`,
    );
    if (this.tty) this.stream.write('\r\x1b[2K');
    this.stream.write(`${text}\n`);
    return text;
  }
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
