// Normalize throughput per vendor: decode (JSON.parse inside normalize) + map + Avro encode (the registry-framed value
// the service produces, core/avro.ts encodeFramed), against
// plain JSON.parse of the same payloads in the same process, so the ratio survives a slower or faster machine.
// Payloads are the vendor's good fixture inputs (vendor-doc samples and edge cases), cycled to RECORDS per vendor,
// each with its own natural key and fresh mobile numbers, so the phone-number memo sees realistic customer churn
// (hotline and agent numbers still recur, as they do in real traffic).
// Before kafkajs itself: cdrflow's changes to it must be in place when kafkajs loads.
import '../../core/kafkajs-setup.ts';
import { performance } from 'node:perf_hooks';
import { Partitioners, type PartitionerArgs } from 'kafkajs';
import { avroType, encodeFramed } from '../../core/avro.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import { keyPartitioner } from '../../core/partitioner.ts';
import { VENDORS } from '../../core/topology.ts';
import { defaultNormalizeContext } from '../../transforms/normalize/context.ts';
import { normalize } from '../../transforms/normalize/normalize.ts';
import { benchEnvelopes, templates } from '../records.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 5000);
const WARMUP_ROUNDS = 3;
const ROUNDS = 9;

// A fixed clock, as cheap to read as the stage's own (`new Date()`): parsing the ISO text on every record cost the
// mapping's figure ~0.3 µs once normalize read the clock per record (its received_at check).
const FIXED_NOW_MS = Date.UTC(2026, 0, 1);
const ctx = defaultNormalizeContext({ now: () => new Date(FIXED_NOW_MS) });
const cdrType = avroType('cdr-normalized.avsc');
/** Any registry id: the service frames every value with the one its topic's subject was registered under. */
const SCHEMA_ID = 1;
const FRAME_HEADER_BYTES = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

type Step = (e: RawEnvelope) => number;

interface StepFigures {
  /** Records per wall-clock second, one figure per measured round. */
  rps: number[];
  /** Records per second of process CPU time (all threads, GC included), one per measured round. */
  cpuRps: number[];
  checksum: number;
}

/**
 * Records per second of each step over `batch`: every round runs all steps one after the other, so drift (GC, CPU
 * frequency, other processes) hits them alike; the median of ROUNDS after WARMUP_ROUNDS is reported. Wall clock and
 * process CPU time are both taken: on a shared machine the wall clock of a 10 ms round also counts the time the
 * process waited for a core, which the CPU time does not. The checksums keep the work observable so the JIT cannot
 * drop it.
 */
function measure(batch: RawEnvelope[], steps: Record<string, Step>): Record<string, StepFigures> {
  const out: Record<string, StepFigures> = {};
  for (const name of Object.keys(steps)) out[name] = { rps: [], cpuRps: [], checksum: 0 };
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    for (const [name, fn] of Object.entries(steps)) {
      const slot = out[name]!;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (const e of batch) slot.checksum += fn(e);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      if (round >= WARMUP_ROUNDS) {
        slot.rps.push((batch.length / ms) * 1000);
        slot.cpuRps.push((batch.length / Math.max(cpuMs, 0.001)) * 1000);
      }
    }
  }
  return out;
}

const parseOnly = (e: RawEnvelope): number => (JSON.parse(e.payload) === null ? 0 : 1);
const decodeMap = (e: RawEnvelope): number => (normalize(e, ctx).ok ? 1 : 0);
const decodeMapEncode = (e: RawEnvelope): number => {
  const r = normalize(e, ctx);
  if (!r.ok) throw new Error(`bench payload failed to normalize: ${r.error.message}`);
  return encodeFramed(cdrType, SCHEMA_ID, r.cdr).length - FRAME_HEADER_BYTES;
};

export async function run(): Promise<Record<string, unknown>> {
  const vendors: Record<string, unknown> = {};
  for (const vendor of VENDORS) {
    const batch = benchEnvelopes(vendor, RECORDS);
    if (batch.length === 0) {
      vendors[vendor] = { skipped: 'no good fixture inputs to build payloads from' };
      continue;
    }
    // The encode step alone, of records normalized beforehand: with JSON.parse it bounds what the full path can reach
    // (full ≥ parse + encode), whatever the mapping costs.
    const normalized = new Map(batch.map((e) => [e, normalize(e, ctx)]));
    const encodeOnly = (e: RawEnvelope): number => {
      const r = normalized.get(e)!;
      return r.ok ? encodeFramed(cdrType, SCHEMA_ID, r.cdr).length : 0;
    };
    // Choosing each output record's partition (3, as the topics have): kafkajs's own partitioner, the baseline, and
    // the one the stages' producers use (core/partitioner.ts), over the same keys.
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 }));
    const partitionArgs = new Map<RawEnvelope, PartitionerArgs>();
    for (const [e, r] of normalized) if (r.ok) partitionArgs.set(e, { topic: 'cdr.normalized', partitionMetadata, message: { key: r.cdr.cdr_id, value: null } });
    const partitionWith = (choose: (args: PartitionerArgs) => number) => (e: RawEnvelope): number => {
      const args = partitionArgs.get(e);
      return args ? choose(args) : 0;
    };
    const { parse, mapped, full, encode, partition_kafkajs, partition_cdrflow } = measure(batch, {
      parse: parseOnly,
      mapped: decodeMap,
      full: decodeMapEncode,
      encode: encodeOnly,
      partition_kafkajs: partitionWith(Partitioners.DefaultPartitioner()),
      partition_cdrflow: partitionWith(keyPartitioner()),
    }) as Record<'parse' | 'mapped' | 'full' | 'encode' | 'partition_kafkajs' | 'partition_cdrflow', StepFigures>;
    if (partition_kafkajs.checksum !== partition_cdrflow.checksum) throw new Error(`${vendor}: the partitioners chose different partitions`);
    const parseMedian = median(parse.rps);
    const fullMedian = median(full.rps);
    const encodeMedian = median(encode.rps);
    const us = (rps: number) => Number((1e6 / rps).toFixed(2));
    const avgPayloadBytes = Math.round(batch.reduce((n, e) => n + Buffer.byteLength(e.payload), 0) / batch.length);
    vendors[vendor] = {
      records: batch.length,
      distinct_templates: templates(vendor).length,
      avg_payload_bytes: avgPayloadBytes,
      avg_avro_bytes: Math.round(full.checksum / (batch.length * (WARMUP_ROUNDS + ROUNDS))),
      json_parse_rps: Math.round(parseMedian),
      decode_map_rps: Math.round(median(mapped.rps)),
      decode_map_encode_rps: Math.round(fullMedian),
      /** How many times slower the full normalize path is than JSON.parse alone (same payloads, same run). */
      slowdown_vs_json_parse: Number((parseMedian / fullMedian).toFixed(2)),
      ratio_to_json_parse: Number((fullMedian / parseMedian).toFixed(4)),
      /** The same slowdown in process CPU time: steadier than the wall clock when other jobs share the cores. */
      slowdown_vs_json_parse_cpu: Number((median(parse.cpuRps) / median(full.cpuRps)).toFixed(2)),
      /** Per record, from the medians: JSON.parse; strict parse + mapping; the Avro encode (full − mapped). */
      us_per_record: {
        json_parse: us(parseMedian),
        decode_map: us(median(mapped.rps)),
        encode: Number((us(fullMedian) - us(median(mapped.rps))).toFixed(2)),
        full: us(fullMedian),
      },
      encode_only_rps: Math.round(encodeMedian),
      /** Choosing the output partition by key, µs per record (CPU time): bare kafkajs's partitioner vs cdrflow's. */
      partition_cpu_us_per_record: {
        kafkajs: Number((1e6 / median(partition_kafkajs.cpuRps)).toFixed(3)),
        cdrflow: Number((1e6 / median(partition_cdrflow.cpuRps)).toFixed(3)),
      },
      /** The floor of slowdown_vs_json_parse with a free mapping: (JSON.parse + encode alone) / JSON.parse. */
      slowdown_floor_parse_plus_encode: Number((1 + parseMedian / encodeMedian).toFixed(2)),
      slowdown_floor_parse_plus_encode_cpu: Number((1 + median(parse.cpuRps) / median(encode.cpuRps)).toFixed(2)),
      rounds: ROUNDS,
      warmup_rounds: WARMUP_ROUNDS,
    };
  }
  return { method: `median of ${ROUNDS} rounds after ${WARMUP_ROUNDS} warm-up rounds over RECORDS payloads per vendor`, vendors };
}
