// The embedded-engine caveats documented in core/clickhouse.ts, shown on the real embedded engine (no network):
// the raw chdb connection leaks a dedup token into the next insert; the project's factory does not.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@clickhouse/client';
import type { ClickHouseClient, ClickHouseClientConfigOptions } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { AppMetrics } from '../app/metrics.ts';
import { z } from 'zod';
import { createClickHouse, infileInsertSql, insertBody, insertsRaw, readRows, sqlString } from './clickhouse.ts';
import { CdrflowError } from './errors.ts';
import { Rng, seededRandom } from '../simulators/kit.ts';

describe('embedded ClickHouse', () => {
  // One data directory per process: every client in this file shares it.
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-ch-'));
  let client: ClickHouseClient;

  const staging = join(dir, 'insert-staging');
  beforeAll(async () => {
    // What a killed process leaves behind: a staged body its insert never removed.
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, '999999-7.body'), '1\n');
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

  it('stages each body insert as a file the engine reads, and leaves no file behind, after a success or a failure', async () => {
    // The killed process's file went when the engine was opened.
    expect(existsSync(join(staging, '999999-7.body'))).toBe(false);
    const table = await freshTable('staged');
    const insertIds = (...chunks: string[]) => insertBody(client, { table, format: 'TabSeparated', columns: ['id'], body: chunks.map((c) => Buffer.from(c)), settings: {} });
    await insertIds('5\n6', '\n7\n');
    expect(await ids(table)).toEqual([5, 6, 7]);
    expect(readdirSync(staging)).toEqual([]);
    // A row the engine cannot parse: its error, with the engine's code, and still no file left.
    const failure = await insertIds('8\nnot a number\n').catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: expect.stringMatching(/^\d+$/), type: expect.any(String) });
    expect(readdirSync(staging)).toEqual([]);
    expect(await ids(table)).toEqual([5, 6, 7]);
    // The staging folder unusable (a file in its place): a clear error naming it, classified, nothing inserted; once it
    // is usable again, so are inserts.
    rmSync(staging, { recursive: true, force: true });
    writeFileSync(staging, 'not a folder');
    const blocked = await insertIds('9\n').catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(CdrflowError);
    expect(blocked).toMatchObject({ kind: 'config', message: expect.stringContaining(staging) });
    rmSync(staging, { force: true });
    await insertIds('9\n');
    expect(await ids(table)).toEqual([5, 6, 7, 9]);
    expect(readdirSync(staging)).toEqual([]);
    // Empty bodies insert nothing and stage nothing.
    await insertIds('');
    expect(await ids(table)).toEqual([5, 6, 7, 9]);
  });

  it('a hostile dedup token is a literal, and still deduplicates its retried insert', async () => {
    const table = await freshTable('staged_token');
    const token = "t'; DROP TABLE staged_token; --\\'\0\n\u4e2d";
    const batch = { table, format: 'TabSeparated' as const, columns: ['id'], body: [Buffer.from('1\n2\n')], settings: { insert_deduplication_token: token } };
    await insertBody(client, batch);
    await insertBody(client, batch);
    await insertBody(client, { ...batch, body: [Buffer.from('3\n')], settings: { insert_deduplication_token: token + 'x' } });
    expect(await ids(table)).toEqual([1, 2, 3]);
    const rows = await (await client.query({ query: `SELECT ${sqlString(token)} AS v`, format: 'JSONEachRow' })).json<{ v: string }>();
    expect(rows).toEqual([{ v: token }]);
  });

  it('any text, as a string literal, reads back as itself (300 random strings, quotes, backslashes and NULs common)', async () => {
    // The project's seeded generator: an LCG in doubles (`seed * 1103515245` loses its low bits) drew only the lengths
    // 0, 1, 8, 9, 12 and 16 here (86 of the 300 strings empty).
    const r = new Rng(seededRandom(7));
    const alphabet = ["'", '\\', '\0', '\n', '\t', '`', '"', ';', '-', 'a', '中', '\u{1F4DE}', ' '];
    const lengths = new Set<number>();
    const texts = Array.from({ length: 300 }, () => {
      const length = r.int(0, 23);
      lengths.add(length);
      return Array.from({ length }, () => (r.chance(1 / 3) ? String.fromCharCode(r.int(0, 0xd7fe)) : r.pick(alphabet))).join('');
    });
    expect(lengths.size, 'lengths drawn of 0-23').toBe(24);
    for (const c of alphabet) expect(texts.some((t) => t.includes(c)), JSON.stringify(c)).toBe(true);
    const rows = await (await client.query({ query: `SELECT [${texts.map(sqlString).join(', ')}] AS v`, format: 'JSONEachRow' })).json<{ v: string[] }>();
    expect(rows).toEqual([{ v: texts }]);
  });

  it('refuses names and values it could not put in the statement safely, before writing anything', () => {
    const ok = { table: 'db.t', format: 'TabSeparated' as const, columns: ['id', 'name'], settings: { max_insert_block_size: 10, insert_deduplicate: true, insert_deduplication_token: 'a' } };
    expect(infileInsertSql(ok, '/x/it\'s.body')).toBe(
      "INSERT INTO db.t (id, name) FROM INFILE '/x/it\\'s.body' COMPRESSION 'none' SETTINGS max_insert_block_size = 10, insert_deduplicate = 1, insert_deduplication_token = 'a' FORMAT TabSeparated",
    );
    const hostile = [
      { ...ok, table: 't; DROP TABLE x' },
      { ...ok, table: 'db..t' },
      { ...ok, columns: ['id) SELECT 1 --'] },
      { ...ok, columns: [] },
      { ...ok, settings: { 'x = 1, y': 1 } },
      { ...ok, settings: { max_threads: Number.NaN } },
      { ...ok, format: 'Native' as never },
    ];
    for (const params of hostile) expect(() => infileInsertSql(params, '/x/a.body')).toThrow(CdrflowError);
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
    await expect(insertBody(timed, { table: 'no_such_table', format: 'TabSeparated', columns: ['id'], body: [Buffer.from('1\n')], settings: {} })).rejects.toThrow('Table default.no_such_table does not exist');
    expect(await metrics.registry.getSingleMetricAsString('cdrflow_clickhouse_insert_duration_seconds')).toMatch(/cdrflow_clickhouse_insert_duration_seconds_count\{outcome="error"\} 1$/m);
  });

  it("readRows waits for the engine's answer: its deadline is for a server, as an abort cannot stop the engine's work", async () => {
    // The engine runs the query in this process; an abort only rejects the wait while the work goes on, so a deadline
    // there failed a slow status or reconcile read, and its retry added a second scan beside the first.
    const rows = await readRows(client, { query: 'SELECT sleep(0.3) AS s, 7 AS n', what: 'a slow answer', row: z.object({ n: z.number() }), bounds: { rows: 10, bytes: 1024, ms: 50 } });
    expect(rows).toEqual([{ n: 7 }]);
  });
});
