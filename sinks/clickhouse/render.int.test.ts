// The sink's two ways of turning cdr.normalized values into rows (render.ts) give the same result for the same
// values, hostile ones included, with a real registry: in the render thread (the default) and inline.
import { afterAll, describe, expect, it } from 'vitest';
import avro from 'avsc';
import { MAX_WRITER_SCHEMAS, TopicCodec, avroOptions, avroType, encodeFramed, loadSchemaJson } from '../../core/avro.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import type { ConsumedMessage } from '../../core/kafka-streams.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { testRegistry, uniqueName } from '../../test/helpers.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { MAX_CDR_ID_BYTES, createRenderer, type RenderResult, type Renderer } from './render.ts';
import { INSERT_FORMATS, cdrLine } from './rows.ts';
import { seededRandom } from '../../simulators/kit.ts';

const registry = testRegistry();
const topic = `${uniqueName('render')}.normalized`;
const renderers: Renderer[] = [];
afterAll(async () => {
  for (const r of renderers) await r.close();
});

const message = (offset: number, value: Buffer | null): ConsumedMessage => ({ topic, partition: 2, offset, key: null, value, timestamp: 0 });
/** A result as plain data: a row's fields are read from its batch's columns when asked (render.ts PackedRow). */
const plain = (r: RenderResult) => ('error' in r ? r : { line: r.line.toString(), vendor: r.vendor, cdr_id: r.cdr_id, received_at: r.received_at });

describe('rendering cdr.normalized values into rows', () => {
  it('the render thread and the inline renderer give the same rows and the same bad-record reasons', async () => {
    const codec = new TopicCodec(registry, topic, SCHEMA_FILES.normalized);
    const cdrs = Array.from({ length: 300 }, (_, i) => sampleCdr(i));
    const good = await Promise.all(cdrs.map((c) => codec.encode(c)));
    const unknownSchema = Buffer.from(good[0]!);
    unknownSchema.writeInt32BE(2_000_000_000, 1);
    const messages = [
      ...good.map((v, i) => message(i, v)),
      message(300, null), // a tombstone
      message(301, Buffer.from('{"not":"avro"}')), // no frame
      message(302, Buffer.concat([good[0]!.subarray(0, 5), Buffer.from([0xff, 0xff, 0xff])])), // a frame, garbage body
      message(303, good[1]!.subarray(0, good[1]!.length - 7)), // truncated
    ];
    for (const format of INSERT_FORMATS) {
      const thread = createRenderer(registry, format, { thread: true });
      const inline = createRenderer(registry, format, { thread: false });
      renderers.push(thread, inline);
      const [a, b] = [(await thread.render(messages)).map(plain), (await inline.render(messages)).map(plain)];
      expect(a).toEqual(b);
      expect(a.slice(0, 300)).toEqual(
        cdrs.map((c, i) => ({ line: cdrLine(c, { topic, partition: 2, offset: i }, format), vendor: c.vendor, cdr_id: c.cdr_id, received_at: c.received_at })),
      );
      const errors = a.slice(300).map((r) => ('error' in r ? r.error.kind : 'row'));
      expect(errors).toEqual(['bad_record', 'bad_record', 'bad_record', 'bad_record']);
      // A schema id the registry does not know is that record's problem: a dead letter from both (they used to stop
      // the stage, which met the same record again at every restart).
      const [unknownByThread, unknownInline] = [await thread.render([message(400, unknownSchema)]), await inline.render([message(400, unknownSchema)])];
      expect(unknownByThread).toEqual([{ error: { kind: 'bad_record', message: expect.stringMatching(/2000000000/) } }]);
      expect(unknownInline).toEqual([{ error: { kind: 'bad_record', message: expect.stringMatching(/2000000000/) } }]);
      // ...and the thread keeps working after it.
      expect((await thread.render(messages.slice(0, 2))).map(plain)).toEqual(a.slice(0, 2));
    }
  });

  it('any schema id in the frame, negative ones included, gives a row or a dead letter from both, never a stop', async () => {
    // A negative id was taken for a tombstone's marker and stopped the job as a bug, at every restart again.
    const codec = new TopicCodec(registry, topic, SCHEMA_FILES.normalized);
    const body = await codec.encode(sampleCdr(1));
    const random = seededRandom(11);
    const ids = [-1, -2, -(2 ** 31), 0, 2 ** 31 - 1, body.readInt32BE(1), ...Array.from({ length: 60 }, () => Math.floor(random() * 2 ** 32) - 2 ** 31)];
    const messages = ids.map((id, i) => {
      const value = Buffer.from(body);
      value.writeInt32BE(id, 1);
      return message(i, value);
    });
    const thread = createRenderer(registry, 'TabSeparated', { thread: true });
    const inline = createRenderer(registry, 'TabSeparated', { thread: false });
    renderers.push(thread, inline);
    const good = body.readInt32BE(1);
    for (const rendered of [await thread.render(messages), await inline.render(messages)]) {
      // Each record's outcome, and every dead letter names the id it met (the two word an unknown id differently).
      expect(rendered.map((r) => ('error' in r ? r.error.kind : 'row'))).toEqual(ids.map((id) => (id === good ? 'row' : 'bad_record')));
      rendered.forEach((r, i) => 'error' in r && expect(r.error.message, `id ${ids[i]}`).toMatch(new RegExp(`(?<![\\d-])${ids[i]}(?!\\d)`)));
      for (const id of [-1, -(2 ** 31)]) expect(rendered[ids.indexOf(id)]).toEqual({ error: { kind: 'bad_record', message: expect.stringContaining(`schema id ${id}`) } });
    }
  });

  it('a row whose identity normalize could not have written is a dead letter: an unknown vendor, a cdr_id of another vendor, of 500,000 characters or with U+FFFD', async () => {
    const codec = new TopicCodec(registry, topic, SCHEMA_FILES.normalized);
    const good = sampleCdr(3);
    const atLimit = { ...good, cdr_id: `${good.vendor}:t:${'k'.repeat(MAX_CDR_ID_BYTES - good.vendor.length - 3)}` };
    const cases = [
      good,
      { ...good, vendor: 'not-a-vendor\u0007', cdr_id: 'not-a-vendor\u0007:t:k' },
      { ...good, cdr_id: `tencent-ccc:${good.tenant_id}:${good.natural_key}` },
      { ...good, cdr_id: `${good.vendor}:t:${'k'.repeat(500_000)}` },
      { ...good, cdr_id: `${good.vendor}:t:${'键'.repeat(200)}` }, // 600 bytes of UTF-8
      atLimit,
      // What a writer whose cdr_id is bytes gives when they are not UTF-8 (Avro reads bytes as a string leniently).
      { ...good, cdr_id: `${good.vendor}:t:call-\uFFFD\uFFFD` },
    ];
    expect(good.vendor).not.toBe('tencent-ccc');
    const messages = await Promise.all(cases.map(async (c, i) => message(i, await codec.encode(c))));
    for (const format of INSERT_FORMATS) {
      for (const renderer of [createRenderer(registry, format, { thread: true }), createRenderer(registry, format, { thread: false })]) {
        renderers.push(renderer);
        const rendered = (await renderer.render(messages)).map(plain);
        expect(rendered.map((r) => ('error' in r ? r.error.kind : 'row')), format).toEqual(['row', 'bad_record', 'bad_record', 'bad_record', 'bad_record', 'row', 'bad_record']);
        expect(rendered[1]).toEqual({ error: { kind: 'bad_record', message: expect.stringContaining('is none of tencent-ccc') } });
        expect(rendered[2]).toEqual({ error: { kind: 'bad_record', message: expect.stringContaining(`is not ${good.vendor}:<tenant>:<natural key>`) } });
        expect(rendered[3]).toEqual({ error: { kind: 'bad_record', message: expect.stringContaining(`cdr_id is ${good.vendor.length + 3 + 500_000} bytes long`) } });
        expect(rendered[6]).toEqual({ error: { kind: 'bad_record', message: expect.stringContaining('cdr_id carries U+FFFD') } });
        // The rows around the refused ones are whole: the refused one's line, written already on the fast path, is gone.
        expect(rendered[0]).toEqual({ line: cdrLine(good, { topic, partition: 2, offset: 0 }, format), vendor: good.vendor, cdr_id: good.cdr_id, received_at: good.received_at });
        expect(rendered[5]).toMatchObject({ line: cdrLine(atLimit, { topic, partition: 2, offset: 5 }, format) });
      }
    }
  });

  it('a value framed with the id of a JSON Schema or Protobuf subject (a registry shared with others) is a dead letter from both', async () => {
    const { SchemaType } = await import('@kafkajs/confluent-schema-registry');
    const codec = new TopicCodec(registry, topic, SCHEMA_FILES.normalized);
    const good = await codec.encode(sampleCdr(2));
    const { id: jsonId } = await registry.register({ type: SchemaType.JSON, schema: JSON.stringify({ type: 'object', properties: { a: { type: 'number' } } }) }, { subject: `${uniqueName('json')}-value` });
    const { id: protoId } = await registry.register({ type: SchemaType.PROTOBUF, schema: 'syntax = "proto3";\npackage test;\nmessage M { int32 a = 1; }\n' }, { subject: `${uniqueName('proto')}-value` });
    const framed = (id: number, body: Buffer) => {
      const head = Buffer.alloc(5);
      head.writeInt32BE(id, 1);
      return Buffer.concat([head, body]);
    };
    const messages = [message(0, good), message(1, framed(jsonId, Buffer.from('{"a":1}'))), message(2, framed(protoId, Buffer.from([0, 8, 1]))), message(3, good)];
    for (const thread of [true, false]) {
      const renderer = createRenderer(registry, 'TabSeparated', { thread });
      renderers.push(renderer);
      const rendered = (await renderer.render(messages)).map(plain);
      expect(rendered.map((r) => ('error' in r ? r.error : 'row')), `thread ${thread}`).toEqual([
        'row',
        { kind: 'bad_record', message: expect.stringContaining(`writer schema ${jsonId} is not an Avro schema`) },
        { kind: 'bad_record', message: expect.stringContaining(`writer schema ${protoId} is not an Avro schema`) },
        'row',
      ]);
    }
  });

  it('a time beyond the range of a date (a long of 9e15 ms) is a dead letter in every format, thread and inline', async () => {
    // The fast path hands such a time back; the slow path's Invalid Date made the row's text throw, a stop.
    const codec = new TopicCodec(registry, topic, SCHEMA_FILES.normalized);
    const good = await codec.encode(sampleCdr(4));
    const type = avroType(SCHEMA_FILES.normalized) as unknown as { fields: { name: string; type: { toBuffer(v: unknown): Buffer } }[] };
    const cdr = sampleCdr(4) as unknown as Record<string, unknown>;
    const long = avro.Type.forSchema('long');
    const body = Buffer.concat(type.fields.map((f) => (f.name === 'received_at' ? long.toBuffer(9e15) : f.type.toBuffer(cdr[f.name]))));
    const beyond = Buffer.concat([good.subarray(0, 5), body]);
    const messages = [message(0, good), message(1, beyond), message(2, good)];
    for (const format of INSERT_FORMATS) {
      for (const thread of [true, false]) {
        const renderer = createRenderer(registry, format, { thread });
        renderers.push(renderer);
        const rendered = (await renderer.render(messages)).map(plain);
        expect(rendered.map((r) => ('error' in r ? r.error : 'row')), `${format}, thread ${thread}`).toEqual([
          'row',
          { kind: 'bad_record', message: expect.stringContaining('timestamp-millis 9000000000000000 is beyond the range of a date') },
          'row',
        ]);
      }
    }
  });

  it('150 writer versions, more than a renderer keeps built: every record a row, thread and inline, and the registry clients keep at most MAX_WRITER_SCHEMAS', async () => {
    const { SchemaType } = await import('@kafkajs/confluent-schema-registry');
    const base = loadSchemaJson(SCHEMA_FILES.normalized) as { fields: object[] };
    // Each version one optional field more than the contract (a producer's own extension): read by the sink's reader.
    const versions = await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        const schema = { ...base, fields: [...base.fields, { name: `extension_${i}`, type: ['null', 'string'], default: null }] };
        const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: `${uniqueName('writers')}-value` });
        const cdr = sampleCdr(i);
        const body = avro.Type.forSchema(schema as avro.Schema, avroOptions()).toBuffer({ ...cdr, [`extension_${i}`]: `x${i}` });
        const header = Buffer.alloc(5);
        header.writeInt32BE(id, 1);
        return { cdr, value: Buffer.concat([header, body]) };
      }),
    );
    const expected = (i: number) => ({ line: cdrLine(versions[i]!.cdr, { topic, partition: 2, offset: i }, 'TabSeparated'), vendor: versions[i]!.cdr.vendor, cdr_id: versions[i]!.cdr.cdr_id, received_at: versions[i]!.cdr.received_at });
    const all = versions.map((v, i) => message(i, v.value));
    // Clients of their own, so their caches hold only what these renderers fetched.
    const clients = { thread: testRegistry(), inline: testRegistry() };
    const thread = createRenderer(clients.thread, 'TabSeparated', { thread: true });
    const inline = createRenderer(clients.inline, 'TabSeparated', { thread: false });
    renderers.push(thread, inline);
    for (const renderer of [thread, inline]) {
      // All in one batch (none may be let go while the batch needs it), then in small batches, back to front, so
      // versions let go are needed again.
      expect((await renderer.render(all)).map(plain)).toEqual(all.map((_, i) => expected(i)));
      for (let end = 150; end > 0; end -= 10) {
        const part = all.slice(end - 10, end);
        expect((await renderer.render(part)).map(plain)).toEqual(part.map((m) => expected(m.offset)));
      }
    }
    for (const client of Object.values(clients)) {
      const cached = Object.keys((client as unknown as { cache: { schemasByRegistryId: Record<number, unknown> } }).cache.schemasByRegistryId);
      expect(cached.length).toBeLessThanOrEqual(MAX_WRITER_SCHEMAS);
    }
  });

  it('a writer named like a network error (com.acme.network.CallEvent) that the contract cannot read is a dead letter from both, not a failure of the stage', async () => {
    const { SchemaType } = await import('@kafkajs/confluent-schema-registry');
    const schema = { type: 'record', name: 'CallEvent', namespace: 'com.acme.network', fields: [{ name: 'a', type: 'string' }] };
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: `${uniqueName('network')}-value` });
    const value = await registry.encode(id, { a: 'x' });
    for (const thread of [true, false]) {
      const renderer = createRenderer(registry, 'TabSeparated', { thread });
      renderers.push(renderer);
      expect(await renderer.render([message(0, value), message(1, value)]), `thread: ${thread}`).toEqual([
        { error: { kind: 'bad_record', message: expect.stringMatching(new RegExp(`writer schema ${id} cannot be read as`)) } },
        { error: { kind: 'bad_record', message: expect.stringMatching(new RegExp(`writer schema ${id} cannot be read as`)) } },
      ]);
    }
  });

  it('a batch given up on while its writers were fetched (the registry refusing us) renders whole when it comes again', async () => {
    const { SchemaType } = await import('@kafkajs/confluent-schema-registry');
    const base = loadSchemaJson(SCHEMA_FILES.normalized) as { fields: object[] };
    const framedBy = async (extra: string, cdr: NormalizedCdr) => {
      const schema = { ...base, fields: [...base.fields, { name: extra, type: ['null', 'string'], default: null }] };
      const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: `${uniqueName('partial')}-value` });
      return { id, value: encodeFramed(avro.Type.forSchema(schema as avro.Schema, avroOptions()), id, cdr) };
    };
    const [a, b] = [await framedBy('first_writer', sampleCdr(1)), await framedBy('second_writer', sampleCdr(2))];
    // The second writer's fetch is refused once (401: not retried, the batch fails and comes again).
    let refusals = 1;
    const flaky = new Proxy(testRegistry(), {
      get: (t, k) => (k === 'getSchema' ? (id: number) => (id === b.id && refusals-- > 0 ? Promise.reject(Object.assign(new Error('Unauthorized'), { status: 401 })) : t.getSchema(id)) : Reflect.get(t, k)),
    });
    const thread = createRenderer(flaky, 'TabSeparated', { thread: true });
    renderers.push(thread);
    const batch = [message(0, a.value), message(1, b.value)];
    await expect(thread.render(batch)).rejects.toMatchObject({ kind: 'auth' });
    expect((await thread.render(batch)).map((r) => ('error' in r ? r.error : 'row'))).toEqual(['row', 'row']);
  });

  it('a writer no client can build is fetched once by the render step, then its records are dead letters at once', async () => {
    const envelope = loadSchemaJson(SCHEMA_FILES.normalized) as { fields: object[] };
    const wide = { ...envelope, fields: [...envelope.fields, ...Array.from({ length: 40_000 }, (_, i) => ({ name: `f${i}`, type: 'int', default: 0 }))] };
    // Registered over the registry's API itself: the client builds a schema before it registers it.
    const api = (registry as unknown as { api: { Subject: { register(r: { subject: string; body: { schema: string } }): Promise<{ data(): { id: number } }> } } }).api;
    const wideId = (await api.Subject.register({ subject: `${uniqueName('wide')}-value`, body: { schema: JSON.stringify(wide) } })).data().id;
    let asked = 0;
    const counting = new Proxy(testRegistry(), { get: (t, k) => (k === 'getSchema' ? (id: number) => (id === wideId && asked++, t.getSchema(id)) : Reflect.get(t, k)) });
    const thread = createRenderer(counting, 'TabSeparated', { thread: true });
    renderers.push(thread);
    const value = encodeFramed(avro.Type.forSchema({ type: 'int' }), wideId, 0);
    for (let i = 0; i < 5; i++) {
      expect(await thread.render([message(i, value)])).toEqual([{ error: { kind: 'bad_record', message: expect.stringMatching(new RegExp(`writer schema ${wideId}\\b.*Too many parameters`)) } }]);
    }
    expect(asked).toBe(1);
  });

  it('a render thread that was closed refuses work instead of hanging', async () => {
    const thread = createRenderer(registry, 'TabSeparated', { thread: true });
    await thread.close();
    await expect(thread.render([message(0, null)])).rejects.toThrow(/closed|exited/);
  });

  it('a render thread says when it can take batches; one that ends before that says so instead of hanging', async () => {
    // The sink joins its group only once its thread is ready (sink.ts), so its first batches never wait on start-up.
    const thread = createRenderer(registry, 'TabSeparated', { thread: true });
    renderers.push(thread);
    await expect(thread.ready()).resolves.toBeUndefined();
    expect((await thread.render([message(0, null)])).map(plain)).toEqual([{ error: expect.objectContaining({ kind: 'bad_record' }) }]);
    // Closed at once: the thread cannot have loaded its modules yet, so it ends before it was ever ready.
    const gone = createRenderer(registry, 'TabSeparated', { thread: true });
    await gone.close();
    await expect(gone.ready()).rejects.toThrow(/exited|closed/);
    await expect(createRenderer(registry, 'TabSeparated', { thread: false }).ready()).resolves.toBeUndefined();
  });
});
