import { describe, expect, it } from 'vitest';
import { parseSinkConfig } from './config.ts';

describe('sink config', () => {
  it('defaults: 50,000 rows or 1,000 ms per flush, database cdrflow', () => {
    const c = parseSinkConfig({});
    expect([c.flushRows, c.flushMs, c.database, c.table]).toEqual([50_000, 1_000, 'cdrflow', 'cdr']);
  });
  it('refuses unknown keys, unknown formats and names that would need quoting', () => {
    expect(() => parseSinkConfig({ flushrows: 5 })).toThrow(/flushrows/);
    expect(() => parseSinkConfig({ insertFormat: 'RowBinary' })).toThrow(/insertFormat/);
    expect(() => parseSinkConfig({ database: 'x; DROP' })).toThrow(/database/);
  });
});
