import { describe, expect, it } from 'vitest';
import { endsWithin } from './ends-within.ts';

const inThread = endsWithin<typeof import('./ends-within.cases.ts')>(
  new URL('./ends-within.cases.ts', import.meta.url),
  300,
  'the loop',
);

describe('endsWithin', () => {
  it("resolves with the function's return value", async () => {
    await expect(inThread('returns', 7)).resolves.toEqual({ n: 7, at: new Date(7) });
  });

  it('rejects with what the function threw', async () => {
    // An Error crosses the threads as what it was: its class and its message.
    await expect(inThread('throws', 'no')).rejects.toStrictEqual(new RangeError('no'));
  });

  it('stops a function that is still running at the deadline, and says what was lost', async () => {
    await expect(inThread('loops')).rejects.toThrow('loops() did not end within 300 ms and was stopped: the loop');
  });
});
