// The produce path that replaces kafkajs's (core/kafkajs-produce.ts): byte for byte what kafkajs's own code writes,
// for seeded random sends of every shape cdrflow's stages make and a few they do not; the broker's side is every
// integration test that produces (the broker checks each batch's CRC).
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import './kafka.ts';
import { seededRandom } from '../simulators/kit.ts';
import { crc32c, encodeProduceRequest, groupMessagesPerPartition, kafkajsOriginals, onePassCovers, useKafkajsOwnProducePath, type ProduceRequestArgs } from './kafkajs-produce.ts';

const require = createRequire(import.meta.url);

// The project's seeded generator, not an LCG in doubles: `seed * 1_103_515_245` loses its low bits there, and the one
// this file had fell into a cycle of 10,466 draws, which its 300 sends (some 30 million draws) went round again and again.
const random = seededRandom(7);
const int = (n: number) => Math.floor(random() * n);
/** `n` random bytes, four to a draw. */
function bytes(n: number): Buffer {
  const b = Buffer.alloc(n + 3);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  return b.subarray(0, n);
}
// Lone surrogates too: not UTF-8 as they stand, written as U+FFFD (three bytes) by both encoders.
const text = (n: number) => Array.from({ length: n }, () => ['a', 'é', '号', '😀', '\0', '"', '\ud800', '\udfff'][int(8)]).join('');

/** A key or value of each kind kafkajs takes: bytes (empty, short, long enough for a 3-byte length), text, null. */
function anyBytes(): Buffer | string | null | undefined {
  switch (int(7)) {
    case 0: return null;
    case 1: return undefined;
    case 2: return Buffer.alloc(0);
    case 3: return text(int(40));
    case 4: return bytes(int(20_000));
    default: return bytes(int(900));
  }
}
/**
 * Headers: none, cdrflow's usual few, or up to 100 (a count past one varint byte) with keys empty, integer-like
 * (Object.keys puts those first) or not UTF-8, and values empty as text and as bytes.
 */
function headers(): Record<string, string | Buffer> {
  if (int(4) !== 0) return int(2) === 0 ? {} : { vendor: 'huawei-privatenumber', ключ: bytes(int(30)), 'x-empty': '' };
  const h: Record<string, string | Buffer> = {};
  for (let i = int(100); i > 0; i--) h[[``, String(int(100)), text(1 + int(6))][int(3)]!] = [``, Buffer.alloc(0), text(int(20)), bytes(int(200))][int(4)]!;
  return h;
}
function message(): ProduceRequestArgs['topicData'][number]['partitions'][number]['messages'][number] {
  const m: { key: ReturnType<typeof anyBytes>; value: ReturnType<typeof anyBytes>; headers?: Record<string, string | Buffer> } = { key: anyBytes(), value: anyBytes() };
  if (int(3) === 0) m.headers = headers();
  return m;
}
/**
 * A partition's records: often none or a few; sometimes past 64 (offset deltas of two varint bytes), rarely past
 * 8,192 (three, in short records: their count is the point); rarely one above 1 MiB (a length of four varint bytes,
 * and a batch past the broker's default limit, which the encoder writes as kafkajs does: the broker refuses it).
 */
function messages(): ProduceRequestArgs['topicData'][number]['partitions'][number]['messages'] {
  const roll = int(400);
  if (roll === 0) return Array.from({ length: 8_192 + int(2_000) }, (_, i) => ({ key: String(i), value: [null, '', 'v', bytes(3)][int(4)] }));
  const list = Array.from({ length: roll < 120 ? 0 : roll < 390 ? int(60) : 64 + int(20) }, message);
  if (list.length > 0 && int(150) === 0) list[int(list.length)]!.value = Buffer.alloc(1_048_576 + int(100_000), int(256));
  return list;
}
function send(): ProduceRequestArgs {
  return {
    acks: [-1, 1, 0][int(3)]!,
    timeout: int(60_000),
    transactionalId: [undefined, null, '', 'cdrflow-normalize-0', 'tx-é号'][int(5)],
    producerId: [undefined, 0, 4_000, '9007199254740993', -1][int(5)],
    producerEpoch: [undefined, 0, 7, 32_000][int(4)],
    topicData: Array.from({ length: 1 + int(3) }, (_, t) => ({
      topic: `cdr.normalized-${t}${'é'.repeat(int(3))}`,
      partitions: ((count) =>
        Array.from({ length: count }, (_, p) => ({
          partition: p,
          ...(int(2) === 0 ? {} : { firstSequence: int(2 ** 31) }),
          // many partitions: a record or two each
          messages: count > 5 ? Array.from({ length: int(3) }, message) : messages(),
        })))(int(40) === 0 ? 30 + int(70) : 1 + int(4)),
    })),
  };
}

/** The shapes of a send that the fuzz must reach: each takes another branch of a varint's size or a count's. */
function shapesOf(args: ProduceRequestArgs): string[] {
  const shapes: string[] = [];
  const notUtf8 = (v: unknown) => typeof v === 'string' && /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(v);
  for (const t of args.topicData) {
    if (t.partitions.length > 5) shapes.push('many partitions');
    for (const p of t.partitions) {
      if (p.messages.length >= 64) shapes.push('64+ records');
      if (p.messages.length >= 8_192) shapes.push('8192+ records');
      for (const m of p.messages) {
        if (Buffer.isBuffer(m.value) && m.value.length > 1_048_576) shapes.push('value over 1 MiB');
        const h = Object.entries(m.headers ?? {});
        if (h.length >= 64) shapes.push('64+ headers');
        if ([m.key, m.value, ...h.flat()].some(notUtf8)) shapes.push('not UTF-8');
      }
    }
  }
  return shapes;
}

type Encoded = { buffer: Buffer };
/** What kafkajs's own code writes, its own CRC-32C included (its record batch calls the installed one otherwise). */
async function kafkajsBytes(args: ProduceRequestArgs): Promise<Buffer> {
  useKafkajsOwnProducePath(true);
  try {
    return ((await kafkajsOriginals.produceRequest(args as never).encode()) as Encoded).buffer;
  } finally {
    useKafkajsOwnProducePath(false);
  }
}

afterEach(() => {
  vi.restoreAllMocks();
  useKafkajsOwnProducePath(false);
});

describe('crc32c', () => {
  it('is CRC-32C: the check value of "123456789", and kafkajs\'s for every length up to 2,100 bytes', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    for (let n = 0; n < 2_100; n++) {
      const b = bytes(n);
      expect(crc32c(b), `${n} bytes`).toBe(kafkajsOriginals.crc32C(b));
    }
  });
});

describe('groupMessagesPerPartition', () => {
  it("groups as kafkajs's does, records in their order", () => {
    for (let i = 0; i < 50; i++) {
      const messages = Array.from({ length: int(500) }, (_, n) => ({ key: String(n), value: null }));
      const partitionMetadata = Array.from({ length: 1 + int(6) }, (_, id) => ({ partitionId: id }));
      const partitioner = ({ message }: { message: { key?: unknown } }) => Number(message.key) % partitionMetadata.length;
      const args = { topic: 't', partitionMetadata, messages, partitioner };
      expect(groupMessagesPerPartition(args)).toEqual(kafkajsOriginals.groupMessagesPerPartition(args));
    }
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages: [{ value: 'x' }], partitioner: () => 0 })).toEqual({});
  });
});

describe('the produce request', () => {
  it("is kafkajs's bytes for 300 seeded random sends", async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_900_000_123);
    const drawn = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const args = send();
      for (const shape of shapesOf(args)) drawn.add(shape);
      expect(onePassCovers(args)).toBe(true);
      const ours = encodeProduceRequest(args);
      expect(ours.equals(await kafkajsBytes(args)), `send ${i}`).toBe(true);
    }
    // the draws above reach every shape whose varints or counts take another branch
    expect([...drawn].sort()).toEqual(['64+ headers', '64+ records', '8192+ records', 'many partitions', 'not UTF-8', 'value over 1 MiB']);
  });

  it('is what the request kafkajs builds (produce v7) encodes', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_900_000_123);
    const v7 = require('kafkajs/src/protocol/requests/produce/v7/request.js') as (args: ProduceRequestArgs) => { apiVersion: number; encode(): Promise<Encoded> };
    const args = send();
    const request = v7(args);
    expect(request.apiVersion).toBe(7);
    const encoded = (await request.encode()).buffer;
    expect(encoded.equals(encodeProduceRequest(args))).toBe(true);
    expect(encoded.equals(await kafkajsBytes(args))).toBe(true);
  });

  it("leaves to kafkajs what it does not write: compression, per-record timestamps, header lists, other keys", async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_900_000_123);
    const one = (m: object, more: Partial<ProduceRequestArgs> = {}): ProduceRequestArgs => ({ acks: -1, timeout: 30_000, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [m as never] }] }], ...more });
    const uncovered = [
      one({ value: 'v' }, { compression: 1 }),
      one({ value: 'v', timestamp: 1_700_000_000_000 }),
      one({ value: 'v', timestamp: '1700000000000' }),
      one({ value: 'v', headers: { k: ['a', 'b'] } }),
      one({ value: 'v', headers: { k: null } }),
      one({ key: 12, value: 'v' }),
      one({ value: { not: 'bytes' } }),
      one({ value: 'v' }, { transactionalId: 'x'.repeat(40_000) }),
      // kafkajs looks up a codec for a null compression, and fails
      one({ value: 'v' }, { compression: null as never }),
      // kafkajs spreads each message ({ ...message }): what it does not own as an enumerable property it does not see
      one(new (class { get value() { return 'v'; } })()),
      one(Object.defineProperty({ key: 'k' }, 'value', { value: 'v', enumerable: false })),
      one(Object.create({ value: 'v' }) as object),
      // malformed sends: kafkajs's own error, when it encodes
      { acks: 1, timeout: 1, topicData: [{ topic: 't' }] } as never,
      // eslint-disable-next-line no-sparse-arrays -- a hole, on purpose
      { acks: 1, timeout: 1, topicData: [, { topic: 't', partitions: [] }] } as never,
      { acks: 1, timeout: 1, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: null }] }] } as never,
      // any iterable, to kafkajs
      { acks: 1, timeout: 1, topicData: new Set([{ topic: 't', partitions: [{ partition: 0, messages: [{ value: 'v' }] }] }]) } as never,
    ];
    const v3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (args: ProduceRequestArgs) => { encode(): Promise<Encoded> };
    for (const args of uncovered) {
      expect(onePassCovers(args), JSON.stringify(args).slice(0, 80)).toBe(false);
      // kafkajs's own code answers: the same bytes, or the same refusal
      const own = await kafkajsBytes(args).then((b) => b, (e: Error) => e.message);
      const installed = await v3(args).encode().then((e) => e.buffer, (e: Error) => e.message);
      expect(installed).toEqual(own);
    }
    expect(onePassCovers(one({ value: 'v', timestamp: null }))).toBe(true);
  });

  it("refuses what kafkajs refuses with kafkajs's own error, whichever field it meets first", async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_900_000_123);
    const v3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (args: ProduceRequestArgs) => { encode(): Promise<Encoded> };
    const sends: ProduceRequestArgs[] = [
      { acks: 40_000, timeout: 1, topicData: [{ topic: 't', partitions: [{ partition: 0, firstSequence: 2 ** 31, messages: [{ value: 'v' }] }] }] },
      { acks: 1, timeout: 1, producerEpoch: 40_000, topicData: [{ topic: 't', partitions: [{ partition: 2 ** 31, messages: [{ value: 'v' }] }] }] },
    ];
    for (const args of sends) {
      expect(onePassCovers(args)).toBe(true);
      const own = await kafkajsBytes(args).then(() => 'encoded', (e: Error) => e.message);
      await expect(v3(args).encode()).rejects.toThrow(own);
    }
  });

  it('reads each key, value and header once: the bytes written are the bytes sized', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_900_000_123);
    const args = (m: object): ProduceRequestArgs => ({ acks: -1, timeout: 1, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [m] }] }] });
    const expected = await kafkajsBytes(args({ key: 'kk', value: 'vvvv', headers: { h: 'hhh' } }));
    // A getter that answers shorter after its first read would have left allocUnsafe's bytes in the request.
    for (const field of ['key', 'value', 'h'] as const) {
      const m = { key: 'kk', value: 'vvvv', headers: { h: 'hhh' } as Record<string, string> };
      const target: object = field === 'h' ? m.headers : m;
      const long = (target as Record<string, string>)[field]!;
      let reads = 0;
      Object.defineProperty(target, field, { enumerable: true, get: () => (++reads === 1 ? long : 'x') });
      expect(encodeProduceRequest(args(m)).equals(expected), field).toBe(true);
    }
  });

  it('is kafkajs\'s own in a process that asks for it (the benchmark\'s bare baselines)', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_900_000_123);
    const v3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (args: ProduceRequestArgs) => { encode(): Promise<Encoded> };
    const args = send();
    const replaced = v3(args).encode;
    useKafkajsOwnProducePath(true);
    const own = v3(args).encode;
    expect(own.toString()).not.toBe(replaced.toString());
    expect((await own()).buffer.equals(await kafkajsBytes(args))).toBe(true);
  });

  it('refuses to install once kafkajs has loaded: its modules would keep their own', async () => {
    // This file imported core/kafka.ts, so kafkajs loaded after the replacements: its CRC is the replacement.
    const crcIndex = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;
    expect(crcIndex(Buffer.from('123456789'))).toBe(0xe3069283);
    // Evaluated again now, with kafkajs loaded, the module refuses instead of installing what nothing would call.
    vi.resetModules();
    await expect(import('./kafkajs-produce.ts')).rejects.toThrow(/kafkajs loaded before core\/kafkajs-produce.ts/);
  });
});
