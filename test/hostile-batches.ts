// What any producer with write access to a topic can put there, the broker takes, and kafkajs could not read or took
// minutes over: ZSTD records that expand past the 256 MiB a batch may (core/compression/limits.ts) from a few KB (the
// broker streams through them), a batch of 200,000 empty records, a record of 200,000 headers, a record of more
// headers than the heap holds decoded.
// kafkajs must load after cdrflow's changes to it, whoever imports this first.
import '../core/kafkajs-setup.ts';
import { gzipSync } from 'node:zlib';
import kafkajs from 'kafkajs';
import type { Kafka } from '../core/kafka.ts';
import { MAX_DECOMPRESSED_BATCH_BYTES } from '../core/compression/index.ts';

const { CompressionCodecs, CompressionTypes } = kafkajs;
const ZSTD_BLOCK = 128 * 1024;

/** Zigzag varint, as a Kafka record's lengths and deltas are written. */
export function varint(n: number): number[] {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  for (; z >= 0x80; z = Math.floor(z / 128)) out.push((z % 128) | 0x80);
  out.push(z);
  return out;
}

function blockHeader(type: 'raw' | 'rle', size: number, last: boolean): Buffer {
  const header = Buffer.alloc(3);
  header.writeUIntLE(size * 8 + (type === 'rle' ? 2 : 0) + (last ? 1 : 0), 0, 3);
  return header;
}

/**
 * The compressed records section of a batch of one record (key null, no headers) whose value is `valueBytes` zero
 * bytes: one zstd frame under a 128 KiB window, the record's head in a raw block, its value in RLE blocks (4 bytes per
 * 128 KiB), its empty header list in a last raw block. 300 MiB of value is 9.6 KB.
 */
export function zstdBombRecords(valueBytes: number): Buffer {
  const body = [0 /* attributes */, 0 /* timestamp delta */, 0 /* offset delta */, ...varint(-1) /* key null */, ...varint(valueBytes)];
  const head = Buffer.from([...varint(body.length + valueBytes + 1), ...body]);
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (17 - 10) << 3]), blockHeader('raw', head.length, false), head];
  for (let left = valueBytes; left > 0; left -= ZSTD_BLOCK) parts.push(blockHeader('rle', Math.min(ZSTD_BLOCK, left), false), Buffer.from([0]));
  parts.push(blockHeader('raw', 1, true), Buffer.from([0]));
  return Buffer.concat(parts);
}

type Codecs = Record<number, () => { compress(encoder: unknown): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> }>;
type Producer = ReturnType<Kafka['producer']>;
type Message = Parameters<Producer['send']>[0]['messages'][number];

/** Runs `send` with a producer of its own, connected for it and disconnected after. */
async function withProducer<T>(kafka: Kafka, send: (producer: Producer) => Promise<T>): Promise<T> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  try {
    await producer.connect();
    return await send(producer);
  } finally {
    await producer.disconnect();
  }
}

/**
 * Sends `message` to `topic` as one batch whose records section is `compressed` as given: the producer's compressor
 * for `type` is swapped for it while it is sent (reading stays cdrflow's own). Returns the batch's offset.
 */
async function sendCompressedAs(kafka: Kafka, topic: string, type: number, compressed: Buffer, message: Message): Promise<number> {
  const codecs = CompressionCodecs as unknown as Codecs;
  const registered = codecs[type]!;
  codecs[type] = () => ({ compress: async () => compressed, decompress: (b) => registered().decompress(b) });
  try {
    const [answer] = await withProducer(kafka, (producer) => producer.send({ topic, compression: type, messages: [message] }));
    return Number(answer!.baseOffset);
  } finally {
    codecs[type] = registered;
  }
}

/**
 * Sends one batch of zstdBombRecords(valueBytes) to `topic`'s `partition`. Returns the batch's offset and its
 * compressed records as written.
 */
export async function sendZstdBomb(kafka: Kafka, topic: string, partition: number, valueBytes = MAX_DECOMPRESSED_BATCH_BYTES + 32 * 1024 * 1024): Promise<{ offset: number; compressed: Buffer }> {
  const compressed = zstdBombRecords(valueBytes);
  const offset = await sendCompressedAs(kafka, topic, CompressionTypes.ZSTD, compressed, { key: null, value: 'replaced by the bomb', partition });
  return { offset, compressed };
}

/**
 * Sends one GZIP batch of `records` empty records (null key and value) to `topic`'s `partition`: a few hundred KB that
 * the broker takes, and kafkajs's fetch decoding overflowed the stack on (core/kafkajs-unreadable-batch.ts). Returns
 * the batch's first and last offsets.
 */
export async function sendManyRecordsBatch(kafka: Kafka, topic: string, partition: number, records = 200_000): Promise<{ first: number; last: number }> {
  const messages = Array.from({ length: records }, () => ({ key: null, value: null, partition }));
  const [answer] = await withProducer(kafka, (producer) => producer.send({ topic, compression: CompressionTypes.GZIP, messages }));
  const first = Number(answer!.baseOffset);
  return { first, last: first + records - 1 };
}

/**
 * Sends one record of `headers` headers, all named `h` with empty values (3 bytes each: 600 KB for 200,000, under the
 * broker's 1 MiB), keyed `key`, with `value`. kafkajs gathered them in quadratic time: 98 s for 200,000.
 */
export async function sendManyHeadersRecord(kafka: Kafka, topic: string, key: string, value: Buffer, headers = 200_000): Promise<void> {
  await withProducer(kafka, (producer) => producer.send({ topic, messages: [{ key, value, headers: { h: Array.from({ length: headers }, () => '') } }] }));
}

/**
 * Sends one GZIP batch of one record (keyed `key`, no value) of `headers` empty headers named `h`: 3 bytes each, a few
 * KB compressed, past the 250,000 a batch's records may carry together (core/kafkajs-record-headers.ts); decoded,
 * each is ~70 bytes of heap. The records are built here and put in place of what the producer compresses (it
 * would take seconds to encode them itself).
 */
export async function sendManyHeadersBatch(kafka: Kafka, topic: string, key: string, headers = 1_100_000): Promise<void> {
  const head = [0 /* attributes */, 0 /* timestamp delta */, 0 /* offset delta */, ...varint(key.length), ...Buffer.from(key), ...varint(-1) /* value null */, ...varint(headers)];
  const body = Buffer.concat([Buffer.from(head), Buffer.alloc(headers * 3)]);
  // Each header: key length 1, `h`, value null (-1).
  for (let i = 0, at = head.length; i < headers; i++, at += 3) body.set([2, 0x68, 1], at);
  const compressed = gzipSync(Buffer.concat([Buffer.from(varint(body.length)), body]));
  await sendCompressedAs(kafka, topic, CompressionTypes.GZIP, compressed, { key, value: null });
}
