import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Registry, Counter, Gauge } from 'prom-client';
import { request, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { DOOR_REFUSALS_LOGGED_PER_MINUTE, JOB_STARTING, JOB_STOPPING, MAX_PIPELINED_REQUESTS, RECONCILE_UNSENT_BOUND_BYTES, SQL_CONTENT_TYPE, allowedHost, allowedOrigin, startOpsServer, type OpsHandlers } from './ops-server.ts';
import { SqlQueryError } from './read-only-sql.ts';

/** A query that runs until its client leaves: then it is noted in `cancelled` and fails as the engine's cancel does. */
async function cancelledOnAbort(sql: string, signal: AbortSignal, cancelled: string[]): Promise<never> {
  await new Promise((resolve) => signal.addEventListener('abort', resolve));
  cancelled.push(sql);
  throw new SqlQueryError(499, 'cancelled');
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

/** The text of a POST /sql request for `query` to the ops server on `port`; `length` its Content-Length. */
function sqlRequest(port: number, query: string, length = Buffer.byteLength(query)): string {
  return `POST /sql?format=TSV HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${SQL_CONTENT_TYPE}\r\nContent-Length: ${length}\r\n\r\n${query}`;
}

/** An ops server of a job that is ready, with no metrics and an empty status: for tests of /sql, /reconcile and the wire. */
function readyOpsServer(handlers: Omit<OpsHandlers, 'metrics' | 'readiness' | 'status'>) {
  return startOpsServer(0, { metrics: new Registry(), readiness: () => ({ ready: true, components: {} }), status: async () => ({}), ...handlers });
}

/**
 * An ops server whose `SLOW…` queries wait until the test lets them go (`waiting.get(query)!()`) or their client
 * leaves (then noted in `cancelled`, failing as the engine's cancel does); any other query is answered at once.
 * `sql` is sqlRequest on its port.
 */
async function slowQueryServer(sqlAnswerBudget: { bytes: number; perAnswer: number }) {
  const waiting = new Map<string, () => void>();
  const cancelled: string[] = [];
  const ops = await readyOpsServer({
    query: async (sql, _format, { signal }) => {
      if (sql.startsWith('SLOW')) {
        await new Promise<void>((resolve) => {
          waiting.set(sql, resolve);
          signal.addEventListener('abort', () => resolve());
        });
        if (signal.aborted) {
          cancelled.push(sql);
          throw new SqlQueryError(499, 'cancelled');
        }
      }
      return `answer to ${sql}\n`;
    },
    sqlAnswerBudget,
  });
  const sql = (query: string, length?: number) => sqlRequest(ops.port, query, length);
  return { ops, waiting, cancelled, sql };
}
type SlowQueryServer = Awaited<ReturnType<typeof slowQueryServer>>;

describe('ops server', () => {
  const metrics = new Registry();
  new Counter({ name: 'cdrflow_test_total', help: 'test', registers: [metrics] }).inc(3);
  let base = '';
  let close: () => Promise<void>;
  const queries: string[] = [];
  const aborted: string[] = [];
  const logged: { event: string; fields: Record<string, unknown> }[] = [];
  const answered: number[] = [];

  beforeAll(async () => {
    const ops = await startOpsServer(0, {
      metrics,
      readiness: () => ({ ready: false, components: { sink: 'starting' } }),
      status: async () => ({ cdrs: 7 }),
      query: async (sql, format, { signal }) => {
        queries.push(sql);
        if (sql === 'DROP TABLE cdr') throw new SqlQueryError(403, 'Cannot execute query in readonly mode', { code: '164' });
        if (sql === 'BUSY') throw new SqlQueryError(429, 'busy', { code: 'BUSY' });
        if (sql === 'HANG') {
          return cancelledOnAbort(sql, signal, aborted);
        }
        return `${format}:${sql}\n`;
      },
      log: (_level, event, fields = {}) => void logged.push({ event, fields }),
      sqlAnswered: (status) => void answered.push(status),
    });
    base = `http://127.0.0.1:${ops.port}`;
    close = ops.close;
  });
  afterAll(() => close());

  it('serves health, readiness, metrics and status', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // HEAD answers as GET does, without the body.
    const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    expect((await fetch(`${base}/readyz`, { method: 'HEAD' })).status).toBe(503);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, components: { sink: 'starting' } });
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('cdrflow_test_total 3');
    expect(await (await fetch(`${base}/status`)).json()).toEqual({ cdrs: 7 });
  });

  it('answers a served path asked with another method 405, naming the method it takes; an unknown path 404', async () => {
    const getSql = await fetch(`${base}/sql?query=SELECT%201`);
    expect([getSql.status, getSql.headers.get('allow'), await getSql.text()]).toEqual([405, 'POST', `/sql takes POST (the query is the body: Content-Type: ${SQL_CONTENT_TYPE})\n`]);
    expect([answered.at(-1), logged.at(-1)?.fields['reason']]).toEqual([405, 'method GET']);
    const postStatus = await fetch(`${base}/status`, { method: 'POST', body: '{}' });
    expect([postStatus.status, postStatus.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await fetch(`${base}/metrics`, { method: 'DELETE' })).status).toBe(405);
    // This server has no reconcile handler: the path is not served at all.
    expect((await fetch(`${base}/reconcile`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(404);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect(queries).not.toContain('SELECT 1');
  });

  const post = (body: string, headers: Record<string, string> = { 'content-type': SQL_CONTENT_TYPE }, path = '/sql?format=CSV') => fetch(`${base}${path}`, { method: 'POST', body, headers });

  it('passes SQL with its format to the engine and answers its refusal with the refusal status', async () => {
    const ok = await post('SELECT 1');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('CSV:SELECT 1\n');
    const refused = await post('DROP TABLE cdr');
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('readonly');
    const busy = await post('BUSY');
    expect(busy.status).toBe(429);
    expect(busy.headers.get('retry-after')).toBe('1');
  });

  it('refuses what a web page could send: simple content types, a foreign Origin, a foreign Host', async () => {
    const before = queries.length;
    expect((await post('SELECT 1', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post('SELECT 1', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await post('SELECT 1', {})).status).toBe(415);
    expect((await post('SELECT 1', { 'content-type': SQL_CONTENT_TYPE, origin: 'http://evil.example' })).status).toBe(403);
    // fetch() cannot set Host; a raw request can (a DNS-rebinding page sends its own host name).
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/sql`, { method: 'POST', headers: { host: 'rebound.example:80', 'content-type': SQL_CONTENT_TYPE } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('SELECT 1');
    });
    expect(status).toBe(421);
    expect(queries.length).toBe(before);
    // Each counted and logged as a refused query, with what was refused.
    const refusals = logged.filter((l) => l.event === 'sql.refused').slice(-5).map((l) => [l.fields['status'], l.fields['reason']]);
    expect(refusals).toEqual([
      [415, 'content-type text/plain'],
      [415, 'content-type application/x-www-form-urlencoded'],
      [415, 'content-type text/plain'], // fetch's own type for a string body
      [403, 'origin http://evil.example'],
      [421, 'host rebound.example:80'],
    ]);
    expect(answered.slice(-5)).toEqual([415, 415, 415, 403, 421]);
    // Its own origin is fine (the page the server would serve itself).
    expect((await post('SELECT 2', { 'content-type': SQL_CONTENT_TYPE, origin: base })).status).toBe(200);
  });

  it('counts a Host or Origin refusal of every target the router takes to /sql, not only the literal /sql', async () => {
    const { port } = new URL(base);
    const raw = (target: string, headers: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1');
        let out = '';
        socket.on('data', (d) => (out += d.toString()));
        socket.on('close', () => resolve(out.split('\r\n')[0] ?? ''));
        socket.on('error', reject);
        socket.end(`POST ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);
      });
    const targets = [`http://127.0.0.1:${port}/sql`, '/x/../sql', '/./sql', '/%2e/sql', '/sql?format=TSV'];
    for (const target of targets) {
      const before = answered.length;
      expect(await raw(target, 'Host: rebound.example\r\n')).toBe('HTTP/1.1 421 Misdirected Request');
      expect(await raw(target, `Host: 127.0.0.1:${port}\r\nOrigin: http://evil.example\r\n`)).toBe('HTTP/1.1 403 Forbidden');
      expect([target, answered.slice(before)]).toEqual([target, [421, 403]]);
    }
    // Other paths are not the SQL endpoint: refused, not counted.
    const before = answered.length;
    for (const target of ['/sql/', '//sql', '/SQL', '*', '/metrics']) expect(await raw(target, 'Host: rebound.example\r\n')).toBe('HTTP/1.1 421 Misdirected Request');
    expect(answered.length).toBe(before);
  });

  // Found by test/fuzz/ops-port.test.ts.
  it('answers a request target the URL parser refuses with 400, not a 500', async () => {
    const { host, port } = new URL(base);
    for (const target of ['//', 'http://[']) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1');
        let text = '';
        socket.on('data', (chunk: Buffer) => void (text += chunk.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        socket.end(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain('invalid request target');
    }
  });

  // Found by test/fuzz/ops-port.test.ts: the 413 used to be lost in a reset of the connection.
  it('answers a query over 64 KiB with a 413 the client can read, without running it', async () => {
    const before = queries.length;
    for (const size of [70_000, 2_000_000]) {
      const res = await post(`SELECT 1 -- ${'x'.repeat(size)}`);
      expect(res.status).toBe(413);
      expect(await res.text()).toBe('query larger than 65536 bytes\n');
    }
    expect(queries.length).toBe(before);
  });

  it('answers a reconcile request over 64 KiB with a 413, without running it', async () => {
    const runs: string[] = [];
    const own = await startOpsServer(0, {
      metrics,
      readiness: () => ({ ready: true, components: {} }),
      status: async () => ({}),
      query: async () => '',
      reconcile: async (body, write) => {
        runs.push(body);
        write('{}');
      },
    });
    try {
      const reconcile = (body: string, type: string) => fetch(`http://127.0.0.1:${own.port}/reconcile`, { method: 'POST', body, headers: { 'content-type': type } });
      const res = await reconcile(`{"x":"${'x'.repeat(100_000)}"}`, 'application/json');
      expect(res.status).toBe(413);
      expect(await res.text()).toBe('request body larger than 65536 bytes\n');
      expect(runs).toEqual([]);
      // The media type is compared as /sql compares its own: parameters and case aside, and whole.
      expect((await reconcile('{}', 'application/jsonx')).status).toBe(415);
      expect(runs).toEqual([]);
      const ok = await reconcile('{}', 'APPLICATION/JSON; charset=utf-8');
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe('{}\n');
      expect(runs).toEqual(['{}']);
    } finally {
      await own.close();
    }
  });

  it('once the stop began: not ready, a reconcile refused 503 without running, the rest still answered', async () => {
    const runs: string[] = [];
    const own = await startOpsServer(0, {
      metrics,
      readiness: () => ({ ready: true, components: { sink: 'running' } }),
      status: async () => ({ cdrs: 7 }),
      query: async () => '1\n',
      reconcile: async (body, write) => {
        runs.push(body);
        write('{}');
      },
    });
    const at = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${own.port}${path}`, init);
    const reconcile = () => at('/reconcile', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    try {
      expect((await at('/readyz')).status).toBe(200);
      own.stopping();
      const ready = await at('/readyz');
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ ready: false, stopping: true, components: { sink: 'running' } });
      const refused = await reconcile();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toBe('application/json');
      expect(refused.headers.get('retry-after')).toBeNull();
      expect(await refused.json()).toEqual({ error: JOB_STOPPING });
      expect(runs).toEqual([]);
      // The port stays up for the drain: what only reads keeps answering.
      for (const path of ['/healthz', '/status', '/metrics']) expect((await at(path)).status, path).toBe(200);
      expect((await at('/sql', { method: 'POST', body: 'SELECT 1', headers: { 'content-type': SQL_CONTENT_TYPE } })).status).toBe(200);
    } finally {
      await own.close();
    }
  });

  it('while the job still starts: a reconcile refused 503 with the reason in JSON, without running; run once started', async () => {
    const runs: string[] = [];
    let starting = true;
    const own = await startOpsServer(0, {
      metrics,
      readiness: () => ({ ready: !starting, components: {} }),
      status: async () => ({}),
      query: async () => '1\n',
      reconcileRefusal: () => (starting ? JOB_STARTING : undefined),
      reconcile: async (body, write) => {
        runs.push(body);
        write('{}');
      },
    });
    const reconcile = () => fetch(`http://127.0.0.1:${own.port}/reconcile`, { method: 'POST', body: '{"from":"today"}', headers: { 'content-type': 'application/json' } });
    try {
      const refused = await reconcile();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toBe('application/json');
      expect(await refused.json()).toEqual({ error: JOB_STARTING });
      expect(runs).toEqual([]);
      starting = false;
      const ran = await reconcile();
      expect(ran.status).toBe(200);
      expect(await ran.text()).toBe('{}\n');
      expect(runs).toEqual(['{"from":"today"}']);
      // The stop refuses it again, as it did before the start ended.
      own.stopping();
      expect(await (await reconcile()).json()).toEqual({ error: JOB_STOPPING });
    } finally {
      await own.close();
    }
  });

  it('aborts the reconcile run when its client goes away, as it cancels a query', async () => {
    const events: string[] = [];
    const own = await startOpsServer(0, {
      metrics,
      readiness: () => ({ ready: true, components: {} }),
      status: async () => ({}),
      query: async () => '',
      reconcile: async (_body, write, signal) => {
        write('{"progress":"started"}');
        events.push('started');
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        events.push(`aborted: ${(signal.reason as Error).message}`);
      },
    });
    try {
      const abort = new AbortController();
      const res = await fetch(`http://127.0.0.1:${own.port}/reconcile`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, signal: abort.signal });
      const reader = res.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe('{"progress":"started"}\n');
      abort.abort();
      await until(() => events.length === 2);
      expect(events).toEqual(['started', 'aborted: the client went away']);
    } finally {
      await own.close();
    }
  });

  // A client that stays connected but does not read (half-closed behind a paused pipeline) had the job hold every
  // line of a long run, tens of MB for a --repair outcome and its progress.
  it('leaves out progress lines while a reconcile client does not read, never the outcome; a reading client gets every line', async () => {
    const progress = JSON.stringify({ progress: 'p'.repeat(1_000) });
    const outcome = JSON.stringify({ outcome: { rows: 'o'.repeat(200_000) } });
    const logged: { event: string; fields: Record<string, unknown> }[] = [];
    let answer: ServerResponse | undefined;
    let held = 0;
    let runs = 0;
    const own = await startOpsServer(0, {
      metrics,
      readiness: () => ({ ready: true, components: {} }),
      status: async () => ({}),
      query: async () => '',
      log: (_level, event, fields = {}) => void logged.push({ event, fields }),
      reconcile: async (body, write) => {
        const { lines } = JSON.parse(body) as { lines: number };
        for (let n = 0; n < lines; n++) {
          write(progress, true);
          held = Math.max(held, answer!.writableLength);
          // The run's steps give the event loop a turn, as a real run does between its progress lines.
          if (n % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
        }
        write(outcome);
        held = Math.max(held, answer!.writableLength);
        runs++;
      },
    });
    own.server.on('request', (_req, res: ServerResponse) => (answer = res));
    const socket = connect(own.port, '127.0.0.1');
    socket.on('error', () => undefined);
    try {
      // 32 MiB of progress: far more than the kernel's socket buffers on loopback take from a client that does not read.
      const body = JSON.stringify({ lines: 32_768 });
      socket.write(`POST /reconcile HTTP/1.1\r\nHost: 127.0.0.1:${own.port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      await until(() => runs === 1);
      // The bound, then one progress line and the outcome, each with its chunk's framing (a few bytes).
      expect(held).toBeLessThanOrEqual(RECONCILE_UNSENT_BOUND_BYTES + progress.length + outcome.length + 2 * 32);
      const skipped = logged.find((l) => l.event === 'reconcile.lines_skipped');
      expect(skipped?.fields).toMatchObject({ lines: expect.any(Number), unsentBoundBytes: RECONCILE_UNSENT_BOUND_BYTES });
      // Read at last: the progress lines it was written, then the outcome.
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      await until(() => Buffer.concat(chunks).toString().endsWith('\r\n0\r\n\r\n'));
      const raw = Buffer.concat(chunks).toString();
      let text = '';
      for (let at = raw.indexOf('\r\n\r\n') + 4, size: number; (size = parseInt(raw.slice(at, raw.indexOf('\r\n', at)), 16)) > 0; ) {
        at = raw.indexOf('\r\n', at) + 2;
        text += raw.slice(at, at + size);
        at += size + 2;
      }
      const written = 32_768 - (skipped!.fields['lines'] as number);
      expect(text.split('\n')).toEqual([...Array<string>(written).fill(progress), outcome, '']);

      // A client that reads gets every line of a run whose progress is many times the bound.
      logged.length = 0;
      const res = await fetch(`http://127.0.0.1:${own.port}/reconcile`, { method: 'POST', body: JSON.stringify({ lines: 4_096 }), headers: { 'content-type': 'application/json' } });
      expect((await res.text()).split('\n')).toEqual([...Array<string>(4_096).fill(progress), outcome, '']);
      expect(logged.filter((l) => l.event === 'reconcile.lines_skipped')).toEqual([]);
    } finally {
      socket.destroy();
      await own.close();
    }
  });

  it('logs every query with caller, duration and outcome', async () => {
    await post('SELECT 3');
    const entry = logged.find((l) => l.fields['sql'] === 'SELECT 3');
    expect(entry?.event).toBe('sql.query');
    expect(entry?.fields).toMatchObject({ status: 200, caller: expect.stringMatching(/^127\.0\.0\.1:\d+ /) });
    expect(typeof entry?.fields['durationMs']).toBe('number');
  });

  it('tells the job the status of every SQL request it answers (cdrflow_sql_queries_total), refused ones included', async () => {
    const from = answered.length;
    const statuses = [
      (await post('SELECT 4')).status,
      (await post('DROP TABLE cdr')).status,
      (await post('BUSY')).status,
      (await post('SELECT 1', undefined, '/sql?format=C-S-V')).status,
      (await post('SELECT 1', { 'content-type': 'text/plain' })).status,
      (await post(`SELECT 1 -- ${'x'.repeat(70_000)}`)).status,
    ];
    expect(statuses).toEqual([200, 403, 429, 400, 415, 413]);
    expect(answered.slice(from)).toEqual(statuses);
  });

  it('counts a client that leaves while sending its query as 499, not as a query too large (413)', async () => {
    const from = answered.length;
    const port = Number(new URL(base).port);
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST /sql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${SQL_CONTENT_TYPE}\r\nContent-Length: 1000\r\n\r\nSELECT 1`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    await until(() => answered.length > from);
    expect(answered.slice(from)).toEqual([499]);
    await until(() => logged.some((l) => l.event === 'sql.refused' && l.fields['status'] === 499));
    // A query too large is logged as well as counted ("every /sql request is logged").
    expect((await post(`SELECT 1 -- ${'x'.repeat(70_000)}`)).status).toBe(413);
    expect(logged.some((l) => l.event === 'sql.refused' && l.fields['status'] === 413)).toBe(true);
  });

  it('aborts the query when the client goes away', async () => {
    const abort = new AbortController();
    const gone = fetch(`${base}/sql`, { method: 'POST', body: 'HANG', headers: { 'content-type': SQL_CONTENT_TYPE }, signal: abort.signal }).catch(() => 'aborted');
    await until(() => queries.includes('HANG'));
    abort.abort();
    expect(await gone).toBe('aborted');
    await until(() => aborted.length === 1);
    await until(() => logged.some((l) => l.fields['sql'] === 'HANG' && l.fields['status'] === 499));
    expect(answered.at(-1)).toBe(499);
  });
});

describe('allowedHost / allowedOrigin', () => {
  it.each([
    ['127.0.0.1:19070', true],
    ['localhost:19070', true],
    ['LOCALHOST:19070', true],
    ['127.0.0.1:19071', false],
    ['127.0.0.1', false],
    ['evil.example:19070', false],
    [undefined, false],
  ])('Host %s allowed: %s', (host, ok) => expect(allowedHost(host, 19070)).toBe(ok));
  it.each([
    [undefined, true],
    ['http://127.0.0.1:19070', true],
    ['http://localhost:19070', true],
    ['http://evil.example', false],
    ['null', false],
    ['http://127.0.0.1:8080', false],
  ])('Origin %s allowed: %s', (origin, ok) => expect(allowedOrigin(origin, 19070)).toBe(ok));
});

describe('ops server: slow headers', () => {
  it('closes a connection still sending its headers within headersTimeout and about a second (Node checked every 30 s)', async () => {
    const ops = await readyOpsServer({ query: async () => 'never\n' });
    // Short for the test; Node reads it at each check.
    ops.server.headersTimeout = 300;
    const socket = connect(ops.port, '127.0.0.1');
    socket.on('error', () => undefined);
    const closed = new Promise<true>((resolve) => socket.once('close', () => resolve(true)));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    // A header line every 100 ms: the connection is never idle, its headers just never end.
    const trickle = setInterval(() => socket.writable && socket.write(`x-slow-${Math.round(performance.now())}: 1\r\n`), 100);
    try {
      const bound = ops.server.headersTimeout + 1_500;
      const ended = await Promise.race([closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), bound).unref())]);
      expect(ended === undefined ? `still open after ${bound} ms` : 'closed').toBe('closed');
    } finally {
      clearInterval(trickle);
      socket.destroy();
      await ops.close();
    }
  });
});

/** An ops server whose /sql refusals are watched: the `sql.refused` lines logged and every status answered. */
async function refusalsWatched() {
  const logged: Record<string, unknown>[] = [];
  const answered: number[] = [];
  const ops = await readyOpsServer({
    query: async () => 'never\n',
    log: (_level, event, fields = {}) => void (event === 'sql.refused' && logged.push(fields)),
    sqlAnswered: (status) => void answered.push(status),
  });
  return { ops, logged, answered };
}

describe('ops server: a web page refused in a loop', () => {
  it('counts every refusal and logs at most a few a minute, the next line saying how many were left out', async () => {
    const { ops, logged, answered } = await refusalsWatched();
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      const page = () => fetch(`http://127.0.0.1:${ops.port}/sql`, { method: 'POST', body: 'SELECT 1', headers: { 'content-type': SQL_CONTENT_TYPE, origin: 'http://evil.example' } });
      for (let i = 0; i < 25; i++) expect((await page()).status).toBe(403);
      expect(answered).toEqual(Array(25).fill(403));
      // README: "at most 10 a minute with a count of those left out".
      expect(logged.length).toBe(10);
      expect(logged.every((f) => f['unlogged'] === undefined)).toBe(true);
      // A minute later the first line logged says how many went unlogged.
      vi.advanceTimersByTime(61_000);
      await page();
      expect(answered.length).toBe(26);
      expect(logged.at(-1)).toMatchObject({ status: 403, reason: 'origin http://evil.example', unlogged: 25 - DOOR_REFUSALS_LOGGED_PER_MINUTE });
    } finally {
      vi.useRealTimers();
      await ops.close();
    }
  });

  it('a wall clock stepped back an hour does not silence the refusal lines for that hour', async () => {
    // The minute is a duration, measured on the monotonic clock: timed by the wall clock, one stepped back an hour
    // after a burst left every refusal of the next hour counted but unlogged.
    const { ops, logged } = await refusalsWatched();
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      const page = () => fetch(`http://127.0.0.1:${ops.port}/sql`, { method: 'POST', body: 'SELECT 1', headers: { 'content-type': SQL_CONTENT_TYPE, origin: 'http://evil.example' } });
      for (let i = 0; i < 12; i++) expect((await page()).status).toBe(403);
      expect(logged.length).toBe(DOOR_REFUSALS_LOGGED_PER_MINUTE);
      vi.setSystemTime(Date.now() - 3_600_000);
      vi.advanceTimersByTime(61_000);
      await page();
      expect(logged.at(-1)).toMatchObject({ status: 403, unlogged: 12 - DOOR_REFUSALS_LOGGED_PER_MINUTE });
    } finally {
      vi.useRealTimers();
      await ops.close();
    }
  });

  it('bounds and throttles the lines of wrong methods, content types and formats as well, and does not echo the format', async () => {
    const { ops, logged, answered } = await refusalsWatched();
    try {
      const long = 'x'.repeat(10_000);
      const post = (type: string, format = 'TSV') => fetch(`http://127.0.0.1:${ops.port}/sql?format=${format}`, { method: 'POST', body: 'SELECT 1', headers: { 'content-type': type } });
      for (let i = 0; i < 15; i++) expect((await post(`text/${long}`)).status).toBe(415);
      const wrongFormat = await post(SQL_CONTENT_TYPE, `C-${long}`);
      expect(wrongFormat.status).toBe(400);
      expect((await wrongFormat.text()).length).toBeLessThan(200);
      for (let i = 0; i < 14; i++) expect((await post(SQL_CONTENT_TYPE, `C-${long}`)).status).toBe(400);
      // A wrong method, in a loop, is no different.
      for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${ops.port}/sql`)).status).toBe(405);
      expect(answered).toEqual([...Array(15).fill(415), ...Array(15).fill(400), ...Array(5).fill(405)]);
      expect(logged.length).toBe(DOOR_REFUSALS_LOGGED_PER_MINUTE);
      expect(logged[0]).toMatchObject({ status: 415, reason: expect.stringMatching(/^content-type text\/x+$/) });
      expect(logged.every((f) => String(f['reason']).length <= 200)).toBe(true);
    } finally {
      await ops.close();
    }
  });
});

describe('ops server: clients that never read their answers', () => {
  it('holds at most its answer budget: a query past it is refused 429 with one line until those clients go', async () => {
    // Larger than what the loopback socket buffers take in from a client that does not read (its window stays small).
    const size = 48 * 1024 * 1024;
    const answer = 'x'.repeat(size);
    const budget = { bytes: 3 * size, perAnswer: size };
    let asked = 0;
    const answered: number[] = [];
    const ops = await readyOpsServer({
      query: async () => {
        asked++;
        return answer;
      },
      sqlAnswerBudget: budget,
      sqlAnswered: (status) => void answered.push(status),
    });
    const post = () => fetch(`http://127.0.0.1:${ops.port}/sql?format=TSV`, { method: 'POST', body: 'SELECT 1', headers: { 'content-type': SQL_CONTENT_TYPE } });
    const readers: ReturnType<typeof connect>[] = [];
    try {
      // Clients that send their query and never read a byte of the answer.
      for (let i = 1; i <= 3; i++) {
        const socket = connect(ops.port, '127.0.0.1');
        socket.on('error', () => undefined);
        readers.push(socket);
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.pause();
        socket.write(`POST /sql?format=TSV HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\nContent-Type: ${SQL_CONTENT_TYPE}\r\nContent-Length: 8\r\n\r\nSELECT 1`);
        await until(() => asked === i);
      }
      const refused = await post();
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.text()).toBe('busy: answers not yet read by their clients hold 144 MiB of the 144 MiB the SQL answers may hold; retry once they are read or their clients have gone\n');
      expect(asked).toBe(3);
      expect(ops.sqlAnswerBytes()).toBe(budget.bytes);
      // Once they go, their answers are let go and queries are answered again, in full.
      for (const socket of readers) socket.destroy();
      await until(() => ops.sqlAnswerBytes() === 0);
      const again = await post();
      expect(again.status).toBe(200);
      expect((await again.text()).length).toBe(size);
      await until(() => ops.sqlAnswerBytes() === 0);
      expect(answered).toEqual([200, 200, 200, 429, 200]);
    } finally {
      for (const socket of readers) socket.destroy();
      await ops.close();
    }
  });

  it('lets go of what pipelined requests hold when their connection goes with their answers still queued', async () => {
    // Node emits no close for an answer queued behind another on its connection when the socket goes: what /sql and
    // /reconcile let go of only on that close (the budget, the query, the run) was held for ever.
    const budget = { bytes: 4_000, perAnswer: 1_000 };
    const asked: string[] = [];
    const cancelled: string[] = [];
    const reconcile: string[] = [];
    const ops = await readyOpsServer({
      query: async (sql, _format, { signal }) => {
        asked.push(sql);
        // HOLD answers only once its client is gone; the other queries at once.
        if (sql.startsWith('HOLD')) {
          return cancelledOnAbort(sql, signal, cancelled);
        }
        return `${sql}\n`;
      },
      sqlAnswerBudget: budget,
      reconcile: async (_body, write, signal) => {
        write('{"progress":"started"}');
        reconcile.push('started');
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        reconcile.push('aborted');
      },
    });
    const socket = connect(ops.port, '127.0.0.1');
    socket.on('error', () => undefined);
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      const head = (method: string, path: string, type: string, body: string) =>
        `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      const sql = (query: string) => head('POST', '/sql?format=TSV', SQL_CONTENT_TYPE, query);
      // The first answer waits for its query; every answer after it waits in Node's queue behind it.
      socket.write(
        sql('HOLD 1') + sql('SELECT 1') + sql('HOLD 2') + `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\n\r\n` + head('POST', '/reconcile', 'application/json', '{}'),
      );
      await until(() => asked.length === 3 && reconcile.length === 1);
      expect(ops.sqlAnswerBytes()).toBe(2 * budget.perAnswer + Buffer.byteLength('SELECT 1\n'));
      socket.destroy();
      await until(() => ops.sqlAnswerBytes() === 0);
      await until(() => cancelled.length === 2 && reconcile.length === 2);
      expect([cancelled.sort(), reconcile]).toEqual([
        ['HOLD 1', 'HOLD 2'],
        ['started', 'aborted'],
      ]);
      const again = await fetch(`http://127.0.0.1:${ops.port}/sql?format=TSV`, { method: 'POST', body: 'SELECT 2', headers: { 'content-type': SQL_CONTENT_TYPE } });
      expect([again.status, await again.text()]).toEqual([200, 'SELECT 2\n']);
      await until(() => ops.sqlAnswerBytes() === 0);
    } finally {
      socket.destroy();
      await ops.close();
    }
  });

  it('sees a client leave whose connection Node paused behind a big answer queued after a slow one', async () => {
    // Node stops reading a connection once more than its high-water mark of answers waits queued (BIG behind SLOW):
    // the client's end or reset then went unseen, SLOW ran on and BIG held its share of the budget until SLOW ended
    // (test/fuzz/ops-wire.test.ts, seeds 7000176, 7000366).
    const big = 'b'.repeat(1024 * 1024);
    const budget = { bytes: 4 * big.length, perAnswer: big.length };
    const asked: string[] = [];
    const cancelled: string[] = [];
    const ops = await readyOpsServer({
      query: async (sql, _format, { signal }) => {
        asked.push(sql);
        if (sql.startsWith('SLOW')) {
          return cancelledOnAbort(sql, signal, cancelled);
        }
        return big;
      },
      sqlAnswerBudget: budget,
    });
    const sql = (query: string) => sqlRequest(ops.port, query);
    try {
      for (const leave of ['end', 'reset'] as const) {
        const socket = connect(ops.port, '127.0.0.1');
        socket.on('error', () => undefined);
        asked.length = cancelled.length = 0;
        socket.write(sql(`SLOW 1 ${leave}`) + sql('BIG') + sql(`SLOW 2 ${leave}`) + `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\n\r\n`);
        await until(() => asked.length === 3);
        if (leave === 'reset') socket.resetAndDestroy();
        else socket.destroy();
        await until(() => cancelled.length === 2 && ops.sqlAnswerBytes() === 0);
        expect(cancelled.sort()).toEqual([`SLOW 1 ${leave}`, `SLOW 2 ${leave}`]);
      }
    } finally {
      await ops.close();
    }
  });

  it('sees a client leave whose connection Node paused behind the progress lines of a reconcile queued after a slow query', async () => {
    // As a big /sql answer: the progress queued behind SLOW 1 made Node stop reading, and the client leaving went unseen.
    const asked: string[] = [];
    const cancelled: string[] = [];
    const reconcile: string[] = [];
    const ops = await readyOpsServer({
      query: async (sql, _format, { signal }) => {
        asked.push(sql);
        return cancelledOnAbort(sql, signal, cancelled);
      },
      sqlAnswerBudget: { bytes: 4_000, perAnswer: 1_000 },
      reconcile: async (_body, write, signal) => {
        // More progress than Node queues for a connection before it stops reading it.
        for (let i = 0; i < 64; i++) write(JSON.stringify({ progress: 'x'.repeat(1_000) }), true);
        reconcile.push('started');
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        reconcile.push('aborted');
      },
    });
    const socket = connect(ops.port, '127.0.0.1');
    socket.on('error', () => undefined);
    try {
      const head = (path: string, type: string, body: string) =>
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      socket.write(head('/sql?format=TSV', SQL_CONTENT_TYPE, 'SLOW 1') + head('/reconcile', 'application/json', '{}'));
      await until(() => asked.length === 1 && reconcile.length === 1);
      // Node looks at what waits queued when the next request comes in.
      socket.write(head('/sql?format=TSV', SQL_CONTENT_TYPE, 'SLOW 2') + `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\n\r\n`);
      await until(() => asked.length === 2);
      socket.destroy();
      await until(() => cancelled.length === 2 && reconcile.length === 2 && ops.sqlAnswerBytes() === 0);
    } finally {
      socket.destroy();
      await ops.close();
    }
  });
});

describe('ops server: bytes it cannot read as a request, pipelined behind requests still owed their answers', () => {
  // Node refused such bytes at once and closed the connection: its bare 400 or 431 was read as the answer to the
  // query before them, whose own answer was lost (test/fuzz/ops-wire.test.ts, seeds 1, 4, 8, 11, 12, 21, 38).
  const budget = { bytes: 4_000, perAnswer: 1_000 };
  let ops: SlowQueryServer['ops'];
  let waiting: SlowQueryServer['waiting'];
  let cancelled: SlowQueryServer['cancelled'];
  let sql: SlowQueryServer['sql'];
  beforeAll(async () => {
    ({ ops, waiting, cancelled, sql } = await slowQueryServer(budget));
  });
  afterAll(() => ops.close());
  const answer = (body: string) => `HTTP/1.1 200 OK\r\nx-cdrflow-ops: cdrflow\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n`;
  /** Sends `bytes` on a fresh connection, lets SLOW go once it runs, and returns all the connection read until the server closed it. */
  const exchange = async (bytes: string): Promise<string> => {
    const socket = connect(ops.port, '127.0.0.1');
    socket.on('error', () => undefined);
    const read: Buffer[] = [];
    socket.on('data', (d: Buffer) => void read.push(d));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(bytes);
    await until(() => waiting.has('SLOW'));
    waiting.get('SLOW')!();
    waiting.delete('SLOW');
    await closed;
    return Buffer.concat(read).toString('latin1');
  };
  /** The answers in order: each one's head up to its Date header, then its body. */
  const answers = (text: string) => text.split(/(?=HTTP\/1\.1 )/).map((a) => a.replace(/date: .*\r\n(connection: keep-alive\r\nkeep-alive: timeout=\d+\r\n)?/i, ''));

  it('answers garbage only after the query before it, then closes', async () => {
    const text = await exchange(sql('SLOW') + 'GARBAGE\r\n\r\n');
    expect(answers(text)).toEqual([`${answer('answer to SLOW\n')}\r\nanswer to SLOW\n`, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n']);
  });

  // A CONNECT request: Node closed the connection without a word when nothing listened for it.
  const tunnel = `CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n`;
  const notConnect = 'this port takes GET, HEAD and POST, not CONNECT\n';
  const connectRefused = `HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST\r\nContent-Type: text/plain\r\nContent-Length: ${notConnect.length}\r\nConnection: close\r\n\r\n${notConnect}`;

  it('answers CONNECT 405 with Allow, after the query before it, then closes', async () => {
    expect(answers(await exchange(sql('SLOW') + tunnel))).toEqual([`${answer('answer to SLOW\n')}\r\nanswer to SLOW\n`, connectRefused]);
    const res = await fetch(`http://127.0.0.1:${ops.port}/healthz`);
    expect(res.status).toBe(200);
  });

  it('answers CONNECT alone 405 with Allow, and a request asking for an Upgrade as any other', async () => {
    const send = (bytes: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(ops.port, '127.0.0.1');
        socket.on('error', () => undefined);
        let text = '';
        socket.on('data', (d: Buffer) => void (text += d.toString('latin1')));
        socket.once('close', () => resolve(text));
        socket.end(bytes);
      });
    expect(await send(tunnel)).toBe(connectRefused);
    const upgrade = await send(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    expect(upgrade).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok\n$/);
  });

  it('answers a query whose Content-Length is shorter than its body, then refuses the rest of the body', async () => {
    // The query is the first 4 bytes, "SLOW"; " and more" is not a request.
    const text = await exchange(sql('SLOW and more', 4));
    expect(answers(text)).toEqual([`${answer('answer to SLOW\n')}\r\nanswer to SLOW\n`, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n']);
  });

  it('refuses a header block over 16 KiB with 431 after the answers owed before it', async () => {
    const huge = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\nx-pad: ${'p'.repeat(17 * 1024)}\r\n\r\n`;
    const text = await exchange(sql('SLOW') + sql('SELECT 1') + huge);
    expect(answers(text)).toEqual([
      `${answer('answer to SLOW\n')}\r\nanswer to SLOW\n`,
      `${answer('answer to SELECT 1\n')}\r\nanswer to SELECT 1\n`,
      'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
    ]);
  });

  it('gives a request answered before its body came in that one answer, when the end of the connection cuts the body', async () => {
    // A wrong content type is answered 415 at once; the client ends its side once it has read that, in the middle of
    // the body (seed 755 of the campaign). Node answered the cut body 400 as well, an answer to no request.
    const socket = connect(ops.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (d: Buffer) => void (text += d.toString('latin1')));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(`POST /sql HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nSEL`);
    const refusal = `POST /sql needs Content-Type: ${SQL_CONTENT_TYPE}\n`;
    await until(() => text.endsWith(refusal));
    socket.end();
    await closed;
    expect(answers(text)).toEqual([`HTTP/1.1 415 Unsupported Media Type\r\nx-cdrflow-ops: cdrflow\r\ncontent-type: text/plain\r\ncontent-length: ${refusal.length}\r\n\r\n${refusal}`]);
  });

  it('still sees the client leave while the refusal waits: the query is cancelled and its budget let go', async () => {
    const cut = `POST /sql HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\nContent-Type: ${SQL_CONTENT_TYPE}\r\nContent-Le`;
    const cases = [
      { name: 'reset after garbage', after: 'GARBAGE\r\n\r\n', leave: 'reset' },
      { name: 'end after garbage', after: 'GARBAGE\r\n\r\n', leave: 'end' },
      { name: 'reset after CONNECT', after: tunnel, leave: 'reset' },
      { name: 'end after CONNECT', after: tunnel, leave: 'end' },
      // The end of the connection is what Node cannot read (seed 11 of the campaign).
      { name: 'end in the middle of a request', after: cut, leave: 'end' },
    ] as const;
    for (const { name, after, leave } of cases) {
      const query = `SLOW ${name}`;
      const socket = connect(ops.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(sql(query) + after);
      await until(() => waiting.has(query));
      expect(ops.sqlAnswerBytes()).toBe(budget.perAnswer);
      // A client that ends its side can no longer be seen leaving while nothing is written to it: as on any
      // connection of the port, its end gives up the answers not yet written.
      if (leave === 'reset') socket.resetAndDestroy();
      else socket.end();
      await until(() => cancelled.includes(query) && ops.sqlAnswerBytes() === 0);
      waiting.delete(query);
      socket.destroy();
    }
  });
});

describe('ops server: requests pipelined behind a running one', () => {
  it('sees a client leave whose connection Node would pause behind a big /status or /metrics answer queued after a slow query', async () => {
    // As a big /sql answer: the answer queued behind SLOW made Node stop reading once the next request came, and the
    // client leaving went unseen until SLOW ended.
    const asked: string[] = [];
    const cancelled: string[] = [];
    const metrics = new Registry();
    const gauge = new Gauge({ name: 'cdrflow_test_big', help: 'many series', labelNames: ['n'], registers: [metrics] });
    for (let n = 0; n < 1_000; n++) gauge.set({ n: String(n) }, n);
    const ops = await startOpsServer(0, {
      metrics,
      readiness: () => ({ ready: true, components: {} }),
      status: async () => {
        asked.push('status');
        return { pad: 'x'.repeat(32 * 1024) };
      },
      query: async (sql, _format, { signal }) => {
        asked.push(sql);
        return cancelledOnAbort(sql, signal, cancelled);
      },
      sqlAnswerBudget: { bytes: 4_000, perAnswer: 1_000 },
    });
    const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\n\r\n`;
    const sql = (query: string) => sqlRequest(ops.port, query);
    try {
      for (const path of ['/status', '/metrics']) {
        const socket = connect(ops.port, '127.0.0.1');
        socket.on('error', () => undefined);
        asked.length = 0;
        const query = `SLOW ${path}`;
        await new Promise((resolve) => socket.write(sql(query) + get(path) + get(path), resolve));
        await until(() => asked.includes(query));
        // Node looks at what waits queued when the next request comes in.
        await new Promise((resolve) => socket.write(get('/healthz'), resolve));
        socket.destroy();
        await until(() => cancelled.includes(query) && ops.sqlAnswerBytes() === 0);
      }
    } finally {
      await ops.close();
    }
  });

  it(`answers at most ${MAX_PIPELINED_REQUESTS} behind it, the next 429 in its turn, then closes; a client leaving is still seen`, async () => {
    // About a hundred small answers queued behind a slow query made Node stop reading the connection: the client
    // leaving went unseen, and the query ran on holding its share of the answer budget until it ended.
    const budget = { bytes: 4_000, perAnswer: 1_000 };
    const { ops, waiting: running, cancelled, sql } = await slowQueryServer(budget);
    const health = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\n\r\n`.repeat(200);
    try {
      // The client leaves while its query runs.
      const leaving = connect(ops.port, '127.0.0.1');
      leaving.on('error', () => undefined);
      await new Promise((resolve) => leaving.write(sql('SLOW leaving') + health, resolve));
      await until(() => running.has('SLOW leaving'));
      leaving.destroy();
      await until(() => cancelled.includes('SLOW leaving') && ops.sqlAnswerBytes() === 0);

      // A client that reads: the answers up to the bound in order, then the refusal, then the end of the connection.
      const reading = connect(ops.port, '127.0.0.1');
      reading.on('error', () => undefined);
      const read: Buffer[] = [];
      reading.on('data', (d: Buffer) => void read.push(d));
      const closed = new Promise((resolve) => reading.once('close', resolve));
      reading.write(sql('SLOW reading') + health);
      await until(() => running.has('SLOW reading'));
      running.get('SLOW reading')!();
      await closed;
      const answers = Buffer.concat(read).toString('latin1').split(/(?=HTTP\/1\.1 )/);
      expect(answers.map((a) => `${a.split('\r\n')[0]} ${a.split('\r\n\r\n')[1]}`)).toEqual([
        'HTTP/1.1 200 OK answer to SLOW reading\n',
        ...Array<string>(MAX_PIPELINED_REQUESTS).fill('HTTP/1.1 200 OK ok\n'),
        `HTTP/1.1 429 Too Many Requests ${MAX_PIPELINED_REQUESTS} requests on this connection already wait behind one not yet answered; read their answers before sending more\n`,
      ]);
      expect(answers.at(-1)).toMatch(/\r\nretry-after: 1\r\nconnection: close\r\n/);
      expect(ops.sqlAnswerBytes()).toBe(0);

      // Requests Node would answer by itself (no Host, an Expect it does not take) count as well.
      for (const [name, request] of [
        ['no host', 'GET /healthz HTTP/1.1\r\n\r\n'],
        ['expect', `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${ops.port}\r\nExpect: x\r\n\r\n`],
      ]) {
        const socket = connect(ops.port, '127.0.0.1');
        socket.on('error', () => undefined);
        const query = `SLOW ${name}`;
        await new Promise((resolve) => socket.write(sql(query) + request!.repeat(400), resolve));
        await until(() => running.has(query));
        socket.destroy();
        await until(() => cancelled.includes(query) && ops.sqlAnswerBytes() === 0);
      }

      // Node looks at Expect on HTTP/1.1 only.
      const old = await new Promise<string>((resolve) => {
        const socket = connect(ops.port, '127.0.0.1');
        socket.on('error', () => undefined);
        let text = '';
        socket.on('data', (d: Buffer) => void (text += d.toString('latin1')));
        socket.once('close', () => resolve(text));
        socket.end(`GET /healthz HTTP/1.0\r\nHost: 127.0.0.1:${ops.port}\r\nExpect: x\r\n\r\n`);
      });
      expect(old).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok\n$/);

      // Requests answered at once wait behind none still being computed: any number of them is answered.
      const quick = connect(ops.port, '127.0.0.1');
      quick.on('error', () => undefined);
      let text = '';
      quick.on('data', (d: Buffer) => void (text += d.toString('latin1')));
      const ended = new Promise((resolve) => quick.once('close', resolve));
      quick.end(health);
      await ended;
      expect(text.split(/(?=HTTP\/1\.1 )/).map((a) => a.split('\r\n')[0])).toEqual(Array<string>(200).fill('HTTP/1.1 200 OK'));
    } finally {
      await ops.close();
    }
  });
});
