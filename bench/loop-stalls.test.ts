import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { stallText } from './job-bench.ts';
import { summarizeLoopStalls, type LoopStall } from './job-process.ts';
import { watchLoopStalls } from './loop-stall-probe.mjs';
import { parseMachineStat, ticksPerSecond } from './thread-cpu.ts';

const PROBE = fileURLToPath(new URL('./loop-stall-probe.mjs', import.meta.url));

/**
 * Milliseconds the VM's host has stolen from all of this machine's CPUs so far (/proc/stat, Linux). A thread whose
 * virtual CPU the host takes away is neither on a core nor waiting for one in its own schedstat, so a stall's split
 * can fall short of the stall by up to that much (seen on a loaded shared VM: 163 of 173 ms accounted for).
 */
function stolenMs(): number {
  return ((parseMachineStat(readFileSync('/proc/stat', 'utf8'))?.steal ?? 0) / ticksPerSecond()) * 1000;
}
const lines = (stalls: LoopStall[]) => stalls.map((s) => JSON.stringify(s)).join('\n');

describe('summarizeLoopStalls', () => {
  const stalls: LoopStall[] = [
    { at: 1_000, late_ms: 400, on_core_ms: 390, waiting_ms: 5, gc_ms: 0 }, // before the window: start-up
    { at: 2_000, late_ms: 30, on_core_ms: 10, waiting_ms: 20, gc_ms: 0 },
    { at: 3_000, late_ms: 116, on_core_ms: 47.6, waiting_ms: 66, gc_ms: 0 },
    { at: 4_000, late_ms: 72, on_core_ms: 60, waiting_ms: 10, gc_ms: 12.5 },
  ];

  it('counts the stalls from the window on, names the longest and the most time on a core in one', () => {
    const s = summarizeLoopStalls(lines(stalls), 1_500);
    expect(s).toEqual({
      over_50ms: 2,
      over_100ms: 1,
      longest: { late_ms: 116, on_core_ms: 47.6, waiting_ms: 66, gc_ms: 0 },
      max_on_core_ms: 60,
    });
    expect(stallText(s)).toBe('stalls > 50 ms: 2, > 100 ms: 1; longest 116 ms: 47.6 on a core, 66 waiting for one, GC 0; most on a core in one stall 60 ms');
  });

  it('skips lines cut short or not its own, and says nothing was seen when nothing was', () => {
    const text = `${lines(stalls.slice(1, 2))}\n{"at":5000,"late_ms":9\nnot json\n{"at":"x","late_ms":500}\n`;
    expect(summarizeLoopStalls(text, 0)).toEqual({ over_50ms: 0, over_100ms: 0, longest: { late_ms: 30, on_core_ms: 10, waiting_ms: 20, gc_ms: 0 }, max_on_core_ms: 10 });
    expect(summarizeLoopStalls('', 0)).toEqual({ over_50ms: 0, over_100ms: 0, longest: undefined, max_on_core_ms: undefined });
    expect(stallText(summarizeLoopStalls('', 0))).toBe('stalls > 50 ms: 0, > 100 ms: 0; most on a core in one stall ? ms');
  });
});

describe('the loop-stall probe', () => {
  it('watches this thread: a stall its own code caused, and nothing once stopped', async () => {
    const stalls: LoopStall[] = [];
    const stop = watchLoopStalls((s) => stalls.push(s));
    const hold = (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end);
    };
    // Lets the timer tick, holds the thread, then waits for the tick that notices.
    const stolenBefore = process.platform === 'linux' ? stolenMs() : 0;
    await new Promise((r) => setTimeout(r, 30));
    hold(200);
    await vi.waitFor(() => expect(stalls.length).toBeGreaterThan(0));
    const longest = stalls.reduce((a, b) => (b.late_ms > a.late_ms ? b : a));
    expect(longest.late_ms).toBeGreaterThanOrEqual(150);
    if (process.platform === 'linux') {
      const stolen = stolenMs() - stolenBefore;
      expect(longest.on_core_ms! + longest.waiting_ms! + stolen).toBeGreaterThanOrEqual(longest.late_ms * 0.9);
    }
    stop();
    const seen = stalls.length;
    hold(100);
    await new Promise((r) => setTimeout(r, 60));
    expect(stalls.length).toBe(seen);
  });

  it('notes a stall that code on the main thread caused, with its time on a core (Linux), and nothing without its file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-stall-probe-'));
    const out = join(dir, 'stalls.jsonl');
    // Holds the main thread for 200 ms once the probe's timer runs, then lets one more tick fire.
    const script = 'setTimeout(() => { const end = Date.now() + 200; while (Date.now() < end); setTimeout(() => {}, 60); }, 30);';
    try {
      const stolenBefore = process.platform === 'linux' ? stolenMs() : 0;
      execFileSync(process.execPath, ['--import', PROBE, '-e', script], { env: { ...process.env, CDRFLOW_BENCH_LOOP_STALLS: out } });
      const stolen = process.platform === 'linux' ? stolenMs() - stolenBefore : 0;
      const summary = summarizeLoopStalls(readFileSync(out, 'utf8'), 0);
      expect(summary.over_100ms).toBe(1);
      expect(summary.longest!.late_ms).toBeGreaterThanOrEqual(150);
      if (process.platform === 'linux') {
        // Busy the whole time: on a core, or runnable and waiting for one (or its CPU taken by the host); never asleep.
        const { on_core_ms, waiting_ms, late_ms } = summary.longest!;
        expect(on_core_ms! + waiting_ms! + stolen).toBeGreaterThanOrEqual(late_ms * 0.9);
        expect(summary.max_on_core_ms).toBeGreaterThan(0);
      }
      rmSync(out);
      execFileSync(process.execPath, ['--import', PROBE, '-e', script], { env: { ...process.env, CDRFLOW_BENCH_LOOP_STALLS: '' } });
      expect(() => readFileSync(out)).toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
