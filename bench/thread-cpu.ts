// Where a process's CPU went, by thread: utime + stime of every thread (/proc/<pid>/task/<tid>/stat, in clock
// ticks), grouped into named categories, over a window sampled every 250 ms so that a thread that ends inside the
// window (a worker stopped at the end of a mode) still counts up to its last sample. Linux only: elsewhere
// `ThreadCpuWindow.start` returns undefined and the benchmark omits the breakdown.
//
// Categories of this process (`ownCategory`):
//   main               the thread whose tid is the pid (the event loop)
//   <role>             worker threads started through startTsWorker ("normalize worker", "sink render"), which
//                      report their OS thread id (core/worker-thread.ts)
//   engine             threads not named "node": the embedded ClickHouse engine names its own (ThreadPool,
//                      QueryPipelineEx, ChunkParser, Segmentator, …)
//   engine merges      the engine's background merges (its MergeMutate threads): work an insert leaves behind, which
//                      many small parts make much more of than few large ones (the sink against C1)
//   gc/libuv helpers   the other "node" threads: V8's platform workers (parallel and concurrent GC, compilation) and
//                      libuv's thread pool, which also runs the engine's insert calls chdb hands over (and, under
//                      tsx, its module loader's thread, idle once the modules are loaded). One category: Node 20 names
//                      them all "node", and their creation order does not tell them apart reliably (the platform's
//                      threads come first, but libuv's pool and the loader's thread start while the modules load, in
//                      an order that depends on the entry and on --v8-pool-size / UV_THREADPOOL_SIZE).
// A child process (`commCategory`) is seen from outside, where its workers' ids are unknown: main, other node
// threads (workers and helpers), engine, engine merges.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { workerThreadTids } from '../core/worker-thread.ts';
import { procStatFields } from '../core/process-identity.ts';

export interface ThreadSample {
  tid: number;
  comm: string;
  /** Clock ticks since boot when the thread started: a tid reused by a new thread is a new thread. */
  startTicks: number;
  /** utime + stime so far, in clock ticks. */
  cpuTicks: number;
  category: string;
}

export interface ThreadSnapshot {
  pid: number;
  ticksPerSecond: number;
  /** By `${tid}@${startTicks}`. */
  threads: Map<string, ThreadSample>;
}

/** Names a thread of process `pid`. */
export type Categorize = (pid: number, tid: number, comm: string) => string;

export const MAIN = 'main';
export const ENGINE = 'engine';
export const ENGINE_MERGES = 'engine merges';
export const HELPERS = 'gc/libuv helpers';
export const OTHER_NODE = 'other node threads';
/** The order categories are listed in; others (worker roles) go between main and engine, by name. */
const ORDER = [MAIN, 'normalize worker', 'sink render', ENGINE, ENGINE_MERGES, HELPERS, OTHER_NODE];

/** The engine's own threads: its background merges apart from the rest. */
const engineCategory = (comm: string) => (comm.startsWith('MergeMutate') ? ENGINE_MERGES : ENGINE);

/** This process's threads, its workers named by their role (read once per snapshot). */
export function ownCategorizer(): Categorize {
  const workers = workerThreadTids();
  return (pid, tid, comm) => (tid === pid ? MAIN : (workers.get(tid) ?? (comm === 'node' ? HELPERS : engineCategory(comm))));
}

/** Another process's threads, by comm only. */
export const commCategory: Categorize = (pid, tid, comm) =>
  tid === pid ? MAIN : comm === 'node' ? OTHER_NODE : engineCategory(comm);

let ticks: number | undefined;
/** Clock ticks per second (`getconf CLK_TCK`; 100, the Linux value, when it cannot be read). */
export function ticksPerSecond(): number {
  if (ticks === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticks = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** The whole machine's CPU so far (the first line of /proc/stat), in clock ticks. */
export interface MachineTicks {
  /** Every state but idle and iowait, steal included. */
  busy: number;
  /** Time the hypervisor gave this VM's CPUs to someone else. */
  steal: number;
}

/** Parses the aggregate `cpu` line of /proc/stat (user nice system idle iowait irq softirq steal …). */
export function parseMachineStat(text: string): MachineTicks | undefined {
  const line = text.split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/);
  if (f[0] !== 'cpu' || f.length < 9) return undefined;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f.slice(1, 9).map(Number) as number[];
  if (![user, nice, system, idle, iowait, irq, softirq, steal].every(Number.isFinite)) return undefined;
  return { busy: user! + nice! + system! + irq! + softirq! + steal!, steal: steal! };
}

/**
 * What the rest of the machine did while a mode ran: cores used by other processes (the broker, the registry, other
 * tenants' work on a shared machine) and stolen by the hypervisor, averaged over the window. A baseline that ran
 * while something else held a core is slower for it; this says so beside every figure. Undefined off Linux.
 */
export class MachineCpuWindow {
  private constructor(
    private readonly first: MachineTicks,
    private readonly ownAtStart: NodeJS.CpuUsage,
    private readonly startedAt: number,
  ) {}

  static start(): MachineCpuWindow | undefined {
    const first = readMachineTicks();
    return first ? new MachineCpuWindow(first, process.cpuUsage(), performance.now()) : undefined;
  }

  stop(): { other_processes_cores: number; steal_cores: number } | undefined {
    const last = readMachineTicks();
    const seconds = (performance.now() - this.startedAt) / 1000;
    if (!last || !(seconds > 0)) return undefined;
    const own = process.cpuUsage(this.ownAtStart);
    const busy = (last.busy - this.first.busy) / ticksPerSecond();
    const others = busy - (own.user + own.system) / 1e6;
    return {
      // Ticks are 10 ms: a short window's estimate can dip below 0 by a tick or two.
      other_processes_cores: +Math.max(0, others / seconds).toFixed(2),
      steal_cores: +((last.steal - this.first.steal) / ticksPerSecond() / seconds).toFixed(2),
    };
  }
}

function readMachineTicks(): MachineTicks | undefined {
  try {
    return parseMachineStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Parses /proc/<pid>/task/<tid>/stat; undefined when it does not have the fields this needs. */
export function parseStat(tid: number, stat: string, pid: number, categorize: Categorize): ThreadSample | undefined {
  // comm may hold spaces and parentheses: the fields follow the last ")". After it, field 3 (state) is index 0, so
  // utime (14) is 11, stime (15) is 12, starttime (22) is 19.
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const comm = stat.slice(open + 1, close);
  const f = procStatFields(stat);
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  const startTicks = Number(f[19]);
  if (![utime, stime, startTicks].every(Number.isFinite)) return undefined;
  return { tid, comm, startTicks, cpuTicks: utime + stime, category: categorize(pid, tid, comm) };
}

/** Every thread of `pid` now; undefined where /proc does not exist (not Linux) or the process is gone. */
export function snapshotThreads(
  pid = process.pid,
  categorize: Categorize = ownCategorizer(),
): ThreadSnapshot | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const threads = new Map<string, ThreadSample>();
  for (const t of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    } catch {
      continue; // ended since the listing
    }
    const s = parseStat(Number(t), stat, pid, categorize);
    if (s) threads.set(`${s.tid}@${s.startTicks}`, s);
  }
  return { pid, ticksPerSecond: ticksPerSecond(), threads };
}

/**
 * CPU microseconds by category from `a` to `b`. A thread in `b` but not in `a` started in between and counts from 0;
 * its category is the one it has in `b` (a worker's id may be reported only after its first sample).
 */
export function cpuByCategory(a: ThreadSnapshot, b: ThreadSnapshot): Record<string, number> {
  const us = new Map<string, number>();
  for (const [key, t] of b.threads) {
    const before = a.threads.get(key)?.cpuTicks ?? 0;
    us.set(t.category, (us.get(t.category) ?? 0) + (Math.max(0, t.cpuTicks - before) * 1e6) / b.ticksPerSecond);
  }
  return Object.fromEntries(sortCategories([...us.keys()]).map((c) => [c, us.get(c)!]));
}

/** Categories in the order tables list them: main, workers by name, engine, helpers. */
export function sortCategories(categories: Iterable<string>): string[] {
  const rank = (c: string) => {
    const i = ORDER.indexOf(c);
    return i >= 0 ? i : 0.5; // worker roles not in ORDER: right after main
  };
  return [...new Set(categories)].sort((x, y) => rank(x) - rank(y) || x.localeCompare(y));
}

/** Merges `next` into `latest`: threads still running are updated, threads that ended keep their last sample. */
export function mergeSnapshot(latest: ThreadSnapshot, next: ThreadSnapshot): void {
  for (const [key, t] of next.threads) latest.threads.set(key, t);
}

const SAMPLE_MS = 250;

/** CPU by thread category of process `pid` from `start()` to `stop()`, sampled every 250 ms in between. */
export class ThreadCpuWindow {
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly pid: number,
    private readonly categorize: () => Categorize,
    private readonly first: ThreadSnapshot,
    private readonly latest: ThreadSnapshot,
  ) {
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  /** Undefined where threads cannot be read (not Linux, or the process is gone). */
  static start(
    pid = process.pid,
    categorize: () => Categorize = pid === process.pid ? ownCategorizer : () => commCategory,
  ): ThreadCpuWindow | undefined {
    const first = snapshotThreads(pid, categorize());
    if (!first) return undefined;
    return new ThreadCpuWindow(pid, categorize, first, { ...first, threads: new Map(first.threads) });
  }

  private sample(): void {
    const s = snapshotThreads(this.pid, this.categorize());
    if (s) mergeSnapshot(this.latest, s);
  }

  /** CPU microseconds by category over the window. */
  stop(): Record<string, number> {
    clearInterval(this.timer);
    this.sample();
    return cpuByCategory(this.first, this.latest);
  }
}

/** µs by category -> µs per record, one decimal. */
export function perRecord(us: Record<string, number>, records: number): Record<string, number> {
  return Object.fromEntries(Object.entries(us).map(([c, v]) => [c, +(v / records).toFixed(1)]));
}

/** "main 15 · engine 50 · …" for a console line. */
export function compact(byCategory: Record<string, number>): string {
  return Object.entries(byCategory)
    .map(([c, v]) => `${c} ${v}`)
    .join(' · ');
}
