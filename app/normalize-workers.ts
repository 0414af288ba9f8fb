// The normalize stage with `normalize.workers` members of its consumer group, each in a worker thread of its own
// (node:worker_threads): the main thread stays free for the receiver, the pollers, the sink's Kafka side and the ops
// port, and more workers can use more cores. Every member has its own Kafka and registry clients and its own
// transactional id (`<groupId>.<instanceId>` for the first, `<groupId>.<instanceId>-w<i>` for the others), so Kafka's
// group protocol shares the raw partitions between them and each partition's output commits exactly once, whoever
// owns it. The members act as one stage: their commit counts come here, and when one stops on an error the others are
// stopped too and the stage's `done` rejects with that error (the supervisor then restarts the whole set).
import { hostname } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import { z } from 'zod';
import { CdrflowError, deserializeError, type SerializedError } from '../core/errors.ts';
import type { CommittedCounts, StreamHandle } from '../core/kafka-streams.ts';
import { answerWithin, startTsWorker } from '../core/worker-thread.ts';
import { loggingSettings, type Log, type LogSettings } from '../core/log.ts';
import type { AppConfig } from './config.ts';

/** What the main thread hands a worker thread. */
export interface NormalizeWorkerData {
  config: AppConfig;
  instanceId: string;
  /** Only the first member creates the topics (when the config says so), so the members do not race to create them. */
  createTopics: boolean;
  log: LogSettings;
}

/** Worker thread -> main thread. */
export type WorkerMessage =
  /** Its topics and schemas exist (the first member creates and registers them): the other members may start. */
  | { type: 'prepared' }
  | { type: 'started'; transactionalId: string }
  | { type: 'committed'; counts: CommittedCounts }
  | { type: 'failed'; error: SerializedError }
  /** Its service ended by itself without an error (a bug: a stage runs until stopped). */
  | { type: 'ended' }
  | { type: 'stopped' }
  /** The answer to a `ping`, from the thread's event loop. */
  | { type: 'pong' };

/**
 * Main thread -> worker thread: `start` once (its service starts: it joins the group), `stop` at any time, `ping` from
 * the liveness check once it runs.
 */
export type MainMessage = { type: 'start' } | { type: 'stop' } | { type: 'ping' };

/** The worker's side of the liveness check: every `ping` is answered as soon as its event loop is free. */
export function answerPings(port: MessagePort): void {
  port.on('message', (m: MainMessage) => {
    if (m.type === 'ping') port.postMessage({ type: 'pong' } satisfies WorkerMessage);
  });
}

/** A count one commit can hold: a whole number, at most what a double counts exactly. */
const countField = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/**
 * A worker's commit counts as the main thread accepts them: whole, non-negative, and the parts within their whole. They
 * go on to the stage's counters (status) and to Prometheus counters, where a negative part (records out = records -
 * dead letters - …) threw inside the worker's message handler and ended the process, and a NaN stayed in the counter
 * for the life of the job.
 */
const committedCountsSchema = z
  .object({ records: countField, deadLettered: countField, recordFailures: countField.exactOptional(), contractViolations: countField.exactOptional(), skipped: countField.exactOptional(), alreadyStored: countField.exactOptional() })
  .strict()
  .refine((c) => c.deadLettered + (c.skipped ?? 0) + (c.alreadyStored ?? 0) <= c.records && (c.contractViolations ?? 0) <= (c.recordFailures ?? 0) && (c.recordFailures ?? 0) <= c.deadLettered);

/** The counts of a worker's `committed` report, or undefined when they are not counts (a bug in the worker: logged, not counted). */
export const reportedCounts = (counts: unknown): CommittedCounts | undefined => {
  const parsed = committedCountsSchema.safeParse(counts);
  return parsed.success ? parsed.data : undefined;
};

/** How long a stopping worker may take to finish its transaction and leave the group before it is terminated. */
const STOP_TIMEOUT_MS = 60_000;

/**
 * How often the main thread pings each member, and how long it waits for the answer, from the moment its thread is
 * online. A member's event loop is busy at most for one batch's mapping (well under a second) or a GC pause; its Kafka
 * and registry calls wait without holding it. A member stuck in a loop stops heartbeating, Kafka hands its partitions
 * to another member, which may hang on the same record, until every member hangs with no error anywhere; 30 s is far
 * past any healthy busy spell and still bounds that silence. The first ping waits out the thread's module loading,
 * which holds its loop (under the TypeScript loader: 0.7-1.4 s for one member alone on a 2-core machine, 5-5.7 s for
 * four loading at once at nice 10; less from dist/), so 30 s covers that too, before its waits for a CPU are taken off.
 */
export const LIVENESS = { everyMs: 5_000, deadlineMs: 30_000 };

export interface NormalizeStageDeps {
  log: Log;
  onCommitted?: (counts: CommittedCounts) => void;
  /** For tests: the members' thread entry (default normalize-worker.ts) and their liveness check (default LIVENESS). */
  entry?: URL;
  liveness?: { everyMs: number; deadlineMs: number };
}

/** The base instance id: the configured one, else the host name. Member `i` (from 1) is `<base>-w<i>`. */
export const normalizeInstanceId = (config: AppConfig) => config.normalize.instanceId || hostname();

/**
 * Starts the normalize stage's members, each in its own worker thread; settles when all run. Every thread loads its
 * modules at once (about a second each under the TypeScript loader); the first member starts (it creates the topics
 * and registers the schemas) and the others as soon as those exist, so they join soon after it (1.7 s in the
 * benchmark's job, against 3.0 s when each thread only began to load once the one before had joined and run).
 */
export async function startNormalizeStage(config: AppConfig, deps: NormalizeStageDeps): Promise<StreamHandle> {
  const base = normalizeInstanceId(config);
  const threads = Array.from({ length: config.normalize.workers }, (_, i) => spawnMember(config, i === 0 ? base : `${base}-w${i}`, i === 0, deps));
  const members: StreamHandle[] = [];
  try {
    const first = threads[0]!.start();
    await Promise.race([threads[0]!.prepared, first]);
    const rest = await Promise.allSettled(threads.slice(1).map((t) => t.start()));
    members.push(await first);
    for (const t of rest) if (t.status === 'fulfilled') members.push(t.value);
    const failed = rest.find((t) => t.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    // Members that run, and threads that loaded but were never told to start, alike.
    await Promise.allSettled(threads.map((t) => t.stop()));
    throw err;
  }
  return asOneStage(members);
}

/** The members as one stream handle: the first to end stops the others; `stop` stops them all. */
function asOneStage(members: StreamHandle[]): StreamHandle {
  let stopping: Promise<void> | undefined;
  const stopAll = () => (stopping ??= Promise.allSettled(members.map((m) => m.stop())).then(() => undefined));
  const done = Promise.race(members.map((m) => m.done)).then(
    async () => {
      await stopAll();
    },
    async (err: unknown) => {
      await stopAll();
      throw err;
    },
  );
  done.catch(() => undefined);
  return { done, stop: stopAll };
}

/**
 * One member's thread, loading its modules from now on; `start` lets its service start (join the group) and resolves
 * once it runs (rejects with its start-up error, or the thread's end). `stop` ends it, started or not.
 */
function spawnMember(config: AppConfig, instanceId: string, first: boolean, deps: NormalizeStageDeps): { start(): Promise<StreamHandle>; prepared: Promise<void>; stop(): Promise<void> } {
  const data: NormalizeWorkerData = { config, instanceId, createTopics: first, log: loggingSettings() };
  const worker = startTsWorker(deps.entry ?? new URL('./normalize-worker.ts', import.meta.url), data, `normalize ${instanceId}`, {
    role: 'normalize worker',
    nice: config.workerThreads.nice,
  });
  let endDone!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (endDone = { resolve, reject }));
  done.catch(() => undefined);
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  let started = false;
  let stopRequested = false;
  let markPrepared!: () => void;
  const prepared = new Promise<void>((resolve) => (markPrepared = resolve));
  const stop = async () => {
    if (!stopRequested) {
      stopRequested = true;
      worker.postMessage({ type: 'stop' } satisfies MainMessage);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), STOP_TIMEOUT_MS)));
    const result = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      deps.log('warn', 'normalize.worker_stop_timeout', { instanceId, timeoutMs: STOP_TIMEOUT_MS });
      await worker.terminate();
    }
  };
  // Settles from the thread's first report on, whether or not start() was called yet (a thread that fails while
  // loading); marked handled here, start() hands it out.
  const running = new Promise<StreamHandle>((resolveStart, rejectStart) => {
    const fail = (err: CdrflowError) => (started ? endDone.reject(err) : rejectStart(err));
    // The liveness check, from the thread's 'online' on: one ping at a time, the next `everyMs` after its answer. A
    // member that does not answer within `deadlineMs` is terminated, said once, and fails as a thread that exits by
    // itself does (a bug: the stage and the job stop; restarted, the members would meet the same record and hang
    // again). Checked from 'online' rather than from `started`, a member that hangs while it loads, prepares or joins
    // its group fails the start instead of holding it for ever without a word. After a stop request no new ping is
    // sent (stop() has its own limit).
    const liveness = deps.liveness ?? LIVENESS;
    let lastCommit: { at: string; counts: CommittedCounts } | undefined;
    let nextPing: NodeJS.Timeout | undefined;
    let ponged: (() => void) | undefined;
    let gone = false;
    const ping = () => {
      if (stopRequested || gone) return;
      const pong = new Promise<void>((resolve) => (ponged = resolve));
      worker.postMessage({ type: 'ping' } satisfies MainMessage);
      const doing = started ? 'answering a liveness ping' : 'answering a liveness ping before it started';
      answerWithin(pong, worker, liveness.deadlineMs, { thread: `normalize ${instanceId}`, doing }, (err) => {
        deps.log('error', 'normalize.worker_unresponsive', { instanceId, waitedMs: err.waitedMs, lastCommitAt: lastCommit?.at ?? 'none', lastCommitted: lastCommit?.counts ?? 'none' });
        if (!stopRequested) fail(new CdrflowError('bug', `normalize worker ${instanceId}: ${err.message}`, { cause: err }));
      }).then(
        () => (nextPing = setTimeout(ping, liveness.everyMs).unref()),
        () => undefined,
      );
    };
    worker.once('online', ping);
    // A thread that ended answers no ping: its exit takes its own path (below), not this one's line 30 s later.
    void exited.then(() => {
      gone = true;
      clearTimeout(nextPing);
      ponged?.();
    });
    worker.on('message', (m: WorkerMessage) => {
      switch (m.type) {
        case 'prepared':
          markPrepared();
          break;
        case 'started':
          started = true;
          deps.log('info', 'normalize.worker_started', { instanceId, transactionalId: m.transactionalId, threadId: worker.threadId });
          resolveStart({ done, stop });
          break;
        case 'pong':
          ponged?.();
          break;
        case 'committed': {
          const counts = reportedCounts(m.counts);
          if (counts) {
            lastCommit = { at: new Date().toISOString(), counts };
            deps.onCommitted?.(counts);
          } else deps.log('error', 'normalize.worker_counts_invalid', { instanceId, counts: String(JSON.stringify(m.counts)).slice(0, 300) });
          break;
        }
        case 'failed':
          fail(deserializeError(m.error));
          break;
        case 'ended':
          endDone.resolve();
          break;
        case 'stopped':
          break;
      }
    });
    // An exception nobody caught inside the thread: a bug in this code, not a Kafka condition.
    worker.on('error', (err) => fail(new CdrflowError('bug', `normalize worker ${instanceId} crashed: ${err.message}`, { cause: err })));
    void exited.then((code) => {
      if (stopRequested) {
        endDone.resolve();
        if (!started) rejectStart(new CdrflowError('bug', `normalize worker ${instanceId} was stopped before it started`));
        return;
      }
      fail(new CdrflowError('bug', `normalize worker ${instanceId} exited by itself (code ${code})`));
    });
  });
  running.catch(() => undefined);
  return {
    start() {
      if (!stopRequested) worker.postMessage({ type: 'start' } satisfies MainMessage);
      return running;
    },
    prepared,
    stop,
  };
}
