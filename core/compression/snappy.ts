// Snappy record batches: xerial's framing (snappy-java's, what the Java producer and the broker write: a 16-byte
// header, then chunks of [int32 length][raw snappy block]) or one raw snappy block (librdkafka's). Blocks are decoded
// here (https://github.com/google/snappy/blob/main/format_description.txt) with every bound checked: snappyjs wrote a
// block whose length said more or less than its body held as zeros or cut short, without an error, and the xerial
// chunks after it shifted.
import { MAX_DECOMPRESSED_BATCH_BYTES, copyBackReference, corrupt, tooLarge } from './limits.ts';

/** The header of xerial's snappy-java framing: magic, then its version and compatible version (int32 each). */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

/** A Snappy batch, at most MAX_DECOMPRESSED_BATCH_BYTES once expanded. */
export function snappyDecompress(batch: Buffer): Buffer {
  if (batch.length < XERIAL_HEADER_BYTES || !batch.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC)) {
    return snappyBlock(batch, MAX_DECOMPRESSED_BATCH_BYTES, batch.length);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  let at = XERIAL_HEADER_BYTES;
  while (at < batch.length) {
    if (at + 4 > batch.length) throw corrupt('Snappy', batch.length, 'it ends inside a chunk header');
    const size = batch.readUInt32BE(at);
    at += 4;
    if (at + size > batch.length) throw corrupt('Snappy', batch.length, 'it ends inside a chunk');
    const chunk = snappyBlock(batch.subarray(at, at + size), MAX_DECOMPRESSED_BATCH_BYTES - total, batch.length);
    total += chunk.length;
    chunks.push(chunk);
    at += size;
  }
  return Buffer.concat(chunks, total);
}

/**
 * One raw snappy block, its declared length at most `room` (read before anything is allocated) and exactly what its
 * elements write. `batchBytes` is the whole batch's size, for the error.
 */
export function snappyBlock(src: Buffer, room: number, batchBytes: number): Buffer {
  const bad = (what: string) => corrupt('Snappy', batchBytes, what);
  let s = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    if (s >= src.length || shift > 28) throw bad('its length is cut off or too long');
    const b = src[s++]!;
    // Snappy's length is 32 bits, so its fifth byte holds only the top four: more is no Snappy block at all.
    if (shift === 28 && b > 0x0f) throw bad('its length is past 32 bits');
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length > room) throw tooLarge('Snappy', batchBytes);
  const out = Buffer.allocUnsafe(length);
  let d = 0;
  const need = (n: number, what: string) => {
    if (s + n > src.length) throw bad(`a block ends inside ${what}`);
  };
  while (s < src.length) {
    const tag = src[s++]!;
    if ((tag & 3) === 0) {
      // A literal: its length - 1 in the tag, or in the 1-4 bytes after it.
      let n = tag >> 2;
      if (n >= 60) {
        need(n - 59, 'a literal length');
        const bytes = n - 59;
        n = src.readUIntLE(s, bytes);
        s += bytes;
      }
      n += 1;
      need(n, 'a literal');
      if (d + n > length) throw bad(`it writes past the ${length} bytes it declares`);
      src.copy(out, d, s, s + n);
      s += n;
      d += n;
      continue;
    }
    // A copy of earlier output: offset and length by the tag's kind.
    let n: number;
    let offset: number;
    if ((tag & 3) === 1) {
      need(1, 'a copy offset');
      n = 4 + ((tag >> 2) & 7);
      offset = ((tag >> 5) << 8) | src[s++]!;
    } else if ((tag & 3) === 2) {
      need(2, 'a copy offset');
      n = 1 + (tag >> 2);
      offset = src.readUInt16LE(s);
      s += 2;
    } else {
      need(4, 'a copy offset');
      n = 1 + (tag >> 2);
      offset = src.readUInt32LE(s);
      s += 4;
    }
    if (offset === 0 || offset > d) throw bad('a copy reaches before the start of the output');
    if (d + n > length) throw bad(`it writes past the ${length} bytes it declares`);
    // Overlapping copies repeat the last `offset` bytes: byte by byte.
    copyBackReference(out, d, offset, n);
    d += n;
  }
  if (d !== length) throw bad(`it declares ${length} bytes and holds ${d}`);
  return out;
}
