// The one recovery loop for the stream stages (normalize and the sink; in `cdrflow start` and `cdrflow run` alike): a
// stage that stops on a transient error (broker unreachable, coordinator moved, unknown member, a client left in a
// broken state by a dropped connection) is started again from scratch — new clients, rejoin, resume from committed
// offsets, so nothing is lost or doubled — after a capped, jittered backoff, for as long as the outage lasts.
// Meanwhile its state is `waiting: <why>` (so /readyz says not ready, and the status line and /metrics say why).
// Only config, auth, schema errors and bugs stop the job. (The pollers retry their cycles themselves and resume from
// their checkpoints, connectors/poller/live.ts; the receiver answers the vendors' retryable 503 meanwhile.)
import { setTimeout as delay } from 'node:timers/promises';
import { backoffDelay, type BackoffOptions } from '../core/backoff.ts';
import { CdrflowError, asCdrflowError, disposition } from '../core/errors.ts';
import type { LogFn } from '../core/log.ts';
import type { StreamHandle } from '../core/kafka-streams.ts';

/** Thrown by startPipeline (runner.ts), superviseStage and the job's start-up when a stop was asked for before start-up finished. */
export class StartCancelled extends Error {
  override readonly name = 'StartCancelled';
}

/** A running stage: `done` settles when it stops (rejects with the error that stopped it). */
export type StageHandle = StreamHandle;

/** A component's life, for /readyz and the status. */
export type ComponentState = 'starting' | 'running' | 'stopping' | 'stopped' | `waiting: ${string}` | `failed: ${string}`;

export interface SuperviseDeps {
  setState: (name: string, state: ComponentState) => void;
  /** The stage stopped for good (a non-transient error, or it ended by itself). */
  fail: (name: string, err: unknown) => void;
  log: LogFn;
  /** Each restart, for metrics. */
  onRestart?: (name: string, err: CdrflowError) => void;
  backoff?: Partial<BackoffOptions>;
  /** A stage that ran this long since its last start begins its backoff from the start again. */
  healthyAfterMs?: number;
  /** The first start gives up (throws) after this long of transient failures: the user should hear about it. */
  firstStartTimeoutMs?: number;
  /**
   * A stop requested while the first start is still being retried (Kafka down): no further attempt, and
   * superviseStage rejects with StartCancelled (`cdrflow run sink` waited out its 45 s deadline instead).
   */
  cancelStart?: AbortSignal | undefined;
}

// A short cap: during an outage a restart attempt is one refused connection, cheap; after it the stage is back soon.
export const SUPERVISE_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 5_000, factor: 2, maxAttempts: Infinity };

/** Starts the stage (retrying transient start errors) and keeps it running until `stop()`. */
export async function superviseStage(name: string, launch: () => Promise<StageHandle>, deps: SuperviseDeps): Promise<{ stop(): Promise<void> }> {
  const backoff = { ...SUPERVISE_BACKOFF, ...deps.backoff };
  const healthyAfterMs = deps.healthyAfterMs ?? 60_000;
  const stopper = new AbortController();
  let current: StageHandle | undefined;
  let attempt = 0;
  // Durations (the first start's timeout, how long a stage ran) on the monotonic clock: a wall clock stepped forward
  // must not end the start's retries at once, nor one stepped back stretch them.
  let startedAt = performance.now();

  const transientOf = (err: unknown): CdrflowError | undefined => {
    const e = asCdrflowError(err);
    return disposition(e) === 'retry' ? e : undefined;
  };
  const wait = async (err: CdrflowError) => {
    const delayMs = backoffDelay(attempt, backoff);
    attempt++;
    deps.setState(name, `waiting: ${err.code ?? err.kind} (${err.message.slice(0, 160)})`);
    deps.onRestart?.(name, err);
    deps.log('warn', `${name}.restarting`, { kind: err.kind, code: err.code, error: err.message, attempt, delayMs });
    await delay(delayMs, undefined, { signal: stopper.signal }).catch(() => undefined);
  };

  /** Launches until it works or the error is not transient (then throws). */
  const launchUntilUp = async (deadline: number): Promise<StageHandle | undefined> => {
    for (;;) {
      if (stopper.signal.aborted) return undefined;
      try {
        const handle = await launch();
        startedAt = performance.now();
        return handle;
      } catch (err) {
        const transient = transientOf(err);
        if (!transient || performance.now() >= deadline) throw err;
        // A stop came while this attempt was starting: no wait (its state is the stop's now), no further attempt.
        if (stopper.signal.aborted) return undefined;
        await wait(transient);
      }
    }
  };

  /** The restart under way, if any: a stop waits for it, so that nothing it starts outlives the stop. */
  let restarting: Promise<void> | undefined;
  const restart = async (err: unknown) => {
    if (stopper.signal.aborted) return;
    const transient = transientOf(err);
    if (!transient) return deps.fail(name, err);
    if (performance.now() - startedAt >= healthyAfterMs) attempt = 0;
    await wait(transient);
    try {
      const next = await launchUntilUp(Infinity);
      if (!next) return;
      if (stopper.signal.aborted) return await next.stop();
      current = next;
      deps.setState(name, 'running');
      deps.log('info', `${name}.recovered`, { attempts: attempt });
      watch(next);
    } catch (startErr) {
      // A start that failed after the stop was asked for is not the job's failure: the stage was to stop anyway.
      if (!stopper.signal.aborted) deps.fail(name, startErr);
    }
  };
  const watch = (handle: StageHandle) => {
    handle.done.then(
      () => {
        if (!stopper.signal.aborted) deps.fail(name, new CdrflowError('bug', `the ${name} stage ended by itself`));
      },
      (err: unknown) => void (restarting = restart(err)),
    );
  };

  deps.setState(name, 'starting');
  const cancel = () => stopper.abort();
  deps.cancelStart?.addEventListener('abort', cancel, { once: true });
  let first: StageHandle | undefined;
  try {
    first = await launchUntilUp(performance.now() + (deps.firstStartTimeoutMs ?? 60_000));
  } finally {
    deps.cancelStart?.removeEventListener('abort', cancel);
  }
  if (!first) throw new StartCancelled(`stopped during start-up, before ${name} started`);
  // A stop that came while the last attempt was starting: that start succeeded; stop it at once.
  if (stopper.signal.aborted) {
    await first.stop();
    throw new StartCancelled(`stopped during start-up, as ${name} started`);
  }
  current = first;
  deps.setState(name, 'running');
  watch(first);
  return {
    async stop() {
      stopper.abort();
      deps.setState(name, 'stopping');
      // A restart under way ends first (its backoff at once, its start by stopping what it started), then the stage.
      await restarting;
      await current?.stop();
      deps.setState(name, 'stopped');
    },
  };
}
