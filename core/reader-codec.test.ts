// ReaderCodec against hostile but valid writer schemas (anyone who may register schemas in a shared registry, and
// write to a topic a stage reads): each record is the record's problem (bad_record), never the stage's; a writer
// refused once is refused at once after; the writers kept, here and in the registry client, are bounded. The client
// is the real one, in front of a small registry on loopback that serves the schemas this test makes up.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import avro from 'avsc';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_WRITER_SCHEMAS, ReaderCodec, avroOptions, createRegistry, loadSchemaJson, registryAway } from './avro.ts';
import { classifyDecodeError, classifyRegistryError, type DeadLetter } from './dead-letter.ts';
import { CdrflowError } from './errors.ts';
import { SCHEMA_FILES } from './topology.ts';
import { RawAnswer, registryStub, type RegistryStub } from '../test/registry-stub.ts';

const deadLetterSchema = loadSchemaJson(SCHEMA_FILES.deadLetter) as { fields: object[] } & Record<string, unknown>;
const letter: DeadLetter = {
  original_value: Buffer.from('x'),
  original_key: null,
  origin_topic: 't',
  origin_partition: 0,
  origin_offset: 1,
  error_kind: 'bad_record',
  error_message: 'why',
  component: 'c',
  vendor: null,
  cdr_id: null,
  failed_at: new Date(0),
};

const framed = (id: number, body: Buffer) => {
  const header = Buffer.alloc(5);
  header.writeInt32BE(id, 1);
  return Buffer.concat([header, body]);
};

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** The registry stub (test/registry-stub.ts), closed after the test. */
async function fakeRegistry(...args: Parameters<typeof registryStub>): Promise<RegistryStub> {
  const stub = await registryStub(...args);
  servers.push(stub);
  return stub;
}

/** How a stage words a failure to decode one record (normalize and the sink both use classifyDecodeError). */
async function failureOf(codec: ReaderCodec<unknown>, value: Buffer): Promise<CdrflowError> {
  try {
    await codec.decode(value);
  } catch (err) {
    return classifyDecodeError(err, 'decoding');
  }
  throw new Error('decoded');
}

describe('ReaderCodec: hostile writer schemas', () => {
  it.each(['com.acme.network.CallEvent', 'ECONNRESET', 'ETIMEDOUT'])('a writer named %s that the reader cannot read is a bad record, not a network failure (it restarted the stages for good)', async (name) => {
    const dot = name.lastIndexOf('.');
    const schema = { type: 'record', name: name.slice(dot + 1), ...(dot > 0 ? { namespace: name.slice(0, dot) } : {}), fields: [{ name: 'a', type: 'string' }] };
    const { registry, asked } = await fakeRegistry(() => schema);
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const value = framed(7, avro.Type.forSchema(schema as avro.Schema).toBuffer({ a: 'x' }));
    for (let i = 0; i < 50; i++) {
      const e = await failureOf(codec, value);
      expect(e.kind).toBe('bad_record');
      expect(e.message).toMatch(/writer schema 7 cannot be read as dev\.cdrflow\.dlq\.DeadLetter/);
    }
    // Refused once, for good: a registry id never changes its schema.
    expect(asked.get(7)).toBe(1);
  });

  it('a writer the client cannot build (a record of 40,000 fields) is fetched and refused once, then each of its records at once', async () => {
    const wide = { ...deadLetterSchema, fields: [...deadLetterSchema.fields, ...Array.from({ length: 40_000 }, (_, i) => ({ name: `f${i}`, type: 'int', default: 0 }))] };
    const { registry, asked } = await fakeRegistry(() => wide);
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const value = framed(9, Buffer.from([0]));
    for (let i = 0; i < 25; i++) {
      const e = await failureOf(codec, value);
      expect(e.kind).toBe('bad_record');
      expect(e.message).toMatch(/writer schema 9 cannot be built/);
    }
    expect(asked.get(9)).toBe(1);
  });

  it('an unknown id is asked again (the registry may know it later), and is a bad record each time', async () => {
    const { registry, asked } = await fakeRegistry(() => undefined);
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    for (let i = 0; i < 3; i++) expect((await failureOf(codec, framed(11, Buffer.from([0])))).kind).toBe('bad_record');
    // Each time: the client's request, and a plain look at its 404 (the registry's own code, 40403: a bad record).
    expect(asked.get(11)).toBe(6);
  });

  it(`keeps at most ${MAX_WRITER_SCHEMAS} writers built, here and in the registry client; one let go is fetched again when needed`, async () => {
    // 300 distinct versions the reader can read: the dead-letter schema with one extra field each.
    const version = (id: number) => ({ ...deadLetterSchema, fields: [...deadLetterSchema.fields, { name: `extra_${id}`, type: 'int', default: 0 }] });
    const { registry, asked } = await fakeRegistry(version);
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const encode = (id: number) => framed(id, avro.Type.forSchema(version(id) as avro.Schema, avroOptions()).toBuffer({ ...letter, [`extra_${id}`]: id }));
    for (let id = 1; id <= 300; id++) expect((await codec.decode(encode(id))).origin_offset).toBe(1);
    const clientCache = (registry as unknown as { cache: { schemasByRegistryId: Record<number, unknown> } }).cache.schemasByRegistryId;
    expect(Object.keys(clientCache).length).toBeLessThanOrEqual(MAX_WRITER_SCHEMAS);
    expect(Object.keys(clientCache)).toContain('300');
    // The newest is kept (read without a request), the first was let go (fetched again).
    expect(codec.decodeReady(encode(300))?.origin_offset).toBe(1);
    expect(codec.decodeReady(encode(1))).toBeUndefined();
    expect((await codec.decode(encode(1))).origin_offset).toBe(1);
    expect(asked.get(300)).toBe(1);
    expect(asked.get(1)).toBe(2);
  });

  it('a time the writer declares in another unit (timestamp-micros) is a bad record, not read as millis; a plain long is read as millis', async () => {
    const withFailedAt = (type: object | string) => ({ ...deadLetterSchema, fields: deadLetterSchema.fields.map((f) => ((f as { name: string }).name === 'failed_at' ? { name: 'failed_at', type } : f)) });
    const micros = withFailedAt({ type: 'long', logicalType: 'timestamp-micros' });
    const plain = withFailedAt('long');
    const { registry } = await fakeRegistry((id) => (id === 1 ? micros : plain));
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    // 2,592,000,000,000 µs is 1970-01-31; read as millis it was 2052-02-20.
    const value = (id: number, schema: object) => framed(id, avro.Type.forSchema(schema as avro.Schema, avroOptions()).toBuffer({ ...letter, failed_at: 2_592_000_000_000 }));
    const e = await failureOf(codec, value(1, micros));
    expect(e.kind).toBe('bad_record');
    expect(e.message).toMatch(/writer schema 1 cannot be read as dev\.cdrflow\.dlq\.DeadLetter/);
    expect((await codec.decode(value(2, plain))).failed_at).toEqual(new Date(2_592_000_000_000));
  });

  it.each([SCHEMA_FILES.deadLetter, SCHEMA_FILES.normalized, SCHEMA_FILES.rawEnvelope])('the contract\'s own schema (%s) as the writer is read directly (the sink\'s fast path needs it), a plain-long version of it through a resolver', async (file) => {
    const own = loadSchemaJson(file);
    // The same schema with its logical types left out: equal in canonical form, not in what its longs mean.
    const bare = JSON.parse(JSON.stringify(own).replaceAll(',"logicalType":"timestamp-millis"', '')) as object;
    expect(JSON.stringify(bare)).not.toBe(JSON.stringify(own));
    const { registry } = await fakeRegistry((id) => (id === 1 ? own : bare));
    const codec = new ReaderCodec<unknown>(registry, file);
    const type = avro.Type.forSchema(own as avro.Schema, avroOptions());
    const sample = type.random();
    const bareType = avro.Type.forSchema(bare as avro.Schema, avroOptions());
    await codec.decode(framed(1, type.toBuffer(sample)));
    await codec.decode(framed(2, bareType.toBuffer(bareType.random())));
    expect([codec.readsDirectly(1), codec.readsDirectly(2)]).toEqual([true, false]);
  });

  it('a maintenance page answered with 200 instead of a schema is the registry away (asked again), not a writer refused for good', async () => {
    const { registry, asked } = await fakeRegistry((_id, n) => (n === 1 ? '<html>back soon</html>' : deadLetterSchema));
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const value = framed(4, avro.Type.forSchema(deadLetterSchema as avro.Schema, avroOptions()).toBuffer(letter));
    const first = await failureOf(codec, value);
    expect(first.kind).toBe('transient');
    expect(first.message).toMatch(/registry answer not understood: HTTP 200 with a body that is no schema \("<html>back soon<\/html>"\)/);
    expect((await codec.decode(value)).origin_offset).toBe(1);
    expect(asked.get(4)).toBe(2);
  });

  it.each([
    ['a JSON object without a schema', new RawAnswer(200, '{}', { 'content-type': 'application/json' })],
    ['a JSON array', new RawAnswer(200, '[]', { 'content-type': 'application/vnd.schemaregistry.v1+json' })],
    ['a schema that is no string', new RawAnswer(200, '{"schema":5}', { 'content-type': 'application/json' })],
    ['a redirect (the client does not follow one)', new RawAnswer(302, '', { location: '/elsewhere/schemas/ids/4' })],
  ])('%s answered for a writer is the registry not understood (asked again), not a writer refused for good', async (_what, answer) => {
    const { registry, asked } = await fakeRegistry((_id, n) => (n === 1 ? answer : deadLetterSchema));
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const value = framed(4, avro.Type.forSchema(deadLetterSchema as avro.Schema, avroOptions()).toBuffer(letter));
    const first = await failureOf(codec, value);
    expect(first.kind).toBe('transient');
    expect(first.message).toMatch(/registry answer not understood: HTTP (200 with a body that is no schema|302, a redirect to \/elsewhere\/schemas\/ids\/4 that the registry client does not follow)/);
    expect((await codec.decode(value)).origin_offset).toBe(1);
    expect(asked.get(4)).toBe(2);
  });

  it("a maintenance page answered for a writer's reference (a subject's version) is the registry away (asked again)", async () => {
    // The writer's extra field is of a type registered under another subject; the client asks for it by subject and
    // version (the stub counts those requests under NaN).
    const ref = { type: 'record', name: 'Ref', namespace: 'com.acme', fields: [{ name: 'a', type: 'int' }] };
    const writer = { ...deadLetterSchema, fields: [...deadLetterSchema.fields, { name: 'extra', type: ['null', 'com.acme.Ref'], default: null }] };
    const { registry, asked } = await fakeRegistry((id, n) =>
      Number.isNaN(id) ? (n === 1 ? '<html>back soon</html>' : ref) : new RawAnswer(200, JSON.stringify({ schema: JSON.stringify(writer), references: [{ name: 'com.acme.Ref', subject: 'ref-value', version: 1 }] }), { 'content-type': 'application/json' }),
    );
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const value = framed(4, Buffer.concat([avro.Type.forSchema(deadLetterSchema as avro.Schema, avroOptions()).toBuffer(letter), Buffer.from([0])]));
    const first = await failureOf(codec, value);
    expect(first.kind).toBe('transient');
    expect(first.message).toMatch(/registry answer not understood: HTTP 200 with a body that is no schema/);
    expect((await codec.decode(value)).origin_offset).toBe(1);
    expect(asked.get(NaN)).toBe(2);
  });

  it.each([
    [408, 'transient'],
    [407, 'auth'],
  ])('an id answered %i (a proxy between) is %s, never a dead letter', async (status, kind) => {
    const { registry, asked } = await fakeRegistry((_id, n) => (n <= 2 ? new RawAnswer(status, '<html>proxy</html>') : deadLetterSchema));
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const value = framed(4, avro.Type.forSchema(deadLetterSchema as avro.Schema, avroOptions()).toBuffer(letter));
    expect((await failureOf(codec, value)).kind).toBe(kind);
    expect((await failureOf(codec, value)).kind).toBe(kind);
    expect((await codec.decode(value)).origin_offset).toBe(1);
    expect(asked.get(4)).toBe(3);
  });

  it("an id answered 404 without the registry's 'not found' code is the registry away (asked again), not an unknown writer", async () => {
    // Id 4: a web server's 404 page twice (the client's request and the look after it), then the schema. Id 5: the
    // registry's own 40403, which stays an id it does not know.
    const { registry, asked } = await fakeRegistry((id, n) => (id === 5 ? undefined : n <= 2 ? new RawAnswer(404, '<html>Not Found</html>') : deadLetterSchema));
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const value = (id: number) => framed(id, avro.Type.forSchema(deadLetterSchema as avro.Schema, avroOptions()).toBuffer(letter));
    const first = await failureOf(codec, value(4));
    expect(first.kind).toBe('transient');
    expect(first.message).toMatch(/registry answer not understood: HTTP 404 for \/schemas\/ids\/4 .*Apicurio serves one under \/apis\/ccompat\/v7/);
    expect((await codec.decode(value(4))).origin_offset).toBe(1);
    expect(asked.get(4)).toBe(3);
    const unknown = await failureOf(codec, value(5));
    expect(unknown.kind).not.toBe('transient');
    expect(unknown.message).toMatch(/Schema not found/);
  });

  it('a writer let go while it was still being fetched leaves nothing behind in the registry client', async () => {
    const version = (id: number) => ({ ...deadLetterSchema, fields: [...deadLetterSchema.fields, { name: `extra_${id}`, type: 'int', default: 0 }] });
    // Writer 1000 answers after the codec has taken 64 others (and let 1000 go to make room).
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { registry } = await fakeRegistry(version, (id) => (id === 1000 ? 400 : 0));
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const encode = (id: number) => framed(id, avro.Type.forSchema(version(id) as avro.Schema, avroOptions()).toBuffer({ ...letter, [`extra_${id}`]: id }));
    const slow = codec.decode(encode(1000)).finally(release);
    for (let id = 1; id <= MAX_WRITER_SCHEMAS; id++) await codec.decode(encode(id));
    expect((await slow).origin_offset).toBe(1); // its waiting record still decodes
    await held;
    await new Promise((r) => setImmediate(r));
    const clientCache = (registry as unknown as { cache: { schemasByRegistryId: Record<number, unknown> } }).cache.schemasByRegistryId;
    expect(Object.keys(clientCache)).not.toContain('1000');
    expect(Object.keys(clientCache).length).toBeLessThanOrEqual(MAX_WRITER_SCHEMAS);
    expect(codec.decodeReady(encode(1000))).toBeUndefined();
  });

  it('a refusal is remembered in a few hundred characters, however long the writer made its names', async () => {
    const name = `N${'x'.repeat(100_000)}`;
    const schema = { type: 'record', name, fields: [{ name: 'a', type: 'string' }] };
    const { registry } = await fakeRegistry(() => schema);
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const value = framed(8, avro.Type.forSchema(schema as avro.Schema).toBuffer({ a: 'x' }));
    for (let i = 0; i < 2; i++) {
      const e = await failureOf(codec, value);
      expect(e.kind).toBe('bad_record');
      expect(e.message.length).toBeLessThan(700);
    }
  });

  it('a body nested deeper than the stack is a bad record that says so', async () => {
    // A writer with one more field than the reader, a linked list: the resolver reads it through (to skip it) by recursion.
    const chained = { ...deadLetterSchema, fields: [...deadLetterSchema.fields, { name: 'chain', type: ['null', { type: 'record', name: 'Link', fields: [{ name: 'next', type: ['null', 'Link'] }] }], default: null }] };
    const { registry } = await fakeRegistry(() => chained);
    const codec = new ReaderCodec<DeadLetter>(registry, SCHEMA_FILES.deadLetter);
    const head = avro.Type.forSchema(deadLetterSchema as avro.Schema, avroOptions()).toBuffer(letter);
    // 200,000 links written by hand (writing them with avsc would run out of stack too): branch 1 each, then null.
    const links = Buffer.concat([Buffer.alloc(200_001, 0x02), Buffer.from([0x00])]);
    const e = await failureOf(codec, framed(3, Buffer.concat([head, links])));
    expect(e.kind).toBe('bad_record');
    expect(e.message).toMatch(/nested too deeply to decode$/);
  });
});

describe('the registry client: an answer cut off mid-body', () => {
  it('fails within the request timeout and reads as the registry away (transient), where it waited for good', async () => {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json', 'content-length': '1000' });
      res.write('{"schema":');
      setTimeout(() => req.socket.destroy(), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const registry = createRegistry(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const err = await registry.getSchema(5).then(
      () => new Error('answered'),
      (e: unknown) => e,
    );
    expect(registryAway(err)).toBe(true);
    expect(classifyRegistryError(err, 'fetching writer schema 5').kind).toBe('transient');
  }, 20_000);
});
