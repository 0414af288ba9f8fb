// Counters every pull connector keeps: a plain object (for the summary, tests and `status`) and, when a
// prom-client Registry is passed, the same numbers as Prometheus metrics (shared names, `vendor` label).
import { Counter, Gauge, type Registry } from 'prom-client';
import { BoundedLabels } from '../../core/metric-labels.ts';

export interface PollerCounts {
  /** Records published to the raw topic. */
  records: number;
  /** Live re-reads skipped: the same content was already acknowledged by Kafka (see recent-keys.ts). */
  unchanged: number;
  pages: number;
  windows: number;
  retries: number;
  deadLetters: number;
  /**
   * Vendor/API error codes seen (including ones later retried successfully): the first 40 distinct plain codes by
   * name, every other under `other` (core/metric-labels.ts), as in the metrics.
   */
  apiErrors: Record<string, number>;
  /** Seconds of data that could not be read any more (behind the vendor's retention horizon). */
  gapSeconds: number;
  /** Windows finished with fewer records read than the vendor's total said (see IncompleteReason). */
  incompleteWindows: number;
}

/**
 * Why a window was finished without its records matching the vendor's total (metric label → the log's words):
 * the total still differed from what the pages held after the bounded re-reads, or a full page held only records
 * already read in the window (the vendor repeats pages), or a span too short to halve had a total over what one read
 * holds (reader.ts, HARD_BOUND_FACTOR × maxWindowRecords) and the read stopped there.
 */
export const INCOMPLETE_REASON_TEXT = { total_mismatch: 'total never matched', pages_repeat: 'pages repeat', too_many_records: 'too many records' } as const;
export type IncompleteReason = keyof typeof INCOMPLETE_REASON_TEXT;

type Labels = { vendor: string; tenant: string; mode: string };

interface PromSet {
  records: Counter<'vendor' | 'tenant' | 'mode'>;
  unchanged: Counter<'vendor' | 'tenant'>;
  recentKeys: Gauge<'vendor'>;
  pages: Counter<'vendor' | 'tenant' | 'mode'>;
  windows: Counter<'vendor' | 'tenant' | 'mode'>;
  retries: Counter<'vendor' | 'code'>;
  apiErrors: Counter<'vendor' | 'code'>;
  deadLetters: Counter<'vendor' | 'tenant'>;
  gapSeconds: Counter<'vendor' | 'tenant'>;
  incompleteWindows: Counter<'vendor' | 'tenant' | 'reason'>;
  watermark: Gauge<'vendor' | 'tenant' | 'mode'>;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** The poller metrics' names, help and labels (also read by the metrics reference, app/metrics-reference.ts). */
export const POLLER_METRICS = {
  records: { name: 'cdrflow_poller_records_total', help: 'Vendor records published to the raw topic (acked)', labelNames: ['vendor', 'tenant', 'mode'] },
  unchanged: { name: 'cdrflow_poller_records_unchanged_total', help: 'Records re-read in live mode and not published again: same content already acked', labelNames: ['vendor', 'tenant'] },
  recentKeys: { name: 'cdrflow_poller_recent_keys', help: 'Entries in the live poller cache of published (key, content hash)', labelNames: ['vendor'] },
  pages: { name: 'cdrflow_poller_pages_total', help: 'API pages read', labelNames: ['vendor', 'tenant', 'mode'] },
  windows: { name: 'cdrflow_poller_windows_total', help: 'Time windows completed (checkpoint moved)', labelNames: ['vendor', 'tenant', 'mode'] },
  retries: { name: 'cdrflow_poller_retries_total', help: 'Requests retried after a retryable failure, by vendor error code (the first 40 distinct codes, then `other`)', labelNames: ['vendor', 'code'] },
  apiErrors: { name: 'cdrflow_poller_api_errors_total', help: 'Vendor API failures by error code (the first 40 distinct codes, then `other`)', labelNames: ['vendor', 'code'] },
  deadLetters: { name: 'cdrflow_poller_dead_letters_total', help: 'Vendor records sent to the DLQ (unusable, e.g. no natural key)', labelNames: ['vendor', 'tenant'] },
  gapSeconds: { name: 'cdrflow_poller_gap_seconds_total', help: 'Seconds of vendor data lost behind the retention horizon, each once by the live poller and once by each backfill range that reaches it, when its checkpoint records the loss', labelNames: ['vendor', 'tenant'] },
  incompleteWindows: {
    name: 'cdrflow_poller_windows_incomplete_total',
    help: "Windows finished (checkpoint moved) with fewer records read than the vendor's total said, after the bounded re-reads (reason total_mismatch), or ended by a page that repeats records already read (pages_repeat): the vendor's total or paging is wrong; or a span too short to halve read up to 20 × maxWindowRecords under a total over that (too_many_records) (log poller.window_incomplete)",
    labelNames: ['vendor', 'tenant', 'reason'],
  },
  watermark: { name: 'cdrflow_poller_watermark_timestamp_seconds', help: 'Checkpoint watermark: everything before it is in Kafka (Unix time, seconds)', labelNames: ['vendor', 'tenant', 'mode'] },
} as const;

function promSet(registry: Registry): PromSet {
  const r = [registry];
  const counter = (m: (typeof POLLER_METRICS)[keyof typeof POLLER_METRICS]) => metric(registry, m.name, () => new Counter({ ...m, labelNames: [...m.labelNames], registers: r }));
  const gauge = (m: (typeof POLLER_METRICS)[keyof typeof POLLER_METRICS]) => metric(registry, m.name, () => new Gauge({ ...m, labelNames: [...m.labelNames], registers: r }));
  const M = POLLER_METRICS;
  return {
    records: counter(M.records),
    unchanged: counter(M.unchanged),
    recentKeys: gauge(M.recentKeys),
    pages: counter(M.pages),
    windows: counter(M.windows),
    retries: counter(M.retries),
    apiErrors: counter(M.apiErrors),
    deadLetters: counter(M.deadLetters),
    gapSeconds: counter(M.gapSeconds),
    incompleteWindows: counter(M.incompleteWindows),
    watermark: gauge(M.watermark),
  } as PromSet;
}

export class PollerMetrics {
  readonly counts: PollerCounts = { records: 0, unchanged: 0, pages: 0, windows: 0, retries: 0, deadLetters: 0, apiErrors: {}, gapSeconds: 0, incompleteWindows: 0 };
  private readonly prom: PromSet | undefined;
  /** One admitted set for both code-labelled counters, so a code reads the same in each. */
  private readonly codes = new BoundedLabels();

  /**
   * `tenants`: the tenants this connector reads. Their live-mode counters start at 0, so a `rate()` or `increase()`
   * over them is defined before the first event (a series that appears only with its first increment hides it).
   */
  constructor(
    readonly vendor: string,
    registry?: Registry,
    tenants: readonly string[] = [],
  ) {
    this.prom = registry ? promSet(registry) : undefined;
    if (!this.prom) return;
    for (const tenant of tenants) {
      for (const c of [this.prom.records, this.prom.pages, this.prom.windows]) c.inc({ vendor, tenant, mode: 'live' }, 0);
      for (const c of [this.prom.unchanged, this.prom.deadLetters, this.prom.gapSeconds]) c.inc({ vendor, tenant }, 0);
      for (const reason of Object.keys(INCOMPLETE_REASON_TEXT)) this.prom.incompleteWindows.inc({ vendor, tenant, reason }, 0);
    }
  }

  page(l: Omit<Labels, 'vendor'>, records: number): void {
    this.counts.pages++;
    this.counts.records += records;
    this.prom?.pages.inc({ vendor: this.vendor, ...l });
    this.prom?.records.inc({ vendor: this.vendor, ...l }, records);
  }

  unchanged(tenant: string, records: number): void {
    if (records === 0) return;
    this.counts.unchanged += records;
    this.prom?.unchanged.inc({ vendor: this.vendor, tenant }, records);
  }

  recentKeys(entries: number): void {
    this.prom?.recentKeys.set({ vendor: this.vendor }, entries);
  }

  window(l: Omit<Labels, 'vendor'>, watermarkSec: number): void {
    this.counts.windows++;
    this.prom?.windows.inc({ vendor: this.vendor, ...l });
    this.prom?.watermark.set({ vendor: this.vendor, ...l }, watermarkSec);
  }

  apiError(vendorCode: string): void {
    const code = this.codes.of(vendorCode);
    this.counts.apiErrors[code] = (this.counts.apiErrors[code] ?? 0) + 1;
    this.prom?.apiErrors.inc({ vendor: this.vendor, code });
  }

  retry(vendorCode: string): void {
    this.counts.retries++;
    this.prom?.retries.inc({ vendor: this.vendor, code: this.codes.of(vendorCode) });
  }

  deadLetter(tenant: string): void {
    this.counts.deadLetters++;
    this.prom?.deadLetters.inc({ vendor: this.vendor, tenant });
  }

  incompleteWindow(tenant: string, reason: IncompleteReason): void {
    this.counts.incompleteWindows++;
    this.prom?.incompleteWindows.inc({ vendor: this.vendor, tenant, reason });
  }

  gap(tenant: string, seconds: number): void {
    this.counts.gapSeconds += seconds;
    this.prom?.gapSeconds.inc({ vendor: this.vendor, tenant }, seconds);
  }
}
