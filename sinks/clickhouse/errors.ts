// ClickHouse errors -> CdrflowError kinds. The sink only classifies; core/errors.ts decides what happens:
// rejected rows are dead-lettered, transient failures retried, auth / missing tables stop the sink.
import { CdrflowError, type ErrorKind } from '../../core/errors.ts';

/** Server codes meaning "this data cannot go into this table" (a row problem, not a systemic one). */
const ROW_REJECTED = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  131, // TOO_LARGE_STRING_SIZE
  190, // SIZES_OF_ARRAYS_DONT_MATCH
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  469, // VIOLATED_CONSTRAINT
  691, // UNKNOWN_ELEMENT_OF_ENUM
]);

const TRANSIENT = new Set([
  159, // TIMEOUT_EXCEEDED
  164, // READONLY (replica in read-only mode)
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  236, // ABORTED
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  285, // TOO_FEW_LIVE_REPLICAS
  319, // UNKNOWN_STATUS_OF_INSERT
  999, // KEEPER_EXCEPTION
]);

const AUTH = new Set([192, 193, 194, 195, 497, 516]); // UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, IP_ADDRESS_NOT_ALLOWED, ACCESS_DENIED, AUTHENTICATION_FAILED
const MISSING = new Set([60, 81, 16, 47]); // UNKNOWN_TABLE, UNKNOWN_DATABASE, NO_SUCH_COLUMN_IN_TABLE, UNKNOWN_IDENTIFIER

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** True when ClickHouse says a database, table or column is not there: a schema not migrated (yet). */
export function isMissingSchemaError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return (typeof code === 'string' || typeof code === 'number') && /^\d+$/.test(String(code)) && MISSING.has(Number(code));
}

export function classifyClickHouseError(err: unknown): CdrflowError {
  if (err instanceof CdrflowError) return err;
  const e = err as { code?: unknown; type?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' || typeof e?.code === 'number' ? String(e.code) : undefined;
  const numeric = code !== undefined && /^\d+$/.test(code) ? Number(code) : undefined;
  let kind: ErrorKind = 'bug';
  if (numeric !== undefined) {
    // TOO_MANY_PARTS says two things: a partition with more active parts than merges keep up with (wait and retry),
    // or one insert spanning more partitions than allowed (insert.ts), which a retry meets again: the rows are sent
    // as smaller inserts instead (the batcher splits a range ClickHouse refused; a single row always fits).
    if (numeric === 252 && /partitions for single insert block/i.test(message)) kind = 'rejected_by_sink';
    else if (ROW_REJECTED.has(numeric)) kind = 'rejected_by_sink';
    else if (TRANSIENT.has(numeric)) kind = 'transient';
    else if (AUTH.has(numeric)) kind = 'auth';
    else if (MISSING.has(numeric)) kind = 'config';
  } else if (code !== undefined && NETWORK_CODES.has(code)) {
    kind = 'transient';
  } else if (/timeout|socket hang up|ECONNRESET|ECONNREFUSED|503|502/i.test(message)) {
    kind = 'transient';
  } else if (/authentication|401|403/i.test(message)) {
    kind = 'auth';
  }
  const type = typeof e?.type === 'string' ? ` ${e.type}` : '';
  return new CdrflowError(kind, `ClickHouse${code ? ` ${code}` : ''}${type}: ${message.trim()}`, {
    ...(code === undefined ? {} : { code }),
    cause: err,
  });
}
