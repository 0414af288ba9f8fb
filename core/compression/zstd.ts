// ZSTD record batches: one or more zstd frames, decoded by fzstd (pure JavaScript; Node 20's zlib has no zstd) after
// their headers are checked here, since fzstd trusts what a frame declares.
import { Decompress as ZstdStream } from 'fzstd';
import { MAX_DECOMPRESSED_BATCH_BYTES, corrupt, refusedBatch, tooLarge } from './limits.ts';

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
 * (no back-reference reaches further than the output written so far), in a copy. A frame cut short, or bytes that
 * are no frame, are refused; what is malformed inside a block is left to fzstd (its errors are reported as corrupt).
 */
function zstdChecked(buffer: Buffer): Buffer {
  let out = buffer;
  let bound = 0;
  let copies = 0;
  let at = 0;
  // A frame cut short is refused here, not left to fzstd: it allocates the window a header declares (a 7-byte batch,
  // 1.9 GiB) and decodes every block it has, copying that window each time, before it finds the end missing.
  const cut = () => corrupt('ZSTD', buffer.length, 'it ends inside a frame');
  while (at < buffer.length) {
    if (at + 8 > buffer.length) throw cut();
    const magic = buffer.readUInt32LE(at);
    if (magic >>> 4 === 0x184d2a5) {
      at += 8 + buffer.readUInt32LE(at + 4); // a skippable frame
      if (at > buffer.length) throw cut();
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw corrupt('ZSTD', buffer.length, `no zstd frame magic number at byte ${at}`);
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
    if (p > buffer.length) throw cut();
    if (window > MAX_ZSTD_WINDOW_BYTES) {
      throw refusedBatch('ZSTD', buffer.length, `declares a window of ${window} bytes, past the ${MAX_ZSTD_WINDOW_BYTES} a Kafka consumer reads`);
    }
    const blockMax = Math.min(window, 128 * 1024);
    let frameBound = 0;
    let blocks = 0;
    for (let last = false; !last; ) {
      if (p + 3 > buffer.length) throw cut();
      const header = buffer.readUIntLE(p, 3);
      p += 3;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      last = (header & 1) === 1;
      frameBound += type === 2 ? blockMax : size;
      blocks++;
      p += type === 1 ? 1 : size;
      if (p > buffer.length) throw cut();
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
      throw refusedBatch('ZSTD', buffer.length, `of ${blocks} blocks under a ${window}-byte window would take too long to read (its decoder copies the window at every block)`);
    }
    at = p + ((fhd >> 2) & 1) * 4;
    if (at > buffer.length) throw cut();
  }
  return out;
}

/**
 * A ZSTD batch: one or more frames, streamed so that a bomb is stopped at the limit, not after it. fzstd's own errors
 * ("invalid zstd data", "unexpected EOF", a RangeError) are worded as the batch being corrupt by index.ts.
 */
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

