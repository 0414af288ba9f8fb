import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { FirstBatchClock, type LoopWatch } from './suites/pipeline.ts';

/** A stand-in for the event-loop watch that counts the watches still running. */
function countingWatch() {
  const state = { running: 0, started: 0 };
  const watch = () => {
    state.running++;
    state.started++;
    return (): LoopWatch => {
      state.running--;
      return { event_loop_delay_ms: { p99: 1, max: 2 }, event_loop_stalls: { over_50ms: 0, over_100ms: 0, longest: undefined, max_on_core_ms: undefined } };
    };
  };
  return { state, watch };
}

describe("the pipeline benchmark's clock", () => {
  it('ends its event-loop watch when a mode is measured, so no watch outlives its mode into the next ones', () => {
    const { state, watch } = countingWatch();
    // K1, K2 and the normalize modes are measured without a separate stop of the watch: each must end its own.
    for (let mode = 0; mode < 4; mode++) {
      const clock = new FirstBatchClock(watch);
      clock.start();
      const m = clock.measure(1_000, performance.now() + 1, 0);
      expect(state.running, `after mode ${mode + 1}`).toBe(0);
      expect(m.event_loop_delay_ms).toEqual({ p99: 1, max: 2 });
    }
    expect(state.started).toBe(4);
  });

  it('ends the watch once when the mode stops it before measuring, and starts none before the first batch', () => {
    const { state, watch } = countingWatch();
    const clock = new FirstBatchClock(watch);
    clock.armed = false;
    clock.start();
    expect(state.started).toBe(0);
    clock.armed = true;
    clock.start();
    clock.start();
    expect(state.started).toBe(1);
    expect(clock.stopLoopWatch()).toBeDefined();
    clock.measure(10, performance.now() + 1, 0);
    expect(state.running).toBe(0);
  });
});
