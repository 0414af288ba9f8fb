// The pipeline benchmark's two measurements of the whole job (`cdrflow start` as a child process, bench/job-process.ts):
//   latency  signed Huawei fee pushes at a steady offered rate into the job's receiver; per push the client-side ack
//            latency and outcome; then, once every acknowledged CDR is countable through the job's SQL endpoint,
//            push → countable per CDR from ClickHouse itself (inserted_at − received_at of the pushed tenant's
//            rows), and split into its stages by the raw and normalized records' Kafka timestamps. The measured
//            pushes follow a warm-up at 100/s and then `rampSeconds` at the full rate from a tenant of their own,
//            reported apart: a job's first seconds at a new rate lag while V8 compiles what became hot. Beside it,
//            the same pushes at the same rate into a bare node:http server in a child process that reads the body
//            and answers 200 (bench/suites/receiver.ts --serve bare).
//   job      the benchmark's raw records published into the job's raw topics, then the job started on that backlog;
//            records/s from its consumer groups stable with all their members (watched from the child's start) to the
//            last record countable, counting the records normalize commits from then on; the job's CPU and peak RSS,
//            and its event-loop delay (its own nodejs_eventloop_lag_*) from the job ready to the end, each stall split
//            into time on a core and time waiting for one (bench/loop-stall-probe.mjs, preloaded into the child).
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { createRegistry } from '../core/avro.ts';
import { sqlString } from '../core/clickhouse.ts';
import type { RawEnvelope } from '../core/envelope.ts';
import { RawEnvelopePublisher } from '../core/envelope.ts';
import type { AppConfig } from '../app/config.ts';
import { AckedPublisher, createKafka, ensureTopics, readTopic, type Kafka } from '../core/kafka.ts';
import { groupLag } from '../core/kafka-streams.ts';
import { TOPICS, VENDORS, type Vendor } from '../core/topology.ts';
import { HuaweiFeeGenerator } from '../simulators/huawei-privatenumber/generator.ts';
import { defaultNormalizeContext } from '../transforms/normalize/context.ts';
import { normalizeBare } from '../transforms/normalize/normalize.ts';
import { kafkaRunning } from '../infra/local/kafka.ts';
import { stackPaths } from '../infra/local/paths.ts';
import { eventLoopLagMs, freePort, mainThreadSchedNs, processCpuSeconds, startJob, type JobProcess, type LoopStalls } from './job-process.ts';
import { dueAt, histogramWindow, latencySummary, openLoop, outcomeCounts, type PushTarget } from './push-load.ts';
import { startChild, stopChild } from './suites/receiver.ts';
import { MachineCpuWindow, ThreadCpuWindow, perRecord } from './thread-cpu.ts';

const VENDOR = 'huawei-privatenumber';
const SECRET = 'bench-secret';
const WARM_PUSHES = 100;
const POLL_MS = 250;
/** Partitions of the raw topics the job reads in `job` mode (as in the other modes). */
const PARTITIONS = 3;

export interface LatencyOptions {
  rates: number[];
  seconds: number;
  /** CDRs per push. */
  batch: number;
  connections: number;
  /** Longest wait, after the last answer, for every acknowledged CDR to be countable. */
  drainTimeoutSec: number;
  /**
   * Seconds of pushes at the full rate, from a tenant of their own, right before the measured ones: the job's first
   * seconds at a new rate lag (its threads' code is compiled for it then), and the measured pushes start after them.
   * Their own push → countable is reported apart (`first_seconds_at_the_rate`). 0: none.
   */
  rampSeconds: number;
  tag: string;
  /** Where the job finds Kafka and the registry (the benchmark's own). */
  brokers: string[];
  registryUrl: string;
  portBase: number;
  /** True when `brokers` is the local stack's broker on `portBase` (its CPU use is then reported). */
  localKafka: boolean;
  /** `--profile DIR`: CPU profiles of the job's threads, in DIR/lat<rate>/. */
  profileDir?: string | undefined;
}

/** A stall summary in a few words: how many, and how the longest was spent. */
export function stallText(s: LoopStalls): string {
  const l = s.longest;
  const split = l ? `; longest ${l.late_ms} ms: ${l.on_core_ms ?? '?'} on a core, ${l.waiting_ms ?? '?'} waiting for one, GC ${l.gc_ms}` : '';
  return `stalls > 50 ms: ${s.over_50ms}, > 100 ms: ${s.over_100ms}${split}; most on a core in one stall ${s.max_on_core_ms ?? '?'} ms`;
}

/** Cores the VM's host took back (steal) from now until the returned function is called; undefined off Linux. */
function stealFrom(): () => number | undefined {
  const window = MachineCpuWindow.start();
  return () => window?.stop()?.steal_cores;
}

const load1 = () => +loadavg()[0]!.toFixed(2);

/**
 * The kernel's CPU pressure (PSI, /proc/pressure/cpu "some avg60"): the share of the last minute in which some
 * runnable task on this machine waited for a core. Undefined where the kernel does not report it.
 */
function cpuPressure60(): number | undefined {
  try {
    const m = /^some .*avg60=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? +(Number(m[1]) / 100).toFixed(2) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Cores a process used from now until the returned function is called: near 2 on a 2-core machine means CPU-bound.
 * For the job and for the local Kafka broker (undefined when the broker is not a local process of this stack).
 */
function coresFrom(pid: number | undefined): () => number | undefined {
  const cpu0 = pid === undefined ? undefined : processCpuSeconds(pid);
  const t0 = performance.now();
  return () => {
    const cpu = pid === undefined ? undefined : processCpuSeconds(pid);
    if (cpu0 === undefined || cpu === undefined) return undefined;
    return +((cpu - cpu0) / ((performance.now() - t0) / 1000)).toFixed(2);
  };
}

/**
 * Share of the interval (until the returned function is called) the job's main thread spent on a core, and runnable
 * but waiting for one: a high `waiting_for_core` means the machine, not the job, set the pace.
 */
function mainThreadFrom(pid: number): () => { on_core: number; waiting_for_core: number } | undefined {
  const s0 = mainThreadSchedNs(pid);
  const t0 = performance.now();
  return () => {
    const s = mainThreadSchedNs(pid);
    if (!s0 || !s) return undefined;
    const ns = (performance.now() - t0) * 1e6;
    return {
      on_core: +((s.onCpu - s0.onCpu) / ns).toFixed(2),
      waiting_for_core: +((s.waiting - s0.waiting) / ns).toFixed(2),
    };
  };
}

/** The local stack's broker PID when the benchmark's Kafka is that broker (its CPU is reported beside the job's). */
function localBrokerPid(opts: { portBase: number; localKafka: boolean }): number | undefined {
  return opts.localKafka ? kafkaRunning(stackPaths(opts.portBase)) : undefined;
}

/** Push bodies of `batch` fee records each, every record one the mapping accepts (so every acked CDR must appear). */
function feeBodies(
  appKey: string,
  pushes: number,
  batch: number,
  seed: number,
): { bodies: string[]; keys: string[][] } {
  const records = pushes * batch;
  // Calls in the past (3.1 s apart on average, the longest 32 min), as the demo pushes them.
  const gen = new HuaweiFeeGenerator({ seed, appKey, startMs: Date.now() - records * 3_100 - 32 * 60_000 });
  const ctx = defaultNormalizeContext();
  const bodies: string[] = [];
  const keys: string[][] = [];
  let current: Record<string, string | number>[] = [];
  for (let guard = 0; bodies.length < pushes; guard++) {
    if (guard > records * 2)
      throw new Error('latency: the Huawei generator no longer makes records the mapping accepts');
    const record = gen.next();
    if (!normalizeBare(VENDOR, appKey, JSON.stringify(record), ctx).ok) continue;
    current.push(record);
    if (current.length === batch) {
      bodies.push(JSON.stringify({ eventType: 'fee', feeLst: current }));
      keys.push(current.map((r) => String(r['sessionId'])));
      current = [];
    }
  }
  return { bodies, keys };
}

/** Waits until `check` resolves true (polled every `pollMs`), or `timeoutMs` passed; resolves with whether it held. */
async function until(check: () => Promise<boolean>, timeoutMs: number, pollMs = POLL_MS): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The job mode's clock, started when its groups are stable (startClockWhenStable). */
interface JobClock {
  started: number;
  cpu0: number;
  threads: ThreadCpuWindow | undefined;
  brokerCores: () => number | undefined;
  mainThread: () => { on_core: number; waiting_for_core: number } | undefined;
  /** The machine's stolen time over the clock (a shared VM's host taking the cores back); undefined off Linux. */
  steal: () => number | undefined;
  loadBefore: number;
  /** Records normalize committed before the clock (its committed offsets on the fresh raw topics): not counted. */
  normalizedBefore: number;
}

/**
 * Starts the job mode's clock once normalize's group is Stable with every member and the sink's with its member
 * (the joins excluded, as in the other modes), polled every 20 ms from the child's start. Normalize's first member
 * works alone until the others join (app/normalize-workers.ts): what it commits before is counted in
 * `normalizedBefore` and left out of the figures.
 */
async function startClockWhenStable(opts: { kafka: Kafka; portBase: number; localKafka: boolean }, pid: number, config: AppConfig): Promise<JobClock> {
  const admin = opts.kafka.admin();
  await admin.connect();
  try {
    const want = new Map([
      [config.normalize.groupId, config.normalize.workers],
      [config.sink.groupId, 1],
    ]);
    const stable = await until(
      async () => {
        const { groups } = await admin.describeGroups([...want.keys()]);
        return groups.length === want.size && groups.every((g) => g.state === 'Stable' && g.members.length >= (want.get(g.groupId) ?? 1));
      },
      120_000,
      20,
    );
    if (!stable) throw new Error(`job: the consumer groups ${[...want.keys()].join(', ')} were not stable within 120 s`);
  } finally {
    await admin.disconnect();
  }
  const started = performance.now();
  const cpu0 = processCpuSeconds(pid) ?? 0;
  // By thread of the child: its workers' ids are not known from outside, so by comm only (main, other node, engine).
  const threads = ThreadCpuWindow.start(pid);
  const brokerCores = coresFrom(localBrokerPid(opts));
  const mainThread = mainThreadFrom(pid);
  const steal = stealFrom();
  const loadBefore = load1();
  const normalizedBefore = (await groupLag(opts.kafka, config.normalize.groupId, config.normalize.inputTopics)).reduce((n, p) => n + p.committed, 0);
  return { started, cpu0, threads, brokerCores, mainThread, steal, loadBefore, normalizedBefore };
}

/** True once every key in `keys` is a row of `tenant` in the job's cdr table (a cheap count first, then the keys). */
async function allCountable(job: JobProcess, table: string, tenant: string, keys: Set<string>): Promise<boolean> {
  const [c] = await job.rows<{ c: string }>(
    `SELECT uniqExact(natural_key) AS c FROM ${table} WHERE tenant_id = ${sqlString(tenant)}`,
  );
  if (Number(c?.c ?? 0) < keys.size) return false;
  const present = new Set(
    (
      await job.rows<{ k: string }>(
        `SELECT DISTINCT natural_key AS k FROM ${table} WHERE tenant_id = ${sqlString(tenant)}`,
      )
    ).map((r) => r.k),
  );
  for (const k of keys) if (!present.has(k)) return false;
  return true;
}

function ackFigures(bodies: string[], batch: number, run: Awaited<ReturnType<typeof openLoop>>) {
  const { statuses, resets, errors } = outcomeCounts(run.outcomes);
  const acked = run.outcomes.filter((o) => o.status === 200).length;
  return {
    pushes: bodies.length,
    statuses,
    connection_resets: resets,
    other_errors: errors,
    achieved_cdr_per_s: Math.round((acked * batch) / run.seconds),
    ack_latency_ms: latencySummary(run.latencyMs),
    /** How late the load generator (this process, on the same cores) started each push: part of the latency above. */
    sent_late_ms: latencySummary(run.sentLateMs),
    generator_loop_delay_ms: run.generatorLoopDelayMs,
  };
}

/** One CDR's way through the job, as epoch milliseconds. */
export interface CdrPath {
  received: number;
  /** The raw record's Kafka timestamp: when the receiver handed it to its producer. */
  raw: number;
  /** The normalized record's Kafka timestamp: when normalize handed it to its transaction (visible at its commit). */
  normalized: number;
  countable: number;
}

/**
 * Push → countable split into its three stages, for the whole run and by 2-second slices of the receive time (from
 * the first CDR received): receive → raw record (the receiver's group commit), raw → normalized record (normalize's
 * fetch and transform, and the wait for its previous transaction), normalized → countable (its transaction's commit,
 * the sink's fetch, the buffer's wait and the insert).
 */
export function stagesOf(paths: readonly CdrPath[]) {
  const split = (ps: readonly CdrPath[]) => {
    const p = (ms: number[]) => {
      const l = latencySummary(ms);
      return { p50: l.p50, p99: l.p99, max: l.max };
    };
    return {
      n: ps.length,
      receive_to_raw: p(ps.map((c) => c.raw - c.received)),
      raw_to_normalized: p(ps.map((c) => c.normalized - c.raw)),
      normalized_to_countable: p(ps.map((c) => c.countable - c.normalized)),
    };
  };
  const start = Math.min(...paths.map((c) => c.received));
  const slices: CdrPath[][] = [];
  for (const c of paths) (slices[Math.floor((c.received - start) / 2000)] ??= []).push(c);
  // A slice nobody was received in stays in the list, empty, so that the list's index is the slice's.
  return { whole_run: split(paths), by_2s_slice: Array.from(slices, (s) => split(s ?? [])) };
}

/**
 * The stages of push → countable for the CDRs of each tenant (`stagesOf`), read from the table (its rows name their
 * raw and normalized records) and from both topics' record timestamps, each topic read once for all the tenants. The
 * Kafka timestamps are the producers' own clocks, which are this machine's, like received_at and inserted_at.
 */
async function stageSplits(brokers: string[], job: JobProcess, table: string, tenants: string[]) {
  const rows = await job.rows<Record<string, string>>(
    `SELECT tenant_id, raw_topic, raw_partition, raw_offset, source_topic, source_partition, source_offset,
            toUnixTimestamp64Milli(received_at) AS received, toUnixTimestamp64Milli(inserted_at) AS countable
     FROM ${table} WHERE tenant_id IN (${tenants.map(sqlString).join(', ')})`,
  );
  const kafka = createKafka({ brokers, clientId: 'bench-stage-split' });
  const timestamps = new Map<string, number>();
  for (const topic of new Set(rows.flatMap((r) => [r['raw_topic']!, r['source_topic']!]))) {
    await readTopic(kafka, topic, {
      start: { from: 'beginning' },
      follow: false,
      onRecord: (m) => void timestamps.set(`${topic}/${m.partition}/${m.offset}`, m.timestamp),
    });
  }
  return new Map(
    tenants.map((tenant) => {
      const own = rows.filter((r) => r['tenant_id'] === tenant);
      const paths: CdrPath[] = [];
      for (const r of own) {
        const raw = timestamps.get(`${r['raw_topic']}/${r['raw_partition']}/${r['raw_offset']}`);
        const normalized = timestamps.get(`${r['source_topic']}/${r['source_partition']}/${r['source_offset']}`);
        if (raw !== undefined && normalized !== undefined)
          paths.push({ received: Number(r['received']), raw, normalized, countable: Number(r['countable']) });
      }
      return [tenant, { of_rows: own.length, ...stagesOf(paths) }] as const;
    }),
  );
}

/** The keys of the CDRs in the pushes the receiver acknowledged. */
function ackedKeys(run: Awaited<ReturnType<typeof openLoop>>, keys: string[][]): Set<string> {
  return new Set(run.outcomes.flatMap((o, p) => (o.status === 200 ? keys[p]! : [])));
}

/**
 * Push → countable per CDR of one tenant, from ClickHouse itself (inserted_at − received_at): the whole run, by
 * 2-second slices of the receive time (a tail from a few hiccups shows in some slices, one from a machine that cannot
 * keep up grows slice by slice), and the second half of the pushes alone.
 */
async function countableFigures(job: JobProcess, table: string, tenant: string, seconds: number) {
  // Per CDR: when it was received (r) and how long until it was countable (d), ms.
  const perCdr = `(SELECT min(toUnixTimestamp64Milli(received_at)) AS r, min(toUnixTimestamp64Milli(inserted_at)) - r AS d
                   FROM ${table} WHERE tenant_id = ${sqlString(tenant)} GROUP BY cdr_id)`;
  const summary = (r: Record<string, string> | undefined) => ({
    count: Number(r?.['n']),
    p50: Number(r?.['p50']),
    p90: Number(r?.['p90']),
    p99: Number(r?.['p99']),
    max: Number(r?.['max']),
  });
  const quantiles = `count() AS n, quantileExact(0.5)(d) AS p50, quantileExact(0.9)(d) AS p90, quantileExact(0.99)(d) AS p99, max(d) AS max`;
  const [whole] = await job.rows<Record<string, string>>(`SELECT ${quantiles} FROM ${perCdr}`);
  const slices = await job.rows<Record<string, string>>(`SELECT intDiv(r, 2000) AS s, ${quantiles} FROM ${perCdr} GROUP BY s ORDER BY s`);
  const [late] = await job.rows<Record<string, string>>(
    `SELECT ${quantiles} FROM ${perCdr} WHERE r >= (SELECT min(r) FROM ${perCdr}) + ${(seconds * 1000) / 2}`,
  );
  return { whole_run: summary(whole), by_2s_slice: slices.map(summary), second_half: summary(late) };
}

/** The three stages' p99s in a few words. */
function stageText(s: ReturnType<typeof stagesOf>['whole_run']): string {
  return `receive → raw ${s.receive_to_raw.p99}, raw → normalized ${s.raw_to_normalized.p99}, normalized → countable ${s.normalized_to_countable.p99} ms`;
}

export async function latencyRun(opts: LatencyOptions): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const [i, rate] of opts.rates.entries()) {
    const pushesPerSecond = rate / opts.batch;
    const pushes = Math.max(1, Math.round(pushesPerSecond * opts.seconds));
    const appKey = `bench_lat_${rate}`;
    const warmKey = `bench_warm_${rate}`;
    const rampKey = `bench_ramp_${rate}`;
    const { bodies, keys } = feeBodies(appKey, pushes, opts.batch, 9_000 + i);
    const warm = feeBodies(warmKey, WARM_PUSHES, opts.batch, 8_000 + i);
    const ramp = feeBodies(rampKey, Math.round(pushesPerSecond * opts.rampSeconds), opts.batch, 7_000 + i);
    const label = `latency ${rate} CDR/s (${pushes} pushes of ${opts.batch}, ${pushesPerSecond} pushes/s, ${opts.connections} connections)`;

    // Baseline: bare node:http in its own process, the same pushes at the same rate from this process.
    const bareLoad = load1();
    const bare = await startChild('bare', process.env);
    let bareFigures;
    try {
      await openLoop(
        { port: bare.port, appKey, appSecret: SECRET },
        warm.bodies,
        Math.min(pushesPerSecond, 100),
        opts.connections,
      );
      await openLoop({ port: bare.port, appKey: rampKey, appSecret: SECRET }, ramp.bodies, pushesPerSecond, opts.connections);
      bareFigures = {
        ...ackFigures(
          bodies,
          opts.batch,
          await openLoop({ port: bare.port, appKey, appSecret: SECRET }, bodies, pushesPerSecond, opts.connections),
        ),
        load_avg_1m: [bareLoad, load1()],
      };
    } finally {
      await stopChild(bare);
    }
    console.error(
      `pipeline: ${label}: bare node:http ack p50 ${bareFigures.ack_latency_ms.p50} p99 ${bareFigures.ack_latency_ms.p99} max ${bareFigures.ack_latency_ms.max} ms`,
    );

    const receiverPort = await freePort();
    const job = await startJob(
      {
        namespace: `${opts.tag}_lat${rate}`,
        kafka: { brokers: opts.brokers },
        schemaRegistry: { url: opts.registryUrl },
        localInfra: { portBase: opts.portBase },
        receiver: {
          port: receiverPort,
          huawei: {
            apps: [
              { appKey, appSecret: SECRET },
              { appKey: warmKey, appSecret: SECRET },
              { appKey: rampKey, appSecret: SECRET },
            ],
          },
        },
      },
      `lat${rate}`,
      { profileDir: opts.profileDir },
    );
    try {
      const table = `${job.config.sink.database}.${job.config.sink.table}`;
      const target: PushTarget = { port: receiverPort, appKey, appSecret: SECRET };
      // Warm-up through the whole path (schemas registered, transactions begun, the first insert), then measure.
      await openLoop({ ...target, appKey: warmKey }, warm.bodies, Math.min(pushesPerSecond, 100), opts.connections);
      if (
        !(await until(() => allCountable(job, table, warmKey, new Set(warm.keys.flat())), opts.drainTimeoutSec * 1000))
      )
        throw new Error(`${label}: the warm-up pushes were not countable within ${opts.drainTimeoutSec} s`);
      // The job's first seconds at the full rate, straight into the measured pushes.
      const rampRun = await openLoop({ ...target, appKey: rampKey }, ramp.bodies, pushesPerSecond, opts.connections);

      const loadBefore = load1();
      const jobCores = coresFrom(job.pid);
      const brokerCores = coresFrom(localBrokerPid(opts));
      const mainThread = mainThreadFrom(job.pid);
      const steal = stealFrom();
      // Starts the window: the job's event-loop delay from the first push to the last CDR countable, and its receiver's
      // histograms over the measured pushes.
      const metricsBefore = await job.metricsText();
      const windowStart = Date.now();
      const run = await openLoop(target, bodies, pushesPerSecond, opts.connections);
      const answeredAt = performance.now();
      const acked = ackedKeys(run, keys);
      const complete = await until(() => allCountable(job, table, appKey, acked), opts.drainTimeoutSec * 1000);
      const drainSeconds = (performance.now() - answeredAt) / 1000;
      // Cores used from the first push to the last CDR countable, by the job and by the broker.
      const cores = { job: jobCores(), kafka_broker: brokerCores(), job_main_thread: mainThread(), stolen_from_the_vm: steal() };
      // Ends the window. No push came after the measured ones, so every receiver histogram's observations in it are theirs.
      const metricsAfter = await job.metricsText();
      const eventLoopLag = eventLoopLagMs(metricsAfter);
      // The receiver's Kafka sends, and its handling of a push from the request's start to its response written.
      const kafkaSends = histogramWindow(metricsBefore, metricsAfter, 'cdrflow_receiver_kafka_send_seconds');
      const handled = histogramWindow(metricsBefore, metricsAfter, 'cdrflow_receiver_request_duration_seconds');
      const stalls = job.loopStalls(windowStart);
      const measured = await countableFigures(job, table, appKey, opts.seconds);
      // The first seconds at the rate: their CDRs were countable before the measured ones, barring a reordering.
      const rampAcked = ackedKeys(rampRun, ramp.keys);
      await until(() => allCountable(job, table, rampKey, rampAcked), opts.drainTimeoutSec * 1000);
      const firstSeconds = opts.rampSeconds > 0 ? await countableFigures(job, table, rampKey, opts.rampSeconds) : undefined;
      // Due → countable: from the time each push was due (client clock, the same machine's) to its row's inserted_at,
      // so time a push waited for a connection or in the receiver's accept queue counts too.
      const insertedAt = new Map(
        (
          await job.rows<{ k: string; t: string }>(
            `SELECT natural_key AS k, toUnixTimestamp64Milli(min(inserted_at)) AS t FROM ${table} WHERE tenant_id = ${sqlString(appKey)} GROUP BY natural_key`,
          )
        ).map((r) => [r.k, Number(r.t)]),
      );
      const dueToCountable: number[] = [];
      run.outcomes.forEach((o, p) => {
        if (o.status !== 200) return;
        const due = dueAt(run.firstDueEpochMs, p, pushesPerSecond);
        for (const k of keys[p]!) {
          const t = insertedAt.get(k);
          if (t !== undefined) dueToCountable.push(t - due);
        }
      });
      const stages = await stageSplits(opts.brokers, job, table, [appKey, rampKey]);
      const byStage = stages.get(appKey)!;
      const figures = {
        offered_cdr_per_s: rate,
        cdrs_per_push: opts.batch,
        seconds: opts.seconds,
        bare_node_http: bareFigures,
        receiver: { ...ackFigures(bodies, opts.batch, run), handled_in_the_job: handled, kafka_sends: kafkaSends },
        acked_cdrs: acked.size,
        all_acked_countable: complete,
        drain_after_last_ack_s: +drainSeconds.toFixed(1),
        push_to_countable_ms: measured.whole_run,
        due_to_countable_ms: latencySummary(dueToCountable),
        push_to_countable_ms_by_2s_slice: measured.by_2s_slice,
        push_to_countable_ms_second_half: measured.second_half,
        push_to_countable_ms_by_stage: byStage,
        first_seconds_at_the_rate: firstSeconds && {
          seconds: opts.rampSeconds,
          receiver: ackFigures(ramp.bodies, opts.batch, rampRun),
          push_to_countable_ms: firstSeconds.whole_run,
          push_to_countable_ms_by_2s_slice: firstSeconds.by_2s_slice,
          push_to_countable_ms_by_stage: stages.get(rampKey)!,
        },
        job_peak_rss_mb: job.peakRssMb(),
        job_event_loop_delay_ms: eventLoopLag,
        job_event_loop_stalls: stalls,
        cpu_cores: cores,
        cpu_pressure_some_avg60: cpuPressure60(),
        load_avg_1m: [loadBefore, load1()],
      };
      out.push(figures);
      console.error(
        `pipeline: ${label}: receiver ack p50 ${figures.receiver.ack_latency_ms.p50} p99 ${figures.receiver.ack_latency_ms.p99} max ${figures.receiver.ack_latency_ms.max} ms, ` +
          `${figures.receiver.connection_resets} resets; push→countable p50 ${figures.push_to_countable_ms.p50} p99 ${figures.push_to_countable_ms.p99} max ${figures.push_to_countable_ms.max} ms, second half p99 ${figures.push_to_countable_ms_second_half.p99} ms ` +
          `(from the due time p50 ${figures.due_to_countable_ms.p50} p99 ${figures.due_to_countable_ms.p99} ms; by stage, p99: ${stageText(byStage.whole_run)})` +
          `${complete ? '' : ` (NOT all countable after ${opts.drainTimeoutSec} s)`}` +
          (figures.first_seconds_at_the_rate
            ? `; the ${opts.rampSeconds} s at the rate before them: ack p99 ${figures.first_seconds_at_the_rate.receiver.ack_latency_ms.p99} ms, push→countable p99 ${figures.first_seconds_at_the_rate.push_to_countable_ms.p99} ms (${stageText(figures.first_seconds_at_the_rate.push_to_countable_ms_by_stage.whole_run)})`
            : '') +
          `; job peak RSS ${figures.job_peak_rss_mb} MiB, job event-loop delay p99 ${eventLoopLag.p99} max ${eventLoopLag.max} ms (${stallText(stalls)}), cores used: job ${cores.job}, broker ${cores.kafka_broker ?? '?'}, stolen ${cores.stolen_from_the_vm ?? '?'}; job main thread ${JSON.stringify(cores.job_main_thread)}; load ${figures.load_avg_1m.join('→')}`,
      );
    } finally {
      await job.stop();
    }
  }
  return out;
}

export interface JobRunOptions {
  tag: string;
  kafka: Kafka;
  registry: ReturnType<typeof createRegistry>;
  byVendor: Map<Vendor, RawEnvelope[]>;
  total: number;
  /** Rows the records make (the ones that normalize). */
  expectedRows: number;
  timeoutSec: number;
  brokers: string[];
  registryUrl: string;
  portBase: number;
  localKafka: boolean;
  /** `--profile DIR`: CPU profiles of the job's threads, in DIR/job/. */
  profileDir?: string | undefined;
}

export async function jobRun(opts: JobRunOptions): Promise<Record<string, unknown>> {
  const namespace = `${opts.tag}_job`;
  // The raw topics exist before the job subscribes, with the benchmark's partitions.
  await ensureTopics(
    opts.kafka,
    VENDORS.map((v) => ({ topic: `${namespace}.${TOPICS.raw(v)}`, partitions: PARTITIONS })),
  );
  // The records wait in the raw topics before the job starts, as a backlog or a replay does: the clock measures the
  // job, not the publisher.
  const t0 = performance.now();
  const acked = new AckedPublisher(opts.kafka);
  const publisher = new RawEnvelopePublisher(opts.registry, acked);
  for (const v of VENDORS) {
    const envs = opts.byVendor.get(v) ?? [];
    for (let i = 0; i < envs.length; i += 1000)
      await publisher.publish(envs.slice(i, i + 1000), `${namespace}.${TOPICS.raw(v)}`);
  }
  await acked.disconnect();
  const publishSeconds = (performance.now() - t0) / 1000;
  // The clock starts once both groups are Stable with all their members, watched from the child's start: the job
  // reports ready (startJob) only after its stages run, and normalize works from its join on.
  let clock: Promise<JobClock> | undefined;
  const job = await startJob(
    {
      namespace,
      kafka: { brokers: opts.brokers },
      schemaRegistry: { url: opts.registryUrl },
      localInfra: { portBase: opts.portBase },
    },
    'job',
    {
      onSpawned: (pid, config) => {
        clock = startClockWhenStable(opts, pid, config);
        clock.catch(() => undefined);
      },
      profileDir: opts.profileDir,
    },
  );
  try {
    const table = `${job.config.sink.database}.${job.config.sink.table}`;
    const { started, cpu0, threads, brokerCores, mainThread, steal, loadBefore, normalizedBefore } = await clock!;
    // The event-loop window starts here: the job's ops port answers once it is ready.
    await job.metricsText();
    const windowStart = Date.now();
    const count = async () => Number((await job.rows<{ c: string }>(`SELECT count() AS c FROM ${table}`))[0]?.c ?? 0);
    const complete = await until(async () => (await count()) >= opts.expectedRows, opts.timeoutSec * 1000);
    const seconds = (performance.now() - started) / 1000;
    const cpu = (job.cpuSeconds() ?? 0) - cpu0;
    const byThread = threads?.stop();
    const eventLoopLag = eventLoopLagMs(await job.metricsText());
    const stalls = job.loopStalls(windowStart);
    const cores = { job: +(cpu / seconds).toFixed(2), kafka_broker: brokerCores(), job_main_thread: mainThread(), stolen_from_the_vm: steal() };
    if (!complete)
      throw new Error(`job: ${await count()} of ${opts.expectedRows} rows countable after ${opts.timeoutSec} s`);
    const [u] = await job.rows<{ c: string }>(`SELECT uniqExact(cdr_id) AS c FROM ${table}`);
    if (Number(u?.c) !== opts.expectedRows)
      throw new Error(`job: ${u?.c} distinct CDRs stored, expected ${opts.expectedRows}`);
    return {
      records: opts.total - normalizedBefore,
      normalized_before_clock: normalizedBefore,
      rows: opts.expectedRows,
      seconds: +seconds.toFixed(2),
      rps: Math.round((opts.total - normalizedBefore) / seconds),
      publish_seconds: +publishSeconds.toFixed(2),
      cpu_us_per_record: +((cpu * 1e6) / (opts.total - normalizedBefore)).toFixed(1),
      ...(byThread ? { cpu_us_per_record_by_thread: perRecord(byThread, opts.total - normalizedBefore) } : {}),
      peak_rss_mb: job.peakRssMb(),
      event_loop_delay_ms: eventLoopLag,
      event_loop_stalls: stalls,
      cpu_cores: cores,
      cpu_pressure_some_avg60: cpuPressure60(),
      load_avg_1m: [loadBefore, load1()],
    };
  } finally {
    await job.stop();
  }
}
