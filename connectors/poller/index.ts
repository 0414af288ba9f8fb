// Shared machinery of the pull connectors (Tencent CCC, Tencent TRTC): time windows with lookback, paged reading
// under one token bucket, retries, checkpoints on Kafka, live loop (re-reads publish only new or changed records)
// and resumable backfill, metrics.
export { PullConnector, type PullConnectorDeps, type PullConnectorSettings } from './runtime.ts';
export { nextLiveWindow, backfillWindows, type TimeWindow } from './windows.ts';
export { PollerMetrics, type PollerCounts } from './metrics.ts';
export type { PullSource, SourcePage } from './source.ts';
export type { BackfillRequest, BackfillSummary } from './backfill.ts';
export { PollStopped } from './reader.ts';
export { RecentKeys, payloadHash } from './recent-keys.ts';
