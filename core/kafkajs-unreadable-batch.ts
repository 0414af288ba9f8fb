// A record batch that cannot be read is one record of its own, not the end of the stage: a correction of kafkajs
// 2.2.4, installed before kafkajs loads (core/kafkajs-setup.ts).
//
// kafkajs decodes a fetch answer's record batches in one loop, and any batch whose records it cannot decode throws
// out of the whole fetch: the consumer crashes, and at every restart it fetches the same batch again. Brokers check
// what producers send, so such a batch is one they accept and cdrflow refuses:
//   - one that would expand past MAX_DECOMPRESSED_BATCH_BYTES (a few KB of ZSTD can claim gigabytes; the broker
//     streams through it), or that its decoder would need too long for (core/compression/);
//   - one that declares more than MAX_RECORDS_PER_BATCH records (kafkajs overflowed the stack on it), or whose records
//     carry more than MAX_HEADERS_PER_BATCH headers (core/kafkajs-record-headers.ts: gigabytes of heap decoded), or
//     whose records are not Kafka's record format (core/kafkajs-record-headers.ts: a RangeError, or a value cut short);
//   - one marked with a compression codec Kafka does not define (kafkajs read its compressed bytes as records).
// Whoever can write to a topic could stop every stage reading it. And MAX_DECODED_PER_FETCH bounds what one
// partition's share of a fetch decodes to, batches under every bound above added up.
//
// Such a batch now decodes as one record at the batch's last offset, its value the batch's records as written
// (compressed, if they were), marked with why it was refused (unreadableBatch below). The consumer moves past the
// whole batch; the stages turn the mark into one dead letter naming the batch's offsets (core/kafka-streams.ts
// toConsumed), inside the same transaction as their offsets, so the batch is neither lost without a trace nor read
// twice. The record keeps the batch's producer and transaction, so a batch of an aborted transaction is dropped by
// read_committed as before.
import { createRequire } from 'node:module';
import { BatchRefused } from './compression/limits.ts';
import { batchHeaders } from './kafkajs-record-headers.ts';
import { refuseIfKafkajsLoaded, replaceKafkajsModule } from './kafkajs-replace.ts';

const require = createRequire(import.meta.url);

/** Why a batch could not be read, and which records it held. */
export interface UnreadableBatch {
  firstOffset: number;
  lastOffset: number;
  /** The record count its header declares. */
  records: number;
  /** The refusal, one line (core/compression/ names the codec and the compressed size). */
  reason: string;
}

const MARK = Symbol('cdrflow.unreadableBatch');

/** The mark on a record that stands for a batch that could not be read; undefined on every record kafkajs decoded. */
export function unreadableBatch(message: object): UnreadableBatch | undefined {
  return (message as { [MARK]?: UnreadableBatch })[MARK];
}

/**
 * The one line a stage's dead letter (or a reader's output) carries for a record that stands for a batch that could
 * not be read; undefined for every record kafkajs decoded.
 */
export function unreadableLine(message: object): string | undefined {
  const batch = unreadableBatch(message);
  if (batch === undefined) return undefined;
  const span = batch.firstOffset === batch.lastOffset ? `offset ${batch.firstOffset}` : `offsets ${batch.firstOffset}–${batch.lastOffset}`;
  return `${batch.reason} — the batch at ${span} (${batch.records} record${batch.records === 1 ? '' : 's'}) is this one dead letter, its records as written (compressed, if they were) in original_value`;
}

interface FetchDecoder {
  buffer: Buffer;
  offset: number;
}
type BatchDecoder = (decoder: FetchDecoder) => Promise<{ records: object[] } & Record<string, unknown>>;

const LOG_APPEND_TIME_FLAG = 0x8;
const TRANSACTIONAL_FLAG = 0x10;
const CONTROL_FLAG = 0x20;
const MAGIC_V2 = 2;
/** Bytes of a v2 batch before its records: offset, length, leader epoch, magic, CRC, attributes, …, record count. */
const HEADER_BYTES = 61;

/**
 * The batch at `start` (its first offset) as one record marked unreadable, laid out as kafkajs's record decoder lays
 * out a record, with the batch context its consumer filters by; undefined if not even the header can be read, or it
 * is no v2 batch header (its magic, or offsets no broker writes: then kafkajs's error stands, as before).
 */
function asOneRecord(fetchDecoder: FetchDecoder, start: number, reason: string): { records: object[] } & Record<string, unknown> | undefined {
  const b = fetchDecoder.buffer;
  if (start + HEADER_BYTES > b.length) return undefined;
  const length = b.readInt32BE(start + 8);
  const end = start + 12 + length;
  if (length < HEADER_BYTES - 12 || end > b.length) return undefined;
  const firstOffset = b.readBigInt64BE(start);
  const attributes = b.readInt16BE(start + 21);
  const lastOffsetDelta = b.readInt32BE(start + 23);
  const records = b.readInt32BE(start + 57);
  // The record's offset is what the consumer commits past: only a v2 batch's header says it. kafkajs reads a whole
  // fetch in the format of its first entry, so a legacy message (magic 0 or 1) after a v2 batch fails here too; read
  // as a v2 header, its timestamp and key bytes would put the record hundreds of millions of offsets ahead.
  if (b.readInt8(start + 16) !== MAGIC_V2 || lastOffsetDelta < 0 || records < 0 || records > lastOffsetDelta + 1) return undefined;
  const firstTimestamp = b.readBigInt64BE(start + 27).toString();
  const maxTimestamp = b.readBigInt64BE(start + 35).toString();
  const batchContext = {
    firstOffset: firstOffset.toString(),
    firstTimestamp,
    partitionLeaderEpoch: b.readInt32BE(start + 12),
    inTransaction: (attributes & TRANSACTIONAL_FLAG) !== 0,
    isControlBatch: (attributes & CONTROL_FLAG) !== 0,
    lastOffsetDelta,
    producerId: b.readBigInt64BE(start + 43).toString(),
    producerEpoch: b.readInt16BE(start + 51),
    firstSequence: b.readInt32BE(start + 53),
    maxTimestamp,
    timestampType: (attributes & LOG_APPEND_TIME_FLAG) !== 0 ? 1 : 0,
  };
  const lastOffset = firstOffset + BigInt(lastOffsetDelta);
  const mark: UnreadableBatch = { firstOffset: Number(firstOffset), lastOffset: Number(lastOffset), records, reason };
  const record = {
    magicByte: MAGIC_V2,
    attributes: 0,
    timestamp: batchContext.timestampType === 1 ? maxTimestamp : firstTimestamp,
    offset: lastOffset.toString(),
    key: null,
    // A copy: a slice would keep the whole fetch answer alive as long as the record.
    value: Buffer.from(b.subarray(start + HEADER_BYTES, end)),
    headers: {},
    isControlRecord: batchContext.isControlBatch,
    batchContext,
    [MARK]: mark,
  };
  // kafkajs's own decoder moved past the batch before it failed; said again so that nothing depends on when it failed.
  fetchDecoder.offset = end;
  return { ...batchContext, records: [record] };
}

/**
 * The most records one batch may declare. kafkajs decodes a fetch's records all at once and spreads each batch's into
 * one call's arguments: past about 120,000 (Node 20's main thread) that overflows the stack and fails the whole
 * fetch, at every restart, and a ZSTD batch of a million empty records is a few hundred KB. Below it a batch is
 * decoded in ~80 ms and ~20 MB. Producers write far fewer: librdkafka at most 10,000 a batch by default, Java's
 * producer 16 KiB of them, cdrflow's stages 768 KiB.
 */
export const MAX_RECORDS_PER_BATCH = 100_000;

/**
 * The last compression codec Kafka defines (ZSTD; attributes bits 0-2). kafkajs reads a batch marked with any other
 * as uncompressed: its compressed bytes as records, which failed the whole fetch at every restart, or read as others.
 */
const LAST_CODEC_ID = 4;

/** The record count and codec id a v2 batch's header at `start` declares, if its header is in the buffer. */
function declared(b: Buffer, start: number): { records: number; codec: number } | undefined {
  if (start + HEADER_BYTES > b.length || b.readInt8(start + 16) !== MAGIC_V2) return undefined;
  return { records: b.readInt32BE(start + 57), codec: b.readInt16BE(start + 21) & 0x07 };
}

/**
 * The records and headers one partition's record set in one fetch is decoded to before the batches after are left
 * for the next fetch, as kafkajs leaves a batch cut short by the fetch's size. Each batch's own bounds (above,
 * MAX_HEADERS_PER_BATCH) do not bound a fetch: a batch of one record of 100,000 empty headers is ~300 bytes of GZIP, so
 * a partition's 1 MiB of them decoded to 300 million headers and ran the process out of memory. The first batch of a
 * set is always read (at most its own bounds), so every fetch moves on. With it a partition's fetch is ~55 MB of heap
 * at the most (just under this, then one batch of 100,000 records and 250,000 headers): a stage reading 12
 * partitions, all of them attacked at once, ~650 MB. A fetch of real records never comes near it: 1 MiB of them
 * (kafkajs's bytes per partition) is about 1,000 CDRs.
 */
export const MAX_DECODED_PER_FETCH = 250_000;

/** Records and headers decoded so far from each partition's record set (kafkajs decodes one with one decoder). */
const decodedInFetch = new WeakMap<FetchDecoder, number>();
const { KafkaJSPartialMessageError } = require('kafkajs/src/errors.js') as { KafkaJSPartialMessageError: new (message: string) => Error };

/** A partition's next batch, decoded within MAX_DECODED_PER_FETCH: what replaces kafkajs's batch decoder. */
const readBatch: BatchDecoder = async (fetchDecoder) => {
  const before = decodedInFetch.get(fetchDecoder) ?? 0;
  if (before >= MAX_DECODED_PER_FETCH) {
    throw new KafkaJSPartialMessageError(`${before} records and headers decoded from this record set; the rest is left for the next fetch`);
  }
  const batch = await decodeBatch(fetchDecoder);
  const records = batch.records as { batchContext?: object }[];
  decodedInFetch.set(fetchDecoder, before + records.length + batchHeaders(records[0]?.batchContext));
  return batch;
};

async function decodeBatch(fetchDecoder: FetchDecoder): Promise<{ records: object[] } & Record<string, unknown>> {
  const start = fetchDecoder.offset;
  const header = declared(fetchDecoder.buffer, start);
  // Neither decompressed nor decoded. A batch cut short by the fetch's size is left to kafkajs, as any other.
  const refusal =
    header === undefined ? undefined
    : header.records > MAX_RECORDS_PER_BATCH ? `a record batch declaring ${header.records} records, past the ${MAX_RECORDS_PER_BATCH} cdrflow reads in one batch; not read`
    : header.codec > LAST_CODEC_ID ? `a record batch compressed with codec id ${header.codec}, which Kafka does not define; not read`
    : undefined;
  if (refusal !== undefined) {
    const one = asOneRecord(fetchDecoder, start, refusal);
    if (one) return one;
  }
  try {
    return await kafkajsBatchDecoder(fetchDecoder);
  } catch (err) {
    // Only a batch a decompressor refused (core/compression/: past the limit, or not what its codec writes) is the
    // data's fault. Anything else stops the fetch as before: a batch cut short by the fetch's size limit (how every
    // fetch answer may end: kafkajs stops there), memory that ran out, a bug — never a valid batch dead-lettered.
    if (!(err instanceof BatchRefused)) throw err;
    const one = asOneRecord(fetchDecoder, start, (err as Error).message ?? String(err));
    if (!one) throw err;
    return one;
  }
}

// kafkajs's fetch decoding takes the batch decoder when it loads: loaded before this module, it keeps kafkajs's own.
refuseIfKafkajsLoaded('core/kafkajs-unreadable-batch.ts', ['kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js']);
/** kafkajs's own batch decoder (the tests compare against it). */
export const kafkajsBatchDecoder = replaceKafkajsModule<BatchDecoder>('kafkajs/src/protocol/recordBatch/v0/decoder.js', () => readBatch);
