// Reads of rows, inserts and commands against a server at CLICKHOUSE_URL that is another program, or misbehaves: each
// ends with a clear error within its bound, having read little past it, whatever the server does. A loopback HTTP
// server stands in for it and counts what it sent; the reads and writes are the project's own (reconcile's reader, the
// sink's checks and inserts, migrate).
import type { ServerResponse } from 'node:http';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { AppMetrics } from '../app/metrics.ts';
import { ClickHouseReader } from '../reconcile/layers.ts';
import { seededRandom } from '../simulators/kit.ts';
import { insertLines } from '../sinks/clickhouse/insert.ts';
import { migrate } from '../sinks/clickhouse/migrations.ts';
import { assertTableReady } from '../sinks/clickhouse/sink.ts';
import { streamUntilClosed } from '../test/endless-answer.ts';
import { EXCEPTION_TAG, loopbackClickHouse, streamedErrorBlock, type LoopbackClickHouse } from '../test/loopback-clickhouse.ts';
import { LOOKUP_READ, MAX_STATEMENT_ANSWER_BYTES, readRows, RECONCILE_READ, runBounded, streamedError, type ReadBounds } from './clickhouse.ts';
import { CdrflowError } from './errors.ts';
import { memoryLog, type LogFn } from './log.ts';

let stand: LoopbackClickHouse | undefined;

const MEMORY_LIMIT = 'Code: 241. DB::Exception: Memory limit (total) exceeded: would use 9.31 GiB. (MEMORY_LIMIT_EXCEEDED) (version 25.11.1.1)';

afterEach(async () => {
  await stand?.close();
  stand = undefined;
});

/** A server answering the statement that contains `asked` as `answer` does, and any other with an empty 200. */
async function impostor(asked: string, answer: (res: ServerResponse) => void, log?: LogFn): Promise<ClickHouseClient> {
  stand = await loopbackClickHouse((res, { statement }) => (statement.includes(asked) ? answer(res) : res.end()), log ? { log } : {});
  return stand.client;
}

/** Writes `res` a byte at a time, one every few milliseconds, until the client hangs up; resolves with the bytes sent. */
function trickle(res: ServerResponse): Promise<number> {
  return new Promise((resolve) => {
    let sent = 0;
    const timer = setInterval(() => res.write('[', () => void sent++), 5);
    res.on('close', () => {
      clearInterval(timer);
      resolve(sent);
    });
  });
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(() => undefined, (e: unknown) => e as Error);
  if (err === undefined) throw new Error('expected the read to fail');
  return err;
}

describe('an error a server streams after its answer began (streamedError)', () => {
  const block = streamedErrorBlock(EXCEPTION_TAG, MEMORY_LIMIT);
  it.each([
    ['after rows', `1\n2\n${block}`],
    ['inside a row', `{"a":${block}`],
    ['the message ended by \\r\\n, as the reference page words the block', block.replace(/\n(\d+ )/, '\r\n$1')],
  ])('is the error the block holds: %s', (_, answer) => {
    const err = streamedError(answer, EXCEPTION_TAG) as { code?: string; type?: string };
    expect({ code: err.code, type: err.type }).toEqual({ code: '241', type: 'MEMORY_LIMIT_EXCEEDED' });
  });

  it.each([
    ['no tag header (a server before 25.11)', block, undefined],
    ['another tag', block, 'aaaaaaaaaaaaaaaa'],
    ['the block not at the end', `${block}1\n`, EXCEPTION_TAG],
    ['an empty answer', '', EXCEPTION_TAG],
  ])('is none with %s', (_, answer, tag) => {
    expect(streamedError(answer, tag)).toBeUndefined();
  });

  // Cut where a proxy's limit or a closed connection cuts it: the code is kept once its line arrived.
  it.each([
    ['inside its message', block.slice(0, block.indexOf(' (MEMORY')), '241'],
    ['before its length line', block.slice(0, block.indexOf('\n', block.indexOf('Code'))), '241'],
    ['after rows, before the message', `1\n2\n${block.slice(0, block.indexOf('Code'))}`, undefined],
  ])('is still an error when the block was cut %s', (_, answer, code) => {
    const err = streamedError(answer, EXCEPTION_TAG) as { code?: string; message: string } | undefined;
    expect(err).toBeInstanceOf(Error);
    expect(err?.code).toBe(code);
  });

  it('is still an error when only the end of the block arrived', () => {
    const err = streamedError(block.slice(block.indexOf('Code: 241')), EXCEPTION_TAG);
    expect(err?.message).toBe('ClickHouse ended its answer with an error whose text was cut');
  });

  // Answers as a server sends them (rows, then the block or not) cut into chunks of random sizes, as the network may
  // deliver them: inside the tag, inside a UTF-8 character, with the block just past the read's row or byte bound.
  it('reads an answer the same however it arrives cut into chunks (seeded)', async () => {
    const random = seededRandom(25);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const sent: { body: Buffer; sizes: number[] }[] = [];
    stand = await loopbackClickHouse((res) => {
      const { body, sizes } = sent.shift()!;
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'x-clickhouse-exception-tag': EXCEPTION_TAG });
      res.socket?.setNoDelay(true);
      void (async () => {
        let at = 0;
        // A turn of the event loop after each piece: what arrives while the reader is busy reaches it joined.
        for (const size of sizes) await new Promise((written) => res.write(body.subarray(at, (at += size)), () => setImmediate(written)));
        res.end();
      })();
    });
    const row = z.object({ n: z.number(), s: z.string() });
    const messages = [MEMORY_LIMIT, 'Code: 241. DB::Exception: Mémoire dépassée\r\nsur 内存: would use 9.31 GiB. (MEMORY_LIMIT_EXCEEDED) (version 25.11.1.1)'];
    for (let i = 0; i < 60; i++) {
      const values = Array.from({ length: Math.floor(random() * 6) }, (_, n) => ({ n, s: pick(['a', 'é内', '__exception__\r\n', EXCEPTION_TAG]) }));
      const rows = Buffer.from(values.map((v) => `${JSON.stringify(v)}\n`).join(''));
      const shape = pick(['rows', 'rows, then the block', 'a row cut by the block'] as const);
      const message = pick(messages);
      const cutRow = Buffer.from('{"n":9,"s":"é内"}');
      const head = shape === 'a row cut by the block' ? Buffer.concat([rows, cutRow.subarray(0, 1 + Math.floor(random() * (cutRow.length - 1)))]) : rows;
      const body = shape === 'rows' ? rows : Buffer.concat([head, Buffer.from(streamedErrorBlock(EXCEPTION_TAG, message))]);
      const sizes: number[] = [];
      for (let left = body.length; left > 0; left -= sizes.at(-1)!) sizes.push(Math.min(left, 1 + Math.floor(random() * pick([2, 8, 40, 400]))));
      sent.push({ body, sizes });
      const bounds: ReadBounds = { rows: values.length, bytes: head.length + Math.floor(random() * (body.length - head.length + 1)), ms: 5_000 };
      const outcome = await readRows(stand.client, { query: 'SELECT n, s FROM t', what: 'the rows', row, bounds }).then(
        (got) => ({ rows: got }),
        (err: { code?: string; message: string }) => ({ code: err.code, message: err.message.trim() }),
      );
      const expected = shape === 'rows' ? { rows: values } : { code: '241', message: message.slice(message.indexOf('Exception: ') + 11, message.indexOf(' (MEMORY')) };
      expect({ i, shape, bytesBound: bounds.bytes, outcome }).toEqual({ i, shape, bytesBound: bounds.bytes, outcome: expected });
    }
  }, 30_000);
});

// Reconcile's reader with bounds made small; the sink's checks below with the bounds they run with.
describe("reconcile's ClickHouse reads", () => {
  const BOUNDS: ReadBounds = { rows: 1_000, bytes: 64 * 1024, ms: 1_000 };
  const CAP = 256 * BOUNDS.bytes;
  const scope = { from: '2026-11-30', to: '2026-11-30', tzOffsetMinutes: 0, cutoffMs: Date.UTC(2026, 11, 1) };
  const ids = (c: ClickHouseClient) => new ClickHouseReader(c, 'cdrflow', 'cdr', BOUNDS).ids(scope, 'tencent-ccc', '1400', '2026-11-30');

  it("a read the server holds ends at once with the run's abort, not at its 10-minute deadline", async () => {
    let asked!: () => void;
    const held = new Promise<void>((resolve) => (asked = resolve));
    const c = await impostor('FINAL', () => asked());
    const abort = new AbortController();
    const read = new ClickHouseReader(c, 'cdrflow', 'cdr', RECONCILE_READ, abort.signal).read(scope, ['tencent-ccc'], null);
    const ended = read.then(() => 'answered', (err: unknown) => err);
    await held;
    const reason = new Error('SIGTERM');
    abort.abort(reason);
    expect(await ended).toBe(reason);
  }, 10_000);

  it('stops at the byte bound of a 200 answer that never ends, having read little past it', async () => {
    let outcome!: Promise<{ sent: number; whole: boolean }>;
    const c = await impostor('SELECT cdr_id', (res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      outcome = streamUntilClosed(res, Buffer.alloc(16 * 1024, 'x'), CAP);
    });
    const err = await failure(ids(c));
    const { sent, whole } = await outcome;
    expect(err).toBeInstanceOf(CdrflowError);
    expect({ kind: (err as CdrflowError).kind, whole }).toEqual({ kind: 'config', whole: false });
    expect(err.message).toBe(`ClickHouse answered the ids of a bucket with more than ${BOUNDS.bytes} bytes; stopped reading`);
    expect(sent).toBeLessThan(CAP / 2);
  }, 20_000);

  it('ends at its deadline an answer that comes a byte at a time, however long it would take', async () => {
    let sent!: Promise<number>;
    const c = await impostor('SELECT cdr_id', (res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      sent = trickle(res);
    });
    const err = await failure(ids(c));
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('transient');
    expect(err.message).toBe('ClickHouse did not answer the ids of a bucket within 1 s; stopped reading');
    // The server saw the client go: the answer is not read on.
    expect(await sent).toBeLessThan(BOUNDS.bytes);
  }, 20_000);

  it('reads only the head of a failed answer that never ends', async () => {
    let outcome!: Promise<{ sent: number; whole: boolean }>;
    const c = await impostor('SELECT cdr_id', (res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      outcome = streamUntilClosed(res, Buffer.alloc(16 * 1024, 'y'), CAP);
    });
    const err = await failure(ids(c));
    const { sent, whole } = await outcome;
    expect(whole).toBe(false);
    expect(sent).toBeLessThan(CAP / 2);
    expect(err.message).toMatch(/^y{1000}/);
    expect(err.message.length).toBeLessThanOrEqual(64 * 1024);
  }, 20_000);

  it('refuses rows of another shape with a clear error, not NaN minutes', async () => {
    const c = await impostor('SELECT cdr_id', (res) => res.end(`${JSON.stringify({ cdr_id: 5, m: 'many', v: null })}\n`));
    const err = await failure(ids(c));
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('config');
    expect(err.message).toBe('ClickHouse answered with what is not the ids of a bucket asked for: "{\\"cdr_id\\":5,\\"m\\":\\"many\\",\\"v\\":null}"');
  });

  it('takes an error the server streams after its rows began (25.11+) for that error, not for rows of another shape', async () => {
    const row = `${JSON.stringify({ cdr_id: 'a', m: 1, v: '1' })}\n`;
    const c = await impostor('SELECT cdr_id', (res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'x-clickhouse-exception-tag': EXCEPTION_TAG });
      res.end(`${row}${row}{"cdr_id":"b","m"${streamedErrorBlock(EXCEPTION_TAG, MEMORY_LIMIT)}`);
    });
    const err = await failure(ids(c));
    expect({ code: (err as { code?: string }).code, type: (err as { type?: string }).type, message: err.message }).toEqual({ code: '241', type: 'MEMORY_LIMIT_EXCEEDED', message: expect.stringMatching(/^Memory limit \(total\) exceeded/) });
  });

  it('reads at most a block past a line that is not a row before refusing it, when the server could stream an error', async () => {
    let outcome!: Promise<{ sent: number; whole: boolean }>;
    const c = await impostor('SELECT cdr_id', (res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'x-clickhouse-exception-tag': EXCEPTION_TAG });
      res.write('not a row\n');
      outcome = streamUntilClosed(res, Buffer.alloc(4 * 1024, 'x'), CAP);
    });
    const err = await failure(ids(c));
    const { sent, whole } = await outcome;
    expect({ kind: (err as CdrflowError).kind, whole }).toEqual({ kind: 'config', whole: false });
    expect(err.message).toBe('ClickHouse answered with what is not the ids of a bucket asked for: "not a row"');
    expect(sent).toBeLessThan(CAP / 2);
  }, 20_000);

  it('stops at the row bound', async () => {
    const row = `${JSON.stringify({ cdr_id: 'a', m: 1, v: '1' })}\n`;
    const c = await impostor('SELECT cdr_id', (res) => res.end(row.repeat(BOUNDS.rows + 1)));
    const err = await failure(ids(c));
    expect(err.message).toBe(`ClickHouse answered the ids of a bucket with more than ${BOUNDS.rows} rows; stopped reading`);
  });
});

describe("the sink's ClickHouse reads", () => {
  const CAP = 16 * LOOKUP_READ.bytes;

  it("stops at the byte bound of a table's columns that never end, and stops the sink (config)", async () => {
    let outcome!: Promise<{ sent: number; whole: boolean }>;
    const c = await impostor('system.columns', (res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      outcome = streamUntilClosed(res, Buffer.alloc(64 * 1024, 'x'), CAP);
    });
    const err = await failure(assertTableReady(c, 'cdrflow', 'cdr'));
    const { sent, whole } = await outcome;
    expect(err).toBeInstanceOf(CdrflowError);
    expect({ kind: (err as CdrflowError).kind, whole }).toEqual({ kind: 'config', whole: false });
    expect(sent).toBeLessThan(CAP / 2);
  }, 30_000);

  it("reads only the head of a proxy's failed answer that never ends, and retries it by its status (502)", async () => {
    let outcome!: Promise<{ sent: number; whole: boolean }>;
    const c = await impostor('system.columns', (res) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      outcome = streamUntilClosed(res, Buffer.alloc(64 * 1024, 'y'), CAP);
    });
    const err = await failure(assertTableReady(c, 'cdrflow', 'cdr'));
    const { sent, whole } = await outcome;
    expect({ kind: (err as CdrflowError).kind, code: (err as CdrflowError).code, whole }).toEqual({ kind: 'transient', code: 'HTTP 502', whole: false });
    expect(sent).toBeLessThan(CAP / 2);
  }, 30_000);

  it("still classifies ClickHouse's own error by its code (a table not there: config)", async () => {
    const c = await impostor('system.columns', (res) => res.writeHead(404, { 'x-clickhouse-exception-code': '60' }).end("Code: 60. DB::Exception: Table cdrflow.cdr doesn't exist. (UNKNOWN_TABLE)\n"));
    const err = await failure(assertTableReady(c, 'cdrflow', 'cdr'));
    expect({ kind: (err as CdrflowError).kind, code: (err as CdrflowError).code }).toEqual({ kind: 'config', code: '60' });
  });

  it("classifies an error the server streams after its answer began (25.11+) by its code (a memory limit: retried)", async () => {
    const c = await impostor('system.columns', (res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'x-clickhouse-exception-tag': EXCEPTION_TAG });
      res.end(`{"name":"cdr_id","ty${streamedErrorBlock(EXCEPTION_TAG, MEMORY_LIMIT)}`);
    });
    const err = await failure(assertTableReady(c, 'cdrflow', 'cdr'));
    expect({ kind: (err as CdrflowError).kind, code: (err as CdrflowError).code }).toEqual({ kind: 'transient', code: '241' });
  });

  it('refuses applied migrations of another shape instead of taking them as none applied', async () => {
    const c = await impostor('FROM cdrflow.cdrflow_migrations', (res) => res.end(`${JSON.stringify({ version: 'one', checksum: 7 })}\n`));
    const err = await failure(migrate(c, { database: 'cdrflow' }));
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('config');
    expect(err.message).toMatch(/^ClickHouse answered with what is not the applied migrations asked for: /);
  });
});

// The sink's insert of a batch and migrate's first statement (CREATE DATABASE), with the bounds they run with; the
// deadline with one made small, through runBounded, the helper both go through.
describe('inserts and commands', () => {
  const CAP = 1024 * MAX_STATEMENT_ANSWER_BYTES;
  const insertBatch = (c: ClickHouseClient) => insertLines(c, 'cdrflow.cdr', [{ line: Buffer.from('a\t1\n') }], 'TabSeparated', 'cdr.normalized:0:10-11', ['cdr_id', 'version']);
  const createDatabase = (c: ClickHouseClient) => migrate(c, { database: 'cdrflow' });
  const endless = (status: number, head: string) => (res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.write(head);
    return streamUntilClosed(res, Buffer.alloc(64 * 1024, 'y'), CAP);
  };

  it.each([
    ['an insert', 'INSERT', insertBatch, 'the insert into cdrflow.cdr'],
    ['a command', 'CREATE DATABASE', createDatabase, 'a migration statement'],
  ] as const)('%s answered by a 200 that never ends stops at its byte bound and stops the sink (config)', async (_, asked, run, what) => {
    let outcome!: Promise<{ sent: number; whole: boolean }>;
    const c = await impostor(asked, (res) => void (outcome = endless(200, '')(res)));
    const err = await failure(run(c));
    const { sent, whole } = await outcome;
    expect(err).toBeInstanceOf(CdrflowError);
    expect({ kind: (err as CdrflowError).kind, whole }).toEqual({ kind: 'config', whole: false });
    expect(err.message).toContain(`ClickHouse answered ${what} with more than ${MAX_STATEMENT_ANSWER_BYTES} bytes; stopped reading`);
    expect(sent).toBeLessThan(CAP / 2);
  }, 30_000);

  it.each([
    ['an insert', 'INSERT', insertBatch, 'Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)\n', { kind: 'transient', code: '241' }],
    ['a command', 'CREATE DATABASE', createDatabase, 'Code: 497. DB::Exception: default: Not enough privileges. (ACCESS_DENIED)\n', { kind: 'auth', code: '497' }],
  ] as const)("%s refused with a 500 whose body never ends: only its head is read, classified by ClickHouse's code", async (_, asked, run, head, classified) => {
    let outcome!: Promise<{ sent: number; whole: boolean }>;
    const c = await impostor(asked, (res) => void (outcome = endless(500, head)(res)));
    const err = await failure(run(c));
    const { sent, whole } = await outcome;
    expect(err).toBeInstanceOf(CdrflowError);
    expect({ kind: (err as CdrflowError).kind, whole }).toEqual({ kind: classified.kind, whole: false });
    // The sink's error keeps the code; migrate's names the statement that failed.
    expect(err.message).toMatch(new RegExp(`ClickHouse ${classified.code}\\b`));
    expect(sent).toBeLessThan(CAP / 2);
  }, 30_000);

  it.each([
    ['tagged (25.11+)', { 'x-clickhouse-exception-tag': EXCEPTION_TAG }, streamedErrorBlock(EXCEPTION_TAG, MEMORY_LIMIT)],
    ['as older servers write it', {}, `${MEMORY_LIMIT}\n`],
    ['after the rows of a DDL ON CLUSTER, as older servers write it', {}, `ch-1\t9000\t0\t\t1\t0\n${MEMORY_LIMIT}\n`],
    ['tagged, with the tag header lost on the way', {}, streamedErrorBlock(EXCEPTION_TAG, MEMORY_LIMIT)],
  ] as const)('an insert answered 200 with an error in its body (%s) fails by that error, not as stored', async (_, headers, body) => {
    const c = await impostor('INSERT', (res) => res.writeHead(200, { 'content-type': 'text/plain', ...headers }).end(body));
    const err = await failure(insertBatch(c));
    expect(err).toBeInstanceOf(CdrflowError);
    expect({ kind: (err as CdrflowError).kind, message: err.message }).toEqual({ kind: 'transient', message: expect.stringMatching(/ClickHouse 241\b/) });
  });

  it.each([
    ['an insert', 'INSERT', insertBatch],
    ['a command', 'CREATE DATABASE', createDatabase],
  ] as const)('%s answered 200 with an X-ClickHouse-Exception-Code header and a body that does not say the error fails by that code', async (_, asked, run) => {
    const c = await impostor(asked, (res) => res.writeHead(200, { 'content-type': 'text/plain', 'x-clickhouse-exception-code': '241' }).end());
    const err = await failure(run(c));
    expect(err).toBeInstanceOf(CdrflowError);
    expect({ kind: (err as CdrflowError).kind, message: err.message }).toEqual({ kind: 'transient', message: expect.stringMatching(/ClickHouse 241\b/) });
  });

  it.each([
    ['an insert', 'INSERT', insertBatch],
    ['a command', 'CREATE DATABASE', createDatabase],
  ] as const)('%s asks the server to hold its status until the statement ended (wait_end_of_query)', async (_, asked, run) => {
    const seen: (string | null)[] = [];
    stand = await loopbackClickHouse((res, { url, statement }) => {
      if (statement.includes(asked)) seen.push(url.searchParams.get('wait_end_of_query'));
      res.end();
    });
    // Only how the statement was sent matters: migrate goes on to find none of its tables on this empty server.
    await run(stand.client).catch(() => undefined);
    expect(seen).toEqual(['1']);
  });

  // The server began its error block and the answer ended inside it: the statement failed, whatever of it arrived.
  const cutBlock = streamedErrorBlock(EXCEPTION_TAG, MEMORY_LIMIT).slice(0, streamedErrorBlock(EXCEPTION_TAG, MEMORY_LIMIT).indexOf(' (MEMORY'));
  it.each([
    ['the answer ended inside the block', (res: ServerResponse) => res.end(cutBlock)],
    ['the connection closed inside the block', (res: ServerResponse) => void res.write(cutBlock, () => setImmediate(() => res.socket?.destroy()))],
  ])('an insert answered 200 whose error block is cut (%s) fails by the error it began, not as stored', async (_, cut) => {
    const c = await impostor('INSERT', (res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-clickhouse-exception-tag': EXCEPTION_TAG });
      cut(res);
    });
    const err = await failure(insertBatch(c));
    expect(err).toBeInstanceOf(CdrflowError);
    expect({ kind: (err as CdrflowError).kind, code: (err as CdrflowError).code }).toEqual({ kind: 'transient', code: '241' });
  });

  // Cut before its code: the failure is unknown, the cut is the network's; the insert keeps its dedup token, so a retry is safe.
  const cutBeforeCode = cutBlock.slice(0, cutBlock.indexOf('Code'));
  it.each([
    ['the answer ended inside the block', (res: ServerResponse) => res.end(cutBeforeCode)],
    ['the connection closed inside the block', (res: ServerResponse) => void res.write(cutBeforeCode, () => setImmediate(() => res.socket?.destroy()))],
    ['only the end of the block arrived', (res: ServerResponse) => res.end(streamedErrorBlock(EXCEPTION_TAG, MEMORY_LIMIT).slice(cutBlock.indexOf('Code')))],
  ])('an insert answered 200 whose error block is cut before its code (%s) is retried (transient), not a bug that stops the sink', async (_, cut) => {
    const c = await impostor('INSERT', (res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-clickhouse-exception-tag': EXCEPTION_TAG });
      cut(res);
    });
    const err = await failure(insertBatch(c));
    expect(err).toBeInstanceOf(CdrflowError);
    expect({ kind: (err as CdrflowError).kind, message: err.message }).toEqual({ kind: 'transient', message: expect.stringContaining('ClickHouse ended its answer with an error whose text was cut') });
  });

  it('a read answered with rows and then a cut error block fails by that error, its code kept', async () => {
    const c = await impostor('system.columns', (res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'x-clickhouse-exception-tag': EXCEPTION_TAG });
      res.write(`{"name":"cdr_id","type":"String"}\n${cutBlock}`, () => setImmediate(() => res.socket?.destroy()));
    });
    const err = await failure(assertTableReady(c, 'cdrflow', 'cdr'));
    expect({ kind: (err as CdrflowError).kind, code: (err as CdrflowError).code }).toEqual({ kind: 'transient', code: '241' });
  });

  it.each([
    ['an insert', 'INSERT', { table: 'cdrflow.cdr', columns: ['cdr_id'], values: { format: 'TabSeparated', body: [Buffer.from('a\n')] } }],
    ['a command', 'OPTIMIZE', { query: "OPTIMIZE TABLE cdrflow.cdr PARTITION ID '202612' FINAL" }],
  ] as const)('%s answered by a 200 that comes a byte at a time ends at its deadline (transient: retried)', async (_, asked, statement) => {
    let sent!: Promise<number>;
    const c = await impostor(asked, (res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      sent = trickle(res);
    });
    const err = await failure(runBounded(c, { what: 'the statement', ms: 1_000, ...statement }));
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('transient');
    expect(err.message).toBe('ClickHouse did not finish the statement within 1 s; stopped waiting');
    // The server saw the client go: the answer is not read on.
    expect(await sent).toBeLessThan(MAX_STATEMENT_ANSWER_BYTES);
  }, 20_000);

  it("sends an insert's rows, settings and dedup token as client.insert() did, and the job's timed client still times it", async () => {
    let seen!: { url: URL; body: string };
    stand = await loopbackClickHouse((res, { url, body }) => {
      seen = { url, body };
      res.end();
    });
    const client = stand.client;
    const metrics = new AppMetrics();
    await insertLines(metrics.timedInserts(client), 'cdrflow.cdr', [{ line: Buffer.from('a\t1\n') }, { line: Buffer.from('b\t2\n') }], 'TabSeparated', 'cdr.normalized:0:10-11', ['cdr_id', 'version']);
    expect(seen.body).toBe('a\t1\nb\t2\n');
    expect(seen.url.searchParams.get('query')).toBe('INSERT INTO cdrflow.cdr (cdr_id, version) FORMAT TabSeparated');
    expect(Object.fromEntries(['insert_deduplication_token', 'insert_deduplicate', 'max_insert_block_size', 'output_format_json_quote_64bit_integers'].map((k) => [k, seen.url.searchParams.get(k)]))).toEqual({
      insert_deduplication_token: 'cdr.normalized:0:10-11',
      insert_deduplicate: '1',
      max_insert_block_size: '2',
      output_format_json_quote_64bit_integers: '1',
    });
    expect(await metrics.registry.getSingleMetricAsString('cdrflow_clickhouse_insert_duration_seconds')).toMatch(/cdrflow_clickhouse_insert_duration_seconds_count\{outcome="ok"\} 1$/m);
  });
});

// The client's own entries: @clickhouse/client writes them to the console by default, with a stack.
describe('a statement or read the server answers only once it has ended', () => {
  // Silent for SILENCE_MS, well past the idle timeout CLICKHOUSE_URL asks for (IDLE_MS), then answered.
  const IDLE_MS = 50;
  const SILENCE_MS = 400;
  const silentThen = (answer: (res: ServerResponse) => void, log: LogFn = memoryLog()) =>
    loopbackClickHouse((res, { statement }) => {
      if (!statement.includes('OPTIMIZE') && !statement.includes('SELECT')) return void res.end();
      const timer = setTimeout(() => answer(res), SILENCE_MS);
      res.on('close', () => clearTimeout(timer));
    }, { urlQuery: `request_timeout=${IDLE_MS}`, log });
  const repair = (c: ClickHouseClient, ms: number) => runBounded(c, { what: 'the repair of a partition', ms, query: 'OPTIMIZE TABLE cdrflow.cdr PARTITION 202612 FINAL' });
  const figures = (c: ClickHouseClient, ms: number) => readRows(c, { query: 'SELECT 1 AS n', what: 'the figures', row: z.object({ n: z.number() }), bounds: { rows: 10, bytes: 1024, ms } });

  it('an OPTIMIZE … FINAL silent past the idle timeout ends well within its own deadline, and a note says the URL\'s timeout is ignored', async () => {
    const log = memoryLog();
    stand = await silentThen((res) => res.end(), log);
    await expect(repair(stand.client, 10_000)).resolves.toBeUndefined();
    expect(log.entries).toContainEqual(expect.objectContaining({ level: 'warn', event: 'clickhouse.request_timeout_ignored' }));
  });

  it('a read silent past the idle timeout gets its rows', async () => {
    stand = await silentThen((res) => res.end('{"n":1}\n'));
    await expect(figures(stand.client, 10_000)).resolves.toEqual([{ n: 1 }]);
  });

  it.each([
    ['an OPTIMIZE … FINAL', repair, 'ClickHouse did not finish the repair of a partition within 0.2 s'],
    ['a read', figures, 'ClickHouse did not answer the figures within 0.2 s'],
  ] as const)('%s silent past its own deadline still ends there, as a transient error', async (_, run, late) => {
    stand = await silentThen((res) => res.end());
    const started = Date.now();
    const err = await failure(run(stand.client, 200));
    expect(err).toBeInstanceOf(CdrflowError);
    expect({ kind: (err as CdrflowError).kind, message: err.message }).toEqual({ kind: 'transient', message: expect.stringContaining(late) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });
});

describe("the shared client's log", () => {
  it('a read or a statement cut by its deadline or by the run\'s abort prints nothing and leaves a debug entry', async () => {
    const printed: unknown[][] = [];
    const spies = (['log', 'debug', 'info', 'warn', 'error'] as const).map((m) => vi.spyOn(console, m).mockImplementation((...a: unknown[]) => void printed.push(a)));
    try {
      const log = memoryLog();
      // Held: no answer at all, so the cut aborts the request; trickled: the headers and then a byte at a time, so the
      // cut leaves the answer unread when its socket closes.
      let held = true;
      let answering: () => void = () => undefined;
      const c = await impostor('SELECT', (res) => {
        if (!held) {
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          void trickle(res);
        }
        answering();
      }, log);
      const read = (signal?: AbortSignal) => readRows(c, { query: 'SELECT 1 AS n', what: 'a figure', row: z.object({ n: z.number() }), bounds: { rows: 10, bytes: 1024, ms: signal ? 60_000 : 200 }, ...(signal ? { signal } : {}) });
      const statement = (signal?: AbortSignal) => runBounded(c, { what: 'the statement', query: 'SELECT 1', ms: signal ? 60_000 : 200, ...(signal ? { signal } : {}) });
      for (const [answer, run] of [[true, read], [false, read], [true, statement], [false, statement]] as const) {
        held = answer;
        const before = log.entries.length + printed.length;
        expect(await failure(run())).toBeInstanceOf(CdrflowError);
        await vi.waitFor(() => expect(log.entries.length + printed.length).toBeGreaterThan(before));
        // The run's abort once the server has the request (and, trickled, sent its headers), not before it was sent.
        const abort = new AbortController();
        answering = () => abort.abort(new Error('SIGINT'));
        const afterDeadline = log.entries.length + printed.length;
        expect(await failure(run(abort.signal))).toEqual(new Error('SIGINT'));
        answering = () => undefined;
        await vi.waitFor(() => expect(log.entries.length + printed.length).toBeGreaterThan(afterDeadline));
      }
      expect(printed).toEqual([]);
      expect(log.entries.filter((e) => e.level !== 'debug')).toEqual([]);
      expect(new Set(log.entries.map((e) => e.event))).toEqual(new Set(['clickhouse.client']));
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  }, 20_000);

  it('a request that fails otherwise (the server hung up) is a warning, through the same log', async () => {
    const log = memoryLog();
    const c = await impostor('SELECT', (res) => void res.socket?.destroy(), log);
    const err = await failure(readRows(c, { query: 'SELECT 1 AS n', what: 'a figure', row: z.object({ n: z.number() }), bounds: LOOKUP_READ }));
    expect(log.entries).toContainEqual(expect.objectContaining({ level: 'warn', event: 'clickhouse.client', fields: expect.objectContaining({ error: err.message }) }));
  });
});
