// The real job for the benchmarks: `node bin/cdrflow.mjs start --config <file>` as a child process, with its own
// namespace, its own embedded ClickHouse and ops port in a temporary directory, on the benchmark's Kafka + registry.
// The child is always stopped: by stop(), and, should the benchmark die first (an exception, or SIGINT / SIGTERM /
// SIGHUP), by a process 'exit' handler (SIGKILL by its PID). Its peak RSS is the kernel's high-water mark of the whole process (VmHWM, worker threads included).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { distIsFresh } from '../bin/dist-state.mjs';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadAppConfig, type AppConfig } from '../app/config.ts';
import { REPO_ROOT } from '../core/repo-root.ts';
import { opsQuery } from '../app/ops-client.ts';
import { MAIN, parseStat, ticksPerSecond } from './thread-cpu.ts';

const READY_TIMEOUT_MS = 180_000;
/** Preloaded into the child: notes the main thread's stalls and what they were made of. */
const STALL_PROBE = join(REPO_ROOT, 'bench/loop-stall-probe.mjs');
const STOP_TIMEOUT_MS = 60_000;
/** Environment variables that would override the benchmark's config file in the child. */
const OVERRIDING_ENV = [
  'CDRFLOW_OPS_PORT',
  'CDRFLOW_NAMESPACE',
  'CLICKHOUSE_URL',
  'CLICKHOUSE_DATABASE',
  'CLICKHOUSE_DATA_DIR',
  'CDRFLOW_HUAWEI_APPS',
  'CDRFLOW_LVMS_APPS',
  'CDRFLOW_RECEIVER_HOST',
  'CDRFLOW_RECEIVER_PORT',
  'TENCENT_CCC_SECRET_ID',
  'TENCENT_TRTC_APPS',
];

/** A free TCP port on loopback (asked of the kernel, then released for the child to take). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The job's own event-loop delay in ms (prom-client's nodejs_eventloop_lag_*) from a scrape of its /metrics: sampled
 * since the scrape before it (see JobProcess.metricsText).
 */
export function eventLoopLagMs(metricsText: string): { p50: number | undefined; p99: number | undefined; max: number | undefined } {
  const value = (name: string) => {
    const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(metricsText);
    return m ? +(Number(m[1]) * 1000).toFixed(1) : undefined;
  };
  return { p50: value('nodejs_eventloop_lag_p50_seconds'), p99: value('nodejs_eventloop_lag_p99_seconds'), max: value('nodejs_eventloop_lag_max_seconds') };
}

export interface JobProcess {
  readonly pid: number;
  readonly opsUrl: string;
  /** The child's configuration as it reads it (namespace applied). */
  readonly config: AppConfig;
  /** A read-only query through the job's ops port (POST /sql), JSONEachRow rows. */
  rows<T>(sql: string): Promise<T[]>;
  /**
   * The job's /metrics as Prometheus text. Every scrape also starts a new window of the job's event-loop delay
   * (prom-client resets it when collected; eventLoopLagMs reads one): scrape once to start a window, once to end it.
   */
  metricsText(): Promise<string>;
  /** VmHWM of the child in MiB (undefined once it exited). */
  peakRssMb(): number | undefined;
  /** User + system CPU seconds of the child so far, all threads (undefined once it exited). */
  cpuSeconds(): number | undefined;
  /** The main thread's stalls that ended from `fromEpochMs` on (bench/loop-stall-probe.mjs), summed up. */
  loopStalls(fromEpochMs: number): LoopStalls;
  stop(): Promise<void>;
}

/** One late tick of the job's main thread, as bench/loop-stall-probe.mjs writes it. */
export interface LoopStall {
  /** When the stall ended, epoch ms. */
  at: number;
  late_ms: number;
  /** Of that, the main thread on a core and runnable but waiting for one (Linux; undefined elsewhere). */
  on_core_ms?: number;
  waiting_ms?: number;
  /** The main isolate's GC pauses inside it. */
  gc_ms: number;
}

export interface LoopStalls {
  /** Ticks more than 50 and 100 ms late. */
  over_50ms: number;
  over_100ms: number;
  /** The latest tick, and how its time was spent. */
  longest: Omit<LoopStall, 'at'> | undefined;
  /**
   * The most time the main thread was on a core inside one stall: an upper bound on how long any code (a stage's
   * loop, a GC pause, a call into the engine) held the event loop. The rest of a stall was the thread waiting.
   */
  max_on_core_ms: number | undefined;
}

/** The stalls in the probe's lines that ended from `fromEpochMs` on; lines cut short (a stop mid-write) are skipped. */
export function summarizeLoopStalls(text: string, fromEpochMs: number): LoopStalls {
  const stalls: LoopStall[] = [];
  for (const line of text.split('\n')) {
    let stall: LoopStall;
    try {
      stall = JSON.parse(line) as LoopStall;
    } catch {
      continue;
    }
    if (typeof stall.at === 'number' && typeof stall.late_ms === 'number' && stall.at >= fromEpochMs) stalls.push(stall);
  }
  return summarizeStalls(stalls);
}

/** How many stalls, the longest, and the most time on a core in one. */
export function summarizeStalls(stalls: readonly LoopStall[]): LoopStalls {
  const longest = stalls.reduce<LoopStall | undefined>((a, b) => (a === undefined || b.late_ms > a.late_ms ? b : a), undefined);
  const onCore = stalls.flatMap((s) => (typeof s.on_core_ms === 'number' ? [s.on_core_ms] : []));
  return {
    over_50ms: stalls.filter((s) => s.late_ms > 50).length,
    over_100ms: stalls.filter((s) => s.late_ms > 100).length,
    longest: longest && (({ at: _at, ...rest }) => rest)(longest),
    max_on_core_ms: onCore.length > 0 ? Math.max(...onCore) : undefined,
  };
}

/** User + system CPU seconds of a process so far, all threads (undefined when it is not running). */
export function processCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The process's stat line has the same fields as a thread's, summed over its threads.
  const sample = parseStat(pid, stat, pid, () => MAIN);
  return sample ? sample.cpuTicks / ticksPerSecond() : undefined;
}

/**
 * Nanoseconds the process's main thread (its event loop) spent on a core and runnable but waiting for one
 * (/proc/<pid>/schedstat); undefined when it is not running or the kernel does not keep schedstats.
 */
export function mainThreadSchedNs(pid: number): { onCpu: number; waiting: number } | undefined {
  try {
    const [onCpu, waiting] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return onCpu === undefined || waiting === undefined || Number.isNaN(onCpu) || Number.isNaN(waiting)
      ? undefined
      : { onCpu, waiting };
  } catch {
    return undefined;
  }
}

function procStatus(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Starts the job with `doc` as its config file (ops port, data directory, log level and the local stack's ports are
 * filled in here) and resolves once its /readyz answers 200. `onSpawned` learns its PID and config as soon as it runs.
 */
export interface StartJobOptions {
  /** Called once the child is spawned, before it is ready. */
  onSpawned?: (pid: number, config: AppConfig) => void;
  /** Write a CPU profile of each of the job's threads into this folder when it exits (`node --cpu-prof`). */
  profileDir?: string | undefined;
}

export async function startJob(doc: Record<string, unknown>, label: string, { onSpawned, profileDir }: StartJobOptions = {}): Promise<JobProcess> {
  const dir = mkdtempSync(join(tmpdir(), `cdrflow-bench-${label}-`));
  const opsPort = await freePort();
  const file = join(dir, 'config.json');
  const full = {
    ...doc,
    clickhouse: { dataDir: join(dir, 'clickhouse') },
    // The benchmark brings the stack; a job that started its own would measure the wrong thing.
    localInfra: { ...(doc['localInfra'] as object | undefined), autoStart: false },
    ops: { port: opsPort, statusIntervalSec: 0 },
    shutdown: { drainTimeoutSec: 5, hardDeadlineSec: 40 },
  };
  writeFileSync(file, JSON.stringify(full, null, 2));
  // The job is measured as a user runs it, compiled. After a source edit bin/cdrflow.mjs would start it through the
  // TypeScript loader instead (a loader thread, every module compiled at load), and nothing in the figures says so.
  if (!distIsFresh(REPO_ROOT)) {
    console.error('pipeline: dist/ is older than the sources; building it so that the job runs compiled');
    execFileSync(process.execPath, [join(REPO_ROOT, 'bin/build-dist.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !OVERRIDING_ENV.includes(name)));
  const config = loadAppConfig({ file, env });
  const logPath = join(dir, 'job.log');
  const stallsPath = join(dir, 'loop-stalls.jsonl');
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    // Worker threads inherit the flags, so the normalize workers and the render thread write profiles of their own.
    const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, label)] : [];
    child = spawn(process.execPath, [...profile, '--import', STALL_PROBE, join(REPO_ROOT, 'bin/cdrflow.mjs'), 'start', '--config', file], {
      cwd: REPO_ROOT,
      env: { ...env, CDRFLOW_BENCH_LOOP_STALLS: stallsPath },
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid!;
  onSpawned?.(pid, config);
  const killOnExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  // A signal would end this process without 'exit' handlers: exit instead, so the handler above still runs.
  const onSignal = (signal: NodeJS.Signals) => process.exit(signal === 'SIGINT' ? 130 : 143);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const logTail = () => {
    try {
      return readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const opsUrl = `http://127.0.0.1:${opsPort}`;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS)));
      if ((await Promise.race([exited, late])) === 'late') {
        console.error(`bench: the job (PID ${pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing it`);
        child.kill('SIGKILL');
        await exited;
      }
      clearTimeout(timer);
    }
    process.off('exit', killOnExit);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, onSignal);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the job exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${logTail()}`);
      if (Date.now() > deadline)
        throw new Error(`the job was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${logTail()}`);
      const ready = await fetch(`${opsUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    pid,
    opsUrl,
    config,
    async rows<T>(sql: string): Promise<T[]> {
      const chunks: Buffer[] = [];
      await opsQuery(opsUrl, sql, 'JSONEachRow', new Writable({ write: (chunk: Buffer, _encoding, done) => void (chunks.push(chunk), done()) }));
      return Buffer.concat(chunks)
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as T);
    },
    metricsText: () => fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text()),
    peakRssMb() {
      const m = /^VmHWM:\s+(\d+) kB/m.exec(procStatus(pid) ?? '');
      return m ? Math.round(Number(m[1]) / 1024) : undefined;
    },
    cpuSeconds: () => processCpuSeconds(pid),
    loopStalls(fromEpochMs) {
      let text = '';
      try {
        text = readFileSync(stallsPath, 'utf8');
      } catch {
        // no stall written yet
      }
      return summarizeLoopStalls(text, fromEpochMs);
    },
    stop,
  };
}
