// The TRTC adapter for the shared poll machinery: one page = one get_records_by_filter call, key = callId,
// 7-day vendor retention (older checkpoints are reported as a gap by the poller).
import type { PullSource } from '../poller/source.ts';
import { TrtcApiClient } from './client.ts';
import type { TrtcConfig } from './config.ts';

export const TRTC_CONNECTOR = 'tencent-trtc-poller';
export const TRTC_RETENTION_SEC = 7 * 86_400;

export function createTrtcSource(config: TrtcConfig, now?: () => number): PullSource {
  const clients = new Map<string, TrtcApiClient>();
  for (const app of config.apps) {
    clients.set(
      String(app.sdkAppId),
      new TrtcApiClient({
        baseUrl: config.baseUrl,
        sdkAppId: app.sdkAppId,
        secretKey: app.secretKey,
        identifier: config.identifier,
        timeoutMs: config.timeoutMs,
        userSigValiditySec: config.userSigValiditySec,
        userSigRenewBeforeSec: config.userSigRenewBeforeSec,
        ...(now ? { now } : {}),
      }),
    );
  }
  return {
    vendor: 'tencent-trtc',
    connector: TRTC_CONNECTOR,
    tenants: [...clients.keys()],
    // Pages are 1-based ("defaults to the first page"); the doc's page semantics are otherwise unconfirmed.
    firstPage: 1,
    pageSize: config.pageSize,
    retentionSec: TRTC_RETENTION_SEC,
    async fetchPage(tenant, window, page, pageSize, signal) {
      const res = await clients.get(tenant)!.getRecordsByFilter({ startTimestamp: window.start, endTimestamp: window.end, page, numberPerPage: pageSize }, signal);
      return { total: res.totalNum, records: res.records, requestId: res.requestId };
    },
    naturalKey(record) {
      const id = (record as { callId?: unknown } | null)?.callId;
      return typeof id === 'string' && id !== '' ? id : undefined;
    },
  };
}
