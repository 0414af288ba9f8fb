// The main job: the pipeline of app/pipeline.ts (the stream stages, the push receiver, the pollers, in demo mode the
// simulated vendors' traffic) in one process, around the resources they share: the local servers when nothing
// external is configured, the Kafka / registry / ClickHouse clients and the ops port. Shutdown: the pipeline stops
// intake first, drains, stops the stages (app/runner.ts); then the ops port, ClickHouse, the simulators and only
// the local servers this process started.
import type { ClickHouseClient } from '@clickhouse/client';
import { createRegistry } from '../core/avro.ts';
import { CheckpointStore, polledLiveIds } from '../core/checkpoints.ts';
import { assertEngineFree, createClickHouse } from '../core/clickhouse.ts';
import { PORT_OFFSETS } from '../core/local-endpoints.ts';
import { CdrflowError, asCdrflowError } from '../core/errors.ts';
import { createKafka } from '../core/kafka.ts';
import { stageLagByTopic } from '../core/kafka-streams.ts';
import type { Log } from '../core/log.ts';
import { JOB_STARTING, startOpsServer } from '../core/ops-server.ts';
import { answerBudget, cancelledQuery, openReadOnlySql, type ReadOnlySql } from '../core/read-only-sql.ts';
import { type Vendor } from '../core/topology.ts';
import { ReceiverConfigSchema } from '../connectors/push-vendors.ts';
import { cccConfigSchema } from '../connectors/tencent-ccc/config.ts';
import { startReconcileService, type ReconcileService } from './reconcile-service.ts';
import { trtcConfigSchema } from '../connectors/tencent-trtc/config.ts';
import { zodIssues, type ConfigProblem } from '../core/zod-issues.ts';
import { checkpointTopicOf, ConfigError, describeTarget, endpoints, type AppConfig } from './config.ts';
import { ensureLocalInfra } from './infra.ts';
import { checkDataDir, checkReceiverPort } from './preflight.ts';
import { AppMetrics, type Stage } from './metrics.ts';
import { startDemoVendors, type DemoVendors } from './demo.ts';
import { pipeline, type IntakeSources, type StageCounts } from './pipeline.ts';
import { startPipeline } from './runner.ts';
import { checkpointRows, clickhouseFigures, totals, type IntakeFigures, type StatusSnapshot } from './status.ts';
import { StartCancelled, type ComponentState } from './supervise.ts';

export interface MainJobOptions {
  demo: boolean;
  log: Log;
  /** Human progress messages (stderr). */
  say: (msg: string) => void;
  /**
   * A stop asked for while starting (Ctrl-C): start-up ends at the next step (intake never starts), what was started
   * is released, and startMainJob rejects with StartCancelled.
   */
  cancel?: AbortSignal;
}

export interface MainJob {
  readonly opsUrl: string;
  readonly metrics: AppMetrics;
  status(): Promise<StatusSnapshot>;
  /** Settles when a component stops by itself (rejects with its error). */
  readonly failed: Promise<never>;
  stop(): Promise<void>;
}

/** How long the ClickHouse figures of /status and /metrics (one `cdr FINAL` query) are reused. */
export const CLICKHOUSE_FIGURES_TTL_MS = 10_000;

/**
 * `read`'s pending promise shared by every caller until it settles, and its result reused for `ttlMs` from the start of
 * the read (on the monotonic clock: a wall clock stepped back kept the figures for as long); a failure is not kept.
 */
export function cachedFor<T>(ttlMs: number, read: () => Promise<T>, now: () => number = () => performance.now()): () => Promise<T> {
  let kept: { at: number; value: Promise<T>; settled: boolean } | undefined;
  return () => {
    if (kept && (!kept.settled || now() - kept.at < ttlMs)) return kept.value;
    const value = read();
    const entry = { at: now(), value, settled: false };
    kept = entry;
    value.then(
      () => void (entry.settled = true),
      () => {
        if (kept === entry) kept = undefined;
      },
    );
    return value;
  };
}

/**
 * A stage's consumer lag for /status, /metrics and the drain: `read` (its lag per input topic) summed, `seen` told each
 * topic's; null when it fails or takes over `timeoutMs` (during an outage the lag is unknown: answer without it after
 * a moment instead of stalling the status line). A read under way is shared by every caller, as the ClickHouse
 * figures are: concurrent /metrics scrapes shared one refresh (AppMetrics.refreshOnce), but each /status request ran
 * reads of its own beside them, and during an outage a read that timed out stayed pending beside every later one.
 * Not reused once settled, so the drain's polls read afresh.
 */
export function stageLagReader(read: () => Promise<Record<string, number>>, seen: (topic: string, lag: number) => void, timeoutMs = 3_000): () => Promise<number | null> {
  const shared = cachedFor(0, read);
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const byTopic = await Promise.race([shared(), new Promise<null>((r) => (timer = setTimeout(() => r(null), timeoutMs)))]);
      if (byTopic === null) return null;
      for (const [topic, lag] of Object.entries(byTopic)) seen(topic, lag);
      return Object.values(byTopic).reduce((s, n) => s + n, 0);
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  };
}

export async function startMainJob(config: AppConfig, options: MainJobOptions): Promise<MainJob> {
  const { log, say } = options;
  const checkCancelled = (before: string) => {
    if (options.cancel?.aborted) throw new StartCancelled(`stopped during start-up, before ${before}`);
  };
  const startedAt = Date.now();
  const ends = endpoints(config);
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

  // The resources around the pipeline, released in reverse order (also when start-up fails half way).
  const resources: { name: string; release: () => Promise<void> }[] = [];
  const release = async () => {
    for (const r of resources.reverse()) {
      say(`stopping ${r.name}`);
      await r.release().catch((err: unknown) => log('warn', 'shutdown.step_failed', { step: r.name, error: String(err) }));
    }
    resources.length = 0;
  };

  // The ops port, until it joins the resources (below): it is bound before them, but must go first on release.
  let opsNotListed: { close(): Promise<void> } | undefined;
  try {
    // 0. The user's settings that can be checked before anything is started or created (local servers, topics, the
    // engine's files): the data directory, then the ports — the ops port bound for good, the receiver's tried.
    if (ends.clickhouse.kind === 'embedded') {
      checkDataDir(ends.clickhouse.dataDir);
      // Another job holding the engine is found here, not after the local Kafka and registry were started for
      // nothing (a second start on another port base booted both, ~11 s and 750 MB, then stopped them again).
      assertEngineFree(ends.clickhouse.dataDir);
    }
    // The ops port comes up first, so `cdrflow sql` / `status` ask this process (which is about to own the embedded
    // engine) while the rest starts, and a taken port is found before anything else starts; /readyz turns ready once
    // every component runs, /status says "starting" until then, and a query waits for the engine to open.
    const late: { status?: () => Promise<StatusSnapshot>; reconcile?: ReconcileService } = {};
    let sqlOpened!: (sql: ReadOnlySql) => void;
    const sqlSessions = new Promise<ReadOnlySql>((resolve) => (sqlOpened = resolve));
    const ops = await startOpsServer(
      ends.opsPort,
      {
        metrics: metrics.registry,
        readiness: () => ({ ready: late.status !== undefined && Object.values(components).every((s) => s === 'running'), components: { ...components } }),
        status: async () => (late.status ? late.status() : { starting: true, components: { ...components } }),
        query: async (sql, format, { signal, color }) => {
          const sessions = await sqlSessions;
          // A client that left while the engine was opening: cancelled (499), as one that leaves during its query.
          if (signal.aborted) throw cancelledQuery();
          return sessions.run(sql, format, { signal, color });
        },
        log: log.child('ops'),
        sqlAnswerBudget: answerBudget(config.ops.sql),
        sqlAnswered: (status) => metrics.sqlQueries.inc({ status: String(status) }),
        // Refused 503 until the reconcile service runs, as a stopping job refuses it (one line and exit 3 in the CLI).
        reconcileRefusal: () => (late.reconcile ? undefined : JOB_STARTING),
        reconcile: (body, write, signal) => late.reconcile!.handle(body, write, signal),
      },
      { setting: `ops.port (env CDRFLOW_OPS_PORT${config.ops.port === undefined ? `; default localInfra.portBase + ${PORT_OFFSETS.ops}` : ''})` },
    );
    opsNotListed = ops;
    const opsUrl = `http://127.0.0.1:${ops.port}`;
    // The demo runs a receiver of its own on a free port; a configured one must find its port free.
    if (!options.demo && config.receiver) await checkReceiverPort(config.receiver);

    // 1. Servers: the local stack when nothing external is configured.
    checkCancelled('the local servers');
    const infra = await ensureLocalInfra(config, say);
    if (infra.started.length > 0) resources.push({ name: 'local infra', release: () => infra.stop(say) });
    for (const s of infra.started) say(`started the local ${s.name} (PID ${s.pid}); it is stopped again on exit`);

    checkCancelled('ClickHouse');
    const kafka = createKafka(ends.kafka);
    // Released after every component that uses the client: its last second of limited warnings is summed up.
    resources.push({ name: 'kafka client', release: async () => kafka.closeLog() });
    const registry = createRegistry(ends.registryUrl);
    const clickhouse: ClickHouseClient = await createClickHouse(ends.clickhouse);
    resources.push({ name: 'clickhouse', release: () => clickhouse.close() });

    // User SQL runs in read-only engine sessions of its own, never on the sink's connection (core/read-only-sql.ts).
    // Released after the ops port (resources go in reverse), so no request is left without its sessions.
    const userSql = await openReadOnlySql(ends.clickhouse, config.ops.sql);
    resources.push({ name: 'sql sessions', release: () => userSql.close() });
    sqlOpened(userSql);
    metrics.registerSqlSessions(userSql);
    resources.push({ name: 'ops server', release: () => ops.close() });
    opsNotListed = undefined;

    // 2. Where intake reads: the configured vendors, or the demo's simulators (started before the pollers).
    let demo: DemoVendors | undefined;
    let sources: IntakeSources = { pull: config.connectors, receiver: config.receiver };
    checkCancelled('the pipeline');
    if (options.demo) {
      const d = await startDemoVendors(config, say);
      demo = d;
      resources.push({ name: 'simulator servers', release: () => d.close() });
      sources = { ...demoSources(d), demoPushTraffic: { start: (url) => d.startPushTraffic(url), stop: () => d.stopTraffic() } };
    }

    // 3. The pipeline, in its own order (stages, then intake).
    const parts = pipeline({ config, kafka, registry, clickhouse, metrics, log, say, setState, cancelStart: options.cancel }, sources);
    const running = await startPipeline(parts, { setState, fail, log, say }, options.cancel);

    // The other checkpoints (backfills, earlier tenants) for `status`; the pollers' own stores stay current.
    const allCheckpoints = new CheckpointStore(kafka, checkpointTopicOf(config));
    // Kafka may be away at start-up (an outage): then the next status asks again instead of showing none for good.
    let checkpointsLoaded = false;
    let checkpointsReload: Promise<void> | undefined;
    const loadCheckpoints = () =>
      allCheckpoints.load().then(
        () => void (checkpointsLoaded = true),
        (err: unknown) => log('warn', 'checkpoints.unreadable', { error: String(err) }),
      );
    await loadCheckpoints();
    resources.push({ name: 'checkpoint reader', release: () => allCheckpoints.close() });

    // 4. Status: the components' own figures + Kafka lag + ClickHouse, computed on demand.
    // cdr FINAL merges at read time. A scrape of /metrics reuses one result for CLICKHOUSE_FIGURES_TTL_MS (a
    // Prometheus scrape every 15 s must not cost one FINAL query each); /status, asked by a person or the status
    // line, reads it fresh so it agrees with a query run at the same moment; requests that arrive while one read is
    // under way share it (each ran one FINAL query on the sink's own engine session, queued before its inserts).
    const readClickHouseNow = cachedFor(0, async () => totals(await clickhouseFigures(clickhouse, config.sink.database, config.sink.table)));
    const readClickHouse = cachedFor(CLICKHOUSE_FIGURES_TTL_MS, readClickHouseNow);
    metrics.registerClickHouseGauges(async () => {
      try {
        return (await readClickHouse()).byVendor;
      } catch {
        return undefined;
      }
    });
    // Per topic for cdrflow_consumer_lag{group,topic}, summed per stage for the status.
    const lagReader = (group: string, topics: string[]) => stageLagReader(() => stageLagByTopic(kafka, group, topics), (topic, lag) => metrics.lag.set({ group, topic }, lag));
    const normalizeLag = lagReader(config.normalize.groupId, config.normalize.inputTopics);
    const sinkLag = lagReader(config.sink.groupId, [config.sink.inputTopic]);
    const loaderLag = lagReader(config.dlqLoader.groupId, [config.dlqLoader.inputTopic]);
    const statusWith = async (readFigures: typeof readClickHouseNow): Promise<StatusSnapshot> => {
      const now = Date.now();
      const intake: Partial<Record<Vendor, IntakeFigures>> = {};
      const zero = { in: 0, out: 0, deadLettered: 0, skipped: 0, alreadyStored: 0 };
      const stages: Record<Stage, StageCounts> = { normalize: { ...zero }, sink: { ...zero }, 'dlq-loader': { ...zero } };
      // Every store holds a copy of every checkpoint as of its own load; the newest save of each id wins.
      // In the background: during an outage the load waits for Kafka, and the status must not.
      if (!checkpointsLoaded) checkpointsReload ??= loadCheckpoints().finally(() => (checkpointsReload = undefined));
      const checkpoints = new Map(allCheckpoints.entries());
      for (const c of parts) {
        if (c.role === 'stage') {
          stages[c.stage] = c.stats();
          continue;
        }
        Object.assign(intake, await c.stats());
        for (const [id, cp] of c.checkpoints?.() ?? []) {
          const seen = checkpoints.get(id);
          if (!seen || Date.parse(cp.updatedAt) > Date.parse(seen.updatedAt)) checkpoints.set(id, cp);
        }
      }
      const [normalize, sink, loader, ch] = await Promise.all([
        normalizeLag(),
        sinkLag(),
        config.dlqLoader.enabled ? loaderLag() : null,
        readFigures().catch((err: unknown) => ({ error: (err as Error).message })),
      ]);
      const rows = checkpointRows([...checkpoints.entries()], now);
      const polled = parts.flatMap((c) => (c.role === 'intake' ? (c.connector?.() ?? []) : [])).map((p) => p.source);
      metrics.checkpointsRead(rows, polled);
      return {
        at: new Date(now).toISOString(),
        source: 'running job',
        pid: process.pid,
        uptimeSec: Math.round((now - startedAt) / 1000),
        demo: options.demo,
        clickhouseTarget: describeTarget(ends.clickhouse),
        components: { ...components },
        intake,
        normalize: { ...stages.normalize, lag: normalize },
        sink: { ...stages.sink, lag: sink },
        ...(config.dlqLoader.enabled ? { dlqLoader: { ...stages['dlq-loader'], lag: loader } } : {}),
        clickhouse: ch,
        checkpoints: rows,
        polledCheckpoints: polledLiveIds(polled),
        ...(demo ? { demoTraffic: demo.stats() } : {}),
      };
    };
    const status = () => statusWith(readClickHouseNow);
    late.status = status;
    // Reconcile through the running pollers (same client, same rate limit) and the job's own ClickHouse.
    const reconcile = startReconcileService(config, {
      kafka,
      registry,
      clickhouse,
      connectors: () => parts.flatMap((c) => (c.role === 'intake' ? (c.connector?.() ?? []) : [])),
      promRegistry: metrics.registry,
      demo: options.demo,
      say,
      log: log.child('reconcile'),
    });
    late.reconcile = reconcile;
    metrics.refresh = async () => void (await statusWith(readClickHouse));

    /**
     * Intake has stopped: give normalize and the sink a bounded time to process what Kafka already holds, so a clean
     * stop leaves everything received in ClickHouse (what remains is picked up from the committed offsets next time).
     */
    const drain = async () => {
      // On the monotonic clock: a wall clock stepped forward ended the drain at once, one stepped back left it to the hard deadline.
      const deadline = performance.now() + config.shutdown.drainTimeoutSec * 1000;
      const lags = () =>
        Promise.all([normalizeLag(), sinkLag(), config.dlqLoader.enabled ? loaderLag() : 0]);
      let last: (number | null)[] = [null, null, null];
      while (performance.now() < deadline) {
        last = await lags();
        if (last.every((n) => n === 0)) return say('drained: normalize, the sink and the dead-letter loader caught up');
        await new Promise((r) => setTimeout(r, 250));
      }
      if (config.shutdown.drainTimeoutSec > 0) say(`not drained after ${config.shutdown.drainTimeoutSec}s (lag normalize ${String(last[0])}, sink ${String(last[1])}, dlq-loader ${String(last[2])}); the rest is processed on the next start`);
    };
    let stopping: Promise<void> | undefined;
    return {
      opsUrl,
      metrics,
      status,
      failed,
      stop() {
        // The ops port stays up while the pipeline drains, so status keeps answering, but reads not ready and takes
        // no new reconcile run from now on; the resources go after it. A reconcile run ends first (bounded): its
        // repair re-feeds through the connectors the pipeline closes.
        ops.stopping();
        stopping ??= reconcile.stop().then(() => running.stop(drain)).then(release);
        return stopping;
      },
    };
  } catch (err) {
    await opsNotListed?.close().catch(() => undefined);
    await release();
    throw err;
  }
}

/** The demo's connector and receiver sections, validated like a user's (a problem is a ConfigError with its path). */
function demoSources(demo: DemoVendors): IntakeSources {
  const problems: ConfigProblem[] = [];
  const ccc = cccConfigSchema.safeParse(demo.connectors['tencent-ccc']);
  const trtc = trtcConfigSchema.safeParse(demo.connectors['tencent-trtc']);
  const rcv = ReceiverConfigSchema.safeParse(demo.receiver);
  if (!ccc.success) problems.push(...zodIssues(ccc.error, cccConfigSchema).map((p) => ({ ...p, path: `connectors.tencent-ccc.${p.path}` })));
  if (!trtc.success) problems.push(...zodIssues(trtc.error, trtcConfigSchema).map((p) => ({ ...p, path: `connectors.tencent-trtc.${p.path}` })));
  if (!rcv.success) problems.push(...zodIssues(rcv.error, ReceiverConfigSchema).map((p) => ({ ...p, path: `receiver.${p.path}` })));
  if (!ccc.success || !trtc.success || !rcv.success) throw new ConfigError(problems, 'demo configuration');
  return { pull: { 'tencent-ccc': ccc.data, 'tencent-trtc': trtc.data }, receiver: rcv.data };
}

