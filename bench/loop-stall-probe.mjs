// Preloaded into the benchmark's job child (`node --import bench/loop-stall-probe.mjs bin/cdrflow.mjs start …`, see
// bench/job-process.ts) to tell the two causes of a late event loop apart: code holding the main thread, or the
// main thread runnable but waiting for a core while other threads (and processes) have both. A 5 ms timer on the
// main thread notes how late each tick fires; for a tick more than 20 ms late it appends one JSON line to
// $CDRFLOW_BENCH_LOOP_STALLS: when the stall ended (epoch ms), how late the tick was, how much of that time the main
// thread spent on a core and waiting for one (/proc/<pid>/task/<pid>/schedstat, Linux), and the GC pauses of the
// main isolate inside it. Plain JavaScript: it loads before the job's own TypeScript loader.
import { appendFileSync, readFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { setInterval } from 'node:timers';
import { isMainThread } from 'node:worker_threads';

const out = process.env.CDRFLOW_BENCH_LOOP_STALLS;
if (out && isMainThread) {
  const TICK_MS = 5;
  const STALL_MS = 20;
  const schedPath = `/proc/${process.pid}/task/${process.pid}/schedstat`;
  /** [on a core, waiting for one] in ns so far; undefined where the kernel does not say. */
  const sched = () => {
    try {
      const [onCore, waiting] = readFileSync(schedPath, 'utf8').trim().split(' ').map(Number);
      return [onCore, waiting];
    } catch {
      return undefined;
    }
  };
  // The main isolate's recent GC pauses (start, duration), to see whether one falls inside a stall.
  const pauses = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push([e.startTime, e.duration]);
    if (pauses.length > 256) pauses.splice(0, pauses.length - 256);
  }).observe({ entryTypes: ['gc'] });

  let last = performance.now();
  let lastSched = sched();
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - last - TICK_MS;
    const s = sched();
    if (late > STALL_MS) {
      const ms = (a, b) => (a !== undefined && b !== undefined ? +((a - b) / 1e6).toFixed(1) : undefined);
      const gc = pauses.filter(([start, d]) => start + d >= last && start <= now).reduce((sum, [, d]) => sum + d, 0);
      const line = {
        at: Date.now(),
        late_ms: +late.toFixed(1),
        on_core_ms: ms(s?.[0], lastSched?.[0]),
        waiting_ms: ms(s?.[1], lastSched?.[1]),
        gc_ms: +gc.toFixed(1),
      };
      try {
        appendFileSync(out, `${JSON.stringify(line)}\n`);
      } catch {
        // the benchmark's directory is gone: it is stopping the job
      }
    }
    last = performance.now();
    lastSched = s;
  }, TICK_MS);
  timer.unref();
}
