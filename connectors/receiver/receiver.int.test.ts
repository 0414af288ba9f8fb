// The receiver against real Kafka and a real schema registry: every pushed record (retries and duplicates included)
// ends up in the raw topic; refusals write nothing; a Kafka outage mid-run turns into 503s and, once Kafka is back,
// the pusher's re-pushes deliver every record. The outage test stops and restarts a Kafka of its own (own port base,
// started through infra/local) so the shared test broker is never touched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { startReceiver } from '../push-vendors.ts';
import { type RunningReceiver } from './receiver.ts';
import { kafkaEnvelopeSink } from './kafka-sink.ts';
import { silentLog } from '../../core/log.ts';
import type { EnvelopeSink } from './types.ts';
import { CdrflowError } from '../../core/errors.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import { createKafka, ensureTopics, type Kafka } from '../../core/kafka.ts';
import { startHuaweiPusher, type PushAttempt } from '../../simulators/huawei-privatenumber/pusher.ts';
import { huaweiAuthHeaders } from '../../simulators/huawei-privatenumber/sign.ts';
import { HuaweiFeeGenerator } from '../../simulators/huawei-privatenumber/generator.ts';
import { submitLvmsRecord } from '../../simulators/alibaba-lvms/submitter.ts';
import { topTimestamp } from '../../simulators/alibaba-lvms/sign.ts';
import { TEST_FETCH_WAIT_MS, testInfra, testKafka, testRegistry, uniqueName, waitFor } from '../../test/helpers.ts';
import { stackPaths } from '../../infra/local/paths.ts';
import { stackPorts } from '../../infra/local/stack.ts';
import { awaitKafkaReady, startKafka } from '../../infra/local/kafka.ts';
import { stopPid } from '../../infra/local/processes.ts';
import { testPortBase } from '../../test/port-base.ts';

const HUAWEI = { appKey: 'intHuaweiApp', appSecret: 'intHuaweiSecret', mode: 'AX' as const };
const LVMS = { appKey: '41234567', appSecret: 'intLvmsSecret' };

/** Reads a topic from the beginning until `expected` messages arrived; returns the decoded envelopes. */
async function readTopic(kafka: Kafka, topic: string, expected: number): Promise<{ key: string; envelope: RawEnvelope }[]> {
  const registry = testRegistry();
  const consumer = kafka.consumer({ groupId: uniqueName('receiver_int'), maxWaitTimeInMs: TEST_FETCH_WAIT_MS });
  const out: { key: string; envelope: RawEnvelope }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          out.push({ key: m.key!.toString('utf8'), envelope: (await registry.decode(m.value!)) as RawEnvelope });
        }
      },
    });
    await waitFor(() => out.length >= expected, { timeoutMs: 60_000, message: `${expected} messages on ${topic} (have ${out.length})` });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

async function messageCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Fails every `n`th publish the way an unavailable broker does, so the pusher sees 503s and re-pushes. */
class FlakySink implements EnvelopeSink {
  private calls = 0;
  constructor(private readonly inner: EnvelopeSink, private readonly n: number) {}
  async publish(envelopes: RawEnvelope[], topic: string): Promise<void> {
    if (++this.calls % this.n === 0) throw new CdrflowError('transient', 'injected broker failure');
    return this.inner.publish(envelopes, topic);
  }
}

describe('receiver → real Kafka', () => {
  const kafka = testKafka();
  const feeTopic = uniqueName('raw_huawei');
  const eventTopic = uniqueName('ev_huawei');
  const lvmsTopic = uniqueName('raw_lvms');
  let kafkaSink: Awaited<ReturnType<typeof kafkaEnvelopeSink>>;
  let receiver: RunningReceiver;

  beforeAll(async () => {
    kafkaSink = await kafkaEnvelopeSink(testKafka(), testRegistry(), [feeTopic, eventTopic, lvmsTopic]);
    receiver = await startReceiver(
      {
        port: 0,
        bodyLimitBytes: 256 * 1024,
        huawei: { apps: [HUAWEI], topics: { fee: feeTopic, events: eventTopic } },
        lvms: { apps: [LVMS], topic: lvmsTopic },
      },
      { sink: new FlakySink(kafkaSink.sink, 7), log: silentLog },
    );
  });
  afterAll(async () => {
    await receiver?.stop();
    await kafkaSink?.close();
  });

  it('refusals (bad signature, stale timestamp, replayed nonce, oversized, malformed) write nothing; service goes on', async () => {
    const fee = `${receiver.url}/huawei/privatenumber/fee`;
    const body = JSON.stringify({ eventType: 'fee', feeLst: new HuaweiFeeGenerator({ seed: 99, appKey: HUAWEI.appKey }).batch(3) });
    const post = async (b: string, headers: object) =>
      (await fetch(fee, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b })).status;
    const replayed = { ...huaweiAuthHeaders(HUAWEI.appKey, HUAWEI.appSecret) };
    // The first use of `replayed` may meet an injected failure (503, nonce given back); re-send until stored.
    await waitFor(async () => (await post(body, replayed)) === 200, { message: 'the first push to be stored' });
    const storedBefore = await messageCount(kafka, feeTopic);
    expect(storedBefore).toBe(3);

    expect(await post(body, { ...huaweiAuthHeaders(HUAWEI.appKey, 'not-the-secret') })).toBe(401);
    expect(await post(body, { ...huaweiAuthHeaders(HUAWEI.appKey, HUAWEI.appSecret, { nowMs: Date.now() - 3_600_000 }) })).toBe(403);
    expect(await post(body, replayed)).toBe(403);
    expect(await post(JSON.stringify({ eventType: 'fee', feeLst: [{ sessionId: 'x', pad: 'x'.repeat(300_000) }] }), { ...huaweiAuthHeaders(HUAWEI.appKey, HUAWEI.appSecret) })).toBe(413);
    expect(await post('{"eventType":"fee","feeLst":[', { ...huaweiAuthHeaders(HUAWEI.appKey, HUAWEI.appSecret) })).toBe(400);

    const lvms = (params: Record<string, string>) =>
      submitLvmsRecord({ url: `${receiver.url}/router/rest`, ...LVMS, dto: '{"call_record_id":1}', format: 'json', params });
    expect(await lvms({ sign: '00' })).toMatchObject({ success: false, code: '25' });
    expect(await lvms({ timestamp: topTimestamp(Date.now() - 3_600_000) })).toMatchObject({ success: false, code: '31' });
    expect(await lvms({ ivr_call_record_d_t_o: '{"call_record_id":' })).toMatchObject({ success: false, code: '41' });

    expect(await messageCount(kafka, feeTopic)).toBe(storedBefore);
    expect(await messageCount(kafka, lvmsTopic)).toBe(0);
    // Still serving: a good LVMS record lands (retried past an injected failure like any TOP client would).
    await waitFor(async () => (await lvms({})).success, { message: 'a good LVMS record to be accepted' });
    const [stored] = await readTopic(kafka, lvmsTopic, 1);
    expect(stored).toMatchObject({ key: '1', envelope: { vendor: 'alibaba-lvms', tenant_id: LVMS.appKey, payload: '{"call_record_id":1}', mode: 'live' } });
  });

  it('10,000 pushed records with re-pushes and duplicates: all in the raw topic, distinct keys = records sent', async () => {
    const topicBefore = await messageCount(kafka, feeTopic);
    const attempts: PushAttempt[] = [];
    const pusher = startHuaweiPusher({
      url: `${receiver.url}/huawei/privatenumber/fee`, ...HUAWEI, seed: 2026, totalRecords: 10_000, recordsPerSecond: 4_000,
      duplicateRate: 0.05, timeScale: 1 / 6_000, concurrency: 8, onAttempt: (a) => attempts.push(a),
    });
    const stats = await pusher.done;
    console.info(`[receiver 10k] ${JSON.stringify(stats)}`);
    expect(stats.gaveUpBatches).toBe(0);
    expect(stats.acceptedRecords).toBe(10_000);
    expect(stats.retries).toBeGreaterThan(0);
    expect(stats.duplicatesPushed).toBeGreaterThan(0);

    const total = (await messageCount(kafka, feeTopic)) - topicBefore;
    expect(total).toBeGreaterThan(10_000);
    const messages = (await readTopic(kafka, feeTopic, total + topicBefore)).slice(0);
    const keys = new Set(messages.map((m) => m.key));
    for (const k of pusher.keys()) expect(keys.has(k)).toBe(true);
    const sentKeys = pusher.keys();
    expect(messages.filter((m) => sentKeys.has(m.key)).length).toBe(total);
    expect(new Set(messages.filter((m) => sentKeys.has(m.key)).map((m) => m.key)).size).toBe(10_000);
    const sample = messages.find((m) => sentKeys.has(m.key))!;
    expect(sample.envelope).toMatchObject({ vendor: 'huawei-privatenumber', tenant_id: HUAWEI.appKey, connector: 'huawei-receiver', natural_key: sample.key });
    expect((JSON.parse(sample.envelope.payload) as { sessionId: string }).sessionId).toBe(sample.key);
  });
});

describe('one push near the body limit', () => {
  it('whose records all go to one partition is stored whole, though it is more than the broker takes in one record batch', async () => {
    const kafka = testKafka();
    const feeTopic = uniqueName('raw_huawei_big');
    // One partition: every record of the push lands in one record batch unless the send is cut.
    await ensureTopics(kafka, [{ topic: feeTopic, partitions: 1 }]);
    const sink = await kafkaEnvelopeSink(kafka, testRegistry(), [feeTopic]);
    const big = await startReceiver({ port: 0, huawei: { apps: [HUAWEI], topics: { fee: feeTopic, events: uniqueName('ev_huawei_big') } } }, { sink: sink.sink, log: silentLog });
    try {
      // The most a push holds (50 records), each padded to ~20 KB: just under the 1 MiB body limit, more than the
      // broker's 1 MiB per record batch once each record is wrapped in its envelope.
      const feeLst = new HuaweiFeeGenerator({ seed: 7, appKey: HUAWEI.appKey }).batch(50).map((r) => ({ ...r, pad: 'x'.repeat(19_800) }));
      const body = JSON.stringify({ eventType: 'fee', feeLst });
      expect(Buffer.byteLength(body)).toBeLessThan(1024 * 1024);
      const res = await fetch(`${big.url}/huawei/privatenumber/fee`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...huaweiAuthHeaders(HUAWEI.appKey, HUAWEI.appSecret) },
        body,
      });
      expect(res.status).toBe(200);
      const stored = await readTopic(kafka, feeTopic, feeLst.length);
      expect(stored).toHaveLength(feeLst.length);
    } finally {
      await big.stop();
      await sink.close();
    }
  });
});

describe('Kafka stopped in the middle of a push run', () => {
  // A broker of our own, on its own port base: stopping it cannot disturb any other test.
  // On the test stack's base + 400, so runs on different test bases (a developer's, CI's) never share it.
  const base = Number(process.env['CDRFLOW_RECEIVER_FAULT_PORT_BASE'] ?? testPortBase() + 400);
  const paths = stackPaths(base);
  const ports = stackPorts(base);
  let pid: number | undefined;
  const log = () => {};

  beforeAll(async () => {
    if (testInfra().mode !== 'local') return;
    rmSync(paths.root, { recursive: true, force: true });
    pid = (await startKafka(paths, ports, log)).pid;
    await awaitKafkaReady(paths, pid, ports.kafkaPort);
  });
  afterAll(async () => {
    if (pid !== undefined) await stopPid(pid);
    rmSync(paths.root, { recursive: true, force: true });
  });

  it.runIf(testInfra().mode === 'local')('answers 503 while Kafka is down; after it is back every record is there', async () => {
    const kafka = createKafka({ clientId: uniqueName('fault'), brokers: [`127.0.0.1:${ports.kafkaPort}`] });
    const topic = uniqueName('raw_huawei_fault');
    await ensureTopics(kafka, [{ topic }]);
    const sink = await kafkaEnvelopeSink(kafka, testRegistry(), [topic]);
    const receiver = await startReceiver(
      { port: 0, ackTimeoutMs: 2_000, huawei: { apps: [HUAWEI], topics: { fee: topic, events: uniqueName('ev') } } },
      { sink: sink.sink, log: silentLog },
    );
    try {
      const statuses: PushAttempt['status'][] = [];
      // One Huawei minute = 100 ms: re-pushes at +0.1, 0.4, 0.9, 10.6, 20.3, 30 s cover a broker restart.
      const pusher = startHuaweiPusher({
        url: `${receiver.url}/huawei/privatenumber/fee`, ...HUAWEI, seed: 7, totalRecords: 3_000, recordsPerSecond: 300,
        timeScale: 1 / 600, concurrency: 4, requestTimeoutMs: 5_000, onAttempt: (a) => statuses.push(a.status),
      });
      await waitFor(() => pusher.stats().acceptedRecords >= 500, { message: '500 records accepted before the outage' });
      await stopPid(pid!);
      pid = undefined;
      await waitFor(() => statuses.filter((s) => s === 503).length >= 3, { timeoutMs: 60_000, message: 'the receiver to answer 503' });
      pid = (await startKafka(paths, ports, log)).pid;
      await awaitKafkaReady(paths, pid, ports.kafkaPort);
      const stats = await pusher.done;
      console.info(`[receiver outage] ${JSON.stringify(stats)}`);
      expect(stats.failures['503']).toBeGreaterThanOrEqual(3);
      expect(stats.gaveUpBatches).toBe(0);
      expect(stats.acceptedRecords).toBe(3_000);

      const registry = testRegistry();
      const consumer = kafka.consumer({ groupId: uniqueName('fault_read'), maxWaitTimeInMs: TEST_FETCH_WAIT_MS });
      const keys = new Set<string>();
      await consumer.connect();
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ message }) => {
            const e = (await registry.decode(message.value!)) as RawEnvelope;
            keys.add(e.natural_key);
          },
        });
        await waitFor(() => keys.size >= 3_000, { timeoutMs: 60_000, message: `3000 distinct keys (have ${keys.size})` });
      } finally {
        await consumer.disconnect();
      }
      expect(keys).toEqual(pusher.keys());
    } finally {
      await receiver.stop();
      await sink.close();
    }
  });
});
