// Starting, finding and stopping the local server JVMs by PID file. Only PIDs we wrote are ever signalled, and only
// after checking that the PID still belongs to the program we started (PIDs are reused after a reboot or crash).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { createConnection } from 'node:net';
import { holderRunning, lockText, processAlive, processStartTicks, removeStaleLock, type LockHolder } from '../../core/process-identity.ts';
import { CdrflowError } from '../../core/errors.ts';

/** Thrown from a probe to end polling at once (e.g. the server process died: waiting longer cannot help). */
export class StopPolling extends Error {
  override readonly name = 'StopPolling';
}

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Says what was awaited, for the timeout error. */
  message: string;
}

/**
 * Calls `probe` until it returns a value other than undefined/false, or throws after the deadline with the last
 * probe error attached — so a timeout says *why* the condition never held.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: PollOptions,
): Promise<T> {
  // On the monotonic clock: a wall clock stepped forward ended the wait at once, one stepped back stretched it.
  const deadline = performance.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 200;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (err) {
      if (err instanceof StopPolling) throw err;
      lastError = err;
    }
    if (performance.now() >= deadline) {
      const why =
        lastError === undefined
          ? ''
          : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.message}${why}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

export function readPid(pidFile: string): number | undefined {
  try {
    // Decimal digits only, as spawnDetached writes them: Number() also took "0x1" for PID 1 and "1e3" for 1000.
    const text = readFileSync(pidFile, 'utf8').trim();
    const pid = /^\d{1,10}$/.test(text) ? Number(text) : 0;
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The arguments of a running process, its program first (Linux /proc); undefined elsewhere or when it has gone. */
function processArgs(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** The command line of a running process (Linux /proc); undefined elsewhere or when it has gone. */
export function processCommandLine(pid: number): string | undefined {
  return processArgs(pid)?.join(' ');
}

/** Resident memory in KiB from /proc, for `infra status`. */
export function processRssKib(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * The PID from the file if that process is alive and each of `markers` is one of its arguments (on systems without
 * /proc the markers cannot be checked and liveness alone decides). The markers must name this stack, not only the
 * program: a reused PID may well be another stack's server of the same program.
 */
export function ownedPid(pidFile: string, ...markers: string[]): number | undefined {
  const pid = readPid(pidFile);
  if (pid === undefined || !processAlive(pid)) return undefined;
  const args = processArgs(pid);
  // With /proc there, a live process it does not show (hidepid: another user's) cannot be proved ours.
  if (args === undefined) return existsSync('/proc/self') ? undefined : pid;
  return markers.every((m) => args.includes(m)) ? pid : undefined;
}

export interface SpawnSpec {
  command: string;
  args: string[];
  cwd: string;
  logFile: string;
  pidFile: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts a server detached from this process (it outlives the CLI), stdout/stderr appended to its log file. */
export function spawnDetached(spec: SpawnSpec): number {
  mkdirSync(dirname(spec.logFile), { recursive: true });
  mkdirSync(dirname(spec.pidFile), { recursive: true });
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: spec.env ?? process.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
    child.unref();
    try {
      writePidFile(spec.pidFile, child.pid);
    } catch (err) {
      // Without its PID file no `down` and no later `up` can find this server: it would run on unseen, holding its
      // ports. Stop it by the PID just returned, the one process this call knows to be its own.
      child.kill('SIGKILL');
      throw new Error(`could not write the PID file ${spec.pidFile}: ${(err as Error).message}`, { cause: err });
    }
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * Written beside it and renamed into place: a reader never sees it empty, and a PID file that is a symbolic link is
 * replaced, not written through into whatever file it names (another stack's PID file, or no PID file at all).
 */
function writePidFile(pidFile: string, pid: number): void {
  const staged = `${pidFile}.${process.pid}.${randomUUID()}`;
  try {
    writeFileSync(staged, `${pid}\n`, { flag: 'wx' });
    renameSync(staged, pidFile);
  } finally {
    rmSync(staged, { force: true });
  }
}

/** SIGTERM, then SIGKILL if the process has not exited by the deadline. Resolves once it is gone. */
export async function stopPid(pid: number, graceMs = 20_000): Promise<'terminated' | 'killed' | 'not-running'> {
  if (!processAlive(pid)) return 'not-running';
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'not-running';
  }
  try {
    await pollUntil(() => !processAlive(pid), {
      timeoutMs: graceMs,
      intervalMs: 100,
      message: `PID ${pid} to exit after SIGTERM`,
    });
    return 'terminated';
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* exited between the check and the kill */
    }
    await pollUntil(() => !processAlive(pid), {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: `PID ${pid} to exit after SIGKILL`,
    });
    return 'killed';
  }
}

/**
 * What a log says about a server that exited: its first ERROR/FATAL lines (the cause; a JVM logs pages of orderly
 * shutdown after it) and then its last lines.
 */
export function logExcerpt(file: string, lines = 25): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trimEnd();
  } catch {
    return `(no log at ${file})`;
  }
  const all = text.split('\n');
  const errors = all.filter((line) => /\b(ERROR|FATAL)\b|Exception\b/.test(line)).slice(0, 10);
  const last = all.slice(-lines).join('\n');
  return errors.length === 0 ? last : `first errors:\n${errors.join('\n')}\nlast lines:\n${last}`;
}

/**
 * The lowest port of the kernel's ephemeral range (outgoing connections' local ports). A server port at or above it
 * can be taken by an outgoing connection while its server is down, so a restart fails to bind it.
 */
export function ephemeralPortLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && Number.isInteger(low) && low > 1024) return low;
  } catch {
    /* not Linux: assume Linux's default */
  }
  return 32768;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A server this stack starts must not find its ports taken by something else (it would talk to a stranger). */
export async function assertPortsFree(ports: number[]): Promise<void> {
  for (const port of ports) {
    if (await portOpen(port)) {
      // A setting the command cannot use (EX_CONFIG, as core/exit-codes.ts lists a taken port), not a failure.
      throw new CdrflowError(
        'config',
        `port ${port} is already in use by a process this stack did not start; stop it or choose another CDRFLOW_PORT_BASE`,
      );
    }
  }
}

/** The children of `run` still running: a stop request ends them (they would outlive this process otherwise). */
const runningChildren = new Set<ChildProcess>();

/**
 * Sends `signal` to every child `run` started that is still running, by its PID; returns how many there were. Each
 * one's `run` then rejects, so the caller's clean-up (a download's temporary folder) runs before the process exits.
 */
export function stopRunChildren(signal: NodeJS.Signals): number {
  for (const child of runningChildren) child.kill(signal);
  return runningChildren.size;
}

export function run(
  command: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        runningChildren.delete(child);
        if (err) {
          const detail = `${stderr}\n${stdout}`.trim().split('\n').slice(-30).join('\n');
          reject(
            new Error(`${command} ${args.join(' ')} failed: ${err.message}${detail ? `\n${detail}` : ''}`, {
              cause: err,
            }),
          );
        } else resolve({ stdout, stderr });
      },
    );
    runningChildren.add(child);
  });
}

/** A lock file's holder from its text: `<pid> <start ticks>` (no ticks without /proc, nor in older versions' locks). */
function lockHolder(text: string | undefined): LockHolder | undefined {
  const [pid, ticks] = (text ?? '').trim().split(' ').map(Number);
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return undefined;
  return ticks === undefined || !Number.isFinite(ticks) ? { pid } : { pid, startTicks: ticks };
}

/** This process as the holder of a lock or a lease: `<pid> <start ticks>` (the PID alone without /proc). */
export function holderStamp(): string {
  const ticks = processStartTicks(process.pid);
  return `${process.pid}${ticks === undefined ? '' : ` ${ticks}`}`;
}

/**
 * A cross-process mutex on a file. Two `infra up`s or two test runs on one stack would otherwise both see "not
 * running" and race for the same ports. A lock whose holder died (or whose PID now is another process's) is taken
 * over.
 */
export async function withFileLock<T>(lockFile: string, fn: () => Promise<T>, timeoutMs = 600_000): Promise<T> {
  mkdirSync(dirname(lockFile), { recursive: true });
  const mine = `${holderStamp()}\n`;
  await pollUntil(
    () => {
      // Written in full beside it, then linked into place (fails if it exists, as O_EXCL): a lock created empty and
      // written after would, read in between, look like a lock without a holder, and be taken over.
      const staged = `${lockFile}.${process.pid}.${randomUUID()}`;
      try {
        writeFileSync(staged, mine);
        linkSync(staged, lockFile);
        return true;
      } catch (err) {
        // Anything but a lock already there (a full disk, a read-only folder) no wait can mend: polled on, it held
        // `infra up` silent for the whole lock timeout (25 minutes for the cache's).
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new StopPolling(`could not take the lock ${lockFile}: ${(err as Error).message}`, { cause: err });
      } finally {
        rmSync(staged, { force: true });
      }
      const seen = lockText(lockFile);
      if (seen === undefined) {
        // Unreadable as a folder: no holder wrote it and none will remove it, so waiting would only end at the timeout.
        if (statSync(lockFile, { throwIfNoEntry: false })?.isDirectory())
          throw new StopPolling(`the lock ${lockFile} is a folder, not a lock file; remove it and run again`);
        return false; // released meanwhile: take it on the next poll
      }
      const holder = lockHolder(seen);
      if (holder === undefined || !holderRunning(holder)) removeStaleLock(lockFile, seen);
      return false;
    },
    { timeoutMs, intervalMs: 250, message: `the infra lock ${lockFile} (held by PID ${lockHolder(lockText(lockFile))?.pid ?? '?'})` },
  );
  try {
    return await fn();
  } finally {
    if (lockText(lockFile) === mine) rmSync(lockFile, { force: true });
  }
}

/**
 * Live lease holders (PIDs) in a lease directory; leases of dead processes are removed, and so are those whose PID now
 * is another process's (a job killed without releasing its lease): `down` refused for it, and a job leaving stopped
 * none of the servers it started, taking the stranger for another user of them.
 */
export function liveLeases(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const live: number[] = [];
  for (const name of readdirSync(dir)) {
    const pid = Number(name);
    // A lease opens with its holder's stamp (holderStamp); those of older versions hold a time alone.
    const stamped = lockHolder(lockText(join(dir, name)));
    if (Number.isInteger(pid) && pid > 0 && holderRunning(stamped?.pid === pid ? stamped : { pid })) live.push(pid);
    else rmSync(`${dir}/${name}`, { force: true });
  }
  return live;
}
