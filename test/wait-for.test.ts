import { describe, expect, it } from 'vitest';
import { StopPolling } from '../infra/local/processes.ts';
import { waitFor } from './helpers.ts';

describe('waitFor', () => {
  it('adds its details as they are when the wait gives up, not when it began', async () => {
    let output = '';
    const waiting = waitFor(() => false, {
      timeoutMs: 60,
      intervalMs: 10,
      message: 'the job to be ready',
      details: () => `--- log ---\n${output}`,
    });
    output = 'sink: waiting for the coordinator';
    await expect(waiting).rejects.toThrow(
      /timed out after 60 ms waiting for the job to be ready[\s\S]*--- log ---\nsink: waiting for the coordinator/,
    );
  });

  it('passes a StopPolling on as it is: it says its own', async () => {
    const stop = new StopPolling('the job exited');
    await expect(
      waitFor(
        () => {
          throw stop;
        },
        { timeoutMs: 1_000, details: () => 'more' },
      ),
    ).rejects.toBe(stop);
  });
});
