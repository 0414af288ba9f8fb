// Wires a vendor adapter to Kafka: shared token bucket, record sink, checkpoint store, metrics. The result runs
// in-process (`runOnce`, `run(signal)`, `backfill`) so the main job, the CLI and tests all use the same object.
import type { Registry } from 'prom-client';
import type { SchemaRegistry } from '../../core/avro.ts';
import { AckedPublisher, ensureTopics, type Kafka } from '../../core/kafka.ts';
import { CheckpointStore, checkpointIds } from '../../core/checkpoints.ts';
import { TokenBucket } from '../../core/token-bucket.ts';
import { CdrflowError } from '../../core/errors.ts';
import { DEFAULT_PARTITIONS } from '../../core/topology.ts';
import type { PullSource } from './source.ts';
import { KafkaRecordSink, type RecordSink } from './publisher.ts';
import { PollerMetrics } from './metrics.ts';
import { LivePoller, type CycleOutcome, type LiveSettings, type RunOnceResult } from './live.ts';
import { runBackfill, type BackfillRequest, type BackfillSummary } from './backfill.ts';
import { acquireBackfillLock, BACKFILL_LOCK_DIR } from './backfill-lock.ts';
import { logger, type LogFn } from '../../core/log.ts';
import { readWindow, type PollContext, type WindowResult } from './reader.ts';
import type { TimeWindow } from './windows.ts';
import type { BackoffOptions } from '../../core/backoff.ts';
import type { RecentKeys } from './recent-keys.ts';

export interface PullConnectorSettings extends LiveSettings {
  requestsPerSecond: number;
  retry: { initialMs: number; maxMs: number; maxAttempts: number };
  topics: { raw: string; checkpoints: string; deadLetter: string };
  /** Most records one window's read goes to (reader.ts; default DEFAULT_MAX_WINDOW_RECORDS). */
  maxWindowRecords?: number;
}

export interface PullConnectorDeps {
  kafka: Kafka;
  registry: SchemaRegistry;
  /** Pass the host's registry to expose the poller metrics on /metrics. */
  promRegistry?: Registry;
  log?: LogFn;
  /** ms clock (tests). */
  now?: () => number;
  /** Replace the Kafka sink (tests of failure paths). */
  sink?: RecordSink;
  /** Where backfills take their per-range lock (backfill-lock.ts); default .data/backfill-locks. */
  backfillLockDir?: string;
}

export class PullConnector {
  readonly metrics: PollerMetrics;
  readonly store: CheckpointStore;
  private readonly publisher: AckedPublisher;
  private readonly ctx: Omit<PollContext, 'signal' | 'mode'>;
  private readonly live: LivePoller;
  private started = false;

  constructor(
    readonly source: PullSource,
    private readonly settings: PullConnectorSettings,
    private readonly deps: PullConnectorDeps,
  ) {
    this.metrics = new PollerMetrics(source.vendor, deps.promRegistry, source.tenants);
    this.publisher = new AckedPublisher(deps.kafka);
    this.store = new CheckpointStore(deps.kafka, settings.topics.checkpoints, this.publisher);
    this.ctx = {
      source,
      sink: deps.sink ?? new KafkaRecordSink(deps.registry, this.publisher),
      bucket: new TokenBucket({ ratePerSecond: settings.requestsPerSecond }),
      metrics: this.metrics,
      log: deps.log ?? logger(source.connector),
      topics: { raw: settings.topics.raw, deadLetter: settings.topics.deadLetter },
      retry: { ...settings.retry, factor: 2 },
      now: deps.now ?? Date.now,
      maxWindowRecords: settings.maxWindowRecords,
    };
    this.live = new LivePoller(this.ctx, this.store, settings);
  }

  /** Creates missing topics, connects the producer and loads checkpoints. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return;
    await ensureTopics(this.deps.kafka, [
      { topic: this.settings.topics.raw, partitions: DEFAULT_PARTITIONS },
      { topic: this.settings.topics.deadLetter, partitions: DEFAULT_PARTITIONS },
    ]);
    await this.publisher.connect();
    await this.store.load();
    for (const { id, problem } of this.store.skipped) this.ctx.log('error', 'checkpoint.skipped', { topic: this.store.topic, id, problem });
    this.started = true;
  }

  async runOnce(signal?: AbortSignal): Promise<RunOnceResult> {
    await this.start();
    return this.live.runOnce(signal);
  }

  async run(signal: AbortSignal, onCycle?: (outcome: CycleOutcome) => void): Promise<void> {
    await this.start();
    return this.live.run(signal, onCycle);
  }

  /**
   * A backfill of one range, holding that range's lock on this machine (backfill-lock.ts) from before Kafka is asked:
   * a range another live process is backfilling is refused with BackfillBusy. `by` names this run in the message a
   * second one gets, e.g. `cdrflow backfill`.
   */
  async backfill(req: BackfillRequest, signal: AbortSignal = new AbortController().signal, by = 'cdrflow'): Promise<BackfillSummary> {
    const release = acquireBackfillLock(this.deps.backfillLockDir ?? BACKFILL_LOCK_DIR, checkpointIds.backfill(this.source.vendor, req.tenant, req.from, req.to), by);
    try {
      await this.start();
      // The connector's own settle time, longest call and lookback unless the caller gives them (reconcile's repair does not).
      return await runBackfill({ ...this.ctx, signal }, this.store, { settleSec: this.settings.settleSec, maxCallSec: this.settings.maxCallSec, lookbackSec: this.settings.lookbackSec, ...req });
    } finally {
      release();
    }
  }

  /**
   * Reads one window with this connector's client, token bucket (shared with the live poller, so the vendor's rate
   * limit holds for both) and retry policy, handing the records to `sink` instead of Kafka: `cdrflow reconcile`
   * counts what the vendor serves without publishing. Its own counters, so the poller's figures do not move.
   */
  survey(tenant: string, window: TimeWindow, sink: RecordSink, signal: AbortSignal, retry?: Partial<BackoffOptions>): Promise<WindowResult> {
    if (!this.source.tenants.includes(tenant)) throw new CdrflowError('config', `tenant ${tenant} is not configured for ${this.source.vendor}`);
    const ctx: PollContext = {
      ...this.ctx,
      sink,
      signal,
      mode: 'backfill',
      recentKeys: undefined,
      metrics: new PollerMetrics(this.source.connector),
      retry: { ...this.ctx.retry, ...retry },
    };
    return readWindow(ctx, tenant, window);
  }

  /** The live poller's cache of published (key, content hash); undefined when turned off. */
  get recentKeys(): RecentKeys | undefined {
    return this.live.recentKeys;
  }

  async close(): Promise<void> {
    this.ctx.sink.close?.();
    await this.publisher.disconnect();
  }
}
