// ReaderCodec and TopicCodec against the real registry: decoding through the cached reader type and resolver must
// give exactly what the registry client's own decode(buf, { readerSchema }) gives (same schema and an older writer),
// encoding must give the client's bytes, and bad input must be classified, not thrown as a bug.
import { describe, expect, it } from 'vitest';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { ReaderCodec, TopicCodec, loadSchemaJson } from './avro.ts';
import { classifyRegistryError } from './dead-letter.ts';
import { CdrflowError } from './errors.ts';
import { SCHEMA_FILES, subjectFor } from './topology.ts';
import { sampleCdr } from '../sinks/clickhouse/fixtures/sample-cdrs.ts';
import type { NormalizedCdr } from '../transforms/normalize/cdr.ts';
import { testRegistry, uniqueName } from '../test/helpers.ts';

const readerSchema = loadSchemaJson(SCHEMA_FILES.normalized);
const viaClient = (registry: ReturnType<typeof testRegistry>, value: Buffer) => registry.decode(value, { [SchemaType.AVRO]: { readerSchema } } as never);

describe('ReaderCodec / TopicCodec', () => {
  it('round-trips a record through the registry: same bytes as the client encodes, same record as the client decodes', async () => {
    const registry = testRegistry();
    const codec = new TopicCodec(registry, uniqueName('avro_same'), SCHEMA_FILES.normalized);
    const id = await codec.register();
    const reader = new ReaderCodec<NormalizedCdr>(registry, SCHEMA_FILES.normalized);
    // Nothing is ready before the first encode and decode: the callers then await the slow path.
    expect(codec.encodeReady(sampleCdr(0))).toBeUndefined();
    expect(reader.decodeReady(await registry.encode(id, sampleCdr(0)))).toBeUndefined();
    for (let i = 0; i < 20; i++) {
      const cdr = sampleCdr(i);
      const value = await codec.encode(cdr);
      expect(value).toEqual(await registry.encode(id, cdr));
      const decoded = await reader.decode(value);
      expect(decoded).toEqual(await viaClient(registry, value));
      expect(decoded).toEqual(cdr);
      // After the first record, the synchronous paths give the same bytes and the same record.
      expect(codec.encodeReady(cdr)).toEqual(value);
      expect(reader.decodeReady(value)).toEqual(decoded);
    }
    // A record that does not fit is left to encode(), which words the error.
    expect(codec.encodeReady({ ...sampleCdr(1), cdr_id: 42 })).toBeUndefined();
    await expect(codec.encode({ ...sampleCdr(1), cdr_id: 42 })).rejects.toThrow(/invalid/);
  });

  it('resolves an older writer version into the reader schema, defaults filled, exactly like the client', async () => {
    const registry = testRegistry();
    const fields = readerSchema['fields'] as { name: string; default?: unknown }[];
    // An "older" contract: the reader's schema without its last few defaulted fields.
    const dropped = fields.filter((f) => f.default !== undefined).slice(-3).map((f) => f.name);
    const older = { ...readerSchema, fields: fields.filter((f) => !dropped.includes(f.name)) };
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(older) }, { subject: subjectFor(uniqueName('avro_old')) });
    const reader = new ReaderCodec<NormalizedCdr>(registry, SCHEMA_FILES.normalized);
    for (let i = 0; i < 5; i++) {
      const value = await registry.encode(id, sampleCdr(i));
      const decoded = await reader.decode(value);
      expect(decoded).toEqual(await viaClient(registry, value));
      for (const name of dropped) expect((decoded as unknown as Record<string, unknown>)[name]).toEqual(fields.find((f) => f.name === name)!.default);
    }
  });

  it('classifies bad input: an unframed or truncated value is a bad record, an unknown schema id is systemic', async () => {
    const registry = testRegistry();
    const codec = new TopicCodec(registry, uniqueName('avro_bad'), SCHEMA_FILES.normalized);
    const reader = new ReaderCodec<NormalizedCdr>(registry, SCHEMA_FILES.normalized);
    const good = await codec.encode(sampleCdr(1));
    const kindOf = (p: Promise<unknown>) => p.then(() => 'decoded', (err: unknown) => classifyRegistryError(err, 'test').kind);
    await expect(reader.decode(Buffer.from('{"not":"avro"}'))).rejects.toBeInstanceOf(CdrflowError);
    expect(await kindOf(reader.decode(Buffer.from('{"not":"avro"}')))).toBe('bad_record');
    expect(await kindOf(reader.decode(good.subarray(0, good.length - 7)))).toBe('bad_record');
    expect(await kindOf(reader.decode(Buffer.concat([good, Buffer.from([1, 2, 3])])))).toBe('bad_record');
    // The synchronous path, once the writer is known, classifies the same way (and never answers for bad bytes).
    await reader.decode(good);
    const kindNow = (value: Buffer) => kindOf(Promise.resolve().then(() => reader.decodeReady(value)));
    expect(await kindNow(Buffer.from('{"not":"avro"}'))).toBe('bad_record');
    expect(await kindNow(good.subarray(0, good.length - 7))).toBe('bad_record');
    expect(await kindNow(Buffer.concat([good, Buffer.from([1, 2, 3])]))).toBe('bad_record');
    const unknownId = Buffer.from(good);
    unknownId.writeInt32BE(2_000_000_000, 1);
    expect(await kindOf(reader.decode(unknownId))).toBe('schema');
    // The good value still decodes after the failures (a failed writer lookup is not cached).
    expect(await reader.decode(good)).toEqual(sampleCdr(1));
  });
});
