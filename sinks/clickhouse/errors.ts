// ClickHouse errors -> CdrflowError kinds. The sink only classifies; core/errors.ts decides what happens:
// rejected rows are dead-lettered, transient failures retried, auth / missing tables stop the sink.
//
// The kind comes from structured facts, in this order: the ClickHouse error code (the client's ClickHouseError, or
// the `Code: N` that starts ClickHouse's own text when the client could not parse it); Node's errno code of a socket
// error, on the error or one of its causes; the HTTP status of an answer that is no ClickHouse error (a proxy's page),
// from the error object or else from the page's own status line or <title>/<h1>. The message text is read only where
// nothing structured exists, and then only for whole, anchored forms: a row's data quoted in a ClickHouse message
// ("timeout", 401) never decides, as it once did, when any text mentioning 401 or 403 stopped the sink as `auth` and
// any mentioning 502, 503 or "timeout" retried forever a row that can never go in. What none of this recognises is a
// bug (stop and show it). The message kept (error, log line, dead-letter reason) is escaped and cut (boundReason).
import { CdrflowError, NETWORK_ERRNOS, classifyError, type ErrorKind } from '../../core/errors.ts';
import { boundReason, terminalText } from '../../core/input-limits.ts';

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

// READONLY (164) is the user's readonly setting ("Cannot execute query in readonly mode"), which no retry changes; a
// replica in read-only mode is TABLE_IS_READ_ONLY (242), transient above.
const AUTH = new Set([164, 192, 193, 194, 195, 497, 516]); // READONLY, UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, IP_ADDRESS_NOT_ALLOWED, ACCESS_DENIED, AUTHENTICATION_FAILED
const MISSING = new Set([60, 81, 16, 47]); // UNKNOWN_TABLE, UNKNOWN_DATABASE, NO_SUCH_COLUMN_IN_TABLE, UNKNOWN_IDENTIFIER

/**
 * HTTP statuses of an answer that is no ClickHouse error (ClickHouse's own always carry a code): a proxy or load
 * balancer in front of the server refusing the credentials, or its upstream away. Others are not recognised.
 */
const STATUS_KIND: ReadonlyMap<number, ErrorKind> = new Map<number, ErrorKind>([
  [401, 'auth'],
  [403, 'auth'],
  [407, 'auth'],
  [408, 'transient'],
  [429, 'rate_limited'],
  [502, 'transient'],
  [503, 'transient'],
  [504, 'transient'],
]);

/** The start of ClickHouse's own error text ("Code: 27. DB::Exception: …", older servers "Code: 27, e.displayText() = …"). */
const CLICKHOUSE_TEXT = /^Code: (\d{1,5})[.,]/;
/** A body that is an HTML page: its status is the number its <title> or <h1> starts with ("502 Bad Gateway"). */
const HTML_PAGE = /^\s*(?:<!doctype[^>]{0,200}>\s*)?<(?:html|head|body|title|h1)\b/i;
const PAGE_STATUS = /<(?:title|h1)\b[^>]{0,200}>\s*([1-5]\d\d)\b/i;
/** A body that starts with a status line or status code ("401 Unauthorized", "HTTP/1.1 503 Service Unavailable"). */
const STATUS_LINE = /^\s*(?:HTTP\/\d(?:\.\d)?\s+)?([1-5]\d\d)(?:\s|$)/;
/** How far into a body the page's status is looked for (a page's head; the body may be megabytes). */
const PAGE_HEAD_CHARS = 64 * 1024;
/** Whole messages of a failure without any code: @clickhouse/client's request timeout, a socket closed mid-answer. */
const UNCODED_TRANSIENT = /^(?:Timeout error\.|socket hang up)$/;
/** A name the resolver does not know (yet), e.g. a server's container not up: transient, as a refused connection. */
const RESOLVER_CODES = new Set(['ENOTFOUND']);
/** A code or type shown in the message only when it is a plain name. */
const PLAIN_NAME = /^[A-Za-z0-9_]{1,64}$/;

/** The ClickHouse error code: the client's parsed `code`, or the one ClickHouse's unparsed text starts with. */
function clickHouseCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  const code = e?.code;
  if ((typeof code === 'string' || typeof code === 'number') && /^\d+$/.test(String(code))) return Number(code);
  if (code === undefined && typeof e?.message === 'string') {
    const m = CLICKHOUSE_TEXT.exec(e.message);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** The HTTP status of an answer that is no ClickHouse error: on the error or a cause, or as its page states it. */
function httpStatus(err: unknown, message: string): number | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 8 && cur !== null && typeof cur === 'object'; depth++) {
    const e = cur as { status?: unknown; statusCode?: unknown; cause?: unknown };
    for (const s of [e.status, e.statusCode]) if (typeof s === 'number' && Number.isInteger(s) && s >= 100 && s <= 599) return s;
    cur = e.cause;
  }
  const head = message.slice(0, PAGE_HEAD_CHARS);
  const m = STATUS_LINE.exec(head) ?? (HTML_PAGE.test(head) ? PAGE_STATUS.exec(head) : null);
  return m ? Number(m[1]) : undefined;
}

/** True when ClickHouse says a database, table or column is not there: a schema not migrated (yet). */
export function isMissingSchemaError(err: unknown): boolean {
  const code = clickHouseCode(err);
  return code !== undefined && MISSING.has(code);
}

export function classifyClickHouseError(err: unknown): CdrflowError {
  if (err instanceof CdrflowError) return err;
  const e = err as { code?: unknown; type?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const numeric = clickHouseCode(err);
  let code = typeof e?.code === 'string' || typeof e?.code === 'number' ? String(e.code) : numeric?.toString();
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
  } else {
    const network = classifyError(err);
    if (network.kind === 'transient' && network.code !== undefined && NETWORK_ERRNOS.has(network.code)) {
      kind = 'transient';
      code = network.code;
    } else if (code !== undefined && RESOLVER_CODES.has(code)) {
      kind = 'transient';
    } else {
      const status = httpStatus(err, message);
      if (status !== undefined) {
        kind = STATUS_KIND.get(status) ?? 'bug';
        code ??= `HTTP ${status}`;
      } else if (UNCODED_TRANSIENT.test(message.trim())) {
        kind = 'transient';
      }
    }
  }
  const shownCode = code !== undefined && (PLAIN_NAME.test(code) || /^HTTP \d{3}$/.test(code)) ? code : undefined;
  const type = typeof e?.type === 'string' && PLAIN_NAME.test(e.type) ? ` ${e.type}` : '';
  return new CdrflowError(kind, `ClickHouse${shownCode ? ` ${shownCode}` : ''}${type}: ${boundReason(terminalText(message.trim()))}`, {
    ...(shownCode === undefined ? {} : { code: shownCode }),
    cause: err,
  });
}
