// Tencent CCC pull connector: polls DescribeProtectedTelCdr (SDK-signed TC3) per SdkAppId and publishes every
// TelCdrInfo verbatim to cdr.raw.tencent-ccc (key SessionId); checkpoints move only after Kafka acks the window.
import { z } from 'zod';
import { CdrflowError } from '../../core/errors.ts';
import { PullConnector, type PullConnectorDeps } from '../poller/runtime.ts';
import { formatZodIssues } from '../../core/zod-issues.ts';
import { cccConfigSchema, type CccConfigInput } from './config.ts';
import { createCccSource } from './source.ts';

export { cccConfigSchema, CCC_RETENTION_SEC, CCC_MAX_SPAN_SEC, type CccConfig, type CccConfigInput } from './config.ts';
export { createCccSource, CCC_CONNECTOR } from './source.ts';
export { CccApiClient, classifyCccError, cccErrorKind } from './client.ts';

/** Validates the config (every problem with its path) and builds the connector. */
export function createCccConnector(input: CccConfigInput | unknown, deps: PullConnectorDeps): PullConnector {
  const parsed = cccConfigSchema.safeParse(input);
  if (!parsed.success) throw new CdrflowError('config', `invalid tencent-ccc config:\n${formatZodIssues(parsed.error as z.ZodError, '  - ', cccConfigSchema)}`);
  return new PullConnector(createCccSource(parsed.data), parsed.data, deps);
}
