// What `cdrflow tail --format table` and `cdrflow dlq` print: a record's text never drives the terminal (a value with
// ESC ] 0 ; … BEL changed the window title, ESC [ 2 J cleared the screen: an operator walk).
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { MAX_WRITER_SCHEMAS, avroType, encodeFramed } from '../core/avro.ts';
import { OTHER_LABEL } from '../core/metric-labels.ts';
import { SCHEMA_FILES } from '../core/topology.ts';
import { registryStub } from '../test/registry-stub.ts';
import { DLQ_CELL_CHARS, DeadLetterTally, MAX_DLQ_COUNT_ROWS, MAX_NESTED_DEAD_LETTERS, decodeValue, formatDlqSummary, summarizeDeadLetters, tableLine, tailRecord, type TailRecord } from './tail.ts';

const ESCAPES = '\u001b]0;PWNED\u0007\u001b[2J\u001b[31m\r\u0085\u202e';
const at = { topic: 't', partition: 0, offset: 1, timestamp: '2026-12-05T10:00:00.000Z' };
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/;

describe('table lines', () => {
  it('show every kind of record with its control characters escaped', () => {
    const records: TailRecord[] = [
      { ...at, key: `k${ESCAPES}`, kind: 'text', value: `v${ESCAPES}` },
      { ...at, key: null, kind: 'raw', value: { vendor: `tencent-ccc${ESCAPES}`, natural_key: 'n', mode: 'live', payload: `{"a":"${ESCAPES}"}` } },
      { ...at, key: null, kind: 'normalized', value: { vendor: 'v', cdr_id: `c${ESCAPES}`, started_at: 's', end_status: 'e', talk_seconds: 1, billable_minutes: 1, tenant_id: 't' } },
      { ...at, key: null, kind: 'dead-letter', value: { reason: `bad_record${ESCAPES}`, stage: 'normalize', vendor: 'v', cdr_id: null, origin: { topic: 'o', partition: 0, offset: 2 }, error: `e${ESCAPES}` } },
    ];
    for (const r of records) {
      const line = tableLine(r);
      expect(line).not.toMatch(CONTROLS);
      expect(line).toContain('\\u001b]0;PWNED\\u0007');
    }
    const summary = formatDlqSummary('cdr.dlq', summarizeDeadLetters([records[3]!], 1));
    expect(summary.split('\n').every((l) => !CONTROLS.test(l))).toBe(true);
  });
});

describe('cdrflow dlq\'s summary', () => {
  it('cuts a hostile reason, stage or vendor in the counts table: every row was padded to the longest one (100 reasons of 100,000 characters printed 10 MB)', () => {
    const records: TailRecord[] = Array.from({ length: 100 }, (_, i) => ({
      ...at, offset: i, key: null, kind: 'dead-letter',
      value: { reason: `${'r'.repeat(100_000)}${i}`, stage: i % 2 ? `s${'t'.repeat(70)}` : 'normalize', vendor: i % 3 ? `v${'w'.repeat(70)}` : null, cdr_id: null, origin: { topic: 'o', partition: 0, offset: i }, error: 'e' },
    }));
    const lines = formatDlqSummary('cdr.dlq', summarizeDeadLetters(records, 1)).split('\n');
    const table = lines.slice(2, lines.indexOf(''  , 2));
    expect(table).toHaveLength(101);
    for (const line of table) expect(line.length, line.slice(0, 80)).toBeLessThanOrEqual(3 * DLQ_CELL_CHARS + 6 + 7);
    // A cut cell says so; a short one is as it was.
    expect(table[1]).toMatch(new RegExp(`^r{${DLQ_CELL_CHARS - 1}}… `));
    expect(table.some((l) => / normalize /.test(l))).toBe(true);
  });
});

describe('decoding hostile values', () => {
  const deadLetter = avroType(SCHEMA_FILES.deadLetter);
  const types = new Map<number, avro.Type>([
    [1, deadLetter],
    [2, avro.Type.forSchema('string')],
    [3, avro.Type.forSchema({ type: 'array', items: 'long' })],
    [4, avro.Type.forSchema('long')],
  ]);
  // Decodes as the registry client does: the writer type named by the frame's id.
  const registry = { decode: async (b: Buffer) => types.get(b.readInt32BE(1))!.fromBuffer(b.subarray(5)) } as unknown as SchemaRegistry;
  const letter = (original: Buffer | null) => ({
    original_value: original, original_key: null, origin_topic: 't', origin_partition: 0, origin_offset: 0, error_kind: 'bad_record',
    error_message: 'e', component: 'x', vendor: null, cdr_id: null, failed_at: new Date(0),
  });

  it('a writer no client can build is asked for once; its later values are shown undecodable at once', async () => {
    let asked = 0;
    const unbuildable = {
      decode: async () => {
        asked++;
        throw Object.assign(new Error('Too many parameters in function definition (only 65534 allowed)'), { name: 'ConfluentSchemaRegistryArgumentError' });
      },
    } as unknown as SchemaRegistry;
    const value = encodeFramed(types.get(4)!, 9, 7);
    for (let i = 0; i < 5; i++) {
      expect(await decodeValue(unbuildable, value)).toEqual({ kind: 'undecodable', value: { error: 'Too many parameters in function definition (only 65534 allowed)', bytes: value.toString('base64') } });
    }
    expect(asked).toBe(1);
    // An unknown id, or the registry away, may mend: asked again.
    let unknown = 0;
    const missing = { decode: async () => (unknown++, Promise.reject(Object.assign(new Error('Schema 9 not found'), { status: 404 }))) } as unknown as SchemaRegistry;
    for (let i = 0; i < 3; i++) expect((await decodeValue(missing, value)).kind).toBe('undecodable');
    expect(unknown).toBe(3);
  });

  it('a topic of many distinct writers keeps at most MAX_WRITER_SCHEMAS of them in the client, each value decoded', async () => {
    const writer = (id: number) => ({ type: 'record', name: `W${id}`, fields: [{ name: 'n', type: 'long' }] });
    const stub = await registryStub((id) => writer(id));
    try {
      const clientCache = (stub.registry as unknown as { cache: { schemasByRegistryId: Record<number, unknown> } }).cache.schemasByRegistryId;
      const value = (id: number) => encodeFramed(avro.Type.forSchema(writer(id) as avro.Schema), id, { n: id });
      for (let id = 1; id <= 300; id++) {
        expect(await decodeValue(stub.registry, value(id))).toEqual({ kind: 'avro', value: { n: id } });
        expect(Object.keys(clientCache).length).toBeLessThanOrEqual(MAX_WRITER_SCHEMAS);
      }
      // A writer let go is fetched again when a later value needs it; one kept is not.
      expect(await decodeValue(stub.registry, value(1))).toEqual({ kind: 'avro', value: { n: 1 } });
      expect(await decodeValue(stub.registry, value(300))).toEqual({ kind: 'avro', value: { n: 300 } });
      expect([stub.asked.get(1), stub.asked.get(300)]).toEqual([2, 1]);
    } finally {
      stub.close();
    }
  });

  it('a producer timestamp beyond what a Date holds is shown as its milliseconds, not thrown on', async () => {
    const r = { partition: 0, offset: 5, key: Buffer.from('k'), value: Buffer.from('{"a":1}') };
    expect(await tailRecord(registry, 't', { ...r, timestamp: 9e15 })).toEqual({ topic: 't', partition: 0, offset: 5, timestamp: '9000000000000000 ms (not a date)', key: 'k', kind: 'json', value: { a: 1 } });
    expect((await tailRecord(registry, 't', { ...r, timestamp: -1 })).timestamp).toBe('1969-12-31T23:59:59.999Z');
  });

  it('a record standing for a batch that could not be read is shown as that, its bytes never decoded', async () => {
    // Framed like an Avro value on purpose: the compressed bytes of a bomb are never handed to the registry.
    const r = { partition: 2, offset: 9, timestamp: 0, key: null, value: Buffer.from([0, 0, 0, 0, 7, 1, 2]), unreadable: 'a record batch compressed with ZSTD (7 bytes) expands past …' };
    const record = await tailRecord(registry, 't', r);
    expect(record).toEqual({ topic: 't', partition: 2, offset: 9, timestamp: '1970-01-01T00:00:00.000Z', key: null, kind: 'unreadable batch', value: { error: r.unreadable, compressed_bytes: 7 } });
    expect(tableLine(record)).toBe(`1970-01-01 00:00:00  2@9  unreadable batch  7 bytes  ${r.unreadable}`);
  });

  it('a value of a schema that is no record (a string, an array, a number) is shown as what it is', async () => {
    expect(await decodeValue(registry, encodeFramed(types.get(2)!, 2, 'hello'))).toEqual({ kind: 'avro', value: 'hello' });
    expect(await decodeValue(registry, encodeFramed(types.get(3)!, 3, [1, 2]))).toEqual({ kind: 'avro', value: [1, 2] });
    expect(await decodeValue(registry, encodeFramed(types.get(4)!, 4, 7))).toEqual({ kind: 'avro', value: 7 });
  });

  it(`a dead letter nested 5,000 deep is read to ${MAX_NESTED_DEAD_LETTERS} levels and the rest shown as bytes, at once`, async () => {
    let value: Buffer | null = null;
    for (let i = 0; i < 5_000; i++) value = encodeFramed(deadLetter, 1, letter(value));
    let shown = (await decodeValue(registry, value)) as { kind: string; value: unknown };
    let levels = 0;
    while (shown.kind === 'dead-letter') {
      levels++;
      const v = shown.value as { original: unknown; original_kind: string };
      shown = { kind: v.original_kind, value: v.original };
    }
    expect(levels).toBe(MAX_NESTED_DEAD_LETTERS);
    expect(shown.kind).toBe('not decoded (nested too deep)');
    expect(typeof shown.value).toBe('string');
    // Two levels are decoded whole.
    const two = await decodeValue(registry, encodeFramed(deadLetter, 1, letter(encodeFramed(deadLetter, 1, letter(Buffer.from('{"a":1}'))))));
    expect(two).toMatchObject({ kind: 'dead-letter', value: { original_kind: 'dead-letter', original: { original_kind: 'json', original: { a: 1 } } } });
  });
});

describe('cdrflow dlq\'s counts', () => {
  it('hold a bounded number of rows and characters whatever the letters name: the topic need not fit in memory', () => {
    const tally = new DeadLetterTally(1);
    const letters = 3 * MAX_DLQ_COUNT_ROWS;
    for (let i = 0; i < letters; i++) {
      // Each letter a vendor of its own, 10,000 characters long (a producer writing garbage to the topic).
      tally.add({ ...at, offset: i, key: null, kind: 'dead-letter', value: { reason: 'bad_record', stage: 'normalize', vendor: `${'w'.repeat(10_000)}${i}`, cdr_id: null, error: 'e' } });
    }
    const { total, byReason } = tally.summary();
    expect(total).toBe(letters);
    expect(byReason.reduce((n, r) => n + r.count, 0)).toBe(letters);
    expect(byReason.length).toBeLessThanOrEqual(MAX_DLQ_COUNT_ROWS + 1);
    const chars = byReason.reduce((n, r) => n + r.reason.length + r.stage.length + r.vendor.length, 0);
    expect(chars).toBeLessThanOrEqual((MAX_DLQ_COUNT_ROWS + 1) * 3 * DLQ_CELL_CHARS);
    // What did not get a row of its own is counted under one, not lost.
    expect(byReason.find((r) => r.vendor === OTHER_LABEL)?.count).toBe(letters - MAX_DLQ_COUNT_ROWS);
  });
});
