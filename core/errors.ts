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
  /**
   * The least wait before a retry that the remote asked for (an HTTP Retry-After), in ms; `retry` waits at least
   * this long. Whoever sets it bounds it (vendor-answer.ts retryAfterMs).
   */
  readonly retryAfterMs: number | undefined;

  constructor(kind: ErrorKind, message: string, options: { code?: string; cause?: unknown; retryAfterMs?: number | undefined } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.code = options.code;
    this.retryAfterMs = options.retryAfterMs;
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

/**
 * Wraps anything thrown into a CdrflowError, classified by what the error IS (its class name, protocol type, errno
 * code, `retriable` flag — never its message text): see `classifyError`. What is not recognised is a bug (stop),
 * never bad data.
 */
export function asCdrflowError(err: unknown): CdrflowError {
  return classifyError(err);
}

/** A CdrflowError as plain data, to cross a worker-thread boundary (structured clone drops the class). */
export interface SerializedError {
  kind: ErrorKind;
  message: string;
  code?: string | undefined;
}

export function serializeError(err: unknown): SerializedError {
  const e = asCdrflowError(err);
  return { kind: e.kind, message: e.message, code: e.code };
}

/** Back into a CdrflowError; an unknown kind (a newer thread, a bug) is a bug. */
export function deserializeError(e: SerializedError): CdrflowError {
  return new CdrflowError(ERROR_KINDS.includes(e.kind) ? e.kind : 'bug', e.message, e.code === undefined ? {} : { code: e.code });
}

// --- Classification of library and system errors --------------------------------------------------------------
// The shapes below are those of the Kafka client (error class names and Kafka protocol error types), Node's system
// errors (errno codes) and fetch (a TypeError whose `cause` is the system error). They are matched structurally so
// core/errors.ts needs no client library; core/errors.test.ts has a table per classifier.

/** Kafka protocol types that mean bad credentials or missing rights: retrying cannot help. */
export const KAFKA_AUTH_TYPES: ReadonlySet<string> = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
]);

/** Another process took this transactional id: two instances share an id (configuration). */
export const KAFKA_FENCED_TYPES: ReadonlySet<string> = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'TRANSACTIONAL_ID_NOT_FOUND', 'FENCED_INSTANCE_ID']);

/**
 * The broker refused a write as larger than it takes: the topic's max.message.bytes (or the broker's
 * message.max.bytes) is below what cdrflow writes, an operator's setting that no retry mends (kafkajs flags them
 * non-retriable). They are `config` (stop loudly, naming the setting), never transient (retried for ever, the record
 * never named) nor bug: core/kafka.ts's tooLargeError words them with the topic, the largest record and the size.
 */
export const KAFKA_TOO_LARGE_TYPES: ReadonlySet<string> = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/**
 * Group membership moved on (a rebalance, a coordinator move, this member timed out): the client flags most of
 * these non-retriable because the *request* cannot be retried, but the member can rejoin — so for a stage they are
 * transient.
 */
export const KAFKA_REJOIN_TYPES: ReadonlySet<string> = new Set([
  'REBALANCE_IN_PROGRESS',
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'NOT_COORDINATOR_FOR_GROUP',
  'NOT_COORDINATOR',
  'MEMBER_ID_REQUIRED',
  'GROUP_LOAD_IN_PROGRESS',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_NOT_AVAILABLE',
  'CONCURRENT_TRANSACTIONS',
]);

/** Kafka client error classes that mean "the cluster is (for now) unreachable or busy". */
export const KAFKA_TRANSIENT_NAMES: ReadonlySet<string> = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSStaleTopicMetadataAssignment',
  'KafkaJSLockTimeout',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSTimeout',
]);

/** Node system error codes of a network that is down, refusing or slow. */
export const NETWORK_ERRNOS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

interface ErrorShape {
  name?: unknown;
  type?: unknown;
  code?: unknown;
  retriable?: unknown;
  cause?: unknown;
  originalError?: unknown;
  message?: unknown;
}

/** The error and its causes (`cause`, the Kafka client's `originalError`), outermost first, at most 8 deep. */
function causeChain(err: unknown): ErrorShape[] {
  const chain: ErrorShape[] = [];
  let cur: unknown = err;
  while (cur !== null && typeof cur === 'object' && chain.length < 8 && !chain.includes(cur as ErrorShape)) {
    const e = cur as ErrorShape;
    chain.push(e);
    cur = e.originalError ?? e.cause;
  }
  return chain;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Kafka protocol types on which the Kafka client rejoins the group by itself when they leave a batch handler. */
const CLIENT_REJOINS_ON: ReadonlySet<string> = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

/**
 * The client's own error, when `err` (or one of its causes) is a rebalance the client handles by rejoining: a batch
 * handler must let exactly that error out (not a wrapper), or the client does not recognise it.
 */
export function clientRejoinError(err: unknown): unknown {
  return causeChain(err).find((e) => !(e instanceof CdrflowError) && CLIENT_REJOINS_ON.has(str(e.type) ?? ''));
}

/** True when `err` or one of its causes is cdrflow's own error (thrown by cdrflow code, not by a library). */
export function carriesCdrflowError(err: unknown): boolean {
  return causeChain(err).some((e) => e instanceof CdrflowError);
}

/**
 * The one Kafka client error without a class, type or code: kafkajs 2.2.4 throws a plain `Error('Broker not
 * connected')` for a request on a broker connection whose handshake never finished (a broker that accepts connections
 * and never answers). It means the cluster is unreachable, so it is matched by the exact message of a plain Error.
 */
function isBrokerNotConnected(e: ErrorShape): boolean {
  return e instanceof Error && Object.getPrototypeOf(e) === Error.prototype && e.message === 'Broker not connected';
}

/** Classifies an error by its type, protocol type, errno code and retriable flag, looking through its causes. */
export function classifyError(err: unknown, what?: string): CdrflowError {
  if (err instanceof CdrflowError) return err;
  const chain = causeChain(err);
  const base = err instanceof Error ? err.message : str((err as ErrorShape | undefined)?.message) ?? String(err);
  const message = what ? `${what}: ${base}` : base;
  const make = (kind: ErrorKind, code?: string) => new CdrflowError(kind, message, { ...(code ? { code } : {}), cause: err });
  for (const e of chain) {
    if (e instanceof CdrflowError) return new CdrflowError(e.kind, message, { ...(e.code ? { code: e.code } : {}), cause: err });
    const type = str(e.type);
    if (type && KAFKA_AUTH_TYPES.has(type)) return make('auth', type);
    if (str(e.name) === 'KafkaJSSASLAuthenticationError') return make('auth', 'SASL_AUTHENTICATION_FAILED');
    if (type && KAFKA_FENCED_TYPES.has(type)) {
      return new CdrflowError('config', `${message} (another process uses the same transactional.id: instance ids must be unique)`, { code: type, cause: err });
    }
    if (type && KAFKA_TOO_LARGE_TYPES.has(type)) {
      return new CdrflowError('config', `${message} (a topic's max.message.bytes, or the broker's message.max.bytes, is below what cdrflow writes: raise it)`, { code: type, cause: err });
    }
  }
  for (const e of chain) {
    const type = str(e.type);
    const code = str(e.code);
    // UNKNOWN_TOPIC_OR_PARTITION is retriable too: a topic just created (or a broker just restarted) is not served
    // yet. A topic that really is missing shows as `waiting: UNKNOWN_TOPIC_OR_PARTITION` and fails a first start.
    if (type && KAFKA_REJOIN_TYPES.has(type)) return make('transient', type);
    if (e.retriable === true) return make('transient', type ?? code ?? str(e.name));
    if (KAFKA_TRANSIENT_NAMES.has(str(e.name) ?? '')) return make('transient', type ?? code ?? str(e.name));
    if (code && NETWORK_ERRNOS.has(code)) return make('transient', code);
    if (isBrokerNotConnected(e)) return make('transient', 'KAFKA_BROKER_NOT_CONNECTED');
  }
  const first = chain[0];
  const code = first ? (str(first.type) ?? str(first.code)) : undefined;
  return make('bug', code);
}

/**
 * A server's port could not be bound (in use, not allowed): the user's setting, not a bug. `setting` names how the user
 * chose the port (`ops.port (env CDRFLOW_OPS_PORT)`, `--ops-port`, `receiver.port …`), so the one line says what to
 * change. Other errors come back unchanged.
 */
export function listenError(err: unknown, address: string, setting: string): unknown {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === 'EADDRINUSE') {
    return new CdrflowError('config', `${setting}: cannot listen on ${address}: the port is in use by another process (a server, or a connection that took it as its local port: ports in the kernel's ephemeral range, net.ipv4.ip_local_port_range, are handed out for those); stop that process or choose another port`, { code, cause: err });
  }
  if (code === 'EACCES') {
    return new CdrflowError('config', `${setting}: cannot listen on ${address}: this user may not bind that port (below 1024 needs privileges); choose another port`, { code, cause: err });
  }
  return err;
}
