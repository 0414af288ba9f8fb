// kafkajs 2.2.4's record decoder with its headers gathered in linear time: a correction installed before kafkajs loads
// (core/kafkajs-setup.ts).
//
// kafkajs builds a record's header object with `reduce((obj, h) => ({ ...obj, [h.key]: … }))`, copying the whole
// object for every header, and a repeated key's array for every repeat: quadratic. A record of 64,000 headers
// (192 KB, under the broker's 1 MiB default) held the event loop 9.6 s, one of 200,000 (600 KB) 98 s, in the fetch
// of every stage reading its partition, before any cdrflow code sees the record. No cdrflow stage reads headers, so
// anyone who could write a record could stall every stage for minutes per fetch, and their group sessions with them.
//
// The replacement decodes the same fields in the same order and builds the same header object: one own property per
// distinct key in first-seen order, a repeated key's values in an array, and a key looked up as kafkajs looks it up
// (so a header named like an Object.prototype member comes out as kafkajs makes it). kafkajs-record-headers.test.ts
// holds its results equal to kafkajs's own. Where it differs: a batch whose records carry more than
// MAX_HEADERS_PER_BATCH headers is refused, as a decompressor refuses a bomb, and becomes one dead letter; so is one
// whose records are not Kafka's record format (fewer than its count, a record cut short or longer than its fields, a
// negative header count or length, a timestamp delta past 64 bits), which kafkajs read cut short, as zeros or as
// other fields, or failed the whole fetch on.
import { createRequire } from 'node:module';
import { BatchRefused } from './compression/limits.ts';
import { refuseIfKafkajsLoaded, replaceKafkajsModule } from './kafkajs-replace.ts';

const require = createRequire(import.meta.url);

interface KafkajsDecoder {
  buffer: Buffer | null;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarLong(): { toString(): string };
  readVarIntBytes(): Buffer | null;
  readVarIntString(): string | null;
}
interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}
type RecordDecoder = (decoder: KafkajsDecoder, batchContext?: BatchContext) => Record<string, unknown>;

const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): { add(v: unknown): { toString(): string } } };
const { KafkaJSInvalidLongError } = require('kafkajs/src/errors.js') as { KafkaJSInvalidLongError: new (message: string) => Error };
const LOG_APPEND_TIME = 1;

/**
 * The most headers the records of one batch may carry together. Linear time is not bounded memory: a header decodes
 * to ~70 bytes of heap (two objects and a slot) from 2 bytes of records, and 2 bytes repeat well, so a GZIP batch of
 * 195 KB, one record of 100 million headers, is 200 MB decompressed (under MAX_DECOMPRESSED_BATCH_BYTES) and ~7 GB of
 * heap: every process reading it ran out of memory at every restart. A batch past this is one dead letter
 * (core/kafkajs-unreadable-batch.ts), its headers never all decoded. 250,000 is ~18 MB of heap; producers write a
 * few headers a record (an uncompressed batch under the broker's 1 MiB default could hold 524,288 empty ones).
 */
export const MAX_HEADERS_PER_BATCH = 250_000;

/** Headers decoded so far per batch (kafkajs hands every record of a batch the same context object). */
const headersByBatch = new WeakMap<object, number>();

/** How many headers the records decoded with `batchContext` carried (0 for a context it never saw). */
export function batchHeaders(batchContext: object | undefined): number {
  return batchContext === undefined ? 0 : (headersByBatch.get(batchContext) ?? 0);
}

/**
 * A batch whose records are not Kafka's record format, as the broker's own reader refuses them: refused as a
 * decompressor refuses a corrupt stream (one dead letter), never read as other bytes nor a RangeError that fails the
 * whole fetch at every restart.
 */
function malformed(what: string): BatchRefused {
  return new BatchRefused(`a record batch whose records are malformed: ${what}; not read`);
}

/**
 * A length-prefixed field read by `read`, refused if its length is negative other than -1 (null): kafkajs reads such a
 * field as empty and moves back over the bytes it had read, reading them again as the fields after.
 */
function field<T>(decoder: KafkajsDecoder, read: (d: KafkajsDecoder) => T, what: string): T {
  const at = decoder.offset;
  const value = read(decoder);
  if (decoder.offset < at) throw malformed(`a record's ${what} declares a negative length`);
  return value;
}
const varIntBytes = (d: KafkajsDecoder) => d.readVarIntBytes();
const varIntString = (d: KafkajsDecoder) => d.readVarIntString();

/** decoder.readVarIntArray(kafkajs's header decoder), the batch's header count checked before any is decoded. */
function readHeaders(decoder: KafkajsDecoder, batchContext: object): { key: string; value: Buffer | null }[] {
  const count = decoder.readVarInt();
  // No header, as most records: nothing to count (this runs for every record every stage reads).
  if (count === -1 || count === 0) return [];
  if (count < 0) throw malformed(`a record declares ${count} headers`);
  const total = batchHeaders(batchContext) + count;
  if (total > MAX_HEADERS_PER_BATCH) {
    throw new BatchRefused(`a record batch whose records carry more than ${MAX_HEADERS_PER_BATCH} headers; not read`);
  }
  headersByBatch.set(batchContext, total);
  const list = new Array<{ key: string; value: Buffer | null }>(count);
  // As kafkajs's header decoder reads them (a null key comes out as kafkajs makes it, the key "null").
  for (let i = 0; i < count; i++) list[i] = { key: field(decoder, varIntString, 'header key') as string, value: field(decoder, varIntBytes, 'header value') };
  return list;
}

/** The headers as kafkajs's reduce builds them, each key set once in place instead of the object copied per header. */
export function headerObject(list: readonly { key: string; value: Buffer | null }[]): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  // Most records have no header, and every record passes here.
  if (list.length === 0) return headers;
  // The arrays made here for repeated keys: only these are extended in place (kafkajs's concat makes a new one, which
  // no one else holds), never an array a key's lookup found elsewhere.
  let own: Set<unknown[]> | undefined;
  for (const { key, value } of list) {
    const current = headers[key];
    let next: unknown;
    if (current === undefined) next = value;
    else if (Array.isArray(current) && own?.has(current)) {
      current.push(value);
      continue;
    } else if (Array.isArray(current)) next = current.concat([value]);
    else next = [current, value];
    if (Array.isArray(next)) (own ??= new Set()).add(next);
    // Defined, not assigned: `{ ...obj, [key]: v }` makes an own property even of `__proto__`.
    Object.defineProperty(headers, key, { value: next, writable: true, enumerable: true, configurable: true });
  }
  return headers;
}

/** A record's timestamp delta; kafkajs's KafkaJSInvalidLongError for one past 64 bits is the batch's fault, refused. */
function readTimestampDelta(decoder: KafkajsDecoder): { toString(): string } {
  try {
    return decoder.readVarLong();
  } catch (err) {
    if (err instanceof KafkaJSInvalidLongError) throw malformed("a record's timestamp delta is past 64 bits");
    throw err;
  }
}

let kafkajsOwn = false;

/**
 * The benchmark's bare-kafkajs baselines (K1, K2) read with kafkajs's own record decoder (bench/suites/pipeline.ts),
 * as they write with its own produce path; cdrflow's stages keep the one below.
 */
export function useKafkajsOwnRecordDecoder(own: boolean): void {
  kafkajsOwn = own;
}

/** kafkajs's record decoder (record/v0/decoder.js), field for field, with the headers above. */
const decodeRecord: RecordDecoder = (decoder, batchContext = {} as BatchContext) => {
  if (kafkajsOwn) return kafkajsRecordDecoder(decoder, batchContext);
  const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
  // kafkajs hands each record a decoder of the bytes its length says, cut to what the records section holds: none is a
  // record past its end (a batch holding fewer records than its count).
  const bytes = decoder.buffer;
  if (bytes === null || bytes.length === 0) throw malformed('they end before the record count the batch declares');
  const attributes = decoder.readInt8();
  const timestampDelta = readTimestampDelta(decoder);
  const timestamp = timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : Long.fromValue(firstTimestamp).add(timestampDelta).toString();
  const offsetDelta = decoder.readVarInt();
  const offset = Long.fromValue(firstOffset).add(offsetDelta).toString();
  const key = field(decoder, varIntBytes, 'key');
  const value = field(decoder, varIntBytes, 'value');
  const headers = headerObject(readHeaders(decoder, batchContext));
  // kafkajs reads past a buffer's end as zeros and cut-short slices, moving its offset past the end: a record's fields
  // fill exactly the bytes its length says, or the record is refused (as Kafka's own reader refuses it).
  if (decoder.offset > bytes.length) throw malformed('a record is cut short');
  if (decoder.offset < bytes.length) throw malformed(`a record holds ${bytes.length - decoder.offset} bytes past its fields`);
  return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord: isControlBatch, batchContext };
};

// kafkajs's batch decoder takes the record decoder when it loads: loaded before this module, it keeps kafkajs's own.
refuseIfKafkajsLoaded('core/kafkajs-record-headers.ts', ['kafkajs/src/protocol/recordBatch/v0/decoder.js']);
/** kafkajs's own record decoder (the tests compare against it). */
export const kafkajsRecordDecoder = replaceKafkajsModule<RecordDecoder>('kafkajs/src/protocol/recordBatch/record/v0/decoder.js', () => decodeRecord);
