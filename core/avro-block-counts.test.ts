// An array's or a map's block count is held to the bytes left (core/avro-block-counts.ts). Without the bound, each
// lying record below keeps the thread decoding it busy for days (2^50 items read from an empty tap); with it each is
// refused as truncated at once. Those reads run in a thread of their own (core/avro-block-counts.cases.ts), which is
// stopped at a deadline: a lost bound fails these tests, where in this thread it would hang them.
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { avroOptions } from './avro.ts';
import { minEncodedBytes } from './avro-block-counts.ts';
import { HUGE, normalized, raw } from './avro-block-counts.cases.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import { endsWithin } from '../test/ends-within.ts';

// Each call takes well under 0.2 s once its thread has loaded; without the bound it would not end.
const inThread = endsWithin<typeof import('./avro-block-counts.cases.ts')>(
  new URL('./avro-block-counts.cases.ts', import.meta.url),
  5_000,
  "an Avro array's or map's block count is no longer held to the bytes left (core/avro-block-counts.ts)",
);
const truncated = { threw: expect.stringContaining('truncated buffer') };

describe('Avro block counts beyond the bytes left', () => {
  it.each([
    ['raw envelope', 'attributes'],
    ['normalized CDR', 'callees'],
    ['normalized CDR', 'legs'],
    ['normalized CDR', 'ivr_keys'],
    ['normalized CDR', 'extras'],
  ] as const)('%s, %s: refused as truncated, for a count and for a negative count with a block size', async (which, field) => {
    // A negative count is followed by a block size.
    const counts = [HUGE, -HUGE, 2 ** 31, 1_000];
    const outcomes = await inThread('lyingCounts', which, field, counts);
    expect(outcomes).toHaveLength(counts.length);
    for (const [i, count] of counts.entries()) expect(outcomes[i], `${field} ${count}`).toEqual(truncated);
  });

  it('through a resolver (an older writer schema), and where a resolver skips a field the reader does not have', async () => {
    const read = await inThread('throughResolvers');
    expect(read.olderWriter).toEqual(truncated);
    expect(read.skippedArray).toEqual(truncated);
    expect(read.skippedMap).toEqual(truncated);
    expect(read.trueSkipped).toEqual({ decoded: { a: 'kept' } });
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

  it('2,000 raw envelopes with an extreme varint written over a byte: each read ends, as a valid envelope or an error', async () => {
    const outcomes = await inThread('envelopeFuzz');
    expect(outcomes).toHaveLength(2000);
    let valid = 0;
    for (const [n, outcome] of outcomes.entries()) {
      // A throw is an Error here: envelopeFuzz fails on any other.
      if ('threw' in outcome) continue;
      expect(raw.isValid(outcome.decoded), `mutation ${n}`).toBe(true);
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
