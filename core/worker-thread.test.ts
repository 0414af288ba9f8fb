import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { execFile, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { createRenderer } from '../sinks/clickhouse/render.ts';
import { workerTidsOf } from '../test/helpers.ts';
import { distIsFresh } from '../bin/dist-state.mjs';
import { Worker } from 'node:worker_threads';
import { ThreadTimedOut, answerWithin, compiledEntry, startTsWorker, threadNice as niceOf } from './worker-thread.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));

const IDLE_ENTRY = new URL('./fixtures/idle-worker.ts', import.meta.url);
const CPU_BURN_ENTRY = new URL('./fixtures/cpu-burn-worker.ts', import.meta.url);
const HEAP_FILLER_ENTRY = new URL('./fixtures/heap-filler-worker.ts', import.meta.url);
const START_HEAP_FILLER = new URL('./fixtures/start-heap-filler.ts', import.meta.url);
const TS_WORKER = fileURLToPath(new URL('../bin/ts-worker.mjs', import.meta.url));

interface HeapFillerReport {
  fullCollections: number;
  kept: number;
}

describe('worker thread heap', () => {
  /** Runs node with `args` in a fresh process; its one line of output is the heap filler's report. */
  async function reportFromFreshProcess(args: string[]): Promise<HeapFillerReport> {
    const { stdout } = await promisify(execFile)(process.execPath, args);
    return JSON.parse(stdout) as HeapFillerReport;
  }

  it('starts every worker with room in its old generation: filling 40 MB takes no full collection, as it does without', async () => {
    const worker = startTsWorker(HEAP_FILLER_ENTRY, {}, 'heap filler');
    const ours = await new Promise<HeapFillerReport>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    // The same entry through the same bootstrap, in a fresh process that never set the flag (flags are process-wide,
    // so the control cannot run in this one): V8's default start makes it collect in full.
    const script = [
      `import { Worker } from 'node:worker_threads';`,
      `const worker = new Worker(${JSON.stringify(TS_WORKER)}, { workerData: { entry: ${JSON.stringify(HEAP_FILLER_ENTRY.href)}, nice: 0 }, execArgv: [] });`,
      `worker.once('message', (report) => { console.log(JSON.stringify(report)); worker.terminate(); });`,
    ].join('\n');
    const control = await reportFromFreshProcess(['--input-type=module', '-e', script]);
    expect(ours.kept).toBe(250_000);
    expect(control.kept).toBe(250_000);
    expect(control.fullCollections).toBeGreaterThan(0);
    expect(ours.fullCollections).toBe(0);
  });

  it('leaves the start size to node when node was started with --initial-old-space-size', async () => {
    // 8 MB, below what the filler keeps: had startTsWorker put its own start size in place, no full collection.
    const report = await reportFromFreshProcess(['--import', 'tsx', '--initial-old-space-size=8', fileURLToPath(START_HEAP_FILLER)]);
    expect(report.kept).toBe(250_000);
    expect(report.fullCollections).toBeGreaterThan(0);
  });
});

describe('worker thread priority', () => {
  it.runIf(process.platform === 'linux')('lowers only the worker thread, to the nice value it was started with', async () => {
    const mainBefore = niceOf(process.pid);
    const niced = startTsWorker(IDLE_ENTRY, {}, 'niced', { role: 'niced idler', nice: 7 });
    const plain = startTsWorker(IDLE_ENTRY, {}, 'plain', { role: 'plain idler' });
    // The thread sets its nice before it loads its entry, so the entry's message says it is set.
    const started = Promise.all([niced, plain].map((w) => new Promise((resolve) => w.once('message', resolve))));
    try {
      const [nicedTid] = await workerTidsOf('niced idler');
      const [plainTid] = await workerTidsOf('plain idler');
      await started;
      expect(niceOf(nicedTid!)).toBe(Math.max(7, mainBefore));
      expect(niceOf(plainTid!)).toBe(mainBefore);
      expect(niceOf(process.pid)).toBe(mainBefore);
    } finally {
      await Promise.all([niced.terminate(), plain.terminate()]);
    }
  });

  it('refuses a nice value outside 0-19', () => {
    for (const nice of [-1, 20, 2.5, Number.NaN]) {
      expect(() => startTsWorker(IDLE_ENTRY, {}, 'bad', { nice })).toThrow(/0-19/);
    }
  });

  it.runIf(process.platform === 'linux')("runs the sink's render thread at the nice value it is given", async () => {
    const mainBefore = niceOf(process.pid);
    // The registry is only asked when a batch is rendered; none is here.
    const renderer = createRenderer({} as SchemaRegistry, 'TabSeparated', { thread: true, nice: 3 });
    try {
      const [tid] = await workerTidsOf('sink render');
      await vi.waitFor(() => expect(niceOf(tid!)).toBe(Math.max(3, mainBefore)));
      expect(niceOf(process.pid)).toBe(mainBefore);
    } finally {
      await renderer.close();
    }
  });
});

describe('worker threads of the compiled copy', () => {
  /** Runs the loader probe's starter with node from `script` (a path under the repository); its one line of output. */
  async function probe(args: string[]): Promise<{ compiled: boolean; typescriptLoader: boolean }> {
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: REPO });
    return JSON.parse(stdout) as { compiled: boolean; typescriptLoader: boolean };
  }

  it('maps a source entry to its compiled file in dist/, and leaves other URLs alone', () => {
    expect(compiledEntry(new URL('../app/normalize-worker.ts', import.meta.url)).href).toBe(new URL('../dist/app/normalize-worker.js', import.meta.url).href);
    expect(compiledEntry(new URL('file:///elsewhere/worker.ts')).href).toBe('file:///elsewhere/worker.ts');
    expect(compiledEntry(new URL('../bin/ts-worker.mjs', import.meta.url)).href).toBe(new URL('../bin/ts-worker.mjs', import.meta.url).href);
  });

  it('run compiled entries without the TypeScript loader when started from dist/, and the sources with it otherwise', async () => {
    // CI installs with a build (the prepare script); a tree edited since then is built here first.
    if (!distIsFresh(REPO)) await promisify(execFile)(process.execPath, ['bin/build-dist.mjs', '--quiet'], { cwd: REPO });
    expect(await probe(['dist/core/fixtures/start-loader-probe.js'])).toEqual({ compiled: true, typescriptLoader: false });
    expect(await probe(['bin/run-ts.mjs', 'core/fixtures/start-loader-probe.ts'])).toEqual({ compiled: false, typescriptLoader: true });
  }, 60_000);
});

describe('answerWithin: a deadline on a thread answer', () => {
  /** A thread that echoes every message at once. */
  const echo = () => new Worker("require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m))", { eval: true });
  const answerOf = (worker: Worker) => new Promise<unknown>((resolve) => worker.once('message', resolve));

  it('counts no time this process was not running: an answer waiting behind a main thread blocked past the deadline is taken', async () => {
    const worker = echo();
    try {
      worker.postMessage('warm');
      await answerOf(worker);
      // From the loop's check phase on: the next turn of the loop runs the timers that came due before it delivers any
      // message (as after a process stopped and continued).
      await new Promise((resolve) => setImmediate(resolve));
      const late = vi.fn();
      const answer = answerOf(worker);
      worker.postMessage('hello');
      const waited = answerWithin(answer, worker, 400, { thread: 'echo', doing: 'echoing' }, late);
      // The main thread stops for 3 deadlines (as a stopped process, a paused VM or a long collection would): the
      // thread answered long before its deadline, its answer queued behind the timers that came due meanwhile.
      const until = performance.now() + 1_200;
      while (performance.now() < until);
      await expect(waited).resolves.toBe('hello');
      expect(late).not.toHaveBeenCalled();
    } finally {
      await worker.terminate();
    }
  });

  it.runIf(process.platform === 'linux')('counts no time the thread waited for a CPU: a niced thread beside busy loops answers work well within its deadline', async () => {
    // Twice as many busy processes at nice 0 as there are cores: a thread at the job's nice (10) gets ~5% of one, and
    // its 30 ms of work took well over its 300 ms (a render or decompression thread on a busy machine alike).
    const worker = startTsWorker(CPU_BURN_ENTRY, {}, 'cpu burner', { nice: 10 });
    await answerOf(worker);
    // From here on (its start-up alone, starved, took longer than the test may): each ends by itself within 30 s.
    const loops = Array.from({ length: 2 * availableParallelism() }, () =>
      spawn(process.execPath, ['-e', 'const end = Date.now() + 30000; while (Date.now() < end);'], { stdio: 'ignore' }),
    );
    try {
      const late = vi.fn();
      const answer = answerOf(worker);
      worker.postMessage({ cpuMs: 30 });
      await expect(answerWithin(answer, worker, 300, { thread: 'cpu burner', doing: 'burning 30 ms' }, late)).resolves.toBe('done');
      expect(late).not.toHaveBeenCalled();
    } finally {
      for (const loop of loops) loop.kill();
      await worker.terminate();
    }
  });

  it('still ends a thread that does not answer, once the deadline has passed in time this process ran', async () => {
    const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
    const late = vi.fn();
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const started = performance.now();
    await expect(answerWithin(new Promise(() => {}), worker, 300, { thread: 'mute', doing: 'nothing' }, late)).rejects.toThrow(ThreadTimedOut);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(late).toHaveBeenCalledTimes(1);
    await exited;
  });
});
