// Before kafkajs itself: its read_committed correction must be in place when kafkajs loads.
import './kafkajs-setup.ts';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Partitioners, type PartitionerArgs } from 'kafkajs';
import { keyHash, keyPartitioner, murmur2 } from './partitioner.ts';

const require = createRequire(import.meta.url);
// kafkajs's own murmur2 (64-bit Long arithmetic): the oracle this one must match, key for key.
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer | string) => number;

/** Deterministic keys: call ids as the vendors spell them, every length 0-300, non-ASCII, lone surrogates, bytes. */
function* keys(): Generator<Buffer | string> {
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let len = 0; len <= 300; len++) {
    let ascii = '';
    for (let i = 0; i < len; i++) ascii += String.fromCharCode(32 + Math.floor(rand() * 95));
    yield ascii;
    const bytes = Buffer.alloc(len);
    for (let i = 0; i < len; i++) bytes[i] = Math.floor(rand() * 256);
    yield bytes;
  }
  for (let i = 0; i < 2_000; i++) yield `huawei-privatenumber:${Math.floor(rand() * 1e12)}-${i}`;
  yield* ['通话-42', 'é', 'naïve-call-id', '\u{1F4DE}call', '\uD800', 'a\uDFFFb', '\u0080', '\u007f'];
}

function args(key: Buffer | string | null, partitions: number, partition?: number, leaders = partitions): PartitionerArgs {
  return {
    topic: 'cdr.normalized',
    partitionMetadata: Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: i < leaders ? 0 : -1, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 })),
    message: { key, value: 'v', ...(partition === undefined ? {} : { partition }) },
  };
}

describe('keyPartitioner', () => {
  it('hashes every key exactly as kafkajs does (Java test vectors included)', () => {
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    let n = 0;
    for (const key of keys()) {
      expect(keyHash(key), JSON.stringify(String(key))).toBe(kafkajsMurmur2(key));
      n++;
    }
    expect(n).toBeGreaterThan(2_500);
  });

  it('puts each record in the partition kafkajs would choose', () => {
    const ours = keyPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    for (const key of keys()) {
      for (const partitions of [1, 2, 3, 7, 12]) {
        expect(ours(args(key, partitions))).toBe(theirs(args(key, partitions)));
      }
    }
    // A partition given is kept, whatever the key.
    expect(ours(args('abc', 3, 2))).toBe(2);
    expect(ours(args(null, 3, 0))).toBe(0);
  });

  it('spreads keyless records round-robin over the partitions that have a leader', () => {
    const ours = keyPartitioner();
    const seen = Array.from({ length: 6 }, () => ours(args(null, 3, undefined, 2)));
    expect(new Set(seen)).toEqual(new Set([0, 1]));
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
    // With no leader at all a partition is still chosen (kafkajs does the same and lets the send fail or retry).
    const leaderless = Array.from({ length: 6 }, () => ours(args(null, 3, undefined, 0)));
    for (const p of leaderless) expect([0, 1, 2]).toContain(p);
  });
});
