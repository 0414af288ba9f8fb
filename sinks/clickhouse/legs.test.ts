// `cdr_legs` keeps every leg of a call as a row of its own, legs that share a `sequence` included (CCC allows it:
// MAPPING.md), once ClickHouse has merged; and a database migrated before migration 0009, rows and all, migrates to
// the same table. On the embedded engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { insertCdrs } from './insert.ts';
import { migrate } from './migrations.ts';
import { embeddedClickHouse } from '../../test/helpers.ts';

let client: ClickHouseClient;
let closeClickHouse: () => Promise<void>;

beforeAll(async () => {
  ({ client, close: closeClickHouse } = await embeddedClickHouse('legs'));
});
afterAll(() => closeClickHouse());

const read = async <T>(query: string) => (await client.query({ query, format: 'JSONEachRow' })).json<T>();

/** A CCC call (sampleCdr(0) is one) whose legs have these sequences, received at `receivedAt` (its version). */
function call(sequences: number[], receivedAt: Date): NormalizedCdr {
  const base = sampleCdr(0);
  const leg = base.legs[0]!;
  return { ...base, received_at: receivedAt, legs: sequences.map((sequence, k) => ({ ...leg, sequence, agent: `agent${k}@example.com` })) };
}
async function insert(db: string, cdr: NormalizedCdr, offset: number) {
  await insertCdrs(client, `${db}.cdr`, [{ cdr, at: { topic: 'cdr.normalized', partition: 0, offset } }], 'TabSeparated', `cdr.normalized:0:${offset}`);
}
/** The legs `cdr_legs` holds once merged, in key order. */
async function mergedLegs(db: string) {
  await client.command({ query: `OPTIMIZE TABLE ${db}.cdr_legs FINAL` });
  return read<{ sequence: number; agent: string }>(`SELECT sequence, agent FROM ${db}.cdr_legs ORDER BY cdr_id, sequence, agent`);
}

// Sequences 1, 1, 2: the second leg shares the first's (a CCC `1#2`, or a leg without one whose list position is 1).
const shared = [1, 1, 2];
const legsOf = (agents: number[]) => agents.map((k) => ({ sequence: shared[k], agent: `agent${k}@example.com` }));

describe('cdr_legs', () => {
  it('keeps two legs of one call that share a sequence as two rows after a merge', async () => {
    await migrate(client, { database: 'fresh' });
    await insert('fresh', call(shared, new Date(Date.UTC(2024, 4, 1, 1))), 0);
    expect(await mergedLegs('fresh')).toEqual(legsOf([0, 1, 2]));
    // A replay of the call (a later version) replaces each leg's row instead of adding to it.
    await insert('fresh', call(shared, new Date(Date.UTC(2024, 4, 1, 2))), 1);
    expect(await mergedLegs('fresh')).toEqual(legsOf([0, 1, 2]));
  });

  it('of a database migrated before keeps its rows, and a replay of a call replaces them and brings a merged-away leg back', async () => {
    await migrate(client, { database: 'older' }, () => {}, 8);
    await insert('older', call(shared, new Date(Date.UTC(2024, 4, 1, 1))), 0);
    const before = await mergedLegs('older');
    // What the old key did: the two legs of sequence 1 became one row.
    expect(before).toHaveLength(2);

    expect((await migrate(client, { database: 'older' })).applied).toEqual([9]);
    expect(await mergedLegs('older')).toEqual(before);
    await insert('older', call(shared, new Date(Date.UTC(2024, 4, 1, 2))), 1);
    expect(await mergedLegs('older')).toEqual(legsOf([0, 1, 2]));
  });

  // Compares the databases the two tests above made: `fresh` migrated at once, `older` through 0008 and then on.
  it('is the same table and view whether migrated fresh or forward', async () => {
    const shape = async (db: string) => ({
      columns: await read(`SELECT name, type, default_expression, is_in_sorting_key, is_in_primary_key FROM system.columns WHERE database = '${db}' AND table = 'cdr_legs' ORDER BY position`),
      tables: (await read<{ name: string; sql: string }>(`SELECT name, create_table_query AS sql FROM system.tables WHERE database = '${db}' AND name IN ('cdr_legs', 'cdr_legs_mv') ORDER BY name`))
        .map((t) => ({ ...t, sql: t.sql.replaceAll(`${db}.`, 'DB.') })),
    });
    const fresh = await shape('fresh');
    expect(fresh.tables.map((t) => t.sql).join('\n')).toContain('ORDER BY (cdr_id, sequence, sequence_repeat)');
    expect(await shape('older')).toEqual(fresh);
  });
});
