// The requests cdrflow encodes itself and their answers (core/kafka-wire.ts): OffsetFetch v7 with require_stable and
// TxnOffsetCommit v3 with the group generation. Exact bytes, tagged fields skipped, and a broken answer is a clear
// error. The broker side of both is in kafka-stable-offsets.int.test.ts.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../simulators/kit.ts';
import { CdrflowError } from './errors.ts';
import { decodeFencedTxnOffsetCommit, encodeFencedTxnOffsetCommit, withGroupMembership, type TxnOffsetCommitArgs } from './kafka-fenced-offsets.ts';
import { decodeStableOffsetFetch, encodeStableOffsetFetch } from './kafka-stable-offsets.ts';

const int16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return [...b];
};
const int64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return [...b];
};
const compact = (s: string) => [s.length + 1, ...Buffer.from(s)];

/** Every truncation of a good answer, and 2,000 random ones (seeded), fail with a CdrflowError and nothing else. */
function expectOnlyCdrflowErrors(decode: (payload: Buffer) => unknown, good: Buffer, seed: number): void {
  for (let cut = 0; cut < good.length - 1; cut++) {
    expect(() => decode(good.subarray(0, cut))).toThrow(CdrflowError);
  }
  // The project's seeded generator: an LCG in doubles (`seed * 1103515245` loses its low bits) cycled here, and its
  // 2,000 answers were some 450 different ones.
  const random = seededRandom(seed);
  for (let i = 0; i < 2_000; i++) {
    const bytes = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
    try {
      decode(bytes);
    } catch (err) {
      expect(err).toBeInstanceOf(CdrflowError);
    }
  }
}

describe('OffsetFetch v7 with require_stable', () => {
  it('encodes header tags, group, topics with their partitions, and require_stable', () => {
    const body = encodeStableOffsetFetch('g1', new Map([['raw', [0, 2]]]));
    expect([...body]).toEqual([0, ...compact('g1'), 2, ...compact('raw'), 3, ...int32(0), ...int32(2), 0, 1, 0]);
  });

  it('decodes offsets, "no offset" and per-partition errors, skipping tagged fields', () => {
    const answer = Buffer.from([
      1, 7, 2, 0xaa, 0xbb, // header: one tagged field (tag 7, two bytes)
      ...int32(0), // throttle
      2, ...compact('raw'),
      4,
      ...int32(0), ...int64(120), ...int32(-1), 0, 0, 0, 0, // offset 120, null metadata
      ...int32(1), ...int64(-1), ...int32(-1), 1, 0, 0, 0, // no committed offset, empty metadata
      ...int32(2), ...int64(-1), ...int32(-1), 0, 0, 88, 0, // unstable
      0, // topic tags
      0, 0, // error code
      0,
    ]);
    expect(decodeStableOffsetFetch(answer)).toEqual({
      errorCode: 0,
      partitions: [
        { topic: 'raw', partition: 0, offset: 120, errorCode: 0 },
        { topic: 'raw', partition: 1, offset: undefined, errorCode: 0 },
        { topic: 'raw', partition: 2, offset: undefined, errorCode: 88 },
      ],
    });
  });

  it('a cut or garbled answer is a transient CdrflowError, never another exception (bounded fuzz)', () => {
    const good = Buffer.from([0, ...int32(0), 2, ...compact('raw'), 2, ...int32(0), ...int64(5), ...int32(-1), 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(decodeStableOffsetFetch(good).partitions).toHaveLength(1);
    expectOnlyCdrflowErrors(decodeStableOffsetFetch, good, 7);
  });
});

describe('TxnOffsetCommit v3 with the group generation', () => {
  it('encodes header tags, ids, producer, generation, member, no instance id, and every offset', () => {
    const body = encodeFencedTxnOffsetCommit(
      {
        transactionalId: 'tx',
        groupId: 'g',
        producerId: '4000',
        producerEpoch: 3,
        topics: [{ topic: 'raw', partitions: [{ partition: 1, offset: '120' }, { partition: 2, offset: 7, metadata: 'm' }] }],
      },
      { groupId: 'g', memberId: 'member-1', generationId: 9 },
    );
    expect([...body]).toEqual([
      0, // header tags
      ...compact('tx'),
      ...compact('g'),
      ...int64(4000),
      ...int16(3),
      ...int32(9),
      ...compact('member-1'),
      0, // group_instance_id: null
      2, ...compact('raw'),
      3,
      ...int32(1), ...int64(120), ...int32(-1), 0, 0, // leader epoch unknown, null metadata, tags
      ...int32(2), ...int64(7), ...int32(-1), ...compact('m'), 0,
      0, // topic tags
      0, // request tags
    ]);
  });

  it("decodes every partition's error code, skipping tagged fields", () => {
    const answer = Buffer.from([
      1, 3, 1, 0xee, // header: one tagged field
      ...int32(0), // throttle
      2, ...compact('raw'),
      3,
      ...int32(0), ...int16(0), 0,
      ...int32(1), ...int16(22), 1, 5, 0, // ILLEGAL_GENERATION, a tagged field of size 0
      0,
      0,
    ]);
    expect(decodeFencedTxnOffsetCommit(answer)).toEqual([
      { topic: 'raw', partition: 0, errorCode: 0 },
      { topic: 'raw', partition: 1, errorCode: 22 },
    ]);
  });

  it('a cut or garbled answer is a transient CdrflowError, never another exception (bounded fuzz)', () => {
    const good = Buffer.from([0, ...int32(0), 2, ...compact('raw'), 2, ...int32(0), ...int16(0), 0, 0, 0]);
    expect(decodeFencedTxnOffsetCommit(good)).toHaveLength(1);
    expectOnlyCdrflowErrors(decodeFencedTxnOffsetCommit, good, 11);
  });
});

describe('a transaction\'s offsets sent to a broker (docs/stream-stages.md)', () => {
  // kafkajs's broker, as kafka-fenced-offsets.ts wrapped it when it loaded.
  const Broker = createRequire(import.meta.url)('kafkajs/src/broker/index.js') as { prototype: { txnOffsetCommit(args: TxnOffsetCommitArgs): Promise<unknown> } };
  const args: TxnOffsetCommitArgs = { transactionalId: 'g.n-0', groupId: 'g', producerId: 7, producerEpoch: 1, topics: [{ topic: 'raw', partitions: [{ partition: 0, offset: '10' }] }] };
  /** A broker that accepts TxnOffsetCommit up to `maxVersion`, and what reached it: cdrflow's request or kafkajs's own. */
  const broker = (maxVersion: number) => {
    const seen: string[] = [];
    const b = Object.assign(Object.create(Broker.prototype) as typeof Broker.prototype, {
      versions: { 28: { minVersion: 0, maxVersion } },
      connectionPool: {
        send: async ({ request }: { request: { apiVersion: number } }) => {
          seen.push(`cdrflow v${request.apiVersion}`);
          return []; // no partition refused
        },
      },
      lookupRequest: () => {
        seen.push('kafkajs');
        throw new Error('sent as kafkajs sends it');
      },
    });
    return { b, seen };
  };
  const membership = { groupId: 'g', memberId: 'm-1', generationId: 4 };

  it('carry the generation (v3) where the broker takes it, and go as kafkajs sends them to a broker older than Kafka 2.5', async () => {
    const current = broker(3);
    await withGroupMembership('g.n-0', membership, () => current.b.txnOffsetCommit(args));
    expect(current.seen).toEqual(['cdrflow v3']);
    const older = broker(2);
    await expect(withGroupMembership('g.n-0', membership, () => older.b.txnOffsetCommit(args))).rejects.toThrow('sent as kafkajs sends it');
    expect(older.seen).toEqual(['kafkajs']);
  });
});
