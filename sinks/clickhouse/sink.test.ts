import { describe, expect, it, vi } from 'vitest';
import type { CommittedCounts } from '../../core/kafka-streams.ts';
import type { Kafka } from '../../core/kafka.ts';
import type { LogFn } from '../../core/log.ts';
import type { RowLine } from './batcher.ts';
import { runBatcherStage } from './sink.ts';

/**
 * A client whose consumer behaves as kafkajs 2.2.4's does around a commit: commitOffsets reports an acknowledged
 * commit as a COMMIT_OFFSETS event before it resolves; once its runner is no longer running (a stop, or a crash that
 * stops it before the CRASH event) it resolves without sending anything; once the stop has dropped the consumer group
 * it throws "Consumer group was not initialized". The test sets `state` and hands the handler batches.
 */
function kafkajsLikeClient() {
  const listeners = new Map<string, ((event: { payload: unknown }) => void)[]>();
  const emit = (name: string, payload: unknown) => listeners.get(name)?.forEach((l) => l({ payload }));
  let eachBatch: ((payload: unknown) => Promise<void>) | undefined;
  const client = { state: 'running' as 'running' | 'stopping' | 'stopped', committed: [] as string[] };
  const kafka = {
    consumer: () => ({
      events: { CRASH: 'crash', GROUP_JOIN: 'join', END_BATCH_PROCESS: 'end', COMMIT_OFFSETS: 'commit_offsets' },
      on: (name: string, listener: (event: { payload: unknown }) => void) => void listeners.set(name, [...(listeners.get(name) ?? []), listener]),
      connect: async () => undefined,
      subscribe: async () => undefined,
      run: async (config: { eachBatch: (payload: unknown) => Promise<void> }) => {
        eachBatch = config.eachBatch;
        emit('join', { memberId: 'm1' });
      },
      commitOffsets: async (offsets: { topic: string; partition: number; offset: string }[]) => {
        if (client.state === 'stopped') throw Object.assign(new Error('Consumer group was not initialized, consumer#run must be called first'), { name: 'KafkaJSNonRetriableError', retriable: false });
        await new Promise((resolve) => setImmediate(resolve));
        if (client.state !== 'running') return; // runner.commitOffsets: "consumer not running, exiting"
        client.committed.push(...offsets.map((o) => `${o.topic}:${o.partition}@${o.offset}`));
        emit('commit_offsets', { topics: offsets.map((o) => ({ topic: o.topic, partitions: [{ partition: o.partition, offset: { toString: () => o.offset } }] })) });
      },
      disconnect: async () => undefined,
    }),
  } as unknown as Kafka;
  const deliver = (offsets: number[]) =>
    eachBatch!({
      batch: {
        topic: 'cdr.normalized',
        partition: 0,
        highWatermark: String(offsets[offsets.length - 1]! + 1),
        lastOffset: () => String(offsets[offsets.length - 1]),
        messages: offsets.map((o) => ({ offset: String(o), key: null, value: Buffer.from(`v${o}`), timestamp: '0' })),
      },
      isRunning: () => client.state === 'running',
      isStale: () => false,
      heartbeat: async () => undefined,
      resolveOffset: () => undefined,
    });
  return { kafka, client, deliver };
}

async function stage(kafka: Kafka, insert: () => Promise<void>) {
  const counted: CommittedCounts[] = [];
  const events: string[] = [];
  const log: LogFn = (_level, event) => void events.push(event);
  const handle = await runBatcherStage<RowLine>(
    kafka,
    {
      render: async (messages) => messages.map(() => ({ line: Buffer.from('row\n'), vendor: 'v', cdr_id: 'c' })),
      insert,
      onCommitted: (c) => void counted.push(c),
    },
    { flushRows: 2, flushMs: 60_000, flushIdleMs: 0, maxInsertAttempts: 1, systemicRejectThreshold: 100, backgroundFlush: true },
    { groupId: 'g', topic: 'cdr.normalized', sessionTimeoutMs: 6_000, events: 'sink', log },
  );
  return { handle, counted, events };
}

const settled = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('runBatcherStage commits', () => {
  it('counts a range as committed only when the client sent its commit, not when kafkajs ignored it while stopping', async () => {
    const { kafka, client, deliver } = kafkajsLikeClient();
    let release!: () => void;
    const { handle, counted, events } = await stage(kafka, () => new Promise<void>((resolve) => (release = resolve)));

    // A range whose insert is acknowledged while the client runs: committed and counted.
    await deliver([0, 1]);
    release();
    await vi.waitFor(() => expect(client.committed).toEqual(['cdr.normalized:0@2']));
    expect(handle.stats.committed.get('cdr.normalized:0')).toBe(2);
    expect(counted).toEqual([{ records: 2, deadLettered: 0 }]);

    // The next range's insert is acknowledged after kafkajs began to stop its consumer (its own crash: the CRASH event
    // comes only after it left the group): kafkajs drops the commit without a word. Nothing may count it.
    await deliver([2, 3]);
    client.state = 'stopping';
    release();
    await vi.waitFor(() => expect(events).toContain('sink.commit_failed'));
    expect(client.committed).toEqual(['cdr.normalized:0@2']);
    expect(handle.stats.committed.get('cdr.normalized:0')).toBe(2);
    expect(counted).toHaveLength(1);
    await handle.stop();
  });

  it("a commit after kafkajs's stop dropped its consumer group is a stopped consumer (the stage restarts), not a bug", async () => {
    const { kafka, client, deliver } = kafkajsLikeClient();
    const { handle, counted, events } = await stage(kafka, async () => {
      client.state = 'stopped';
    });
    await deliver([0, 1]);
    await vi.waitFor(() => expect(events).toContain('sink.commit_failed'));
    expect(counted).toEqual([]);
    // The stage did not stop itself with a bug (which stops the whole job instead of restarting the stage).
    const outcome = await Promise.race([handle.done.then(() => 'ended', (e: { kind?: string }) => `failed: ${e.kind}`), settled().then(() => 'running')]);
    expect(outcome).toBe('running');
    await handle.stop();
  });
});

describe('runBatcherStage stop', () => {
  it('holds a batch fetched during the final flush until the flush is done, instead of kafkajs fetching the same records again and again', async () => {
    const { kafka, client, deliver } = kafkajsLikeClient();
    let release: (() => void) | undefined;
    const { handle, counted } = await stage(kafka, () => new Promise<void>((resolve) => (release = resolve)));
    await deliver([0]);
    const stopped = handle.stop();
    await vi.waitFor(() => expect(release, 'the final flush waiting on its insert').toBeDefined());
    // The final flush waits on its insert. kafkajs meanwhile fetches the partition from its last resolved offset, hands
    // the batch over, and once the handler returned without resolving it (it is left to whoever consumes next),
    // fetches the same records again (a network round trip each, here one turn of the event loop).
    let fetches = 0;
    let stopping = true;
    const fetching = (async () => {
      while (stopping) {
        fetches++;
        await deliver([1, 2]);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fetches).toBe(1);
    release!();
    await stopped;
    stopping = false;
    await fetching;
    expect(client.committed).toEqual(['cdr.normalized:0@1']);
    expect(counted).toEqual([{ records: 1, deadLettered: 0 }]);
  });
});
