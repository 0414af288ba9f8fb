// The decompressors of core/kafka-codecs.ts on their own: what each codec's batch expands to, and a batch that would
// expand past MAX_DECOMPRESSED_BATCH_BYTES refused with a clear error before the memory is taken. Batches the broker
// and a foreign producer compressed are read in test/interop/compressed-batches.int.test.ts.
// First: kafkajs with its read_committed correction and these codecs registered (core/kafka.ts).
import './kafka.ts';
import { gzipSync } from 'node:zlib';
import kafkajs from 'kafkajs';
import lz4 from 'lz4js';
import SnappyJS from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { MAX_DECOMPRESSED_BATCH_BYTES, lz4Decompress, snappyDecompress, zstdDecompress } from './kafka-codecs.ts';

const { CompressionCodecs, CompressionTypes } = kafkajs;
const MiB = 1024 * 1024;
const decompress = (type: number, buffer: Buffer) => (CompressionCodecs as Record<number, () => { decompress(b: Buffer): Promise<Buffer> }>)[type]!().decompress(buffer);

/** xerial's snappy-java framing (the Java client's): header, then [int32 length][raw snappy block] chunks. */
function xerial(blocks: Uint8Array[]): Buffer {
  const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
  return Buffer.concat([header, ...blocks.flatMap((b) => [Buffer.from([b.length >>> 24, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255]), Buffer.from(b)])]);
}

/** A zstd frame of `blocks` RLE blocks of 128 KiB each (4 bytes apiece): a bomb no compressor is needed for. */
function zstdRle(blocks: number, byte = 0x61): Buffer {
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (17 - 10) << 3]);
  const parts = [header];
  for (let i = 0; i < blocks; i++) {
    const h = ((128 * 1024) << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    parts.push(Buffer.from([h & 255, (h >>> 8) & 255, (h >>> 16) & 255, byte]));
  }
  return Buffer.concat(parts);
}

/** An LZ4 frame of the same compressed 4 MiB block `blocks` times (no content size declared). */
function lz4Repeated(blocks: number): Buffer {
  const frame = Buffer.from(lz4.compress(Buffer.alloc(4 * MiB)));
  const headerBytes = 7; // magic, FLG, BD, HC
  const size = frame.readUInt32LE(headerBytes);
  const block = frame.subarray(headerBytes, headerBytes + 4 + size);
  return Buffer.concat([frame.subarray(0, headerBytes), ...Array.from({ length: blocks }, () => block), Buffer.alloc(4)]);
}

describe('record batch decompressors', () => {
  const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => `{"i":${i},"callee":"+8613${String(i).padStart(9, '0')}"}`).join('\n'));

  it('read what each codec wrote: snappy raw and in xerial chunks, LZ4 frames, zstd frames, one after the other', async () => {
    expect(snappyDecompress(Buffer.from(SnappyJS.compress(text)))).toEqual(text);
    const halves = [text.subarray(0, 40_000), text.subarray(40_000)];
    expect(snappyDecompress(xerial(halves.map((h) => SnappyJS.compress(h))))).toEqual(text);
    expect(lz4Decompress(Buffer.from(lz4.compress(text)))).toEqual(text);
    // Two RLE frames back to back: 128 KiB of "a", then 256 KiB of "b".
    expect(zstdDecompress(Buffer.concat([zstdRle(1), zstdRle(2, 0x62)])).equals(Buffer.concat([Buffer.alloc(128 * 1024, 'a'), Buffer.alloc(256 * 1024, 'b')]))).toBe(true);
    // Registered with kafkajs, gzip included.
    expect(await decompress(CompressionTypes.Snappy, Buffer.from(SnappyJS.compress(text)))).toEqual(text);
    expect(await decompress(CompressionTypes.LZ4, Buffer.from(lz4.compress(text)))).toEqual(text);
    expect((await decompress(CompressionTypes.ZSTD, zstdRle(1))).equals(Buffer.alloc(128 * 1024, 'a'))).toBe(true);
    expect(await decompress(CompressionTypes.GZIP, gzipSync(text))).toEqual(text);
  });

  it(`refuse a batch that expands past ${MAX_DECOMPRESSED_BATCH_BYTES / MiB} MiB in every codec, naming it, before taking the memory`, async () => {
    const refused = (codec: string) => new RegExp(`^a record batch compressed with ${codec} \\(\\d+ bytes\\) expands past ${MAX_DECOMPRESSED_BATCH_BYTES} bytes; not read$`);
    const chunks = MAX_DECOMPRESSED_BATCH_BYTES / MiB + 1;
    const oneMiB = SnappyJS.compress(Buffer.alloc(MiB));
    expect(() => snappyDecompress(xerial(Array.from({ length: chunks }, () => oneMiB)))).toThrow(refused('Snappy'));
    // A raw block declaring more than the limit (its length comes first): refused before anything is allocated.
    const claims = Buffer.from([0x80, 0x80, 0x80, 0x81, 0x01]); // a varint: 2^21 + 2^28 bytes
    expect(() => snappyDecompress(Buffer.concat([claims, Buffer.alloc(16)]))).toThrow(refused('Snappy'));
    expect(() => lz4Decompress(lz4Repeated(MAX_DECOMPRESSED_BATCH_BYTES / (4 * MiB) + 1))).toThrow(refused('LZ4'));
    const before = process.memoryUsage().rss;
    expect(() => zstdDecompress(zstdRle(8 * chunks))).toThrow(refused('ZSTD'));
    // Stopped at the limit, not after the whole bomb (8× the limit here) was expanded.
    expect(process.memoryUsage().rss - before).toBeLessThan(2 * MAX_DECOMPRESSED_BATCH_BYTES);
    const gzipMiB = gzipSync(Buffer.alloc(MiB));
    await expect(decompress(CompressionTypes.GZIP, Buffer.concat(Array.from({ length: chunks }, () => gzipMiB)))).rejects.toThrow(refused('GZIP'));
    // Under the limit, the same shapes are read.
    // (Buffer.equals: vitest's deep equality walks a buffer byte by byte.)
    expect(snappyDecompress(xerial([oneMiB, oneMiB])).equals(Buffer.alloc(2 * MiB))).toBe(true);
    expect(lz4Decompress(lz4Repeated(2)).equals(Buffer.alloc(8 * MiB))).toBe(true);
  });

  it('refuse a ZSTD batch whose window would take the memory or the time before any output: fzstd allocates a frame\'s window and copies all of it at every block', () => {
    const frame = (descriptor: number, blocks: Buffer[]) => Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, descriptor]), ...blocks]);
    const raw = (bytes: Buffer, last: boolean) => {
      const h = (bytes.length << 3) | (last ? 1 : 0);
      return Buffer.concat([Buffer.from([h & 255, (h >>> 8) & 255, (h >>> 16) & 255]), bytes]);
    };
    // 14 bytes declaring a window of 1.86 GiB (2^30 + 7/8 of it): 7 times the limit allocated for 128 KiB of output.
    let started = Date.now();
    expect(() => zstdDecompress(zstdRle(1).fill((20 << 3) | 7, 5, 6))).toThrow(/window/);
    // 200 bytes in 1-byte blocks under a 128 MiB window: a 128 MiB copy per byte (1 s here; 20 minutes for 1 MiB).
    const tiny = frame(17 << 3, Array.from({ length: 200 }, (_, i) => raw(Buffer.from('a'), i === 199)));
    expect(zstdDecompress(tiny).equals(Buffer.alloc(200, 'a'))).toBe(true);
    expect(Date.now() - started).toBeLessThan(300);
    const flood = frame(17 << 3, Array.from({ length: 100_000 }, (_, i) => raw(Buffer.from('a'), i === 99_999)));
    started = Date.now();
    expect(() => zstdDecompress(flood)).toThrow(/ZSTD/);
    expect(Date.now() - started).toBeLessThan(2000);
    // A frame of one block of 1 KiB under the largest window a Kafka broker reads (128 MiB) is read.
    expect(zstdDecompress(frame(17 << 3, [raw(Buffer.alloc(1024, 'b'), true)])).equals(Buffer.alloc(1024, 'b'))).toBe(true);
  });

  it('read LZ4 frames as the frame format has them and refuse what lz4js took for data', async () => {
    const { createRequire } = await import('node:module');
    const xxh = createRequire(import.meta.url)('lz4js/xxh32.js') as { hash(seed: number, b: Uint8Array, at: number, n: number): number };
    const frame = Buffer.from(lz4.compress(text));
    const size = frame.readUInt32LE(7);
    const block = frame.subarray(11, 11 + size);
    const header = (flags: number, extra: Buffer = Buffer.alloc(0)) => {
      const h = Buffer.concat([frame.subarray(0, 4), Buffer.from([frame[4]! | flags, frame[5]!]), extra, Buffer.alloc(1)]);
      h[h.length - 1] = (xxh.hash(0, h, 4, h.length - 5) >> 8) & 255;
      return h;
    };
    // Block checksums (FLG bit 4; KafkaLZ4BlockInputStream reads them): 4 bytes AFTER each block's data.
    const sum = Buffer.alloc(4);
    sum.writeUInt32LE(xxh.hash(0, block, 0, block.length) >>> 0);
    expect(lz4Decompress(Buffer.concat([header(0x10), frame.subarray(7, 11), block, sum, Buffer.alloc(4)])).equals(text)).toBe(true);
    // A content size declared (python-lz4 does) is what the frame must expand to, not a size to cut it to.
    const declared = (n: number) => {
      const cs = Buffer.alloc(8);
      cs.writeUInt32LE(n);
      return Buffer.concat([header(0x08, cs), frame.subarray(7)]);
    };
    expect(lz4Decompress(declared(text.length)).equals(text)).toBe(true);
    expect(() => lz4Decompress(declared(100))).toThrow(/LZ4/);
    // 12 bytes: a block declaring 2 GiB in a frame that ends there. lz4js ran 42 s on it and returned 8 MiB of zeros.
    const started = Date.now();
    expect(() => lz4Decompress(Buffer.concat([frame.subarray(0, 7), Buffer.from([0xff, 0xff, 0xff, 0x7f, 0])]))).toThrow(/LZ4/);
    // A match reaching before the start of the output (lz4js wrote zeros for it).
    expect(() => lz4Decompress(Buffer.concat([frame.subarray(0, 7), Buffer.from([4, 0, 0, 0, 0x04, 0x10, 0x00, 0x00, 0, 0, 0, 0])]))).toThrow(/LZ4/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuse to compress: cdrflow writes its batches uncompressed', async () => {
    const codec = (CompressionCodecs as Record<number, () => { compress(e: unknown): Promise<Buffer> }>)[CompressionTypes.ZSTD]!();
    await expect(codec.compress({ buffer: text })).rejects.toThrow('cdrflow writes record batches uncompressed; ZSTD is only read');
  });
});
