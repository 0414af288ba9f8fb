// The one place that creates ClickHouse clients. Everything speaks @clickhouse/client; by default the engine is
// embedded (chdb, ClickHouse in-process, plugged in through `chdb/connection`), or an HTTP server; which one, and
// where, is the config's (app/config.ts endpoints()).
//
// Embedded caveats (checked by core/clickhouse.test.ts):
// - One data directory per process: the engine is a process singleton; opening a second path while one is live
//   throws "only one active data directory per process". Two clients on the same path share the same engine.
//   A table written by one process cannot be read by another process at the same time: run the writer in-process
//   or use a ClickHouse server (CLICKHOUSE_URL) for multi-process setups.
// - `clickhouse_settings` persist on the embedded session: after one insert with `insert_deduplication_token`, a
//   later insert of *different* rows without a token reuses the old token and is silently dropped as a duplicate.
//   This factory therefore sends `insert_deduplication_token: ''` with every request unless the caller sets one.
// - 64-bit integers come back as JSON numbers (losing precision above 2^53) where a server quotes them; the factory
//   asks for quoted 64-bit integers (the server's default too), so read them with Number()/BigInt() either way.
// - The current database is per process too (see createClickHouse): qualify table names when mixing databases.
// - The engine's time zone is the process's: run with TZ=UTC (the vitest config does).
import { mkdirSync } from 'node:fs';
import { createClient } from '@clickhouse/client';
import type { ClickHouseClient, ClickHouseClientConfigOptions, ClickHouseSettings } from '@clickhouse/client';
import { CdrflowError } from './errors.ts';

export type ClickHouseTarget =
  | { kind: 'embedded'; dataDir: string; database: string }
  | { kind: 'http'; url: string; username: string; password: string; database: string };

// Sent with every request so both engines behave alike; a caller's per-request settings override these.
const COMMON_SETTINGS: ClickHouseSettings = {
  insert_deduplication_token: '',
  output_format_json_quote_64bit_integers: 1,
};

export async function createClickHouse(target: ClickHouseTarget): Promise<ClickHouseClient> {
  if (target.kind === 'http') {
    return createClient({
      url: target.url,
      username: target.username,
      password: target.password,
      database: target.database,
      clickhouse_settings: COMMON_SETTINGS,
    });
  }
  mkdirSync(target.dataDir, { recursive: true });
  // Loaded lazily: the native engine is large and HTTP users never need it.
  const { createChdbConnection } = await import('chdb/connection');
  // chdb types its Connection against @clickhouse/client-common, while @clickhouse/client 1.23 bundles its own copy
  // of those types; they match at run time but not structurally under exactOptionalPropertyTypes.
  let connection: NonNullable<ClickHouseClientConfigOptions['connection']>;
  try {
    connection = createChdbConnection({ path: target.dataDir }) as unknown as typeof connection;
  } catch (err) {
    throw new CdrflowError(
      'config',
      `cannot open embedded ClickHouse at ${target.dataDir}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const client = createClient({ connection, database: target.database, clickhouse_settings: COMMON_SETTINGS });
  if (target.database !== 'default') {
    // chdb/connection ignores the client's `database` option, and the session is shared by every client in the
    // process, so `USE` switches the current database for all of them: with several databases in one process,
    // qualify table names (`db.table`) instead of relying on the current database.
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(target.database)}` });
    await client.command({ query: `USE ${quoteIdentifier(target.database)}` });
  }
  return client;
}

export function quoteIdentifier(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}
