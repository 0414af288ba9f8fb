// Tencent RTC (TUICallKit) pull connector: polls get_record(s)_by_filter (v4, or v1 per app) with a cached admin UserSig per
// SDKAppID and publishes every call record verbatim to cdr.raw.tencent-trtc (key callId); gaps past 7 days are loud.
import { z } from 'zod';
import { CdrflowError } from '../../core/errors.ts';
import { PullConnector, type PullConnectorDeps } from '../poller/runtime.ts';
import { formatZodIssues } from '../../core/zod-issues.ts';
import { trtcConfigSchema, type TrtcConfigInput } from './config.ts';
import { createTrtcSource } from './source.ts';

export { trtcConfigSchema, type TrtcConfig, type TrtcConfigInput } from './config.ts';
export { createTrtcSource, createTrtcClients, TRTC_CONNECTOR, TRTC_RETENTION_SEC } from './source.ts';
export { TrtcApiClient, UserSigCache, trtcErrorKind, TRTC_PATH, TRTC_V4_PATHS } from './client.ts';
export { TRTC_V1_HOSTS, TRTC_V4_HOSTS, trtcApiBaseUrl, type TrtcRegion, type TrtcApi } from './config.ts';

export function createTrtcConnector(input: TrtcConfigInput | unknown, deps: PullConnectorDeps): PullConnector {
  const parsed = trtcConfigSchema.safeParse(input);
  if (!parsed.success) throw new CdrflowError('config', `invalid tencent-trtc config:\n${formatZodIssues(parsed.error as z.ZodError, '  - ', trtcConfigSchema)}`);
  return new PullConnector(createTrtcSource(parsed.data, deps.now), parsed.data, deps);
}
