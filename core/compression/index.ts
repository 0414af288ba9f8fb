// Reading record batches in every codec Kafka has. kafkajs decompresses only gzip by itself: a batch in Snappy, LZ4 or
// ZSTD — written so by another team's producer, or recompressed by the broker because an admin set `compression.type`
// on the topic or the cluster (zstd and lz4 are common choices) — made every kafkajs consumer reading it crash at the
// batch with "… compression not implemented", at every restart (the whole fetch fails, so the other partitions it
// carried stall too). Registered here, once, for every client this process makes (core/kafka.ts imports this first).
// Pure JavaScript, so nothing is built at install: Snappy and LZ4 blocks are decoded here (snappy.ts, lz4.ts), ZSTD by
// fzstd behind checks of its frames' headers (zstd.ts), all three in a thread of their own (off-thread.ts); gzip by
// node:zlib. cdrflow itself never compresses what it
// writes (its batches are small and its brokers near), so these codecs only decompress.
//
// Every codec, gzip included, refuses a batch that would expand past MAX_DECOMPRESSED_BATCH_BYTES, and a batch that is
// not what its codec writes, with one line naming the codec and the batch's size: a batch of a few MB that expands a
// thousandfold (zeros compress that well) would otherwise take the whole process down with it, every stage, not only
// the one reading it; a corrupt one would be read as other bytes. A refused batch reaches the stage reading it as one
// record that it dead-letters, with that line (core/kafkajs-unreadable-batch.ts).
// kafkajs must load after cdrflow's changes to it, whoever imports this first.
import '../kafkajs-setup.ts';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import kafkajs from 'kafkajs';
import { MAX_DECOMPRESSED_BATCH_BYTES, corrupt, tooLarge } from './limits.ts';
import { outOfMemory } from './decoders.ts';
import { decompressOffThread, type ThreadCodec } from './off-thread.ts';

export { MAX_DECOMPRESSED_BATCH_BYTES } from './limits.ts';
export { lz4Decompress, snappyDecompress, zstdDecompress } from './decoders.ts';

const unzip = promisify(zlib.unzip);

/** zlib's own refusals too are one line naming GZIP and the batch's size, as the other codecs' are. */
async function gzipDecompress(buffer: Buffer): Promise<Buffer> {
  try {
    return await unzip(buffer, { maxOutputLength: MAX_DECOMPRESSED_BATCH_BYTES });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('GZIP', buffer.length);
    if (outOfMemory(err)) throw err;
    throw corrupt('GZIP', buffer.length, (err as Error).message);
  }
}

function notWritten(codec: string): never {
  throw new Error(`cdrflow writes record batches uncompressed; ${codec} is only read`);
}

const codec = (name: ThreadCodec) => () => ({
  compress: async () => notWritten(name),
  decompress: (buffer: Buffer) => decompressOffThread(name, buffer),
});

// Not among the names Node finds in kafkajs's CommonJS exports: taken from the module object.
const { CompressionCodecs, CompressionTypes } = kafkajs;
// gzip keeps kafkajs's own compressing (nothing of cdrflow's uses it, a user's producer config might).
const gzip = CompressionCodecs[CompressionTypes.GZIP]!;
CompressionCodecs[CompressionTypes.GZIP] = () => ({ compress: gzip().compress, decompress: gzipDecompress });
CompressionCodecs[CompressionTypes.Snappy] = codec('Snappy');
CompressionCodecs[CompressionTypes.LZ4] = codec('LZ4');
CompressionCodecs[CompressionTypes.ZSTD] = codec('ZSTD');
