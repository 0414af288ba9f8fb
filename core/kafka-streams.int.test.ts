// runTransactional on the test broker: partitions' chunks are transformed at once, and the chunks that wait while a
// transaction runs commit together in the next one, with every chunk's output and its consumed offsets; every
// record comes out exactly once and every partition's offsets are committed.
// Before kafkajs itself: cdrflow's changes to it must be in place when kafkajs loads.
import './kafkajs-setup.ts';
import { createRequire } from 'node:module';
import { afterAll, expect, it } from 'vitest';
import { superviseStage } from '../app/supervise.ts';
import type { CdrflowError } from './errors.ts';
import { joinedGeneration, withPlainCommitMembership, type GroupMembership } from './kafka-fenced-offsets.ts';
import { readTopic } from '../sinks/clickhouse/fixtures/pipeline.ts';
import { testKafka, uniqueName, waitFor } from '../test/helpers.ts';
import { ensureTopics, MAX_PARTITION_SEND_BYTES } from './kafka.ts';
import { DEFAULT_SESSION_TIMEOUT_MS, runBatchConsumer, runTransactional, STAGE_FETCH_WAIT_MS, TRANSFORMS_AT_ONCE, type BatchConsumerHandle, type ProducedRecords, type StreamHandle } from './kafka-streams.ts';

const kafka = testKafka();
const PARTITIONS = TRANSFORMS_AT_ONCE;
const PER_PARTITION = 10;
let stage: StreamHandle | undefined;

afterAll(async () => {
  await stage?.stop();
});

/** A new topic of one partition holding `count` records. */
async function topicOfRecords(topic: string, count: number): Promise<void> {
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
  await producer.disconnect();
}

/** A batch consumer of `groupId` that commits every batch it is handed, under the generation it was fetched in. */
async function committingMember(groupId: string, topic: string): Promise<BatchConsumerHandle> {
  const member: BatchConsumerHandle = await runBatchConsumer(kafka, {
    groupId,
    topics: [topic],
    handle: async (batch, ctx) => {
      const end = batch.messages[batch.messages.length - 1]!.offset + 1;
      ctx.resolve(end - 1);
      await member.commit(topic, batch.partition, end, batch.membership);
    },
  });
  return member;
}

it('chunks transformed while a transaction runs commit together in the next transaction; each record once, every offset committed', async () => {
  const input = uniqueName('tx-in');
  const output = uniqueName('tx-out');
  const groupId = uniqueName('tx-group');
  await ensureTopics(kafka, [input, output].map((topic) => ({ topic, partitions: PARTITIONS })));
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: input,
    messages: Array.from({ length: PARTITIONS * PER_PARTITION }, (_, i) => ({ partition: i % PARTITIONS, key: `k${i}`, value: `v${i}` })),
  });
  await producer.disconnect();

  // The first transform of each partition waits until all of them started: proof that they run at once, and a
  // fixed starting point (the first to finish commits alone, the others queue behind its transaction).
  const events: string[] = [];
  let started = 0;
  let allStarted!: () => void;
  const barrier = new Promise<void>((resolve, reject) => {
    allStarted = resolve;
    setTimeout(() => reject(new Error(`only ${started} of ${PARTITIONS} partitions were transformed at once`)), 20_000).unref();
  });
  let committed = 0;
  stage = await runTransactional(kafka, {
    groupId,
    topics: [input],
    transactionalId: `${groupId}.t`,
    maxMessagesPerTransaction: PER_PARTITION,
    async transform(chunk): Promise<ProducedRecords[]> {
      events.push(`transform ${chunk.partition}`);
      if (++started === PARTITIONS) allStarted();
      await barrier;
      return [{ topic: output, messages: chunk.messages.map((m) => ({ key: m.key, value: Buffer.from(m.value!.toString().toUpperCase()) })) }];
    },
    onSent: (chunk) => events.push(`sent ${chunk.partition}`),
    onCommitted: (chunk, produced) => {
      expect(produced).toBe(PER_PARTITION);
      events.push(`committed ${chunk.partition}`);
      committed += chunk.messages.length;
    },
  });
  await waitFor(() => committed === PARTITIONS * PER_PARTITION, { timeoutMs: 30_000, message: 'every chunk committed' });

  expect(events.slice(0, PARTITIONS).sort()).toEqual(Array.from({ length: PARTITIONS }, (_, p) => `transform ${p}`).sort());
  // Two transactions: the first chunk's alone, then every chunk that waited for it, all sent before one commit.
  expect(events.slice(PARTITIONS).map((e) => e.split(' ')[0])).toEqual(['sent', 'committed', ...Array(PARTITIONS - 1).fill('sent'), ...Array(PARTITIONS - 1).fill('committed')]);

  const out = await readTopic(kafka, output, PARTITIONS * PER_PARTITION);
  expect(out.count).toBe(PARTITIONS * PER_PARTITION);
  expect([...out.keys.values()].every((n) => n === 1)).toBe(true);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [input] });
    expect([...offsets!.partitions].sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset))).toEqual(Array(PARTITIONS).fill(PER_PARTITION));
  } finally {
    await admin.disconnect();
  }
});

it('a transaction whose output is larger than the broker takes in one batch goes in several sends, and commits once', async () => {
  const input = uniqueName('tx-big-in');
  // One partition: the whole output would be one record batch of one send.
  const output = uniqueName('tx-big-out');
  const groupId = uniqueName('tx-big-group');
  const RECORDS = 40;
  const VALUE_BYTES = 64 * 1024;
  await ensureTopics(kafka, [{ topic: input, partitions: 1 }, { topic: output, partitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: input, messages: Array.from({ length: RECORDS }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
  await producer.disconnect();

  const chunks: number[] = [];
  let committed = 0;
  const big = await runTransactional(kafka, {
    groupId,
    topics: [input],
    transactionalId: `${groupId}.t`,
    maxMessagesPerTransaction: RECORDS,
    // 40 × 64 KiB = 2.5 MiB in one chunk: more than twice the broker's 1 MiB per batch.
    transform: async (chunk) => [{ topic: output, messages: chunk.messages.map((m) => ({ key: m.key, value: Buffer.alloc(VALUE_BYTES, 'x') })) }],
    onCommitted: (chunk) => {
      chunks.push(chunk.messages.length);
      committed += chunk.messages.length;
    },
  });
  try {
    await waitFor(() => committed === RECORDS, { timeoutMs: 30_000, message: 'the large chunk committed' });
  } finally {
    await big.stop();
  }
  expect(chunks).toEqual([RECORDS]);
  expect(RECORDS * VALUE_BYTES).toBeGreaterThan(3 * MAX_PARTITION_SEND_BYTES);
  const out = await readTopic(kafka, output, RECORDS);
  expect(out.count).toBe(RECORDS);
  expect([...out.keys.values()].every((n) => n === 1)).toBe(true);
});

it("a crash inside the Kafka client restarts the stage under its supervisor, from the committed offsets: each record once, the job not stopped", async () => {
  const input = uniqueName('crash-in');
  const output = uniqueName('crash-out');
  const groupId = uniqueName('crash-group');
  await ensureTopics(kafka, [input, output].map((topic) => ({ topic, partitions: 1 })));
  const producer = kafka.producer();
  await producer.connect();
  const send = (from: number) => producer.send({ topic: input, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` })) });

  // The fault kafkajs 2.2.4 shows when its rejoin races its fetch: a TypeError from its OffsetManager in the middle of
  // a fetch, which the client reports as a consumer crash. Injected once, into this group's consumer only.
  const require = createRequire(import.meta.url);
  const OffsetManager = require('kafkajs/src/consumer/offsetManager/index.js') as { prototype: { resolveOffsets: (this: { groupId: string }) => Promise<void> } };
  const original = OffsetManager.prototype.resolveOffsets;
  let armed = false;
  OffsetManager.prototype.resolveOffsets = function (this: { groupId: string }) {
    if (armed && this.groupId === groupId) {
      armed = false;
      throw new TypeError("Cannot read properties of undefined (reading '0')");
    }
    return original.call(this);
  };
  const restarts: CdrflowError[] = [];
  const failures: unknown[] = [];
  let committed = 0;
  const supervised = await superviseStage(
    'normalize',
    () =>
      runTransactional(kafka, {
        groupId,
        topics: [input],
        transactionalId: `${groupId}.t`,
        maxMessagesPerTransaction: 10,
        transform: async (chunk) => [{ topic: output, messages: chunk.messages.map((m) => ({ key: m.key, value: m.value! })) }],
        onCommitted: (chunk) => void (committed += chunk.messages.length),
      }),
    { setState: () => undefined, fail: (_, err) => failures.push(err), log: () => undefined, onRestart: (_, err) => restarts.push(err), backoff: { initialMs: 50, maxMs: 500 } },
  );
  try {
    await send(0);
    await waitFor(() => committed === 20, { timeoutMs: 30_000, message: 'the first 20 records committed' });
    armed = true;
    await waitFor(() => restarts.length === 1 || failures.length > 0, { timeoutMs: 30_000, message: 'the injected crash restarting the stage' });
    expect(failures).toEqual([]);
    expect(restarts[0]).toMatchObject({ kind: 'transient', code: 'KAFKA_CLIENT_INTERNAL' });
    await send(20);
    await waitFor(() => committed >= 40, { timeoutMs: 60_000, message: 'the next 20 records committed by the restarted stage' });
  } finally {
    OffsetManager.prototype.resolveOffsets = original;
    await supervised.stop();
    await producer.disconnect();
  }
  expect(committed).toBe(40);
  const out = await readTopic(kafka, output, 40);
  expect(out.count).toBe(40);
  expect([...out.keys.values()].every((n) => n === 1)).toBe(true);
}, 120_000);

// Ctrl-C on an idle `cdrflow start` took 13–18 s during start-up and ~9.6 s once running: each stage's stop waited for
// its fetch in flight, which kafkajs holds on the broker for 5 s by default, and the stages stop one after another.
it("a stage on an idle topic stops without waiting out kafkajs' default 5 s fetch", async () => {
  const topic = uniqueName('idle-stop');
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
  let joined = false;
  const consumer = await runBatchConsumer(kafka, {
    groupId: uniqueName('idle-stop-group'),
    topics: [topic],
    handle: async () => undefined,
    log: (event) => void (event === 'consumer.joined' && (joined = true)),
  });
  // Its first fetch begins as it joins, and on an empty topic the broker holds it for the whole wait.
  await waitFor(() => joined, { message: 'the consumer joined its group' });
  const stopStarted = performance.now();
  await consumer.stop();
  expect(performance.now() - stopStarted).toBeLessThan(4_000);
  expect(STAGE_FETCH_WAIT_MS).toBeLessThan(DEFAULT_SESSION_TIMEOUT_MS / 6);
}, 60_000);

// kafkajs heartbeats only between fetches and when a handler asks: a chunk that waited on a registry or a broker that
// was away for longer than the session lost its member, the group rebalanced, and the chunk was refused at its commit
// and transformed again by the partition's next owner.
it('a chunk that takes longer than the group session (a registry away) keeps its member: transformed and committed once, no rebalance', async () => {
  const input = uniqueName('slow-in');
  const output = uniqueName('slow-out');
  const groupId = uniqueName('slow-group');
  await ensureTopics(kafka, [input, output].map((topic) => ({ topic, partitions: 1 })));
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: input, messages: Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
  await producer.disconnect();
  let transforms = 0;
  let committed = 0;
  const retries: CdrflowError[] = [];
  const slow = await runTransactional(kafka, {
    groupId,
    topics: [input],
    transactionalId: `${groupId}.t`,
    sessionTimeoutMs: DEFAULT_SESSION_TIMEOUT_MS,
    transform: async (chunk) => {
      // The first chunk's work outlasts the session by half (what a lookup waiting out a registry restart takes).
      if (transforms++ === 0) await new Promise((resolve) => setTimeout(resolve, DEFAULT_SESSION_TIMEOUT_MS * 1.5));
      return [{ topic: output, messages: chunk.messages.map((m) => ({ key: m.key, value: m.value! })) }];
    },
    onCommitted: (chunk) => void (committed += chunk.messages.length),
    onRetry: (err) => void retries.push(err),
  });
  try {
    await waitFor(() => committed === 5, { timeoutMs: 60_000, message: 'the 5 records committed' });
  } finally {
    await slow.stop();
  }
  expect(transforms).toBe(1);
  expect(retries).toEqual([]);
  const out = await readTopic(kafka, output, 5);
  expect([...out.keys.values()]).toEqual([1, 1, 1, 1, 1]);
}, 120_000);

it('a batch handler that takes longer than the group session (an insert into a server that hangs) keeps its member: handled once, one join', async () => {
  const topic = uniqueName('slow-batch');
  const groupId = uniqueName('slow-batch-group');
  await topicOfRecords(topic, 5);
  const handled: number[] = [];
  let joins = 0;
  let done = false;
  const consumer = await runBatchConsumer(kafka, {
    groupId,
    topics: [topic],
    sessionTimeoutMs: DEFAULT_SESSION_TIMEOUT_MS,
    onRebalance: () => void joins++,
    handle: async (batch, ctx) => {
      handled.push(batch.messages[0]!.offset);
      if (handled.length === 1) await new Promise((resolve) => setTimeout(resolve, DEFAULT_SESSION_TIMEOUT_MS * 1.5));
      ctx.resolve(batch.messages[batch.messages.length - 1]!.offset);
      await consumer.commit(topic, batch.partition, batch.messages[batch.messages.length - 1]!.offset + 1);
      done = true;
    },
  });
  try {
    await waitFor(() => done, { timeoutMs: 60_000, message: 'the batch handled and committed' });
    expect(await consumer.committedOffset(topic, 0)).toBe(5);
  } finally {
    await consumer.stop();
  }
  expect(handled).toEqual([0]);
  expect(joins).toBe(1);
}, 120_000);

it("a batch consumer's commit of records fetched before a rebalance is refused, and never moves back the offset their partition's next reader committed", async () => {
  const topic = uniqueName('moved-on');
  const groupId = uniqueName('moved-on-group');
  await topicOfRecords(topic, 10);
  const memberships: (GroupMembership | undefined)[] = [];
  let rejoinsOfFirst = 0;
  // The first member takes its first batch and holds its range back (a slow insert); every later batch, of either
  // member, is handled and committed at once.
  const first = await runBatchConsumer(kafka, {
    groupId,
    topics: [topic],
    onRebalance: () => void rejoinsOfFirst++,
    handle: async (batch, ctx) => {
      const end = batch.messages[batch.messages.length - 1]!.offset + 1;
      ctx.resolve(end - 1);
      memberships.push(batch.membership);
      if (memberships.length > 1) await first.commit(topic, batch.partition, end, batch.membership);
    },
  });
  await waitFor(() => memberships.length > 0, { timeoutMs: 60_000, message: 'the first member fetched its batch' }).catch(async (err: unknown) => {
    await first.stop();
    throw err;
  });
  const second = await committingMember(groupId, topic).catch(async (err: unknown) => {
    await first.stop();
    throw err;
  });
  try {
    const heldBack = memberships[0];
    expect(heldBack, 'the generation its batch was fetched in').toBeDefined();
    // The second member's join moved the group on; whichever member holds the partition now read it and committed.
    await waitFor(async () => rejoinsOfFirst >= 2 && (await first.committedOffset(topic, 0)) === 10, { timeoutMs: 60_000, message: 'the partition read and committed to its end after the rebalance' });
    // The held-back range's insert returns now. kafkajs would commit it under the member's new generation, which the
    // coordinator takes: the partition's offset back at 3.
    await expect(first.commit(topic, 0, 3, heldBack)).rejects.toMatchObject({ kind: 'transient', code: 'GROUP_MOVED_ON' });
    expect(await first.committedOffset(topic, 0)).toBe(10);
  } finally {
    await Promise.all([first.stop(), second.stop()]);
  }
}, 120_000);

it('a plain commit sent under the generation its records were fetched in is refused once the group moved on, though kafkajs itself has rejoined', async () => {
  const topic = uniqueName('plain-fence');
  const groupId = uniqueName('plain-fence-group');
  await topicOfRecords(topic, 10);
  // A bare kafkajs member: its generations as kafkajs's join recorded them; from its second join on it commits what
  // it reads under the generation kafkajs is in, as kafkajs does.
  const joins: GroupMembership[] = [];
  const raw = kafka.consumer({ groupId, sessionTimeout: DEFAULT_SESSION_TIMEOUT_MS, heartbeatInterval: 1_000 });
  raw.on(raw.events.GROUP_JOIN, ({ payload }) => void joins.push({ groupId, memberId: payload.memberId, generationId: joinedGeneration(payload.memberId)! }));
  await raw.connect();
  let second: BatchConsumerHandle | undefined;
  try {
    await raw.subscribe({ topics: [topic], fromBeginning: true });
    await raw.run({
      autoCommit: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        resolveOffset(batch.lastOffset());
        if (joins.length > 1) await raw.commitOffsets([{ topic, partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) }]);
      },
    });
    await waitFor(() => joins.length > 0, { timeoutMs: 60_000, message: 'the bare member joined' });
    second = await committingMember(groupId, topic);
    await waitFor(async () => joins.length >= 2 && (await second!.committedOffset(topic, 0)) === 10, { timeoutMs: 60_000, message: 'the partition read and committed to its end after the rebalance' });
    const first = joins[0]!;
    expect(joins.at(-1)!.generationId).toBeGreaterThan(first.generationId);
    await expect(withPlainCommitMembership(first, topic, 0, '3', () => raw.commitOffsets([{ topic, partition: 0, offset: '3' }]))).rejects.toThrow();
    expect(await second.committedOffset(topic, 0)).toBe(10);
    // What the fence stops: the same commit as kafkajs sends it goes under its new generation, and the coordinator
    // takes it, moving the partition's offset back.
    await raw.commitOffsets([{ topic, partition: 0, offset: '3' }]);
    expect(await second.committedOffset(topic, 0)).toBe(3);
  } finally {
    await Promise.all([raw.disconnect(), second?.stop()]);
  }
}, 120_000);
