// The main job's pipeline as data: every component `cdrflow start` runs, in start order, each with its role.
//   stage   the stream stages (the sink first: it migrates the tables; the dead-letter loader; then normalize)
//   intake  what brings records into Kafka (the push receiver, the pollers, the demo's push traffic)
// app/runner.ts starts this list in order and stops it intake first (newest first), then drains, then the stages.
// Stages report typed commit events (records, dead-lettered) that the metrics and the status read.
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '../core/avro.ts';
import type { Checkpoint } from '../core/checkpoints.ts';
import type { Kafka } from '../core/kafka.ts';
import { recordsOut, type CommittedCounts, type StreamHandle } from '../core/kafka-streams.ts';
import type { Log } from '../core/log.ts';
import type { Vendor } from '../core/topology.ts';
import { createCccConnector } from '../connectors/tencent-ccc/index.ts';
import { createTrtcConnector } from '../connectors/tencent-trtc/index.ts';
import type { PullConnector } from '../connectors/poller/runtime.ts';
import type { CycleOutcome } from '../connectors/poller/live.ts';
import { startReceiver, type ReceiverConfig } from '../connectors/push-vendors.ts';
import type { RunningReceiver } from '../connectors/receiver/index.ts';
import type { CccConfig } from '../connectors/tencent-ccc/config.ts';
import type { TrtcConfig } from '../connectors/tencent-trtc/config.ts';
import { startClickHouseSink, startDlqLoader } from '../sinks/clickhouse/index.ts';
import type { AppConfig } from './config.ts';
import { startNormalizeStage } from './normalize-workers.ts';
import type { AppMetrics, Stage } from './metrics.ts';
import type { IntakeFigures } from './status.ts';
import { superviseStage, type ComponentState } from './supervise.ts';
import { retry } from '../core/backoff.ts';

export interface StageCounts {
  in: number;
  out: number;
  deadLettered: number;
  /** dlq-loader: dead letters it could not load (logged and dropped, never dead-lettered again). */
  skipped: number;
  /** dlq-loader: dead letters read again after a crash that the table already held (committed, not loaded twice). */
  alreadyStored: number;
}

interface ComponentBase {
  readonly name: string;
  /** Starts it; `fail` reports a later stop by itself with an error the component could not ride out. */
  start(fail: (err: unknown) => void): Promise<void>;
  /** Stops it cleanly (intake: no new records, in-flight ones answered; stage: finish, flush, commit). */
  stop(): Promise<void>;
}

export interface StageComponent extends ComponentBase {
  readonly role: 'stage';
  readonly stage: Stage;
  stats(): StageCounts;
}

export interface IntakeComponent extends ComponentBase {
  readonly role: 'intake';
  /** Per vendor: what this component put on the raw topics and what it refused or failed on. */
  stats(): Promise<Partial<Record<Vendor, IntakeFigures>>>;
  /** A poller's own checkpoints, the freshest copy of them in this process. */
  checkpoints?(): Iterable<[string, Checkpoint]>;
  /** A poller's connector once started (reconcile reads the vendor API through it: same client, same rate limit). */
  connector?(): PullConnector[];
}

export type Component = StageComponent | IntakeComponent;

/** What the components share: the clients, the metrics, the logger and the state board. */
export interface PipelineContext {
  config: AppConfig;
  kafka: Kafka;
  registry: SchemaRegistry;
  clickhouse: ClickHouseClient;
  metrics: AppMetrics;
  log: Log;
  /** Human progress messages (stderr). */
  say(msg: string): void;
  setState(name: string, state: ComponentState): void;
  /**
   * A stop asked for during start-up: the stage now starting makes no further attempt (superviseStage's cancelStart),
   * so a start that Kafka or ClickHouse keeps refusing ends at once instead of after the first start's minute.
   */
  cancelStart?: AbortSignal | undefined;
}

/** Where the intake reads from: the configured vendors, or the demo's simulators. */
export interface IntakeSources {
  pull: { 'tencent-ccc'?: CccConfig | undefined; 'tencent-trtc'?: TrtcConfig | undefined };
  receiver: ReceiverConfig | undefined;
  /** Demo: starts the simulated vendors' pushes against the running receiver; returns how to stop them. */
  demoPushTraffic?: { start(receiverUrl: string): Promise<void>; stop(): Promise<void> };
}

/** Start-up steps outside the supervised stages retry transient errors for about a minute. */
const START_RETRY = { initialMs: 500, maxMs: 10_000, maxAttempts: 10 };

/** The pipeline of the main job, in start order. */
export function pipeline(ctx: PipelineContext, sources: IntakeSources): Component[] {
  const receiver = sources.receiver ? receiverIntake(ctx, sources.receiver) : undefined;
  const pollers = (['tencent-ccc', 'tencent-trtc'] as const).flatMap((vendor) => {
    const section = sources.pull[vendor];
    return section ? [pollerIntake(ctx, vendor, section)] : [];
  });
  return [
    streamStage(ctx, 'sink', (onCommitted) =>
      startClickHouseSink(ctx.config.sink, {
        kafka: ctx.kafka,
        registry: ctx.registry,
        clickhouse: ctx.metrics.timedInserts(ctx.clickhouse),
        log: ctx.log.child('sink'),
        onCommitted,
        onInserted: (cdrs) => ctx.metrics.observeInserted(cdrs),
        renderThreadNice: ctx.config.workerThreads.nice,
      }),
    ),
    ...(ctx.config.dlqLoader.enabled
      ? [
          // The sink, started before it, has migrated the tables.
          streamStage(ctx, 'dlq-loader', (onCommitted) =>
            startDlqLoader(ctx.config.dlqLoader, { ...ctx.config.sink, migrate: false }, { kafka: ctx.kafka, registry: ctx.registry, clickhouse: ctx.clickhouse, piiKey: ctx.config.normalize.mapping.piiKey, log: ctx.log.child('dlq-loader'), onCommitted }),
          ),
        ]
      : []),
    streamStage(ctx, 'normalize', (onCommitted) =>
      startNormalizeStage(ctx.config, { log: ctx.log.child('normalize'), onCommitted }),
    ),
    ...(receiver ? [receiver.component] : []),
    ...pollers,
    ...(receiver && sources.demoPushTraffic ? [demoTraffic(sources.demoPushTraffic, () => receiver.running())] : []),
  ];
}

/** A supervised stream stage whose commit events feed its counters and the stage metrics. */
function streamStage(ctx: PipelineContext, stage: Stage, launch: (onCommitted: (c: CommittedCounts) => void) => Promise<StreamHandle>): StageComponent {
  const counts: StageCounts = { in: 0, out: 0, deadLettered: 0, skipped: 0, alreadyStored: 0 };
  const onCommitted = (c: CommittedCounts) => {
    counts.in += c.records;
    counts.out += recordsOut(c);
    counts.deadLettered += c.deadLettered;
    counts.skipped += c.skipped ?? 0;
    counts.alreadyStored += c.alreadyStored ?? 0;
    ctx.metrics.stageCommitted(stage, c);
  };
  let supervised: { stop(): Promise<void> } | undefined;
  return {
    name: stage,
    role: 'stage',
    stage,
    async start(fail) {
      supervised = await superviseStage(stage, () => launch(onCommitted), {
        setState: ctx.setState,
        fail: (_name, err) => fail(err),
        log: ctx.log.child(stage),
        onRestart: (name, err) => ctx.metrics.restarted(name, err.code ?? err.kind),
        cancelStart: ctx.cancelStart,
      });
    },
    stop: async () => supervised?.stop(),
    stats: () => ({ ...counts }),
  };
}

function receiverIntake(ctx: PipelineContext, config: ReceiverConfig): { component: IntakeComponent; running(): RunningReceiver } {
  let receiver: RunningReceiver | undefined;
  const component: IntakeComponent = {
    name: 'receiver',
    role: 'intake',
    async start() {
      // Transient start errors (topics not served yet) are retried; a port in use is a config error and is not.
      receiver = await retry(
        () =>
          startReceiver(config, {
            kafka: { client: ctx.kafka, schemaRegistry: ctx.registry },
            registry: ctx.metrics.registry,
            log: ctx.log.child('receiver'),
          }),
        START_RETRY,
      );
      ctx.say(`receiver listening on ${receiver.url}`);
    },
    stop: async () => receiver?.stop(),
    async stats() {
      if (!receiver) return {};
      const published = (await receiver.metrics.recordsPublished.get()).values;
      const requests = (await receiver.metrics.requests.get()).values;
      const figures: Partial<Record<Vendor, IntakeFigures>> = {};
      const routes = [
        ['huawei-privatenumber', config.huawei?.topics.fee],
        ['alibaba-lvms', config.lvms?.topic],
      ] as const;
      for (const [vendor, feeTopic] of routes) {
        if (feeTopic === undefined) continue;
        const errors: Record<string, number> = {};
        for (const v of requests) {
          if (v.labels['vendor'] !== vendor || v.labels['outcome'] === 'accepted') continue;
          const code = `${String(v.labels['outcome'])}${v.labels['code'] ? `:${String(v.labels['code'])}` : ''}`;
          errors[code] = (errors[code] ?? 0) + v.value;
        }
        const records = published.filter((v) => v.labels['vendor'] === vendor && v.labels['topic'] === feeTopic).reduce((s, v) => s + v.value, 0);
        figures[vendor] = { kind: 'push', records, errors };
      }
      return figures;
    },
  };
  return {
    component,
    running: () => {
      if (!receiver) throw new Error('the receiver has not started');
      return receiver;
    },
  };
}

/** A poller runs until aborted; its run promise failing means it stopped on an error it could not ride out. */
function pollerIntake(ctx: PipelineContext, vendor: 'tencent-ccc' | 'tencent-trtc', section: CccConfig | TrtcConfig): IntakeComponent {
  let connector: PullConnector | undefined;
  const abort = new AbortController();
  let run: Promise<void> | undefined;
  return {
    name: vendor,
    role: 'intake',
    async start(fail) {
      const deps = { kafka: ctx.kafka, registry: ctx.registry, promRegistry: ctx.metrics.registry, log: ctx.log.child(vendor) };
      const c = vendor === 'tencent-ccc' ? createCccConnector(section, deps) : createTrtcConnector(section, deps);
      // A broker that just started (or restarted) answers "not served yet" for a moment: transient, retried.
      await retry(() => c.start(), START_RETRY);
      connector = c;
      // A cycle that fails on an error it retries (vendor API or Kafka away) makes the job not ready until one
      // catches up again, so /readyz and the status line say why intake waits.
      const onCycle = (outcome: CycleOutcome) => ctx.setState(vendor, outcome.ok ? 'running' : `waiting: ${outcome.code} (${outcome.error.slice(0, 120)})`);
      run = c.run(abort.signal, onCycle).then(
        () => ctx.setState(vendor, 'stopped'),
        (err: unknown) => fail(err),
      );
    },
    async stop() {
      abort.abort(new Error('shutdown requested'));
      await run;
      await connector?.close().catch(() => undefined);
    },
    async stats() {
      if (!connector) return {};
      return { [vendor]: { kind: 'poll', records: connector.metrics.counts.records, errors: { ...connector.metrics.counts.apiErrors } } };
    },
    checkpoints: () => connector?.store.entries() ?? [],
    connector: () => (connector ? [connector] : []),
  };
}

/** The demo's simulated push vendors, as intake: started once the receiver listens, stopped first. */
function demoTraffic(traffic: NonNullable<IntakeSources['demoPushTraffic']>, receiver: () => RunningReceiver): IntakeComponent {
  return {
    name: 'demo traffic',
    role: 'intake',
    start: () => traffic.start(receiver().url),
    stop: () => traffic.stop(),
    stats: async () => ({}),
  };
}
