// Worker threads that run project TypeScript. Each starts from bin/ts-worker.mjs, which registers the TypeScript
// loader inside the thread (Node 20 does not carry the main thread's loader into workers) and then imports `entry`;
// the thread finds its own data in `workerData` beside `entry`. In the compiled copy (dist/, what `cdrflow` runs)
// the thread imports the compiled counterpart of `entry` instead and registers no loader.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { MessageChannel, Worker, type ResourceLimits } from 'node:worker_threads';
import { procStatFields } from './process-identity.ts';

const TS_WORKER = fileURLToPath(new URL('../bin/ts-worker.mjs', import.meta.url));

/** Defined (true) only in the compiled copy, by bin/build-dist.mjs. */
declare const __CDRFLOW_DIST__: boolean | undefined;

/**
 * True when this module runs from dist/. Its workers then load their compiled entries: through tsx, every module of
 * a worker went through the module-loading hooks and was compiled again, ~7% of a normalize worker's CPU in a backlog
 * run of the job, all of it at start-up. A process from dist/ starting the sink's render thread and a normalize
 * worker (a scratch measurement, four interleaved pairs): render thread ready after 236-311 ms against 630-747,
 * 0.82-0.94 s of CPU in its first 2 s against 1.88-2.20, peak RSS 112 MiB against 170-175.
 */
const COMPILED = typeof __CDRFLOW_DIST__ !== 'undefined';

/** The repository root (import.meta.url names the source file in dist/ too, bin/build-dist.mjs). */
const ROOT = new URL('../', import.meta.url);

/** The compiled file of a source `entry` (dist/<same path>.js); entries outside the repository stay as they are. */
export function compiledEntry(entry: URL): URL {
  if (!entry.href.startsWith(ROOT.href) || !entry.pathname.endsWith('.ts')) return entry;
  return new URL(`dist/${entry.href.slice(ROOT.href.length).replace(/\.ts$/, '.js')}`, ROOT);
}

/** Per running worker (by Worker.threadId): the role given to startTsWorker, and its OS thread id once reported. */
const running = new Map<number, { role: string; tid?: number }>();

export interface TsWorkerOptions {
  /** What the thread does, alike for every instance ("normalize worker"), for the CPU breakdown by thread; default: the name. */
  role?: string;
  /**
   * Nice value the thread sets for itself before it loads `entry` (0-19; 0 = unchanged). Linux only: there a
   * thread's nice is its own, so the rest of the process keeps its priority. Elsewhere setpriority would lower the
   * whole process, so it is left alone.
   */
  nice?: number;
  /**
   * Worker's own bounds on the thread's heap; past them the thread ends (its 'error' is ERR_WORKER_OUT_OF_MEMORY)
   * and the process goes on. Default: none, so the thread may grow its heap as far as the main thread may (4 GiB here).
   */
  resourceLimits?: ResourceLimits;
}

/**
 * The old-generation size, in MB, a worker thread's V8 heap starts with before it first collects the old generation
 * in full. V8's own start for a new isolate is a limit it lowers after the first full collection to what survived; a
 * normalize worker holds ~25 MB once its modules are loaded, so when a job goes from idle to a burst (a push rate
 * stepping up, a backfill starting) each worker did about two mark-compacts a second, 95-133 ms of pause a second,
 * for ~3 s while V8 raised its limit step by step; those pauses were part of a fresh job's slow first seconds
 * (push -> countable p99 in the first 10 s at 2,000 CDR/s lower with 96 MB in five of six interleaved pairs,
 * docs/performance.md, sixth stop of 2026-12-03). A start value is a threshold, not a reservation: the job's peak RSS
 * and its backlog throughput did not move. The heap's maximum is unchanged.
 */
export const WORKER_INITIAL_OLD_SPACE_MB = 96;

/**
 * V8 flags are process-wide and read when an isolate is created, so setting the start size once before the first
 * worker reaches every worker after it (Worker's resourceLimits name only maximums, execArgv takes no V8 flags); the
 * main thread's heap, created already, keeps V8's default. Someone who starts node with their own
 * --initial-old-space-size keeps theirs.
 */
let workerHeapConfigured = false;
function configureWorkerHeap(): void {
  if (workerHeapConfigured) return;
  workerHeapConfigured = true;
  if (process.execArgv.some((arg) => /^--initial[-_]old[-_]space[-_]size\b/.test(arg))) return;
  setFlagsFromString(`--initial-old-space-size=${WORKER_INITIAL_OLD_SPACE_MB}`);
}

/** Starts `entry` in a worker thread named `name`. */
export function startTsWorker(entry: URL, data: object, name: string, options: TsWorkerOptions = {}): Worker {
  const role = options.role ?? name;
  const nice = options.nice ?? 0;
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`worker thread nice must be an integer 0-19, not ${nice}`);
  configureWorkerHeap();
  // Where the thread reports its OS thread id (Linux), so a CPU breakdown by thread (bench/thread-cpu.ts) can tell
  // whose thread a /proc/self/task/<tid> is: a port of its own, not the worker's, so the entries' message protocols
  // never see it (bin/ts-worker.mjs). One process-wide BroadcastChannel did this before, and on a loaded machine its
  // report went missing (a CI run waited 10 s for one that never came).
  const { port1: tidReports, port2: tidPort } = new MessageChannel();
  const common = { ...data, nice, tidPort };
  const workerData = COMPILED ? { ...common, entry: compiledEntry(entry).href, typescript: false } : { ...common, entry: entry.href, typescript: true };
  const worker = new Worker(TS_WORKER, { workerData, name, transferList: [tidPort], ...(options.resourceLimits && { resourceLimits: options.resourceLimits }) });
  const threadId = worker.threadId;
  const state: { role: string; tid?: number } = { role };
  running.set(threadId, state);
  tidReports.once('message', (report: { tid: number }) => {
    state.tid = report.tid;
    tidReports.close();
  });
  tidReports.unref(); // waiting for the report must not keep a stopping process alive
  worker.once('exit', () => {
    running.delete(threadId);
    tidReports.close();
  });
  return worker;
}

/** A thread's nice value as the kernel keeps it (`/proc/self/task/<tid>/stat`, field 19; Linux only). */
export function threadNice(tid: number): number {
  return Number(procStatFields(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8'))[16]);
}

/** OS thread id -> role of this thread's running workers that reported their id (Linux only; empty elsewhere). */
export function workerThreadTids(): Map<number, string> {
  const out = new Map<number, string>();
  for (const { role, tid } of running.values()) if (tid !== undefined) out.set(tid, role);
  return out;
}

/**
 * How many times its deadline a thread waiting for a CPU may take, in time this process ran, before it is ended all
 * the same: a thread that loops for ever on a starved machine is ended in the end (a normalize member's 30 s ping
 * within 5 minutes), and a healthy one has up to a tenth of a core.
 */
const MAX_STRETCH = 10;

/**
 * Where the scheduler has the thread of `worker` (Linux, once it reported its id; else undefined): its time on a CPU
 * and its time waiting for one, in ms (/proc/self/task/<tid>/schedstat), and whether it can run now (state R: on a
 * CPU or waiting for one). The kernel adds a wait to the sum only when it ends, as the thread gets a CPU.
 */
function schedOf(worker: Worker): { onCpuMs: number; waitedMs: number; runnable: boolean } | undefined {
  const tid = running.get(worker.threadId)?.tid;
  if (tid === undefined) return undefined;
  try {
    const [onCpu, waited] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
    const state = procStatFields(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8'))[0];
    return { onCpuMs: Number(onCpu) / 1e6, waitedMs: Number(waited) / 1e6, runnable: state === 'R' };
  } catch {
    return undefined; // ended meanwhile, or a kernel without schedstat
  }
}

/** A thread that did not answer a request within its deadline; it has been terminated. */
export class ThreadTimedOut extends Error {
  constructor(
    readonly thread: string,
    readonly waitedMs: number,
    readonly doing: string,
  ) {
    super(`the ${thread} thread did not answer within ${waitedMs} ms (${doing}) and was terminated`);
    this.name = 'ThreadTimedOut';
  }
}

/**
 * `answer`, a thread's reply to one request, or a ThreadTimedOut once `ms` passed without it. A thread that never
 * answers (a loop on a hostile input, a deadlock) otherwise held its caller for ever, with no error, no log line and
 * no metric. `late` runs first (the owner logs, forgets the thread, fails what else waited on it), then the thread
 * is terminated: its own 'exit' comes after, when the owner no longer counts it as its thread.
 *
 * Only time this process ran counts: the deadline is counted in ticks, and a tick that comes far later than due (the
 * process was stopped and continued, its VM paused, the host asleep, this thread's loop blocked) counts as one and a
 * half. Counted by the clock alone, such a pause ended healthy threads whose answers had come meanwhile: the loop runs
 * the timers that came due before it delivers a thread's message. And past the deadline the answer gets one more
 * turn of the loop, for a message already waiting.
 *
 * Nor does time the thread waited for a CPU (Linux, a thread of startTsWorker once it reported its id), up to
 * MAX_STRETCH times the deadline: a thread at the job's nice on a machine busy with other processes gets a few percent
 * of a core, and its healthy work took many times its deadline (core/worker-thread.test.ts; the largest legal Snappy
 * batch, 1.2 s quiet, took 31 s in a thread at nice 10 beside two busy processes on 2 cores), so a good batch was
 * dead-lettered. A thread that loops for ever is still ended, later on a starved machine.
 */
export function answerWithin<T>(answer: Promise<T>, worker: Worker, ms: number, what: { thread: string; doing: string }, late: (err: ThreadTimedOut) => void): Promise<T> {
  const tickMs = Math.max(10, Math.min(1_000, Math.floor(ms / 4)));
  let answered = false;
  let ticks: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    let ran = 0;
    let last = performance.now();
    // The thread's waits for a CPU since the request: those that ended, and the one it is in, since the last look at
    // which it had run or slept (it can run, and got no CPU since). A thread that has not said its id yet was started
    // just now (a fresh one is handed its first request at once): all its waits so far are its start-up's, all taken.
    const atRequest = schedOf(worker);
    const waitedBefore = atRequest?.waitedMs ?? 0;
    let seen = atRequest;
    let seenAt = last;
    let waited = 0;
    ticks = setInterval(() => {
      const now = performance.now();
      ran += Math.min(now - last, 1.5 * tickMs);
      last = now;
      const sched = schedOf(worker);
      if (sched && (!sched.runnable || sched.onCpuMs !== seen?.onCpuMs)) {
        seen = sched;
        seenAt = now;
      }
      if (sched) waited = sched.waitedMs - waitedBefore + (now - seenAt);
      if (Math.max(ran - waited, ran / MAX_STRETCH) < ms) return;
      clearInterval(ticks);
      setImmediate(() => {
        if (answered) return;
        const err = new ThreadTimedOut(what.thread, ms, what.doing);
        late(err);
        void worker.terminate();
        reject(err);
      });
    }, tickMs);
  });
  const settled = answer.finally(() => {
    answered = true;
    clearInterval(ticks);
  });
  return Promise.race([settled, deadline]);
}
