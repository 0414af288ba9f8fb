// The embedded-engine caveats documented in core/clickhouse.ts, shown on the real embedded engine (no network):
// the raw chdb connection leaks a dedup token into the next insert; the project's factory does not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@clickhouse/client';
import type { ClickHouseClient, ClickHouseClientConfigOptions } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { AppMetrics } from '../app/metrics.ts';
import { createClickHouse, insertBody, insertsRaw } from './clickhouse.ts';

describe('embedded ClickHouse', () => {
  // One data directory per process: every client in this file shares it.
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-ch-'));
  let client: ClickHouseClient;

  beforeAll(async () => {
    client = await createClickHouse({ kind: 'embedded', dataDir: dir, database: 'default' });
  });
  afterAll(async () => {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function freshTable(name: string): Promise<string> {
    await client.command({
      query: `CREATE TABLE ${name} (id UInt32) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 1000`,
    });
    return name;
  }
  async function ids(table: string, c: ClickHouseClient = client): Promise<number[]> {
    const rows = await (
      await c.query({ query: `SELECT id FROM ${table} ORDER BY id`, format: 'JSONEachRow' })
    ).json<{ id: number }>();
    return rows.map((r) => Number(r.id));
  }

  it('caveat: on a bare chdb connection a token persists and silently drops the next, different insert', async () => {
    const table = await freshTable('caveat_raw');
    const bare = createClient({
      connection: createChdbConnection({ path: dir }) as unknown as NonNullable<
        ClickHouseClientConfigOptions['connection']
      >,
    });
    await bare.insert({
      table,
      format: 'JSONEachRow',
      values: [{ id: 1 }],
      clickhouse_settings: { insert_deduplication_token: 't1' },
    });
    await bare.insert({ table, format: 'JSONEachRow', values: [{ id: 2 }] });
    // If this starts failing, chdb fixed the leak and the workaround in core/clickhouse.ts can go.
    expect(await ids(table, bare)).toEqual([1]);
    await bare.command({ query: 'SELECT 1', clickhouse_settings: { insert_deduplication_token: '' } });
  });

  it('the factory client does not leak a token into later inserts', async () => {
    const table = await freshTable('caveat_factory');
    await client.insert({
      table,
      format: 'JSONEachRow',
      values: [{ id: 1 }],
      clickhouse_settings: { insert_deduplication_token: 't2' },
    });
    await client.insert({ table, format: 'JSONEachRow', values: [{ id: 2 }] });
    expect(await ids(table)).toEqual([1, 2]);
  });

  it('drops a retried batch by its token, and the next insert without a token is kept (the token does not stick)', async () => {
    const table = await freshTable('dedup_token');
    const batch = { table, format: 'JSONEachRow' as const, values: [{ id: 1 }, { id: 2 }], clickhouse_settings: { insert_deduplication_token: 'cdr.normalized:0:10-11' } };
    await client.insert(batch);
    await client.insert(batch);
    await client.insert({ table, format: 'JSONEachRow', values: [{ id: 3 }], clickhouse_settings: { insert_deduplication_token: 'cdr.normalized:0:12-12' } });
    await client.insert({ table, format: 'JSONEachRow', values: [{ id: 4 }] });
    expect(await ids(table)).toEqual([1, 2, 3, 4]);
  });

  it('returns 64-bit integers quoted, without precision loss', async () => {
    const rows = await (
      await client.query({
        query: 'SELECT toInt64(9007199254740993) AS big, toUInt64(1) AS one',
        format: 'JSONEachRow',
      })
    ).json();
    expect(rows).toEqual([{ big: '9007199254740993', one: '1' }]);
  });

  it('refuses a second data directory in the same process with a clear error', async () => {
    const other = mkdtempSync(join(tmpdir(), 'cdrflow-ch-other-'));
    try {
      await expect(createClickHouse({ kind: 'embedded', dataDir: other, database: 'default' })).rejects.toThrow(
        /one active data directory per process/,
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('creates and switches to a non-default database', async () => {
    const c = await createClickHouse({ kind: 'embedded', dataDir: dir, database: 'cdr_unit' });
    const rows = await (
      await c.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' })
    ).json<{ db: string }>();
    expect(rows[0]?.db).toBe('cdr_unit');
    // The embedded session is shared: switch back so the other tests keep their default database.
    await c.command({ query: 'USE default' });
  });

  it("the job's timed client keeps the raw insert path, and its inserts are timed", async () => {
    // The sink in `cdrflow start` inserts through AppMetrics.timedInserts (a Proxy): an unknown client to insertBody
    // would send the body through the client's embedded connection instead (one SQL string on the main thread).
    const table = await freshTable('timed_raw');
    const metrics = new AppMetrics();
    const timed = metrics.timedInserts(client);
    expect(insertsRaw(client)).toBe(true);
    expect(insertsRaw(timed)).toBe(true);
    await insertBody(timed, { table, format: 'TabSeparated', columns: ['id'], body: [Buffer.from('1\n2\n'), Buffer.from('3\n')], settings: {} });
    expect(await ids(table)).toEqual([1, 2, 3]);
    const text = await metrics.registry.getSingleMetricAsString('cdrflow_clickhouse_insert_duration_seconds');
    expect(text).toMatch(/cdrflow_clickhouse_insert_duration_seconds_count\{outcome="ok"\} 1$/m);
    // A failed insert is timed as an error, and still reported as the engine's error.
    await expect(insertBody(timed, { table: 'no_such_table', format: 'TabSeparated', columns: ['id'], body: [Buffer.from('1\n')], settings: {} })).rejects.toThrow();
    expect(await metrics.registry.getSingleMetricAsString('cdrflow_clickhouse_insert_duration_seconds')).toMatch(/cdrflow_clickhouse_insert_duration_seconds_count\{outcome="error"\} 1$/m);
  });
});
