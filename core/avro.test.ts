import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { TopicCodec, avroType, createRegistry, encodeFramed, framedSchemaId } from './avro.ts';
import { classifyRegistryError } from './dead-letter.ts';
import { SCHEMA_FILES, TOPICS } from './topology.ts';

const envelope = (payload: string) => ({
  vendor: 'tencent-ccc',
  tenant_id: '1400000000',
  natural_key: 'abc',
  received_at: new Date('2026-11-22T01:02:03.456Z'),
  connector: 'test',
  mode: 'live',
  request_id: null,
  payload,
  payload_format: 'json',
  attributes: { k: 'v' },
});

describe('avroType', () => {
  it('round-trips timestamp-millis as Date', () => {
    const type = avroType(SCHEMA_FILES.rawEnvelope);
    const record = envelope('{"SessionId":"abc"}');
    const decoded = type.fromBuffer(type.toBuffer(record)) as typeof record;
    expect(decoded.received_at).toBeInstanceOf(Date);
    expect(decoded.received_at.toISOString()).toBe('2026-11-22T01:02:03.456Z');
  });

  it('rejects a non-Date timestamp', () => {
    const type = avroType(SCHEMA_FILES.deadLetter);
    expect(
      type.isValid({ origin_topic: 't', error_kind: 'bad_record', error_message: 'x', component: 'c', failed_at: 123 }),
    ).toBe(false);
  });

  it('refuses to decode a timestamp-millis beyond the range of a date, and reads the range\'s own ends', () => {
    const type = avroType(SCHEMA_FILES.rawEnvelope);
    // A long's zigzag varint, by hand: avsc writes a negative long beyond 2^52 with its last bit lost.
    const varint = (ms: number) => {
      let z = (BigInt(ms) << 1n) ^ (BigInt(ms) >> 63n);
      const bytes: number[] = [];
      for (; z >= 0x80n; z >>= 7n) bytes.push(Number(z & 0x7fn) | 0x80);
      return Buffer.from([...bytes, Number(z)]);
    };
    // The envelope's bytes with received_at written as any long.
    const withReceivedAt = (ms: number) => {
      const fields = (type as unknown as { fields: { name: string; type: avro.Type }[] }).fields;
      const record = envelope('{}') as unknown as Record<string, unknown>;
      return Buffer.concat(fields.map((f) => (f.name === 'received_at' ? varint(ms) : f.type.toBuffer(record[f.name]))));
    };
    expect(type.fromBuffer(withReceivedAt(1_764_547_200_000))).toMatchObject({ received_at: new Date(1_764_547_200_000) });
    for (const ms of [8.64e15 + 1, 9e15]) expect(() => type.fromBuffer(withReceivedAt(ms)), String(ms)).toThrow(/beyond the range of a date/);
    // Beyond 2^52 a negative long's varint is past 2^53, where avsc refuses it itself ("potential precision loss").
    for (const ms of [-1e16, 2 ** 53 - 1]) expect(() => type.fromBuffer(withReceivedAt(ms)), String(ms)).toThrow();
    for (const ms of [8.64e15, -4e15]) expect((type.fromBuffer(withReceivedAt(ms)) as { received_at: Date }).received_at.getTime()).toBe(ms);
  });

  it('parses every schema file', () => {
    for (const file of Object.values(SCHEMA_FILES)) expect(avroType(file).name).toMatch(/^dev\.cdrflow\./);
  });
});

describe('encodeFramed', () => {
  const type = avroType(SCHEMA_FILES.rawEnvelope);

  it('writes the wire format: magic byte, schema id, then exactly what toBuffer writes', () => {
    // Small, larger than avsc's own 1 KiB buffer, and larger than the scratch buffer (it grows, then stays).
    for (const size of [10, 5_000, 100_000, 10]) {
      const record = envelope('x'.repeat(size));
      const framed = encodeFramed(type, 4242, record);
      expect(framed[0]).toBe(0);
      expect(framed.readInt32BE(1)).toBe(4242);
      expect(framed.subarray(5).equals(type.toBuffer(record))).toBe(true);
      expect(type.fromBuffer(framed.subarray(5))).toEqual(record);
    }
  });

  it('hands out values that later encodes do not overwrite', () => {
    const first = encodeFramed(type, 1, envelope('first'));
    const copy = Buffer.from(first);
    encodeFramed(type, 1, envelope('second, and longer than the first'));
    expect(first.equals(copy)).toBe(true);
  });

  it('throws, as toBuffer does, on a value outside the schema', () => {
    expect(() => encodeFramed(type, 1, { ...envelope('x'), received_at: 123 })).toThrow();
  });
});

describe('framedSchemaId', () => {
  it('reads the id after the magic byte, and refuses what no registry frames: no magic byte, too short, a negative id', () => {
    expect(framedSchemaId(Buffer.from([0, 0, 0, 0, 7, 2]))).toBe(7);
    expect(framedSchemaId(Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]))).toBe(2 ** 31 - 1);
    for (const value of [Buffer.from([1, 0, 0, 0, 7]), Buffer.from([0, 0, 0, 7]), Buffer.alloc(0)]) {
      expect(() => framedSchemaId(value)).toThrow(expect.objectContaining({ kind: 'bad_record', message: expect.stringContaining('not a schema-registry framed') }));
    }
    for (const id of [-1, -(2 ** 31)]) {
      const value = Buffer.alloc(6);
      value.writeInt32BE(id, 1);
      expect(() => framedSchemaId(value)).toThrow(expect.objectContaining({ kind: 'bad_record', message: expect.stringContaining(`schema id ${id}`) }));
    }
  });
});

describe('TopicCodec.register', () => {
  // What a registry (or what stands in its place) answers the registration with; its subject's config is BACKWARD.
  it.each([
    ['a maintenance page served with 200', 'text/html', '<html>back soon</html>'],
    ['a JSON object without an id', 'application/json', '{}'],
    ['an id that is no number', 'application/json', '{"id":"5"}'],
    ['a negative id', 'application/json', '{"id":-1}'],
    ['an id beyond 32 bits', 'application/json', '{"id":1099511627776}'],
    ['an id that is no integer', 'application/json', '{"id":1.5}'],
  ])('%s is the registry not understood (transient, asked again), never an id values are framed with', async (_what, contentType, answer) => {
    let registrations = 0;
    const server = createServer((req, res) => {
      req.resume();
      if (req.url!.startsWith('/config/')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"compatibilityLevel":"BACKWARD"}');
      registrations++;
      res.writeHead(200, { 'content-type': registrations === 1 ? contentType : 'application/json' }).end(registrations === 1 ? answer : '{"id":7}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const codec = new TopicCodec(createRegistry(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), TOPICS.deadLetter, SCHEMA_FILES.deadLetter);
      const err = await codec.register().then((id) => new Error(`registered as ${JSON.stringify(id)}`), (e: unknown) => e);
      expect(classifyRegistryError(err, 'registering')).toMatchObject({ kind: 'transient', message: expect.stringMatching(/registry answer not understood/) });
      expect(await codec.register()).toBe(7);
    } finally {
      server.close();
    }
  });
});

describe("TopicCodec.register: the subject's config answered by something else", () => {
  it.each([
    ['a maintenance page served with 200', 200, { 'content-type': 'text/html' }],
    ['a redirect (the client follows none)', 307, { location: '/elsewhere/config/x' }],
  ])('%s is the registry not understood (transient, asked again), not a schema refused', async (_what, status, headers) => {
    let configs = 0;
    const server = createServer((req, res) => {
      req.resume();
      if (req.url!.startsWith('/config/') && ++configs === 1) return void res.writeHead(status, headers).end('<html>back soon</html>');
      if (req.url!.startsWith('/config/')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"compatibilityLevel":"BACKWARD"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":7}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const codec = new TopicCodec(createRegistry(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), TOPICS.deadLetter, SCHEMA_FILES.deadLetter);
      const err = await codec.register().then((id) => new Error(`registered as ${JSON.stringify(id)}`), (e: unknown) => e);
      expect(classifyRegistryError(err, 'registering')).toMatchObject({ kind: 'transient', message: expect.stringMatching(/registry answer not understood: HTTP (200|307)/) });
      expect(await codec.register()).toBe(7);
    } finally {
      server.close();
    }
  });
});
