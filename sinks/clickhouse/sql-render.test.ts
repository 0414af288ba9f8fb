import { describe, expect, it } from 'vitest';
import { loadMigrations, renderAll } from './migrations.ts';
import { mergeTreeTables, renderStatements, splitStatements } from './sql-render.ts';

const all = (cluster?: string) => renderAll({ database: 'analytics', cluster }).flatMap((s) => s.statements);

describe('migration SQL rendering', () => {
  it('numbers migrations without gaps and splits them into statements', () => {
    const migrations = loadMigrations();
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
    for (const m of migrations) for (const s of m.statements) expect(s).not.toMatch(/;\s*$/);
    expect(splitStatements('-- only a comment\n;\nSELECT 1;\n-- c\nSELECT 2')).toEqual(['SELECT 1', '-- c\nSELECT 2']);
  });

  it('single-server form keeps engines and only substitutes the database', () => {
    const sql = all();
    expect(sql.join('\n')).not.toContain('{db}');
    expect(sql.join('\n')).not.toContain('ON CLUSTER');
    const cdr = sql.find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS analytics.cdr\n'))!;
    expect(cdr).toContain('ENGINE = ReplacingMergeTree(version)');
    expect(cdr).toContain('PARTITION BY toYYYYMM(coalesce(started_at, received_at))');
    expect(cdr).toContain('non_replicated_deduplication_window');
    for (const view of ['cdr_daily', 'cdr_hourly', 'cdr_end_status']) {
      expect(sql.find((s) => s.includes(`VIEW IF NOT EXISTS analytics.${view} AS`))).toMatch(/FROM analytics\.cdr (AS c )?FINAL/);
    }
  });

  it('cluster form: Replicated local tables, Distributed tables sharded by the first sorting column, ON CLUSTER everywhere', () => {
    const sql = all('prod');
    for (const s of sql.filter((x) => /^(CREATE|ALTER|DROP)/.test(x))) expect(s).toContain(" ON CLUSTER 'prod'");

    const local = sql.find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS analytics.cdr_local '))!;
    expect(local).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/cdr_local', '{replica}', version)");
    expect(local).toContain('replicated_deduplication_window = 10000');
    expect(local).not.toContain('non_replicated_deduplication_window');
    expect(local).toContain('ORDER BY cdr_id');

    expect(sql).toContain(
      "CREATE TABLE IF NOT EXISTS analytics.cdr ON CLUSTER 'prod' AS analytics.cdr_local\nENGINE = Distributed('prod', 'analytics', 'cdr_local', cityHash64(cdr_id))",
    );
    // Legs are sharded like their calls (first sorting column), so a call and its legs live on one shard.
    expect(sql).toContain(
      "CREATE TABLE IF NOT EXISTS analytics.cdr_legs ON CLUSTER 'prod' AS analytics.cdr_legs_local\nENGINE = Distributed('prod', 'analytics', 'cdr_legs_local', cityHash64(cdr_id))",
    );
    const mv = sql.find((s) => s.includes('MATERIALIZED VIEW'))!;
    expect(mv).toMatch(/^CREATE MATERIALIZED VIEW IF NOT EXISTS analytics\.cdr_legs_mv ON CLUSTER 'prod' TO analytics\.cdr_legs_local AS/);
    expect(mv).toContain('FROM analytics.cdr_local\n');
    // Views read the Distributed table, under its original name.
    const daily = sql.find((s) => s.includes('analytics.cdr_daily'))!;
    expect(daily).toContain("CREATE VIEW IF NOT EXISTS analytics.cdr_daily ON CLUSTER 'prod' AS");
    expect(daily).toContain('FROM analytics.cdr AS c FINAL');
    expect(sql[0]).toBe("CREATE DATABASE IF NOT EXISTS analytics ON CLUSTER 'prod'");
  });

  it('cluster form of ALTER touches the local table, and the Distributed one for column changes', () => {
    const local = mergeTreeTables(['CREATE TABLE {db}.t (a Int8) ENGINE = MergeTree ORDER BY a']);
    expect(renderStatements(['ALTER TABLE {db}.t ADD COLUMN b Int8'], { database: 'd', cluster: 'c' }, local)).toEqual([
      "ALTER TABLE d.t_local ON CLUSTER 'c' ADD COLUMN b Int8",
      "ALTER TABLE d.t ON CLUSTER 'c' ADD COLUMN b Int8",
    ]);
    expect(renderStatements(['ALTER TABLE {db}.t MODIFY TTL x'], { database: 'd', cluster: 'c' }, local)).toEqual(["ALTER TABLE d.t_local ON CLUSTER 'c' MODIFY TTL x"]);
    // A column added to the sorting key in the same ALTER: the Distributed table (no sorting key) gets the column only.
    expect(renderStatements(['ALTER TABLE {db}.t ADD COLUMN b Int8, MODIFY ORDER BY (a, b)'], { database: 'd', cluster: 'c' }, local)).toEqual([
      "ALTER TABLE d.t_local ON CLUSTER 'c' ADD COLUMN b Int8, MODIFY ORDER BY (a, b)",
      "ALTER TABLE d.t ON CLUSTER 'c' ADD COLUMN b Int8",
    ]);
    // A materialized view's new query reads and writes the shard-local tables, as the one it replaces did.
    expect(renderStatements(['ALTER TABLE {db}.v MODIFY QUERY SELECT a FROM {db}.t'], { database: 'd', cluster: 'c' }, local)).toEqual([
      "ALTER TABLE d.v ON CLUSTER 'c' MODIFY QUERY SELECT a FROM d.t_local",
    ]);
    expect(renderStatements(['DROP TABLE IF EXISTS {db}.t'], { database: 'd', cluster: 'c' }, local)).toEqual([
      "DROP TABLE IF EXISTS d.t ON CLUSTER 'c'",
      "DROP TABLE IF EXISTS d.t_local ON CLUSTER 'c'",
    ]);
    expect(renderStatements(['INSERT INTO {db}.t VALUES (1)'], { database: 'd', cluster: 'c' }, local)).toEqual(['INSERT INTO d.t VALUES (1)']);
  });

  it('refuses names that would need quoting', () => {
    expect(() => renderAll({ database: 'a; DROP TABLE x' })).toThrow(/plain identifier/);
    expect(() => renderAll({ database: 'ok', cluster: "p'q" })).toThrow(/plain identifier/);
  });

  it('names a refused name escaped, on one line (`migrate --database` echoed a newline raw)', () => {
    expect(() => renderAll({ database: 'fuzz\nsecond line' })).toThrow('database "fuzz\\nsecond line" is not a plain identifier');
  });
});
