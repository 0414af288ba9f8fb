// The stream path against its bare parts, in one process, on the local Kafka + registry (CDRFLOW_PORT_BASE, or
// KAFKA_BROKERS / SCHEMA_REGISTRY_URL) and an embedded ClickHouse in a temporary directory:
//   K1  kafkajs consumer group -> idempotent producer, raw -> raw passthrough (the bare Kafka baseline: kafkajs's
//       own produce path, not the one-pass path cdrflow's stages install, core/kafkajs-produce.ts)
//   K2  the same inside transactions, sendOffsets per chunk of at most 2,000 (normalize's chunk size)
//   normalize  the normalize stage (`normalize.workers: 1`, a worker thread), raw -> normalized   ratio to K2
//   normalize_w2  the same with two workers (two worker threads)                  ratio to normalize and to K2
//   C1  @clickhouse/client TabSeparated inserts of the same rows, rendered beforehand, 50,000-row batches
//   sink  the ClickHouse sink, normalized -> cdr                                   ratio to C1
//   e2e  normalize + sink from fresh groups until every row is inserted, as the job runs them   ratio to K1
//        (`--e2e-workers N` normalize members, default DEFAULT_NORMALIZE_WORKERS as in the job's default config)
// Every mode consumes the same records (a deterministic mix of the four vendors, `--records`, default 100,000, 3
// partitions per topic) from a fresh consumer group, and is timed from its first fetched batch (group joins
// excluded for every mode alike) to its last record done. Rounds interleave the modes (`--rounds`, default 3), so a
// busy machine slows them alike; ratios are taken within a round, then reported as median and range. CPU per
// record is process CPU (all threads) over the same interval; event-loop delay (p99, max) is sampled over every
// mode's interval (so each carries the same probe), each stall split into time on a core and time waiting for one (bench/loop-stall-probe.mjs),
// which tells code holding the loop from a thread waiting for a core; the load average is recorded around every mode, and so are the cores other processes (the
// broker among them) used and the hypervisor stole meanwhile (/proc/stat). Normalize members run in worker threads (as in
// the job), where no consumer of this thread sees their first batch: their clock starts once the group is Stable with
// every member (joins excluded, like every join) and counts the records committed from then on. End to end starts
// the sink first (as the job does; its join excluded too) and normalize then, and counts the same way.
// Two modes measure the whole job, `cdrflow start` as a child process (bench/job-bench.ts), once per run after the
// rounds; they are not among the default modes (together they add a few minutes): `--modes …,latency,job` or
// `--modes all`.
//   job      the same raw records published into the job's raw topics, then the job started on them; records/s to the
//            last row countable through its SQL endpoint, its CPU per record and peak RSS (VmHWM)   ratio to K1
//   latency  signed Huawei pushes into the job's receiver at each `--latency-rates` (default 500,2000 CDR/s) for
//            `--latency-seconds` (20), `--latency-batch` CDRs per push (4) over `--latency-connections` (32)
//            keep-alive connections, open loop; push-ack latency (client side, from each push's due time) beside a
//            bare node:http server answering the same pushes; push → countable per CDR from ClickHouse
//            (inserted_at − received_at), and by stage; the job's peak RSS. The measured pushes come after
//            `--latency-ramp-seconds` (10) at the full rate, whose own figures are reported apart.
// Every topic and consumer group of a run is named with its prefix (`bench_<start time>`) and removed when the run
// ends, measured or failed (`--keep-topics` keeps them).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { ClickHouseClient } from '@clickhouse/client';
import { createRegistry } from '../../core/avro.ts';
import { createClickHouse } from '../../core/clickhouse.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import { RawEnvelopePublisher } from '../../core/envelope.ts';
import { AckedPublisher, createKafka, ensureTopics, type Consumer, type Kafka } from '../../core/kafka.ts';
import { TRANSACTIONAL_RETRY } from '../../core/kafka-streams.ts';
import { useKafkajsOwnProducePath } from '../../core/kafkajs-produce.ts';
import { useKafkajsOwnRecordDecoder } from '../../core/kafkajs-record-headers.ts';
import { DEFAULT_NORMALIZE_WORKERS, endpoints, loadAppConfig } from '../../app/config.ts';
import { startNormalizeStage } from '../../app/normalize-workers.ts';
import { configureLogging, silentLog } from '../../core/log.ts';
import { VENDORS, type Vendor } from '../../core/topology.ts';
import { migrate } from '../../sinks/clickhouse/migrations.ts';
import { CDR_COLUMNS, cdrTsvLine } from '../../sinks/clickhouse/rows.ts';
import { parseSinkConfig, startClickHouseSink } from '../../sinks/clickhouse/index.ts';
import { defaultNormalizeContext } from '../../transforms/normalize/context.ts';
import { normalize } from '../../transforms/normalize/normalize.ts';
import { cleanUpRun } from '../broker-cleanup.ts';
import { mixedEnvelopes } from '../records.ts';
import { jobRun, latencyRun, stallText } from '../job-bench.ts';
import { summarizeStalls, type LoopStall, type LoopStalls } from '../job-process.ts';
import { watchLoopStalls } from '../loop-stall-probe.mjs';
import { parseRates } from '../push-load.ts';
import { integer, numberWithin, type FlagSpecs, type FlagValues } from '../../cli/args.ts';
import { didYouMean } from '../../core/did-you-mean.ts';
import { UsageError } from '../../cli/command.ts';
import { MachineCpuWindow, ThreadCpuWindow, compact, perRecord, sortCategories } from '../thread-cpu.ts';

const PARTITIONS = 3;
const CHUNK = 2_000; // normalize's default maxMessagesPerTransaction
const C1_BATCH = 50_000; // the sink's default flushRows
const TIMEOUT_MS = 15 * 60_000;
const ROUND_MODES = ['k1', 'k2', 'normalize', 'normalize_w2', 'c1', 'sink', 'e2e'] as const;
const MODES = [...ROUND_MODES, 'job', 'latency'] as const;
// Bounds of the flags: 10× the default records (each is held in memory, with what the mapping makes of it), and a
// latency rate the load generator can still schedule (the receiver alone sustains about 12,000 CDR/s here).
const MAX_RECORDS = 1_000_000;
const MAX_ROUNDS = 20;
const MAX_LATENCY_RATE = 50_000;
type Mode = (typeof MODES)[number];
export type RoundMode = (typeof ROUND_MODES)[number];

export interface Measurement {
  records: number;
  seconds: number;
  rps: number;
  cpu_us_per_record: number;
  /** The same CPU by thread category (bench/thread-cpu.ts), µs per record; absent where threads cannot be read. */
  cpu_us_per_record_by_thread?: Record<string, number>;
  load_avg_1m: [number, number];
  event_loop_delay_ms?: { p99: number; max: number };
  /** This process's main thread's stalls over the same interval: on a core or waiting for one. */
  event_loop_stalls?: LoopStalls;
  /** Rows per insert the sink made (sink and e2e). */
  rows_per_insert?: number;
  peak_rss_mb?: number;
  /** Normalize modes and end to end: records normalize committed before the clock started (not counted). */
  committed_before_clock?: number;
  /** The rest of the machine over the same interval (bench/thread-cpu.ts MachineCpuWindow); absent off Linux. */
  machine?: { other_processes_cores: number; steal_cores: number };
}

/**
 * A stopwatch started by the first fetched batch of any consumer created through `kafka`. Every mode's clock watches
 * the event loop over its window and `measure` ends the watch: a watch left running (a 20 ms timer and a GC observer,
 * ~1.4% of a core each) would load every later mode and round more than the earlier ones.
 */
export class FirstBatchClock {
  /** False while the clock must not start yet (a group that is still rebalancing). */
  armed = true;
  /** Called once, when the clock starts. */
  onStart: (() => void) | undefined;
  startedAt: number | undefined;
  cpuAtStart: NodeJS.CpuUsage | undefined;
  threads: ThreadCpuWindow | undefined;
  machine: MachineCpuWindow | undefined;
  /** Event-loop delay and stalls, watched from the first batch on (start-up, migrations and group joins excluded). */
  private stopLoop: (() => LoopWatch) | undefined;

  constructor(private readonly watchLoop: () => () => LoopWatch = watchEventLoop) {}

  wrap(kafka: Kafka): Kafka {
    const wrapped = Object.create(kafka) as Kafka;
    wrapped.consumer = (config) => {
      const consumer: Consumer = kafka.consumer(config);
      consumer.on(consumer.events.START_BATCH_PROCESS, () => this.start());
      return consumer;
    };
    return wrapped;
  }

  start(): void {
    if (!this.armed || this.startedAt !== undefined) return;
    this.startedAt = performance.now();
    this.cpuAtStart = process.cpuUsage();
    this.threads = ThreadCpuWindow.start();
    this.machine = MachineCpuWindow.start();
    this.stopLoop = this.watchLoop();
    this.onStart?.();
  }

  /** Stops watching the event loop: its delay and stalls since the clock started (undefined if it never did or was stopped). */
  stopLoopWatch(): LoopWatch | undefined {
    const stop = this.stopLoop;
    this.stopLoop = undefined;
    return stop?.();
  }

  measure(records: number, endedAt: number, loadBefore: number): Measurement {
    if (this.startedAt === undefined) throw new Error('no batch was ever fetched');
    const seconds = (endedAt - this.startedAt) / 1000;
    const cpu = process.cpuUsage(this.cpuAtStart);
    const threads = this.threads?.stop();
    const machine = this.machine?.stop();
    const loop = this.stopLoopWatch();
    return {
      records,
      seconds: +seconds.toFixed(2),
      rps: Math.round(records / seconds),
      cpu_us_per_record: +((cpu.user + cpu.system) / records).toFixed(1),
      ...(threads ? { cpu_us_per_record_by_thread: perRecord(threads, records) } : {}),
      load_avg_1m: [+loadBefore.toFixed(2), +loadavg()[0]!.toFixed(2)],
      ...(loop ?? {}),
      ...(machine ? { machine } : {}),
    };
  }
}

/** Resolves with performance.now() the first time `check` holds (called on every event the stage reports). */
function completion(): { promise: Promise<number>; check: (done: boolean) => void } {
  let resolve!: (t: number) => void;
  const promise = new Promise<number>((r) => (resolve = r));
  let settled = false;
  return {
    promise,
    check(done) {
      if (done && !settled) {
        settled = true;
        resolve(performance.now());
      }
    },
  };
}

async function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface LoopWatch {
  event_loop_delay_ms: { p99: number; max: number };
  event_loop_stalls: LoopStalls;
}

/** Watches this thread's event-loop delay and its stalls (bench/loop-stall-probe.mjs) until the returned function is called. */
function watchEventLoop(): () => LoopWatch {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const stalls: LoopStall[] = [];
  const stopStalls = watchLoopStalls((stall) => stalls.push(stall));
  return () => {
    h.disable();
    stopStalls();
    return { event_loop_delay_ms: { p99: +(h.percentile(99) / 1e6).toFixed(1), max: +(h.max / 1e6).toFixed(1) }, event_loop_stalls: summarizeStalls(stalls) };
  };
}

/**
 * K1 / K2: the bare kafkajs passthrough, with or without transactions, on the same consumer settings as cdrflow, with
 * kafkajs's own produce path and record decoder for as long as it runs (modes run one at a time). Only here: the sink
 * and the stages of this thread, and the suites `npm run bench` runs after this one in the same process, keep cdrflow's
 * (core/kafkajs-produce.ts, core/kafkajs-record-headers.ts), as the normalize stage's worker threads and the job's
 * process do.
 */
async function passthrough(kafka: Kafka, mode: 'k1' | 'k2', rawTopics: string[], outTopic: string, total: number, tag: string): Promise<Measurement> {
  useKafkajsOwnProducePath(true);
  useKafkajsOwnRecordDecoder(true);
  try {
    return await bareKafkajsPassthrough(kafka, mode, rawTopics, outTopic, total, tag);
  } finally {
    useKafkajsOwnProducePath(false);
    useKafkajsOwnRecordDecoder(false);
  }
}
async function bareKafkajsPassthrough(kafka: Kafka, mode: 'k1' | 'k2', rawTopics: string[], outTopic: string, total: number, tag: string): Promise<Measurement> {
  const clock = new FirstBatchClock();
  const load = loadavg()[0]!;
  const groupId = `${tag}.${mode}`;
  const producer =
    mode === 'k1'
      ? kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
      : // Retries as normalize's producer (TRANSACTIONAL_RETRY): with kafkajs's default first retry after 300 ms, K2
        // stalled that long 2-3 times a round on CONCURRENT_TRANSACTIONS after a commit, a weaker baseline.
        kafka.producer({ transactionalId: `${groupId}.tx`, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: { ...TRANSACTIONAL_RETRY } });
  await producer.connect();
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, sessionTimeout: 30_000, heartbeatInterval: 3_000 });
  await consumer.connect();
  await consumer.subscribe({ topics: rawTopics, fromBeginning: true });
  const done = completion();
  let moved = 0;
  await consumer.run({
    autoCommit: mode === 'k1',
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      clock.start();
      for (let i = 0; i < batch.messages.length; i += CHUNK) {
        const chunk = batch.messages.slice(i, i + CHUNK);
        const messages = chunk.map((m) => ({ key: m.key, value: m.value }));
        const last = chunk[chunk.length - 1]!.offset;
        if (mode === 'k1') {
          await producer.send({ topic: outTopic, acks: -1, messages });
        } else {
          const tx = await producer.transaction();
          await tx.send({ topic: outTopic, acks: -1, messages });
          await tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(Number(last) + 1) }] }] });
          await tx.commit();
        }
        resolveOffset(last);
        moved += chunk.length;
        await heartbeat();
      }
      done.check(moved >= total);
    },
  });
  const end = await withTimeout(done.promise, mode);
  const m = clock.measure(moved, end, load);
  await consumer.disconnect();
  await producer.disconnect();
  return m;
}

/**
 * Starts `clock` once `groupId` is Stable with at least `members` members: for stages whose consumers run in worker
 * threads (normalize), where no consumer of this thread sees their first batch. The first fetch follows within
 * milliseconds.
 */
function startWhenStable(kafka: Kafka, groupId: string, members: number, clock: FirstBatchClock): { stop: () => Promise<void> } {
  const admin = kafka.admin();
  let polling = true;
  const poll = (async () => {
    await admin.connect();
    while (polling) {
      const { groups } = await admin.describeGroups([groupId]).catch(() => ({ groups: [] as { state: string; members: unknown[] }[] }));
      if (groups[0]?.state === 'Stable' && groups[0].members.length >= members) {
        clock.start();
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await admin.disconnect();
  })();
  return {
    async stop() {
      polling = false;
      await poll;
    },
  };
}

/**
 * The backlog modes run normalize without its start-up warm-up (`normalize.warmUpRecords`): their clocks start once
 * the group is Stable, after the warm-up, so it would move a member's cold first records out of the timed window that
 * K1 and K2 keep in theirs. The job and latency modes run the job as configured, warm-up included.
 */
const BACKLOG_WARM_UP_RECORDS = 0;

/** The normalize stage as `cdrflow start` runs it, with `workers` members of its group (extra ones in worker threads). */
async function normalizeRun(kafka: Kafka, rawTopics: string[], outTopic: string, dlq: string, total: number, tag: string, workers: number) {
  const clock = new FirstBatchClock();
  const load = loadavg()[0]!;
  const done = completion();
  const groupId = `${tag}.normalize${workers > 1 ? `_w${workers}` : ''}`;
  let committed = 0;
  let committedAtStart = 0;
  let normalized = 0;
  clock.onStart = () => (committedAtStart = committed);
  const config = loadAppConfig({
    overrides: (doc) => {
      doc['normalize'] = { groupId, inputTopics: rawTopics, outputTopic: outTopic, deadLetterTopic: dlq, instanceId: `${tag}-n${workers}`, partitions: PARTITIONS, workers, warmUpRecords: BACKLOG_WARM_UP_RECORDS };
    },
  });
  // Every member runs in a worker thread with its own Kafka client, so no consumer here sees the first batch: the
  // clock starts when the group is Stable with every member in it (the joins excluded, as for every mode).
  const stable = startWhenStable(kafka, groupId, workers, clock);
  const stage = await startNormalizeStage(config, {
    log: silentLog,
    onCommitted: (counts) => {
      committed += counts.records;
      normalized += counts.records - counts.deadLettered;
      done.check(committed >= total);
    },
  });
  const end = await withTimeout(done.promise, workers > 1 ? `normalize_w${workers}` : 'normalize');
  await stable.stop();
  const m = clock.measure(total - committedAtStart, end, load);
  m.committed_before_clock = committedAtStart;
  await stage.stop();
  return { measurement: m, normalized };
}

async function sinkRun(
  kafka: Kafka,
  registry: ReturnType<typeof createRegistry>,
  clickhouse: ClickHouseClient,
  opts: { inputTopic: string; dlq: string; database: string; expectedRows: number; tag: string; withNormalize?: { rawTopics: string[]; total: number; workers: number } },
): Promise<Measurement> {
  const clock = new FirstBatchClock();
  const load = loadavg()[0]!;
  const done = completion();
  let peakRss = process.memoryUsage.rss();
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  const ref: { stats?: { rowsInserted: number; deadLettered: number } } = {};
  // The sink starts first, as the job starts it (app/pipeline.ts): its render thread and its group join are done
  // before the clock, like every mode's join. Alone, its clock starts at its first fetched batch.
  const sink = await startClickHouseSink(parseSinkConfig({ groupId: `${opts.tag}.sink`, inputTopic: opts.inputTopic, deadLetterTopic: opts.dlq, database: opts.database, partitions: PARTITIONS }), {
    kafka: opts.withNormalize ? kafka : clock.wrap(kafka),
    registry,
    clickhouse,
    // The render thread at the job's priority, as the normalize members below (their config's default).
    renderThreadNice: loadAppConfig({ env: {} }).workerThreads.nice,
    log: (_level, event) => {
      if (event === 'sink.inserted' && ref.stats) done.check(ref.stats.rowsInserted + ref.stats.deadLettered >= opts.expectedRows);
    },
  });
  ref.stats = sink.stats;
  // End to end, normalize runs as the job runs it (its members in worker threads), and the clock starts as in the
  // normalize modes: once its group is Stable with every member (their joins excluded), counting the records
  // normalize commits from then on. The first member works while the others join (14,000-17,000 of 100,000 records
  // on 2026-12-03) and the sink stores what it commits: the rows of those records that the sink inserts after the
  // clock started are work inside the clock that the count leaves out (the figure errs low, never high).
  let committed = 0;
  let committedAtStart = 0;
  clock.onStart = () => (committedAtStart = committed);
  const stable = opts.withNormalize ? startWhenStable(kafka, `${opts.tag}.normalize`, opts.withNormalize.workers, clock) : undefined;
  const normalize = opts.withNormalize
    ? await startNormalizeStage(
        loadAppConfig({
          overrides: (doc) => {
            doc['normalize'] = { groupId: `${opts.tag}.normalize`, inputTopics: opts.withNormalize!.rawTopics, outputTopic: opts.inputTopic, deadLetterTopic: opts.dlq, instanceId: opts.tag, partitions: PARTITIONS, workers: opts.withNormalize!.workers, warmUpRecords: BACKLOG_WARM_UP_RECORDS };
          },
        }),
        { log: silentLog, onCommitted: (counts) => (committed += counts.records) },
      )
    : undefined;
  const end = await withTimeout(done.promise, opts.withNormalize ? 'e2e' : 'sink');
  await stable?.stop();
  clearInterval(rssTimer);
  const m = clock.measure(opts.withNormalize ? opts.withNormalize.total - committedAtStart : opts.expectedRows, end, load);
  m.rows_per_insert = Math.round(sink.stats.rowsInserted / Math.max(1, sink.stats.inserts));
  m.peak_rss_mb = Math.round(peakRss / 2 ** 20);
  if (opts.withNormalize) m.committed_before_clock = committedAtStart;
  await normalize?.stop();
  await sink.stop();
  return m;
}

/** C1: the same rows, rendered before the clock starts, inserted with the sink's settings in 50,000-row batches. */
/** C1's input: the rendered rows in C1_BATCH-row bodies, built once before the rounds (not timed). */
interface C1Bodies {
  bodies: Buffer[];
  rows: number;
}

async function bareInsert(clickhouse: ClickHouseClient, database: string, { bodies, rows: total }: C1Bodies): Promise<Measurement> {
  const load = loadavg()[0]!;
  const stopLoopWatch = watchEventLoop();
  const cpu0 = process.cpuUsage();
  const threads = ThreadCpuWindow.start();
  const machineWindow = MachineCpuWindow.start();
  const t0 = performance.now();
  for (const [i, body] of bodies.entries()) {
    const rows = Math.min(C1_BATCH, total - i * C1_BATCH);
    await clickhouse.insert({
      table: `${database}.cdr`,
      format: 'TabSeparated',
      values: Readable.from([body], { objectMode: false }),
      columns: [...CDR_COLUMNS],
      clickhouse_settings: {
        insert_deduplication_token: `c1:${i}`,
        insert_deduplicate: 1,
        deduplicate_blocks_in_dependent_materialized_views: 1,
        max_insert_block_size: String(rows),
        min_insert_block_size_rows: '0',
        min_insert_block_size_bytes: '0',
      },
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const byThread = threads?.stop();
  const machine = machineWindow?.stop();
  return {
    records: total,
    seconds: +seconds.toFixed(2),
    rps: Math.round(total / seconds),
    cpu_us_per_record: +((cpu.user + cpu.system) / total).toFixed(1),
    ...(byThread ? { cpu_us_per_record_by_thread: perRecord(byThread, total) } : {}),
    load_avg_1m: [+load.toFixed(2), +loadavg()[0]!.toFixed(2)],
    ...stopLoopWatch(),
    ...(machine ? { machine } : {}),
  };
}

async function countRows(clickhouse: ClickHouseClient, database: string): Promise<number> {
  const rs = await clickhouse.query({ query: `SELECT count() AS c FROM ${database}.cdr`, format: 'JSONEachRow' });
  return Number((await rs.json<{ c: string }>())[0]!.c);
}

/** The cores the job and latency modes report: the job's, the broker's, the host's steal, the job's main thread. */
type JobCores = { job?: number; kafka_broker?: number; stolen_from_the_vm?: number; job_main_thread?: { on_core: number; waiting_for_core: number } };

/** The job mode's cores: the job's, the broker's, and its main thread's on a core / waiting for one. */
function jobCoresText(value: unknown): string {
  const c = value as JobCores | undefined;
  const main = c?.job_main_thread;
  return `cores: job ${c?.job ?? '?'}, broker ${c?.kafka_broker ?? '?'}, stolen from the VM ${c?.stolen_from_the_vm ?? '?'}; main thread on a core ${main?.on_core ?? '?'}, waiting for one ${main?.waiting_for_core ?? '?'}`;
}

/** The latency mode's rows: per offered rate, bare node:http and the receiver's push-ack, then push → countable. */
function latencyTable(rows: Record<string, unknown>[]): string[] {
  type Ack = { achieved_cdr_per_s: number; connection_resets: number; other_errors: number; statuses: Record<string, number>; ack_latency_ms: { p50: number; p99: number; max: number }; sent_late_ms?: { p99: number }; generator_loop_delay_ms?: { p99: number }; handled_in_the_job?: Bucketed; kafka_sends?: Bucketed };
  type Bucketed = { p99_at_most_ms: number; mean_ms: number };
  const ms = (l: { p50: number; p99: number; max: number }) => `${l.p50} / ${l.p99} / ${l.max}`;
  /** Push-ack latency, then (in brackets) the load generator's own share: how late it sent the pushes and its event
   * loop's delay, p99; for the receiver also the buckets under which the p99 of its handling (request to response,
   * inside the job) and of its Kafka sends fell. */
  const bucketed = (b: Bucketed | undefined) => (b ? `≤ ${b.p99_at_most_ms}` : '?');
  const ack = (a: Ack) =>
    `${ms(a.ack_latency_ms)} (${a.sent_late_ms?.p99 ?? '?'} / ${a.generator_loop_delay_ms?.p99 ?? '?'}${a.kafka_sends ? `; ${bucketed(a.handled_in_the_job)} / ${bucketed(a.kafka_sends)}` : ''})`;
  const failed = (a: Ack) => Object.entries(a.statuses).filter(([s]) => s !== '200').reduce((n, [, c]) => n + c, 0) + a.other_errors;
  return [
    `| offered CDR/s | achieved CDR/s | bare node:http push-ack ms p50 / p99 / max (the generator, p99: sent late / loop delay) | receiver push-ack ms p50 / p99 / max (the generator, p99: sent late / loop delay; in the job, p99: handled / Kafka sends) | non-200 + errors / resets | push → countable ms p50 / p99 / max (the second half's p99) | its p99 by stage, ms: receive → raw / raw → normalized / normalized → countable | the first seconds at the rate, before them: ack p99 / push → countable p99 ms | due → countable ms p50 / p99 | job peak RSS MiB | cores used: job / broker / stolen | job main thread: on a core / waiting for one | job event loop max ms (the most on a core in one stall) |`,
    `|---|---|---|---|---|---|---|---|---|---|---|---|---|`,
    ...rows.map((r) => {
      const bare = r['bare_node_http'] as Ack;
      const rec = r['receiver'] as Ack;
      const pc = r['push_to_countable_ms'] as { p50: number; p99: number; max: number };
      const due = r['due_to_countable_ms'] as { p50: number; p99: number };
      const cores = r['cpu_cores'] as JobCores;
      const main = cores.job_main_thread;
      type Stages = { whole_run: Record<'receive_to_raw' | 'raw_to_normalized' | 'normalized_to_countable', { p99: number }> };
      const stages = (st: Stages | undefined) =>
        st ? `${st.whole_run.receive_to_raw.p99} / ${st.whole_run.raw_to_normalized.p99} / ${st.whole_run.normalized_to_countable.p99}` : '—';
      const first = r['first_seconds_at_the_rate'] as { seconds: number; receiver: Ack; push_to_countable_ms: { p99: number } } | undefined;
      return `| ${String(r['offered_cdr_per_s'])} | ${rec.achieved_cdr_per_s} (bare ${bare.achieved_cdr_per_s}) | ${ack(bare)} | ${ack(rec)} | ${failed(rec)} / ${rec.connection_resets} | ${ms(pc)} (${(r['push_to_countable_ms_second_half'] as { p99?: number } | undefined)?.p99 ?? '?'})${r['all_acked_countable'] ? '' : ' (incomplete)'} | ${stages(r['push_to_countable_ms_by_stage'] as Stages | undefined)} | ${first ? `${first.seconds} s: ${first.receiver.ack_latency_ms.p99} / ${first.push_to_countable_ms.p99}` : '—'} | ${due.p50} / ${due.p99} | ${String(r['job_peak_rss_mb'])} | ${cores.job ?? '?'} / ${cores.kafka_broker ?? '?'} / ${cores.stolen_from_the_vm ?? '?'} | ${main ? `${main.on_core} / ${main.waiting_for_core}` : '?'} | ${(r['job_event_loop_delay_ms'] as { max?: number } | undefined)?.max ?? '?'} (${(r['job_event_loop_stalls'] as LoopStalls | undefined)?.max_on_core_ms ?? '?'}) |`;
    }),
  ];
}

/** Per category, the median over the rounds of its µs per record (0 in a round where it did not run). */
function medianByThread(ms: Measurement[]): Record<string, number> {
  const categories = sortCategories(ms.flatMap((m) => Object.keys(m.cpu_us_per_record_by_thread ?? {})));
  return Object.fromEntries(categories.map((c) => [c, +median(ms.map((m) => m.cpu_us_per_record_by_thread?.[c] ?? 0)).toFixed(1)]));
}

/**
 * "Where the CPU went": modes as rows, thread categories as columns (µs per record, median over the rounds), and the
 * sum, which is the process CPU per record up to the sampling (threads that ended count to their last 250 ms sample).
 */
function threadCpuTable(rows: (readonly [string, Record<string, number> | undefined])[]): string[] {
  const present = rows.filter((r): r is readonly [string, Record<string, number>] => r[1] !== undefined);
  if (present.length === 0) return [];
  const categories = sortCategories(present.flatMap(([, by]) => Object.keys(by)));
  return [
    `where the CPU went, µs per record (median of the rounds; job: its one run)`,
    `| mode | ${categories.join(' | ')} | sum |`,
    `|---|${categories.map(() => '---|').join('')}---|`,
    ...present.map(([mode, by]) => `| ${mode} | ${categories.map((c) => (by[c] === undefined ? '—' : String(by[c]))).join(' | ')} | ${Object.values(by).reduce((a, b) => a + b, 0).toFixed(1)} |`),
  ];
}

/** `--profile DIR`: a CPU profile of each mode's first round (DIR/<mode>.cpuprofile; bench/profile-summary.ts reads it);
 * the job and latency modes profile every thread of the job child (DIR/job/, DIR/lat<rate>/). */
async function profiled<T>(dir: string | undefined, name: string, fn: () => Promise<T>): Promise<T> {
  if (!dir) return fn();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const summary = (xs: number[], digits = 0) => ({
  median: +median(xs).toFixed(digits),
  min: +Math.min(...xs).toFixed(digits),
  max: +Math.max(...xs).toFixed(digits),
});

/**
 * What the rounds sum up to, as the JSON result holds it: each mode's figures over its rounds (median, min–max, and
 * every round), and the ratios, each taken within a round (mode a's round i against mode b's round i) before their
 * median and range; the job, run once after the rounds, against the median K1.
 */
export function summarizeRounds(results: Record<RoundMode, Measurement[]>, roundModes: readonly RoundMode[], jobRps: number | undefined) {
  const figures: Record<string, unknown> = {};
  for (const mode of roundModes) {
    const ms = results[mode];
    if (ms.length === 0) continue;
    figures[mode] = {
      rps: summary(ms.map((m) => m.rps)),
      cpu_us_per_record: summary(ms.map((m) => m.cpu_us_per_record), 1),
      ...(ms[0]!.event_loop_delay_ms
        ? { event_loop_delay_p99_ms: summary(ms.map((m) => m.event_loop_delay_ms!.p99), 1), event_loop_delay_max_ms: summary(ms.map((m) => m.event_loop_delay_ms!.max), 1) }
        : {}),
      // 0 in a round without a stall over 20 ms; Linux only (elsewhere the time on a core is not known).
      ...(process.platform === 'linux' && ms.every((m) => m.event_loop_stalls)
        ? { event_loop_stall_max_on_core_ms: summary(ms.map((m) => m.event_loop_stalls!.max_on_core_ms ?? 0), 1) }
        : {}),
      ...(ms[0]!.rows_per_insert ? { rows_per_insert: summary(ms.map((m) => m.rows_per_insert!)) } : {}),
      ...(ms[0]!.peak_rss_mb ? { peak_rss_mb: summary(ms.map((m) => m.peak_rss_mb!)) } : {}),
      ...(ms[0]!.cpu_us_per_record_by_thread ? { cpu_us_per_record_by_thread: medianByThread(ms) } : {}),
      ...(ms[0]!.machine
        ? { other_processes_cores: summary(ms.map((m) => m.machine?.other_processes_cores ?? 0), 2), steal_cores: summary(ms.map((m) => m.machine?.steal_cores ?? 0), 2) }
        : {}),
      rounds: ms,
    };
  }
  const ratio = (a: RoundMode, b: RoundMode) => {
    const n = Math.min(results[a].length, results[b].length);
    if (n === 0) return undefined;
    return summary(Array.from({ length: n }, (_, i) => results[a][i]!.rps / results[b][i]!.rps), 3);
  };
  // The job runs once, after the rounds: its ratio is to the median K1 of the rounds.
  const k1Median = results.k1.length > 0 ? median(results.k1.map((m) => m.rps)) : undefined;
  const jobVsK1 = jobRps !== undefined && k1Median ? +(jobRps / k1Median).toFixed(3) : undefined;
  const ratios = {
    normalize_vs_k2: ratio('normalize', 'k2'),
    normalize_w2_vs_k2: ratio('normalize_w2', 'k2'),
    normalize_w2_vs_normalize: ratio('normalize_w2', 'normalize'),
    sink_vs_c1: ratio('sink', 'c1'),
    e2e_vs_k1: ratio('e2e', 'k1'),
    k2_vs_k1: ratio('k2', 'k1'),
    ...(jobVsK1 !== undefined ? { job_vs_k1_median: jobVsK1 } : {}),
  };
  return { figures, ratios, jobVsK1 };
}

/** The flags `npm run bench -- pipeline` takes (checked by bench/command-line.ts before anything runs). */
export const flags = {
  modes: { type: 'string', needs: `a comma list of ${MODES.join(',')}, or all` },
  records: { type: 'string', needs: `a number of raw records 1..${MAX_RECORDS.toLocaleString('en-US')}` },
  rounds: { type: 'string', needs: `a number of rounds 1..${MAX_ROUNDS}` },
  'e2e-workers': { type: 'string', needs: 'a number of normalize members 1..16' },
  profile: { type: 'string', needs: 'a directory for the CPU profiles' },
  'keep-topics': { type: 'boolean' },
  'latency-rates': { type: 'string', needs: `a comma list of rates 1..${MAX_LATENCY_RATE.toLocaleString('en-US')} CDR/s` },
  'latency-seconds': { type: 'string', needs: 'seconds 1..3600' },
  'latency-batch': { type: 'string', needs: 'CDRs per push 1..50' },
  'latency-connections': { type: 'string', needs: 'connections 1..1024' },
  'latency-drain-timeout': { type: 'string', needs: 'seconds 1..3600' },
  'latency-ramp-seconds': { type: 'string', needs: 'seconds 0..600' },
} as const satisfies FlagSpecs;

export interface PipelineOptions {
  modes: Mode[];
  total: number;
  rounds: number;
  e2eWorkers: number;
  profileDir: string | undefined;
  keepTopics: boolean;
  latency: { rates: number[]; seconds: number; batch: number; connections: number; drainTimeoutSec: number; rampSeconds: number };
}

/** The run's options from its flags (and BENCH_RECORDS); a UsageError names the first flag out of range. */
export function parseOptions(values: FlagValues<typeof flags>, env: NodeJS.ProcessEnv = process.env): PipelineOptions {
  const requested = values.modes === 'all' ? [...MODES] : (values.modes ?? ROUND_MODES.join(',')).split(',').map((m) => m.trim());
  for (const m of requested) {
    if (!(MODES as readonly string[]).includes(m)) {
      const guess = didYouMean(m, [...MODES]);
      throw new UsageError(`--modes: no mode "${m}"${guess ? ` (did you mean ${guess}?)` : ''}; modes: ${MODES.join(', ')}, or all`);
    }
  }
  const recordsFlag = values.records !== undefined ? '--records' : 'BENCH_RECORDS';
  return {
    modes: [...new Set(requested)] as Mode[],
    total: integer(recordsFlag, values.records ?? env['BENCH_RECORDS'] ?? '100000', { min: 1, max: MAX_RECORDS }),
    rounds: integer('--rounds', values.rounds ?? '3', { min: 1, max: MAX_ROUNDS }),
    e2eWorkers: integer('--e2e-workers', values['e2e-workers'] ?? String(DEFAULT_NORMALIZE_WORKERS), { min: 1, max: 16 }),
    profileDir: values.profile,
    keepTopics: values['keep-topics'] === true,
    latency: {
      rates: latencyRates(values['latency-rates'] ?? '500,2000'),
      seconds: numberWithin('--latency-seconds', values['latency-seconds'] ?? '20', 1, 3600),
      batch: integer('--latency-batch', values['latency-batch'] ?? '4', { min: 1, max: 50 }),
      connections: integer('--latency-connections', values['latency-connections'] ?? '32', { min: 1, max: 1024 }),
      drainTimeoutSec: numberWithin('--latency-drain-timeout', values['latency-drain-timeout'] ?? '600', 1, 3600),
      rampSeconds: numberWithin('--latency-ramp-seconds', values['latency-ramp-seconds'] ?? '10', 0, 600),
    },
  };
}

function latencyRates(value: string): number[] {
  let rates: number[];
  try {
    rates = parseRates(value);
  } catch {
    rates = [];
  }
  if (rates.length === 0 || rates.some((r) => r > MAX_LATENCY_RATE)) {
    throw new UsageError(`--latency-rates needs ${flags['latency-rates'].needs}, got "${value}"`);
  }
  return rates;
}

export async function run(options: PipelineOptions = parseOptions({})): Promise<Record<string, unknown>> {
  const { total, rounds, e2eWorkers, profileDir, modes, latency } = options;
  // Worker threads log the way this process does: keep stdout for the JSON result.
  configureLogging({ level: 'warn', to: 'stderr' });
  const roundModes = modes.filter((m): m is RoundMode => (ROUND_MODES as readonly string[]).includes(m));

  const tag = `bench_${Date.now().toString(36)}`;
  const ends = endpoints(loadAppConfig());
  const kafka = createKafka({ ...ends.kafka, clientId: tag });
  const registry = createRegistry(ends.registryUrl);
  try {
    const rawTopics = new Map<Vendor, string>(VENDORS.map((v) => [v, `${tag}.raw.${v}`]));
    // `--modes latency` alone needs none of the records.
    const needsRecords = roundModes.length > 0 || modes.includes('job');
    const needsRawTopics = roundModes.some((m) => m !== 'c1');
    if (needsRawTopics) await ensureTopics(kafka, [...rawTopics.values()].map((topic) => ({ topic, partitions: PARTITIONS })));

    // The records, and what the pure mapping makes of them (for C1's rows and the sink's expected count).
    const byVendor = needsRecords ? mixedEnvelopes(total) : new Map<Vendor, RawEnvelope[]>();
    const all: RawEnvelope[] = VENDORS.flatMap((v) => byVendor.get(v) ?? []);
    const ctx = defaultNormalizeContext();
    // C1's rows go straight into its bodies: 100,000 rendered lines kept as strings would hold ~600 MB of the heap that
    // every mode shares, and each mode would pay for marking it in every major GC (the job holds no such thing).
    const c1: C1Bodies = { bodies: [], rows: 0 };
    let batch: string[] = [];
    const flushBatch = () => {
      if (batch.length > 0) c1.bodies.push(Buffer.from(batch.join('')));
      batch = [];
    };
    for (const [i, e] of all.entries()) {
      const r = normalize(e, ctx);
      if (!r.ok) continue;
      batch.push(cdrTsvLine(r.cdr, { topic: 'bench', partition: 0, offset: i }));
      c1.rows++;
      if (batch.length === C1_BATCH) flushBatch();
    }
    flushBatch();
    const normalizable = c1.rows;
    if (needsRecords && normalizable < total * 0.9) throw new Error(`pipeline: only ${normalizable} of ${total} bench records normalize; the bench inputs no longer fit the mappings`);
    if (needsRawTopics) {
      console.error(`pipeline: ${total} raw records (${VENDORS.map((v) => `${v} ${byVendor.get(v)?.length ?? 0}`).join(', ')}), ${normalizable} normalize; publishing…`);
      const t0 = performance.now();
      const acked = new AckedPublisher(kafka);
      const publisher = new RawEnvelopePublisher(registry, acked);
      for (const v of VENDORS) {
        const envs = byVendor.get(v) ?? [];
        for (let i = 0; i < envs.length; i += 1000) await publisher.publish(envs.slice(i, i + 1000), rawTopics.get(v));
      }
      await acked.disconnect();
      console.error(`pipeline: published in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }

    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-bench-pipeline-'));
    const clickhouse = await createClickHouse({ kind: 'embedded', dataDir: dir, database: 'default' });
    const results: Record<RoundMode, Measurement[]> = { k1: [], k2: [], normalize: [], normalize_w2: [], c1: [], sink: [], e2e: [] };
    try {
      for (let round = 0; round < (roundModes.length > 0 ? rounds : 0); round++) {
        const rt = `${tag}_r${round}`;
        const normalizedTopic = `${rt}.normalized`;
        const dlq = `${rt}.dlq`;
        const passTopic = `${rt}.pass`;
        await ensureTopics(kafka, [normalizedTopic, `${normalizedTopic}_w2`, dlq, `${passTopic}1`, `${passTopic}2`, `${rt}.e2e.normalized`].map((topic) => ({ topic, partitions: PARTITIONS })));
        let normalizedCount = normalizable;
        const raw = [...rawTopics.values()];
        const prof = <T>(name: RoundMode, fn: () => Promise<T>) => profiled(round === 0 ? profileDir : undefined, name, fn);
        const note = (mode: RoundMode, m: Measurement) => {
          results[mode].push(m);
          console.error(`pipeline: round ${round + 1}/${rounds} ${mode.padEnd(9)} ${String(m.rps).padStart(7)} rec/s  ${m.cpu_us_per_record} µs CPU/rec  load ${m.load_avg_1m.join('→')}${m.event_loop_delay_ms ? `  loop delay p99 ${m.event_loop_delay_ms.p99} ms max ${m.event_loop_delay_ms.max} ms${m.event_loop_stalls ? ` (on a core ≤ ${m.event_loop_stalls.max_on_core_ms ?? '?'} ms in one stall)` : ''}` : ''}${m.rows_per_insert ? `  ${m.rows_per_insert} rows/insert` : ''}${m.cpu_us_per_record_by_thread ? `  by thread: ${compact(m.cpu_us_per_record_by_thread)}` : ''}${m.machine ? `  other processes ${m.machine.other_processes_cores} cores, steal ${m.machine.steal_cores}` : ''}`);
        };
        if (modes.includes('k1')) note('k1', await prof('k1', () => passthrough(kafka, 'k1', raw, `${passTopic}1`, total, rt)));
        if (modes.includes('k2')) note('k2', await prof('k2', () => passthrough(kafka, 'k2', raw, `${passTopic}2`, total, rt)));
        if (modes.includes('normalize') || modes.includes('sink')) {
          const n = await prof('normalize', () => normalizeRun(kafka, raw, normalizedTopic, dlq, total, rt, 1));
          normalizedCount = n.normalized;
          if (modes.includes('normalize')) note('normalize', n.measurement);
        }
        if (modes.includes('normalize_w2')) {
          const n = await prof('normalize_w2', () => normalizeRun(kafka, raw, `${normalizedTopic}_w2`, dlq, total, rt, 2));
          note('normalize_w2', n.measurement);
        }
        if (modes.includes('c1')) {
          const db = `${rt}_c1`;
          await migrate(clickhouse, { database: db });
          note('c1', await prof('c1', () => bareInsert(clickhouse, db, c1)));
          const stored = await countRows(clickhouse, db);
          if (stored !== normalizable) throw new Error(`C1 stored ${stored} of ${normalizable} rows`);
          await clickhouse.command({ query: `DROP DATABASE ${db}` });
        }
        if (modes.includes('sink')) {
          const db = `${rt}_sink`;
          note('sink', await prof('sink', () => sinkRun(kafka, registry, clickhouse, { inputTopic: normalizedTopic, dlq, database: db, expectedRows: normalizedCount, tag: rt })));
          const stored = await countRows(clickhouse, db);
          if (stored !== normalizedCount) throw new Error(`sink stored ${stored} of ${normalizedCount} rows`);
          await clickhouse.command({ query: `DROP DATABASE ${db}` });
        }
        if (modes.includes('e2e')) {
          const db = `${rt}_e2e`;
          const m = await prof('e2e', () => sinkRun(kafka, registry, clickhouse, {
            inputTopic: `${rt}.e2e.normalized`,
            dlq,
            database: db,
            expectedRows: normalizable,
            tag: `${rt}_e2e`,
            withNormalize: { rawTopics: raw, total, workers: e2eWorkers },
          }));
          note('e2e', m);
          const stored = await countRows(clickhouse, db);
          if (stored !== normalizable) throw new Error(`e2e stored ${stored} of ${normalizable} rows`);
          await clickhouse.command({ query: `DROP DATABASE ${db}` });
        }
      }
    } finally {
      await clickhouse.close();
      rmSync(dir, { recursive: true, force: true });
    }

    // The whole job, once per run after the rounds (bench/job-bench.ts), on the same Kafka and registry.
    const jobTarget = { brokers: ends.kafka.brokers, registryUrl: ends.registryUrl, portBase: ends.local.base, localKafka: ends.local.kafka, profileDir };
    let job: (Record<string, unknown> & { rps: number; peak_rss_mb?: number }) | undefined;
    if (modes.includes('job')) {
      console.error(`pipeline: job: ${total} raw records into \`cdrflow start\` (a child process)…`);
      job = (await jobRun({ tag, kafka, registry, byVendor, total, expectedRows: normalizable, timeoutSec: TIMEOUT_MS / 1000, ...jobTarget })) as typeof job;
      console.error(`pipeline: job ${JSON.stringify(job)}`);
    }
    // The latency mode's load generator is this process: the records go first (nothing after the job mode reads them),
    // so a major collection marking them does not stall the generator, which would count as the job's latency.
    byVendor.clear();
    all.length = 0;
    c1.bodies.length = 0;
    const latencyFigures = modes.includes('latency') ? await latencyRun({ ...latency, tag, ...jobTarget }) : undefined;

    const figures: Record<string, unknown> = {};
    if (job) figures['job'] = job;
    if (latencyFigures) figures['latency'] = latencyFigures;
    const summed = summarizeRounds(results, roundModes, job?.rps);
    Object.assign(figures, summed.figures);
    const { ratios, jobVsK1 } = summed;
    const goals = {
      normalize_vs_k2: 0.5,
      sink_vs_c1: 0.8,
      e2e_vs_k1: 0.4,
      job_peak_rss_mb_below: 1536,
      push_to_countable_p99_ms_at_2000_cdr_per_s: 2000,
      receiver_ack_p99_ms_at_2000_cdr_per_s: 100,
      // No stage blocks the event loop longer: the most time the job's main thread spent on a core inside one of its
      // stalls (event_loop_stalls.max_on_core_ms); the rest of a stall is the thread waiting for a core.
      job_event_loop_block_ms_below: 100,
    };

    const row = (label: string, mode: RoundMode, vs?: 'normalize_vs_k2' | 'normalize_w2_vs_k2' | 'normalize_w2_vs_normalize' | 'sink_vs_c1' | 'e2e_vs_k1') => {
      const f = figures[mode] as { rps: { median: number; min: number; max: number }; cpu_us_per_record: { median: number } } | undefined;
      if (!f) return undefined;
      const r = vs ? ratios[vs] : undefined;
      return `| ${label} | ${f.rps.median.toLocaleString('en')} (${f.rps.min.toLocaleString('en')}–${f.rps.max.toLocaleString('en')}) | ${f.cpu_us_per_record.median} | ${r ? `${r.median} (${r.min}–${r.max})` : '—'} |`;
    };
    const table = [
      `| stage | rec/s median (min–max) | µs CPU/rec | ratio to baseline, median (min–max) |`,
      `|---|---|---|---|`,
      row('K1 kafkajs group → idempotent producer passthrough', 'k1'),
      row('K2 the same in transactions, sendOffsets per chunk', 'k2'),
      row('normalize service (vs K2)', 'normalize', 'normalize_vs_k2'),
      row('normalize, 2 workers (vs K2)', 'normalize_w2', 'normalize_w2_vs_k2'),
      row('normalize, 2 workers (vs 1 worker)', 'normalize_w2', 'normalize_w2_vs_normalize'),
      row('C1 bare TabSeparated insert, 50,000-row batches', 'c1'),
      row('ClickHouse sink (vs C1)', 'sink', 'sink_vs_c1'),
      row(`end to end, ${e2eWorkers} normalize worker${e2eWorkers === 1 ? '' : 's'} (vs K1)`, 'e2e', 'e2e_vs_k1'),
      job
        ? `| \`cdrflow start\` end to end, child process, one run (vs K1 median); peak RSS ${job.peak_rss_mb ?? '?'} MiB; ${jobCoresText(job['cpu_cores'])}; event loop max ${(job['event_loop_delay_ms'] as { max?: number } | undefined)?.max ?? '?'} ms (${stallText(job['event_loop_stalls'] as LoopStalls)}) | ${job.rps.toLocaleString('en')} | ${String(job['cpu_us_per_record'])} | ${jobVsK1 ?? '—'} |`
        : undefined,
    ].filter(Boolean);
    if (table.length === 2) table.length = 0;
    if (latencyFigures) table.push(...(table.length > 0 ? [''] : []), ...latencyTable(latencyFigures));
    console.error(`\n${table.join('\n')}\n`);
    const threadTable = threadCpuTable([
      ...roundModes.map((mode) => [mode, (figures[mode] as { cpu_us_per_record_by_thread?: Record<string, number> } | undefined)?.cpu_us_per_record_by_thread] as const),
      ['job', job?.['cpu_us_per_record_by_thread'] as Record<string, number> | undefined] as const,
    ]);
    if (threadTable.length > 0) console.error(`${threadTable.join('\n')}\n`);

    return {
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', memory_gb: +(totalmem() / 2 ** 30).toFixed(1) },
      load_average_at_end: loadavg().map((l) => +l.toFixed(2)),
      records: total,
      normalizable_records: normalizable,
      partitions_per_topic: PARTITIONS,
      rounds,
      e2e_normalize_workers: e2eWorkers,
      method:
        'each mode from a fresh consumer group, timed from its first fetched batch (normalize members: from their group being Stable with every member) to its last record done; modes interleaved within each round; ratios per round, then median (min–max)',
      baselines_produce_path: "K1 and K2: kafkajs's own; cdrflow's stages: core/kafkajs-produce.ts",
      baselines_record_decoder: "K1 and K2: kafkajs's own; cdrflow's stages: core/kafkajs-record-headers.ts",
      ...(modes.includes('latency') ? { latency_options: latency } : {}),
      ratios,
      goals,
      figures,
      table: table.join('\n'),
      thread_table: threadTable.join('\n'),
    };
  } finally {
    // The run's topics and groups go when it ends, measured or failed (bench/broker-cleanup.ts); `--keep-topics` keeps
    // them to look at.
    if (!options.keepTopics) await cleanUpRun(kafka, tag, 'pipeline');
  }
}
