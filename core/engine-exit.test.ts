import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// The module keeps process-wide state (calls in flight, an exit begun): a fresh copy per test.
async function load() {
  vi.resetModules();
  return import('./engine-exit.ts');
}

describe('exitProcess', () => {
  let exits: number[];
  beforeEach(() => {
    vi.useFakeTimers();
    exits = [];
    vi.spyOn(process, 'exit').mockImplementation(((code: number) => void exits.push(code)) as typeof process.exit);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('waits for an engine call in flight to settle before exiting', async () => {
    const { engineCall, exitProcess } = await load();
    let settle!: () => void;
    void engineCall(() => new Promise<void>((resolve) => (settle = resolve)));
    exitProcess(1, 2_000);
    await vi.advanceTimersByTimeAsync(500);
    expect(exits).toEqual([]);
    settle();
    await vi.advanceTimersByTimeAsync(0);
    expect(exits).toEqual([1]);
  });

  it('exits after the bound when a call never settles', async () => {
    const { engineCall, exitProcess } = await load();
    void engineCall(() => new Promise<void>(() => {}));
    exitProcess(130, 2_000);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(exits).toEqual([130]);
  });

  it('starts no engine call once an exit has begun (a migration would start its next statement)', async () => {
    const { engineCall, exitProcess } = await load();
    let settle!: () => void;
    void engineCall(() => new Promise<void>((resolve) => (settle = resolve)));
    exitProcess(1, 2_000);
    const next = vi.fn(() => Promise.resolve());
    void engineCall(next);
    settle();
    await vi.advanceTimersByTimeAsync(0);
    expect(next).not.toHaveBeenCalled();
    expect(exits).toEqual([1]);
  });

  it('exits at once with no engine call in flight', async () => {
    const { exitProcess } = await load();
    exitProcess(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(exits).toEqual([0]);
  });
});
