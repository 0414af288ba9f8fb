// The takeover of a backfill lock whose holder is gone, when another run takes it over in the same instant (driven in
// a fixed interleaving: the other run's takeover happens right after this one read the dead holder). Both would run
// the range otherwise: the second one removed the first one's new lock.
import { spawnSync } from 'node:child_process';
import * as realFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { acquireBackfillLock, BackfillBusy } from './backfill-lock.ts';
import { processStartTicks } from '../../core/process-identity.ts';

/** Runs once right after the first read of `file` (then disarms): what another run did in between. */
const afterRead: { file: string | undefined; then: (() => void) | undefined } = { file: undefined, then: undefined };

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const readFileSync = ((...args: Parameters<typeof fs.readFileSync>) => {
    const out = fs.readFileSync(...args);
    if (afterRead.file !== undefined && args[0] === afterRead.file) {
      const then = afterRead.then;
      afterRead.file = undefined;
      afterRead.then = undefined;
      then?.();
    }
    return out;
  }) as typeof fs.readFileSync;
  return { ...fs, default: { ...fs, readFileSync }, readFileSync };
});

const ID = 'tencent-ccc:1400000001:backfill:2026-11-30T00:00:00.000Z-2026-12-01T00:00:00.000Z';
const dir = realFs.mkdtempSync(join(tmpdir(), 'cdrflow-backfill-takeover-'));
const lockFile = join(dir, `${encodeURIComponent(ID)}.lock`);
afterAll(() => realFs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  afterRead.file = undefined;
  afterRead.then = undefined;
  realFs.rmSync(lockFile, { force: true });
});

describe('backfill lock takeover', () => {
  it('does not remove the lock another run took over from the same dead holder just before', () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    realFs.writeFileSync(lockFile, `${JSON.stringify({ pid: dead, since: '2026-12-06T10:00:00.000Z', command: 'cdrflow backfill' })}\n`);
    const other = process.ppid;
    const othersLock = `${JSON.stringify({ pid: other, since: '2026-12-06T11:00:00.000Z', command: 'cdrflow start', startTicks: processStartTicks(other) })}\n`;
    afterRead.file = lockFile;
    afterRead.then = () => {
      realFs.rmSync(lockFile);
      realFs.writeFileSync(lockFile, othersLock);
    };
    let err: unknown;
    try {
      acquireBackfillLock(dir, ID, 'cdrflow backfill')();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackfillBusy);
    expect((err as BackfillBusy).holder.pid).toBe(other);
    expect(realFs.readFileSync(lockFile, 'utf8')).toBe(othersLock);
  });

  it('takes over at once a dead holder\'s lock beside the takeover file of a run killed inside its takeover', () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    realFs.writeFileSync(lockFile, `${JSON.stringify({ pid: dead, since: '2026-12-06T10:00:00.000Z', command: 'cdrflow backfill' })}\n`);
    realFs.writeFileSync(`${lockFile}.takeover`, `${dead}\n`);
    const minuteAgo = new Date(Date.now() - 60_000);
    realFs.utimesSync(`${lockFile}.takeover`, minuteAgo, minuteAgo);
    const release = acquireBackfillLock(dir, ID, 'cdrflow backfill');
    expect(JSON.parse(realFs.readFileSync(lockFile, 'utf8')).pid).toBe(process.pid);
    release();
    expect(realFs.readdirSync(dir)).toEqual([]);
  });
});
