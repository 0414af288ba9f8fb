// The TRTC adapter for the shared poll machinery: one page = one by-filter call of the app's API (v1 or v4), key =
// callId (v1) / CallId (v4), 7-day vendor retention (older checkpoints are reported as a gap by the poller). Every
// envelope says which API its record came from (attribute `api_version`), so normalize and replays read it right.
import { API_VERSION_ATTRIBUTE } from '../../core/envelope.ts';
import type { PullSource } from '../poller/source.ts';
import { ANSWER_TOO_LARGE } from '../poller/vendor-answer.ts';
import { TrtcApiClient } from './client.ts';
import { trtcApiBaseUrl, trtcTenants, type TrtcConfig } from './config.ts';

export const TRTC_CONNECTOR = 'tencent-trtc-poller';
export const TRTC_RETENTION_SEC = 7 * 86_400;

/** One API client per app (tenant = SDKAppID). Also used by anything else that reads TRTC records (reconcile). */
export function createTrtcClients(config: TrtcConfig, now?: () => number): Map<string, TrtcApiClient> {
  const clients = new Map<string, TrtcApiClient>();
  for (const app of config.apps) {
    clients.set(
      String(app.sdkAppId),
      new TrtcApiClient({
        baseUrl: trtcApiBaseUrl(config, app),
        api: app.api,
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
  return clients;
}

export function createTrtcSource(config: TrtcConfig, now?: () => number): PullSource {
  const clients = createTrtcClients(config, now);
  return {
    vendor: 'tencent-trtc',
    connector: TRTC_CONNECTOR,
    tenants: trtcTenants(config),
    // Pages are 1-based in both APIs (v4: "Page … default is page 1"; v1: "defaults to the first page").
    firstPage: 1,
    pageSize: config.pageSize,
    retentionSec: TRTC_RETENTION_SEC,
    async fetchPage(tenant, window, page, pageSize, signal) {
      const res = await clients.get(tenant)!.getRecordsByFilter({ startTimestamp: window.start, endTimestamp: window.end, page, numberPerPage: pageSize }, signal);
      return { total: res.totalNum, records: res.records, requestId: res.requestId };
    },
    envelopeAttributes(tenant) {
      return { [API_VERSION_ATTRIBUTE]: clients.get(tenant)!.api };
    },
    naturalKey(record) {
      const r = record as { callId?: unknown; CallId?: unknown } | null;
      const id = r?.callId ?? r?.CallId;
      return typeof id === 'string' && id !== '' ? id : undefined;
    },
    pageTooLarge(err) {
      return err.code === ANSWER_TOO_LARGE;
    },
  };
}
