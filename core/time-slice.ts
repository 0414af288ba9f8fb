// Long synchronous stretches (decoding a big Kafka batch, rendering an insert body) starve everything else on the
// event loop: Kafka heartbeats, the receiver's sockets, the ops port. A TimeSlice lets such a loop check cheaply
// whether it has had the thread long enough and, if so, give the event loop one turn before continuing.
import { performance } from 'node:perf_hooks';

/** The default slice: far below the 100 ms a stage may hold the event loop, large enough to keep the overhead nil. */
export const DEFAULT_SLICE_MS = 20;

export class TimeSlice {
  private startedAt = performance.now();

  constructor(private readonly sliceMs = DEFAULT_SLICE_MS) {}

  /** True once the current slice is used up; the caller then awaits `yield()`. */
  due(): boolean {
    return performance.now() - this.startedAt >= this.sliceMs;
  }

  /** One turn of the event loop (timers and I/O callbacks run), then a fresh slice. */
  async yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.startedAt = performance.now();
  }
}
