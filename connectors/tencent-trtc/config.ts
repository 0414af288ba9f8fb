// Configuration of the Tencent RTC (TUICallKit) call-record poller (zod v4, strict).
import { z } from 'zod';
import { TOPICS } from '../../core/topology.ts';
import { distinctBy, httpUrl } from '../../core/zod-issues.ts';
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
/** The v1 API's hosts (v1 doc): one for China, one for every other region. */
export const TRTC_V1_HOSTS = { china: 'callkit.trtc.tencent-cloud.com', intl: 'callkit-intl.trtc.tencent-cloud.com' } as const;
const REGIONS = Object.keys(TRTC_V4_HOSTS) as [TrtcRegion, ...TrtcRegion[]];

export const trtcConfigSchema = z.strictObject({
  /** The region of the apps: picks the API hosts (v4: its Chat REST host; v1: China or intl). An app may name its own. */
  region: z.enum(REGIONS).default('singapore'),
  /** One API root for both APIs instead of the region's hosts (a proxy, the simulator); the paths tell v1 and v4 apart. */
  baseUrl: httpUrl().optional(),
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
    .min(1)
    .superRefine(distinctBy((a) => a.sdkAppId, 'sdkAppId')),
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

/** The tenants the connector polls, one per app (its checkpoint ids and metrics name them so); `cdrflow status` reads them too. */
export function trtcTenants(config: TrtcConfig): string[] {
  return config.apps.map((app) => String(app.sdkAppId));
}

/** The API root one app's requests go to. */
export function trtcApiBaseUrl(config: TrtcConfig, app: TrtcConfig['apps'][number]): string {
  if (config.baseUrl !== undefined) return config.baseUrl;
  const region = app.region ?? config.region;
  if (app.api === 'v1') return `https://${TRTC_V1_HOSTS[region === 'china' ? 'china' : 'intl']}`;
  return `https://${TRTC_V4_HOSTS[region]}`;
}
