import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../core/dead-letter.ts';
import { LINES_LOGGED_PER_SECOND } from '../../core/log-limit.ts';
import { memoryLog } from '../../core/log.ts';
import { DLQ_LOADER, skippedLog } from './dlq-loader.ts';

const garbage = (offset: number): DeadLetter => ({
  original_value: Buffer.from('not avro'),
  original_key: null,
  origin_topic: 'cdr.dlq',
  origin_partition: 0,
  origin_offset: offset,
  error_kind: 'bad_record',
  error_message: 'decoding cdr.dlq[0]@… : unknown magic byte',
  component: DLQ_LOADER,
  vendor: null,
  cdr_id: null,
  failed_at: new Date(0),
});

describe('the dlq-loader.skipped lines', () => {
  it('logs the first skipped messages of a second per reason and sums up the rest: a topic of garbage is not one line per message', () => {
    const log = memoryLog();
    const clock = { ms: 1_764_900_000_900 };
    const lines = skippedLog(log, () => clock.ms);
    lines.skipped(Array.from({ length: 5_000 }, (_, i) => garbage(i)));
    clock.ms += 1_000;
    lines.close();
    const skipped = log.entries.filter((e) => e.event === `${DLQ_LOADER}.skipped`);
    expect(skipped).toHaveLength(LINES_LOGGED_PER_SECOND);
    expect(skipped[0]!.fields).toEqual({ reason: 'bad_record', at: 'cdr.dlq[0]@0', bytes: 8, error: garbage(0).error_message });
    expect(log.entries.filter((e) => e.event === `${DLQ_LOADER}.skipped_suppressed`).map((e) => e.fields)).toEqual([
      { reason: 'bad_record', count: 5_000 - LINES_LOGGED_PER_SECOND, second: new Date(1_764_900_000_000).toISOString() },
    ]);
  });
});
