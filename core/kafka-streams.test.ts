// sendsOf: a transaction's output cut into produce calls that never give one partition more than
// MAX_PARTITION_SEND_BYTES (the broker refuses a larger record batch), judged with the producer's own partitioner.
// runTransactional: what it leaves behind when its consumer cannot start; the heartbeats it sends while a chunk runs.
// Before kafkajs itself: its read_committed correction must be in place when kafkajs loads.
import './kafkajs-setup.ts';
import { KafkaJSNonRetriableError, KafkaJSProtocolError, type PartitionerArgs } from 'kafkajs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_PARTITION_SEND_BYTES, type Kafka } from './kafka.ts';
import { MAX_CHUNK_HEARTBEAT_MS, connectOffsetTransactions, groupLag, runBatchConsumer, runTransactional, sendsOf, type ProducedRecords } from './kafka-streams.ts';
import { keyPartitioner } from './partitioner.ts';
import { CdrflowError } from './errors.ts';

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
  it('joins with a 6 s session and a heartbeat each second unless told otherwise, and leaves the rebalance timeout at 60 s (README, "Restarts are fast")', async () => {
    const asked: Record<string, unknown>[] = [];
    const kafka = {
      producer: () => ({ connect: async () => undefined, transaction: async () => ({ abort: async () => undefined }), disconnect: async () => undefined }),
      consumer: (config: Record<string, unknown>) => {
        asked.push(config);
        return { events: {}, on: () => undefined, connect: async () => Promise.reject(new Error('not reachable')), disconnect: async () => undefined };
      },
    } as unknown as Kafka;
    await expect(runTransactional(kafka, { groupId: 'g', topics: ['in'], transactionalId: 'tx-1', transform: async () => [] })).rejects.toThrow();
    // kafkajs's own rebalance timeout (60 s) is what a busy member is waited for; none is set here.
    expect(asked).toEqual([expect.objectContaining({ sessionTimeout: 6_000, heartbeatInterval: 1_000 })]);
    expect(asked[0]).not.toHaveProperty('rebalanceTimeout');
    expect(MAX_CHUNK_HEARTBEAT_MS).toBe(5 * 60_000);
  });

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

/**
 * A client whose consumer hands the test its batch handler: one member ('m1', generation 1) of group 'g', a producer
 * whose offsets' commit takes `commitMs`, and a broker too old for stable offset reads (no wait before a batch).
 */
function fakeClient(commitMs = 0) {
  // The generation kafka-fenced-offsets.ts records at a join (kafkajs's own join is not run here).
  const fence = globalThis as unknown as Record<symbol, { generations: Map<string, number>; memberships: Map<string, unknown> } | undefined>;
  (fence[Symbol.for('cdrflow.kafka-fenced-offsets')] ??= { generations: new Map(), memberships: new Map() }).generations.set('m1', 1);
  const listeners = new Map<string, (event: { payload: unknown }) => void>();
  let eachBatch: ((payload: unknown) => Promise<void>) | undefined;
  const cluster = { connect: async () => undefined, disconnect: async () => undefined, findGroupCoordinator: async () => ({ versions: { 9: { maxVersion: 0 } } }) };
  const kafka = {
    [Symbol('private:Kafka:createCluster')]: () => cluster,
    producer: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      transaction: async () => ({
        abort: async () => undefined,
        sendBatch: async () => undefined,
        sendOffsets: () => new Promise((resolve) => setTimeout(resolve, commitMs)),
        commit: async () => undefined,
      }),
    }),
    consumer: () => ({
      events: { CRASH: 'crash', GROUP_JOIN: 'join', END_BATCH_PROCESS: 'end' },
      on: (event: string, listener: (event: { payload: unknown }) => void) => void listeners.set(event, listener),
      connect: async () => undefined,
      subscribe: async () => undefined,
      run: async (config: { eachBatch: (payload: unknown) => Promise<void> }) => {
        eachBatch = config.eachBatch;
        listeners.get('join')?.({ payload: { memberId: 'm1' } });
      },
      disconnect: async () => undefined,
    }),
  } as unknown as Kafka;
  /**
   * Hands the handler one batch of one record; `running` is kafkajs's isRunning. Resolves with the times of the
   * heartbeats sent. As kafkajs's does, `heartbeat` sends one only once the interval (1 s of the default 6 s session)
   * passed since the previous one's answer, which comes HEARTBEAT_ANSWER_MS after it is sent.
   */
  const deliver = async (running: () => boolean = () => true) => {
    const beats: number[] = [];
    let answered = performance.now();
    await eachBatch!({
      batch: { topic: 'in', partition: 0, highWatermark: '1', lastOffset: () => '0', messages: [{ offset: '0', key: null, value: Buffer.from('v'), timestamp: '0' }] },
      isRunning: running,
      isStale: () => false,
      heartbeat: async () => {
        const now = performance.now();
        if (now < answered + 1_000) return;
        beats.push(now);
        answered = now + HEARTBEAT_ANSWER_MS;
      },
      resolveOffset: () => undefined,
    });
    return beats;
  };
  return { kafka, deliver };
}

/** How long the fake coordinator takes to answer a heartbeat. */
const HEARTBEAT_ANSWER_MS = 5;

/** A transactional stage whose every transform takes `ms` (a registry away, in the fake clock). */
const slowTransform = (kafka: Kafka, ms: number) =>
  runTransactional(kafka, { groupId: 'g', topics: ['in'], transactionalId: 'tx-1', transform: () => new Promise((resolve) => setTimeout(() => resolve([]), ms)) });

describe('heartbeats while a chunk runs', () => {
  afterEach(() => void vi.useRealTimers());

  it('beats at least every 1.25 heartbeat intervals, though kafkajs counts the interval from the previous answer', async () => {
    vi.useFakeTimers();
    const { kafka, deliver } = fakeClient();
    const stage = await slowTransform(kafka, 20_000);
    const started = performance.now();
    const beats = deliver();
    await vi.advanceTimersByTimeAsync(21_000);
    const times = [started, ...(await beats)].filter((t) => t - started < 20_000);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // A timer of one interval beat every two (2 s of a 6 s session): one late answer from a lost member.
    expect(gaps.length).toBeGreaterThanOrEqual(15);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1_250 + HEARTBEAT_ANSWER_MS);
    await stage.stop();
  });

  it('stops once its consumer stops: the chunk is not committed then, and its partitions go on after one session', async () => {
    vi.useFakeTimers();
    const { kafka, deliver } = fakeClient();
    const stage = await slowTransform(kafka, 120_000);
    const started = performance.now();
    const beats = deliver(() => performance.now() - started < 10_000);
    await vi.advanceTimersByTimeAsync(130_000);
    // A heartbeat each second until the stop, none after it (the chunk's output is dropped: nothing to keep it for).
    expect((await beats).filter((t) => t - started > 11_000)).toEqual([]);
    await stage.stop();
  });

  it('keeps a chunk going 5 minutes in all, its transform and its commit together', async () => {
    vi.useFakeTimers();
    // A transform that waits 4 minutes on a registry, then a commit that waits 4 more on a broker.
    const { kafka, deliver } = fakeClient(240_000);
    const stage = await slowTransform(kafka, 240_000);
    const started = performance.now();
    const beats = deliver();
    await vi.advanceTimersByTimeAsync(500_000);
    const times = (await beats).map((t) => t - started);
    // One every 1–1.25 s (the test above) for the 5 minutes.
    expect(times.filter((t) => t <= MAX_CHUNK_HEARTBEAT_MS).length).toBeGreaterThanOrEqual(MAX_CHUNK_HEARTBEAT_MS / 1_250);
    expect(Math.max(...times.filter((t) => t <= MAX_CHUNK_HEARTBEAT_MS))).toBeGreaterThan(MAX_CHUNK_HEARTBEAT_MS - 1_300);
    // None from then until the chunk is done; then the handler's own, after the commit.
    expect(times.filter((t) => t > MAX_CHUNK_HEARTBEAT_MS)).toEqual([480_000]);
    await stage.stop();
  });

  it("stops once a batch consumer stops, while its handler still waits (an insert into a server that hangs)", async () => {
    vi.useFakeTimers();
    const { kafka, deliver } = fakeClient();
    const stage = await runBatchConsumer(kafka, {
      groupId: 'g',
      topics: ['in'],
      handle: () => new Promise((resolve) => setTimeout(resolve, 120_000)),
    });
    const started = performance.now();
    const beats = deliver(() => performance.now() - started < 10_000);
    await vi.advanceTimersByTimeAsync(130_000);
    expect((await beats).filter((t) => t - started > 11_000)).toEqual([]);
    await stage.stop();
  });
});

describe('connectOffsetTransactions: a write refused as too large', () => {
  it("stops (no retry) with the topic, the largest record and the limit to raise, not the client's bare words", async () => {
    const tooLarge = () => new KafkaJSProtocolError({ type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false, message: 'The request included a message larger than the max message size the server will accept' } as never);
    let sends = 0;
    const aborted: number[] = [];
    const kafka = {
      producer: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        transaction: async () => ({
          abort: async () => void aborted.push(sends),
          sendBatch: async () => {
            sends++;
            throw Object.assign(new KafkaJSNonRetriableError(tooLarge()), { cause: tooLarge() });
          },
          sendOffsets: async () => undefined,
          commit: async () => undefined,
        }),
      }),
      admin: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        fetchTopicMetadata: async ({ topics }: { topics: string[] }) => ({ topics: topics.map((name) => ({ name, partitions: metadata })) }),
      }),
    } as unknown as Kafka;
    const transactions = await connectOffsetTransactions(kafka, { groupId: 'g', transactionalId: 'tx-1', transactionTimeoutMs: 60_000, backoff: { maxAttempts: 5, initialMs: 1, maxMs: 1 } });
    const err = await transactions
      .commit([{ topic: 'cdr.normalized', messages: [record('k1', 10), record('cdr-7', 200_000)] }], new Map(), { groupId: 'g', memberId: 'm1', generationId: 1 }, () => 'in[0] offsets 0-1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('config');
    expect((err as CdrflowError).code).toBe('MESSAGE_TOO_LARGE');
    expect((err as Error).message).toBe(
      "transaction for in[0] offsets 0-1: Kafka refused 2 message(s) for topic cdr.normalized as too large (MESSAGE_TOO_LARGE): raise max.message.bytes of the topic (or the broker's message.max.bytes) to at least 1048588 bytes; " +
        'the largest, key "cdr-7", is 200029 bytes, 200065 in all, and cdrflow writes up to 786432 bytes to a partition at once',
    );
    // Tried once, then aborted: nothing of the chunk is committed, and it is written once the limit is raised.
    expect(sends).toBe(1);
    expect(aborted).toEqual([0, 1]);
  });
});

describe('groupLag', () => {
  /** A broker whose topic `raw` has partitions 0..2 from offset 40 (the records before were deleted) to 100. */
  const kafkaWith = (committed: { partition: number; offset: string }[]) =>
    ({
      admin: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        listTopics: async () => ['raw'],
        fetchOffsets: async () => [{ topic: 'raw', partitions: committed }],
        fetchTopicOffsets: async () => [0, 1, 2].map((partition) => ({ partition, low: '40', high: '100', offset: '100' })),
      }),
    }) as unknown as Kafka;

  it('counts a partition with no committed offset from the log start, as the stage reads it (from the beginning)', async () => {
    const lag = await groupLag(kafkaWith([{ partition: 0, offset: '-1' }, { partition: 1, offset: '90' }]), 'g', ['raw']);
    expect(lag.map((p) => [p.partition, p.committed, p.lag])).toEqual([[0, 40, 60], [1, 90, 10]]);
  });

  it('counts a committed offset below the log start (retention deleted what the group had not read) from the log start too', async () => {
    // The stage cannot read the deleted records (its consumer resets to the earliest): counting them left a lag that
    // read as 30 records more to do than there were.
    const lag = await groupLag(kafkaWith([{ partition: 2, offset: '10' }]), 'g', ['raw']);
    expect(lag.map((p) => [p.partition, p.committed, p.lag])).toEqual([[2, 10, 60]]);
  });
});
