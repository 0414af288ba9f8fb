// kafkajs's produce path for one send, as a normalize member makes it: grouping the records by partition and encoding
// the produce request (record batches, CRC-32C), with kafkajs's own code (the baseline) and with cdrflow's one-pass
// replacement (core/kafkajs-produce.ts), in interleaved rounds in one process, over the same normalized records
// (every vendor's fixtures through the mapping and the Avro encoder, keyed by cdr_id, 3 partitions).
// No broker: the CPU of building what goes on the wire, which kafkajs does on the stage's thread.
import { createRequire } from 'node:module';
import { avroType, encodeFramed } from '../../core/avro.ts';
import { keyPartitioner } from '../../core/partitioner.ts';
import { useKafkajsOwnProducePath, type ProduceRequestArgs } from '../../core/kafkajs-produce.ts';
import { VENDORS } from '../../core/topology.ts';
import { defaultNormalizeContext } from '../../transforms/normalize/context.ts';
import { normalize } from '../../transforms/normalize/normalize.ts';
import { benchEnvelopes } from '../records.ts';

const require = createRequire(import.meta.url);
const SEND_RECORDS = 3_000;
const SENDS_PER_ROUND = 10;
const WARMUP_ROUNDS = 4;
const ROUNDS = 15;

type Message = { key: string; value: Buffer };
const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
  topic: string;
  partitionMetadata: { partitionId: number }[];
  messages: Message[];
  partitioner: (args: { topic: string; partitionMetadata: { partitionId: number }[]; message: Message }) => number;
}) => Record<number, Message[]>;
const produceV7 = require('kafkajs/src/protocol/requests/produce/v7/request.js') as (args: ProduceRequestArgs) => { encode(): Promise<{ size(): number }> };

function records(): Message[] {
  const ctx = defaultNormalizeContext({ now: () => new Date('2026-01-01T00:00:00Z') });
  const cdrType = avroType('cdr-normalized.avsc');
  const out: Message[] = [];
  for (const vendor of VENDORS) {
    for (const e of benchEnvelopes(vendor, SEND_RECORDS / VENDORS.length)) {
      const r = normalize(e, ctx);
      if (r.ok) out.push({ key: r.cdr.cdr_id, value: encodeFramed(cdrType, 1, r.cdr) });
    }
  }
  return out;
}

/** One send as kafkajs's producer builds it: records by partition, then the request (v7, as a 3.x/4.x broker gets). */
async function send(messages: Message[], partitioner: ReturnType<typeof keyPartitioner>): Promise<number> {
  const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId }));
  const byPartition = groupMessagesPerPartition({ topic: 'cdr.normalized', partitionMetadata, messages, partitioner: partitioner as never });
  const request = produceV7({
    acks: -1,
    timeout: 30_000,
    transactionalId: 'cdrflow-normalize-bench',
    producerId: 4_000,
    producerEpoch: 0,
    compression: 0,
    topicData: [{ topic: 'cdr.normalized', partitions: Object.entries(byPartition).map(([partition, m]) => ({ partition: Number(partition), firstSequence: 0, messages: m })) }],
  });
  return (await request.encode()).size();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits = 2) => ({ median: +median(xs).toFixed(digits), min: +Math.min(...xs).toFixed(digits), max: +Math.max(...xs).toFixed(digits) });

export async function run(): Promise<Record<string, unknown>> {
  const messages = records();
  const partitioner = keyPartitioner();
  const us: Record<'kafkajs' | 'cdrflow', number[]> = { kafkajs: [], cdrflow: [] };
  const bytes: Record<'kafkajs' | 'cdrflow', number> = { kafkajs: 0, cdrflow: 0 };
  try {
    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      // Alternate which goes first, so neither always runs on the other's garbage.
      const order = round % 2 === 0 ? (['kafkajs', 'cdrflow'] as const) : (['cdrflow', 'kafkajs'] as const);
      for (const path of order) {
        useKafkajsOwnProducePath(path === 'kafkajs');
        const cpu0 = process.cpuUsage();
        let size = 0;
        for (let s = 0; s < SENDS_PER_ROUND; s++) size += await send(messages, partitioner);
        const cpu = process.cpuUsage(cpu0);
        bytes[path] = size;
        if (round >= WARMUP_ROUNDS) us[path].push((cpu.user + cpu.system) / (SENDS_PER_ROUND * messages.length));
      }
    }
  } finally {
    useKafkajsOwnProducePath(false);
  }
  if (bytes.kafkajs !== bytes.cdrflow) throw new Error(`the two paths wrote different sizes: ${bytes.kafkajs} against ${bytes.cdrflow} bytes`);
  const ratios = us.cdrflow.map((v, i) => v / us.kafkajs[i]!);
  return {
    method: `CPU time (process.cpuUsage) of ${SENDS_PER_ROUND} sends of ${messages.length} normalized records (3 partitions) per round; ${ROUNDS} interleaved rounds after ${WARMUP_ROUNDS} warm-up rounds; median (min–max)`,
    records_per_send: messages.length,
    avg_value_bytes: Math.round(messages.reduce((n, m) => n + m.value.length, 0) / messages.length),
    request_bytes_per_send: bytes.cdrflow / SENDS_PER_ROUND,
    cpu_us_per_record: { kafkajs: range(us.kafkajs), cdrflow: range(us.cdrflow) },
    /** cdrflow's CPU per record over kafkajs's in the same round. */
    ratio_to_kafkajs: range(ratios, 3),
  };
}
