import { afterEach, describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import { Progress, formatDuration } from './progress.ts';

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, chunks };
}

describe('Progress', () => {
  it('renders count, percentage, rate and ETA from an injected clock', () => {
    let t = 0;
    const { stream } = sink();
    const p = new Progress({ label: 'backfill', total: 1000, stream, now: () => t });
    t = 2000;
    p.tick(250);
    expect(p.render()).toBe('backfill 250/1,000 records 25.0% 125/s ETA 6s');
  });

  it('a count past its total (a file that grew while read): the count alone, naming the total known at the start (it showed 1,200/1,000 100.0%, ETA 0s)', () => {
    let t = 0;
    const { stream } = sink();
    const p = new Progress({ label: 'import', total: 1000, unit: 'lines', stream, now: () => t });
    t = 2000;
    p.tick(1000);
    expect(p.render()).toBe('import 1,000/1,000 lines 100.0% 500/s ETA 0s');
    p.tick(200);
    expect(p.render()).toBe('import 1,200 lines (1,000 at the start: it grew) 600/s');
  });

  it('writes plain lines at most once per interval when not a TTY, and a summary', () => {
    let t = 0;
    const { stream, chunks } = sink();
    const p = new Progress({ label: 'import', stream, now: () => t, intervalMs: 1000 });
    t = 1000;
    p.tick(10);
    t = 1500;
    p.tick(10);
    expect(chunks).toHaveLength(1);
    t = 3000;
    const summary = p.finish({ records: p.count, bad: 0 });
    expect(summary).toBe('import done: records=20 bad=0 elapsed=3s');
  });

  it('leaves windows done by an earlier run out of the rate, and shows no rate before a second has passed', () => {
    let t = 0;
    const { stream } = sink();
    const p = new Progress({ label: 'backfill', total: 6, unit: 'windows', stream, now: () => t });
    p.skip(6);
    t = 3;
    expect(p.render()).toBe('backfill 6/6 windows 100.0% –/s ETA 0s');
    const q = new Progress({ label: 'backfill', total: 10, unit: 'windows', stream, now: () => t });
    q.skip(4);
    t += 2000;
    q.tick(2);
    expect(q.render()).toBe('backfill 6/10 windows 60.0% 1/s ETA 4s');
  });

  it('prints a note as one line of its own: no blank line in a log, and above the bar on a terminal (redrawn below it)', () => {
    let t = 0;
    const plain = sink();
    const p = new Progress({ label: 'import', stream: plain.stream, now: () => t, intervalMs: 1000 });
    t = 1000;
    p.tick(1);
    p.note('f.jsonl:2: skipped: malformed JSON');
    expect(plain.chunks.join('')).toBe('import 1 records 1/s\nf.jsonl:2: skipped: malformed JSON\n');

    const terminal = sink();
    Object.assign(terminal.stream, { isTTY: true });
    const bar = new Progress({ label: 'import', total: 4, stream: terminal.stream, now: () => t, intervalMs: 1000 });
    bar.note('f.jsonl:1: skipped: malformed JSON');
    t = 2000;
    bar.tick(2);
    bar.note('f.jsonl:3: skipped: malformed JSON');
    const drawn = `import [${'#'.repeat(12)}${'-'.repeat(12)}] 2/4 records 50.0% 2/s ETA 1s`;
    expect(terminal.chunks.join('')).toBe(`\r\x1b[2Kf.jsonl:1: skipped: malformed JSON\n\r\x1b[2K${drawn}\r\x1b[2Kf.jsonl:3: skipped: malformed JSON\n${drawn}`);
  });

  it('formats durations', () => {
    expect(formatDuration(59_400)).toBe('59s');
    expect(formatDuration(61_000)).toBe('1m01s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
  });
});

describe('Progress text', () => {
  it('shows a vendor\'s error text, a tenant and a note printably: they come from outside and reach stderr as they are', () => {
    let t = 0;
    const { stream, chunks } = sink();
    const p = new Progress({ label: 'source tencent-ccc \u202eten\x1b[2J', total: 2, unit: 'windows', stream, now: () => t, intervalMs: 1000 });
    t = 1000;
    p.tick(1);
    p.note('line 3: bad \u200b\x9b31m');
    const summary = p.finish({ records: 1, error: 'HTTP 400: \u202eterces\u202c\r\x1b[31mred' });
    expect(summary).toBe('source tencent-ccc \\u202eten\\u001b[2J done: records=1 error=HTTP 400: \\u202eterces\\u202c\\u000d\\u001b[31mred elapsed=1s');
    expect(chunks).toEqual(['source tencent-ccc \\u202eten\\u001b[2J 1/2 windows 50.0% 1/s ETA 1s\n', 'line 3: bad \\u200b\\u009b31m\n', `${summary}\n`]);
  });
});

describe('Progress across a step of the wall clock', () => {
  afterEach(() => vi.useRealTimers());

  // Measured with the wall clock, a step back of an hour (NTP, an operator) stopped the lines for that hour and read
  // as "elapsed=0s" with no rate; the run's time is measured with the monotonic clock.
  it('keeps its elapsed time, lines and rate when the wall clock steps back', () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    const { stream, chunks } = sink();
    const p = new Progress({ label: 'import', stream, intervalMs: 1000 });
    vi.advanceTimersByTime(2000);
    vi.setSystemTime(Date.now() - 3_600_000);
    p.tick(10);
    expect(chunks).toEqual(['import 10 records 5/s\n']);
    vi.advanceTimersByTime(1000);
    expect(p.finish({ records: p.count })).toBe('import done: records=10 elapsed=3s');
  });
});
