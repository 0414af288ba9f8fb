// The main job's own Prometheus metrics, beside the ones the components register themselves (poller, receiver):
// records in / out / dead-lettered per stage, batch sizes, insert latency, consumer lag, checkpoint age and what
// ClickHouse holds. Counters move on the stages' commit events, so they count only what is durable.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ClickHouseClient } from '@clickhouse/client';

export type Stage = 'normalize' | 'sink';

export class AppMetrics {
  readonly registry = new Registry();
  readonly recordsIn = new Counter({ name: 'cdrflow_stage_records_in_total', help: 'Records a stage consumed and committed', labelNames: ['stage'] as const, registers: [this.registry] });
  readonly recordsOut = new Counter({ name: 'cdrflow_stage_records_out_total', help: 'Records a stage wrote downstream (normalize: cdr.normalized; sink: ClickHouse rows)', labelNames: ['stage'] as const, registers: [this.registry] });
  readonly deadLettered = new Counter({ name: 'cdrflow_stage_dead_lettered_total', help: 'Records a stage sent to the dead-letter topic', labelNames: ['stage'] as const, registers: [this.registry] });
  readonly recordFailures = new Counter({
    name: 'cdrflow_normalize_record_failures_total',
    help: 'Records normalize dead-lettered because handling them threw (decode, mapping, encode); the stage went on',
    registers: [this.registry],
  });
  readonly contractViolations = new Counter({
    name: 'cdrflow_normalize_contract_violations_total',
    help: 'Records the mapping produced outside cdr-normalized.avsc (a mapping bug): dead-lettered, alert when it moves',
    registers: [this.registry],
  });
  readonly batchRecords = new Histogram({
    name: 'cdrflow_stage_batch_records',
    help: 'Records per committed unit (normalize: Kafka transaction; sink: ClickHouse insert range)',
    labelNames: ['stage'] as const,
    buckets: [1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000],
    registers: [this.registry],
  });
  readonly insertSeconds = new Histogram({
    name: 'cdrflow_clickhouse_insert_duration_seconds',
    help: 'Duration of one ClickHouse insert call by the sink (acknowledged or failed)',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  /**
   * Lag and checkpoint gauges are computed at scrape time by the job (`refresh`), so /metrics is current even when
   * no status line runs; one refresh serves every gauge of a scrape.
   */
  refresh: (() => Promise<void>) | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly refreshOnce = async () => {
    if (!this.refresh) return;
    this.refreshing ??= this.refresh()
      .catch(() => undefined)
      .finally(() => setTimeout(() => (this.refreshing = undefined), 0));
    await this.refreshing;
  };
  readonly lag = new Gauge({ name: 'cdrflow_consumer_lag', help: 'Messages between a consumer group\'s committed offset and the log end, per topic', labelNames: ['group', 'topic'] as const, registers: [this.registry], collect: () => this.refreshOnce() });
  readonly checkpointAge = new Gauge({ name: 'cdrflow_checkpoint_age_seconds', help: 'Seconds since a connector checkpoint was last saved', labelNames: ['checkpoint'] as const, registers: [this.registry], collect: () => this.refreshOnce() });
  readonly watermarkDelay = new Gauge({ name: 'cdrflow_checkpoint_watermark_delay_seconds', help: 'Seconds between now and a checkpoint\'s watermark (everything before it is in Kafka)', labelNames: ['checkpoint'] as const, registers: [this.registry], collect: () => this.refreshOnce() });
  readonly restarts = new Counter({ name: 'cdrflow_component_restarts_total', help: 'Restarts of a component after a transient error (outage, rebalance), by error code', labelNames: ['component', 'code'] as const, registers: [this.registry] });
  readonly componentUp = new Gauge({ name: 'cdrflow_component_up', help: '1 while a component runs, 0 once it stopped', labelNames: ['component'] as const, registers: [this.registry] });

  /** A stage committed: its records in, out (not dead-lettered) and dead-lettered, and the size of the unit. */
  stageCommitted(stage: Stage, c: { records: number; deadLettered: number; recordFailures?: number; contractViolations?: number }): void {
    this.recordsIn.inc({ stage }, c.records);
    this.recordsOut.inc({ stage }, c.records - c.deadLettered);
    if (c.deadLettered > 0) this.deadLettered.inc({ stage }, c.deadLettered);
    if (c.recordFailures) this.recordFailures.inc(c.recordFailures);
    if (c.contractViolations) this.contractViolations.inc(c.contractViolations);
    this.batchRecords.observe({ stage }, c.records);
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'cdrflow_process_' });
  }

  /**
   * ClickHouse figures computed at scrape time (not cached), so /metrics agrees with a query run at the same moment.
   * `read` returns undefined when ClickHouse cannot answer; the gauges then keep no sample.
   */
  registerClickHouseGauges(read: () => Promise<{ vendor: string; cdrs: number; billableMinutes: number }[] | undefined>): void {
    let pending: Promise<{ vendor: string; cdrs: number; billableMinutes: number }[] | undefined> | undefined;
    // Both gauges are collected in one scrape: share one query between them.
    const once = () => {
      pending ??= read().finally(() => setTimeout(() => (pending = undefined), 0));
      return pending;
    };
    new Gauge({
      name: 'cdrflow_clickhouse_cdrs',
      help: 'Distinct CDRs in ClickHouse (cdr FINAL), per vendor',
      labelNames: ['vendor'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const r of (await once()) ?? []) this.set({ vendor: r.vendor }, r.cdrs);
      },
    });
    new Gauge({
      name: 'cdrflow_clickhouse_billable_minutes',
      help: 'Sum of billable minutes in ClickHouse (cdr FINAL), per vendor',
      labelNames: ['vendor'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const r of (await once()) ?? []) this.set({ vendor: r.vendor }, r.billableMinutes);
      },
    });
  }

  /** Times every insert the sink makes through this client; everything else passes through untouched. */
  timedInserts(client: ClickHouseClient): ClickHouseClient {
    const histogram = this.insertSeconds;
    return new Proxy(client, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'insert' || typeof value !== 'function') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        return async (...args: unknown[]) => {
          const end = histogram.startTimer();
          try {
            const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            end({ outcome: 'ok' });
            return result;
          } catch (err) {
            end({ outcome: 'error' });
            throw err;
          }
        };
      },
    });
  }
}
