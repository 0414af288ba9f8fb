// Counters every pull connector keeps: a plain object (for the summary, tests and `status`) and, when a
// prom-client Registry is passed, the same numbers as Prometheus metrics (shared names, `connector` label).
import { Counter, Gauge, type Registry } from 'prom-client';

export interface PollerCounts {
  /** Records published to the raw topic. */
  records: number;
  /** Live re-reads skipped: the same content was already acknowledged by Kafka (see recent-keys.ts). */
  unchanged: number;
  pages: number;
  windows: number;
  retries: number;
  deadLetters: number;
  /** Vendor/API error codes seen (including ones later retried successfully). */
  apiErrors: Record<string, number>;
  /** Seconds of data that could not be read any more (behind the vendor's retention horizon). */
  gapSeconds: number;
}

type Labels = { connector: string; tenant: string; mode: string };

interface PromSet {
  records: Counter<'connector' | 'tenant' | 'mode'>;
  unchanged: Counter<'connector' | 'tenant'>;
  recentKeys: Gauge<'connector'>;
  pages: Counter<'connector' | 'tenant' | 'mode'>;
  windows: Counter<'connector' | 'tenant' | 'mode'>;
  retries: Counter<'connector' | 'code'>;
  apiErrors: Counter<'connector' | 'code'>;
  deadLetters: Counter<'connector' | 'tenant'>;
  gapSeconds: Counter<'connector' | 'tenant'>;
  watermark: Gauge<'connector' | 'tenant' | 'mode'>;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

function promSet(registry: Registry): PromSet {
  const r = [registry];
  return {
    records: metric(registry, 'cdrflow_poller_records_total', () => new Counter({ name: 'cdrflow_poller_records_total', help: 'Vendor records published to the raw topic (acked)', labelNames: ['connector', 'tenant', 'mode'], registers: r })),
    unchanged: metric(registry, 'cdrflow_poller_records_unchanged_total', () => new Counter({ name: 'cdrflow_poller_records_unchanged_total', help: 'Records re-read in live mode and not published again: same content already acked', labelNames: ['connector', 'tenant'], registers: r })),
    recentKeys: metric(registry, 'cdrflow_poller_recent_keys', () => new Gauge({ name: 'cdrflow_poller_recent_keys', help: 'Entries in the live poller cache of published (key, content hash)', labelNames: ['connector'], registers: r })),
    pages: metric(registry, 'cdrflow_poller_pages_total', () => new Counter({ name: 'cdrflow_poller_pages_total', help: 'API pages read', labelNames: ['connector', 'tenant', 'mode'], registers: r })),
    windows: metric(registry, 'cdrflow_poller_windows_total', () => new Counter({ name: 'cdrflow_poller_windows_total', help: 'Time windows completed (checkpoint moved)', labelNames: ['connector', 'tenant', 'mode'], registers: r })),
    retries: metric(registry, 'cdrflow_poller_retries_total', () => new Counter({ name: 'cdrflow_poller_retries_total', help: 'Requests retried after a retryable failure', labelNames: ['connector', 'code'], registers: r })),
    apiErrors: metric(registry, 'cdrflow_poller_api_errors_total', () => new Counter({ name: 'cdrflow_poller_api_errors_total', help: 'Vendor API failures by error code', labelNames: ['connector', 'code'], registers: r })),
    deadLetters: metric(registry, 'cdrflow_poller_dead_letters_total', () => new Counter({ name: 'cdrflow_poller_dead_letters_total', help: 'Vendor records sent to the DLQ (unusable, e.g. no natural key)', labelNames: ['connector', 'tenant'], registers: r })),
    gapSeconds: metric(registry, 'cdrflow_poller_gap_seconds_total', () => new Counter({ name: 'cdrflow_poller_gap_seconds_total', help: 'Seconds of vendor data lost behind the retention horizon', labelNames: ['connector', 'tenant'], registers: r })),
    watermark: metric(registry, 'cdrflow_poller_watermark_seconds', () => new Gauge({ name: 'cdrflow_poller_watermark_seconds', help: 'Checkpoint watermark (Unix seconds)', labelNames: ['connector', 'tenant', 'mode'], registers: r })),
  };
}

export class PollerMetrics {
  readonly counts: PollerCounts = { records: 0, unchanged: 0, pages: 0, windows: 0, retries: 0, deadLetters: 0, apiErrors: {}, gapSeconds: 0 };
  private readonly prom: PromSet | undefined;

  constructor(
    readonly connector: string,
    registry?: Registry,
  ) {
    this.prom = registry ? promSet(registry) : undefined;
  }

  page(l: Omit<Labels, 'connector'>, records: number): void {
    this.counts.pages++;
    this.counts.records += records;
    this.prom?.pages.inc({ connector: this.connector, ...l });
    if (records > 0) this.prom?.records.inc({ connector: this.connector, ...l }, records);
  }

  unchanged(tenant: string, records: number): void {
    if (records === 0) return;
    this.counts.unchanged += records;
    this.prom?.unchanged.inc({ connector: this.connector, tenant }, records);
  }

  recentKeys(entries: number): void {
    this.prom?.recentKeys.set({ connector: this.connector }, entries);
  }

  window(l: Omit<Labels, 'connector'>, watermarkSec: number): void {
    this.counts.windows++;
    this.prom?.windows.inc({ connector: this.connector, ...l });
    this.prom?.watermark.set({ connector: this.connector, ...l }, watermarkSec);
  }

  apiError(code: string): void {
    this.counts.apiErrors[code] = (this.counts.apiErrors[code] ?? 0) + 1;
    this.prom?.apiErrors.inc({ connector: this.connector, code });
  }

  retry(code: string): void {
    this.counts.retries++;
    this.prom?.retries.inc({ connector: this.connector, code });
  }

  deadLetter(tenant: string): void {
    this.counts.deadLetters++;
    this.prom?.deadLetters.inc({ connector: this.connector, tenant });
  }

  gap(tenant: string, seconds: number): void {
    this.counts.gapSeconds += seconds;
    this.prom?.gapSeconds.inc({ connector: this.connector, tenant }, seconds);
  }
}
