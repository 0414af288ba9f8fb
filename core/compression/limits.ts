// What every decompressor of a record batch shares (core/compression/): the bound on what one batch may expand to,
// the one-line refusals that name the codec and the batch's size, and the back-reference copy of Snappy and LZ4.

/** What one record batch may expand to. Kafka's own limit on a batch (message.max.bytes) is 1 MiB by default. */
export const MAX_DECOMPRESSED_BATCH_BYTES = 256 * 1024 * 1024;

export type Codec = 'GZIP' | 'Snappy' | 'LZ4' | 'ZSTD';

/** A batch a decompressor refused: its one line names the codec and the batch's size (index.ts passes it on as it is). */
export class BatchRefused extends Error {}

/** A batch refused `why` ("expands past …", "is not a valid …", "declares a window …"). */
export function refusedBatch(codec: Codec, compressed: number, why: string): BatchRefused {
  return new BatchRefused(`a record batch compressed with ${codec} (${compressed} bytes) ${why}; not read`);
}

export function tooLarge(codec: Codec, compressed: number): BatchRefused {
  return refusedBatch(codec, compressed, `expands past ${MAX_DECOMPRESSED_BATCH_BYTES} bytes`);
}

/** A batch that is not what its codec writes (`what` says where it broke): refused, never read as something else. */
export function corrupt(codec: Codec, compressed: number, what: string): BatchRefused {
  const frame = codec === 'LZ4' ? 'LZ4 frame' : codec === 'Snappy' ? 'Snappy stream' : `${codec} stream`;
  return refusedBatch(codec, compressed, `is not a valid ${frame}: ${what}`);
}

/**
 * Copies `length` bytes of earlier output, `offset` back, to `at` (a Snappy copy, an LZ4 match; the caller checked
 * both fit). An overlapping one repeats the last `offset` bytes, so it goes byte by byte.
 */
export function copyBackReference(out: Buffer, at: number, offset: number, length: number): void {
  if (offset >= length) out.copy(out, at, at - offset, at - offset + length);
  else for (let i = 0; i < length; i++) out[at + i] = out[at - offset + i]!;
}
