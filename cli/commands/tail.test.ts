// Ctrl-C and SIGTERM during `cdrflow tail` (cli/signals.ts, as the other commands): the first ends the read; a second,
// separate one exits at once with the signal's status, even while the read does not end (Kafka slow to let go). Kafka
// and the read are stand-ins; signals are emitted on `process` (only the listeners run) and the clock is vitest's.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { signalExit } from '../../core/exit-codes.ts';

// The read: `entered` is called with its signal when the command starts it; it ends only when the test says so.
const read = vi.hoisted(() => ({ entered: (_signal: AbortSignal) => {}, end: () => {} }));

vi.mock('../kafka-access.ts', async (actual) => ({ ...(await actual<typeof import('../kafka-access.ts')>()), oneShotKafka: () => Promise.resolve({}) }));
vi.mock('../../app/tail.ts', async (actual) => ({
  ...(await actual<typeof import('../../app/tail.ts')>()),
  readTopic: (_kafka: unknown, _topic: string, opts: { signal: AbortSignal }) => {
    read.entered(opts.signal);
    return new Promise((resolve) => (read.end = () => resolve([])));
  },
}));

const { command } = await import('./tail.ts');

let exits: number[];
let said: string[];
const listeners = () => ({ SIGINT: process.listeners('SIGINT').length, SIGTERM: process.listeners('SIGTERM').length });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.parse('2026-12-01T10:00:00Z'));
  exits = [];
  said = [];
  vi.spyOn(process, 'exit').mockImplementation(((code: number) => void exits.push(code)) as typeof process.exit);
  vi.spyOn(process.stderr, 'write').mockImplementation((text) => {
    said.push(String(text));
    return true;
  });
  vi.spyOn(console, 'log').mockImplementation(() => {});
});

afterEach(() => {
  read.end();
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function signalAfter(ms: number, signal: NodeJS.Signals) {
  vi.advanceTimersByTime(ms);
  process.emit(signal, signal);
}

describe('cdrflow tail stopped by a signal', () => {
  it.each([
    ['SIGINT', 'SIGTERM'],
    ['SIGTERM', 'SIGINT'],
    ['SIGINT', 'SIGINT'],
  ] as const)('the first %s ends the read; a second one (%s) a second later exits at once with its status', async (first, second) => {
    const before = listeners();
    const reading = new Promise<AbortSignal>((resolve) => (read.entered = resolve));
    const result = command.run(['cdr.normalized', '--follow']);
    const signal = await reading;
    signalAfter(0, first);
    expect(signal.aborted).toBe(true);
    // The same request delivered twice at once (`timeout` signals the process and its group) is one.
    signalAfter(10, first);
    expect(exits).toEqual([]);
    signalAfter(1_200, second);
    expect(exits).toEqual([signalExit(second)]);
    expect(said).toEqual([`cdrflow tail: ${second} again: exiting without waiting for the read to end\n`]);
    read.end();
    expect(await result).toBe(0);
    // Nothing is left listening once the command ended.
    expect(listeners()).toEqual(before);
  });
});
