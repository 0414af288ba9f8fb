// Table tests of classifyClickHouseError with the shapes @clickhouse/client really throws: parseError turns a
// ClickHouse server's answer into a ClickHouseError (code, type) and anything else (a proxy's page, a cut answer)
// into a plain Error whose message is the whole body; Node's socket errors carry an errno code.
import { parseError } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { CdrflowError, type ErrorKind } from '../../core/errors.ts';
import { MAX_REASON_CHARS } from '../../core/input-limits.ts';
import { classifyClickHouseError, isMissingSchemaError } from './errors.ts';

/** A ClickHouse server's error text, as its HTTP interface answers it. */
const server = (code: number, message: string, type: string) => `Code: ${code}. DB::Exception: ${message}. (${type}) (version 24.8.4.13 (official build))\n`;
const page = (status: string, extra = '') =>
  `<html>\r\n<head><title>${status}</title></head>\r\n<body>\r\n<center><h1>${status}</h1></center>\r\n${extra}<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n`;
const sysErr = (message: string, code: string) => Object.assign(new Error(message), { code });

const cases: [string, () => unknown, ErrorKind][] = [
  // By the ClickHouse error code: what the row data says in the message does not count.
  ['a constraint violation', () => parseError(server(469, 'Constraint `minutes_from_seconds` for table db.cdr is violated at row 1', 'VIOLATED_CONSTRAINT')), 'rejected_by_sink'],
  ['a parse error quoting "timeout" and 401 from the row', () => parseError(server(27, "Cannot parse input: expected '\\t' before: 'timeout\\t401\\t502': (at row 1)", 'CANNOT_PARSE_INPUT_ASSERTION_FAILED')), 'rejected_by_sink'],
  ['a number that does not fit, the number 403', () => parseError(server(6, "Cannot parse string '403 authentication' as UInt8", 'CANNOT_PARSE_TEXT')), 'rejected_by_sink'],
  ['too many partitions for one insert', () => parseError(server(252, 'Too many partitions for single INSERT block (more than 100)', 'TOO_MANY_PARTS')), 'rejected_by_sink'],
  ['too many parts in a partition', () => parseError(server(252, 'Too many parts (300). Merges are processing significantly slower than inserts', 'TOO_MANY_PARTS')), 'transient'],
  ['AUTHENTICATION_FAILED', () => parseError(server(516, 'default: Authentication failed: password is incorrect', 'AUTHENTICATION_FAILED')), 'auth'],
  ['ACCESS_DENIED', () => parseError(server(497, 'cdrflow: Not enough privileges', 'ACCESS_DENIED')), 'auth'],
  // A user with readonly=1 (a read-only profile): a migration's DDL or an insert that no retry can make go through.
  ['READONLY (a read-only user)', () => parseError(server(164, 'reader: Cannot execute query in readonly mode', 'READONLY')), 'auth'],
  ['TABLE_IS_READ_ONLY (a replica without Keeper)', () => parseError(server(242, 'Table is in readonly mode (replica path: /clickhouse/tables/01/cdr)', 'TABLE_IS_READ_ONLY')), 'transient'],
  ['MEMORY_LIMIT_EXCEEDED', () => parseError(server(241, 'Memory limit (total) exceeded', 'MEMORY_LIMIT_EXCEEDED')), 'transient'],
  ['TIMEOUT_EXCEEDED', () => parseError(server(159, 'Timeout exceeded: elapsed 30 seconds', 'TIMEOUT_EXCEEDED')), 'transient'],
  ['UNKNOWN_TABLE', () => parseError(server(60, 'Table db.nope does not exist', 'UNKNOWN_TABLE')), 'config'],
  ['a code the sink does not know, however its text reads', () => parseError(server(62, 'Syntax error: timeout 503 authentication 401', 'SYNTAX_ERROR')), 'bug'],
  // ClickHouse's text the client could not parse (an older server without the (TYPE) suffix, a cut answer): the code
  // at its start still decides.
  ['an older server\'s parse error quoting "timeout"', () => new Error("Code: 27, e.displayText() = DB::ParsingException: Cannot parse input: expected '\\t' before: 'timeout': (at row 1)"), 'rejected_by_sink'],
  ['an older server\'s parse error quoting 401', () => new Error("Code: 6, e.displayText() = DB::Exception: Cannot parse string '401' as Date"), 'rejected_by_sink'],
  ['an answer cut before its type', () => new Error('Code: 516. DB::Exception: default: Authentication failed'), 'auth'],
  // Node's socket errors by their errno code, also as the cause of another error.
  ['a refused connection', () => sysErr('connect ECONNREFUSED 127.0.0.1:8123', 'ECONNREFUSED'), 'transient'],
  ['a connection reset', () => sysErr('socket hang up', 'ECONNRESET'), 'transient'],
  ['a name not resolved', () => sysErr('getaddrinfo ENOTFOUND clickhouse', 'ENOTFOUND'), 'transient'],
  ['a socket timeout under another error', () => new Error('insert failed', { cause: sysErr('connect ETIMEDOUT 10.0.0.1:8123', 'ETIMEDOUT') }), 'transient'],
  ["the client's request timeout (no code)", () => new Error('Timeout error.'), 'transient'],
  // An HTTP answer that is no ClickHouse error: its status, from the object or the page's status line / title.
  ['401 with an HTML body', () => parseError(page('401 Authorization Required')), 'auth'],
  ['403 page whose request id holds 502 and which mentions a timeout', () => parseError(page('403 Forbidden', '<p>request 5021ab7: session timeout</p>\r\n')), 'auth'],
  ['502 proxy page', () => parseError(page('502 Bad Gateway')), 'transient'],
  ['502 proxy page that mentions authentication', () => parseError(page('502 Bad Gateway', '<p>upstream authentication proxy unreachable (401)</p>\r\n')), 'transient'],
  ['503 proxy page', () => parseError(page('503 Service Temporarily Unavailable')), 'transient'],
  ['504 proxy page', () => parseError(page('504 Gateway Time-out')), 'transient'],
  ['a status line as the whole body', () => parseError('401 Unauthorized\n'), 'auth'],
  ['a structured 401 status', () => Object.assign(new Error('Unauthorized'), { status: 401 }), 'auth'],
  ['a structured 503 status', () => Object.assign(new Error('upstream connect error or disconnect/reset before headers'), { statusCode: 503 }), 'transient'],
  ['a 404 page', () => parseError(page('404 Not Found')), 'bug'],
  // Text with nothing structured and no anchored pattern: not recognised (a bug: stop and show it), whatever it mentions.
  ['a text that mentions 401', () => new Error('unexpected answer for row 401'), 'bug'],
  ['a text that mentions a timeout', () => new Error('the insert body ended early: timeout field missing'), 'bug'],
];

describe('classifyClickHouseError', () => {
  it.each(cases)('%s', (_, make, kind) => {
    const err = classifyClickHouseError(make());
    expect(err).toBeInstanceOf(CdrflowError);
    expect(err.kind).toBe(kind);
  });

  it('keeps the code and type, and the message a reader needs', () => {
    const err = classifyClickHouseError(parseError(server(469, 'Constraint `minutes_from_seconds` for table db.cdr is violated at row 1', 'VIOLATED_CONSTRAINT')));
    expect(err.code).toBe('469');
    expect(err.message).toBe('ClickHouse 469 VIOLATED_CONSTRAINT: Constraint `minutes_from_seconds` for table db.cdr is violated at row 1.');
  });

  it('bounds and escapes the message it keeps (a 2 MB answer, control characters)', () => {
    const body = server(27, `Cannot parse input: ${'x\u001b[2J\n'.repeat(500_000)}`, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED');
    expect(body.length).toBeGreaterThan(2_000_000);
    const err = classifyClickHouseError(parseError(body));
    expect(err.message.length).toBeLessThan(MAX_REASON_CHARS + 100);
    expect(err.message).toMatch(/… \(reason cut, \d+ chars\)$/);
    // eslint-disable-next-line no-control-regex
    expect(err.message).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(err.message).toContain('x\\u001b[2J\\u000a');
    expect(err.kind).toBe('rejected_by_sink');
  });

  it('leaves out a code or type that is no plain name', () => {
    const err = classifyClickHouseError(Object.assign(new Error('x'), { code: 'E\u001b[31m', type: 'A\nB' }));
    // eslint-disable-next-line no-control-regex
    expect(err.message).not.toMatch(/[\u0000-\u001f]/);
    // Left out, from the message and from the error's code (which logs and metric labels carry).
    expect(err.message).toBe('ClickHouse: x');
    expect(err.code).toBeUndefined();
  });

  it('returns cdrflow\'s own errors as they are', () => {
    const own = new CdrflowError('config', 'x');
    expect(classifyClickHouseError(own)).toBe(own);
  });
});

describe('isMissingSchemaError', () => {
  it.each([
    ['UNKNOWN_TABLE', parseError(server(60, 'Table db.nope does not exist', 'UNKNOWN_TABLE')), true],
    ['UNKNOWN_DATABASE in text the client could not parse', new Error('Code: 81. DB::Exception: Database nope does not exist'), true],
    ['a parse error naming UNKNOWN_TABLE and 60', parseError(server(27, 'Cannot parse input: UNKNOWN_TABLE 60', 'CANNOT_PARSE_INPUT_ASSERTION_FAILED')), false],
    ['a text naming 60', new Error('table 60 does not exist'), false],
  ])('%s', (_, err, missing) => {
    expect(isMissingSchemaError(err)).toBe(missing);
  });
});
