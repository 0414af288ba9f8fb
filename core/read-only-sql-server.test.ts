// The read-only query path against a ClickHouse server (CLICKHOUSE_URL): the documented limits (ops.sql.maxResultBytes,
// ops.sql.maxExecutionTimeSec) hold on cdrflow's side too, since a misbehaving or impostor server ignores the settings
// it is sent. A loopback HTTP server stands in for it.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXCEPTION_TAG, streamedErrorBlock } from '../test/loopback-clickhouse.ts';
import { memoryLog, type LogFn } from './log.ts';
import { DEFAULT_SQL_LIMITS, SqlQueryError, openReadOnlySql, type ReadOnlySql, type SqlLimits } from './read-only-sql.ts';

let server: Server | undefined;
let sql: ReadOnlySql | undefined;

afterEach(async () => {
  await sql?.close();
  server?.closeAllConnections();
  server?.close();
  server = sql = undefined;
});

const MiB = 1024 * 1024;

/**
 * A server answering formatQuery with the query itself and EXPLAIN AST with a SELECT's root, as ClickHouse would, and
 * everything else with `answer`; `answerFormat` stands in for formatQuery's answer when given.
 */
async function serverAnswering(
  answer: (res: ServerResponse, req: IncomingMessage, body: string) => void,
  limits: Partial<SqlLimits> = {},
  answerFormat?: (res: ServerResponse) => void,
  log?: LogFn,
): Promise<ReadOnlySql> {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (body.includes('formatQuery(')) {
        if (answerFormat) return answerFormat(res);
        const q = url.searchParams.get('param_q') ?? '';
        return res.end(/FORMAT JSONEachRow\s*$/.test(body) ? `${JSON.stringify({ f: q })}\n` : q);
      }
      if (body.startsWith('EXPLAIN AST')) return res.end('SelectWithUnionQuery (children 1)\n');
      answer(res, req, body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  sql = await openReadOnlySql({ kind: 'http', url: `http://127.0.0.1:${port}`, username: 'default', password: '', database: 'cdrflow' }, { ...DEFAULT_SQL_LIMITS, ...limits }, log ? { log } : {});
  return sql;
}

/** What an endless answer writes at most before it stalls: a client that reads it all fails by the test's timeout. */
const CAP = 64 * MiB;

/**
 * Writes as long as the client reads (waiting for drain), up to CAP bytes, then keeps the answer open for
 * good; resolves with the bytes written once the client closed the connection.
 */
function endlessAnswer(res: ServerResponse, status = 200, headers: Record<string, string> = {}): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  return new Promise((resolve) => {
    let written = 0;
    let closed = false;
    res.on('close', () => {
      closed = true;
      resolve(written);
    });
    res.writeHead(status, { 'content-type': 'text/plain', ...headers });
    const more = () => {
      while (!closed && written < CAP) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
    };
    more();
  });
}

async function refusal(run: Promise<string>): Promise<SqlQueryError> {
  const err = await run.then(
    (out) => new Error(`not refused, answered ${out.length} characters`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SqlQueryError);
  return err as SqlQueryError;
}

describe('read-only SQL on a ClickHouse server', () => {
  it('answers what the server answers, with the limits sent as settings', async () => {
    let settings: URLSearchParams | undefined;
    const s = await serverAnswering((res, req) => {
      settings = new URL(req.url ?? '/', 'http://x').searchParams;
      res.end('1\n');
    });
    expect(await s.run('SELECT 1', 'TSV')).toBe('1\n');
    expect(settings?.get('readonly')).toBe('1');
    expect(settings?.get('max_result_bytes')).toBe(String(DEFAULT_SQL_LIMITS.maxResultBytes));
  });

  it('sends the canonical text with one FORMAT clause: a trailing `; -- comment` and a FORMAT of its own are no second statement', async () => {
    // What formatQuery answers for each (checked on the embedded engine): no comment, no `;`, the FORMAT on its own line.
    const canonical: Record<string, string> = { 'SELECT 1; -- c': 'SELECT 1\n', 'SELECT 1 AS x FORMAT JSONEachRow': 'SELECT 1 AS x\nFORMAT JSONEachRow' };
    let asked = '';
    const sent: string[] = [];
    const s = await serverAnswering(
      (res, _req, body) => {
        sent.push(body);
        res.end('1\n');
      },
      {},
      (res) => res.end(canonical[asked]),
    );
    for (const query of Object.keys(canonical)) {
      asked = query;
      await s.run(query, 'TSV');
    }
    expect(sent.map((q) => q.replace(/[ \n]+/g, ' '))).toEqual(['SELECT 1 FORMAT TSV', 'SELECT 1 AS x FORMAT JSONEachRow']);
    // A binary FORMAT of the statement's own is refused as the asked one is, before the query is sent.
    asked = 'SELECT 1 FORMAT RowBinary';
    canonical[asked] = 'SELECT 1\nFORMAT RowBinary';
    expect((await refusal(s.run(asked, 'TSV'))).message).toMatch(/^format RowBinary is binary/);
    expect(sent).toHaveLength(2);
  });

  it('refuses a result larger than maxResultBytes as the engine does (396), however large the server made it', async () => {
    const s = await serverAnswering((res) => res.end(Buffer.alloc(3 * MiB, 'a')), { maxResultBytes: MiB });
    const err = await refusal(s.run('SELECT 1', 'TSV'));
    expect(err.status).toBe(422);
    expect(err.code).toBe('396');
    expect(err.message).toMatch(/Limit for result exceeded.*1048576 bytes.*TOO_MANY_ROWS_OR_BYTES/);
  });

  it('stops reading a result that never ends at maxResultBytes and closes the connection', async () => {
    let written: Promise<number> | undefined;
    const s = await serverAnswering((res) => void (written = endlessAnswer(res)), { maxResultBytes: MiB });
    const err = await refusal(s.run('SELECT 1', 'TSV'));
    expect(err.code).toBe('396');
    // The server wrote only what the client read past the limit and the sockets' buffers held: it was closed long
    // before its cap, and never ended the answer.
    expect(await written).toBeLessThan(CAP / 2);
  }, 10_000);

  it('bounds the answer to formatQuery the same way', async () => {
    let written: Promise<number> | undefined;
    const s = await serverAnswering(() => undefined, { maxResultBytes: MiB }, (res) => void (written = endlessAnswer(res)));
    expect((await refusal(s.run('SELECT 1', 'TSV'))).code).toBe('396');
    expect(await written).toBeLessThan(CAP / 2);
  }, 10_000);

  it('cuts an answer that drips a byte at a time at maxExecutionTimeSec (TIMEOUT_EXCEEDED, 159)', async () => {
    let drip: NodeJS.Timeout | undefined;
    const s = await serverAnswering(
      (res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        drip = setInterval(() => res.write('a'), 50);
        res.on('close', () => clearInterval(drip));
      },
      { maxExecutionTimeSec: 0.5 },
    );
    const started = performance.now();
    const err = await refusal(s.run('SELECT 1', 'TSV'));
    const elapsed = performance.now() - started;
    clearInterval(drip);
    expect(err.status).toBe(422);
    expect(err.code).toBe('159');
    expect(err.message).toMatch(/Timeout exceeded.*0\.5 s.*TIMEOUT_EXCEEDED/);
    expect(elapsed).toBeGreaterThanOrEqual(490);
    expect(elapsed).toBeLessThan(3_000);
  }, 10_000);

  it('cuts a server that never answers the query at maxExecutionTimeSec', async () => {
    const s = await serverAnswering(() => undefined, { maxExecutionTimeSec: 0.5 });
    const started = performance.now();
    const err = await refusal(s.run('SELECT 1', 'TSV'));
    expect(err.code).toBe('159');
    expect(performance.now() - started).toBeLessThan(3_000);
  }, 10_000);

  it('a wall clock stepped forward a day while the query is checked does not cut it at once', async () => {
    // maxExecutionTimeSec is a duration, counted on the monotonic clock: on the wall clock, a step forward (NTP, a VM
    // resumed) between the run's start and its query used up all of it, and the query was refused as too slow at once.
    let stepped = 0;
    const s = await serverAnswering(
      (res) => res.end('1\n'),
      {},
      (res) => {
        stepped = 86_400_000;
        res.end('SELECT 1');
      },
    );
    const wall = Date.now.bind(Date);
    const now = vi.spyOn(Date, 'now').mockImplementation(() => wall() + stepped);
    try {
      expect(await s.run('SELECT 1', 'TSV')).toBe('1\n');
    } finally {
      now.mockRestore();
    }
  });

  it('reads an error answer up to the limit too, and keeps the engine code of one within it', async () => {
    const s = await serverAnswering((res) => {
      res.writeHead(500, { 'x-clickhouse-exception-code': '62' });
      res.end('Code: 62. DB::Exception: Syntax error: failed at position 1. (SYNTAX_ERROR) (version 25.3.1.1)\n');
    });
    const err = await refusal(s.run('SELECT 1', 'TSV'));
    expect(err.status).toBe(400);
    expect(err.code).toBe('62');
    let written: Promise<number> | undefined;
    await sql?.close();
    server?.closeAllConnections();
    server?.close();
    const endless = await serverAnswering(
      (res) => {
        written = endlessAnswer(res, 500, { 'x-clickhouse-exception-code': '62' });
      },
      { maxResultBytes: MiB },
    );
    expect((await refusal(endless.run('SELECT 1', 'TSV'))).code).toBe('396');
    expect(await written).toBeLessThan(CAP / 2);
  }, 10_000);

  it('refuses an answer the server cut with an error after it began (25.11+), rather than answer its first rows as the whole', async () => {
    const message = 'Code: 241. DB::Exception: Memory limit (for query) exceeded: would use 9.31 GiB. (MEMORY_LIMIT_EXCEEDED) (version 25.11.1.1)';
    const s = await serverAnswering((res) => res.writeHead(200, { 'x-clickhouse-exception-tag': EXCEPTION_TAG }).end(`1\n2\n${streamedErrorBlock(EXCEPTION_TAG, message)}`));
    const err = await refusal(s.run('SELECT number FROM numbers(10)', 'TSV'));
    expect({ status: err.status, code: err.code, message: err.message }).toEqual({ status: 422, code: '241', message: expect.stringMatching(/^Memory limit \(for query\) exceeded.*\(MEMORY_LIMIT_EXCEEDED\)$/) });
  });

  it.each([
    ['the error the block holds', streamedErrorBlock(EXCEPTION_TAG, 'Code: 241. DB::Exception: Memory limit (for query) exceeded. (MEMORY_LIMIT_EXCEEDED)'), '241'],
    ['the result too large when no block follows', 'more rows\n'.repeat(10), '396'],
  ])('refuses rows that end just short of maxResultBytes and go on past it with %s', async (_, after, code) => {
    const s = await serverAnswering((res) => res.writeHead(200, { 'x-clickhouse-exception-tag': EXCEPTION_TAG }).end(`${'1\n'.repeat(MiB / 2 - 8)}${after}`), { maxResultBytes: MiB });
    const err = await refusal(s.run('SELECT number FROM numbers(1e9)', 'TSV'));
    expect({ status: err.status, code: err.code }).toEqual({ status: 422, code });
  });

  it('answers rows that spell the error marker but do not end with the tagged block whole', async () => {
    const rows = `__exception__\r\n${EXCEPTION_TAG}\r\nCode: 1. DB::Exception: x\n5 ${EXCEPTION_TAG}\r\n__exception__\r\n\tmore\n`;
    const s = await serverAnswering((res) => res.writeHead(200, { 'x-clickhouse-exception-tag': EXCEPTION_TAG }).end(rows));
    expect(await s.run('SELECT x FROM t', 'TSV')).toBe(rows);
  });

  it('logs a query it cut through the project logger at debug, and prints nothing of its own', async () => {
    const printed: unknown[][] = [];
    const spies = (['log', 'debug', 'info', 'warn', 'error'] as const).map((m) => vi.spyOn(console, m).mockImplementation((...a: unknown[]) => void printed.push(a)));
    try {
      const log = memoryLog();
      const reported = () => printed.length + log.entries.length;
      // Cut at maxResultBytes: the client warns of the answer left unread once its socket closes, after run() ended
      // (for the first request on a socket, here formatQuery's: a query's own when no idle socket is left).
      const big = await serverAnswering(() => undefined, { maxResultBytes: MiB }, (res) => void endlessAnswer(res), log);
      expect((await refusal(big.run('SELECT 1', 'TSV'))).code).toBe('396');
      await vi.waitFor(() => expect(reported()).toBeGreaterThan(0));
      await sql?.close();
      server?.closeAllConnections();
      server?.close();
      // Cut at maxExecutionTimeSec before any answer: the client logs the abort as an error.
      const before = reported();
      const silent = await serverAnswering(() => undefined, { maxExecutionTimeSec: 0.2 }, undefined, log);
      expect((await refusal(silent.run('SELECT 1', 'TSV'))).code).toBe('159');
      await vi.waitFor(() => expect(reported()).toBeGreaterThan(before));
      expect(printed).toEqual([]);
      expect(log.entries.filter((e) => e.level !== 'debug')).toEqual([]);
      expect(log.entries.map((e) => e.event)).toContain('sql.client');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  }, 10_000);
});
