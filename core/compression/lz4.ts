// LZ4 record batches: one LZ4 frame (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md), walked by the frame
// format and its blocks decoded here with every bound checked. lz4js's reader read a block checksum as the block's
// first bytes, cut the output to a declared content size without a word, and decoded past a block's end (12 bytes kept
// it busy 42 s). Kafka's Java writer sets independent blocks of 64 KiB and none of the checksums; librdkafka and
// python-lz4 may declare the content size and link blocks. Checksums are skipped, not verified: the batch's CRC-32C, which
// covers these bytes, was checked by the broker when the batch was produced.
import { MAX_DECOMPRESSED_BATCH_BYTES, copyBackReference, corrupt as corruptBatch, tooLarge } from './limits.ts';

const LZ4_MAGIC = 0x184d2204;
/** The maximum block sizes of an LZ4 frame descriptor's BD byte (bits 4-6). */
const LZ4_BLOCK_BYTES: Readonly<Record<number, number>> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

/** An LZ4 batch: one frame, at most MAX_DECOMPRESSED_BATCH_BYTES once expanded. */
export function lz4Decompress(buffer: Buffer): Buffer {
  const corrupt = (what: string) => corruptBatch('LZ4', buffer.length, what);
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
    // A compressed block expands at most ~255 bytes per byte (a match's length bytes): a frame of tiny blocks does
    // not reserve their full block size each.
    bound += word >>> 31 === 1 ? size : Math.min(blockMax, 255 * size + 64);
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
    copyBackReference(out, d, offset, match);
    d += match;
  }
  return d;
}

