// Whether a PID named in a lock or PID file still is the process that wrote it (PIDs are reused after a crash or a
// reboot), and the removal of a lock whose holder is gone without removing the lock another process took meanwhile.
// One place for the local stack's locks (infra/local/processes.ts), the backfill lock and the embedded engine's.
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';

/**
 * The fields of a /proc/<pid>/stat (or task/<tid>/stat) text after the command name, which sits in parentheses and may
 * hold spaces and parentheses itself: counted from the last ')', the state (field 3) is index 0, the parent's PID
 * (field 4) 1, nice (field 19) 16, the start time (field 22) 19.
 */
export function procStatFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM means it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped) still answers signal 0; /proc tells the truth on Linux.
  try {
    const state = procStatFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); undefined without /proc. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const ticks = Number(procStatFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** A lock's holder: its PID, and its start ticks where /proc told them (absent elsewhere and in older lock files). */
export interface LockHolder {
  pid: number;
  startTicks?: number;
}

/** The holder still runs: alive, and (where /proc tells) started when the holder did, not a reuse of its PID. */
export function holderRunning(h: LockHolder): boolean {
  if (!processAlive(h.pid)) return false;
  if (h.startTicks === undefined) return true;
  const now = processStartTicks(h.pid);
  return now === undefined || now === h.startTicks;
}

/** A lock file's text, or undefined once it is gone (released or taken over meanwhile). */
export function lockText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A takeover file left by a process that died inside the (synchronous) takeover: only its age tells. */
const TAKEOVER_STALE_MS = 10_000;

/**
 * Whether `file` was last written more than `ms` ago, or is stamped more than `ms` ahead of the clock (or is gone): a
 * file being written this instant carries about now, and one stamped by a clock that ran ahead (set back since) would
 * otherwise look young for as long as the clock ran ahead.
 */
export function writtenLongAgo(file: string, ms: number): boolean {
  try {
    return !(Math.abs(Date.now() - statSync(file).mtimeMs) <= ms);
  } catch {
    return true;
  }
}

/**
 * Removes `lockFile` if it still is the stale lock `seen` (its text), under a second O_EXCL file: two processes that
 * both found the same dead holder would otherwise both remove it, the second one removing the first one's new lock,
 * and both would hold the lock. Under the takeover file the lock is read again, so the second one finds the first
 * one's lock and leaves it. Everything in here is synchronous, so a takeover file outlives its process only when that
 * process died in these few lines: one older than a few seconds is removed. Returns whether the lock was removed (when
 * not, another process is taking it over, or has: look again).
 */
export function removeStaleLock(lockFile: string, seen: string): boolean {
  const takeover = `${lockFile}.takeover`;
  try {
    writeFileSync(takeover, `${process.pid}\n`, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (writtenLongAgo(takeover, TAKEOVER_STALE_MS)) rmSync(takeover, { force: true });
    } catch {
      /* removed meanwhile by its owner */
    }
    return false;
  }
  try {
    if (lockText(lockFile) !== seen) return false;
    rmSync(lockFile, { force: true });
    return true;
  } finally {
    rmSync(takeover, { force: true });
  }
}
