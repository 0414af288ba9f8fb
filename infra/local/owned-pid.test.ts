// ownedPid on a Linux whose /proc hides a process (mounted with hidepid, the process another user's): it is alive to
// signal 0 (EPERM) but its command line cannot be read, so nothing proves it is the server this stack started.
import { spawn } from 'node:child_process';
import * as realFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ownedPid } from './processes.ts';

/** The PID whose /proc entry reads as hidden. */
const hidden: { pid: number | undefined } = { pid: undefined };

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const readFileSync = ((...args: Parameters<typeof fs.readFileSync>) => {
    if (hidden.pid !== undefined && String(args[0]).startsWith(`/proc/${hidden.pid}/`))
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${String(args[0])}'`), { code: 'ENOENT' });
    return fs.readFileSync(...args);
  }) as typeof fs.readFileSync;
  return { ...fs, default: { ...fs, readFileSync }, readFileSync };
});

const dir = realFs.mkdtempSync(join(tmpdir(), 'cdrflow-owned-'));
afterAll(() => realFs.rmSync(dir, { recursive: true, force: true }));

describe('ownedPid', () => {
  it('does not take a live process whose command line /proc will not show for the server it started', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'kafka.Kafka'], { stdio: 'ignore' });
    await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    try {
      const pidFile = join(dir, 'kafka.pid');
      realFs.writeFileSync(pidFile, `${child.pid}\n`);
      expect(ownedPid(pidFile, 'kafka.Kafka')).toBe(child.pid);
      hidden.pid = child.pid;
      expect(ownedPid(pidFile, 'kafka.Kafka')).toBeUndefined();
    } finally {
      hidden.pid = undefined;
      child.kill('SIGKILL');
    }
  });
});
