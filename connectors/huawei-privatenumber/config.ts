// Configuration of the Huawei PrivateNumber push routes, the recording-link resolver and the pusher simulator.
import { z } from 'zod';
import { TOPICS } from '../../core/topology.ts';
import { distinctBy, httpUrl, kafkaTopic, tenantName } from '../../core/zod-issues.ts';

export const HUAWEI_MODES = ['AX', 'AXB', 'AXE', 'X', 'AXYB'] as const;

export const HuaweiAppSchema = z.strictObject({
  /** The tenant of every record it pushes. */
  appKey: tenantName().min(1).max(128),
  appSecret: z.string().min(1),
  /** The binding mode of this app. It is not in the push body, and `direction` means different things per mode. */
  mode: z.enum(HUAWEI_MODES).optional(),
});
export type HuaweiApp = z.infer<typeof HuaweiAppSchema>;

/** Envelope attribute holding the app's binding mode (normalize reads it: transforms/normalize/MAPPING.md). */
export const NOTIFY_MODE_ATTRIBUTE = 'notify_mode';

/**
 * The envelope attributes every record of `app` carries, whichever way it comes in (the receiver, `cdrflow import`):
 * the binding mode, which no record says and by which normalize reads `direction`. A record imported without it was
 * mapped as if the mode were unknown, and its newer received_at made that row win over the pushed one.
 */
export function huaweiAppAttributes(app: Pick<HuaweiApp, 'mode'> | undefined): Record<string, string> {
  return app?.mode ? { [NOTIFY_MODE_ATTRIBUTE]: app.mode } : {};
}

export const HuaweiReceiverConfigSchema = z.strictObject({
  /** Both paths accept both kinds of push and route by eventType: Huawei lets the two URLs be the same. */
  feePath: z.string().startsWith('/').default('/huawei/privatenumber/fee'),
  eventPath: z.string().startsWith('/').default('/huawei/privatenumber/event'),
  apps: z.array(HuaweiAppSchema).min(1).superRefine(distinctBy((a) => a.appKey, 'appKey')),
  /** Accept the legacy X-WSSE header as well as X-AKSK. */
  allowWsse: z.boolean().default(false),
  /** Largest accepted |now - Created|; replay protection remembers a nonce until its Created is this far behind. */
  maxClockSkewSeconds: z.number().int().min(1).max(3600).default(300),
  /**
   * Nonces remembered at once (pushes whose Created is within maxClockSkewSeconds: the default holds 3,333 pushes a
   * second sent on time). At the cap a push is answered 503, for Huawei to re-push later, rather than a live nonce
   * forgotten (which would let its headers be replayed).
   */
  nonceCacheMaxEntries: z.number().int().min(1000).default(1_000_000),
  /**
   * Resolve each recorded fee record's download link (301 Location of the recording API, with the pushing app's
   * AK/SK) before storing it, into the envelope attribute `recording_download_url`. Off by default: it costs up to
   * `timeoutMs` of push latency, and the record still carries its own recordFileDownloadUrl without it.
   */
  recordingLinks: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** APP接入地址 from the console. */
      baseUrl: httpUrl().default('https://rtcpns.cn-north-1.myhuaweicloud.com'),
      /** Hard deadline for all links of one push; a link not resolved by then is left out, the push goes on. */
      timeoutMs: z.number().int().min(50).max(10_000).default(2_000),
    })
    .prefault({}),
  topics: z
    .strictObject({
      fee: kafkaTopic.default(TOPICS.raw('huawei-privatenumber')),
      events: kafkaTopic.default(TOPICS.huaweiCallEvents),
    })
    .prefault({}),
});
export type HuaweiReceiverConfig = z.infer<typeof HuaweiReceiverConfigSchema>;
export type HuaweiReceiverConfigInput = z.input<typeof HuaweiReceiverConfigSchema>;

export const RecordingConfigSchema = z.strictObject({
  /** APP接入地址 from the console. */
  baseUrl: httpUrl().default('https://rtcpns.cn-north-1.myhuaweicloud.com'),
  apps: z.array(HuaweiAppSchema).min(1),
  timeoutMs: z.number().int().min(100).default(10_000),
});
export type RecordingConfig = z.infer<typeof RecordingConfigSchema>;
