// The shape the migrations give each table (engine, column names and types), read from their own SQL, and the check
// of a table that is there against it. `CREATE TABLE IF NOT EXISTS` leaves a table of the same name alone whatever it
// holds, so without this check a table someone else made (other types, another engine, a view) was taken for ours:
// migrated further (a materialized view on it, a column added) and written to. The same for views
// (`CREATE [MATERIALIZED] VIEW IF NOT EXISTS`): a table or another kind of view under a view's name was left in place,
// so analytics read something else, or the legs table was never filled.
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { LOOKUP_READ, readRows } from '../../core/clickhouse.ts';
import { CdrflowError } from '../../core/errors.ts';
import { classifyClickHouseError } from './errors.ts';

export interface TableShape {
  /** The engine the migration names (ReplacingMergeTree); its Replicated / Shared forms and Distributed are it too. */
  engine: string;
  /** Column name -> type, as ClickHouse writes types in system.columns. */
  columns: Map<string, string>;
}

/** One line for a type, as system.columns shows it: whitespace runs made one space, none inside parentheses' edges. */
const normalType = (type: string) => type.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim();

/** The end of the balanced parenthesis that opens at `from` (quotes respected), or -1. */
function closing(text: string, from: number): number {
  let depth = 0;
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** The top-level comma-separated items of a column list. */
function items(list: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === '(' || list[i] === "'") {
      const end = list[i] === '(' ? closing(list, i) : list.indexOf("'", i + 1);
      if (end < 0) break;
      i = end;
    } else if (list[i] === ',') {
      out.push(list.slice(start, i));
      start = i + 1;
    }
  }
  out.push(list.slice(start));
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/** `name Type …` -> [name, Type]: the type is its first word and that word's parenthesis. */
function column(item: string): [string, string] | undefined {
  const m = /^(\w+)\s+(\w+)/.exec(item);
  if (!m || /^(CONSTRAINT|INDEX|PROJECTION)$/i.test(m[1]!)) return undefined;
  let end = m[0].length;
  if (item[end] === '(') end = closing(item, end) + 1;
  return [m[1]!, normalType(item.slice(m[0].length - m[2]!.length, end))];
}

/** The shape of every table the statements create, with the columns later statements add, by table name. */
export function declaredShapes(statements: readonly string[]): Map<string, TableShape> {
  const shapes = new Map<string, TableShape>();
  for (const raw of statements) {
    const s = raw.replace(/--[^\n]*/g, '');
    const create = /^\s*CREATE TABLE (?:IF NOT EXISTS )?\{db\}\.(\w+)\s*\(/i.exec(s);
    if (create) {
      const open = create[0].length - 1;
      const columns = new Map(items(s.slice(open + 1, closing(s, open))).map(column).filter((c) => c !== undefined));
      const engine = /\bENGINE\s*=\s*(\w+)/i.exec(s.slice(closing(s, open)))?.[1] ?? '';
      shapes.set(create[1]!, { engine, columns });
      continue;
    }
    const add = /^\s*ALTER TABLE \{db\}\.(\w+) ADD COLUMN (?:IF NOT EXISTS )?([\s\S]*)$/i.exec(s);
    const added = add ? column(add[2]!.trim()) : undefined;
    if (add && added) shapes.get(add[1]!)?.columns.set(...added);
  }
  return shapes;
}

/** True when `actual` is the engine `declared`, as written or in its cluster forms. */
const sameEngine = (actual: string, declared: string) => [declared, `Replicated${declared}`, `Shared${declared}`, 'Distributed'].includes(actual);

/**
 * Refuses a table that is not the shape the migrations give it: missing, another engine (a view), a column of
 * `columns` missing or of another type. Extra columns are fine (every insert names its columns). The one error names
 * the table, each column and what was expected; `missingHint` is what to do about a table or column not there yet.
 */
export async function assertTableShape(
  client: ClickHouseClient,
  database: string,
  table: string,
  shape: TableShape,
  columns: readonly string[],
  missingHint: string,
): Promise<void> {
  let engine: string | undefined;
  let actual: Map<string, string>;
  try {
    const [found] = await readRows(client, {
      query: 'SELECT engine FROM system.tables WHERE database = {db:String} AND name = {table:String}',
      params: { db: database, table },
      what: `the engine of ${database}.${table}`,
      row: z.object({ engine: z.string() }),
      bounds: LOOKUP_READ,
    });
    engine = found?.engine;
    const rows = await readRows(client, {
      query: 'SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {table:String}',
      params: { db: database, table },
      what: `the columns of ${database}.${table}`,
      row: z.object({ name: z.string(), type: z.string() }),
      bounds: LOOKUP_READ,
    });
    actual = new Map(rows.map((r) => [r.name, r.type]));
  } catch (err) {
    throw classifyClickHouseError(err);
  }
  const name = `ClickHouse table ${database}.${table}`;
  if (engine === undefined) throw new CdrflowError('config', `${name} does not exist; ${missingHint}`);
  if (!sameEngine(engine, shape.engine)) {
    throw new CdrflowError('config', `${name} is a ${engine}, not the ${shape.engine} table cdrflow creates; it was not made by cdrflow: use another database, or move that ${engine} out of the way`);
  }
  const missing = columns.filter((c) => !actual.has(c));
  const wrong = columns.filter((c) => actual.has(c) && shape.columns.has(c) && normalType(actual.get(c)!) !== shape.columns.get(c));
  if (wrong.length > 0) {
    const each = wrong.map((c) => `${c} is ${actual.get(c)}, expected ${shape.columns.get(c)}`);
    throw new CdrflowError('config', `${name} has column(s) of another type than cdrflow writes: ${each.join('; ')}; it was not made by cdrflow: use another database, or move that table out of the way`);
  }
  if (missing.length > 0) throw new CdrflowError('config', `${database}.${table} lacks column(s) ${missing.join(', ')}; ${missingHint}`);
}

export interface ViewShape {
  /** As system.tables names it. */
  engine: 'View' | 'MaterializedView';
  /** `database.table` a materialized view writes TO, when the migration names one. */
  to?: string;
}

/**
 * The views rendered statements (`renderAll`: database and cluster form filled in, so a materialized view's TO is the
 * table it writes on this target) create, by name.
 */
export function declaredViews(statements: readonly string[]): Map<string, ViewShape> {
  const views = new Map<string, ViewShape>();
  for (const raw of statements) {
    const m = /^\s*CREATE (?:OR REPLACE )?(MATERIALIZED )?VIEW (?:IF NOT EXISTS )?\w+\.(\w+)(?: ON CLUSTER '[^']*')?(?:\s+TO\s+(\w+\.\w+))?/i.exec(raw.replace(/--[^\n]*/g, ''));
    if (m) views.set(m[2]!, m[1] ? { engine: 'MaterializedView', ...(m[3] ? { to: m[3] } : {}) } : { engine: 'View' });
  }
  return views;
}

/** What is under a view's name, in the words of the refusal: `a View`, `a MaterializedView writing to db.t`. */
function whatIs(engine: string, to: string | undefined): string {
  if (engine !== 'MaterializedView') return `a ${engine}`;
  return `a MaterializedView writing to ${to ?? 'a table of its own'}`;
}

/**
 * Refuses what has a view's name when it is not the view the migration makes: missing, a table, the other kind of
 * view, or a materialized view writing to another table than the one the migration names (read from its CREATE
 * statement in system.tables). The SELECT itself is not compared.
 */
export async function assertViewShape(client: ClickHouseClient, database: string, view: string, shape: ViewShape, missingHint: string): Promise<void> {
  let found: { engine: string; create_table_query: string } | undefined;
  try {
    [found] = await readRows(client, {
      query: 'SELECT engine, create_table_query FROM system.tables WHERE database = {db:String} AND name = {view:String}',
      params: { db: database, view },
      what: `what ${database}.${view} is`,
      row: z.object({ engine: z.string(), create_table_query: z.string() }),
      bounds: LOOKUP_READ,
    });
  } catch (err) {
    throw classifyClickHouseError(err);
  }
  const name = `ClickHouse view ${database}.${view}`;
  if (found === undefined) throw new CdrflowError('config', `${name} does not exist; ${missingHint}`);
  const to = /^CREATE MATERIALIZED VIEW \S+ TO (\S+)/i.exec(found.create_table_query)?.[1]?.replaceAll('`', '');
  if (found.engine !== shape.engine || (shape.to !== undefined && to !== shape.to)) {
    const actual = whatIs(found.engine, to);
    const expected = shape.to === undefined ? `the ${shape.engine}` : `the MaterializedView writing to ${shape.to}`;
    throw new CdrflowError('config', `${name} is ${actual}, not ${expected} cdrflow creates; it was not made by cdrflow: use another database, or move that ${found.engine} out of the way`);
  }
}
