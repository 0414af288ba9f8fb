import { describe, expect, it } from 'vitest';
import { backoffDelay, retry } from './backoff.ts';
import { CdrflowError } from './errors.ts';

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, scaled by jitter', () => {
    const opts = { initialMs: 100, maxMs: 1000, factor: 2, maxAttempts: 10 };
    expect(backoffDelay(0, opts, () => 0.999)).toBe(99);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(400);
    expect(backoffDelay(10, opts, () => 0.5)).toBe(500);
    expect(backoffDelay(5, opts, () => 0)).toBe(0);
  });
});

describe('retry', () => {
  const fast = { initialMs: 1, maxMs: 2, factor: 2, maxAttempts: 5 };

  it('retries transient errors until success', async () => {
    let calls = 0;
    const seen: number[] = [];
    const result = await retry(
      async () => {
        calls++;
        if (calls < 3) throw new CdrflowError('transient', 'flaky');
        return 'ok';
      },
      fast,
      { onRetry: (_e, attempt) => seen.push(attempt) },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(seen).toEqual([1, 2]);
  });

  it('does not retry errors that must stop', async () => {
    let calls = 0;
    await expect(
      retry(async () => {
        calls++;
        throw new CdrflowError('auth', 'bad key');
      }, fast),
    ).rejects.toMatchObject({ kind: 'auth' });
    expect(calls).toBe(1);
  });

  it('gives up after maxAttempts', async () => {
    let calls = 0;
    await expect(
      retry(async () => {
        calls++;
        throw new CdrflowError('rate_limited', 'slow down');
      }, fast),
    ).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(calls).toBe(5);
  });

  it('waits at least what the error asks (retryAfterMs), as one retry', async () => {
    let calls = 0;
    const waits: [number, number][] = [];
    const started = performance.now();
    const result = await retry(
      async () => {
        if (calls++ === 0) throw new CdrflowError('rate_limited', 'come back in 300 ms', { retryAfterMs: 300 });
        return performance.now() - started;
      },
      fast,
      { onRetry: (_e, attempt, ms) => waits.push([attempt, ms]) },
    );
    expect(waits).toEqual([[1, 300]]);
    expect(result).toBeGreaterThanOrEqual(300);
  });

  it('a longer backoff than the error asks for still applies', async () => {
    const waits: number[] = [];
    await expect(
      retry(
        async () => Promise.reject(new CdrflowError('rate_limited', 'soon', { retryAfterMs: 1 })),
        { initialMs: 50, maxMs: 50, maxAttempts: 2 },
        { random: () => 0.5, onRetry: (_e, _a, ms) => waits.push(ms) },
      ),
    ).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(waits).toEqual([25]);
  });

  it('an abort ends a wait the error asked for at once', async () => {
    const abort = new AbortController();
    const started = performance.now();
    await expect(
      retry(async () => Promise.reject(new CdrflowError('rate_limited', 'an hour', { retryAfterMs: 3_600_000 })), fast, {
        signal: abort.signal,
        onRetry: () => setImmediate(() => abort.abort()),
      }),
    ).rejects.toMatchObject({ message: 'an hour' });
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('treats unknown throwables as bugs (no retry)', async () => {
    await expect(retry(async () => Promise.reject(new TypeError('oops')), fast)).rejects.toMatchObject({ kind: 'bug' });
  });
});
