// The process plumbing `infra up/down` and the test harness rely on, exercised on real child processes.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, existsSync, lstatSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  StopPolling,
  ephemeralPortLow,
  liveLeases,
  logExcerpt,
  ownedPid,
  pollUntil,
  readPid,
  spawnDetached,
  stopPid,
  withFileLock,
} from './processes.ts';
import { processAlive, processStartTicks } from '../../core/process-identity.ts';
import { kafkaServerProperties } from './kafka.ts';
import { stackPaths } from './paths.ts';
import { REPO_ROOT } from '../../core/repo-root.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdrflow-proc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** PIDs of running processes with `arg` among their arguments (Linux /proc). */
function pidsWithArg(arg: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(arg);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('pollUntil', () => {
  it('returns the first truthy probe value', async () => {
    let n = 0;
    expect(
      await pollUntil(() => (++n >= 3 ? `done after ${n}` : false), { timeoutMs: 5000, intervalMs: 1, message: 'n' }),
    ).toBe('done after 3');
  });
  it('times out naming what it waited for and the last error', async () => {
    await expect(
      pollUntil(
        () => {
          throw new Error('connection refused');
        },
        { timeoutMs: 50, intervalMs: 5, message: 'the broker' },
      ),
    ).rejects.toThrow(/waiting for the broker; last error: connection refused/);
  });
  it('stops at once on StopPolling', async () => {
    const t0 = Date.now();
    await expect(
      pollUntil(
        () => {
          throw new StopPolling('process died');
        },
        { timeoutMs: 10_000, message: 'x' },
      ),
    ).rejects.toThrow('process died');
    expect(Date.now() - t0).toBeLessThan(1000);
  });
  it('times its wait on the monotonic clock: a wall clock stepped forward a day does not end it at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'Date', 'performance'] });
    try {
      let outcome: string | undefined;
      const waiting = pollUntil(() => false, { timeoutMs: 5000, intervalMs: 200, message: 'the broker' }).then(
        () => (outcome = 'done'),
        (err: Error) => (outcome = err.message),
      );
      vi.setSystemTime(Date.now() + 86_400_000);
      await vi.advanceTimersByTimeAsync(1000);
      expect(outcome).toBeUndefined();
      await vi.advanceTimersByTimeAsync(4200);
      await waiting;
      expect(outcome).toMatch(/^timed out after 5000 ms waiting for the broker/);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('readPid', () => {
  it('takes a PID file of decimal digits only: hex, exponents, signs and fractions are garbage, not PIDs', () => {
    const file = join(dir, 'garbage.pid');
    const read = (text: string) => {
      writeFileSync(file, text);
      return readPid(file);
    };
    expect(['0x1', '1e3', '+7', '12.0', '0', '-1', '', 'abc', ' 4242 \n'].map(read)).toEqual([
      undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 4242,
    ]);
  });
});

describe('spawnDetached / ownedPid / stopPid', () => {
  it('starts a detached process with a PID file and log, recognizes it by marker, and stops it with SIGTERM', async () => {
    const pidFile = join(dir, 'sleeper.pid');
    const logFile = join(dir, 'sleeper.log');
    const pid = spawnDetached({
      command: process.execPath,
      args: ['-e', 'console.log("hello-from-child"); setInterval(() => {}, 1000)', 'marker-abc'],
      cwd: dir,
      logFile,
      pidFile,
    });
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(pid);
    await pollUntil(() => readFileSync(logFile, 'utf8').includes('hello-from-child'), {
      timeoutMs: 10_000,
      message: 'child output in its log',
    });
    expect(ownedPid(pidFile, 'marker-abc')).toBe(pid);
    expect(ownedPid(pidFile, 'some-other-program')).toBeUndefined();
    expect(await stopPid(pid)).toBe('terminated');
    expect(processAlive(pid)).toBe(false);
    expect(ownedPid(pidFile, 'marker-abc')).toBeUndefined();
  });

  it('stops the server it started when its PID file cannot be written, so no server runs that nobody can find', async () => {
    const marker = `marker-unwritable-${process.pid}`;
    const pidFile = join(dir, 'unwritable.pid');
    mkdirSync(pidFile); // a folder where the PID file belongs: any write of it fails (EISDIR), as a full disk would
    expect(() =>
      spawnDetached({
        command: process.execPath,
        args: ['-e', 'setInterval(() => {}, 1000)', marker],
        cwd: dir,
        logFile: join(dir, 'unwritable.log'),
        pidFile,
      }),
    ).toThrow(`could not write the PID file ${pidFile}`);
    try {
      await pollUntil(() => pidsWithArg(marker).length === 0, { timeoutMs: 5000, intervalMs: 20, message: 'the unnamed server to exit' });
    } finally {
      for (const pid of pidsWithArg(marker)) process.kill(pid, 'SIGKILL');
    }
  });

  it('replaces a PID file that is a symbolic link instead of writing through it into the file it names', async () => {
    const target = join(dir, 'not-a-pid-file');
    writeFileSync(target, 'keep me\n');
    const pidFile = join(dir, 'linked.pid');
    symlinkSync(target, pidFile);
    const pid = spawnDetached({
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      cwd: dir,
      logFile: join(dir, 'linked.log'),
      pidFile,
    });
    try {
      expect([readFileSync(target, 'utf8'), lstatSync(pidFile).isSymbolicLink(), readFileSync(pidFile, 'utf8')]).toEqual(['keep me\n', false, `${pid}\n`]);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const child = spawn(
      process.execPath,
      ['-e', 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const pid = child.pid ?? -1;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const outcome = stopPid(pid, 300);
    await exited; // reap it so the liveness check sees it gone
    expect(await outcome).toBe('killed');
  });
});

// README ("Local infrastructure"): `down` stops the servers with "SIGTERM, then SIGKILL after 20 s": a broker
// flushing its logs gets that long, and no longer. On the test's clock; the child itself is real.
it('stopPid gives a process the documented time after SIGTERM before SIGKILL', async () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  const graceSec = Number(/`down` stops only the PIDs in those files \(SIGTERM, then SIGKILL after (\d+) s\)/.exec(readme)?.[1]);
  expect(graceSec, 'README.md no longer says how long `down` waits after SIGTERM').toBeGreaterThan(0);
  const child = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const pid = child.pid ?? -1;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  vi.useFakeTimers({ toFake: ['setTimeout', 'Date', 'performance'] });
  try {
    let outcome: string | undefined;
    const stopping = stopPid(pid).then((o) => (outcome = o));
    await vi.advanceTimersByTimeAsync(graceSec * 1000 - 200);
    expect(outcome).toBeUndefined();
    expect(processAlive(pid)).toBe(true);
    await vi.advanceTimersByTimeAsync(300);
    await exited; // killed: reaped, so the liveness check sees it gone
    await vi.advanceTimersByTimeAsync(100);
    await stopping;
    expect(outcome).toBe('killed');
  } finally {
    vi.useRealTimers();
    child.kill('SIGKILL');
  }
});

describe('withFileLock / liveLeases', () => {
  it('serializes holders and takes over a lock whose holder is dead', async () => {
    const lock = join(dir, 'lock');
    writeFileSync(lock, '999999999\n'); // a PID that cannot exist
    const order: string[] = [];
    await Promise.all([
      withFileLock(lock, async () => {
        order.push('a-in');
        await new Promise((r) => setTimeout(r, 50));
        order.push('a-out');
      }),
      withFileLock(lock, async () => {
        order.push('b-in');
        order.push('b-out');
      }),
    ]);
    // Same process holds both: the second waits because the file exists with our own (live) PID.
    expect(order.join(',')).toMatch(/^(a-in,a-out,b-in,b-out|b-in,b-out,a-in,a-out)$/);
    expect(existsSync(lock)).toBe(false);
  });

  it('refuses at once, naming it, a lock path that is a folder (no holder can ever release it)', async () => {
    const lock = join(dir, 'lock-folder');
    mkdirSync(lock);
    const t0 = Date.now();
    await expect(withFileLock(lock, async () => 'held', 5000)).rejects.toThrow(`the lock ${lock} is a folder`);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('keeps leases of live processes and drops those of dead ones', () => {
    const leases = join(dir, 'leases');
    mkdirSync(leases, { recursive: true });
    writeFileSync(join(leases, String(process.pid)), '');
    writeFileSync(join(leases, '999999999'), '');
    expect(liveLeases(leases)).toEqual([process.pid]);
    expect(existsSync(join(leases, '999999999'))).toBe(false);
  });
});

describe('a lease whose PID now is another process', () => {
  it('is dropped when its holder\'s start time does not match, and kept when it does or was written without one', async () => {
    const leases = join(dir, 'leases-reused');
    mkdirSync(leases, { recursive: true });
    // A live process stands for whatever was given the PID of a job that died without releasing its lease.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((resolve, reject) => other.once('spawn', resolve).once('error', reject));
    try {
      const pid = other.pid ?? -1;
      const ticks = processStartTicks(pid) ?? -1;
      const lease = join(leases, String(pid));
      writeFileSync(lease, `${pid} ${ticks + 1} 2026-01-01T00:00:00.000Z cdrflow start\n`);
      expect([liveLeases(leases), existsSync(lease)]).toEqual([[], false]);
      writeFileSync(lease, `${pid} ${ticks} 2026-01-01T00:00:00.000Z cdrflow start\n`);
      expect(liveLeases(leases)).toEqual([pid]);
      // The leases of older versions hold a time alone: liveness is all they can tell.
      writeFileSync(lease, '2026-01-01T00:00:00.000Z cdrflow start\n');
      expect(liveLeases(leases)).toEqual([pid]);
    } finally {
      other.kill('SIGKILL');
    }
  });
});

describe('kafkaServerProperties', () => {
  it('configures a single-node KRaft broker whose transactions and groups work with one replica', () => {
    const props = kafkaServerProperties(stackPaths(29000), { kafkaPort: 29092, kafkaControllerPort: 29093 });
    for (const line of [
      'process.roles=broker,controller',
      'controller.quorum.voters=1@127.0.0.1:29093',
      'listeners=PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093',
      'advertised.listeners=PLAINTEXT://127.0.0.1:29092',
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
    ]) {
      expect(props.split('\n')).toContain(line);
    }
    expect(props).toContain(`log.dirs=${stackPaths(29000).kafkaData}`);
  });
});

describe('CI port base', () => {
  it('is a block of 1000 free ports below the ephemeral range, so a restarted broker can always bind its port', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, ['bin/run-ts.mjs', 'infra/free-port-base.ts'], { encoding: 'utf8' });
    const base = Number(out.trim());
    expect(Number.isInteger(base)).toBe(true);
    expect(base).toBeGreaterThanOrEqual(20000);
    expect(base).not.toBe(29000);
    expect(base + 1000).toBeLessThanOrEqual(ephemeralPortLow());
  });
});

describe('logExcerpt', () => {
  it('puts the first errors before the last lines, since a JVM logs pages of shutdown after the cause', () => {
    const file = join(dir, 'server.log');
    const shutdown = Array.from({ length: 40 }, (_, i) => `[t] INFO shutting down part ${i}`);
    writeFileSync(file, ['[t] INFO starting', '[t] ERROR [KafkaServer id=1] Fatal error during startup', 'org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:39092: Address already in use.', ...shutdown].join('\n'));
    const excerpt = logExcerpt(file);
    expect(excerpt).toMatch(/^first errors:\n.*Fatal error during startup\n.*Address already in use/);
    expect(excerpt).toContain('shutting down part 39');
    expect(excerpt).not.toContain('shutting down part 14');
    writeFileSync(file, shutdown.join('\n'));
    expect(logExcerpt(file)).not.toContain('first errors');
    expect(logExcerpt(join(dir, 'missing.log'))).toMatch(/^\(no log at /);
  });
});
