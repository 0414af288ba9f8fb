// Configuration of the Tencent RTC (TUICallKit) call-record poller (zod v4, strict).
import { z } from 'zod';
import { TOPICS } from '../../core/topology.ts';
import { pollingShape, topicsSchema } from '../poller/config.ts';

export const trtcConfigSchema = z.strictObject({
  /** https://callkit.trtc.tencent-cloud.com (China) or https://callkit-intl.trtc.tencent-cloud.com (intl). */
  baseUrl: z.url().default('https://callkit-intl.trtc.tencent-cloud.com'),
  /** The Chat App administrator account. */
  identifier: z.string().min(1).default('administrator'),
  /** Tenants: one SDKAppID each, with its SDKSecretKey. */
  apps: z.array(z.strictObject({ sdkAppId: z.number().int().positive(), secretKey: z.string().min(1) })).min(1),
  /** UserSig validity; renewed `userSigRenewBeforeSec` before it runs out. */
  userSigValiditySec: z.number().int().positive().default(86_400),
  userSigRenewBeforeSec: z.number().int().nonnegative().default(3_600),
  // Calls appear after they end and may last hours; the vendor allows 200 queries/s on this API.
  ...pollingShape({ lookbackSec: 1800, maxCallSec: 7200, maxWindowSec: 3600, requestsPerSecond: 200, pageSize: 100 }),
  topics: topicsSchema(TOPICS.raw('tencent-trtc')),
});

export type TrtcConfigInput = z.input<typeof trtcConfigSchema>;
export type TrtcConfig = z.output<typeof trtcConfigSchema>;
