// One backfill per range at a time on a machine: a second run of the same checkpoint id, in this process or another,
// is refused naming the first; the lock of a run that died (or whose PID now belongs to another process) is taken
// over; a finished run leaves none behind.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireBackfillLock, BackfillBusy } from './backfill-lock.ts';
import { processStartTicks } from '../../core/process-identity.ts';

const ID = 'tencent-ccc:1400000001:backfill:2026-11-30T00:00:00.000Z-2026-12-01T00:00:00.000Z';
const lockDir = () => mkdtempSync(join(tmpdir(), 'cdrflow-backfill-lock-'));
const lockFile = (dir: string) => join(dir, `${encodeURIComponent(ID)}.lock`);
/** A PID no process has any more: a child that ran and was reaped. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

describe('backfill lock', () => {
  it('refuses a second backfill of the same range in this process until the first released it', () => {
    const dir = lockDir();
    const release = acquireBackfillLock(dir, ID, 'cdrflow start');
    expect(() => acquireBackfillLock(dir, ID, 'cdrflow backfill')).toThrow(BackfillBusy);
    // Another range of the same tenant is not this one.
    acquireBackfillLock(dir, ID.replace('2026-12-01', '2026-12-02'), 'cdrflow backfill')();
    release();
    expect(readdirSync(dir)).toEqual([]);
    acquireBackfillLock(dir, ID, 'cdrflow backfill')();
  });

  it('refuses a range another live process holds, in one line naming its PID, command and start', () => {
    const dir = lockDir();
    const other = process.ppid;
    writeFileSync(lockFile(dir), JSON.stringify({ pid: other, since: '2026-12-06T10:00:00.000Z', command: 'cdrflow backfill', startTicks: processStartTicks(other) }));
    let err: unknown;
    try {
      acquireBackfillLock(dir, ID, 'cdrflow backfill');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackfillBusy);
    expect((err as Error).message).toBe(
      `a backfill of ${ID} is already running: PID ${other} (cdrflow backfill), since 2026-12-06T10:00:00.000Z; run the same command again once it has finished (it resumes from the checkpoint)`,
    );
    // Not taken over: the holder's file is left as it was.
    expect(existsSync(lockFile(dir))).toBe(true);
  });

  it.each([
    ['whose process is gone (killed without cleaning up)', () => ({ pid: deadPid() })],
    ['whose PID now belongs to another process (started at another time)', () => ({ pid: process.ppid, startTicks: (processStartTicks(process.ppid) ?? 0) + 1 })],
  ])('takes over the lock of a run %s', (_name, holder) => {
    const dir = lockDir();
    writeFileSync(lockFile(dir), JSON.stringify({ since: '2026-12-06T10:00:00.000Z', command: 'cdrflow backfill', ...holder() }));
    const release = acquireBackfillLock(dir, ID, 'cdrflow backfill');
    expect(() => acquireBackfillLock(dir, ID, 'cdrflow backfill')).toThrow(new RegExp(`PID ${process.pid} \\(cdrflow backfill\\)`));
    release();
    expect(existsSync(lockFile(dir))).toBe(false);
  });
  it('an unreadable lock file is being taken while it is young, stale once older than a few seconds or stamped ahead of the clock', () => {
    // Only its age tells a lock file created and not yet written from one left by a crash in between. Stamped by a
    // clock that ran ahead (and was set back since), it looked younger than a few seconds for as long as the clock ran
    // ahead: every backfill of the range was refused as "being taken" meanwhile.
    const dir = lockDir();
    const file = lockFile(dir);
    writeFileSync(file, '');
    expect(() => acquireBackfillLock(dir, ID, 'cdrflow backfill')).toThrow(/being taken/);
    for (const stampedSec of [Date.now() / 1000 - 60, Date.now() / 1000 + 86_400]) {
      writeFileSync(file, '');
      utimesSync(file, stampedSec, stampedSec);
      acquireBackfillLock(dir, ID, 'cdrflow backfill')();
      expect(existsSync(file)).toBe(false);
    }
  });

  it("a dead holder's lock is taken over past a takeover file left by a crash, also one stamped ahead of the clock", () => {
    const dir = lockDir();
    const file = lockFile(dir);
    for (const stampedSec of [Date.now() / 1000 - 60, Date.now() / 1000 + 86_400]) {
      writeFileSync(file, `${JSON.stringify({ pid: deadPid(), since: '2026-12-06T10:00:00.000Z', command: 'cdrflow backfill' })}\n`);
      writeFileSync(`${file}.takeover`, '1\n');
      utimesSync(`${file}.takeover`, stampedSec, stampedSec);
      acquireBackfillLock(dir, ID, 'cdrflow backfill')();
      expect(readdirSync(dir)).toEqual([]);
    }
  });
});
