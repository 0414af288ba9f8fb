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

const LZ4_MAGIC = 0x184d2204;
/** The maximum block sizes of an LZ4 frame descriptor's BD byte (bits 4-6). */
const LZ4_BLOCK_BYTES: Readonly<Record<number, number>> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

/**
 * An LZ4 batch: one LZ4 frame, walked here by the frame format (lz4js's own reader read a block checksum as the
 * block's first bytes, cut the output to a declared content size without a word, and decoded past a block's end:
 * 12 bytes kept it busy 42 s), its blocks decoded with their bounds checked. Kafka's Java writer sets independent
 * blocks of 64 KiB and none of the checksums; python-lz4 declares the content size and links blocks.
 */
export function lz4Decompress(buffer: Buffer): Buffer {
  const corrupt = (what: string) => new Error(`a record batch compressed with LZ4 (${buffer.length} bytes) is not a valid LZ4 frame: ${what}; not read`);
  if (buffer.length < 7 || buffer.readUInt32LE(0) !== LZ4_MAGIC) throw corrupt('no LZ4 frame magic number');
  const flg = buffer[4]!;
  if ((flg & 0xc0) !== 0x40) throw corrupt(`version ${flg >> 6}`);
  const blockMax = LZ4_BLOCK_BYTES[(buffer[5]! >> 4) & 7];
  if (blockMax === undefined) throw corrupt(`block size ${(buffer[5]! >> 4) & 7}`);
  const blockChecksum = (flg & 0x10) !== 0 ? 4 : 0;
  let at = 6;
  let declared: number | undefined;
  if (flg & 0x08) {
    if (at + 8 > buffer.length) throw corrupt('it ends inside its header');
    declared = buffer.readUInt32LE(at) + buffer.readUInt32LE(at + 4) * 2 ** 32;
    if (declared > MAX_DECOMPRESSED_BATCH_BYTES) throw tooLarge('LZ4', buffer.length);
    at += 8;
  }
  if (flg & 0x01) at += 4; // a dictionary id
  at += 1; // the header checksum
  const blocks: { start: number; size: number; raw: boolean }[] = [];
  let bound = 0;
  for (;;) {
    if (at + 4 > buffer.length) throw corrupt('it ends before its end mark');
    const word = buffer.readUInt32LE(at);
    at += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (size > blockMax) throw corrupt(`a block of ${size} bytes, past its ${blockMax}`);
    if (at + size + blockChecksum > buffer.length) throw corrupt('it ends inside a block');
    blocks.push({ start: at, size, raw: word >>> 31 === 1 });
    bound += word >>> 31 === 1 ? size : blockMax;
    // A declared content size (checked above) bounds the output instead.
    if (declared === undefined && bound > MAX_DECOMPRESSED_BATCH_BYTES) throw tooLarge('LZ4', buffer.length);
    at += size + blockChecksum;
  }
  const out = Buffer.alloc(Math.min(bound, declared ?? bound));
  let written = 0;
  for (const b of blocks) {
    if (b.raw) {
      if (written + b.size > out.length) throw corrupt('it expands past the content size it declares');
      buffer.copy(out, written, b.start, b.start + b.size);
      written += b.size;
    } else {
      const limit = Math.min(out.length, written + blockMax);
      const past = declared !== undefined && limit === out.length ? 'it expands past the content size it declares' : 'a block expands past its size';
      written = lz4Block(buffer, b.start, b.start + b.size, out, written, limit, past, corrupt);
    }
  }
  if (declared !== undefined && written !== declared) throw corrupt(`it declares ${declared} bytes and holds ${written}`);
  return out.subarray(0, written);
}

/** One LZ4 block of src[start, end) decoded into out from `at`, up to `limit` (`past` says why): returns where it ended. */
function lz4Block(src: Buffer, start: number, end: number, out: Buffer, at: number, limit: number, past: string, corrupt: (what: string) => Error): number {
  let s = start;
  let d = at;
  const length = (n: number) => {
    if (n !== 15) return n;
    for (let b = 255; b === 255; n += b) {
      if (s >= end) throw corrupt('a block ends inside a length');
      b = src[s++]!;
    }
    return n;
  };
  while (s < end) {
    const token = src[s++]!;
    const literals = length(token >> 4);
    if (s + literals > end) throw corrupt('a block ends inside its literals');
    if (d + literals > limit) throw corrupt(past);
    src.copy(out, d, s, s + literals);
    s += literals;
    d += literals;
    if (s === end) break; // the last sequence: literals only
    if (s + 2 > end) throw corrupt('a block ends inside a match offset');
    const offset = src[s]! | (src[s + 1]! << 8);
    s += 2;
    if (offset === 0 || offset > d) throw corrupt('a match reaches before the start of the output');
    const match = length(token & 15) + 4;
    if (d + match > limit) throw corrupt(past);
    if (offset >= match) out.copy(out, d, d - offset, d - offset + match);
    else for (let i = 0; i < match; i++) out[d + i] = out[d - offset + i]!;
    d += match;
  }
  return d;
}

/**
 * The largest window a ZSTD frame may declare: zstd's default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2^27), the
 * one the broker's and librdkafka's decoders apply, so no batch a Kafka consumer reads needs more.
 */
const MAX_ZSTD_WINDOW_BYTES = 128 * 1024 * 1024;
/** fzstd copies a frame's whole window at every block: what those copies may add up to in one batch (about 1.5 s). */
const MAX_ZSTD_WINDOW_COPY_BYTES = 4 * 1024 * 1024 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;

/**
 * A ZSTD batch's frames walked by their headers and block headers, nothing decoded: fzstd allocates a frame's window
 * (up to 2 GiB, declared in one byte) before writing a byte and copies all of it at every block, so a batch of a few
 * bytes took 1.9 GiB, and 200 one-byte blocks under a 128 MiB window took a second. Refused here: a window past what
 * a broker reads, output past the limit (a raw or RLE block's size, a compressed one's at most 128 KiB), and window
 * copies past MAX_ZSTD_WINDOW_COPY_BYTES. A window larger than everything its frame can expand to is lowered to that
 * (no back-reference reaches further than the output written so far), in a copy. Malformed input is left to fzstd.
 */
function zstdChecked(buffer: Buffer): Buffer {
  let out = buffer;
  let bound = 0;
  let copies = 0;
  let at = 0;
  while (at + 8 <= buffer.length) {
    const magic = buffer.readUInt32LE(at);
    if (magic >>> 4 === 0x184d2a5) {
      at += 8 + buffer.readUInt32LE(at + 4); // a skippable frame
      continue;
    }
    if (magic !== ZSTD_MAGIC) return out;
    const fhd = buffer[at + 4]!;
    const single = (fhd >> 5) & 1;
    const fcsBytes = fhd >> 6 ? 1 << (fhd >> 6) : single;
    let p = at + 5;
    const descriptorAt = single ? -1 : p++;
    p += [0, 1, 2, 4][fhd & 3]!;
    let window = 0;
    if (descriptorAt >= 0) {
      const wd = buffer[descriptorAt]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    } else {
      for (let i = 0; i < fcsBytes && p + i < buffer.length; i++) window += buffer[p + i]! * 2 ** (8 * i);
      if (fcsBytes === 2) window += 256;
    }
    p += fcsBytes;
    if (window > MAX_ZSTD_WINDOW_BYTES) {
      throw new Error(`a record batch compressed with ZSTD (${buffer.length} bytes) declares a window of ${window} bytes, past the ${MAX_ZSTD_WINDOW_BYTES} a Kafka consumer reads; not read`);
    }
    const blockMax = Math.min(window, 128 * 1024);
    let frameBound = 0;
    let blocks = 0;
    for (let last = false; !last; ) {
      if (p + 3 > buffer.length) return out;
      const header = buffer.readUIntLE(p, 3);
      p += 3;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      last = (header & 1) === 1;
      frameBound += type === 2 ? blockMax : size;
      blocks++;
      p += type === 1 ? 1 : size;
      if (bound + frameBound > MAX_DECOMPRESSED_BATCH_BYTES) throw tooLarge('ZSTD', buffer.length);
    }
    bound += frameBound;
    if (descriptorAt >= 0) {
      const exponent = Math.max(0, Math.ceil(Math.log2(Math.max(frameBound, 1))) - 10);
      if (2 ** (10 + exponent) < window) {
        if (out === buffer) out = Buffer.from(buffer);
        out[descriptorAt] = exponent << 3;
        window = 2 ** (10 + exponent);
      }
    }
    copies += blocks * window;
    if (copies > MAX_ZSTD_WINDOW_COPY_BYTES) {
      throw new Error(`a record batch compressed with ZSTD (${buffer.length} bytes) of ${blocks} blocks under a ${window}-byte window would take too long to read (its decoder copies the window at every block); not read`);
    }
    at = p + ((fhd >> 2) & 1) * 4;
  }
  return out;
}

/** A ZSTD batch: one or more frames, streamed so that a bomb is stopped at the limit, not after it. */
export function zstdDecompress(batch: Buffer): Buffer {
  const buffer = zstdChecked(batch);
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
