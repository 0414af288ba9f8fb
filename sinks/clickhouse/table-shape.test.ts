// Tables and views of our names that are not what the migrations make: migrate (and, for tables, the sink's start)
// refuses them with one error naming the table or view, what is there and what was expected, and leaves them as they
// were. On the embedded engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { CdrflowError } from '../../core/errors.ts';
import { migrate, migratedShapes, renderAll } from './migrations.ts';
import { assertTableReady } from './sink.ts';
import { declaredViews } from './table-shape.ts';
import { embeddedClickHouse } from '../../test/helpers.ts';

let client: ClickHouseClient;
let closeClickHouse: () => Promise<void>;

beforeAll(async () => {
  ({ client, close: closeClickHouse } = await embeddedClickHouse('shape'));
  await migrate(client, { database: 'ref' });
});
afterAll(() => closeClickHouse());

const run = (query: string) => client.command({ query });
const list = async (query: string) => (await (await client.query({ query, format: 'JSONEachRow' })).json<{ name: string }>()).map((r) => r.name);
async function refusal(work: Promise<unknown>): Promise<{ kind: string; message: string }> {
  const err = await work.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(CdrflowError);
  return { kind: (err as CdrflowError).kind, message: (err as CdrflowError).message };
}
/** A database holding, before any migration, what `statements` make ({db} its name; `; ` between statements). */
async function foreign(db: string, statements: string) {
  await run(`CREATE DATABASE ${db}`);
  for (const statement of statements.split('; ')) await run(statement.replaceAll('{db}', db));
}

describe('the shape the migrations give each table', () => {
  it('is what ClickHouse shows for a migrated database, every table and column', async () => {
    const rows = await (await client.query({ query: `SELECT t.name AS table, t.engine AS engine, c.name AS name, c.type AS type FROM system.tables AS t INNER JOIN system.columns AS c ON c.database = t.database AND c.table = t.name WHERE t.database = 'ref' AND t.engine LIKE '%MergeTree' ORDER BY t.name, c.position`, format: 'JSONEachRow' })).json<{ table: string; engine: string; name: string; type: string }>();
    const shown = new Map<string, { engine: string; columns: Map<string, string> }>();
    for (const r of rows) {
      if (!shown.has(r.table)) shown.set(r.table, { engine: r.engine, columns: new Map() });
      shown.get(r.table)!.columns.set(r.name, r.type);
    }
    expect(migratedShapes()).toEqual(shown);
  });
});

describe('migrate against tables of our names it did not make', () => {
  it.each([
    ['another type', 'CREATE TABLE {db}.cdr AS ref.cdr; ALTER TABLE {db}.cdr MODIFY COLUMN billable_minutes String', /ClickHouse table \w+\.cdr has column\(s\) of another type than cdrflow writes: billable_minutes is String, expected Int32/],
    ['another engine', 'CREATE TABLE {db}.cdr AS ref.cdr ENGINE = MergeTree ORDER BY cdr_id', /ClickHouse table \w+\.cdr is a MergeTree, not the ReplacingMergeTree table cdrflow creates/],
    ['a view', 'CREATE VIEW {db}.cdr AS SELECT * FROM ref.cdr', /ClickHouse table \w+\.cdr is a View, not the ReplacingMergeTree table cdrflow creates/],
    ['other columns', 'CREATE TABLE {db}.cdr (id UInt64, note String) ENGINE = ReplacingMergeTree ORDER BY id', /\w+\.cdr lacks column\(s\) cdr_id, vendor, .*; migration 1_cdr did not create it/],
  ])('%s: refused before anything is built on it or recorded, the table untouched', async (_, ddl, said) => {
    const db = `foreign_${_.replaceAll(' ', '_')}`;
    await foreign(db, ddl);
    const before = await list(`SELECT name FROM system.columns WHERE database = '${db}' AND table = 'cdr' ORDER BY position`);
    const { kind, message } = await refusal(migrate(client, { database: db }));
    expect({ kind, message }).toEqual({ kind: 'config', message: expect.stringMatching(said) });
    // Nothing built on it (the legs' materialized view), nothing recorded, no column added.
    expect(await list(`SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`)).toEqual(['cdr', 'cdrflow_migrations']);
    expect(await list(`SELECT toString(version) AS name FROM ${db}.cdrflow_migrations`)).toEqual([]);
    expect(await list(`SELECT name FROM system.columns WHERE database = '${db}' AND table = 'cdr' ORDER BY position`)).toEqual(before);
  });

  it('takes a table with an extra column of its own (inserts name their columns)', async () => {
    await foreign('extra_column', 'CREATE TABLE {db}.cdr AS ref.cdr; ALTER TABLE {db}.cdr ADD COLUMN mine String');
    await expect(migrate(client, { database: 'extra_column' })).resolves.toMatchObject({ applied: [1, 2, 3, 4, 5, 6, 7, 8, 9] });
    await expect(assertTableReady(client, 'extra_column', 'cdr')).resolves.toBeUndefined();
  });
});

describe('migrate against views of our names it did not make', () => {
  it.each([
    ['a table for a view', 'CREATE TABLE {db}.cdr_daily (day Date) ENGINE = MergeTree ORDER BY day', [1, 2, 3], /^ClickHouse view \w+\.cdr_daily is a MergeTree, not the View cdrflow creates; it was not made by cdrflow/],
    ['a materialized view for a view', 'CREATE TABLE {db}.mine AS ref.cdr_legs; CREATE MATERIALIZED VIEW {db}.cdr_legs_current TO {db}.mine AS SELECT * FROM ref.cdr_legs', [1, 2, 3, 4], /^ClickHouse view \w+\.cdr_legs_current is a MaterializedView writing to \w+\.mine, not the View cdrflow creates/],
    ['a view for the legs materialized view', 'CREATE VIEW {db}.cdr_legs_mv AS SELECT * FROM ref.cdr_legs', [1], /^ClickHouse view \w+\.cdr_legs_mv is a View, not the MaterializedView writing to \w+\.cdr_legs cdrflow creates/],
    ['the legs materialized view writing elsewhere', 'CREATE TABLE {db}.mine AS ref.cdr_legs; CREATE MATERIALIZED VIEW {db}.cdr_legs_mv TO {db}.mine AS SELECT * FROM ref.cdr_legs', [1], /^ClickHouse view (\w+)\.cdr_legs_mv is a MaterializedView writing to \1\.mine, not the MaterializedView writing to \1\.cdr_legs cdrflow creates/],
    ['the legs materialized view into a table of its own', 'CREATE MATERIALIZED VIEW {db}.cdr_legs_mv ENGINE = MergeTree ORDER BY cdr_id AS SELECT * FROM ref.cdr_legs', [1], /^ClickHouse view \w+\.cdr_legs_mv is a MaterializedView writing to a table of its own, not the MaterializedView writing to \w+\.cdr_legs cdrflow creates/],
  ])('%s: refused before its migration is recorded', async (_, ddl, recorded, said) => {
    const db = `foreign_${_.replaceAll(' ', '_')}`;
    await foreign(db, ddl);
    expect(await refusal(migrate(client, { database: db }))).toEqual({ kind: 'config', message: expect.stringMatching(said) });
    expect(await list(`SELECT toString(version) AS name FROM ${db}.cdrflow_migrations ORDER BY version`)).toEqual(recorded.map(String));
  });

  // The views migrate made are taken: beforeAll's migrate of `ref` ran every check.
  it('are read from the SQL migrate runs: on a cluster the legs are written to the shard-local table', () => {
    const views = (cluster?: string) => declaredViews(renderAll({ database: 'a', cluster }).flatMap((s) => s.statements));
    expect(views()).toEqual(new Map([
      ['cdr_legs_mv', { engine: 'MaterializedView', to: 'a.cdr_legs' }],
      ['cdr_daily', { engine: 'View' }],
      ['cdr_hourly', { engine: 'View' }],
      ['cdr_end_status', { engine: 'View' }],
      ['cdr_legs_current', { engine: 'View' }],
    ]));
    expect(views('prod').get('cdr_legs_mv')).toEqual({ engine: 'MaterializedView', to: 'a.cdr_legs_local' });
  });
});

describe('the bookkeeping table', () => {
  it('of other columns: named, with what was expected', async () => {
    await foreign('bk_columns', 'CREATE TABLE {db}.cdrflow_migrations (v String) ENGINE = Memory');
    expect(await refusal(migrate(client, { database: 'bk_columns' }))).toEqual({ kind: 'config', message: expect.stringMatching(/^ClickHouse table bk_columns\.cdrflow_migrations is a Memory, not the ReplacingMergeTree table cdrflow creates/) });
  });

  it('a view that answers like it: named, not taken for migrations edited after they were applied', async () => {
    await foreign('bk_view', `CREATE VIEW {db}.cdrflow_migrations AS SELECT toUInt32(1) AS version, 'x' AS name, 'x' AS checksum, now64(3, 'UTC') AS applied_at`);
    expect(await refusal(migrate(client, { database: 'bk_view' }))).toEqual({ kind: 'config', message: expect.stringMatching(/^ClickHouse table bk_view\.cdrflow_migrations is a View, not the ReplacingMergeTree table/) });
  });

  it('ahead of the code (a newer cdrflow migrated the database, then a rollback): said, naming the versions, and used as it is', async () => {
    await migrate(client, { database: 'ahead' });
    await run(`INSERT INTO ahead.cdrflow_migrations VALUES (10, 'future', 'x', now64(3)), (11, 'later', 'y', now64(3))`);
    const lines: string[] = [];
    const result = await migrate(client, { database: 'ahead' }, (line) => lines.push(line));
    expect(result.applied).toEqual([]);
    expect(lines).toContain('ahead.cdrflow_migrations records migration(s) 0010, 0011, which this cdrflow does not have (it has 0001..0009): a newer cdrflow migrated ahead; its tables are used as they are');
    await assertTableReady(client, 'ahead', 'cdr');
  });
});

describe("the sink's start against a table changed after it was migrated", () => {
  it.each([
    ['a column of another type', 'ALTER TABLE {db}.cdr MODIFY COLUMN billable_minutes String', /^ClickHouse table \w+\.cdr has column\(s\) of another type than cdrflow writes: billable_minutes is String, expected Int32/],
    ['a view in its place', 'RENAME TABLE {db}.cdr TO {db}.cdr_old; CREATE VIEW {db}.cdr AS SELECT * FROM {db}.cdr_old', /^ClickHouse table \w+\.cdr is a View, not the ReplacingMergeTree table/],
    ['a column dropped', 'ALTER TABLE {db}.cdr DROP COLUMN room_id', /^\w+\.cdr lacks column\(s\) room_id; run `cdrflow migrate`$/],
  ])('%s: refused', async (_, change, said) => {
    const db = `changed_${_.replaceAll(' ', '_')}`;
    await migrate(client, { database: db });
    for (const statement of change.split('; ')) await run(statement.replaceAll('{db}', db));
    expect(await refusal(assertTableReady(client, db, 'cdr'))).toEqual({ kind: 'config', message: expect.stringMatching(said) });
  });

  it('the dead letters table is held to its own shape', async () => {
    await migrate(client, { database: 'dl' });
    await run('ALTER TABLE dl.cdr_dead_letters MODIFY COLUMN original_size String');
    expect(await refusal(assertTableReady(client, 'dl', 'cdr_dead_letters', ['original_size'], 'cdr_dead_letters'))).toMatchObject({ message: expect.stringContaining('original_size is String, expected UInt32') });
  });
});
