// Turns the migration SQL (written for one server) into the statements to run: either as written, or in cluster
// form (ON CLUSTER, Replicated* engines on `<table>_local`, a Distributed table under the original name). Views and
// inserts keep using the original names, so on a cluster they read and write through the Distributed tables.
import { sqlString } from '../../core/clickhouse.ts';
import { quote } from '../../core/input-limits.ts';

export interface RenderTarget {
  database: string;
  /** ClickHouse cluster name from remote_servers; undefined = single server (or the embedded engine). */
  cluster?: string | undefined;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function assertIdentifier(what: string, value: string): string {
  // Quoted and escaped: the name comes from a flag or a config (`migrate --database`), and a newline in it must not
  // break the one-line message.
  if (!IDENT.test(value)) throw new Error(`${what} ${quote(value)} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`);
  return value;
}

/** Splits a migration file into statements (a `;` ending a line ends a statement); comment-only chunks are dropped. */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;[ \t]*(?:\r?\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('--')));
}

/** Names of the MergeTree-family tables a set of statements creates (they become `<name>_local` on a cluster). */
export function mergeTreeTables(statements: string[]): Set<string> {
  const tables = new Set<string>();
  for (const s of statements) {
    const m = /^(?:--[^\n]*\n\s*)*CREATE TABLE (?:IF NOT EXISTS )?\{db\}\.(\w+)[\s\S]*?\bENGINE\s*=\s*\w*MergeTree\b/i.exec(s);
    if (m) tables.add(m[1]!);
  }
  return tables;
}

/** Renders statements for the target; `localTables` are the MergeTree tables of all migrations (see mergeTreeTables). */
export function renderStatements(statements: string[], target: RenderTarget, localTables: Set<string>): string[] {
  const db = assertIdentifier('database', target.database);
  const out: string[] = [];
  for (const raw of statements) {
    const statement = stripLeadingComments(raw);
    if (target.cluster === undefined) {
      out.push(statement.replaceAll('{db}', db));
      continue;
    }
    const cluster = assertIdentifier('cluster', target.cluster);
    for (const s of clusterForm(statement, cluster, localTables)) out.push(s.replaceAll('{db}', db).replaceAll('{dbname}', sqlString(db)));
  }
  return out;
}

function stripLeadingComments(statement: string): string {
  const lines = statement.split('\n');
  while (lines.length > 0 && (lines[0]!.trim() === '' || lines[0]!.trim().startsWith('--'))) lines.shift();
  return lines.join('\n');
}

function onCluster(cluster: string) {
  return ` ON CLUSTER ${sqlString(cluster)}`;
}

function clusterForm(statement: string, cluster: string, localTables: Set<string>): string[] {
  const on = onCluster(cluster);

  let m = /^CREATE DATABASE (IF NOT EXISTS )?(\{db\}|\w+)/i.exec(statement);
  if (m) return [insertAfter(statement, m[0], on)];

  m = /^CREATE TABLE (IF NOT EXISTS )?\{db\}\.(\w+)/i.exec(statement);
  if (m) {
    const table = m[2]!;
    const engine = /\bENGINE\s*=\s*(\w*MergeTree)\s*(?:\(([^)]*)\))?/i.exec(statement);
    if (!engine) return [insertAfter(statement, m[0], on)];
    const [engineText, engineName, engineArgs] = engine;
    const local = `${table}_local`;
    const zkPath = sqlString(`/clickhouse/tables/{shard}/{database}/${local}`);
    const args = [zkPath, sqlString('{replica}'), ...(engineArgs?.trim() ? [engineArgs.trim()] : [])].join(', ');
    const localSql = insertAfter(statement.replace(m[0], `CREATE TABLE ${m[1] ?? ''}{db}.${local}`), `{db}.${local}`, on)
      .replace(engineText, `ENGINE = Replicated${engineName}(${args})`)
      // Replicated tables deduplicate inserts through Keeper; their window setting has another name.
      .replace(/\bnon_replicated_deduplication_window\b/g, 'replicated_deduplication_window');
    // Every row of one sorting key lands on one shard, so FINAL / argMax per shard is exact.
    const shardKey = `cityHash64(${firstSortingColumn(statement) ?? 'rand()'})`;
    const distributed =
      `CREATE TABLE ${m[1] ?? ''}{db}.${table}${on} AS {db}.${local}\n` +
      `ENGINE = Distributed(${sqlString(cluster)}, {dbname}, ${sqlString(local)}, ${shardKey})`;
    return [localSql, distributed];
  }

  m = /^CREATE MATERIALIZED VIEW (IF NOT EXISTS )?\{db\}\.(\w+)/i.exec(statement);
  if (m) {
    // A materialized view fires on inserts into the table it selects from; on a cluster those are the local
    // tables on each shard, and it must write to the local target beside them.
    return [insertAfter(localize(statement, localTables), m[0], on)];
  }

  m = /^CREATE (OR REPLACE )?VIEW (IF NOT EXISTS )?\{db\}\.(\w+)/i.exec(statement);
  if (m) return [insertAfter(statement, m[0], on)];

  m = /^ALTER TABLE \{db\}\.(\w+)/i.exec(statement);
  if (m) {
    const table = m[1]!;
    // A materialized view's new query reads and writes the shard-local tables, as its CREATE does.
    if (!localTables.has(table)) return [insertAfter(/\bMODIFY QUERY\b/i.test(statement) ? localize(statement, localTables) : statement, m[0], on)];
    const local = insertAfter(statement.replace(m[0], `ALTER TABLE {db}.${table}_local`), `{db}.${table}_local`, on);
    // Column changes must reach the Distributed table too, or it keeps serving the old structure; a sorting key
    // changed in the same ALTER (a column added to it) is the local table's alone: a Distributed table has none.
    const touchesColumns = /\b(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b/i.test(statement);
    const distributed = statement.replace(/,\s*MODIFY ORDER BY\s*(\([^)]*\)|[\w.]+)/i, '');
    return touchesColumns ? [local, insertAfter(distributed, m[0], on)] : [local];
  }

  m = /^DROP (TABLE|VIEW|DICTIONARY) (IF EXISTS )?\{db\}\.(\w+)/i.exec(statement);
  if (m) {
    const dropped = [insertAfter(statement, m[0], on)];
    if (localTables.has(m[3]!)) dropped.push(`DROP TABLE ${m[2] ?? ''}{db}.${m[3]}_local${on}`);
    return dropped;
  }

  // INSERT / SELECT / SYSTEM ... go through the Distributed tables unchanged.
  return [statement];
}

function insertAfter(statement: string, head: string, text: string): string {
  const at = statement.indexOf(head);
  if (at < 0) throw new Error(`cluster render: "${head}" not found in statement`);
  return statement.slice(0, at + head.length) + text + statement.slice(at + head.length);
}

function localize(statement: string, localTables: Set<string>): string {
  return statement.replace(/\{db\}\.(\w+)/g, (whole, name: string, offset: number) => {
    // The view's own name stays; every table it reads or writes becomes the shard-local one.
    const before = statement.slice(0, offset);
    if (/CREATE MATERIALIZED VIEW (IF NOT EXISTS )?$/i.test(before)) return whole;
    return localTables.has(name) ? `{db}.${name}_local` : whole;
  });
}

function firstSortingColumn(statement: string): string | undefined {
  const m = /\bORDER BY\s+(\(([^)]*)\)|([\w.]+))/i.exec(statement);
  if (!m) return undefined;
  const list = m[2] ?? m[3] ?? '';
  const first = list.split(',')[0]?.trim();
  return first === '' || first === 'tuple()' ? undefined : first;
}
