import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// engine-exit keeps process-wide state (calls in flight, an exit begun): fresh copies of both modules per test.
async function load() {
  vi.resetModules();
  const [engine, output] = await Promise.all([import('../core/engine-exit.ts'), import('./output.ts')]);
  return { ...engine, ...output };
}

describe('exitQuietlyOnClosedPipe', () => {
  let exits: number[];
  let before: Map<NodeJS.WriteStream, unknown[]>;
  beforeEach(() => {
    vi.useFakeTimers();
    exits = [];
    vi.spyOn(process, 'exit').mockImplementation(((code: number) => void exits.push(code)) as typeof process.exit);
    before = new Map([process.stdout, process.stderr].map((s) => [s, s.listeners('error')]));
  });
  afterEach(() => {
    // Only the listeners the test added: the test runner has its own.
    for (const [stream, kept] of before) for (const l of stream.listeners('error')) if (!kept.includes(l)) stream.off('error', l as () => void);
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('exits 0 on a closed stdout only once the embedded engine has ended the statement in flight', async () => {
    const { engineCall, exitQuietlyOnClosedPipe } = await load();
    exitQuietlyOnClosedPipe();
    let settle!: () => void;
    void engineCall(() => new Promise<void>((resolve) => (settle = resolve)));
    process.stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await vi.advanceTimersByTimeAsync(100);
    expect(exits).toEqual([]);
    settle();
    await vi.advanceTimersByTimeAsync(0);
    expect(exits).toEqual([0]);
  });
});
