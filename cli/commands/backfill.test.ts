// The exit status of a finished backfill (README, "Both at once: 75 first; the run that finishes the range exits 2"):
// a script re-runs on 75 and must not take a range with lost seconds for done while part of it is still unread.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cdrflowWithoutServers } from '../../test/cli-without-servers.ts';
import { backfillExitCode } from './backfill.ts';
import { BACKFILL_LOCK_DIR } from '../../connectors/poller/backfill-lock.ts';
import { processStartTicks } from '../../core/process-identity.ts';

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

// A CCC window of 90 days or more is the vendor's refusal at run time (End − Start < 90 days, assumed from
// DescribeTelCdr): refused up front, naming the limit. Kafka is on a closed port: an accepted window fails with 69.
describe('backfill tencent-ccc: the query span limit', () => {
  const range = ['--tenant', '1400000001', '--from', '2026-01-01', '--to', '2026-01-02'];

  it('--window-sec of 90 days or more: exit 64 naming the limit', () => {
    const r = cdrflowWithoutServers(['backfill', 'tencent-ccc', ...range, '--window-sec', '7776000']);
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr.split('\n')[0]).toBe(
      'cdrflow backfill: --window-sec for tencent-ccc must be less than 90 days (7776000 s), the End − Start limit of DescribeTelCdr assumed for DescribeProtectedTelCdr, got "7776000"',
    );
  });

  it('connectors.tencent-ccc.maxWindowSec of 90 days: exit 78 naming the key and the limit', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cdrflow-ccc-window-')), 'c.yaml');
    writeFileSync(file, 'connectors:\n  tencent-ccc: { maxWindowSec: 7776000 }\n');
    const r = cdrflowWithoutServers(['backfill', 'tencent-ccc', ...range, '--config', file]);
    expect(r.status, r.stderr).toBe(78);
    expect(r.stderr).toContain('connectors.tencent-ccc.maxWindowSec: maxWindowSec + lookbackSec + maxCallSec is 7781400 s: one CCC request must span less than 90 days');
  });
});

// Two backfills of one range at once would each read the vendor (its quota twice) and overwrite each other's
// checkpoint: the second is refused in one line naming the first, before Kafka is asked (on the closed port it would
// otherwise fail with 69), exit 75 as "run me again later".
describe('backfill of a range another run is backfilling', () => {
  it('exit 75, one line naming the running one', () => {
    // A range of its own (the lock directory is the repository's): a minute of 2020 no other test uses.
    const from = new Date(Date.UTC(2020, 0, 1) + Math.floor(Math.random() * 500_000) * 60_000);
    const to = new Date(from.getTime() + 3_600_000);
    const id = `tencent-ccc:1400000001:backfill:${from.toISOString()}-${to.toISOString()}`;
    const file = join(BACKFILL_LOCK_DIR, `${encodeURIComponent(id)}.lock`);
    mkdirSync(BACKFILL_LOCK_DIR, { recursive: true });
    writeFileSync(file, JSON.stringify({ pid: process.pid, since: '2026-12-06T10:00:00.000Z', command: 'cdrflow reconcile --repair', startTicks: processStartTicks(process.pid) }), { flag: 'wx' });
    try {
      const r = cdrflowWithoutServers(['backfill', 'tencent-ccc', '--tenant', '1400000001', '--from', from.toISOString(), '--to', to.toISOString()]);
      expect(r.status, r.stderr).toBe(75);
      expect(r.stderr).toBe(
        `cdrflow backfill: a backfill of ${id} is already running: PID ${process.pid} (cdrflow reconcile --repair), since 2026-12-06T10:00:00.000Z; run the same command again once it has finished (it resumes from the checkpoint)\n`,
      );
    } finally {
      rmSync(file, { force: true });
    }
  });
});
