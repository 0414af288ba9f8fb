// The fetch decoding of record batches with one that cannot be read among them (kafkajs-unreadable-batch.ts): that one
// is one marked record at its last offset, the others are read exactly as kafkajs reads them, and read_committed and a
// fetch cut short behave as before. The broker side (a bomb the broker takes, both stages going past it) is in
// test/fuzz/poison.int.test.ts.
import './kafkajs-setup.ts';
import './compression/index.ts';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { MAX_DECODED_PER_FETCH, MAX_RECORDS_PER_BATCH, kafkajsBatchDecoder, unreadableBatch, unreadableLine } from './kafkajs-unreadable-batch.ts';
import { MAX_HEADERS_PER_BATCH } from './kafkajs-record-headers.ts';
import { gzipSync } from 'node:zlib';
import { varint, zstdBombRecords } from '../test/hostile-batches.ts';

const require = createRequire(import.meta.url);
type Decoder = { buffer: Buffer; offset: number };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => Decoder;
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown };
const RecordBatch = (require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (args: object) => Promise<{ buffer: Buffer }> }).RecordBatch;
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: object) => unknown;
const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (d: Decoder) => Promise<Msg[]>;
const Batch = require('kafkajs/src/consumer/batch.js') as new (topic: string, fetchedOffset: string, data: object) => { messages: Msg[] };
const { Types } = require('kafkajs/src/protocol/message/compression/index.js') as { Types: { None: number; ZSTD: number } };
const codecs = require('kafkajs/src/protocol/message/compression/index.js') as { Codecs: Record<number, () => { compress: unknown; decompress: unknown }> };

type Msg = { offset: string; key: Buffer | null; value: Buffer | null; headers: object; batchContext: Record<string, unknown>; isControlRecord: boolean; timestamp: string };

interface BatchArgs {
  firstOffset: number;
  values: string[];
  /** The compressed records as written, instead of the records compressed (a bomb, a corrupt stream). */
  compressed?: Buffer;
  transactional?: boolean;
  producerId?: number;
}

/** One record batch as a fetch answer carries it (kafkajs's own encoder; a given compressed section put in place). */
async function batch({ firstOffset, values, compressed, transactional = false, producerId = -1 }: BatchArgs): Promise<Buffer> {
  const records = values.map((v, i) => Record({ offsetDelta: i, key: Buffer.from(`k${firstOffset + i}`), value: Buffer.from(v) }));
  const args = { firstOffset: Long.fromValue(firstOffset), firstTimestamp: 1_764_547_200_000, maxTimestamp: 1_764_547_200_000, lastOffsetDelta: values.length - 1, transactional, producerId: Long.fromValue(producerId), records };
  if (!compressed) return (await RecordBatch(args)).buffer;
  const own = codecs.Codecs[Types.ZSTD]!;
  codecs.Codecs[Types.ZSTD] = () => ({ ...own(), compress: async () => compressed });
  try {
    return (await RecordBatch({ ...args, compression: Types.ZSTD })).buffer;
  } finally {
    codecs.Codecs[Types.ZSTD] = own;
  }
}

/** A fetch answer's record set: its size, then the batches. */
function recordSet(batches: Buffer[]): Decoder {
  const size = Buffer.alloc(4);
  size.writeInt32BE(batches.reduce((n, b) => n + b.length, 0));
  return new Decoder(Buffer.concat([size, ...batches]));
}

/** What kafkajs's own decoder reads from a batch on its own. */
async function kafkajsReads(bytes: Buffer): Promise<Msg[]> {
  return ((await kafkajsBatchDecoder(new Decoder(bytes))) as unknown as { records: Msg[] }).records;
}

const BOMB = zstdBombRecords(300 * 1024 * 1024);

/** A GZIP batch at `firstOffset` of one record per entry of `headers`, each with that many headers (key '', value null). */
async function gzipBatch(firstOffset: number, headers: number[]): Promise<Buffer> {
  const records = headers.map((n, i) => {
    const body = Buffer.alloc(16 + 2 * n, 1);
    const head = [0, 0, ...varint(i), ...varint(-1), ...varint(-1), ...varint(n)];
    body.set(head);
    for (let at = head.length; at < head.length + 2 * n; at += 2) body[at] = 0;
    const length = head.length + 2 * n;
    return Buffer.concat([Buffer.from(varint(length)), body.subarray(0, length)]);
  });
  const bytes = await batch({ firstOffset, values: headers.map(() => ''), compressed: gzipSync(Buffer.concat(records)) });
  bytes.writeInt16BE(1, 21); // attributes: GZIP
  return bytes;
}

describe('a record batch that cannot be read', () => {
  it('is one marked record at its last offset, its value the compressed records as written; the batches around it are read as kafkajs reads them', async () => {
    const before = await batch({ firstOffset: 0, values: ['a', 'b'] });
    const bomb = await batch({ firstOffset: 2, values: ['c', 'd', 'e', 'f', 'g'], compressed: BOMB, producerId: 7 });
    const after = await batch({ firstOffset: 7, values: ['h', 'i'] });
    const read = await decodeMessages(recordSet([before, bomb, after]));
    expect(read.map((m) => m.offset)).toEqual(['0', '1', '6', '7', '8']);
    expect([...read.slice(0, 2), ...read.slice(3)]).toEqual([...(await kafkajsReads(before)), ...(await kafkajsReads(after))]);
    expect(read.filter((m) => unreadableBatch(m) !== undefined)).toEqual([read[2]]);
    const one = read[2]!;
    expect(unreadableBatch(one)).toEqual({ firstOffset: 2, lastOffset: 6, records: 5, reason: `a record batch compressed with ZSTD (${BOMB.length} bytes) expands past 268435456 bytes; not read` });
    expect(unreadableLine(one)).toBe(
      `a record batch compressed with ZSTD (${BOMB.length} bytes) expands past 268435456 bytes; not read — the batch at offsets 2–6 (5 records) is this one dead letter, its records as written (compressed, if they were) in original_value`,
    );
    expect(one.value!.equals(BOMB)).toBe(true);
    expect(one).toMatchObject({ key: null, headers: {}, isControlRecord: false, timestamp: '1764547200000' });
    expect(one.batchContext).toMatchObject({ firstOffset: '2', lastOffsetDelta: 4, producerId: '7', inTransaction: false, isControlBatch: false });
    // kafkajs's own decoder stops the whole fetch at that batch: the consumer crashed there at every restart.
    await expect(kafkajsReads(bomb)).rejects.toThrow(/expands past/);
  });

  it('is marked with the codec\'s own refusal when its bytes are not what the codec writes', async () => {
    const corrupt = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]), Buffer.from('not zstd blocks at all')]);
    const [one] = await decodeMessages(recordSet([await batch({ firstOffset: 40, values: ['x'], compressed: corrupt })]));
    expect(unreadableBatch(one!)).toMatchObject({ firstOffset: 40, lastOffset: 40, records: 1, reason: expect.stringMatching(/^a record batch compressed with ZSTD \(28 bytes\) is not a valid ZSTD stream: /) });
    expect(unreadableLine(one!)).toMatch(/the batch at offset 40 \(1 record\)/);
  });

  it('is one marked with a compression codec Kafka does not define (ids 5-7): never read as records (kafkajs read its compressed bytes as uncompressed ones)', async () => {
    const records = Buffer.from([...varint(6), 0, 0, 0, ...varint(-1), ...varint(-1), 0]);
    const compressed = gzipSync(records);
    for (const codec of [5, 6, 7]) {
      const bytes = await batch({ firstOffset: 30, values: ['x'], compressed });
      bytes.writeInt16BE(codec, 21); // attributes: the codec's bits
      const [one, ...rest] = await decodeMessages(recordSet([bytes, await batch({ firstOffset: 31, values: ['b'] })]));
      expect(unreadableBatch(one!)).toEqual({ firstOffset: 30, lastOffset: 30, records: 1, reason: `a record batch compressed with codec id ${codec}, which Kafka does not define; not read` });
      expect(one!.value!.equals(compressed)).toBe(true);
      expect(rest.map((m) => [m.offset, m.value!.toString(), unreadableBatch(m)])).toEqual([['31', 'b', undefined]]);
    }
  });

  it('is one whose records are not what they declare: fewer than its count, none, one cut short or longer than its fields, a negative header count or length, a timestamp delta past 64 bits (kafkajs failed the whole fetch, or read other bytes)', async () => {
    const record = (offsetDelta: number, value: string, tail: number[] = [...varint(0)]) => {
      const body = [0, 0, ...varint(offsetDelta), ...varint(-1), ...varint(value.length), ...Buffer.from(value), ...tail];
      return Buffer.from([...varint(body.length), ...body]);
    };
    const two = Buffer.concat([record(0, 'a'), record(1, 'b')]);
    const cases: [string, Buffer, RegExp][] = [
      ['fewer records than its count', record(0, 'a'), /they end before the record count the batch declares/],
      ['no records at all', Buffer.alloc(0), /they end before the record count the batch declares/],
      // The second record ends inside its value: its value was read as 'b', cut short.
      ['a record cut short', Buffer.concat([record(0, 'a'), record(1, 'bcd').subarray(0, -3)]), /a record is cut short/],
      ['a record longer than its fields', Buffer.concat([record(0, 'a'), record(1, 'b', [...varint(0), 0x7f, 0x7f])]), /a record holds 2 bytes past its fields/],
      ['a negative header count', Buffer.concat([record(0, 'a'), record(1, 'b', [...varint(-5)])]), /a record declares -5 headers/],
      // A negative length other than -1 (null): kafkajs read it as empty and moved back over the bytes it had read.
      ['a header key of negative length', Buffer.concat([record(0, 'a'), record(1, 'b', [...varint(1), ...varint(-3), ...varint(-1)])]), /a record's header key declares a negative length/],
      ['a header value of negative length', Buffer.concat([record(0, 'a'), record(1, 'b', [...varint(1), ...varint(1), 0x6b, ...varint(-2)])]), /a record's header value declares a negative length/],
      ['a key of negative length', Buffer.concat([record(0, 'a'), Buffer.from([...varint(6), 0, 0, ...varint(1), ...varint(-4), ...varint(-1), ...varint(0)])]), /a record's key declares a negative length/],
      // A timestamp delta of 11 varint bytes: kafkajs's KafkaJSInvalidLongError failed the whole fetch.
      ['a timestamp delta past 64 bits', Buffer.concat([record(0, 'a'), Buffer.from([...varint(16), 0, ...Array(10).fill(0xff), 0x01, ...varint(1), ...varint(-1), ...varint(-1), ...varint(0)])]), /a record's timestamp delta is past 64 bits/],
    ];
    for (const [what, records, reason] of cases) {
      const compressed = gzipSync(records);
      const bytes = await batch({ firstOffset: 50, values: ['a', 'b'], compressed });
      bytes.writeInt16BE(1, 21); // attributes: GZIP
      const [one, ...rest] = await decodeMessages(recordSet([bytes, await batch({ firstOffset: 52, values: ['c'] })]));
      expect(unreadableBatch(one!)?.reason, what).toMatch(new RegExp(`^a record batch whose records are malformed: ${reason.source}; not read$`));
      expect(unreadableBatch(one!), what).toMatchObject({ firstOffset: 50, lastOffset: 51, records: 2 });
      expect(one!.value!.equals(compressed), what).toBe(true);
      expect(rest.map((m) => [m.offset, m.value!.toString(), unreadableBatch(m)]), what).toEqual([['52', 'c', undefined]]);
    }
    // The same records whole are read as kafkajs reads them.
    const whole = await batch({ firstOffset: 50, values: ['a', 'b'], compressed: gzipSync(two) });
    whole.writeInt16BE(1, 21);
    expect((await decodeMessages(recordSet([whole]))).map((m) => [m.offset, m.value!.toString(), unreadableBatch(m)])).toEqual([['50', 'a', undefined], ['51', 'b', undefined]]);
    // Uncompressed, a record cut short by its batch's end (its header count gone, read past the end as none).
    const plain = await batch({ firstOffset: 60, values: ['abc'] });
    const cut = plain.subarray(0, plain.length - 1);
    cut.writeInt32BE(cut.length - 12, 8); // the batch's length
    const [marked] = await decodeMessages(recordSet([cut]));
    expect(unreadableBatch(marked!)?.reason).toBe('a record batch whose records are malformed: a record is cut short; not read');
  });

  it('keeps its producer and transaction: read_committed drops it with its aborted transaction, and passes it in a committed one', async () => {
    const bomb = await batch({ firstOffset: 10, values: ['a', 'b'], compressed: BOMB, transactional: true, producerId: 9 });
    const messages = await decodeMessages(recordSet([bomb]));
    const aborted = new Batch('t', '10', { partition: 0, highWatermark: '12', messages, abortedTransactions: [{ producerId: '9', firstOffset: '10' }] });
    expect(aborted.messages).toEqual([]);
    const committed = new Batch('t', '10', { partition: 0, highWatermark: '12', messages, abortedTransactions: [] });
    expect(committed.messages.map((m) => [m.offset, unreadableBatch(m)?.records])).toEqual([['11', 2]]);
  });

  it('is only ever a v2 record batch: a legacy message after one (kafkajs reads a fetch in the format of its first entry) fails the fetch as before, never a record at an offset made of its bytes', async () => {
    const v2 = await batch({ firstOffset: 100, values: ['a'] });
    // A v1 message at offset 101: CRC, magic 1, attributes, timestamp, key, value. Read as a v2 header, its
    // "lastOffsetDelta" is timestamp and key-length bytes: a record at offset ~900 million.
    const key = Buffer.from('key');
    const value = Buffer.from('a v1 value, long enough to be read as a batch');
    const message = Buffer.alloc(4 + 1 + 1 + 8 + 4 + key.length + 4 + value.length);
    message.writeInt8(1, 4);
    message.writeBigInt64BE(1_764_547_200_000n, 6);
    message.writeInt32BE(key.length, 14);
    key.copy(message, 18);
    message.writeInt32BE(value.length, 18 + key.length);
    value.copy(message, 22 + key.length);
    const head = Buffer.alloc(12);
    head.writeBigInt64BE(101n, 0);
    head.writeInt32BE(message.length, 8);
    await expect(decodeMessages(recordSet([v2, Buffer.concat([head, message])]))).rejects.toThrow();
  });

  it('is only one a decompressor refused: memory that ran out or a bug fails the fetch as before, never a valid batch dead-lettered', async () => {
    const bytes = await batch({ firstOffset: 3, values: ['a'], compressed: BOMB });
    const own = codecs.Codecs[Types.ZSTD]!;
    for (const thrown of [new RangeError('Array buffer allocation failed'), new TypeError("Cannot read properties of undefined (reading 'length')")]) {
      codecs.Codecs[Types.ZSTD] = () => ({ ...own(), decompress: async () => Promise.reject(thrown) });
      try {
        await expect(decodeMessages(recordSet([bytes]))).rejects.toBe(thrown);
      } finally {
        codecs.Codecs[Types.ZSTD] = own;
      }
    }
  });

  it(`is one that declares more than ${MAX_RECORDS_PER_BATCH} records: never decompressed or decoded (kafkajs overflowed the stack on it and failed the fetch)`, async () => {
    // A real header whose count says a million: its records section is not even a gzip stream, and is never read.
    const bytes = await batch({ firstOffset: 5, values: ['a'], compressed: Buffer.from('never decompressed') });
    bytes.writeInt32BE(1_000_000 - 1, 23); // lastOffsetDelta
    bytes.writeInt32BE(1_000_000, 57); // record count
    const [one, ...rest] = await decodeMessages(recordSet([bytes, await batch({ firstOffset: 1_000_005, values: ['b'] })]));
    expect(unreadableBatch(one!)).toEqual({ firstOffset: 5, lastOffset: 1_000_004, records: 1_000_000, reason: `a record batch declaring 1000000 records, past the ${MAX_RECORDS_PER_BATCH} cdrflow reads in one batch; not read` });
    expect(one!.value!.toString()).toBe('never decompressed');
    expect(rest.map((m) => [m.offset, m.value!.toString(), unreadableBatch(m)])).toEqual([['1000005', 'b', undefined]]);
  });

  it(`is not one of ${MAX_RECORDS_PER_BATCH} records: read whole, as kafkajs reads it`, async () => {
    const records = Buffer.from(Array.from({ length: MAX_RECORDS_PER_BATCH }, (_, i) => [...varint(5 + varint(i).length), 0, 0, ...varint(i), 1, 1, 0]).flat());
    const bytes = await batch({ firstOffset: 0, values: ['x'], compressed: gzipSync(records) });
    bytes.writeInt16BE(1, 21); // attributes: GZIP
    bytes.writeInt32BE(MAX_RECORDS_PER_BATCH - 1, 23);
    bytes.writeInt32BE(MAX_RECORDS_PER_BATCH, 57);
    const read = await decodeMessages(recordSet([bytes]));
    expect(read.length).toBe(MAX_RECORDS_PER_BATCH);
    expect(read.some((m) => unreadableBatch(m) !== undefined)).toBe(false);
    expect(read[MAX_RECORDS_PER_BATCH - 1]!.offset).toBe(String(MAX_RECORDS_PER_BATCH - 1));
  });

  it(`is one whose records carry more than ${MAX_HEADERS_PER_BATCH} headers together: a few KB of GZIP that decoded to ~70 bytes of heap a header (100 million in 195 KB)`, async () => {
    const half = MAX_HEADERS_PER_BATCH / 2 + 1;
    const bytes = await gzipBatch(20, [half, half]);
    const [one, ...rest] = await decodeMessages(recordSet([bytes, await batch({ firstOffset: 22, values: ['b'] })]));
    expect(bytes.length).toBeLessThan(8 * 1024);
    expect(unreadableBatch(one!)).toEqual({ firstOffset: 20, lastOffset: 21, records: 2, reason: `a record batch whose records carry more than ${MAX_HEADERS_PER_BATCH} headers; not read` });
    expect(rest.map((m) => [m.offset, m.value!.toString(), unreadableBatch(m)])).toEqual([['22', 'b', undefined]]);
  });

  it(`is not one whose records carry ${MAX_HEADERS_PER_BATCH} headers: read whole, as kafkajs reads it`, async () => {
    const read = await decodeMessages(recordSet([await gzipBatch(0, [MAX_HEADERS_PER_BATCH / 2, MAX_HEADERS_PER_BATCH / 2])]));
    expect(read.map((m) => [m.offset, (m.headers as { '': unknown[] })[''].length, unreadableBatch(m)])).toEqual([
      ['0', MAX_HEADERS_PER_BATCH / 2, undefined],
      ['1', MAX_HEADERS_PER_BATCH / 2, undefined],
    ]);
  });

  it('cut short by the fetch\'s size limit is left for the next fetch, as kafkajs leaves it (not marked)', async () => {
    const whole = await batch({ firstOffset: 0, values: ['a'] });
    const bomb = await batch({ firstOffset: 1, values: ['b'], compressed: BOMB });
    const read = await decodeMessages(recordSet([whole, bomb.subarray(0, bomb.length - 100)]));
    expect(read.map((m) => m.offset)).toEqual(['0']);
    expect(read.every((m) => unreadableBatch(m) === undefined)).toBe(true);
  });
});

describe("a fetch's record set", () => {
  it(`is decoded to at most ${MAX_DECODED_PER_FETCH} records and headers and one batch more; the batches after are left for the next fetch, as one cut short by its size`, async () => {
    // Batches each under every bound of one batch, and ~1 KB of GZIP each: 1 MiB of such batches was 300 million headers.
    const headers = 0.4 * MAX_DECODED_PER_FETCH;
    expect(headers).toBeLessThan(MAX_HEADERS_PER_BATCH);
    const batches = await Promise.all([0, 1, 2, 3, 4].map((i) => gzipBatch(i, [headers])));
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThan(1024);
    // Two batches are 0.8 of the bound, three past it: the fourth and fifth wait.
    const read = await decodeMessages(recordSet(batches));
    expect(read.map((m) => [m.offset, (m.headers as { '': unknown[] })[''].length])).toEqual([0, 1, 2].map((i) => [String(i), headers]));
    // The next fetch starts at the batch left.
    const next = await decodeMessages(recordSet(batches.slice(3)));
    expect(next.map((m) => m.offset)).toEqual(['3', '4']);
  });
});
