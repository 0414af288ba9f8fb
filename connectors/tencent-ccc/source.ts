// The CCC adapter for the shared poll machinery: one page = one DescribeProtectedTelCdr call, key = SessionId,
// 180 days reachable (assumed from DescribeTelCdr: older checkpoints and backfill ranges are reported as a gap).
import type { PullSource } from '../poller/source.ts';
import { CccApiClient } from './client.ts';
import { ANSWER_TOO_LARGE } from '../poller/vendor-answer.ts';
import { CCC_RETENTION_SEC, cccTenants, type CccConfig } from './config.ts';

export const CCC_CONNECTOR = 'tencent-ccc-poller';

export function createCccSource(config: CccConfig, client?: CccApiClient): PullSource {
  const api =
    client ??
    new CccApiClient({
      secretId: config.secretId,
      secretKey: config.secretKey,
      token: config.token,
      endpoint: config.endpoint,
      protocol: config.protocol,
      connectAddress: config.connectAddress,
      timeoutMs: config.timeoutMs,
    });
  return {
    vendor: 'tencent-ccc',
    connector: CCC_CONNECTOR,
    tenants: cccTenants(config),
    firstPage: 0,
    pageSize: config.pageSize,
    // A start older than this is refused by the vendor (a config error that would stop every run): the poller starts
    // at the horizon instead and reports what lies before it as lost, as for TRTC's 7 days.
    retentionSec: CCC_RETENTION_SEC,
    retentionLimit: 'queryable',
    async fetchPage(tenant, window, page, pageSize, signal) {
      const res = await api.describeProtectedTelCdr(
        { sdkAppId: Number(tenant), startTimeStamp: window.start, endTimeStamp: window.end, pageSize, pageNumber: page },
        signal,
      );
      return { total: res.totalCount, records: res.records, requestId: res.requestId };
    },
    naturalKey(record) {
      const id = (record as { SessionId?: unknown } | null)?.SessionId;
      return typeof id === 'string' && id !== '' ? id : undefined;
    },
    pageTooLarge(err) {
      return err.code === 'ResponseSizeLimitExceeded' || err.code === ANSWER_TOO_LARGE;
    },
  };
}
