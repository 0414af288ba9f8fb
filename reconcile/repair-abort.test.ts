// A repair stopped (Ctrl-C, SIGTERM, the job's stop) while ClickHouse still works on one of its statements: the merge
// of a month, the deletion of superseded rows (both waited for, up to REPAIR_WRITE_MS) or the read before it. A
// loopback server stands in for ClickHouse, answers every other statement at once and holds that one; the repair must
// end with the run's abort while the server still holds it.
import type { ClickHouseClient } from '@clickhouse/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReconcileReport } from './model.ts';
import { repair } from './repair.ts';
import { repairContext, repairRow } from './fixtures/repair-context.ts';
import { loopbackClickHouse, type LoopbackClickHouse } from '../test/loopback-clickhouse.ts';

let stand: LoopbackClickHouse | undefined;

afterEach(async () => {
  await stand?.close();
  stand = undefined;
});

/** A call stored in two months' partitions, as the read of such calls answers it. */
const CALL_IN_TWO_MONTHS = `${JSON.stringify({ cdr_id: 'tencent-ccc:1400000001:a', rows: [['202611', '1', '1', '1'], ['202612', '2', '2', '2']] })}\n`;

/**
 * A server that holds the statement containing `held` (it never answers it) and resolves `asked` once it has it; the
 * read of calls in two partitions is answered with one such call, anything else with an empty 200.
 */
async function holding(held: string): Promise<{ clickhouse: ClickHouseClient; asked: Promise<void>; gone: Promise<void> }> {
  let heldAsked!: () => void;
  let heldGone!: () => void;
  const asked = new Promise<void>((resolve) => (heldAsked = resolve));
  const gone = new Promise<void>((resolve) => (heldGone = resolve));
  stand = await loopbackClickHouse((res, { statement }) => {
    if (statement.includes(held)) {
      res.on('close', heldGone);
      heldAsked();
      return;
    }
    res.end(statement.includes('uniqExact(_partition_id) > 1') ? CALL_IN_TWO_MONTHS : '');
  });
  return { clickhouse: stand.client, asked, gone };
}

const row = repairRow({ source: { records: 1, minutes: 1, keyless: 0 }, raw: { records: 1, minutes: 1 }, normalized: { records: 1, minutes: 1 } });
const report = { scope: { tz: 'UTC' }, rows: [row] } as unknown as ReconcileReport;

describe('a repair stopped while ClickHouse holds its statement', () => {
  it.each([
    ['the read of calls in two partitions', 'uniqExact(_partition_id) > 1'],
    ['the deletion of superseded rows', 'DELETE FROM'],
    ['the merge of a month', 'OPTIMIZE TABLE'],
  ])('%s: ends at once with the run\'s abort, while the server still holds it', async (_, held) => {
    const { clickhouse, asked, gone } = await holding(held);
    const abort = new AbortController();
    const logged: string[] = [];
    const result = repair(report, repairContext({ clickhouse, signal: abort.signal, log: (msg) => void logged.push(msg) })).then(
      () => 'finished',
      (err: unknown) => err,
    );
    await asked;
    // The server never answers it: only the abort can end the repair before the test's timeout.
    const reason = new Error('SIGINT');
    abort.abort(reason);
    expect(await result).toBe(reason);
    // And the request is let go of, not left open on the connection.
    await gone;
    expect(logged).toEqual([expect.stringMatching(/^repair stopped \(SIGINT\); done before: /)]);
  }, 10_000);
});
