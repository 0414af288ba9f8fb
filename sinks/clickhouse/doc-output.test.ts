// docs/stream-stages.md shows "real output" of the tables and views for the normalize fixtures: every query there is
// run here over the fixtures' normalized CDRs (their *.out.json, which transforms/normalize/fixtures.test.ts holds to
// what normalize gives), on the embedded engine, and must print exactly the table the document shows.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { isVendor } from '../../core/topology.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { insertCdrs } from './insert.ts';
import { migrate } from './migrations.ts';
import { embeddedClickHouse } from '../../test/helpers.ts';

const FIXTURES = fileURLToPath(new URL('../../transforms/normalize/fixtures/', import.meta.url));
const DOC = readFileSync(fileURLToPath(new URL('../../docs/stream-stages.md', import.meta.url)), 'utf8');

const dates = (o: Record<string, unknown>, keys: readonly string[]) => {
  for (const k of keys) if (typeof o[k] === 'string') o[k] = new Date(o[k]);
  return o;
};
/** A CDR as JSON wrote it, its times (ISO text there) Dates again; the extras' values stay text whatever their key. */
const revived = (cdr: Record<string, unknown>): NormalizedCdr => {
  for (const leg of cdr['legs'] as Record<string, unknown>[]) dates(leg, ['started_at', 'ringing_at', 'answered_at', 'ended_at']);
  for (const key of cdr['ivr_keys'] as Record<string, unknown>[]) dates(key, ['at']);
  return dates(cdr, ['started_at', 'queued_at', 'ringing_at', 'answered_at', 'ended_at', 'received_at']) as unknown as NormalizedCdr;
};

/** The normalized CDRs of every fixture that maps to one; their times are Dates again (JSON wrote them as ISO text). */
function fixtureCdrs(): NormalizedCdr[] {
  const cdrs: NormalizedCdr[] = [];
  for (const vendor of readdirSync(FIXTURES).filter(isVendor).sort()) {
    for (const file of readdirSync(join(FIXTURES, vendor)).filter((f) => f.endsWith('.out.json')).sort()) {
      const out = JSON.parse(readFileSync(join(FIXTURES, vendor, file), 'utf8')) as { ok: boolean; cdr?: Record<string, unknown> };
      if (out.ok) cdrs.push(revived(out.cdr!));
    }
  }
  return cdrs;
}

/** The document's "Real output" section: each ```sql block and the result block after it. */
function shownQueries(): { sql: string; shown: string }[] {
  const section = DOC.slice(DOC.indexOf('Real output'), DOC.indexOf('\n## ', DOC.indexOf('Real output')));
  return [...section.matchAll(/```sql\n(.*?)\n```\n```\n(.*?)\n```/gs)].map((m) => ({ sql: m[1]!, shown: m[2]! }));
}

let client: ClickHouseClient;
let closeClickHouse: () => Promise<void>;

beforeAll(async () => {
  ({ client, close: closeClickHouse } = await embeddedClickHouse('doc-output'));
  await migrate(client, { database: 'cdrflow' });
  const cdrs = fixtureCdrs();
  await insertCdrs(client, 'cdrflow.cdr', cdrs.map((cdr, offset) => ({ cdr, at: { topic: 'cdr.normalized', partition: 0, offset } })), 'TabSeparated', `cdr.normalized:0:0-${cdrs.length - 1}`);
});
afterAll(() => closeClickHouse());

describe('docs/stream-stages.md, "Real output"', () => {
  const queries = shownQueries();

  it('shows the five queries of the section', () => {
    expect(queries.map((q) => q.sql.split(' FROM ')[1]!.split(' ')[0])).toEqual(['cdrflow.cdr', 'cdrflow.cdr_daily', 'cdrflow.cdr_hourly', 'cdrflow.cdr_end_status', 'cdrflow.cdr_legs_current']);
  });

  it.each(queries.map((q, i) => [i + 1, q] as const))('query %i prints what the document shows', async (_, { sql, shown }) => {
    const rs = await client.query({
      query: sql,
      // The engine's own table printout, as the document quotes it.
      format: 'PrettyCompactMonoBlock' as 'JSONEachRow',
      clickhouse_settings: { output_format_pretty_row_numbers: 1, output_format_pretty_color: 0 },
    });
    expect((await rs.text()).trimEnd()).toBe(shown);
  });
});
