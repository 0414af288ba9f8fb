// Versioned, idempotent ClickHouse migrations: `migrations/NNNN_name.sql`, applied in order, each recorded in
// `<db>.cdrflow_migrations` with a checksum so an edited, already-applied migration is refused instead of drifting.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { chNumber, INSERT_WRITE_MS, LOOKUP_READ, readRows, runBounded, SCHEMA_WRITE_MS } from '../../core/clickhouse.ts';
import { CdrflowError } from '../../core/errors.ts';
import { quote } from '../../core/input-limits.ts';
import { refreshCodeTables } from './code-tables.ts';
import { classifyClickHouseError } from './errors.ts';
import { mergeTreeTables, renderStatements, splitStatements, type RenderTarget } from './sql-render.ts';
import { assertTableShape, assertViewShape, declaredShapes, declaredViews, type TableShape } from './table-shape.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

const BOOKKEEPING = `CREATE TABLE IF NOT EXISTS {db}.cdrflow_migrations
(
    version     UInt32,
    name        String,
    checksum    String,
    applied_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version`;

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
  const migrations = files.map((file) => {
    const text = readFileSync(dir + '/' + file, 'utf8');
    return {
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      checksum: createHash('sha256').update(text).digest('hex'),
      statements: splitStatements(text),
    };
  });
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new CdrflowError('config', `migrations must be numbered 0001.. without gaps; found ${files[i]} at position ${i + 1}`);
  });
  return migrations;
}

/** The shape of each table once every migration (or those through `through`) ran: what the code writes and reads. */
export function migratedShapes(migrations: Migration[] = loadMigrations()): Map<string, TableShape> {
  return declaredShapes([BOOKKEEPING, ...migrations.flatMap((m) => m.statements)]);
}

/**
 * The oldest ClickHouse the migrations run on as written. Migration 0009 changes its materialized view's query with
 * ALTER TABLE … MODIFY QUERY, which servers before 23.11 refuse unless allow_experimental_alter_materialized_view_structure
 * is set (ClickHouse's changelog, docs/changelogs/v23.11.1.2711-stable.md: "Make alter materialized view non
 * experimental", #57311). Everything else they use (Bool, Map, named tuples, window functions, ReplacingMergeTree with
 * a version, CHECK constraints, non_replicated_deduplication_window) is older.
 */
export const MIN_CLICKHOUSE = { major: 23, minor: 11 } as const;

/** Why ClickHouse `version` (as its version() answers: 24.3.1.2672) cannot run the migrations; undefined when it can. */
export function clickHouseVersionProblem(version: string): string | undefined {
  const min = `${MIN_CLICKHOUSE.major}.${MIN_CLICKHOUSE.minor}`;
  const m = /^(\d+)\.(\d+)\./.exec(version);
  if (!m) return `ClickHouse answered version() with ${quote(version)}, not a version cdrflow can compare with ${min}, the oldest its migrations run on`;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major > MIN_CLICKHOUSE.major || (major === MIN_CLICKHOUSE.major && minor >= MIN_CLICKHOUSE.minor)) return undefined;
  return `ClickHouse ${version} is older than ${min}, the oldest the migrations run on: migration 0009 changes a materialized view's query (ALTER TABLE … MODIFY QUERY), which ClickHouse before ${min} refuses without allow_experimental_alter_materialized_view_structure; upgrade the server to ${min} or later`;
}

/** Refuses (config) a ClickHouse older than MIN_CLICKHOUSE, before a migration is applied to it. */
async function assertClickHouseVersion(client: ClickHouseClient): Promise<void> {
  let rows;
  try {
    rows = await readRows(client, { query: 'SELECT version() AS version', what: "the server's version", row: z.object({ version: z.string() }), bounds: LOOKUP_READ });
  } catch (err) {
    throw classifyClickHouseError(err);
  }
  const problem = clickHouseVersionProblem(rows[0]?.version ?? '');
  if (problem) throw new CdrflowError('config', problem);
}

export interface MigrationPlanStep {
  version: number;
  name: string;
  statements: string[];
}

/** Everything `migrate` would run against an empty database, rendered for the target (`migrate --print`). */
export function renderAll(target: RenderTarget, migrations: Migration[] = loadMigrations()): MigrationPlanStep[] {
  const local = mergeTreeTables([BOOKKEEPING, ...migrations.flatMap((m) => m.statements)]);
  const setup: MigrationPlanStep = {
    version: 0,
    name: 'database and bookkeeping',
    statements: renderStatements(['CREATE DATABASE IF NOT EXISTS {db}', BOOKKEEPING], target, local),
  };
  return [setup, ...migrations.map((m) => ({ version: m.version, name: m.name, statements: renderStatements(m.statements, target, local) }))];
}

export interface MigrateResult {
  applied: number[];
  alreadyApplied: number[];
}

/**
 * Applies every migration not yet recorded. Statements are written with IF NOT EXISTS, so a migration that died half
 * way simply runs again. A recorded migration whose file changed is a config error: write a new migration instead.
 */
export async function migrate(
  client: ClickHouseClient,
  target: RenderTarget,
  log: (line: string) => void = () => {},
  /** Stop after this version (tests of an upgrade start from an older schema); default: all. */
  through: number = Number.POSITIVE_INFINITY,
): Promise<MigrateResult> {
  const migrations = loadMigrations().filter((m) => m.version <= through);
  const [setup, ...steps] = renderAll(target, migrations);
  await runStatements(client, setup!.statements);
  const db = target.database;
  const recorded = new Map<number, string>();
  // A bookkeeping table of the same name that someone else made (other columns, a view) is named as such, not taken
  // for the applied migrations or answered with the read's own error.
  const bookkeeping = (shapes: Map<string, TableShape>) =>
    assertTableShape(client, db, 'cdrflow_migrations', shapes.get('cdrflow_migrations')!, ['version', 'name', 'checksum', 'applied_at'], 'it should have been created just now');
  let applied;
  try {
    applied = await readRows(client, {
      query: `SELECT version, argMax(checksum, applied_at) AS checksum FROM ${db}.cdrflow_migrations GROUP BY version`,
      what: 'the applied migrations',
      row: z.object({ version: chNumber, checksum: z.string() }),
      bounds: LOOKUP_READ,
    });
  } catch (err) {
    if (err instanceof CdrflowError) throw err;
    await bookkeeping(migratedShapes([]));
    throw classifyClickHouseError(err);
  }
  await bookkeeping(migratedShapes([]));
  for (const row of applied) recorded.set(row.version, row.checksum);
  // Recorded versions this code does not have: a newer cdrflow migrated the database (a rollback). Said, not refused:
  // refused, no rollback could start without editing the bookkeeping table by hand; the migrations add, never take
  // away, and the sink's start checks its table's shape against this version's (assertTableReady) all the same.
  const known = loadMigrations().length;
  const newer = [...recorded.keys()].filter((v) => v > known).sort((a, b) => a - b);
  if (newer.length > 0) {
    const name = (v: number) => String(v).padStart(4, '0');
    log(`${db}.cdrflow_migrations records migration(s) ${newer.map(name).join(', ')}, which this cdrflow does not have (it has 0001..${name(known)}): a newer cdrflow migrated ${db}; its tables are used as they are`);
  }

  // Only a migration still to apply needs the server to be recent enough: a database migrated already is used as it is.
  if (migrations.some((m) => !recorded.has(m.version))) await assertClickHouseVersion(client);

  const result: MigrateResult = { applied: [], alreadyApplied: [] };
  for (const [i, step] of steps.entries()) {
    const migration = migrations[i]!;
    const seen = recorded.get(migration.version);
    if (seen !== undefined) {
      if (seen !== migration.checksum) {
        throw new CdrflowError('config', `migration ${migration.version}_${migration.name} was changed after it was applied to ${db}; add a new migration instead of editing it`);
      }
      result.alreadyApplied.push(migration.version);
      continue;
    }
    log(`applying ${String(migration.version).padStart(4, '0')}_${migration.name} (${step.statements.length} statement(s))`);
    await runStatements(client, step.statements);
    // A table or view this migration creates that was there before (IF NOT EXISTS left it alone) must be the one the
    // migration makes, before anything is built on it or it is recorded as ours.
    const shapes = migratedShapes(migrations.slice(0, i + 1));
    const notCreated = `migration ${migration.version}_${migration.name} did not create it`;
    for (const table of declaredShapes(migration.statements).keys()) {
      const shape = shapes.get(table)!;
      await assertTableShape(client, db, table, shape, [...shape.columns.keys()], notCreated);
    }
    for (const [view, shape] of declaredViews(step.statements)) await assertViewShape(client, db, view, shape, notCreated);
    await runBounded(client, {
      what: 'the record of an applied migration',
      ms: INSERT_WRITE_MS,
      table: `${db}.cdrflow_migrations`,
      values: { format: 'JSONEachRow', rows: [{ version: migration.version, name: migration.name, checksum: migration.checksum, applied_at: Date.now() }] },
      // Never let a dedup token from an earlier insert on an embedded connection apply to this one.
      settings: { insert_deduplication_token: '' },
    });
    result.applied.push(migration.version);
  }
  // The code tables follow the code, not the migrations: refresh them on every run.
  const codes = await refreshCodeTables(client, db);
  log(`refreshed ${codes} end-status code rows`);
  return result;
}

async function runStatements(client: ClickHouseClient, statements: string[]): Promise<void> {
  for (const query of statements) {
    try {
      await runBounded(client, { what: 'a migration statement', ms: SCHEMA_WRITE_MS, query });
    } catch (err) {
      const e = classifyClickHouseError(err);
      throw new CdrflowError(e.kind === 'rejected_by_sink' ? 'config' : e.kind, `migration statement failed: ${e.message}\n${query}`, { cause: err });
    }
  }
}
