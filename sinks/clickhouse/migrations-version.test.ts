// The oldest ClickHouse the migrations run on (MIN_CLICKHOUSE): an older one is refused with one line before any
// migration is applied to it. The engine below is the embedded one, its version() answered as an older server's.
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameEngine } from '../../core/clickhouse.ts';
import { embeddedClickHouse, rejection } from '../../test/helpers.ts';
import { clickHouseVersionProblem, loadMigrations, migrate } from './migrations.ts';

const TOO_OLD =
  "ClickHouse 23.8.16.40 is older than 23.11, the oldest the migrations run on: migration 0009 changes a materialized view's query (ALTER TABLE … MODIFY QUERY), which ClickHouse before 23.11 refuses without allow_experimental_alter_materialized_view_structure; upgrade the server to 23.11 or later";

describe('clickHouseVersionProblem', () => {
  it('names the version found, the minimum and why, for a server before 23.11', () => {
    expect(clickHouseVersionProblem('23.8.16.40')).toBe(TOO_OLD);
    expect(clickHouseVersionProblem('23.10.5.20')).toMatch(/^ClickHouse 23\.10\.5\.20 is older than 23\.11,/);
    expect(clickHouseVersionProblem('9.99.1.1')).toMatch(/^ClickHouse 9\.99\.1\.1 is older than 23\.11,/);
  });

  it.each(['23.11.1.2711', '24.3.1.2672', '25.10.2.65-lts', '26.7.2.1', '100.1.1.1'])('takes %s', (version) => {
    expect(clickHouseVersionProblem(version)).toBeUndefined();
  });

  it.each(['', 'unknown', '24', 'v24.3.1'])('refuses %j, which is no version to compare', (version) => {
    expect(clickHouseVersionProblem(version)).toMatch(/^ClickHouse answered version\(\) with ".*", not a version cdrflow can compare with 23\.11/);
  });
});

describe('migrate', () => {
  let client: ClickHouseClient;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ client, close } = await embeddedClickHouse('migrate-version'));
  });
  afterAll(() => close());

  /** The engine, whose version() answers `version`. */
  const answeringVersion = (version: string): ClickHouseClient =>
    sameEngine(
      new Proxy(client, {
        get(target, key) {
          const value: unknown = Reflect.get(target, key, target);
          if (key !== 'exec') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          return (params: Parameters<ClickHouseClient['exec']>[0]) =>
            target.exec(params.query.startsWith('SELECT version()') ? { ...params, query: params.query.replace('version()', `'${version}'`) } : params);
        },
      }),
      client,
    );
  const tables = async (db: string) => (await (await client.query({ query: `SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`, format: 'JSONEachRow' })).json<{ name: string }>()).map((r) => r.name);

  it('refuses a server before 23.11 with one line, a configuration error, before applying any migration', async () => {
    const err = await rejection(migrate(answeringVersion('23.8.16.40'), { database: 'old_server' }));
    expect({ kind: err.kind, message: err.message }).toEqual({ kind: 'config', message: TOO_OLD });
    expect(await tables('old_server')).toEqual(['cdrflow_migrations']);
  });

  it('migrates on 23.11 and later', async () => {
    const result = await migrate(answeringVersion('23.11.1.2711'), { database: 'new_server' });
    expect(result.applied).toHaveLength(loadMigrations().length);
    expect(await tables('new_server')).toContain('cdr_legs_mv');
  });

  it('asks nothing of the server once every migration is applied', async () => {
    await migrate(client, { database: 'migrated' });
    const result = await migrate(answeringVersion('23.8.16.40'), { database: 'migrated' });
    expect(result.applied).toEqual([]);
  });
});
