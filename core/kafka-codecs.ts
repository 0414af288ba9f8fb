// Reading record batches compressed with Snappy, LZ4 or ZSTD. kafkajs decompresses only gzip by itself: a batch in
// another codec — written so by another team's producer, or recompressed by the broker because an admin set
// `compression.type` on the topic or the cluster (zstd and lz4 are common choices) — made every kafkajs consumer of
// that partition crash at the batch with "… compression not implemented", at every restart: the stage never moved past
// it. Registered here, once, for every client this process makes (core/kafka.ts imports this first). Pure JavaScript
// decoders, so nothing is built at install. cdrflow itself never compresses what it writes (its batches are small and
// its brokers near), so these codecs only decompress.
//
// Every codec, gzip included, stops a batch that would expand past MAX_DECOMPRESSED_BATCH_BYTES with a clear error: a
// batch of a few MB that expands a thousandfold (zeros compress that well) would otherwise take the whole process
// down with it, every stage, not only the one reading it.
// kafkajs must load after its read_committed correction, whoever imports this first.
import './kafkajs-read-committed.ts';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import kafkajs from 'kafkajs';
import lz4 from 'lz4js';
import SnappyJS from 'snappyjs';
import { Decompress as ZstdStream } from 'fzstd';

/** What one record batch may expand to. Kafka's own limit on a batch (message.max.bytes) is 1 MiB by default. */
export const MAX_DECOMPRESSED_BATCH_BYTES = 256 * 1024 * 1024;

const unzip = promisify(zlib.unzip);

function tooLarge(codec: string, compressed: number): Error {
  return new Error(`a record batch compressed with ${codec} (${compressed} bytes) expands past ${MAX_DECOMPRESSED_BATCH_BYTES} bytes; not read`);
}

function notWritten(codec: string): never {
  throw new Error(`cdrflow writes record batches uncompressed; ${codec} is only read`);
}

/** The header of xerial's snappy-java framing (the Java client's): magic, then its version and compatible version. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

/**
 * A Snappy batch: xerial's framing (a 16-byte header, then chunks of [int32 length][raw snappy block]) as the Java
 * client writes it, or one raw snappy block (librdkafka's).
 */
export function snappyDecompress(buffer: Buffer): Buffer {
  if (buffer.length < XERIAL_HEADER_BYTES || !buffer.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC)) {
    return snappyBlock(buffer, MAX_DECOMPRESSED_BATCH_BYTES, buffer.length);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  let at = XERIAL_HEADER_BYTES;
  while (at < buffer.length) {
    if (at + 4 > buffer.length) throw new Error('a Snappy record batch ends inside a chunk header');
    const size = buffer.readUInt32BE(at);
    at += 4;
    if (at + size > buffer.length) throw new Error('a Snappy record batch ends inside a chunk');
    const chunk = snappyBlock(buffer.subarray(at, at + size), MAX_DECOMPRESSED_BATCH_BYTES - total, buffer.length);
    total += chunk.length;
    chunks.push(chunk);
    at += size;
  }
  return Buffer.concat(chunks, total);
}

/** One raw snappy block of at most `room` bytes once expanded (its length comes first, read before any allocation). */
function snappyBlock(block: Buffer, room: number, batchBytes: number): Buffer {
  try {
    const out = SnappyJS.uncompress(block, room);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    if (/too big/.test((err as Error).message)) throw tooLarge('Snappy', batchBytes);
    throw err;
  }
}

/** An LZ4 batch: one LZ4 frame (the size it declares, or its blocks' bound, checked before anything is allocated). */
export function lz4Decompress(buffer: Buffer): Buffer {
  const bound = lz4.decompressBound(buffer);
  if (bound > MAX_DECOMPRESSED_BATCH_BYTES) throw tooLarge('LZ4', buffer.length);
  const out = lz4.decompress(buffer, bound);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** A ZSTD batch: one or more frames, streamed so that a bomb is stopped at the limit, not after it. */
export function zstdDecompress(buffer: Buffer): Buffer {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const stream = new ZstdStream((chunk) => {
    total += chunk.length;
    if (total > MAX_DECOMPRESSED_BATCH_BYTES) throw tooLarge('ZSTD', buffer.length);
    chunks.push(chunk);
  });
  stream.push(buffer, true);
  return Buffer.concat(chunks, total);
}

// Not among the names Node finds in kafkajs's CommonJS exports: taken from the module object.
const { CompressionCodecs, CompressionTypes } = kafkajs;

async function gzipDecompress(buffer: Buffer): Promise<Buffer> {
  try {
    return await unzip(buffer, { maxOutputLength: MAX_DECOMPRESSED_BATCH_BYTES });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('GZIP', buffer.length);
    throw err;
  }
}

const codec = (name: string, decompress: (buffer: Buffer) => Buffer | Promise<Buffer>) => () => ({
  compress: async () => notWritten(name),
  decompress: async (buffer: Buffer) => decompress(buffer),
});

// gzip keeps kafkajs's own compressing (nothing of cdrflow's uses it, a user's producer config might).
const gzip = CompressionCodecs[CompressionTypes.GZIP]!;
CompressionCodecs[CompressionTypes.GZIP] = () => ({ compress: gzip().compress, decompress: gzipDecompress });
CompressionCodecs[CompressionTypes.Snappy] = codec('Snappy', snappyDecompress);
CompressionCodecs[CompressionTypes.LZ4] = codec('LZ4', lz4Decompress);
CompressionCodecs[CompressionTypes.ZSTD] = codec('ZSTD', zstdDecompress);
