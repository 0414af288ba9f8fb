// Which partition a produced record goes to. The same choice as kafkajs's default partitioner (and Java's): a given
// partition is kept, a keyed record goes to murmur2(key) mod partitions, a keyless one round-robin over the partitions
// that have a leader. Only faster: kafkajs computes murmur2 with a 64-bit Long (a BigInt) allocated for every 4 bytes
// of the key and copies each string key into a Buffer first: murmur2.js 3.2% and long.js 4.8% of the normalize
// worker's CPU (its own profile, `node --cpu-prof` on `npm run bench -- pipeline --modes k2,normalize`); `npm run
// bench -- normalize` times both partitioners on each vendor's keys (4.1-9.2 µs against 0.31-0.55). Here it is 32-bit
// integer arithmetic (Math.imul) over the key's UTF-8 bytes, read straight from the string when it is ASCII.
// partitioner.test.ts holds it to kafkajs's own partitioner, key for key.
import type { ICustomPartitioner, PartitionerArgs } from 'kafkajs';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 (Java client's Utils.murmur2) of a key's bytes, as a signed 32-bit integer. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The last 1-3 bytes (Java's switch with fall-through).
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[whole + 2]! << 16;
    if (tail >= 2) h ^= data[whole + 1]! << 8;
    h ^= data[whole]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Bytes of an ASCII key, reused between calls (keys are call ids: short, and nearly always ASCII). */
let asciiScratch = new Uint8Array(256);

/** murmur2 of a key as kafkajs hashes it: a Buffer as it is, anything else as the UTF-8 of `String(key)`. */
export function keyHash(key: Buffer | string): number {
  if (typeof key !== 'string') return Buffer.isBuffer(key) ? murmur2(key) : murmur2(Buffer.from(String(key)));
  const n = key.length;
  if (n > asciiScratch.length) asciiScratch = new Uint8Array(Math.max(n, 2 * asciiScratch.length));
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return murmur2(Buffer.from(key)); // UTF-8 of non-ASCII: let Buffer encode it (surrogates included)
    asciiScratch[i] = c;
  }
  return murmur2(asciiScratch.subarray(0, n));
}

/** The partition of a keyed record among `partitions` (kafkajs's and Java's choice: murmur2, sign bit cleared). */
export function partitionOfKey(key: Buffer | string, partitions: number): number {
  return (keyHash(key) & 0x7fffffff) % partitions;
}

/** kafkajs's `createPartitioner`: one instance per producer, with its own round-robin counter per topic. */
export const keyPartitioner: ICustomPartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }: PartitionerArgs): number => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined) return partitionOfKey(message.key, partitionMetadata.length);
    const next = ((counters.get(topic) ?? Math.floor(Math.random() * 0x7fffffff)) + 1) & 0x7fffffff;
    counters.set(topic, next);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    if (available.length > 0) return available[next % available.length]!.partitionId;
    return next % partitionMetadata.length; // no partition has a leader: kafkajs then picks one anyway
  };
};
