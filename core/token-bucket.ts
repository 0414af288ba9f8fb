// A token bucket shared by everything that calls one rate-limited API, so the whole connector (all tenants, all
// windows) stays at or under the vendor's documented request rate. Clock and sleep are injectable for tests.
import { setTimeout as delay } from 'node:timers/promises';

export interface TokenBucketOptions {
  /** Tokens added per second (the sustained request rate). */
  ratePerSecond: number;
  /**
   * Largest number of tokens that can pile up. 1 (the default) means requests are evenly spaced: a server that
   * counts requests per sliding second then never sees more than `ratePerSecond` of them.
   */
  capacity?: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const defaultSleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : undefined);

export class TokenBucket {
  readonly ratePerSecond: number;
  readonly capacity: number;
  private tokens: number;
  private last: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Callers waiting, served in arrival order so a busy tenant cannot starve another. */
  private queue: Promise<void> = Promise.resolve();

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(`token bucket rate must be a positive number, got ${options.ratePerSecond}`);
    }
    const capacity = options.capacity ?? 1;
    if (!(capacity >= 1)) throw new RangeError(`token bucket capacity must be at least 1, got ${capacity}`);
    this.ratePerSecond = options.ratePerSecond;
    this.capacity = capacity;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? defaultSleep;
    this.tokens = capacity;
    this.last = this.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
  }

  /** Takes one token if one is available right now. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Milliseconds until a token will be available (0 if one is). */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }

  /** Resolves when a token has been taken; rejects if the signal aborts while waiting. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(async () => {
      for (;;) {
        signal?.throwIfAborted();
        if (this.tryTake()) return;
        await this.sleep(Math.max(1, this.waitMs()), signal);
      }
    });
    // A rejected (aborted) waiter must not poison the queue for the others.
    this.queue = turn.catch(() => undefined);
    return turn;
  }
}
