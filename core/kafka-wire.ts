// The little of Kafka's wire protocol cdrflow writes itself: requests kafkajs 2.2.4 cannot send (OffsetFetch with
// require_stable, kafka-stable-offsets.ts; TxnOffsetCommit with the group generation, kafka-fenced-offsets.ts), in the
// flexible encoding those versions use (compact strings and arrays, tagged fields), sent through kafkajs's own
// connections so TLS, SASL and the broker list stay the job's.
import { CdrflowError } from './errors.ts';

/** A request as kafkajs's connection pool sends it (its internals are untyped). */
export interface ProtocolRequest {
  request: {
    apiKey: number;
    apiVersion: number;
    apiName: string;
    encode: () => Promise<{ buf: Buffer; buffer: Buffer }>;
  };
  response: { decode: (payload: Buffer) => Promise<unknown>; parse: (decoded: unknown) => Promise<unknown> };
}

/** The parts of a kafkajs broker object used here. */
export interface InternalBroker {
  versions?: Record<number, { minVersion: number; maxVersion: number }>;
  connectionPool: { send(request: ProtocolRequest): Promise<unknown> };
}

/**
 * Sends a request whose body cdrflow encoded (after the flexible request header's own tags: kafkajs writes the rest
 * of the header) and decodes the answer after its correlation id.
 */
export function sendRaw<T>(broker: InternalBroker, apiKey: number, apiVersion: number, apiName: string, body: Buffer, decode: (payload: Buffer) => T): Promise<T> {
  return broker.connectionPool.send({
    request: { apiKey, apiVersion, apiName, encode: async () => ({ buf: body, buffer: body }) },
    response: { decode: async (payload) => decode(payload), parse: async (decoded) => decoded },
  }) as Promise<T>;
}

/**
 * Whether the broker accepts `version` of an API. A broker whose versions kafkajs did not ask is assumed to: the
 * request is sent, and a broker that refuses it answers with an error rather than cdrflow quietly doing less.
 */
export function supportsVersion(broker: InternalBroker, apiKey: number, version: number): boolean {
  const max = broker.versions?.[apiKey]?.maxVersion;
  return max === undefined || max >= version;
}

export function uvarint(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    bytes.push(b);
  } while (n !== 0);
  return Buffer.from(bytes);
}

export function compactString(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  return Buffer.concat([uvarint(bytes.length + 1), bytes]);
}

/** A compact nullable string: length + 1, or 0 for null. */
export const NULL_STRING = Buffer.from([0]);

export function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

export function int64(n: number | bigint | string): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}

export const NO_TAGS = Buffer.from([0]);

/** Reads an answer; anything cut short or malformed is a transient CdrflowError naming the answer. */
export class Reader {
  private at = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
  private need(n: number) {
    if (this.at + n > this.buf.length)
      throw new CdrflowError('transient', `${this.what} answer cut short at byte ${this.at} of ${this.buf.length}`, {
        code: 'KAFKA_PROTOCOL',
      });
  }
  uvarint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      this.need(1);
      const b = this.buf[this.at++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
    throw new CdrflowError('transient', `${this.what} answer holds a varint longer than 5 bytes`, {
      code: 'KAFKA_PROTOCOL',
    });
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  int64(): number {
    this.need(8);
    const v = Number(this.buf.readBigInt64BE(this.at));
    this.at += 8;
    return v;
  }
  /** A compact (nullable) string; null when absent. */
  string(): string | null {
    const n = this.uvarint();
    if (n === 0) return null;
    this.need(n - 1);
    const s = this.buf.toString('utf8', this.at, this.at + n - 1);
    this.at += n - 1;
    return s;
  }
  array<T>(item: () => T): T[] {
    const n = this.uvarint();
    const out: T[] = [];
    for (let i = 1; i < n; i++) out.push(item());
    return out;
  }
  skipTags(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      const size = this.uvarint();
      this.need(size);
      this.at += size;
    }
  }
}
