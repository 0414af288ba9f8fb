// The decompressors of core/compression/ on their own: what each codec's batch expands to, and a batch that would
// expand past MAX_DECOMPRESSED_BATCH_BYTES refused with a clear error before the memory is taken. Batches the broker
// and a foreign producer compressed are read in test/interop/compressed-batches.int.test.ts.
// First: kafkajs with its read_committed correction and these codecs registered (core/kafka.ts).
import '../kafka.ts';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import kafkajs from 'kafkajs';
import lz4 from 'lz4js';
import SnappyJS from 'snappyjs';
import { describe, expect, it, vi } from 'vitest';
import { seededRandom } from '../../simulators/kit.ts';
import { MAX_DECOMPRESSED_BATCH_BYTES, lz4Decompress, snappyDecompress, zstdDecompress } from './index.ts';

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

// fzstd as zstd.ts uses it, counting what reaches it on this thread: the bytes a batch hands it (it allocates the
// window a frame header declares as soon as it reads one) and the bytes its output callback receives. A decoder left
// to expand a whole bomb is stopped past `stopPast`, so a test that fails does not take gigabytes of a shared machine.
const fzstdSeen = vi.hoisted(() => ({ handed: 0, decoded: 0, stopPast: Infinity }));
vi.mock('fzstd', async (importOriginal) => {
  const fzstd = await importOriginal<typeof import('fzstd')>();
  class Counted extends fzstd.Decompress {
    private pushing = false;
    constructor(ondata: (chunk: Uint8Array, final?: boolean) => unknown) {
      super((chunk, final) => {
        fzstdSeen.decoded += chunk.length;
        if (fzstdSeen.decoded > fzstdSeen.stopPast) throw new Error(`stopped by the test after ${fzstdSeen.decoded} bytes decoded`);
        return ondata(chunk, final);
      });
    }
    override push(chunk: Uint8Array, final?: boolean): unknown {
      // fzstd pushes the rest of a batch to itself after each frame: only the outer call is the batch's bytes.
      if (this.pushing) return super.push(chunk, final);
      fzstdSeen.handed += chunk.length;
      this.pushing = true;
      try {
        return super.push(chunk, final);
      } finally {
        this.pushing = false;
      }
    }
  }
  return { ...fzstd, Decompress: Counted };
});
/** What fzstd was handed and decoded while `read` ran, and what `read` threw. */
function fzstdDuring(read: () => unknown): { handed: number; decoded: number; thrown: unknown } {
  Object.assign(fzstdSeen, { handed: 0, decoded: 0, stopPast: MAX_DECOMPRESSED_BATCH_BYTES + MiB });
  let thrown: unknown;
  try {
    read();
  } catch (err) {
    thrown = err;
  }
  fzstdSeen.stopPast = Infinity;
  return { handed: fzstdSeen.handed, decoded: fzstdSeen.decoded, thrown };
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
    // What zlib refuses is worded as every codec's refusals are.
    await expect(decompress(CompressionTypes.GZIP, Buffer.from('no gzip here'))).rejects.toThrow(/^a record batch compressed with GZIP \(12 bytes\) is not a valid GZIP stream: .+; not read$/);
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
    const bomb = fzstdDuring(() => zstdDecompress(zstdRle(8 * chunks)));
    // Stopped at the limit, not after the whole bomb (8× the limit here) was expanded: fzstd decoded at most the limit
    // and the one 128 KiB block that crossed it.
    expect(bomb.decoded, 'bytes fzstd decoded from a bomb of 8 times the limit').toBeLessThanOrEqual(MAX_DECOMPRESSED_BATCH_BYTES + 128 * 1024);
    expect((bomb.thrown as Error).message).toMatch(refused('ZSTD'));
    // What fzstd decodes is seen where it is: a batch of two RLE blocks, 256 KiB.
    expect(fzstdDuring(() => zstdDecompress(zstdRle(2))).decoded).toBe(256 * 1024);
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
    expect(() => zstdDecompress(zstdRle(1).fill((20 << 3) | 7, 5, 6))).toThrow(/window/);
    // 200 bytes in 1-byte blocks under a 128 MiB window (a 128 MiB copy per byte, 1 s here, 20 minutes for 1 MiB):
    // read under the window the frame can use, 200 bytes.
    const tiny = frame(17 << 3, Array.from({ length: 200 }, (_, i) => raw(Buffer.from('a'), i === 199)));
    expect(zstdDecompress(tiny).equals(Buffer.alloc(200, 'a'))).toBe(true);
    // 100,000 one-byte blocks under a window they need: the copies past the budget are refused up front.
    const window = 17 << 3;
    const flood = frame(window, [raw(Buffer.alloc(200_000, 'c'), false), ...Array.from({ length: 100_000 }, (_, i) => raw(Buffer.from('a'), i === 99_999))]);
    expect(() => zstdDecompress(flood)).toThrow(/ZSTD .* would take too long to read/);
    // A frame of one block of 1 KiB under the largest window a Kafka broker reads (128 MiB) is read.
    expect(zstdDecompress(frame(17 << 3, [raw(Buffer.alloc(1024, 'b'), true)])).equals(Buffer.alloc(1024, 'b'))).toBe(true);
  });

  it('refuse a ZSTD batch cut short, or not zstd at all, as corrupt ZSTD, before fzstd allocates its window or copies it', () => {
    const corruptZstd = (what: RegExp) => new RegExp(`^a record batch compressed with ZSTD \\(\\d+ bytes\\) is not a valid ZSTD stream: ${what.source}; not read$`);
    const raw = (last: boolean) => Buffer.from([(1 << 3) | (last ? 1 : 0), 0, 0, 0x61]);
    // 7 bytes: a frame header declaring a 1.9 GiB window, and no block. fzstd allocated the window, then said "unexpected EOF".
    // Refused with none of its bytes handed to fzstd, so no header of it was read and no window allocated.
    const cut = fzstdDuring(() => zstdDecompress(Buffer.from('28b52ffd00a700', 'hex')));
    expect(cut.handed, 'bytes of the cut batch handed to fzstd').toBe(0);
    expect((cut.thrown as Error).message).toMatch(corruptZstd(/it ends inside a frame/));
    // The same after a frame that is whole.
    const afterWhole = fzstdDuring(() => zstdDecompress(Buffer.concat([zstdRle(1), Buffer.from('28b52ffd00a700', 'hex')])));
    expect(afterWhole.handed, 'bytes of the cut batch handed to fzstd').toBe(0);
    expect((afterWhole.thrown as Error).message).toMatch(corruptZstd(/it ends inside a frame/));
    // What fzstd is handed is seen where it is: the whole frame alone reaches it.
    expect(fzstdDuring(() => zstdDecompress(zstdRle(1))).handed).toBe(zstdRle(1).length);
    // 400 one-byte blocks under a 128 MiB window with no last block: past the window checks, fzstd copied the window
    // at every block (2 s) before its "unexpected EOF"; 100,000 of them would have been minutes.
    const unended = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3]), ...Array.from({ length: 400 }, () => raw(false))]);
    expect(() => zstdDecompress(unended)).toThrow(corruptZstd(/it ends inside a frame/));
    // Bytes that are no zstd frame, and a block fzstd cannot decode: one line naming the codec and the batch's size.
    expect(() => zstdDecompress(Buffer.from('not a zstd frame at all'))).toThrow(corruptZstd(/no zstd frame magic number at byte 0/));
    const badBlock = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 10 << 3]), Buffer.from([(8 << 3) | (2 << 1) | 1, 0, 0]), Buffer.alloc(8, 0xff)]);
    expect(() => zstdDecompress(badBlock)).toThrow(corruptZstd(/.+/));
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
    expect(() => lz4Decompress(Buffer.concat([frame.subarray(0, 7), Buffer.from([0xff, 0xff, 0xff, 0x7f, 0])]))).toThrow(/LZ4/);
    // A match reaching before the start of the output (lz4js wrote zeros for it).
    expect(() => lz4Decompress(Buffer.concat([frame.subarray(0, 7), Buffer.from([4, 0, 0, 0, 0x04, 0x10, 0x00, 0x00, 0, 0, 0, 0])]))).toThrow(/LZ4/);
  });

  it('read a Snappy block only as its format has it: its length is what its elements write, every copy within the output', () => {
    const block = Buffer.from(SnappyJS.compress(Buffer.from('hello snappy world, hello snappy world')));
    const withLength = (n: number) => {
      const varint: number[] = [];
      for (let v = n; ; v = Math.floor(v / 128)) {
        varint.push(v < 128 ? v : (v % 128) | 0x80);
        if (v < 128) break;
      }
      return Buffer.concat([Buffer.from(varint), block.subarray(1)]);
    };
    expect(snappyDecompress(block).toString()).toBe('hello snappy world, hello snappy world');
    // A length that says more or less than the body writes (snappyjs padded with zeros or cut it, without a word).
    expect(() => snappyDecompress(withLength(38 + 20))).toThrow(/^a record batch compressed with Snappy \(\d+ bytes\) is not a valid Snappy stream: it declares 58 bytes and holds 38; not read$/);
    expect(() => snappyDecompress(withLength(38 - 20))).toThrow(/Snappy .* it writes past the 18 bytes it declares/);
    // A copy reaching before the start of the output; a literal and a copy offset cut off.
    expect(() => snappyDecompress(Buffer.from([8, 0x01 | (3 << 2), 5]))).toThrow(/Snappy .* a copy reaches before the start of the output/);
    expect(() => snappyDecompress(Buffer.from([8, 7 << 2, 0x61]))).toThrow(/Snappy .* a block ends inside a literal/);
    expect(() => snappyDecompress(Buffer.from([8, 0, 0x61, 0x02]))).toThrow(/Snappy .* a block ends inside a copy offset/);
    // A length past Snappy's 32 bits is no Snappy block (it read as one past the size limit).
    expect(() => snappyDecompress(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x1f, 0]))).toThrow(/Snappy .* is not a valid Snappy stream: its length is past 32 bits; not read$/);
    expect(() => snappyDecompress(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0]))).toThrow(/Snappy .* expands past 268435456 bytes; not read$/);
    // In xerial's chunks, one bad chunk refuses the batch (the chunks after it would have shifted).
    expect(() => snappyDecompress(xerial([block, withLength(40), block]))).toThrow(/Snappy/);
  });

  it('read back what snappyjs and lz4js write, for seeded random and repetitive data (300 batches each)', () => {
    // The project's seeded generator: an LCG in doubles (`seed * 1_103_515_245` loses its low bits) repeated itself
    // every 10,466 draws here, and its 300 batches were 99 different ones.
    const random = seededRandom(42);
    const batches = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const n = Math.floor(random() * 200_000);
      const alphabet = 1 + Math.floor(random() * 255);
      const data = Buffer.alloc(n);
      // Runs of one byte and stretches repeated from earlier: copies of every length and overlap.
      for (let j = 0; j < n; j++) data[j] = random() < 0.3 && j > 64 ? data[j - 1 - Math.floor(random() * 64)]! : Math.floor(random() * alphabet);
      expect(snappyDecompress(Buffer.from(SnappyJS.compress(data))).equals(data), `snappy batch ${i}`).toBe(true);
      expect(lz4Decompress(Buffer.from(lz4.compress(data))).equals(data), `lz4 batch ${i}`).toBe(true);
      batches.add(createHash('sha256').update(data).digest('hex'));
    }
    expect(batches.size, 'different batches').toBe(300);
  });

  it('read Snappy, LZ4 and ZSTD batches through kafkajs in a thread of their own: the reading thread keeps turning through a batch of 64 MiB', async () => {
    const blocks = 16;
    const oneMiB = SnappyJS.compress(Buffer.alloc(MiB));
    const batches: [number, Buffer][] = [
      [CompressionTypes.ZSTD, zstdRle((blocks * 4 * MiB) / (128 * 1024))],
      [CompressionTypes.Snappy, xerial(Array.from({ length: blocks * 4 }, () => oneMiB))],
      [CompressionTypes.LZ4, lz4Repeated(blocks)],
    ];
    for (const [type, batch] of batches) {
      // Turns of this thread's event loop while the batch is read: none when it is read on this thread (the
      // decoder returns before the loop can turn), many when another thread reads it.
      let turns = 0;
      let reading = true;
      const turn = () => {
        turns++;
        if (reading) setImmediate(turn);
      };
      setImmediate(turn);
      const out = await decompress(type, batch);
      reading = false;
      expect(out.length).toBe(blocks * 4 * MiB);
      expect(turns, `event-loop turns while a ${out.length}-byte batch was read`).toBeGreaterThan(1);
    }
  });

  it('hand back from their thread only the bytes a batch expands to: an LZ4 decoder reserves each block\'s maximum (4 MiB for lz4js\'s frames), which the reading thread kept alive under every record of the batch', async () => {
    const frame = Buffer.from(lz4.compress(text));
    expect(frame[5]! >> 4, 'block size 4 MiB').toBe(7);
    for (const [type, batch] of [[CompressionTypes.LZ4, frame], [CompressionTypes.Snappy, Buffer.from(SnappyJS.compress(Buffer.from('a small batch')))]] as const) {
      const out = await decompress(type, batch);
      expect(out.length).toBe(type === CompressionTypes.LZ4 ? text.length : 13);
      expect(out.buffer.byteLength, `memory held by a ${out.length}-byte batch`).toBe(out.length);
    }
  });

  it('refusals cross the thread as refusals (a stage dead-letters them), and a thread that died is replaced at the next batch', async () => {
    const { BatchRefused } = await import('./limits.ts');
    const { crashDecompressThreadForTests } = await import('./off-thread.ts');
    const refusal = await decompress(CompressionTypes.ZSTD, zstdRle(8 * (MAX_DECOMPRESSED_BATCH_BYTES / MiB + 1))).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(BatchRefused);
    expect((refusal as Error).message).toMatch(/^a record batch compressed with ZSTD \(\d+ bytes\) expands past 268435456 bytes; not read$/);
    await expect(decompress(CompressionTypes.Snappy, Buffer.from('no snappy here'))).rejects.toBeInstanceOf(BatchRefused);
    // A batch out when the thread dies fails as memory that ran out would (not a refusal: it is read again).
    const inFlight = decompress(CompressionTypes.LZ4, lz4Repeated(16)).catch((e: unknown) => e);
    await crashDecompressThreadForTests();
    const lost = await inFlight;
    expect(lost).toBeInstanceOf(Error);
    expect(lost).not.toBeInstanceOf(BatchRefused);
    expect((lost as Error).message).toMatch(/decompression thread exited/);
    expect(await decompress(CompressionTypes.Snappy, Buffer.from(SnappyJS.compress(text)))).toEqual(text);
  });

  it('a batch the thread never finishes is refused (a stage dead-letters it) once the thread passed its deadline, which terminates it with one log line; a batch behind it goes to a fresh thread', async () => {
    const { BatchRefused } = await import('./limits.ts');
    const { crashDecompressThreadForTests, useDecompressThreadForTests } = await import('./off-thread.ts');
    const { memoryLog } = await import('../log.ts');
    const log = memoryLog();
    await crashDecompressThreadForTests();
    useDecompressThreadForTests({ entry: new URL('../fixtures/hanging-decompress-worker.ts', import.meta.url), deadlineMs: 3_000, log });
    try {
      const refused = decompress(CompressionTypes.Snappy, Buffer.from('HANG')).catch((e: unknown) => e);
      const behind = decompress(CompressionTypes.LZ4, lz4Repeated(1));
      const refusal = await refused;
      expect(refusal).toBeInstanceOf(BatchRefused);
      expect((refusal as Error).message).toBe('a record batch compressed with Snappy (4 bytes) hung the batch decompression thread past 3000 ms; not read');
      expect(log.entries.filter((e) => e.event === 'thread_timeout').map((e) => e.fields)).toEqual([{ thread: 'batch decompression', waitedMs: 3_000, doing: 'decompressing a Snappy batch of 4 bytes' }]);
      expect((await behind).length).toBe(4 * MiB);
      expect(await decompress(CompressionTypes.Snappy, Buffer.from(SnappyJS.compress(text)))).toEqual(text);
    } finally {
      await crashDecompressThreadForTests();
      useDecompressThreadForTests();
    }
  }, 30_000);

  it('a batch that ended its thread twice is refused (a stage dead-letters it) with one log line; a single end is not (the fetch is read again), and the memory of them is bounded', async () => {
    const { BatchRefused } = await import('./limits.ts');
    const { crashDecompressThreadForTests, useDecompressThreadForTests } = await import('./off-thread.ts');
    const { memoryLog } = await import('../log.ts');
    const log = memoryLog();
    await crashDecompressThreadForTests();
    useDecompressThreadForTests({ entry: new URL('../fixtures/crashing-decompress-worker.ts', import.meta.url), log, failedRemembered: 3 });
    try {
      const hostile = Buffer.from('CRASH one');
      // The first end may be the thread's own (memory, a bug of its own): the fetch fails and is read again.
      const first = await decompress(CompressionTypes.Snappy, hostile).catch((e: unknown) => e);
      expect(first).toBeInstanceOf(Error);
      expect(first).not.toBeInstanceOf(BatchRefused);
      expect((first as Error).message).toMatch(/decompression thread exited \(code 70\)/);
      // The thread that replaced it reads other batches, and another batch's end is its own first.
      expect(await decompress(CompressionTypes.Snappy, Buffer.from(SnappyJS.compress(text)))).toEqual(text);
      await expect(decompress(CompressionTypes.Snappy, Buffer.from('CRASH two'))).rejects.not.toBeInstanceOf(BatchRefused);
      expect(log.entries.filter((e) => e.level === 'error')).toEqual([]);
      // The same batch again (a fetch read again): refused, with one line.
      const second = await decompress(CompressionTypes.Snappy, Buffer.from(hostile)).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(BatchRefused);
      expect((second as Error).message).toBe('a record batch compressed with Snappy (9 bytes) ended the batch decompression thread twice (the record-batch decompression thread exited (code 70)); not read');
      expect(log.entries.filter((e) => e.level === 'error').map((e) => [e.event, e.fields])).toEqual([
        ['thread_ended_twice', { thread: 'batch decompression', doing: 'decompressing a Snappy batch of 9 bytes', error: 'the record-batch decompression thread exited (code 70)' }],
      ]);
      expect(await decompress(CompressionTypes.Snappy, Buffer.from(SnappyJS.compress(text)))).toEqual(text);
      // Bounded (3 here): "CRASH one" and "CRASH two" are remembered; two more ends and the oldest, "CRASH one", is
      // forgotten (its next end counts as a first again), while the newer are not.
      for (const more of ['CRASH 3', 'CRASH 4']) await expect(decompress(CompressionTypes.Snappy, Buffer.from(more))).rejects.not.toBeInstanceOf(BatchRefused);
      await expect(decompress(CompressionTypes.Snappy, Buffer.from(hostile))).rejects.not.toBeInstanceOf(BatchRefused);
      await expect(decompress(CompressionTypes.Snappy, Buffer.from('CRASH 3'))).rejects.toBeInstanceOf(BatchRefused);
    } finally {
      await crashDecompressThreadForTests();
      useDecompressThreadForTests();
    }
  }, 60_000);

  it('a batch whose decoder throws in the thread (not a refusal: an allocation that failed, a decoder bug) fails its fetch once, and the second time it is refused with one log line (the fetch read again hands the same bytes, so it failed for ever)', async () => {
    const { BatchRefused } = await import('./limits.ts');
    const { crashDecompressThreadForTests, useDecompressThreadForTests } = await import('./off-thread.ts');
    const { memoryLog } = await import('../log.ts');
    const log = memoryLog();
    await crashDecompressThreadForTests();
    useDecompressThreadForTests({ entry: new URL('../fixtures/failing-decompress-worker.ts', import.meta.url), log });
    try {
      const first = await decompress(CompressionTypes.LZ4, Buffer.from('FAIL one')).catch((e: unknown) => e);
      expect(first).toBeInstanceOf(Error);
      expect(first).not.toBeInstanceOf(BatchRefused);
      expect((first as Error).message).toBe('Array buffer allocation failed');
      expect(log.entries.filter((e) => e.level === 'error')).toEqual([]);
      const second = await decompress(CompressionTypes.LZ4, Buffer.from('FAIL one')).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(BatchRefused);
      expect((second as Error).message).toBe('a record batch compressed with LZ4 (8 bytes) failed in the batch decompression thread twice (Array buffer allocation failed); not read');
      expect(log.entries.filter((e) => e.level === 'error').map((e) => [e.event, e.fields])).toEqual([
        ['thread_failed_twice', { thread: 'batch decompression', doing: 'decompressing a LZ4 batch of 8 bytes', error: 'Array buffer allocation failed' }],
      ]);
      // The thread did not end: it reads the next batch.
      expect(await decompress(CompressionTypes.Snappy, Buffer.from(SnappyJS.compress(text)))).toEqual(text);
    } finally {
      await crashDecompressThreadForTests();
      useDecompressThreadForTests();
    }
  });

  it('a batch that decodes after it once ended the thread is forgotten: a later passing end under it (read again after a rebalance, a replay) is a first end again, not a refusal of a good batch', async () => {
    const { BatchRefused } = await import('./limits.ts');
    const { crashDecompressThreadForTests, useDecompressThreadForTests } = await import('./off-thread.ts');
    const { memoryLog } = await import('../log.ts');
    const log = memoryLog();
    useDecompressThreadForTests({ log });
    const good = Buffer.from(lz4.compress(text));
    /** `good` sent, and its thread ended as a crash would while it is out. */
    const endedUnder = async () => {
      // A thread to end (the crash ends the one there is).
      expect(await decompress(CompressionTypes.Snappy, Buffer.from(SnappyJS.compress(text)))).toEqual(text);
      const inFlight = decompress(CompressionTypes.LZ4, good).catch((e: unknown) => e);
      await crashDecompressThreadForTests();
      return inFlight;
    };
    try {
      const first = await endedUnder();
      expect(first).not.toBeInstanceOf(BatchRefused);
      expect((first as Error).message).toMatch(/decompression thread exited/);
      // Read again, it decodes: the end was the thread's own.
      expect(await decompress(CompressionTypes.LZ4, good)).toEqual(text);
      const later = await endedUnder();
      expect(later).not.toBeInstanceOf(BatchRefused);
      expect((later as Error).message).toMatch(/decompression thread exited/);
      expect(log.entries.filter((e) => e.level === 'error')).toEqual([]);
    } finally {
      await crashDecompressThreadForTests();
      useDecompressThreadForTests();
    }
  });

  it('a batch that grows the thread\'s heap without bound ends the thread at its own heap limit, not the process: the fetch is read again, and a second time it is refused', async () => {
    const { BatchRefused } = await import('./limits.ts');
    const { crashDecompressThreadForTests, useDecompressThreadForTests } = await import('./off-thread.ts');
    const { memoryLog } = await import('../log.ts');
    await crashDecompressThreadForTests();
    // A deadline well past the growing (a thread with no bound of its own took ~5 s to grow its heap to 512 MB here).
    useDecompressThreadForTests({ entry: new URL('../fixtures/growing-decompress-worker.ts', import.meta.url), log: memoryLog(), deadlineMs: 25_000 });
    try {
      const first = await decompress(CompressionTypes.LZ4, Buffer.from('GROW')).catch((e: unknown) => e);
      expect(first).not.toBeInstanceOf(BatchRefused);
      expect((first as Error).message).toMatch(/decompression thread failed: .*memory limit/);
      expect(await decompress(CompressionTypes.Snappy, Buffer.from(SnappyJS.compress(text)))).toEqual(text);
      await expect(decompress(CompressionTypes.LZ4, Buffer.from('GROW'))).rejects.toBeInstanceOf(BatchRefused);
    } finally {
      await crashDecompressThreadForTests();
      useDecompressThreadForTests();
    }
  }, 60_000);

  it('refuse to compress: cdrflow writes its batches uncompressed', async () => {
    const codec = (CompressionCodecs as Record<number, () => { compress(e: unknown): Promise<Buffer> }>)[CompressionTypes.ZSTD]!();
    await expect(codec.compress({ buffer: text })).rejects.toThrow('cdrflow writes record batches uncompressed; ZSTD is only read');
  });
});
