// Configuration of the Tencent CCC poller (zod v4, strict: unknown keys are errors).
import { z } from 'zod';
import { TOPICS } from '../../core/topology.ts';
import { distinctBy } from '../../core/zod-issues.ts';
import { pollingShape, topicsSchema } from '../poller/config.ts';

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
});

export type CccConfigInput = z.input<typeof cccConfigSchema>;
export type CccConfig = z.output<typeof cccConfigSchema>;
