import { describe, expect, it } from 'vitest';
import { CATCH_UP_FLUSH_FACTOR, EAGER_FLUSH_DIVISOR, IDLE_FLUSH_MIN_ROWS } from './batcher.ts';
import { parseSinkConfig } from './config.ts';

describe('sink config', () => {
  it('defaults: 50,000 rows or 1,000 ms per flush, database cdrflow', () => {
    const c = parseSinkConfig({});
    expect([c.flushRows, c.flushMs, c.database, c.table]).toEqual([50_000, 1_000, 'cdrflow', 'cdr']);
  });
  it('the flush rules docs/stream-stages.md states in numbers: 10,000 rows between the buffers, 1,000 rows after 200 ms without a batch, 5 s for a partition catching up, a stop when 50 rows or more are all refused', () => {
    const c = parseSinkConfig({});
    expect([c.flushRows / EAGER_FLUSH_DIVISOR, IDLE_FLUSH_MIN_ROWS, c.flushIdleMs, c.flushMs * CATCH_UP_FLUSH_FACTOR, c.systemicRejectThreshold]).toEqual([10_000, 1_000, 200, 5_000, 50]);
  });
  it('refuses unknown keys, unknown formats and names that would need quoting', () => {
    expect(() => parseSinkConfig({ flushrows: 5 })).toThrow(/flushrows/);
    expect(() => parseSinkConfig({ insertFormat: 'RowBinary' })).toThrow(/insertFormat/);
    expect(() => parseSinkConfig({ database: 'x; DROP' })).toThrow(/database/);
  });
});
