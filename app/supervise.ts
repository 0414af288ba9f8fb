// Keeps a stream stage running: a stop on a transient Kafka error restarts it from its committed offsets (a broker
// that just started answers "coordinator loading" for a while; a rebalance storm; a broker restart); anything else,
// or too many restarts in a row, is reported to the job, which stops loudly.
import { CdrflowError, asCdrflowError, disposition } from '../core/errors.ts';
import { DEFAULT_BACKOFF, RETRY, backoffDelay } from '../core/backoff.ts';
import type { StreamHandle } from '../core/kafka-streams.ts';
import type { LogFn } from '../core/log.ts';

/** A component's life, for /readyz and the status. */
export type ComponentState = 'starting' | 'running' | 'stopping' | 'stopped' | `failed: ${string}`;

const RESTARTS_PER_WINDOW = RETRY.stageRestart.maxAttempts;
const RESTART_WINDOW_MS = 10 * 60_000;

/**
 * Runs a stream stage and restarts it when it stops on a transient Kafka error (a broker that just started answers
 * "coordinator loading" for a while; a rebalance storm; a broker restart). The stage resumes from its committed
 * offsets, so a restart never loses or doubles a record. Anything else — or more than a few restarts in a row —
 * stops the job loudly.
 */
export async function superviseStage(
  name: string,
  launch: () => Promise<StreamHandle>,
  deps: { setState: (name: string, state: ComponentState) => void; fail: (name: string, err: unknown) => void; log: LogFn; initialDelayMs?: number },
): Promise<{ stop(): Promise<void> }> {
  const initialMs = deps.initialDelayMs ?? RETRY.stageRestart.initialMs;
  let current: StreamHandle | undefined;
  let stopping = false;
  const restarts: number[] = [];
  // Consumer crashes arrive already classified (core/kafka-streams.ts), so the kind alone decides.
  const transientCause = (err: unknown): CdrflowError | undefined => {
    const e = asCdrflowError(err);
    return disposition(e) === 'retry' ? e : undefined;
  };
  const watch = (handle: StreamHandle) => {
    handle.done.then(
      () => {
        if (!stopping) deps.fail(name, new CdrflowError('bug', `the ${name} consumer ended by itself`));
      },
      (err: unknown) => {
        if (stopping) return;
        const transient = transientCause(err);
        const now = Date.now();
        while (restarts.length > 0 && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
        if (!transient || restarts.length >= RESTARTS_PER_WINDOW) return deps.fail(name, err);
        restarts.push(now);
        const delayMs = backoffDelay(restarts.length, { ...DEFAULT_BACKOFF, initialMs });
        deps.setState(name, 'starting');
        deps.log('warn', `${name}.restarting`, { error: transient.message, attempt: restarts.length, delayMs });
        setTimeout(() => {
          if (stopping) return;
          launch().then(
            (next) => {
              current = next;
              if (stopping) return void next.stop();
              deps.setState(name, 'running');
              watch(next);
            },
            (startErr: unknown) => deps.fail(name, startErr),
          );
        }, delayMs);
      },
    );
  };
  deps.setState(name, 'starting');
  // The first start meets the same fresh-broker errors: retry those a few times before giving up.
  for (let attempt = 1; ; attempt++) {
    try {
      current = await launch();
      break;
    } catch (err) {
      const transient = transientCause(err);
      if (!transient || attempt >= RESTARTS_PER_WINDOW) throw err;
      deps.log('warn', `${name}.start_retry`, { error: transient.message, attempt });
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, { ...DEFAULT_BACKOFF, initialMs })));
    }
  }
  deps.setState(name, 'running');
  watch(current);
  return {
    async stop() {
      stopping = true;
      deps.setState(name, 'stopping');
      await current?.stop();
      deps.setState(name, 'stopped');
    },
  };
}
