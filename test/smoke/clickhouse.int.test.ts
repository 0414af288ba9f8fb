// ClickHouse through the project's factory: create, insert, select, and insert deduplication by token — on the
// embedded engine locally, on the HTTP server in external/containers mode.
import { afterEach, describe, expect, it } from 'vitest';
import { quoteIdentifier } from '../../core/clickhouse.ts';
import { testClickHouse, testInfra } from '../helpers.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

describe('ClickHouse', () => {
  it('creates a table, inserts rows and reads them back (64-bit ints quoted, times in UTC)', async () => {
    const { client, database, cleanup } = await testClickHouse('smoke_ch');
    cleanups.push(cleanup);
    const table = `${quoteIdentifier(database)}.calls`;
    await client.command({
      query: `CREATE TABLE ${table} (cdr_id String, billable_seconds UInt32, bytes Int64, started_at DateTime64(3, 'UTC'))
              ENGINE = ReplacingMergeTree ORDER BY cdr_id`,
    });
    await client.insert({
      table,
      format: 'JSONEachRow',
      values: [
        { cdr_id: 'v:t:1', billable_seconds: 60, bytes: '9007199254740993', started_at: '2026-01-02 03:04:05.678' },
        { cdr_id: 'v:t:2', billable_seconds: 120, bytes: '1', started_at: '2026-01-02 03:05:00.000' },
      ],
    });
    const rows = await (
      await client.query({
        query: `SELECT cdr_id, billable_seconds, bytes, started_at FROM ${table} ORDER BY cdr_id`,
        format: 'JSONEachRow',
      })
    ).json();
    expect(rows).toEqual([
      { cdr_id: 'v:t:1', billable_seconds: 60, bytes: '9007199254740993', started_at: '2026-01-02 03:04:05.678' },
      { cdr_id: 'v:t:2', billable_seconds: 120, bytes: '1', started_at: '2026-01-02 03:05:00.000' },
    ]);
    if (testInfra().clickhouseUrl === null) {
      const version = await (
        await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })
      ).json<{ v: string }>();
      expect(Number(version[0]?.v.split('.')[0])).toBeGreaterThanOrEqual(25);
    }
  });

  it('deduplicates a retried insert by token and does not leak the token into the next insert', async () => {
    const { client, database, cleanup } = await testClickHouse('smoke_dedup');
    cleanups.push(cleanup);
    const table = `${quoteIdentifier(database)}.batches`;
    await client.command({
      query: `CREATE TABLE ${table} (id UInt32) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 1000`,
    });
    const batch = { table, format: 'JSONEachRow' as const, values: [{ id: 1 }, { id: 2 }], clickhouse_settings: { insert_deduplication_token: 'topic:0:0-1' } };
    await client.insert(batch);
    await client.insert(batch);
    await client.insert({ table, format: 'JSONEachRow', values: [{ id: 3 }] });
    const rows = await (
      await client.query({ query: `SELECT id FROM ${table} ORDER BY id`, format: 'JSONEachRow' })
    ).json<{ id: number }>();
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
  });
});
