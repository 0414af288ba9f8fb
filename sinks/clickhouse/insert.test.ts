// Runs against the embedded ClickHouse engine (in-process, no network), one data directory per test file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { CdrflowError } from '../../core/errors.ts';
import { MAX_PARTITIONS_PER_INSERT, insertCdrs, insertLines, packRows, type PositionedCdr } from './insert.ts';
import { Batcher, type RenderedRow } from './batcher.ts';
import { migrate } from './migrations.ts';
import { codeRows } from './code-tables.ts';
import { DEAD_LETTER_COLUMNS, INSERT_FORMATS, cdrLine, deadLetterTsvLine } from './rows.ts';
import { deadLetterForPayload, type DeadLetter } from '../../core/dead-letter.ts';
import { normalizedCdrId, normalizedNaturalKey } from '../../transforms/normalize/identity.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { embeddedClickHouse } from '../../test/helpers.ts';

let client: ClickHouseClient;
let closeClickHouse: () => Promise<void>;

beforeAll(async () => {
  ({ client, close: closeClickHouse } = await embeddedClickHouse('insert'));
});
afterAll(() => closeClickHouse());

const positioned = (from: number, to: number): PositionedCdr[] =>
  Array.from({ length: to - from }, (_, k) => ({ cdr: sampleCdr(from + k), at: { topic: 'cdr.normalized', partition: 0, offset: from + k } }));

async function rows(db: string, extra = ''): Promise<Record<string, unknown>[]> {
  const rs = await client.query({
    query: `SELECT * EXCEPT inserted_at FROM ${db}.cdr ${extra} ORDER BY cdr_id`,
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  return rs.json();
}
const count = async (sql: string) => Number((await (await client.query({ query: sql, format: 'JSONEachRow' })).json<{ c: number }>())[0]!.c);

describe('migrate on the embedded engine', () => {
  it('is idempotent and fills the code tables from the normalize code tables', async () => {
    const first = await migrate(client, { database: 'mig' });
    expect(first.applied.length).toBeGreaterThan(3);
    const again = await migrate(client, { database: 'mig' });
    expect(again).toEqual({ applied: [], alreadyApplied: first.applied });
    expect(await count(`SELECT count() AS c FROM mig.end_status_codes FINAL`)).toBe(codeRows().length);
    expect(await count(`SELECT count() AS c FROM mig.end_status_codes FINAL WHERE vendor = 'tencent-ccc'`)).toBe(45);
    expect(await count(`SELECT count() AS c FROM mig.end_statuses FINAL`)).toBe(11);
    await client.command({ query: `ALTER TABLE mig.cdrflow_migrations UPDATE checksum = 'edited' WHERE version = 1`, clickhouse_settings: { mutations_sync: '1' } });
    await expect(migrate(client, { database: 'mig' })).rejects.toThrow(/changed after it was applied/);
  });
});

describe('insertCdrs on the embedded engine', () => {
  it('every insert format stores exactly the same rows, hostile text included', async () => {
    const batch = positioned(0, 60);
    const stored: Record<string, unknown>[][] = [];
    for (const format of INSERT_FORMATS) {
      const db = `fmt_${format.toLowerCase()}`;
      await migrate(client, { database: db });
      await insertCdrs(client, `${db}.cdr`, batch, format, `cdr.normalized:0:0-59:${format}`);
      stored.push(await rows(db));
    }
    expect(stored[0]).toHaveLength(60);
    for (const other of stored.slice(1)) expect(other).toEqual(stored[0]);
    const first = stored[0]!.find((r) => r['cdr_id'] === batch[1]!.cdr.cdr_id)!;
    expect(first['vendor_status_text']).toBe('normal "clearing"\nline two');
    expect(first['extras']).toEqual({ note: 'tab\there', "quote'key": 'back\\slash', 中文: '值' });
    // batch[1] is a TRTC group call: two app-user callees, one with a backslash.
    expect(first['callees']).toEqual([
      { type: 'APP_USER', value: 'user_1', e164: false, hashed: false, location: null },
      { type: 'APP_USER', value: 'user_2\\x', e164: false, hashed: false, location: null },
    ]);
    expect(first['started_at']).toBe('2024-05-02 01:01:01.007');
    const legs = await count(`SELECT count() AS c FROM fmt_jsoneachrow.cdr_legs FINAL`);
    expect(legs).toBe(batch.filter((b) => b.cdr.vendor === 'tencent-ccc').length * 2);
  });

  it('a repeated token is deduplicated, and a token never leaks into the next insert', async () => {
    const db = 'tokens';
    await migrate(client, { database: db });
    await insertCdrs(client, `${db}.cdr`, positioned(0, 10), 'JSONCompactEachRow', 'cdr.normalized:0:0-9');
    // A retry of the same range: the table's dedup window drops it.
    await insertCdrs(client, `${db}.cdr`, positioned(0, 10), 'JSONCompactEachRow', 'cdr.normalized:0:0-9');
    expect(await count(`SELECT count() AS c FROM ${db}.cdr`)).toBe(10);
    // The next range, and then an insert with no token at all: both must land. On the embedded engine the second
    // one would inherit the previous token (and be dropped) if insertCdrs did not always send one.
    await insertCdrs(client, `${db}.cdr`, positioned(10, 20), 'JSONCompactEachRow', 'cdr.normalized:0:10-19');
    await insertCdrs(client, `${db}.cdr`, positioned(20, 30), 'JSONCompactEachRow', '');
    expect(await count(`SELECT count() AS c FROM ${db}.cdr`)).toBe(30);
    // Untokenized inserts are content-hashed: new rows with the empty token still land.
    await insertCdrs(client, `${db}.cdr`, positioned(30, 31), 'TabSeparated', '');
    expect(await count(`SELECT count() AS c FROM ${db}.cdr`)).toBe(31);
    // Same cdr_ids again under a different range (e.g. a replay): stored twice, counted once through FINAL.
    await insertCdrs(client, `${db}.cdr`, positioned(0, 10), 'JSONEachRow', 'cdr.normalized:0:100-109');
    expect(await count(`SELECT count() AS c FROM ${db}.cdr`)).toBe(41);
    expect(await count(`SELECT count() AS c FROM ${db}.cdr FINAL`)).toBe(31);
    expect(await count(`SELECT sum(calls) AS c FROM ${db}.cdr_daily`)).toBe(31);
  });

  it('classifies a constraint violation as a rejected row and a missing table as a stop', async () => {
    const db = 'rejects';
    await migrate(client, { database: db });
    const bad = { cdr: sampleCdr(0, { end_status: 'ANSWERED', billable_seconds: 120, billable_minutes: 1 }), at: { topic: 'x', partition: 0, offset: 1 } };
    const err = await insertCdrs(client, `${db}.cdr`, [bad], 'JSONCompactEachRow', 'x:0:1-1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('rejected_by_sink');
    expect((err as CdrflowError).message).toMatch(/minutes_from_seconds/);
    const missing = await insertCdrs(client, `${db}.nope`, positioned(0, 1), 'JSONEachRow', '').catch((e: unknown) => e);
    expect((missing as CdrflowError).kind).toBe('config');
  });

  it('classifies a column the table lacks (dropped while the sink runs) as a stop, in every insert format', async () => {
    const db = 'nocolumn';
    await migrate(client, { database: db });
    await client.command({ query: `ALTER TABLE ${db}.cdr DROP COLUMN room_id` });
    for (const format of INSERT_FORMATS) {
      const err = await insertCdrs(client, `${db}.cdr`, positioned(0, 1), format, '').catch((e: unknown) => e);
      expect([format, (err as CdrflowError).kind]).toEqual([format, 'config']);
    }
    expect(await count(`SELECT count() AS c FROM ${db}.cdr`)).toBe(0);
  });
});

describe('calls spread over many months (one partition per month)', () => {
  const spread = (n: number, firstYear: number) =>
    Array.from({ length: n }, (_, i) => sampleCdr(i, { started_at: new Date(Date.UTC(firstYear, i, 1)), queued_at: null, ringing_at: null, answered_at: null, ended_at: null }));

  it('an insert of 150 calls in 150 months is stored whole (ClickHouse refuses more than 100 partitions by default)', async () => {
    const db = 'months';
    await migrate(client, { database: db });
    const cdrs = spread(150, 2001);
    await insertCdrs(client, `${db}.cdr`, cdrs.map((cdr, i) => ({ cdr, at: { topic: 'cdr.normalized', partition: 0, offset: i } })), 'TabSeparated', 'cdr.normalized:0:0-149');
    expect(await count(`SELECT count() AS c FROM ${db}.cdr`)).toBe(150);
    expect(await count(`SELECT uniqExact(toYYYYMM(started_at)) AS c FROM ${db}.cdr`)).toBe(150);
  });

  it(`a range spanning more than ${MAX_PARTITIONS_PER_INSERT} months is split by the batcher until each insert fits: every row stored once, none dead-lettered`, async () => {
    const db = 'centuries';
    await migrate(client, { database: db });
    const cdrs = spread(MAX_PARTITIONS_PER_INSERT + 24, 1950);
    const messages = cdrs.map((_, i) => ({ topic: 'cdr.normalized', partition: 0, offset: i, key: null, value: Buffer.from('x'), timestamp: 0 }));
    const deadLettered: unknown[] = [];
    const failures: unknown[] = [];
    const batcher = new Batcher<RenderedRow>(
      {
        render: async (ms) => ms.map((m) => ({ line: packRows([cdrLine(cdrs[m.offset]!, m, 'TabSeparated')])[0]!, vendor: cdrs[m.offset]!.vendor, cdr_id: cdrs[m.offset]!.cdr_id, received_at: cdrs[m.offset]!.received_at })),
        insert: (rows, token) => insertLines(client, `${db}.cdr`, rows, 'TabSeparated', token),
        publishDeadLetters: async (d) => void deadLettered.push(...d),
        commit: async () => {},
        onFailure: (e) => void failures.push(e),
      },
      { flushRows: 50_000, flushMs: 60_000, maxInsertAttempts: 2, systemicRejectThreshold: 50, backgroundFlush: false, backoff: { initialMs: 1, maxMs: 2, maxAttempts: 2 } },
    );
    await batcher.add({ topic: 'cdr.normalized', partition: 0, messages, highWatermark: messages.length, end: messages.length });
    await batcher.flushDue(true);
    expect(failures).toEqual([]);
    expect(deadLettered).toEqual([]);
    expect(await count(`SELECT count() AS c FROM ${db}.cdr`)).toBe(cdrs.length);
    expect(await count(`SELECT uniqExact(cdr_id) AS c FROM ${db}.cdr`)).toBe(cdrs.length);
    expect(batcher.stats.inserts).toBeGreaterThan(1);
  }, 120_000);
});

describe('cdr_legs_current', () => {
  it('shows only the legs of the current row after a replay through a mapping with fewer legs', async () => {
    const db = 'legs_replay';
    await migrate(client, { database: db });
    const original = sampleCdr(0); // tencent-ccc: two legs
    expect(original.legs).toHaveLength(2);
    const remapped = sampleCdr(0, { legs: original.legs.slice(0, 1) }); // same call, same version (a replay ties)
    await insertCdrs(client, `${db}.cdr`, [{ cdr: original, at: { topic: 'cdr.normalized', partition: 0, offset: 0 } }], 'JSONCompactEachRow', 'cdr.normalized:0:0-0');
    await insertCdrs(client, `${db}.cdr`, [{ cdr: remapped, at: { topic: 'cdr.normalized', partition: 0, offset: 1 } }], 'JSONCompactEachRow', 'cdr.normalized:0:1-1');
    const where = `WHERE cdr_id = '${original.cdr_id}'`;
    // The append-only table keeps the replaced call's extra leg; the view does not.
    expect(await count(`SELECT count() AS c FROM ${db}.cdr_legs FINAL ${where}`)).toBe(2);
    expect(await count(`SELECT count() AS c FROM ${db}.cdr_legs_current ${where}`)).toBe(1);
  });
});

// docs/stream-stages.md, "ClickHouse tables and views": what a call counts as in the views, and which row of a call wins.
describe('the views and the version (docs/stream-stages.md)', () => {
  const at = (offset: number) => ({ topic: 'cdr.normalized', partition: 0, offset });
  const call = (n: number, o: Partial<NormalizedCdr>): NormalizedCdr =>
    sampleCdr(1, { cdr_id: `tencent-trtc:v:call-${n}`, tenant_id: 'v', skill_group_id: null, skill_group_name: null, received_at: new Date('2025-12-03T00:00:00Z'), ...o });
  const query = async (sql: string) => (await client.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json<Record<string, unknown>>();

  it('answered = ANSWERED or picked up (a TRTC call interrupted after pickup), avg_talk_seconds over answered calls, share of the day, bucket = coalesce(started_at, received_at)', async () => {
    const db = 'views';
    await migrate(client, { database: db });
    const ten = new Date('2025-12-01T10:00:00Z');
    const cdrs = [
      call(1, { started_at: ten, answered_at: ten, end_status: 'ANSWERED', vendor_status_code: 'normal_end', talk_seconds: 30, billable_seconds: 60, billable_minutes: 1 }),
      call(2, { started_at: ten, answered_at: ten, end_status: 'FAILED', vendor_status_code: 'interrupt', talk_seconds: 90, billable_seconds: 120, billable_minutes: 2 }),
      call(3, { started_at: ten, answered_at: null, end_status: 'NO_ANSWER', vendor_status_code: 'not_answer', talk_seconds: 0, billable_seconds: 0, billable_minutes: 0 }),
      // No start time: its day is the day it was received.
      call(4, { started_at: null, answered_at: null, end_status: 'CANCELLED', vendor_status_code: 'cancel', talk_seconds: 0, billable_seconds: 0, billable_minutes: 0, received_at: new Date('2025-12-02T23:59:59.999Z') }),
    ];
    await insertCdrs(client, `${db}.cdr`, cdrs.map((cdr, i) => ({ cdr, at: at(i) })), 'TabSeparated', 'cdr.normalized:0:0-3');
    expect(await query(`SELECT toString(day) AS day, calls, answered, answer_rate, billable_minutes, billable_seconds, talk_seconds, avg_talk_seconds FROM ${db}.cdr_daily ORDER BY day`)).toEqual([
      { day: '2025-12-01', calls: 3, answered: 2, answer_rate: 0.6667, billable_minutes: 3, billable_seconds: 180, talk_seconds: 120, avg_talk_seconds: 60 },
      { day: '2025-12-02', calls: 1, answered: 0, answer_rate: 0, billable_minutes: 0, billable_seconds: 0, talk_seconds: 0, avg_talk_seconds: 0 },
    ]);
    expect(await query(`SELECT toString(hour) AS hour, calls, answered, billable_minutes FROM ${db}.cdr_hourly ORDER BY hour`)).toEqual([
      { hour: '2025-12-01 10:00:00', calls: 3, answered: 2, billable_minutes: 3 },
      { hour: '2025-12-02 23:00:00', calls: 1, answered: 0, billable_minutes: 0 },
    ]);
    expect(await query(`SELECT toString(day) AS day, end_status, vendor_status_code, calls, share FROM ${db}.cdr_end_status ORDER BY day, end_status`)).toEqual([
      { day: '2025-12-01', end_status: 'ANSWERED', vendor_status_code: 'normal_end', calls: 1, share: 0.3333 },
      { day: '2025-12-01', end_status: 'FAILED', vendor_status_code: 'interrupt', calls: 1, share: 0.3333 },
      { day: '2025-12-01', end_status: 'NO_ANSWER', vendor_status_code: 'not_answer', calls: 1, share: 0.3333 },
      { day: '2025-12-02', end_status: 'CANCELLED', vendor_status_code: 'cancel', calls: 1, share: 1 },
    ]);
  });

  it('constraints refuse negative durations and a call billed without being answered', async () => {
    const db = 'constraints';
    await migrate(client, { database: db });
    const refused = async (cdr: NormalizedCdr) => {
      const err = await insertCdrs(client, `${db}.cdr`, [{ cdr, at: at(0) }], 'TabSeparated', '').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CdrflowError);
      expect((err as CdrflowError).kind).toBe('rejected_by_sink');
      return (err as CdrflowError).message;
    };
    expect(await refused(call(1, { end_status: 'ANSWERED', talk_seconds: -1, billable_seconds: 0, billable_minutes: 0 }))).toMatch(/billable_not_negative/);
    expect(await refused(call(2, { end_status: 'NO_ANSWER', answered_at: null, talk_seconds: 0, billable_seconds: 60, billable_minutes: 1 }))).toMatch(/unanswered_bills_nothing/);
    expect(await count(`SELECT count() AS c FROM ${db}.cdr`)).toBe(0);
  });

  it('version = received_at in ms: a re-send received later wins over an earlier one inserted after it', async () => {
    const db = 'versions';
    await migrate(client, { database: db });
    const answered = { end_status: 'ANSWERED', answered_at: new Date('2025-12-01T10:00:00Z'), talk_seconds: 100 } as const;
    const later = call(1, { ...answered, received_at: new Date('2025-12-01T10:05:00.002Z'), billable_seconds: 120, billable_minutes: 2 });
    const earlier = call(1, { ...answered, received_at: new Date('2025-12-01T10:05:00.001Z'), billable_seconds: 60, billable_minutes: 1 });
    await insertCdrs(client, `${db}.cdr`, [{ cdr: later, at: at(0) }], 'TabSeparated', 'cdr.normalized:0:0-0');
    await insertCdrs(client, `${db}.cdr`, [{ cdr: earlier, at: at(1) }], 'TabSeparated', 'cdr.normalized:0:1-1');
    expect(await query(`SELECT version, billable_minutes FROM ${db}.cdr FINAL`)).toEqual([{ version: later.received_at.getTime(), billable_minutes: 2 }]);
    expect(await count(`SELECT sum(billable_minutes) AS c FROM ${db}.cdr_daily`)).toBe(2);
  });
});

describe('cdr_dead_letters', () => {
  it('has one row per position on the dead-letter topic (origin offset -1 or not): a letter stored twice collapses under FINAL, two letters never do', async () => {
    const db = 'letters';
    await migrate(client, { database: db });
    // Two letters that came from no raw record (origin offset -1), the same error and time.
    const letter = deadLetterForPayload('not a record', { kind: 'bad_record', message: 'why' }, 'receiver', { topic: 'cdr.raw.tencent-ccc', vendor: 'tencent-ccc', failed_at: new Date('2025-12-01T00:00:00Z') });
    expect(letter.origin_offset).toBe(-1);
    const at = (offset: number) => ({ topic: 'cdr.dlq', partition: 0, offset });
    const insert = (offsets: number[], token: string) =>
      insertLines(client, `${db}.cdr_dead_letters`, offsets.map((o) => ({ line: deadLetterTsvLine(letter, at(o), { maxOriginalBytes: 1024, piiKey: null }) })), 'TabSeparated', token, DEAD_LETTER_COLUMNS);
    await insert([0, 1], 'cdr.dlq:0:0-1');
    // Offset 1 read again after a crash, under another range.
    await insert([1, 2], 'cdr.dlq:0:1-2');
    expect(await count(`SELECT count() AS c FROM ${db}.cdr_dead_letters`)).toBe(4);
    expect(await count(`SELECT count() AS c FROM ${db}.cdr_dead_letters FINAL`)).toBe(3);
  });

  // MAPPING.md "PII key": analysts who read cdrflow's ClickHouse see no number. A dead letter's original is the record
  // as the vendor sent it, and an LVMS composite key carries the called number.
  it('with a PII key, stores no number of a letter in clear: the value NULL (its size kept), an LVMS composite key hashed as normalize hashes it', async () => {
    const db = 'letters_pii';
    await migrate(client, { database: db });
    const piiKey = 'loader-pii-key-0123456789';
    const rawKey = 'job:5001|13800138000|2025-12-02 10:00:00';
    const value = Buffer.from('{"called_phone_number":"13800138000","phone_number":"02161234567","chat_duration":"61s"}');
    const letter: DeadLetter = {
      original_value: value,
      original_key: Buffer.from(rawKey),
      origin_topic: 'cdr.raw.alibaba-lvms',
      origin_partition: 0,
      origin_offset: 7,
      error_kind: 'bad_record',
      error_message: 'chat_duration must be a non-negative number of seconds, got "61s"',
      component: 'normalize',
      vendor: 'alibaba-lvms',
      cdr_id: normalizedCdrId('alibaba-lvms', 'app', rawKey, piiKey),
      failed_at: new Date('2025-12-02T02:01:00Z'),
    };
    const store = (offset: number, key: string | null) =>
      insertLines(client, `${db}.cdr_dead_letters`, [{ line: deadLetterTsvLine(letter, { topic: 'cdr.dlq', partition: 0, offset }, { maxOriginalBytes: 1024, piiKey: key }) }], 'TabSeparated', `cdr.dlq:0:${offset}-${offset}`, DEAD_LETTER_COLUMNS);
    await store(0, piiKey);
    await store(1, null);
    const stored = await (await client.query({ query: `SELECT * EXCEPT inserted_at FROM ${db}.cdr_dead_letters ORDER BY dlq_offset`, format: 'JSONEachRow' })).json<Record<string, unknown>>();
    expect(stored).toHaveLength(2);
    const [hashed, clear] = stored;
    expect(Object.entries(hashed!).filter(([, v]) => /13800138000|02161234567/.test(String(v)))).toEqual([]);
    expect(hashed).toMatchObject({ original_value: null, original_size: value.length, original_key: normalizedNaturalKey('alibaba-lvms', rawKey, piiKey) });
    expect(letter.cdr_id!.endsWith(`:${String(hashed!['original_key'])}`)).toBe(true);
    // Without a key, the original byte for byte, as before.
    expect(clear).toMatchObject({ original_value: value.toString(), original_size: value.length, original_key: rawKey });
  });
});
