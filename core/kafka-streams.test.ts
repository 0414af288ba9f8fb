// sendsOf: a transaction's output cut into produce calls that never give one partition more than
// MAX_PARTITION_SEND_BYTES (the broker refuses a larger record batch), judged with the producer's own partitioner.
// runTransactional: what it leaves behind when its consumer cannot start.
import type { PartitionerArgs } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { MAX_PARTITION_SEND_BYTES, type Kafka } from './kafka.ts';
import { runTransactional, sendsOf, type ProducedRecords } from './kafka-streams.ts';
import { keyPartitioner } from './partitioner.ts';

const PARTITIONS = 3;
const metadata = Array.from({ length: PARTITIONS }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 }));
const record = (key: string | null, bytes: number) => ({ key, value: Buffer.alloc(bytes, 'x') });

/** Bytes per partition of each send, as the producer's partitioner places its records (keyless: on every one). */
function loads(sends: ReturnType<typeof sendsOf>): number[][] {
  const choose = keyPartitioner();
  return sends.map((send) => {
    const load = Array<number>(PARTITIONS).fill(0);
    for (const { topic, messages } of send) {
      for (const m of messages) {
        const size = (m.value as Buffer).length + (m.key === null ? 0 : Buffer.byteLength(m.key as string));
        if (m.key === null) for (let p = 0; p < PARTITIONS; p++) load[p]! += size;
        else load[choose({ topic, partitionMetadata: metadata, message: m } as PartitionerArgs)]! += size;
      }
    }
    return load;
  });
}

describe('sendsOf', () => {
  it('fills each partition up to the bound, not the send as a whole: 2 MiB over three partitions goes in one send', () => {
    const produced: ProducedRecords[] = [{ topic: 't', messages: Array.from({ length: 2_000 }, (_, i) => record(`call-${i}`, 1_000)) }];
    const sends = sendsOf(produced, () => PARTITIONS);
    expect(sends.flatMap((s) => s.flatMap((t) => t.messages)).map((m) => m.key)).toEqual(produced[0]!.messages.map((m) => m.key));
    for (const load of loads(sends)) expect(Math.max(...load)).toBeLessThanOrEqual(MAX_PARTITION_SEND_BYTES);
    expect(sends.length).toBe(Math.ceil(Math.max(...loads([sends.flat()])[0]!) / MAX_PARTITION_SEND_BYTES));
  });

  it('cuts where one partition would go over, with one partition as with many, topics in order', () => {
    const produced: ProducedRecords[] = [
      { topic: 'out', messages: Array.from({ length: 100 }, (_, i) => record(`k${i}`, 20_000)) },
      { topic: 'dlq', messages: [record('bad', 10)] },
    ];
    const sends = sendsOf(produced, () => 1);
    // 2 MB to one partition: three sends, the dead letter in the last.
    expect(sends).toHaveLength(3);
    expect(sends.at(-1)!.map((t) => t.topic)).toEqual(['out', 'dlq']);
    expect(sends.flatMap((s) => s.flatMap((t) => t.messages)).length).toBe(101);
  });

  it('counts a keyless record against every partition, and sends a record above the bound alone', () => {
    const keyless = sendsOf([{ topic: 't', messages: [record('a', 500_000), record(null, 500_000)] }], () => PARTITIONS);
    expect(keyless).toHaveLength(2);
    const huge = sendsOf([{ topic: 't', messages: [record('a', 10), record('b', 2 * MAX_PARTITION_SEND_BYTES), record('c', 10)] }], () => 1);
    expect(huge.map((s) => s[0]!.messages.map((m) => m.key))).toEqual([['a'], ['b'], ['c']]);
  });
});

describe('runTransactional', () => {
  it('disconnects its producer when its consumer cannot start, and reports why', async () => {
    const calls: string[] = [];
    // Only what runTransactional and startConsumer touch before the consumer's connect fails.
    const kafka = {
      producer: () => ({
        connect: async () => void calls.push('producer.connect'),
        transaction: async () => {
          calls.push('producer.transaction');
          return { abort: async () => void calls.push('transaction.abort') };
        },
        disconnect: async () => void calls.push('producer.disconnect'),
      }),
      consumer: () => ({
        events: { CRASH: 'crash', GROUP_JOIN: 'join', END_BATCH_PROCESS: 'end' },
        on: () => undefined,
        connect: async () => {
          calls.push('consumer.connect');
          throw new Error('Connection refused: the group coordinator is not reachable');
        },
        disconnect: async () => void calls.push('consumer.disconnect'),
      }),
    } as unknown as Kafka;
    await expect(
      runTransactional(kafka, { groupId: 'g', topics: ['in'], transactionalId: 'tx-1', transform: async () => [] }),
    ).rejects.toThrow(/starting consumer group g/);
    // The producer takes its transactional id (fencing a predecessor) before the consumer joins.
    expect(calls).toEqual(['producer.connect', 'producer.transaction', 'transaction.abort', 'consumer.connect', 'consumer.disconnect', 'producer.disconnect']);
  });
});
