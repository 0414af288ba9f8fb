// One backfill per checkpoint id (vendor, tenant, range) at a time on this machine: a lock file under .data/ naming
// the process that holds it. Two runs of one range would each read the vendor (twice its API quota) and overwrite each
// other's checkpoint (last write wins on the compacted topic: it moves back, and is re-read on resume). Nothing is
// lost that way, since each run moves the checkpoint only past windows it published itself; it is wasted work, and
// two summaries that each count the range. A run killed without a chance to clean up (kill -9, a crash) leaves its
// file; the next run finds its process gone (or the PID reused by another process, told by the start time) and takes
// the lock over. Across machines nothing is locked: see the README (backfill).
import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { holderRunning, lockText, processStartTicks, removeStaleLock, writtenLongAgo, type LockHolder } from '../../core/process-identity.ts';
import { REPO_ROOT } from '../../core/repo-root.ts';
import { CdrflowError } from '../../core/errors.ts';

export const BACKFILL_LOCK_DIR = join(REPO_ROOT, '.data', 'backfill-locks');

interface Holder extends LockHolder {
  /** When the holder took the lock (ISO). */
  since: string;
  /** What the holder runs, for the message (e.g. `cdrflow backfill`, `cdrflow start`). */
  command: string;
}

/** Another live process (or this one) is running a backfill of the same checkpoint id. */
export class BackfillBusy extends CdrflowError {
  constructor(
    readonly checkpointId: string,
    readonly holder: Holder,
  ) {
    super(
      'config',
      `a backfill of ${checkpointId} is already running: PID ${holder.pid} (${holder.command}), since ${holder.since}; run the same command again once it has finished (it resumes from the checkpoint)`,
    );
  }
}

function holderOf(text: string | undefined): Holder | undefined {
  try {
    const h = JSON.parse(text ?? '') as Partial<Holder>;
    return Number.isInteger(h.pid) && (h.pid as number) > 0 ? (h as Holder) : undefined;
  } catch {
    return undefined;
  }
}

const readHolder = (file: string): Holder | undefined => holderOf(lockText(file));

const UNREADABLE_STALE_MS = 10_000;

/** Ids this process holds: a second backfill of one range in the same process (the job's repair) is refused too. */
const heldHere = new Set<string>();

/**
 * Throws BackfillBusy when a live process holds the lock of `checkpointId` in `dir`; takes nothing. For a command that
 * wants to say so before it connects to anything: the lock itself is taken by acquireBackfillLock.
 */
export function assertBackfillFree(dir: string, checkpointId: string): void {
  const holder = readHolder(join(dir, `${encodeURIComponent(checkpointId)}.lock`));
  if (holder && holderRunning(holder)) throw new BackfillBusy(checkpointId, holder);
}

/**
 * Takes the lock of `checkpointId` in `dir`, or throws BackfillBusy naming the live holder. Returns the release
 * function (idempotent). `command` says what this process is, for another run's message.
 */
export function acquireBackfillLock(dir: string, checkpointId: string, command: string): () => void {
  const file = join(dir, `${encodeURIComponent(checkpointId)}.lock`);
  const startTicks = processStartTicks(process.pid);
  const me: Holder = { pid: process.pid, since: new Date().toISOString(), command, ...(startTicks === undefined ? {} : { startTicks }) };
  if (heldHere.has(file)) throw new BackfillBusy(checkpointId, readHolder(file) ?? me);
  mkdirSync(dir, { recursive: true });
  // A stale file (its holder gone) is removed under removeStaleLock's takeover file, then created anew: of two runs
  // that found the same dead holder, one removes it and the other finds the first one's new lock. A third try at most:
  // the first may only have cleared a takeover file left by a run killed inside its takeover.
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const seen = lockText(file);
      const holder = holderOf(seen);
      if (holder && holderRunning(holder)) throw new BackfillBusy(checkpointId, holder);
      // No readable holder: a file being written this instant (taken), or a crash between its creation and its
      // write, which only its age tells (stale after a few seconds).
      if (attempt >= 2 || (!holder && !writtenLongAgo(file, UNREADABLE_STALE_MS))) throw new BackfillBusy(checkpointId, { pid: 0, since: '?', command: `being taken: ${file}` });
      if (seen !== undefined) removeStaleLock(file, seen);
    }
  }
  heldHere.add(file);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    heldHere.delete(file);
    if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
  };
}
