// The main job: one process running the configured pull connectors, the push receiver, the normalize service and the
// ClickHouse sink (plus, in demo mode, the vendor simulators), with the ops port and a status line. Shutdown order:
// stop intake (simulators, pollers, receiver), let normalize finish its transaction, flush the sink and commit, close
// ClickHouse, then stop only the local servers this process started.
import { hostname } from 'node:os';
import type { ClickHouseClient } from '@clickhouse/client';
import { createRegistry } from '../core/avro.ts';
import { CheckpointStore } from '../core/checkpoints.ts';
import { createClickHouse, type ClickHouseTarget } from '../core/clickhouse.ts';
import { CdrflowError, asCdrflowError, disposition } from '../core/errors.ts';
import { AckedPublisher, createKafka, ensureTopics, type Kafka, type KafkaSettings } from '../core/kafka.ts';
import { RawEnvelopePublisher } from '../core/envelope.ts';
import { startOpsServer } from '../core/ops-server.ts';
import { type Vendor } from '../core/topology.ts';
import { createCccConnector } from '../connectors/tencent-ccc/index.ts';
import { createTrtcConnector } from '../connectors/tencent-trtc/index.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import { startReceiver, type RunningReceiver } from '../connectors/receiver/index.ts';
import { ReceiverConfigSchema } from '../connectors/receiver/config.ts';
import { startNormalizeService } from '../transforms/normalize/service/index.ts';
import { startClickHouseSink } from '../sinks/clickhouse/index.ts';
import type { StreamHandle } from '../core/kafka-streams.ts';
import { DEFAULT_BACKOFF, backoffDelay } from '../core/backoff.ts';
import { embeddedDataDir, kafkaBrokersOf, opsPort, registryUrlOf, ConfigError, type AppConfig } from './config.ts';
import { zodIssues } from '../core/zod-issues.ts';
import { ensureLocalInfra, type LocalInfra } from './infra.ts';
import { AppMetrics } from './metrics.ts';
import { startDemoVendors, type DemoVendors } from './demo.ts';
import { checkpointRows, clickhouseFigures, stageLag, totals, type IntakeFigures, type StatusSnapshot } from './status.ts';
import { cccConfigSchema } from '../connectors/tencent-ccc/config.ts';
import { trtcConfigSchema } from '../connectors/tencent-trtc/config.ts';

export type JobLog = (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields?: Record<string, unknown>) => void;

export interface MainJobOptions {
  demo: boolean;
  log: JobLog;
  /** Human progress messages (stderr). */
  say: (msg: string) => void;
}

export interface MainJob {
  readonly opsUrl: string;
  readonly metrics: AppMetrics;
  status(): Promise<StatusSnapshot>;
  /** Settles when a component stops by itself (rejects with its error). */
  readonly failed: Promise<never>;
  stop(): Promise<void>;
}

export function kafkaSettingsOf(config: AppConfig): KafkaSettings {
  const settings: KafkaSettings = { brokers: kafkaBrokersOf(config), clientId: config.kafka.clientId };
  if (config.kafka.ssl) settings.ssl = true;
  if (config.kafka.sasl) settings.sasl = config.kafka.sasl;
  return settings;
}

export function clickhouseTargetOf(config: AppConfig): ClickHouseTarget {
  if (config.clickhouse.url) {
    return { kind: 'http', url: config.clickhouse.url, username: config.clickhouse.username, password: config.clickhouse.password, database: config.sink.database };
  }
  return { kind: 'embedded', dataDir: embeddedDataDir(config), database: config.sink.database };
}

export function describeTarget(t: ClickHouseTarget): string {
  return t.kind === 'http' ? `${t.url} (database ${t.database})` : `embedded, data in ${t.dataDir} (database ${t.database})`;
}

/** Components a job runs, for /readyz and the status. */
export type ComponentState = 'starting' | 'running' | 'stopping' | 'stopped' | `failed: ${string}`;

export async function startMainJob(config: AppConfig, options: MainJobOptions): Promise<MainJob> {
  const { log, say } = options;
  const startedAt = Date.now();
  const metrics = new AppMetrics();
  const components: Record<string, ComponentState> = {};
  const setState = (name: string, state: ComponentState) => {
    components[name] = state;
    metrics.componentUp.set({ component: name }, state === 'running' ? 1 : 0);
  };
  let failStop!: (err: unknown) => void;
  const failed = new Promise<never>((_, reject) => (failStop = reject));
  failed.catch(() => undefined);
  const fail = (name: string, err: unknown) => {
    const e = asCdrflowError(err);
    setState(name, `failed: ${e.message}`);
    log('error', `${name}.failed`, { kind: e.kind, code: e.code, error: e.message });
    failStop(new CdrflowError(e.kind, `${name} stopped: ${e.message}`, { cause: e }));
  };

  // Everything started so far, undone in reverse if start-up fails half way.
  const cleanups: { name: string; run: () => Promise<void> }[] = [];
  const undo = async () => {
    for (const c of cleanups.reverse()) await c.run().catch((err: unknown) => log('warn', 'cleanup.failed', { step: c.name, error: String(err) }));
    cleanups.length = 0;
  };

  try {
    // 1. Servers: the local stack when nothing external is configured.
    const infra: LocalInfra = await ensureLocalInfra(config, say);
    cleanups.push({ name: 'local infra', run: () => infra.stop(say) });
    for (const s of infra.started) say(`started the local ${s.name} (PID ${s.pid}); it is stopped again on exit`);

    const kafka: Kafka = createKafka(kafkaSettingsOf(config));
    const registry = createRegistry(registryUrlOf(config));
    const target = clickhouseTargetOf(config);
    const clickhouse: ClickHouseClient = await createClickHouse(target);
    cleanups.push({ name: 'clickhouse', run: () => clickhouse.close() });

    // The ops port comes up early so `cdrflow sql` / `status` ask this process (the embedded engine is now ours)
    // while the rest starts; /readyz turns ready once every component runs.
    // Filled in once every component runs; until then /status says the job is starting.
    const late: { status?: () => Promise<StatusSnapshot> } = {};
    const ops = await startOpsServer(opsPort(config), {
      metrics: metrics.registry,
      readiness: () => ({ ready: late.status !== undefined && Object.values(components).every((s) => s === 'running'), components: { ...components } }),
      status: async () => (late.status ? late.status() : { starting: true, components: { ...components } }),
      query: async (sql, format) => {
        const rs = await clickhouse.query({ query: sql, format: format as 'JSONEachRow' });
        return rs.text();
      },
    });
    cleanups.push({ name: 'ops server', run: () => ops.close() });
    const opsUrl = `http://127.0.0.1:${ops.port}`;

    // 2. Demo vendors (simulators) before the connectors that read them.
    let demo: DemoVendors | undefined;
    let pull = config.connectors;
    let receiverInput = config.receiver as unknown;
    if (options.demo) {
      demo = await startDemoVendors(config, say);
      const d = demo;
      cleanups.push({ name: 'simulator servers', run: () => d.close() });
      cleanups.push({ name: 'demo traffic', run: () => d.stopTraffic() });
      const problems = [];
      const ccc = cccConfigSchema.safeParse(demo.connectors['tencent-ccc']);
      const trtc = trtcConfigSchema.safeParse(demo.connectors['tencent-trtc']);
      const rcv = ReceiverConfigSchema.safeParse(demo.receiver);
      if (!ccc.success) problems.push(...zodIssues(ccc.error).map((p) => ({ ...p, path: `connectors.tencent-ccc.${p.path}` })));
      if (!trtc.success) problems.push(...zodIssues(trtc.error).map((p) => ({ ...p, path: `connectors.tencent-trtc.${p.path}` })));
      if (!rcv.success) problems.push(...zodIssues(rcv.error).map((p) => ({ ...p, path: `receiver.${p.path}` })));
      if (problems.length > 0 || !ccc.success || !trtc.success || !rcv.success) throw new ConfigError(problems, 'demo configuration');
      pull = { 'tencent-ccc': ccc.data, 'tencent-trtc': trtc.data };
      receiverInput = rcv.data;
    }

    // 3. Stream stages: the sink first (it migrates the tables), then normalize.
    const stageLog = (component: string) => (event: string, fields: Record<string, unknown> = {}) => {
      if (event === 'normalize.committed') {
        const normalized = Number(fields['normalized'] ?? 0);
        const dead = Number(fields['deadLettered'] ?? 0);
        metrics.recordsIn.inc({ stage: 'normalize' }, normalized + dead);
        metrics.recordsOut.inc({ stage: 'normalize' }, normalized);
        if (dead > 0) metrics.deadLettered.inc({ stage: 'normalize' }, dead);
        metrics.recordFailures.inc(Number(fields['recordFailures'] ?? 0));
        metrics.contractViolations.inc(Number(fields['contractViolations'] ?? 0));
        metrics.batchRecords.observe({ stage: 'normalize' }, normalized + dead);
        return log('debug', event, fields);
      }
      if (event === 'sink.flushed') {
        const rows = Number(fields['rows'] ?? 0);
        const dead = Number(fields['deadLettered'] ?? 0);
        metrics.recordsIn.inc({ stage: 'sink' }, rows + dead);
        metrics.recordsOut.inc({ stage: 'sink' }, rows);
        if (dead > 0) metrics.deadLettered.inc({ stage: 'sink' }, dead);
        metrics.batchRecords.observe({ stage: 'sink' }, rows + dead);
        return log('debug', event, fields);
      }
      // Per-batch events are debug (CDRFLOW_DEBUG=1): at demo rates they would drown everything else.
      const level = /retry|failed|dropped/.test(event) ? 'warn' : /inserted|committed|flushed/.test(event) ? 'debug' : 'info';
      log(level, event, { component, ...fields });
    };

    const supervise = (name: string, launch: () => Promise<StreamHandle>) => superviseStage(name, launch, { setState, fail, log });
    const sink = await supervise('sink', () =>
      startClickHouseSink(config.sink, { kafka, registry, clickhouse: metrics.timedInserts(clickhouse), log: stageLog('sink') }),
    );
    cleanups.push({ name: 'sink', run: () => sink.stop() });
    const normalizeConfig = { ...config.normalize, instanceId: config.normalize.instanceId || hostname() };
    const normalize = await supervise('normalize', () => startNormalizeService(normalizeConfig, { kafka, registry, log: stageLog('normalize') }));
    cleanups.push({ name: 'normalize', run: () => normalize.stop() });

    // 4. Intake: the push receiver, then the pollers.
    let receiver: RunningReceiver | undefined;
    if (receiverInput !== undefined) {
      setState('receiver', 'starting');
      const rc = ReceiverConfigSchema.parse(receiverInput);
      const topics = [...(rc.huawei ? [rc.huawei.topics.fee, rc.huawei.topics.events] : []), ...(rc.lvms ? [rc.lvms.topic] : [])];
      await ensureTopics(kafka, [...new Set(topics)].map((topic) => ({ topic })));
      const acked = new AckedPublisher(kafka);
      await acked.connect();
      const envelopes = new RawEnvelopePublisher(registry, acked);
      receiver = await startReceiver(rc, {
        registry: metrics.registry,
        sink: { publish: (batch, topic) => envelopes.publish(batch, topic) },
        log: (level, msg, fields) => log(level, `receiver: ${msg}`, fields),
      });
      const r = receiver;
      setState('receiver', 'running');
      cleanups.push({ name: 'receiver', run: async () => { setState('receiver', 'stopping'); await r.stop(); await acked.disconnect(); setState('receiver', 'stopped'); } });
      say(`receiver listening on ${receiver.url}`);
    }

    const pollers = new Map<Vendor, PullConnector>();
    const abort = new AbortController();
    const runs: Promise<void>[] = [];
    for (const vendor of ['tencent-ccc', 'tencent-trtc'] as const) {
      const section = pull[vendor];
      if (!section) continue;
      setState(vendor, 'starting');
      const deps = {
        kafka,
        registry,
        promRegistry: metrics.registry,
        log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => log(level, `${vendor}: ${msg}`, fields),
      };
      const connector = vendor === 'tencent-ccc' ? createCccConnector(section, deps) : createTrtcConnector(section, deps);
      await connector.start();
      pollers.set(vendor, connector);
      setState(vendor, 'running');
      runs.push(
        connector.run(abort.signal).then(
          () => setState(vendor, 'stopped'),
          (err: unknown) => fail(vendor, err),
        ),
      );
    }
    cleanups.push({
      name: 'pollers',
      run: async () => {
        for (const v of pollers.keys()) setState(v, 'stopping');
        abort.abort(new Error('shutdown requested'));
        await Promise.allSettled(runs);
        for (const c of pollers.values()) await c.close().catch(() => undefined);
      },
    });

    // The other checkpoints (backfills, earlier tenants) for `status`; the pollers' own stores stay current.
    const allCheckpoints = new CheckpointStore(kafka, config.connectors['tencent-ccc']?.topics.checkpoints ?? config.connectors['tencent-trtc']?.topics.checkpoints ?? pollerCheckpointTopic(config));
    await allCheckpoints.load().catch((err: unknown) => log('warn', 'checkpoints.unreadable', { error: String(err) }));
    cleanups.push({ name: 'checkpoint reader', run: () => allCheckpoints.close() });

    // 5. Status: in-process counters + Kafka lag + ClickHouse, computed on demand.
    const sinkTable = config.sink.table;
    const readClickHouse = async () => totals(await clickhouseFigures(clickhouse, config.sink.database, sinkTable));
    metrics.registerClickHouseGauges(async () => {
      try {
        return (await readClickHouse()).byVendor;
      } catch {
        return undefined;
      }
    });

    const counter = async (stage: 'normalize' | 'sink') => {
      const value = async (c: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }) =>
        (await c.get()).values.find((v) => v.labels['stage'] === stage)?.value ?? 0;
      return { in: await value(metrics.recordsIn), out: await value(metrics.recordsOut), deadLettered: await value(metrics.deadLettered) };
    };

    const status = async (): Promise<StatusSnapshot> => {
      const now = Date.now();
      const intake: Partial<Record<Vendor, IntakeFigures>> = {};
      for (const [vendor, c] of pollers) intake[vendor] = { kind: 'poll', records: c.metrics.counts.records, errors: { ...c.metrics.counts.apiErrors } };
      if (receiver) {
        const published = (await receiver.metrics.recordsPublished.get()).values;
        const requests = (await receiver.metrics.requests.get()).values;
        for (const [route, vendor] of [['huawei-privatenumber', 'huawei-privatenumber'], ['alibaba-lvms', 'alibaba-lvms']] as const) {
          const rc = receiver.config;
          if (vendor === 'huawei-privatenumber' ? !rc.huawei : !rc.lvms) continue;
          const feeTopic = vendor === 'huawei-privatenumber' ? rc.huawei!.topics.fee : rc.lvms!.topic;
          const errors: Record<string, number> = {};
          for (const v of requests) {
            if (v.labels['route'] !== route || v.labels['outcome'] === 'accepted') continue;
            const code = `${String(v.labels['outcome'])}${v.labels['code'] ? `:${String(v.labels['code'])}` : ''}`;
            errors[code] = (errors[code] ?? 0) + v.value;
          }
          intake[vendor] = {
            kind: 'push',
            records: published.filter((v) => v.labels['route'] === route && v.labels['topic'] === feeTopic).reduce((s, v) => s + v.value, 0),
            errors,
          };
        }
      }
      const lagOf = async (group: string, topics: string[], transactional: boolean) => {
        try {
          return await stageLag(kafka, group, topics, transactional);
        } catch {
          return null;
        }
      };
      const [normalizeLag, sinkLag, ch, nCounts, sCounts] = await Promise.all([
        lagOf(config.normalize.groupId, config.normalize.inputTopics, false),
        lagOf(config.sink.groupId, [config.sink.inputTopic], true),
        readClickHouse().catch((err: unknown) => ({ error: (err as Error).message })),
        counter('normalize'),
        counter('sink'),
      ]);
      // Every store holds a copy of every checkpoint as of its own load; the newest save of each id wins.
      const checkpoints = new Map(allCheckpoints.entries());
      for (const c of pollers.values()) {
        for (const [id, cp] of c.store.entries()) {
          const seen = checkpoints.get(id);
          if (!seen || Date.parse(cp.updatedAt) > Date.parse(seen.updatedAt)) checkpoints.set(id, cp);
        }
      }
      const rows = checkpointRows([...checkpoints.entries()], now);
      for (const r of rows) {
        metrics.checkpointAge.set({ checkpoint: r.id }, r.ageSec);
        metrics.watermarkDelay.set({ checkpoint: r.id }, r.watermarkDelaySec);
      }
      if (normalizeLag !== null) metrics.lag.set({ group: config.normalize.groupId, topic: 'raw' }, normalizeLag);
      if (sinkLag !== null) metrics.lag.set({ group: config.sink.groupId, topic: config.sink.inputTopic }, sinkLag);
      return {
        at: new Date(now).toISOString(),
        source: 'running job',
        pid: process.pid,
        uptimeSec: Math.round((now - startedAt) / 1000),
        demo: options.demo,
        clickhouseTarget: describeTarget(target),
        components: { ...components },
        intake,
        normalize: { ...nCounts, lag: normalizeLag },
        sink: { ...sCounts, lag: sinkLag },
        clickhouse: ch,
        checkpoints: rows,
        ...(demo ? { demoTraffic: demo.stats() } : {}),
      };
    };

    late.status = status;
    metrics.refresh = async () => void (await status());

    if (demo && receiver) await demo.startPushTraffic(receiver.url);

    // Shutdown order is the reverse of start-up except that intake must stop before the stages drain: reorder.
    const order = ['demo traffic', 'pollers', 'receiver', 'simulator servers', 'checkpoint reader', 'normalize', 'sink', 'clickhouse', 'local infra'];
    /**
     * Intake has stopped: give normalize and the sink a bounded time to process what Kafka already holds, so a clean
     * stop leaves everything received in ClickHouse (what remains is picked up from the committed offsets next time).
     */
    const drain = async () => {
      const deadline = Date.now() + config.shutdown.drainTimeoutSec * 1000;
      let last: [number | null, number | null] = [null, null];
      while (Date.now() < deadline) {
        last = await Promise.all([
          stageLag(kafka, config.normalize.groupId, config.normalize.inputTopics, false).catch(() => null),
          stageLag(kafka, config.sink.groupId, [config.sink.inputTopic], true).catch(() => null),
        ]);
        if (last[0] === 0 && last[1] === 0) return say('drained: normalize and the sink caught up');
        await new Promise((r) => setTimeout(r, 250));
      }
      if (config.shutdown.drainTimeoutSec > 0) say(`not drained after ${config.shutdown.drainTimeoutSec}s (lag normalize ${String(last[0])}, sink ${String(last[1])}); the rest is processed on the next start`);
    };
    let stopping: Promise<void> | undefined;
    return {
      opsUrl,
      metrics,
      status,
      failed,
      stop() {
        stopping ??= (async () => {
          const byName = new Map(cleanups.map((c) => [c.name, c]));
          // The ops port stays up while draining so status keeps answering; it closes right before ClickHouse.
          for (const name of order) {
            if (name === 'checkpoint reader') await drain();
            if (name === 'clickhouse') await byName.get('ops server')?.run().catch(() => undefined);
            const step = byName.get(name);
            if (!step) continue;
            say(`stopping ${name}`);
            await step.run().catch((err: unknown) => log('warn', 'shutdown.step_failed', { step: name, error: String(err) }));
          }
          cleanups.length = 0;
        })();
        return stopping;
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

function pollerCheckpointTopic(config: AppConfig): string {
  return config.namespace ? `${config.namespace}.cdrflow.checkpoints` : 'cdrflow.checkpoints';
}

const RESTARTS_PER_WINDOW = 5;
const RESTART_WINDOW_MS = 10 * 60_000;

/**
 * Runs a stream stage and restarts it when it stops on a transient Kafka error (a broker that just started answers
 * "coordinator loading" for a while; a rebalance storm; a broker restart). The stage resumes from its committed
 * offsets, so a restart never loses or doubles a record. Anything else — or more than a few restarts in a row —
 * stops the job loudly.
 */
export async function superviseStage(
  name: string,
  launch: () => Promise<StreamHandle>,
  deps: { setState: (name: string, state: ComponentState) => void; fail: (name: string, err: unknown) => void; log: JobLog; initialDelayMs?: number },
): Promise<{ stop(): Promise<void> }> {
  const initialMs = deps.initialDelayMs ?? 1_000;
  let current: StreamHandle | undefined;
  let stopping = false;
  const restarts: number[] = [];
  // Consumer crashes arrive already classified (core/kafka-streams.ts), so the kind alone decides.
  const transientCause = (err: unknown): CdrflowError | undefined => {
    const e = asCdrflowError(err);
    return disposition(e) === 'retry' ? e : undefined;
  };
  const watch = (handle: StreamHandle) => {
    handle.done.then(
      () => {
        if (!stopping) deps.fail(name, new CdrflowError('bug', `the ${name} consumer ended by itself`));
      },
      (err: unknown) => {
        if (stopping) return;
        const transient = transientCause(err);
        const now = Date.now();
        while (restarts.length > 0 && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
        if (!transient || restarts.length >= RESTARTS_PER_WINDOW) return deps.fail(name, err);
        restarts.push(now);
        const delayMs = backoffDelay(restarts.length, { ...DEFAULT_BACKOFF, initialMs });
        deps.setState(name, 'starting');
        deps.log('warn', `${name}.restarting`, { error: transient.message, attempt: restarts.length, delayMs });
        setTimeout(() => {
          if (stopping) return;
          launch().then(
            (next) => {
              current = next;
              if (stopping) return void next.stop();
              deps.setState(name, 'running');
              watch(next);
            },
            (startErr: unknown) => deps.fail(name, startErr),
          );
        }, delayMs);
      },
    );
  };
  deps.setState(name, 'starting');
  // The first start meets the same fresh-broker errors: retry those a few times before giving up.
  for (let attempt = 1; ; attempt++) {
    try {
      current = await launch();
      break;
    } catch (err) {
      const transient = transientCause(err);
      if (!transient || attempt >= RESTARTS_PER_WINDOW) throw err;
      deps.log('warn', `${name}.start_retry`, { error: transient.message, attempt });
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, { ...DEFAULT_BACKOFF, initialMs })));
    }
  }
  deps.setState(name, 'running');
  watch(current);
  return {
    async stop() {
      stopping = true;
      deps.setState(name, 'stopping');
      await current?.stop();
      deps.setState(name, 'stopped');
    },
  };
}
