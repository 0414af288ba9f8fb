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

  it('treats unknown throwables as bugs (no retry)', async () => {
    await expect(retry(async () => Promise.reject(new TypeError('oops')), fast)).rejects.toMatchObject({ kind: 'bug' });
  });
});
