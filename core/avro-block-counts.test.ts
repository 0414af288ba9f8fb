// An array's or a map's block count is held to the bytes left (core/avro-block-counts.ts). Without the bound, each
// lying record below keeps the thread decoding it busy for days (2^50 items read from an empty tap), so a test
// that passes is one that ends; with the bound each is refused as truncated at once.
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { avroOptions, avroType, loadSchemaJson } from './avro.ts';
import { SCHEMA_FILES } from './topology.ts';
import { minEncodedBytes } from './avro-block-counts.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import { lyingBlockCount } from '../test/lying-avro.ts';
import { seededRandom } from '../simulators/kit.ts';

const HUGE = 2 ** 50;
const raw = avroType(SCHEMA_FILES.rawEnvelope);
const normalized = avroType(SCHEMA_FILES.normalized);
const envelope = {
  vendor: 'tencent-ccc', tenant_id: '1400000000', natural_key: 'k', received_at: new Date(1_764_547_200_000), connector: 'test',
  mode: 'live', request_id: null, payload: '{}', payload_format: 'json', attributes: { window: '1' },
};
const cdr = normalized.fromBuffer(normalized.toBuffer(sampleCdr(7))) as Record<string, unknown>;

describe('Avro block counts beyond the bytes left', () => {
  it.each([
    ['raw envelope', 'attributes'],
    ['normalized CDR', 'callees'],
    ['normalized CDR', 'legs'],
    ['normalized CDR', 'ivr_keys'],
    ['normalized CDR', 'extras'],
  ] as const)('%s, %s: refused as truncated, for a count and for a negative count with a block size', (which, field) => {
    const [type, record] = which === 'raw envelope' ? [raw, envelope] : [normalized, cdr];
    for (const count of [HUGE, -HUGE, 2 ** 31, 1_000]) {
      expect(() => type.fromBuffer(lyingBlockCount(type, record, field, count)), `${field} ${count}`).toThrow('truncated buffer');
    }
  }, 20_000);

  it('through a resolver (an older writer schema), and where a resolver skips a field the reader does not have', () => {
    const v1 = avro.Type.forSchema(loadSchemaJson('history/cdr-normalized.v1.avsc') as avro.Schema, avroOptions());
    const resolver = normalized.createResolver(v1);
    expect(() => normalized.fromBuffer(lyingBlockCount(v1, cdr, 'legs', HUGE), resolver)).toThrow('truncated buffer');
    const writer = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'gone', type: { type: 'array', items: 'string' } }, { name: 'b', type: { type: 'map', values: 'long' } }, { name: 'a', type: 'string' }] });
    const reader = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] });
    const skipping = reader.createResolver(writer);
    expect(() => reader.fromBuffer(lyingBlockCount(writer, {}, 'gone', HUGE), skipping)).toThrow('truncated buffer');
    expect(() => reader.fromBuffer(lyingBlockCount(writer, { gone: [] }, 'b', -HUGE), skipping)).toThrow('truncated buffer');
    expect(reader.fromBuffer(writer.toBuffer({ gone: ['x', 'y'], b: { k: 1 }, a: 'kept' }), skipping)).toEqual({ a: 'kept' });
  });

  it('reads what is true as before: every sample CDR, blocks with sizes, several blocks, and items of no bytes', () => {
    for (let i = 0; i < 300; i++) {
      const bytes = normalized.toBuffer(sampleCdr(i));
      expect(normalized.toBuffer(normalized.fromBuffer(bytes)).equals(bytes), `sample CDR ${i}`).toBe(true);
    }
    const long = avro.Type.forSchema('long');
    const string = avro.Type.forSchema('string');
    // Two blocks, the first with its byte size (count -2): ["a", "bc"], then ["d"].
    const strings = avro.Type.forSchema({ type: 'array', items: 'string' });
    const first = Buffer.concat([string.toBuffer('a'), string.toBuffer('bc')]);
    const body = Buffer.concat([long.toBuffer(-2), long.toBuffer(first.length), first, long.toBuffer(1), string.toBuffer('d'), long.toBuffer(0)]);
    expect(strings.fromBuffer(body)).toEqual(['a', 'bc', 'd']);
    const map = avro.Type.forSchema({ type: 'map', values: 'int' });
    const entry = (k: string, v: number) => Buffer.concat([string.toBuffer(k), avro.Type.forSchema('int').toBuffer(v)]);
    expect(map.fromBuffer(Buffer.concat([long.toBuffer(1), entry('x', 1), long.toBuffer(-1), long.toBuffer(entry('y', 2).length), entry('y', 2), long.toBuffer(0)]))).toEqual({ x: 1, y: 2 });
    // Nulls take no bytes: 1,000 of them in three bytes are true.
    const nulls = avro.Type.forSchema({ type: 'array', items: 'null' });
    expect(nulls.fromBuffer(Buffer.concat([long.toBuffer(1_000), long.toBuffer(0)]))).toEqual(Array(1_000).fill(null));
  });

  it('2,000 raw envelopes with an extreme varint written over a byte: each read ends, as a valid envelope or an error', () => {
    const random = seededRandom(7);
    const long = avro.Type.forSchema('long');
    const extremes = [2 ** 30, -(2 ** 30), 2 ** 40, 2 ** 52, -(2 ** 52), 2 ** 31, 1_000_000].map((v) => long.toBuffer(v));
    const bodies = Array.from({ length: 50 }, (_, i) => raw.toBuffer({ ...envelope, natural_key: `k${i}`, attributes: { window: String(i), line: '7', mode: 'x'.repeat(i) } }));
    let valid = 0;
    for (let n = 0; n < 2000; n++) {
      const body = bodies[n % bodies.length]!;
      const at = Math.floor(random() * body.length);
      const mutated = Buffer.concat([body.subarray(0, at), extremes[Math.floor(random() * extremes.length)]!, body.subarray(at + 1)]);
      let decoded: unknown;
      try {
        decoded = raw.fromBuffer(mutated);
      } catch (err) {
        expect(err, `mutation ${n}`).toBeInstanceOf(Error);
        continue;
      }
      expect(raw.isValid(decoded), `mutation ${n}`).toBe(true);
      valid++;
    }
    expect(valid).toBeLessThan(2000);
  });

  it('counts the fewest bytes of each kind of value', () => {
    const t = (schema: unknown) => minEncodedBytes(avro.Type.forSchema(schema as avro.Schema, avroOptions()));
    expect([t('null'), t('boolean'), t('int'), t('long'), t('float'), t('double'), t('string'), t('bytes')]).toEqual([0, 1, 1, 1, 4, 8, 1, 1]);
    expect(t({ type: 'fixed', name: 'F', size: 16 })).toBe(16);
    expect(t({ type: 'record', name: 'P', fields: [{ name: 'a', type: 'double' }, { name: 'b', type: 'null' }, { name: 'c', type: ['null', 'string'] }] })).toBe(9);
    expect(t({ type: 'record', name: 'L', fields: [{ name: 'next', type: ['null', 'L'] }, { name: 'v', type: 'float' }] })).toBe(5);
    expect(t({ type: 'long', logicalType: 'timestamp-millis' })).toBe(1);
    expect(minEncodedBytes(raw)).toBeGreaterThan(5);
  });
});
