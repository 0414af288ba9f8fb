// What a vendor adapter gives the shared poll machinery: how to read one page of one window, and how to name records.
import type { Vendor } from '../../core/topology.ts';
import type { CdrflowError } from '../../core/errors.ts';
import type { LogFn } from '../../core/log.ts';
import type { PollerMetrics } from './metrics.ts';
import { isoOf, type TimeWindow } from './windows.ts';

export interface SourcePage {
  /** Records in this window (all pages), as the vendor reports it. */
  total: number;
  /** Parsed records of this page, one object each, in the vendor's order. */
  records: unknown[];
  requestId: string | null;
}

export interface PullSource {
  vendor: Vendor;
  /** Envelope `connector` field, e.g. tencent-ccc-poller. */
  connector: string;
  tenants: readonly string[];
  /** Page numbering of the API (CCC 0, TRTC 1). */
  firstPage: number;
  /** Largest page the API allows (and the one to ask for). */
  pageSize: number;
  /**
   * How far back the vendor serves data (TRTC keeps 7 days; CCC is queried at most 180 days back); older data cannot
   * be read and is reported as a gap.
   */
  retentionSec?: number;
  /** What limits `retentionSec`: what the vendor keeps (default), or how far back its query API reaches (CCC). */
  retentionLimit?: 'kept' | 'queryable';
  fetchPage(tenant: string, window: TimeWindow, page: number, pageSize: number, signal: AbortSignal): Promise<SourcePage>;
  /** Envelope attributes every record of this tenant carries (TRTC: the API version of the payload). */
  envelopeAttributes?(tenant: string): Record<string, string>;
  /** The record's natural key, or undefined when the record has none (it is dead-lettered). */
  naturalKey(record: unknown): string | undefined;
  /** Whether `err` means "page too large": the reader then asks for smaller pages (smallerPageSize). */
  pageTooLarge?(err: CdrflowError): boolean;
}

/**
 * The page size to ask for after "too large" at `size` (undefined: none is smaller): half of it, whether or not it
 * divides `size`. The reader asks for the page holding its next unread record and drops the records of that page
 * before it (read already), so a size need not divide the one before: a divisor would take a prime size (97, 7) down
 * to 1 and multiply the requests by that size.
 */
export function smallerPageSize(size: number): number | undefined {
  return size <= 1 ? undefined : Math.ceil(size / 2);
}

/**
 * Start reading this much inside the vendor's retention horizon, so a request built a moment before the vendor
 * evaluates it is not refused for being a second too old.
 */
export const HORIZON_SAFETY_SEC = 300;

/**
 * The oldest second a source can be asked for at `nowSec` (undefined: no limit), for every reader of a vendor: the
 * live poller, backfill and reconcile. Anything before it is a gap, named with horizonWords.
 */
export function horizonOf(source: Pick<PullSource, 'retentionSec'>, nowSec: number): number | undefined {
  return source.retentionSec === undefined ? undefined : nowSec - source.retentionSec + HORIZON_SAFETY_SEC;
}

/**
 * A loss behind the horizon, reported once the checkpoint that records it is saved (the live poller and backfill
 * alike): logged (`poller.data_lost`, error) and counted in the gap counter.
 */
export function reportDataLost(out: { metrics: PollerMetrics; log: LogFn }, tenant: string, part: TimeWindow, reason: string, checkpoint: string): void {
  const seconds = part.end - part.start;
  out.metrics.gap(tenant, seconds);
  out.log('error', 'poller.data_lost', { reason, tenant, lost_from: isoOf(part.start), lost_to: isoOf(part.end), lost_seconds: seconds, checkpoint });
}

/**
 * The words for a source's horizon in logs and summaries: `reason` ("tencent-trtc keeps only 7 days") and `older`,
 * the clause after a range ("is older than tencent-trtc keeps (7 days)").
 */
export function horizonWords(source: Pick<PullSource, 'vendor' | 'retentionSec' | 'retentionLimit'>): { reason: string; older: string } {
  const days = Math.round((source.retentionSec ?? 0) / 86400);
  return source.retentionLimit === 'queryable'
    ? { reason: `${source.vendor} can be queried only ${days} days back`, older: `is further back than ${source.vendor} can be queried (${days} days)` }
    : { reason: `${source.vendor} keeps only ${days} days`, older: `is older than ${source.vendor} keeps (${days} days)` };
}
