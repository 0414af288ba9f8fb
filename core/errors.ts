// One error type for the whole pipeline. Components classify what went wrong (a closed `kind`);
// only core decides what happens next (retry, dead-letter, stop) from that kind — see `disposition`.

export const ERROR_KINDS = [
  'bad_record', // the data itself is wrong (malformed JSON, missing key field): dead-letter it, keep going
  'rejected_by_sink', // the sink refused one row (type/constraint): dead-letter it, keep going
  'rate_limited', // the remote asked us to slow down: retry with backoff
  'transient', // network error, timeout, 5xx, broker not available: retry with backoff
  'auth', // bad credentials or signature: stop loudly, retrying cannot help
  'config', // invalid configuration or parameter: stop loudly
  'schema', // registry missing, incompatible schema: stop loudly
  'bug', // an invariant broke in our own code: stop loudly
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export type Disposition = 'retry' | 'dead-letter' | 'stop';

export class CdrflowError extends Error {
  override readonly name = 'CdrflowError';
  readonly kind: ErrorKind;
  /** Vendor or library code when there is one (e.g. `RequestLimitExceeded`, `1010013`). */
  readonly code: string | undefined;

  constructor(kind: ErrorKind, message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.code = options.code;
  }

  get retryable(): boolean {
    return disposition(this) === 'retry';
  }
}

export function disposition(err: CdrflowError): Disposition {
  switch (err.kind) {
    case 'bad_record':
    case 'rejected_by_sink':
      return 'dead-letter';
    case 'rate_limited':
    case 'transient':
      return 'retry';
    case 'auth':
    case 'config':
    case 'schema':
    case 'bug':
      return 'stop';
  }
}

/** Wraps anything thrown into a CdrflowError; unknown throwables are treated as bugs (stop), never as bad data. */
export function asCdrflowError(err: unknown): CdrflowError {
  if (err instanceof CdrflowError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CdrflowError('bug', message, { cause: err });
}
