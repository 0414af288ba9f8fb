// The normalize stage with `normalize.workers` members of its consumer group, each in a worker thread of its own
// (node:worker_threads): the main thread stays free for the receiver, the pollers, the sink's Kafka side and the ops
// port, and more workers can use more cores. Every member has its own Kafka and registry clients and its own
// transactional id (`<groupId>.<instanceId>` for the first, `<groupId>.<instanceId>-w<i>` for the others), so Kafka's
// group protocol shares the raw partitions between them and each partition's output commits exactly once, whoever
// owns it. The members act as one stage: their commit counts come here, and when one stops on an error the others are
// stopped too and the stage's `done` rejects with that error (the supervisor then restarts the whole set).
import { hostname } from 'node:os';
import { CdrflowError, deserializeError, type SerializedError } from '../core/errors.ts';
import type { CommittedCounts, StreamHandle } from '../core/kafka-streams.ts';
import { startTsWorker } from '../core/worker-thread.ts';
import { loggingSettings, type Log, type LogLevel, type LogTarget } from '../core/log.ts';
import type { AppConfig } from './config.ts';

/** What the main thread hands a worker thread. */
export interface NormalizeWorkerData {
  config: AppConfig;
  instanceId: string;
  /** Only the first member creates the topics (when the config says so), so the members do not race to create them. */
  createTopics: boolean;
  log: { level: LogLevel; to: LogTarget };
}

/** Worker thread -> main thread. */
export type WorkerMessage =
  | { type: 'started'; transactionalId: string }
  | { type: 'committed'; counts: CommittedCounts }
  | { type: 'failed'; error: SerializedError }
  /** Its service ended by itself without an error (a bug: a stage runs until stopped). */
  | { type: 'ended' }
  | { type: 'stopped' };

/** Main thread -> worker thread. */
export type MainMessage = { type: 'stop' };

/** How long a stopping worker may take to finish its transaction and leave the group before it is terminated. */
const STOP_TIMEOUT_MS = 60_000;

export interface NormalizeStageDeps {
  log: Log;
  onCommitted?: (counts: CommittedCounts) => void;
}

/** The base instance id: the configured one, else the host name. Member `i` (from 1) is `<base>-w<i>`. */
export const normalizeInstanceId = (config: AppConfig) => config.normalize.instanceId || hostname();

/** Starts the normalize stage's members, each in its own worker thread; settles when all run. */
export async function startNormalizeStage(config: AppConfig, deps: NormalizeStageDeps): Promise<StreamHandle> {
  const base = normalizeInstanceId(config);
  const members: StreamHandle[] = [];
  // The first member creates the topics; the others start once it runs.
  members.push(await startWorkerThread(config, base, true, deps));
  try {
    const threads = await Promise.allSettled(Array.from({ length: config.normalize.workers - 1 }, (_, i) => startWorkerThread(config, `${base}-w${i + 1}`, false, deps)));
    for (const t of threads) if (t.status === 'fulfilled') members.push(t.value);
    const failed = threads.find((t) => t.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await Promise.allSettled(members.map((m) => m.stop()));
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

/** One member in a worker thread; resolves once its service runs (rejects with its start-up error). */
function startWorkerThread(config: AppConfig, instanceId: string, first: boolean, deps: NormalizeStageDeps): Promise<StreamHandle> {
  const data: NormalizeWorkerData = { config, instanceId, createTopics: first, log: loggingSettings() };
  const worker = startTsWorker(new URL('./normalize-worker.ts', import.meta.url), data, `normalize ${instanceId}`, {
    role: 'normalize worker',
    nice: config.workerThreads.nice,
  });
  let endDone!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (endDone = { resolve, reject }));
  done.catch(() => undefined);
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  let started = false;
  let stopRequested = false;
  return new Promise<StreamHandle>((resolveStart, rejectStart) => {
    const fail = (err: CdrflowError) => (started ? endDone.reject(err) : rejectStart(err));
    worker.on('message', (m: WorkerMessage) => {
      switch (m.type) {
        case 'started':
          started = true;
          deps.log('info', 'normalize.worker_started', { instanceId, transactionalId: m.transactionalId, threadId: worker.threadId });
          resolveStart({ done, stop });
          break;
        case 'committed':
          deps.onCommitted?.(m.counts);
          break;
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
      if (stopRequested) return endDone.resolve();
      fail(new CdrflowError('bug', `normalize worker ${instanceId} exited by itself (code ${code})`));
    });
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
  });
}
