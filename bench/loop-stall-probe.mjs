// Tells the two causes of a late event loop apart: code holding the thread (a long task, a GC pause), or the thread
// runnable but waiting for a core while other threads and processes have both. A 20 ms timer notes how late each tick
// fires; for a tick more than 20 ms late it reports when the stall ended (epoch ms), how late the tick was, how much
// of that time the thread spent on a core and waiting for one (/proc/<pid>/task/<tid>/schedstat, Linux), and the GC
// pauses of its isolate inside it. It costs about 1.4% of a core; a 5 ms timer cost 4.4% on the 2-core VM, where a
// timer's wake-up alone costs ~0.15 ms.
// Two uses: the pipeline benchmark watches its own main thread over every round mode's window
// (`watchLoopStalls`), and preloads this file into the job child (`node --import bench/loop-stall-probe.mjs
// bin/cdrflow.mjs start …`, bench/job-process.ts), where it appends one JSON line per stall to
// $CDRFLOW_BENCH_LOOP_STALLS. Plain JavaScript: it loads before the job's own TypeScript loader.
import { Buffer } from 'node:buffer';
import { appendFileSync, closeSync, openSync, readSync, readlinkSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { isMainThread } from 'node:worker_threads';

/**
 * Calls `onStall` with each tick of a `tickMs` timer on this thread that fires more than `stallMs` late: when the
 * stall ended (epoch ms), how late, the thread's time on a core and waiting for one inside it, and the GC pauses in it.
 * Returns a function that stops watching.
 * @param {(stall: { at: number, late_ms: number, on_core_ms: number | undefined, waiting_ms: number | undefined, gc_ms: number }) => void} onStall
 * @returns {() => void}
 */
export function watchLoopStalls(onStall, tickMs = 20, stallMs = 20) {
  // This thread's own schedstat ("<pid>/task/<tid>"): [on a core, waiting for one] in ns so far. Kept open and read
  // from offset 0 each tick, which costs a fifth of opening it each time.
  let fd;
  try {
    fd = openSync(`/proc/${readlinkSync('/proc/thread-self')}/schedstat`, 'r');
  } catch {
    fd = undefined; // not Linux: lateness only
  }
  const buf = Buffer.alloc(128);
  const sched = () => {
    if (fd === undefined) return undefined;
    try {
      const n = readSync(fd, buf, 0, buf.length, 0);
      const [onCore, waiting] = buf.toString('latin1', 0, n).trim().split(' ').map(Number);
      return [onCore, waiting];
    } catch {
      return undefined;
    }
  };
  // This isolate's recent GC pauses (start, duration), to see whether one falls inside a stall.
  const pauses = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push([e.startTime, e.duration]);
    if (pauses.length > 256) pauses.splice(0, pauses.length - 256);
  });
  observer.observe({ entryTypes: ['gc'] });

  let last = performance.now();
  let lastSched = sched();
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - last - tickMs;
    const s = sched();
    if (late > stallMs) {
      const ms = (a, b) => (a !== undefined && b !== undefined ? +((a - b) / 1e6).toFixed(1) : undefined);
      const gc = pauses.filter(([start, d]) => start + d >= last && start <= now).reduce((sum, [, d]) => sum + d, 0);
      onStall({ at: Date.now(), late_ms: +late.toFixed(1), on_core_ms: ms(s?.[0], lastSched?.[0]), waiting_ms: ms(s?.[1], lastSched?.[1]), gc_ms: +gc.toFixed(1) });
    }
    last = performance.now();
    lastSched = s;
  }, tickMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    observer.disconnect();
    if (fd !== undefined) closeSync(fd);
  };
}

// As a preload of the job child: every stall of its main thread, one JSON line each, to the file the benchmark names.
const out = process.env.CDRFLOW_BENCH_LOOP_STALLS;
if (out && isMainThread) {
  watchLoopStalls((stall) => {
    try {
      appendFileSync(out, `${JSON.stringify(stall)}\n`);
    } catch {
      // the benchmark's directory is gone: it is stopping the job
    }
  });
}
