// The Snappy, LZ4 and ZSTD decoders as the codecs use them, with no kafkajs in reach: index.ts registers them with
// kafkajs for the calling thread, decompress-worker.ts runs them in the thread that does the work (off-thread.ts).
import { BatchRefused, corrupt, type Codec } from './limits.ts';
import { lz4Decompress as lz4Batch } from './lz4.ts';
import { snappyDecompress as snappyBatch } from './snappy.ts';
import { zstdDecompress as zstdBatch } from './zstd.ts';

/**
 * A decompressor whose every failure is one line naming the codec and the batch's size: a BatchRefused as it is,
 * anything else its decoder throws (fzstd's "unexpected EOF", a RangeError, …) as the batch being corrupt.
 */
function refusing(codec: Codec, decompress: (buffer: Buffer) => Buffer): (buffer: Buffer) => Buffer {
  return (buffer) => {
    try {
      return decompress(buffer);
    } catch (err) {
      // Memory that ran out says nothing about the batch: it is not refused (a refused batch is dead-lettered).
      if (err instanceof BatchRefused || outOfMemory(err)) throw err;
      throw corrupt(codec, buffer.length, (err as Error).message);
    }
  };
}

/** V8's and zlib's words for an allocation that failed (a process near its heap limit, not a corrupt batch). */
export function outOfMemory(err: unknown): boolean {
  const e = err as { message?: unknown; code?: unknown };
  return (typeof e?.message === 'string' && /allocation failed|out of memory/i.test(e.message)) || e?.code === 'Z_MEM_ERROR' || e?.code === 'ERR_MEMORY_ALLOCATION_FAILED';
}

export const snappyDecompress = refusing('Snappy', snappyBatch);
export const lz4Decompress = refusing('LZ4', lz4Batch);
export const zstdDecompress = refusing('ZSTD', zstdBatch);

/** The codecs read in pure JavaScript, by the name their refusals give them. */
export const DECODERS: Record<Exclude<Codec, 'GZIP'>, (buffer: Buffer) => Buffer> = {
  Snappy: snappyDecompress,
  LZ4: lz4Decompress,
  ZSTD: zstdDecompress,
};
