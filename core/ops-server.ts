// The local ops port of a running cdrflow process (127.0.0.1 only): /healthz, /readyz, Prometheus /metrics,
// /status (JSON figures behind the status line) and POST /sql (read-only queries against the process's own
// ClickHouse — the embedded engine allows one process per data directory, so other commands ask through here).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface OpsHandlers {
  metrics: Registry;
  /** Ready when every component reports started and none has stopped with an error. */
  readiness: () => { ready: boolean; components: Record<string, string> };
  status: () => Promise<unknown>;
  /** Runs a read-only query and returns the engine's text output in `format`. */
  query: (sql: string, format: string) => Promise<string>;
  /**
   * POST /reconcile (JSON request): runs a reconcile in this process — the one that owns the embedded engine and the
   * connectors — and streams NDJSON lines through `write` until it finishes. Absent: 404.
   */
  reconcile?: (body: string, write: (line: string) => void) => Promise<void>;
}

const MAX_SQL_BYTES = 64 * 1024;

/**
 * Only statements that cannot change data. A prefix check is enough here because the query runs as one statement
 * (multi-statements are refused) and the port is bound to loopback for the local user; a server deployment should
 * use a readonly ClickHouse user instead.
 */
export function assertReadOnly(sql: string): string {
  const text = sql.trim().replace(/;\s*$/, '');
  if (text.length === 0) throw new Error('empty query');
  if (text.includes(';')) throw new Error('only one statement per query');
  const first = /^\(*\s*([a-z]+)/i.exec(text)?.[1]?.toUpperCase();
  const allowed = ['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'EXISTS'];
  if (first === undefined || !allowed.includes(first)) {
    throw new Error(`read-only queries only (${allowed.join(', ')}); got ${first ?? 'nothing'}`);
  }
  return text;
}

export async function startOpsServer(port: number, handlers: OpsHandlers): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    handle(req, res, handlers).catch((err: unknown) => send(res, 500, 'text/plain', `${(err as Error).message}\n`));
  });
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, h: OpsHandlers): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
  if (req.method === 'GET' && url.pathname === '/readyz') {
    const r = h.readiness();
    return send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r) + '\n');
  }
  if (req.method === 'GET' && url.pathname === '/metrics') {
    return send(res, 200, h.metrics.contentType, await h.metrics.metrics());
  }
  if (req.method === 'GET' && url.pathname === '/status') {
    return send(res, 200, 'application/json', JSON.stringify(await h.status()) + '\n');
  }
  if (req.method === 'POST' && url.pathname === '/sql') {
    const body = await readBody(req, MAX_SQL_BYTES);
    const format = url.searchParams.get('format') ?? 'PrettyCompactMonoBlock';
    if (!/^[A-Za-z]+$/.test(format)) return send(res, 400, 'text/plain', `invalid format ${format}\n`);
    let sql: string;
    try {
      sql = assertReadOnly(body);
    } catch (err) {
      return send(res, 400, 'text/plain', `${(err as Error).message}\n`);
    }
    try {
      return send(res, 200, 'text/plain; charset=utf-8', await h.query(sql, format));
    } catch (err) {
      return send(res, 422, 'text/plain', `${(err as Error).message}\n`);
    }
  }
  if (req.method === 'POST' && url.pathname === '/reconcile' && h.reconcile) {
    const body = await readBody(req, MAX_SQL_BYTES);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    await h.reconcile(body, (line) => void res.write(`${line}\n`));
    res.end();
    return;
  }
  send(res, 404, 'text/plain', 'not found\n');
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error(`query larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
