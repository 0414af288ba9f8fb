import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('asks what can be stopped to stop, waits for it, and exits even when a cancel throws', async () => {
    const { cancelOnExit, engineCall, exitProcess } = await load();
    let settle!: () => void;
    void engineCall(() => new Promise<void>((resolve) => (settle = resolve)));
    const cancel = vi.fn(() => (settle(), Promise.resolve()));
    cancelOnExit(cancel);
    cancelOnExit(() => {
      throw new Error('the engine refused the KILL');
    });
    exitProcess(2, 2_000);
    expect(cancel).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(exits).toEqual([2]);
  });

  it('exits at once with no engine call in flight', async () => {
    const { exitProcess } = await load();
    exitProcess(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(exits).toEqual([0]);
  });
});

describe('an exit during a read-only SQL query in the embedded engine', () => {
  it('kills the query and exits, instead of waiting in the engine for its execution time limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-exit-sql-'));
    const child = spawn(process.execPath, ['bin/run-ts.mjs', 'core/fixtures/exit-during-sql.ts', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // The query may run for 600 s: an exit that waits for it does not come within this bound (it took 28 s at the
      // default 30 s limit before the exit killed it).
      const bound = new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 60_000).unref());
      const code = await Promise.race([exited, bound]);
      expect(out).toMatch(/^running$/m);
      expect(code, out).toBe(3);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
