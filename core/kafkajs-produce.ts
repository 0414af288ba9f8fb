// kafkajs 2.2.4's produce path without its copies: the same bytes on the wire, built in one pass. Installed before
// kafkajs loads (core/kafkajs-setup.ts, which core/kafka.ts imports first).
//
// Why: in a normalize member's worker, kafkajs took 19% of the CPU and Node's buffer internals 24%, most of both in
// kafkajs's produce path (CPU profile of the pipeline benchmark's job, 2026-12-05). Per record of a 3,000-record send
// over three partitions
// (`npm run bench -- produce` measures it): grouping the records by partition 2.7–3.0 µs (it copies a partition's
// whole array for every record it adds), encoding the request 5.7–6.5 µs (a zero-filled 512-byte buffer per record,
// a Buffer per varint, the record set copied through five layers of growing buffers), of which the CRC-32C, one
// byte at a time, 1.3. The replacements below write each record batch once into a buffer of its exact size and
// checksum it eight bytes at a time.
//
// The replacements take only what cdrflow sends: records without compression, keys and values that are bytes,
// strings or null, string or byte headers, no per-record timestamps. Anything else (another caller's compressed
// send, a timestamp, a header list) goes through kafkajs's own code unchanged. kafkajs-produce.test.ts holds the
// bytes equal to kafkajs's own for both kinds of request, and the broker checks every batch's CRC.
import { createRequire } from 'node:module';
import { refuseIfKafkajsLoaded, replaceKafkajsModule } from './kafkajs-replace.ts';

const require = createRequire(import.meta.url);

interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
  readonly buffer: Buffer;
}
type Bytes = Buffer | string | null | undefined;
interface ProduceMessage {
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, unknown>;
  timestamp?: unknown;
  partition?: number;
}
interface ProducePartition {
  partition: number;
  firstSequence?: number | undefined;
  messages: ProduceMessage[];
}
export interface ProduceRequestArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null | undefined;
  producerId?: unknown;
  producerEpoch?: number | undefined;
  compression?: number | undefined;
  topicData: { topic: string; partitions: ProducePartition[] }[];
}
interface ProduceRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  expectResponse: () => boolean;
  encode: () => Promise<KafkajsEncoder>;
}
type GroupArgs = {
  topic: string;
  partitionMetadata: unknown[];
  messages: ProduceMessage[];
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: ProduceMessage }) => number;
};

const Encoder = require('kafkajs/src/protocol/encoder.js') as { prototype: object };
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): { getHighBits(): number; getLowBits(): number } };

/** kafkajs's Encoder holding `buf` whole, as its own code expects of every encoded part. */
function asEncoder(buf: Buffer): KafkajsEncoder {
  const encoder = Object.create(Encoder.prototype) as KafkajsEncoder;
  encoder.buf = buf;
  encoder.offset = buf.length;
  return encoder;
}

// ---- CRC-32C (Castagnoli), eight bytes a step ("slicing by 8": eight tables of 256, one per byte position) ----
const CRC_TABLES: Int32Array[] = [];
{
  const first = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    first[n] = c;
  }
  CRC_TABLES.push(first);
  for (let t = 1; t < 8; t++) {
    const previous = CRC_TABLES[t - 1]!;
    const table = new Int32Array(256);
    for (let n = 0; n < 256; n++) table[n] = (previous[n]! >>> 8) ^ first[previous[n]! & 0xff]!;
    CRC_TABLES.push(table);
  }
}
const [T0, T1, T2, T3, T4, T5, T6, T7] = CRC_TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];

/** The CRC-32C of `b`, unsigned: the checksum a record batch carries. */
export function crc32c(b: Uint8Array): number {
  let crc = -1;
  let i = 0;
  const whole = b.length - (b.length & 7);
  for (; i < whole; i += 8) {
    crc ^= b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    crc =
      T7[crc & 0xff]! ^ T6[(crc >>> 8) & 0xff]! ^ T5[(crc >>> 16) & 0xff]! ^ T4[crc >>> 24]! ^
      T3[b[i + 4]!]! ^ T2[b[i + 5]!]! ^ T1[b[i + 6]!]! ^ T0[b[i + 7]!]!;
  }
  for (; i < b.length; i++) crc = T0[(crc ^ b[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** The records of one send by partition, in their order: kafkajs's result, in linear time. */
export function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: GroupArgs): Record<number, ProduceMessage[]> {
  const result: Record<number, ProduceMessage[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

// ---- the produce request (versions 3 to 7 share its body) ----

const zigzag = (v: number) => ((v << 1) ^ (v >> 31)) >>> 0;
const varintSize = (u: number) => (u < 0x80 ? 1 : u < 0x4000 ? 2 : u < 0x200000 ? 3 : u < 0x10000000 ? 4 : 5);
function writeVarint(buf: Buffer, at: number, u: number): number {
  while (u >= 0x80) {
    buf[at++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  buf[at++] = u;
  return at;
}
const byteLength = (v: Bytes) => (v == null ? -1 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);
/** A key, value or header as the record format writes it: its length as a zigzag varint (-1 for null), the bytes. */
const bytesSize = (length: number) => varintSize(zigzag(length)) + Math.max(length, 0);
function writeBytes(buf: Buffer, at: number, v: Bytes, length: number): number {
  at = writeVarint(buf, at, zigzag(length));
  if (length <= 0) return at;
  const written = typeof v === 'string' ? buf.write(v, at, length, 'utf8') : (v as Buffer).copy(buf, at);
  if (written !== length) throw new Error(`produce request: wrote ${written} bytes of a ${length}-byte field`);
  return at + length;
}
function writeInt64(buf: Buffer, at: number, v: unknown): number {
  const long = Long.fromValue(v);
  buf.writeInt32BE(long.getHighBits(), at);
  buf.writeInt32BE(long.getLowBits(), at + 4);
  return at + 8;
}
function writeString(buf: Buffer, at: number, v: string | null): number {
  if (v === null) return buf.writeInt16BE(-1, at);
  const length = Buffer.byteLength(v);
  at = buf.writeInt16BE(length, at);
  return at + buf.write(v, at, length, 'utf8');
}

const isBytes = (v: unknown): v is Bytes => v == null || typeof v === 'string' || Buffer.isBuffer(v);
const shortString = (v: unknown) => typeof v === 'string' && Buffer.byteLength(v) <= 0x7fff;
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
const enumerableOwn = Object.prototype.propertyIsEnumerable;
/**
 * What kafkajs reads of `o[field]`: it spreads each topic, partition and message (`{ ...data }`) before it reads
 * them, so a field that is not an own enumerable property (a class's getter, a prototype's field) is undefined to it.
 */
const seenBySpread = (o: object, field: string) => (o as Record<string, unknown>)[field] === undefined || enumerableOwn.call(o, field);

/** What the one-pass encoder writes; anything else is left to kafkajs. Never throws: kafkajs answers malformed sends. */
export function onePassCovers(args: ProduceRequestArgs): boolean {
  try {
    return covers(args);
  } catch {
    return false;
  }
}
function covers(args: ProduceRequestArgs): boolean {
  // kafkajs's "none" applies only where compression is undefined (null is a codec it fails to look up)
  if (args.compression !== undefined && args.compression !== 0) return false;
  if (args.transactionalId != null && !shortString(args.transactionalId)) return false;
  // kafkajs iterates topics and partitions with for..of (any iterable), this encoder indexes arrays
  if (!Array.isArray(args.topicData)) return false;
  for (const t of args.topicData) {
    if (!isObject(t) || !seenBySpread(t, 'topic') || !seenBySpread(t, 'partitions') || !shortString(t.topic) || !Array.isArray(t.partitions)) return false;
    for (const p of t.partitions as unknown[]) {
      if (!isObject(p) || !seenBySpread(p, 'partition') || !seenBySpread(p, 'firstSequence') || !seenBySpread(p, 'messages') || !Array.isArray(p.messages)) return false;
      for (const m of p.messages as unknown[]) {
        if (!isObject(m) || m.timestamp != null || !isBytes(m.key) || !isBytes(m.value)) return false;
        if (!seenBySpread(m, 'key') || !seenBySpread(m, 'value') || !seenBySpread(m, 'headers')) return false;
        const headers = m.headers;
        if (headers === undefined) continue;
        if (!isObject(headers) || Array.isArray(headers)) return false;
        for (const key of Object.keys(headers)) {
          const value = headers[key];
          if (value == null || !isBytes(value)) return false;
        }
      }
    }
  }
  return true;
}

/**
 * One record (format v2): attributes 0, this send's timestamp (delta 0), the offset delta, key, value, headers. Each
 * key, value and header is read once, here: the bytes written are the bytes sized.
 */
interface SizedRecord {
  key: Bytes;
  keyLength: number;
  value: Bytes;
  valueLength: number;
  /** Header key, its length, value, its length; repeated. */
  headers: (Bytes | number)[];
  bodySize: number;
}
function sizeRecord(message: ProduceMessage, offsetDelta: number): SizedRecord {
  const key = message.key;
  const value = message.value;
  const keyLength = byteLength(key);
  const valueLength = byteLength(value);
  const headerObject = message.headers;
  const headers: (Bytes | number)[] = [];
  let bodySize = 1 + 1 + varintSize(zigzag(offsetDelta)) + bytesSize(keyLength) + bytesSize(valueLength);
  if (headerObject !== undefined) {
    for (const headerKey of Object.keys(headerObject)) {
      const headerValue = headerObject[headerKey] as Bytes;
      const headerKeyLength = Buffer.byteLength(headerKey);
      const headerValueLength = byteLength(headerValue);
      headers.push(headerKey, headerKeyLength, headerValue, headerValueLength);
      bodySize += bytesSize(headerKeyLength) + bytesSize(headerValueLength);
    }
  }
  bodySize += varintSize(zigzag(headers.length / 4));
  return { key, keyLength, value, valueLength, headers, bodySize };
}
function writeRecord(buf: Buffer, at: number, r: SizedRecord, offsetDelta: number): number {
  at = writeVarint(buf, at, zigzag(r.bodySize));
  buf[at++] = 0; // attributes: none are used
  buf[at++] = 0; // timestamp delta: every record carries the batch's timestamp
  at = writeVarint(buf, at, zigzag(offsetDelta));
  at = writeBytes(buf, at, r.key, r.keyLength);
  at = writeBytes(buf, at, r.value, r.valueLength);
  const h = r.headers;
  at = writeVarint(buf, at, zigzag(h.length / 4));
  for (let i = 0; i < h.length; i += 4) {
    at = writeBytes(buf, at, h[i] as string, h[i + 1] as number);
    at = writeBytes(buf, at, h[i + 2] as Bytes, h[i + 3] as number);
  }
  return at;
}

/** Record batch v2 framing: base offset, length, leader epoch, magic, CRC; then the CRC's span, the records. */
const BATCH_HEAD = 8 + 4 + 4 + 1 + 4;
const BATCH_BODY_HEAD = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;

/** The body of a produce request, as kafkajs's v3 `encode` writes it, in one buffer. */
export function encodeProduceRequest(args: ProduceRequestArgs): Buffer {
  // kafkajs's defaults, which apply where a value is undefined
  const transactionalId = args.transactionalId ?? null;
  const producerId = args.producerId === undefined ? -1 : args.producerId;
  const producerEpoch = args.producerEpoch === undefined ? 0 : args.producerEpoch;
  const now = Date.now();
  let size = 2 + (transactionalId === null ? 0 : Buffer.byteLength(transactionalId)) + 2 + 4 + 4;
  // every field read once: what is written is what was sized
  const topics = args.topicData.map((t) => {
    const topic = t.topic;
    size += 2 + Buffer.byteLength(topic) + 4;
    const partitions = t.partitions.map((p) => {
      const { partition, firstSequence = 0, messages } = p;
      const records = messages.map(sizeRecord);
      let batchSize = BATCH_HEAD + BATCH_BODY_HEAD;
      for (let i = 0; i < records.length; i++) batchSize += varintSize(zigzag(records[i]!.bodySize)) + records[i]!.bodySize;
      size += 4 + 4 + batchSize;
      return { partition, firstSequence, records, batchSize };
    });
    return { topic, partitions };
  });
  const buf = Buffer.allocUnsafe(size);
  let at = writeString(buf, 0, transactionalId);
  at = buf.writeInt16BE(args.acks, at);
  at = buf.writeInt32BE(args.timeout, at);
  at = buf.writeInt32BE(topics.length, at);
  for (const { topic, partitions } of topics) {
    at = writeString(buf, at, topic);
    at = buf.writeInt32BE(partitions.length, at);
    for (const { partition, firstSequence, records, batchSize } of partitions) {
      at = buf.writeInt32BE(partition, at);
      at = buf.writeInt32BE(batchSize, at);
      at = writeInt64(buf, at, 0); // base offset: the broker assigns it
      at = buf.writeInt32BE(batchSize - 12, at);
      at = buf.writeInt32BE(0, at); // partition leader epoch
      at = buf.writeInt8(2, at); // magic: record batch v2
      const crcAt = at;
      at += 4;
      const bodyAt = at;
      at = buf.writeInt16BE(transactionalId ? 16 : 0, at); // attributes: transactional, no compression
      at = buf.writeInt32BE(records.length - 1, at); // last offset delta
      at = writeInt64(buf, at, now); // first timestamp
      at = writeInt64(buf, at, now); // max timestamp
      at = writeInt64(buf, at, producerId);
      at = buf.writeInt16BE(producerEpoch, at);
      at = buf.writeInt32BE(firstSequence, at);
      at = buf.writeInt32BE(records.length, at);
      for (let i = 0; i < records.length; i++) at = writeRecord(buf, at, records[i]!, i);
      buf.writeUInt32BE(crc32c(buf.subarray(bodyAt, at)), crcAt);
    }
  }
  if (at !== size) throw new Error(`produce request: wrote ${at} bytes of ${size}`);
  return buf;
}

// ---- installing them, and the benchmark's baselines ----

let kafkajsOwn = false;
/**
 * The benchmark's bare-kafkajs baselines (K1, K2) run kafkajs's own produce path in the benchmark's process
 * (bench/suites/pipeline.ts); cdrflow's stages run in threads and processes of their own and keep the one above.
 */
export function useKafkajsOwnProducePath(own: boolean): void {
  kafkajsOwn = own;
}

// kafkajs's modules take these at load: loaded before this module, they would keep kafkajs's own.
refuseIfKafkajsLoaded('core/kafkajs-produce.ts', ['kafkajs/src/producer/sendMessages.js', 'kafkajs/src/protocol/requests/produce/v4/request.js', 'kafkajs/src/protocol/recordBatch/crc32C/index.js']);

type ProduceRequestFn = (args: ProduceRequestArgs) => ProduceRequest;
/** kafkajs's own functions, which the tests hold the replacements' results equal to. */
export const kafkajsOriginals = {
  crc32C: replaceKafkajsModule<(b: Buffer) => number>('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js', (own) => (b: Buffer) => (kafkajsOwn ? own(b) : crc32c(b))),
  groupMessagesPerPartition: replaceKafkajsModule<typeof groupMessagesPerPartition>('kafkajs/src/producer/groupMessagesPerPartition.js', (own) => (args: GroupArgs) =>
    kafkajsOwn ? own(args) : groupMessagesPerPartition(args),
  ),
  produceRequest: replaceKafkajsModule<ProduceRequestFn>('kafkajs/src/protocol/requests/produce/v3/request.js', (own) => (args: ProduceRequestArgs) => {
    const request = own(args);
    if (kafkajsOwn || !onePassCovers(args)) return request;
    return {
      ...request,
      encode: async () => {
        let buf: Buffer;
        try {
          buf = encodeProduceRequest(args);
        } catch {
          // a value out of range (acks, a partition, a sequence...): kafkajs's own code refuses it, with its own
          // error, in its own order
          return request.encode();
        }
        return asEncoder(buf);
      },
    };
  }),
};
