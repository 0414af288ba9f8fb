// Stop requests of `cdrflow start` and `cdrflow import` (README: "a second Ctrl-C more than a second after the first
// exits at once (a signal sent to the process and its group at once, as `timeout` does, arrives twice and counts as
// one)"). The signals are emitted on `process` (only the listeners run; nothing is delivered to the test process) and
// the clock is vitest's, so the gaps are exact.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { stopRequests, untilSignal } from './signals.ts';

let requests: ReturnType<typeof stopRequests> | undefined;
let calls: string[];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.parse('2026-12-01T10:00:00Z'));
  calls = [];
  requests = stopRequests({ onStop: (s) => void calls.push(`stop ${s}`), onForce: (s) => void calls.push(`force ${s}`) });
});

afterEach(() => {
  requests?.dispose();
  vi.useRealTimers();
});

/** The signal as Node delivers it to a listener, `ms` after the previous one. */
function signalAfter(ms: number, signal: NodeJS.Signals) {
  vi.advanceTimersByTime(ms);
  process.emit(signal, signal);
}

describe('stopRequests', () => {
  it('takes the first SIGINT or SIGTERM as the stop request', () => {
    expect(requests!.received).toBeUndefined();
    signalAfter(0, 'SIGTERM');
    expect(calls).toEqual(['stop SIGTERM']);
    expect(requests!.received).toBe('SIGTERM');
  });

  it.each([
    // `timeout` signals the process and its group: the same request, twice at once.
    [0, 'SIGTERM'],
    [500, 'SIGTERM'],
    [500, 'SIGINT'],
    [999, 'SIGINT'],
  ] as const)('counts a second signal %i ms after the first (%s) as the same request', (gap, second) => {
    signalAfter(0, 'SIGTERM');
    signalAfter(gap, second);
    expect(calls).toEqual(['stop SIGTERM']);
  });

  it.each([
    [1_200, 'SIGINT'],
    [1_200, 'SIGTERM'],
    [60_000, 'SIGINT'],
  ] as const)('forces on a second signal %i ms after the first (%s)', (gap, second) => {
    signalAfter(0, 'SIGINT');
    signalAfter(gap, second);
    expect(calls).toEqual(['stop SIGINT', `force ${second}`]);
    // The stop request stays the first one.
    expect(requests!.received).toBe('SIGINT');
  });

  it('measures the second from the first signal, not from its duplicate', () => {
    signalAfter(0, 'SIGINT');
    signalAfter(700, 'SIGINT');
    signalAfter(500, 'SIGINT');
    expect(calls).toEqual(['stop SIGINT', 'force SIGINT']);
  });

  it('listens no more once disposed', () => {
    requests!.dispose();
    signalAfter(0, 'SIGINT');
    signalAfter(2_000, 'SIGTERM');
    expect(calls).toEqual([]);
  });
});

// `cdrflow receive`, `run` and `simulate` wait for the first stop request and then stop cleanly. A second, separate one
// must still end the process: the listeners of the first must neither swallow it (a SIGTERM after a Ctrl-C did nothing)
// nor be left behind for the rest of the process.
describe('untilSignal', () => {
  let exits: number[];
  let added: { SIGINT: NodeJS.SignalsListener[]; SIGTERM: NodeJS.SignalsListener[] };
  const listeners = () => ({ SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') });

  beforeEach(() => {
    requests?.dispose();
    requests = undefined;
    exits = [];
    vi.spyOn(process, 'exit').mockImplementation(((code: number) => void exits.push(code)) as typeof process.exit);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const before = listeners();
    added = { SIGINT: [], SIGTERM: [] };
    return () => {
      const after = listeners();
      for (const s of ['SIGINT', 'SIGTERM'] as const) {
        added[s] = after[s].filter((l) => !before[s].includes(l));
        for (const l of added[s]) process.off(s, l);
      }
      vi.restoreAllMocks();
    };
  });

  it.each([
    ['SIGINT', 'SIGTERM', 143],
    ['SIGTERM', 'SIGINT', 130],
    ['SIGINT', 'SIGINT', 130],
  ] as const)('resolves on the first %s; a second one (%s) a second later exits with %i', async (first, second, code) => {
    const stopped = untilSignal('receive');
    signalAfter(0, first);
    expect(await stopped).toBe(first);
    expect(exits).toEqual([]);
    signalAfter(1_200, second);
    expect(exits).toEqual([code]);
  });

  it('takes the same request delivered twice at once (`timeout`) as one', async () => {
    const stopped = untilSignal('receive');
    signalAfter(0, 'SIGTERM');
    signalAfter(10, 'SIGTERM');
    expect(await stopped).toBe('SIGTERM');
    expect(exits).toEqual([]);
  });
});
