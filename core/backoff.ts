// Exponential backoff with full jitter, and a retry loop that asks core/errors.ts whether an error is worth
// retrying. Components never decide retry policy themselves; they classify errors and call `retry`.
import { setTimeout as delay } from 'node:timers/promises';
import { asCdrflowError, disposition, type CdrflowError } from './errors.ts';

export interface BackoffOptions {
  /** First delay ceiling in ms. */
  initialMs: number;
  /** Largest delay ceiling in ms. */
  maxMs: number;
  /** Growth per attempt. */
  factor: number;
  /** Give up after this many attempts (including the first); Infinity retries until aborted. */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 30_000, factor: 2, maxAttempts: 8 };

/**
 * The retry budgets of the project, by what is retried, so no component carries its own literals. Each is a partial
 * override of DEFAULT_BACKOFF; pass it to `retry` (or spread it into backoffDelay's options).
 */
export const RETRY = {
  /** A schema-registry lookup while decoding or encoding one record (registry restarting, network blip). */
  registry: { maxAttempts: 10 },
  /** An acknowledged Kafka write outside a transaction (dead letters, raw envelopes), and one Kafka transaction. */
  kafkaWrite: { maxAttempts: 10 },
  /** A file import's batch publish: longer waits, the importer has no vendor to re-send for it. */
  importPublish: { maxAttempts: 6, initialMs: 500, maxMs: 10_000 },
  /** Restarting a stream stage after a transient stop: a second between tries, at most five in ten minutes. */
  stageRestart: { initialMs: 1_000, maxAttempts: 5 },
  /** The demo's LVMS submitter re-sending like the vendor does (short waits, a few tries). */
  vendorResend: { maxAttempts: 8, initialMs: 100, maxMs: 5_000 },
} as const satisfies Record<string, Partial<BackoffOptions>>;

/** "Full jitter": a uniform delay in [0, min(max, initial * factor^attempt)], which spreads out retry storms. */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * options.factor ** attempt);
  return Math.floor(random() * ceiling);
}

export interface RetryHooks {
  /** Called before each wait; for logs and metrics. */
  onRetry?: (error: CdrflowError, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
  random?: () => number;
  /** Asked before each retry of a retryable error; false ends the retries (e.g. the client needs recreating). */
  retryIf?: (error: CdrflowError) => boolean;
}

/**
 * Runs `fn` until it succeeds, the error is not retryable (stop / dead-letter are the caller's business),
 * attempts run out, or the signal aborts. Always throws a CdrflowError. `fn` is told its attempt and whether it is the
 * last one the attempts allow (a caller may settle for less then instead of failing). An error's `retryAfterMs` (a
 * remote's Retry-After) makes the next wait at least that long.
 */
export async function retry<T>(fn: (attempt: number, last: boolean) => Promise<T>, options: Partial<BackoffOptions> = {}, hooks: RetryHooks = {}): Promise<T> {
  const opts = { ...DEFAULT_BACKOFF, ...options };
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt, attempt + 1 >= opts.maxAttempts);
    } catch (thrown) {
      const err = asCdrflowError(thrown);
      if (disposition(err) !== 'retry' || attempt + 1 >= opts.maxAttempts || hooks.signal?.aborted) throw err;
      if (hooks.retryIf && !hooks.retryIf(err)) throw err;
      // A remote that said when to come back (Retry-After) is not asked again before then: the wait is one retry,
      // as long as the longer of the two, and the signal still ends it.
      const wait = Math.max(backoffDelay(attempt, opts, hooks.random), err.retryAfterMs ?? 0);
      hooks.onRetry?.(err, attempt + 1, wait);
      await delay(wait, undefined, hooks.signal ? { signal: hooks.signal } : undefined).catch(() => {
        throw err;
      });
    }
  }
}
