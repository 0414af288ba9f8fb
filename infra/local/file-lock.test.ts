// withFileLock's takeover of a lock whose holder is gone, when another process takes it over in the same instant
// (driven in a fixed interleaving: the other process's takeover happens right after this one read the dead holder),
// and when the holder's PID now belongs to another process.
import { spawn } from 'node:child_process';
import * as realFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { pollUntil, withFileLock } from './processes.ts';
import { processAlive, processStartTicks } from '../../core/process-identity.ts';

/**
 * Runs once right after a poll's first read of `file` (then disarms): what another process did in between. (The
 * reads outside a poll, such as the one naming the holder for the timeout message, do not count.)
 */
const afterRead: { file: string | undefined; then: (() => void) | undefined; reads: number } = { file: undefined, then: undefined, reads: 0 };

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const readFileSync = ((...args: Parameters<typeof fs.readFileSync>) => {
    const out = fs.readFileSync(...args);
    if (afterRead.file !== undefined && args[0] === afterRead.file && new Error().stack?.includes('pollUntil')) {
      afterRead.reads++;
      const then = afterRead.then;
      afterRead.then = undefined;
      then?.();
    }
    return out;
  }) as typeof fs.readFileSync;
  // A full disk under `failWrites.under`: each write there fails as the kernel's ENOSPC does.
  const writeFileSync = ((...args: Parameters<typeof fs.writeFileSync>) => {
    if (failWrites.under !== undefined && String(args[0]).startsWith(failWrites.under))
      throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC' });
    fs.writeFileSync(...args);
  }) as typeof fs.writeFileSync;
  return { ...fs, default: { ...fs, readFileSync, writeFileSync }, readFileSync, writeFileSync };
});
const failWrites: { under: string | undefined } = { under: undefined };

const dir = realFs.mkdtempSync(join(tmpdir(), 'cdrflow-lock-'));
afterAll(() => realFs.rmSync(dir, { recursive: true, force: true }));

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  afterRead.file = undefined;
  afterRead.then = undefined;
  afterRead.reads = 0;
  failWrites.under = undefined;
});

/** Another live process, killed after the test. */
async function otherProcess(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  const pid = child.pid ?? -1;
  cleanups.push(() => {
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  return pid;
}

describe('withFileLock', () => {
  it('does not remove the lock another process took over from the same dead holder just before', async () => {
    const lock = join(dir, 'race.lock');
    realFs.writeFileSync(lock, '999999999\n'); // a PID that cannot exist
    const other = await otherProcess();
    afterRead.file = lock;
    afterRead.then = () => {
      realFs.rmSync(lock);
      realFs.writeFileSync(lock, `${other}\n`);
    };
    let entered = false;
    const held = withFileLock(lock, async () => {
      entered = true;
    }, 10_000);
    // Several polls that found the other process's lock (or, wrongly, the lock taken).
    await pollUntil(() => entered || afterRead.reads >= 3, { timeoutMs: 5000, intervalMs: 10, message: 'three polls' });
    expect(entered).toBe(false);
    expect(realFs.readFileSync(lock, 'utf8')).toBe(`${other}\n`);
    process.kill(other, 'SIGKILL');
    await held;
    expect(entered).toBe(true);
    expect(realFs.existsSync(lock)).toBe(false);
  });

  it('fails at once, naming the lock and the cause, when the lock file cannot be written (a full disk), leaving nothing', async () => {
    const folder = join(dir, 'full');
    realFs.mkdirSync(folder);
    failWrites.under = folder;
    const lock = join(folder, 'lock');
    const t0 = Date.now();
    let entered = false;
    const held = withFileLock(lock, async () => {
      entered = true;
    }, 5000);
    await expect(held).rejects.toThrow(`could not take the lock ${lock}: ENOSPC: no space left on device`);
    expect([entered, Date.now() - t0 < 2000, realFs.readdirSync(folder)]).toEqual([false, true, []]);
  });

  it('waits for a live holder, and takes over at once a lock whose PID now is another process\'s', async () => {
    const lock = join(dir, 'reused.lock');
    const other = await otherProcess();
    const ticks = processStartTicks(other);
    expect(ticks).toBeTypeOf('number');
    realFs.writeFileSync(lock, `${other} ${ticks}\n`);
    await expect(withFileLock(lock, async () => 'in', 600)).rejects.toThrow(`(held by PID ${other})`);
    realFs.writeFileSync(lock, `${other} ${ticks! + 1}\n`); // started at another time: the holder is gone
    expect(await withFileLock(lock, async () => 'in', 5000)).toBe('in');
    expect(processAlive(other)).toBe(true);
  });
});
