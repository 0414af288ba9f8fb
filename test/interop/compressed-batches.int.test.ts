// Record batches in every codec Kafka has, read by cdrflow (core/compression/). kafkajs decompresses only gzip by
// itself: a batch in Snappy, LZ4 or ZSTD crashed every kafkajs consumer of its partition at that batch, at every
// restart, so one topic setting stopped a stage for good. Batches come compressed two ways, both checked here with
// real writers: the broker recompresses what it is sent when the topic (or the cluster) sets `compression.type` (the
// Java codecs: xerial's snappy framing, LZ4 frames, zstd frames), and a foreign producer compresses its own (librdkafka
// through Python confluent-kafka: raw snappy blocks). Then the normalize stage reads a raw topic its admin set to zstd.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTopicToEnd, type Kafka } from '../../core/kafka.ts';
import kafkajs from 'kafkajs';
import { loadE2eCases } from '../../transforms/normalize/service/fixtures/e2e.ts';
import { parseNormalizeServiceConfig, startNormalizeService, type NormalizeService } from '../../transforms/normalize/service/index.ts';
import { publishCases, readTopic, stageNames, waitGroupAtEnd } from '../../sinks/clickhouse/fixtures/pipeline.ts';
import { testInfra, testKafka, testRegistry, uniqueName } from '../helpers.ts';
import { ensurePythonEnv } from './python-env.ts';

const run = promisify(execFile);
const { CompressionCodecs, CompressionTypes } = kafkajs;
const kafka = testKafka();
const CODECS = { gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD } as const;
type Codec = keyof typeof CODECS;

/** 40 records of 60 bytes to 12 KB: the larger batches span several of xerial's 32 KiB snappy chunks. */
const RECORDS = Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ i, callee: `+8613${String(i).padStart(9, '0')}`, pad: 'x'.repeat(i * 300) + '中文'.repeat(i) }) }));

type Codecs = Record<number, () => { compress: unknown; decompress(b: Buffer): Promise<Buffer> }>;
const registered = { ...(CompressionCodecs as Codecs) };
/** Batches each codec decompressed: proves a batch was read compressed, not passed through as written. */
const decompressed = new Map<number, number>();

beforeAll(() => {
  for (const type of Object.values(CODECS)) {
    (CompressionCodecs as Codecs)[type] = () => {
      const codec = registered[type]!();
      return { ...codec, decompress: (b: Buffer) => (decompressed.set(type, (decompressed.get(type) ?? 0) + 1), codec.decompress(b)) };
    };
  }
});

afterAll(() => {
  Object.assign(CompressionCodecs, registered);
});

async function createTopic(k: Kafka, topic: string, compression: Codec | 'producer', partitions = 1): Promise<void> {
  const admin = k.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, configEntries: [{ name: 'compression.type', value: compression }] }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

async function expectRead(topic: string, codec: Codec): Promise<void> {
  const before = decompressed.get(CODECS[codec]) ?? 0;
  const read = await readTopicToEnd(kafka, topic, { timeoutMs: 30_000 });
  expect(new Map([...read].map(([k, v]) => [k, v?.toString('utf8')]))).toEqual(new Map(RECORDS.map((r) => [r.key, r.value])));
  expect((decompressed.get(CODECS[codec]) ?? 0) - before, `${codec} batches read`).toBeGreaterThan(0);
}

describe('record batches compressed', () => {
  it.each(Object.keys(CODECS) as Codec[])('by the broker (the topic sets compression.type=%s) are read as written', async (codec) => {
    const topic = uniqueName(`codec-broker-${codec}`);
    await createTopic(kafka, topic, codec);
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic, messages: RECORDS });
    } finally {
      await producer.disconnect();
    }
    await expectRead(topic, codec);
  });

  it('by a foreign producer (librdkafka, each codec) are read as written', async () => {
    const python = await ensurePythonEnv((line) => console.log(line));
    const script = [
      'import json, sys',
      'from confluent_kafka import Producer',
      'bootstrap, topic, codec = sys.argv[1:4]',
      "p = Producer({'bootstrap.servers': bootstrap, 'compression.type': codec, 'linger.ms': 50})",
      'for r in json.load(sys.stdin): p.produce(topic, key=r["key"], value=r["value"].encode("utf-8"))',
      'sys.exit(1 if p.flush(30) else 0)',
    ].join('\n');
    for (const codec of Object.keys(CODECS) as Codec[]) {
      const topic = uniqueName(`codec-librdkafka-${codec}`);
      await createTopic(kafka, topic, 'producer');
      const child = run(python, ['-c', script, testInfra().kafkaBrokers.join(','), topic, codec], { timeout: 60_000 });
      child.child.stdin!.end(JSON.stringify(RECORDS));
      await child;
      await expectRead(topic, codec);
    }
  });
});

describe('the normalize stage', () => {
  let service: NormalizeService | undefined;
  afterAll(async () => {
    await service?.stop();
  });

  it('reads raw topics an admin set to compression.type=zstd, every record normalized or dead-lettered', async () => {
    const names = stageNames('codec-stage');
    for (const topic of Object.values(names.raw)) await createTopic(kafka, topic, 'zstd', 3);
    await createTopic(kafka, names.normalized, 'producer', 3);
    await createTopic(kafka, names.deadLetter, 'producer', 3);
    const cases = loadE2eCases();
    const good = cases.filter((c) => c.expected !== null).length;
    const before = decompressed.get(CompressionTypes.ZSTD) ?? 0;
    await publishCases(kafka, testRegistry(), names, cases);
    service = await startNormalizeService(
      parseNormalizeServiceConfig({ groupId: names.normalizeGroup, inputTopics: Object.values(names.raw), outputTopic: names.normalized, deadLetterTopic: names.deadLetter, instanceId: 'codec-0' }),
      { kafka, registry: testRegistry() },
    );
    await waitGroupAtEnd(kafka, names.normalizeGroup, Object.values(names.raw));
    expect((await readTopic(kafka, names.normalized, good)).count).toBe(good);
    expect((await readTopic(kafka, names.deadLetter, cases.length - good)).count).toBe(cases.length - good);
    expect((decompressed.get(CompressionTypes.ZSTD) ?? 0) - before).toBeGreaterThan(0);
  });
});
