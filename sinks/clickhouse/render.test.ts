// Values valid under the writer schema whose row the cdr table would refuse or store as something else: each is its
// record's dead letter, on the fast path and the slow one, in every insert format, its neighbours' rows untouched.
// (render.int.test.ts runs the same renderers against a real registry, thread and inline.)
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { ReaderCodec, avroType, encodeFramed, type SchemaRegistry } from '../../core/avro.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { fastPathFor, renderBatch, unpackBatch } from './render.ts';
import { INSERT_FORMATS, cdrLine } from './rows.ts';

const type = avroType(SCHEMA_FILES.normalized);
const WRITER_ID = 7;
const registry = { getSchema: async () => type } as unknown as SchemaRegistry;
const topic = 'cdr.normalized';

/** Each record (or framed value) between two good ones, through every format and path: the middle one's result. */
async function renderedBetween(cdr: NormalizedCdr | Buffer) {
  const good = sampleCdr(1);
  const messages = [good, cdr, good].map((c, offset) => ({ topic, partition: 0, offset, value: Buffer.isBuffer(c) ? c : encodeFramed(type, WRITER_ID, c) }));
  const out: { label: string; middle: unknown }[] = [];
  for (const format of INSERT_FORMATS) {
    const reader = new ReaderCodec<NormalizedCdr>(registry, SCHEMA_FILES.normalized);
    // The writer's first value is decoded; from then on its values may take the fast path.
    await reader.decode(messages[0]!.value);
    expect(reader.readsDirectly(WRITER_ID)).toBe(true);
    const fast = fastPathFor(reader, format);
    for (const [path, plan] of fast ? ([['fast', fast], ['slow', undefined]] as const) : ([['slow', undefined]] as const)) {
      const label = `${format}, ${path} path`;
      const rendered = unpackBatch(await renderBatch(reader, messages, format, plan));
      for (const i of [0, 2]) {
        const row = rendered[i]!;
        expect('error' in row ? row.error : row.line.toString(), label).toBe(cdrLine(good, { topic, partition: 0, offset: i }, format));
      }
      out.push({ label, middle: rendered[1] });
    }
  }
  return out;
}

describe('renderBatch: rows the cdr table cannot take as they are', () => {
  it('a received_at before 1970 (its version, the table\'s UInt64, would be negative: the engine refuses the row)', async () => {
    for (const ms of [-1, Date.UTC(1969, 11, 31, 12), Date.UTC(1800, 5, 1)]) {
      for (const { label, middle } of await renderedBetween({ ...sampleCdr(3), received_at: new Date(ms) })) {
        expect(middle, `${label}, ${ms}`).toEqual({ error: { kind: 'bad_record', message: expect.stringContaining(`received_at ${new Date(ms).toISOString()} is before 1970-01-01`) } });
      }
    }
    for (const { label, middle } of await renderedBetween({ ...sampleCdr(3), received_at: new Date(0) })) expect(middle, label).not.toHaveProperty('error');
  });

  it('a time in the year 0000 (the engine reads that year as the current one: 0000-07-15 was stored as this July), in a column, a leg or an IVR key', async () => {
    const year = (y: number, month: number) => {
      const d = new Date(Date.UTC(2000, month, 15, 13, 0, 0, 5));
      d.setUTCFullYear(y);
      return d;
    };
    const withLegs = [0, 1, 2, 3].map((i) => sampleCdr(i)).find((c) => c.legs.length > 0 && c.ivr_keys.length > 0)!;
    const cases: [string, (y: number) => NormalizedCdr][] = [
      ['started_at', (y) => ({ ...withLegs, started_at: year(y, 6) })],
      ['legs[0].ended_at', (y) => ({ ...withLegs, legs: withLegs.legs.map((l, i) => (i === 0 ? { ...l, ended_at: year(y, 0) } : l)) })],
      ['ivr_keys[0].at', (y) => ({ ...withLegs, ivr_keys: withLegs.ivr_keys.map((k, i) => (i === 0 ? { ...k, at: year(y, 11) } : k)) })],
    ];
    for (const [field, cdr] of cases) {
      for (const { label, middle } of await renderedBetween(cdr(0))) {
        expect(middle, `${label}, ${field}`).toEqual({ error: { kind: 'bad_record', message: expect.stringMatching(new RegExp(`^${field.replace(/[[\]]/g, '\\$&')} 0000-.* is outside the years 0001-9999`)) } });
      }
      // The year 0001 is stored as it is.
      for (const { label, middle } of await renderedBetween(cdr(1))) expect(middle, `${label}, ${field}`).not.toHaveProperty('error');
    }
  });

  it('an Avro int beyond Int32 (avsc reads an int as a long; the engine wrapped it: talk_seconds 2^32 + 5 was stored as 5), at the top or in a leg', async () => {
    const withLegs = [0, 1, 2, 3].map((i) => sampleCdr(i)).find((c) => c.legs.length > 0)!;
    const cases: [string, number][] = [
      ['talk_seconds', 2 ** 32 + 5], ['raw_partition', 2 ** 31], ['raw_partition', -(2 ** 31) - 1], ['ring_seconds', 2 ** 40],
      ['legs[1].sequence', 2 ** 31], ['legs[0].talk_seconds', -(2 ** 33)],
    ];
    for (const [field, n] of cases) {
      for (const { label, middle } of await renderedBetween(framedWithInt(withLegs, field, n))) {
        expect(middle, `${label}, ${field} = ${n}`).toEqual({ error: { kind: 'bad_record', message: `${field} ${n} is outside the Int32 of the cdr table` } });
      }
    }
    // Its edges are stored as they are.
    for (const n of [2 ** 31 - 1, -(2 ** 31)]) {
      for (const { label, middle } of await renderedBetween(framedWithInt(withLegs, 'raw_partition', n))) expect(middle, `${label}, ${n}`).not.toHaveProperty('error');
    }
  });
});

const long = avro.Type.forSchema('long');

/**
 * The CDR framed with `n` written as the varint of an int field (`name`, or `legs[i].name`): an int and a long share
 * their encoding, and avsc would not write an int beyond Int32 from an object.
 */
function framedWithInt(cdr: NormalizedCdr, field: string, n: number): Buffer {
  const [, leg, legField] = /^legs\[(\d+)\]\.(\w+)$/.exec(field) ?? [];
  type Shape = { fields: { name: string; type: avro.Type }[]; itemsType: avro.Type };
  const fieldsOf = (t: avro.Type) => (t as unknown as Shape).fields;
  const encode = (t: avro.Type, value: Record<string, unknown>, name: string | undefined): Buffer[] =>
    fieldsOf(t).map((f) => {
      if (f.name === name) return f.type.typeName === 'int' ? long.toBuffer(n) : Buffer.concat([long.toBuffer(1), long.toBuffer(n)]); // a ["null","int"] union's int branch
      return f.type.toBuffer(value[f.name]);
    });
  const legType = (fieldsOf(type).find((f) => f.name === 'legs')!.type as unknown as Shape).itemsType;
  const legs = cdr.legs.map((l, i) => Buffer.concat(encode(legType, l as unknown as Record<string, unknown>, i === Number(leg) ? legField : undefined)));
  const body = fieldsOf(type).map((f, i) => {
    if (leg !== undefined && f.name === 'legs') return Buffer.concat([long.toBuffer(legs.length), ...legs, long.toBuffer(0)]);
    return encode(type, cdr as unknown as Record<string, unknown>, leg === undefined ? field : undefined)[i]!;
  });
  const frame = Buffer.alloc(5);
  frame.writeInt32BE(WRITER_ID, 1);
  return Buffer.concat([frame, ...body]);
}
