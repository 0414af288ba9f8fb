// Configuration of the Alibaba LVMS TOP-shaped receiver route.
import { z } from 'zod';
import { TOPICS } from '../../core/topology.ts';
import { distinctBy, kafkaTopic, tenantName } from '../../core/zod-issues.ts';

export const SIGN_METHODS = ['md5', 'hmac', 'hmac-sha256'] as const;
export type SignMethod = (typeof SIGN_METHODS)[number];

export const LvmsAppSchema = z.strictObject({
  /** The tenant of every DTO it pushes. */
  appKey: tenantName().min(1),
  appSecret: z.string().min(1),
});
export type LvmsApp = z.infer<typeof LvmsAppSchema>;

export const LvmsReceiverConfigSchema = z.strictObject({
  path: z.string().startsWith('/').default('/router/rest'),
  apps: z.array(LvmsAppSchema).min(1).superRefine(distinctBy((a) => a.appKey, 'appKey')),
  /** TOP allows 10 minutes of skew between the GMT+8 `timestamp` and server time. */
  maxClockSkewSeconds: z.number().int().min(1).max(3600).default(600),
  signMethods: z.array(z.enum(SIGN_METHODS)).min(1).default([...SIGN_METHODS]),
  /**
   * Signs of stored calls remembered at once (calls whose timestamp is within maxClockSkewSeconds: the default holds
   * 1,666 calls a second sent on time), so that a call sent again with the same sign is answered as its first copy was
   * and not stored again. At the cap a call is answered 503, for the client to send it again later.
   */
  signCacheMaxEntries: z.number().int().min(1000).default(1_000_000),
  topic: kafkaTopic.default(TOPICS.raw('alibaba-lvms')),
});
export type LvmsReceiverConfig = z.infer<typeof LvmsReceiverConfigSchema>;
export type LvmsReceiverConfigInput = z.input<typeof LvmsReceiverConfigSchema>;
