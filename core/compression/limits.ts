// What every decompressor of a record batch shares (core/compression/): the bound on what one batch may expand to,
// and the one-line errors that name the codec and the batch's size.

/** What one record batch may expand to. Kafka's own limit on a batch (message.max.bytes) is 1 MiB by default. */
export const MAX_DECOMPRESSED_BATCH_BYTES = 256 * 1024 * 1024;

export type Codec = 'GZIP' | 'Snappy' | 'LZ4' | 'ZSTD';

export function tooLarge(codec: Codec, compressed: number): Error {
  return new Error(`a record batch compressed with ${codec} (${compressed} bytes) expands past ${MAX_DECOMPRESSED_BATCH_BYTES} bytes; not read`);
}

/** A batch that is not what its codec writes (`what` says where it broke): refused, never read as something else. */
export function corrupt(codec: Codec, compressed: number, what: string): Error {
  const frame = codec === 'LZ4' ? 'LZ4 frame' : codec === 'Snappy' ? 'Snappy stream' : `${codec} stream`;
  return new Error(`a record batch compressed with ${codec} (${compressed} bytes) is not a valid ${frame}: ${what}; not read`);
}
