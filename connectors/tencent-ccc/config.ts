// Configuration of the Tencent CCC poller (zod v4, strict: unknown keys are errors).
import { z } from 'zod';
import { TOPICS } from '../../core/topology.ts';
import { distinctBy } from '../../core/zod-issues.ts';
import { pollingShape, topicsSchema } from '../poller/config.ts';

const DAY = 86_400;
/**
 * DescribeTelCdr documents its query limits (StartTimeStamp at most 180 days back, End − Start under 90 days); the
 * protected variant we call documents none, so the same are assumed (docs: vendors.md §1 "Request"). Older data
 * cannot be asked for: the poller reports it as lost (retentionSec), as it does for TRTC's 7 days.
 */
export const CCC_RETENTION_SEC = 180 * DAY;
/** End − Start of one request must stay under this (assumed from DescribeTelCdr, as above). */
export const CCC_MAX_SPAN_SEC = 90 * DAY;

export const cccConfigSchema = z.strictObject({
  secretId: z.string().min(1),
  secretKey: z.string().min(1),
  /** STS session token for temporary credentials. */
  token: z.string().min(1).optional(),
  /** host[:port]; intl site: ccc.intl.tencentcloudapi.com. */
  endpoint: z.string().min(1).default('ccc.tencentcloudapi.com'),
  protocol: z.enum(['https', 'http']).default('https'),
  /** Connect to this address instead of resolving the endpoint (simulator, private link). */
  connectAddress: z.string().min(1).optional(),
  /** Tenants: one CCC SdkAppId each. */
  sdkAppIds: z.array(z.number().int().positive()).min(1).superRefine(distinctBy((id) => id, 'SdkAppId')),
  ...pollingShape({ lookbackSec: 1800, maxCallSec: 3600, maxWindowSec: 3600, requestsPerSecond: 20, pageSize: 100 }),
  topics: topicsSchema(TOPICS.raw('tencent-ccc')),
}).superRefine((c, ctx) => {
  // A live window is maxWindowSec of new time plus the re-read before it (lookback + longest call, poller/windows.ts):
  // refused here, with the limit named, rather than by the vendor on the first request of every cycle.
  const span = c.maxWindowSec + c.lookbackSec + c.maxCallSec;
  if (span >= CCC_MAX_SPAN_SEC) {
    ctx.addIssue({
      code: 'custom',
      path: ['maxWindowSec'],
      message: `maxWindowSec + lookbackSec + maxCallSec is ${span} s: one CCC request must span less than 90 days (${CCC_MAX_SPAN_SEC} s), the DescribeTelCdr limit assumed for DescribeProtectedTelCdr`,
    });
  }
});

export type CccConfigInput = z.input<typeof cccConfigSchema>;
export type CccConfig = z.output<typeof cccConfigSchema>;

/** The tenants the connector polls (its checkpoint ids and metrics name them so); `cdrflow status` reads them too. */
export function cccTenants(config: CccConfig): string[] {
  return config.sdkAppIds.map(String);
}
