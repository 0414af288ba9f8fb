// The exit status of a finished backfill (README, "Both at once: 75 first; the run that finishes the range exits 2"):
// a script re-runs on 75 and must not take a range with lost seconds for done while part of it is still unread.
import { describe, expect, it } from 'vitest';
import { backfillExitCode } from './backfill.ts';

const UNSETTLED = '2026-12-01T09:00:00.000Z';

describe('backfillExitCode', () => {
  it.each([
    [0, 'the whole range read, nothing lost', { lostSeconds: 0 }],
    [75, 'part of the range not settled yet (run again later)', { unsettledFrom: UNSETTLED, lostSeconds: 0 }],
    [2, 'complete, but part of the range older than the vendor keeps', { lostSeconds: 3_600 }],
    // 75 first: a 2 would tell the script to stop re-running although the unsettled part is still to be read.
    [75, 'both unsettled and lost', { unsettledFrom: UNSETTLED, lostSeconds: 3_600 }],
    // The re-run that finishes the range (nothing unsettled any more) keeps reporting the loss.
    [2, 'the re-run that finishes a range with a loss', { lostSeconds: 1 }],
  ] as const)('exit %i: %s', (code, _name, summary) => {
    expect(backfillExitCode(summary)).toBe(code);
  });
});
