import { describe, expect, it } from 'vitest';
import { didYouMean } from './did-you-mean.ts';

const NAMES = ['status', 'normalize', 'import', 'backfill', 'poll', 'replay', 'simulate', 'sql', 'start', 'reconcile'];

describe('didYouMean', () => {
  it('suggests a near name and nothing for a far one', () => {
    expect(didYouMean('stauts', NAMES)).toBe('status');
    expect(didYouMean('reconcilee', NAMES)).toBe('reconcile');
    expect(didYouMean('zzzzzz', NAMES)).toBeUndefined();
  });

  // cli-flags fuzz, seed 9000000 case #63: `cdrflow help <a 100 KB word>` took 15 s to say "unknown command" (an edit
  // distance table of the whole word per command name, 4.5 s on its own under load). A word that long is farther than
  // its limit from every name by its length alone.
  it('answers a word as long as one argv may be (128 KiB) at once', () => {
    const word = `fuzz${'A'.repeat(128 * 1024 - 4)}`;
    const started = performance.now();
    expect(didYouMean(word, NAMES)).toBeUndefined();
    // Ten short names take microseconds; the table per name took 1.3 s on a quiet machine. A second leaves room for a
    // loaded one without letting the old way pass.
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
