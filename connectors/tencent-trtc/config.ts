// Configuration of the Tencent RTC (TUICallKit) call-record poller (zod v4, strict).
import { z } from 'zod';
import { TOPICS } from '../../core/topology.ts';
import { pollingShape, topicsSchema } from '../poller/config.ts';

/**
 * The v4 call-record API is served by the Chat (IM) REST host of the region the SDKAppID lives in (v4 doc,
 * "Retrieve Records by Conditions").
 */
export const TRTC_V4_HOSTS = {
  china: 'console.tim.qq.com',
  singapore: 'adminapisgp.im.qcloud.com',
  seoul: 'adminapikr.im.qcloud.com',
  frankfurt: 'adminapiger.im.qcloud.com',
  'silicon-valley': 'adminapiusa.im.qcloud.com',
  jakarta: 'adminapiidn.im.qcloud.com',
} as const;
export type TrtcRegion = keyof typeof TRTC_V4_HOSTS;
const REGIONS = Object.keys(TRTC_V4_HOSTS) as [TrtcRegion, ...TrtcRegion[]];

export const trtcConfigSchema = z.strictObject({
  /** v1 API host: https://callkit.trtc.tencent-cloud.com (China) or https://callkit-intl.trtc.tencent-cloud.com (intl). */
  baseUrl: z.url().default('https://callkit-intl.trtc.tencent-cloud.com'),
  /** v4 API: the region of the apps (its Chat REST host); an app may name its own. */
  region: z.enum(REGIONS).default('singapore'),
  /** v4 API root instead of the region's host (a proxy, the simulator). */
  v4BaseUrl: z.url().optional(),
  /** The Chat App administrator account. */
  identifier: z.string().min(1).default('administrator'),
  /**
   * Tenants: one SDKAppID each, with its SDKSecretKey, and the call-record API its calls land in: v4 for calls made
   * with TUICallKit calls(), v1 (beta, deprecated) for calls made with the old call()/groupCall().
   */
  apps: z
    .array(
      z.strictObject({
        sdkAppId: z.number().int().positive(),
        secretKey: z.string().min(1),
        api: z.enum(['v1', 'v4']).default('v4'),
        region: z.enum(REGIONS).optional(),
      }),
    )
    .min(1),
  /** UserSig validity; renewed `userSigRenewBeforeSec` before it runs out. */
  userSigValiditySec: z.number().int().positive().default(86_400),
  userSigRenewBeforeSec: z.number().int().nonnegative().default(3_600),
  // Calls appear after they end and may last hours; the vendor allows 200 queries/s on both APIs.
  ...pollingShape({ lookbackSec: 1800, maxCallSec: 7200, maxWindowSec: 3600, requestsPerSecond: 200, pageSize: 100 }),
  topics: topicsSchema(TOPICS.raw('tencent-trtc')),
});

export type TrtcConfigInput = z.input<typeof trtcConfigSchema>;
export type TrtcConfig = z.output<typeof trtcConfigSchema>;
export type TrtcApi = TrtcConfig['apps'][number]['api'];

/** The API root one app's requests go to. */
export function trtcApiBaseUrl(config: TrtcConfig, app: TrtcConfig['apps'][number]): string {
  if (app.api === 'v1') return config.baseUrl;
  return config.v4BaseUrl ?? `https://${TRTC_V4_HOSTS[app.region ?? config.region]}`;
}
