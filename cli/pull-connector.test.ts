// How a one-shot pull run (backfill, poll --once) ends when the vendor API kept failing past the connector's retries:
// whatever core/errors.ts would have retried (a 5xx or network fault, and a vendor's rate limit alike) is the service
// unavailable, exit 69; a failure that retrying cannot help is thrown as it is.
import { describe, expect, it } from 'vitest';
import { loadAppConfig } from '../app/config.ts';
import { CdrflowError, type ErrorKind } from '../core/errors.ts';
import { EXIT_UNAVAILABLE } from '../core/exit-codes.ts';
import { ExitError } from './command.ts';
import { rethrowOneShotFailure } from './pull-connector.ts';

const config = loadAppConfig({ env: {} });

const endedBy = async (kind: ErrorKind): Promise<unknown> => rethrowOneShotFailure(new CdrflowError(kind, 'DescribeProtectedTelCdr failed', { code: 'X' }), config).catch((err: unknown) => err);

describe('rethrowOneShotFailure', () => {
  it.each(['transient', 'rate_limited'] as const)('a %s failure left after the retries is exit 69, saying to run again', async (kind) => {
    const err = await endedBy(kind);
    expect(err).toBeInstanceOf(ExitError);
    expect(err).toMatchObject({ code: EXIT_UNAVAILABLE, message: expect.stringContaining('run the same command again to resume') });
  });

  it.each(['auth', 'config', 'bug', 'bad_record'] as const)('a %s failure is thrown as it is', async (kind) => {
    const err = await endedBy(kind);
    expect(err).toBeInstanceOf(CdrflowError);
    expect(err).toMatchObject({ kind });
  });
});
