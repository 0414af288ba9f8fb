// The local ops port of a running cdrflow process (127.0.0.1 only): /healthz, /readyz, Prometheus /metrics,
// /status (JSON figures behind the status line) and POST /sql?format=F&color=0|1 (read-only queries against the process's own
// ClickHouse — the embedded engine allows one process per data directory, so other commands ask through here).
//
// Read-only is the engine's job (core/read-only-sql.ts). This server only makes sure a request comes from a program
// on this machine that meant to send it, not from a web page in a local browser: the Host must be this port on
// loopback (a DNS-rebinding page carries its own host name), an Origin header must be this port's own (cross-site
// fetches carry theirs), and POST /sql needs the non-simple content type `application/sql` (a browser cannot send
// that cross-site without a CORS preflight, which this server never grants).
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { listenError } from './errors.ts';
import { clientErrorStatus, onAnswerClosed } from './http-answers.ts';
import { SqlQueryError } from './read-only-sql.ts';
import { MAX_SQL_BYTES } from './sql-check.ts';

export type OpsLog = (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields?: Record<string, unknown>) => void;

export interface OpsHandlers {
  metrics: Registry;
  /** Ready when every component reports started and none has stopped with an error. */
  readiness: () => { ready: boolean; components: Record<string, string> };
  status: () => Promise<unknown>;
  /**
   * Runs a read-only query and returns the engine's text output in `format`, with ANSI colours when `color` (the
   * client's own terminal decides); `signal` aborts when the client leaves.
   */
  query: (sql: string, format: string, options: { signal: AbortSignal; color: boolean }) => Promise<string>;
  /** Every /sql request is logged (caller, duration, outcome). */
  log?: OpsLog;
  /**
   * What the answers of /sql may hold in this process at once (answerBudget in core/read-only-sql.ts): `bytes` in all,
   * `perAnswer` the most one answer may be (ops.sql.maxResultBytes). Absent: not bounded.
   */
  sqlAnswerBudget?: { bytes: number; perAnswer: number };
  /** Told the HTTP status of every POST /sql answered (the job counts them by status). */
  sqlAnswered?: (status: number) => void;
  /**
   * POST /reconcile (application/json): runs a reconcile in this process — the one that owns the embedded engine and
   * the connectors — and streams NDJSON lines through `write` until it finishes; `signal` aborts when the client
   * leaves. A line written `informative` (progress, keep-alive) is left out while the client does not read
   * (RECONCILE_UNSENT_BOUND_BYTES) or the answer still waits behind another on its connection. Absent: 404.
   */
  reconcile?: (body: string, write: (line: string, informative?: boolean) => void, signal: AbortSignal) => Promise<void>;
  /** Why POST /reconcile is refused (503, JSON) at the moment, such as JOB_STARTING; undefined when it can run. */
  reconcileRefusal?: () => string | undefined;
}

export const SQL_CONTENT_TYPE = 'application/sql';

/**
 * Unsent bytes of a POST /reconcile answer past which its informative lines (progress, keep-alive) are left out. A
 * client that stays connected but stops reading (half-closed behind a paused pipeline) had the job hold every line of
 * a long --repair run. Those lines only inform: the CLI's silence limit is about bytes arriving, and a client that
 * does not read sees none anyway. The lines that end the answer (the outcome, an error) are always written. 1 MiB:
 * thousands of progress lines, so a client that reads, even slowly, misses none.
 */
export const RECONCILE_UNSENT_BOUND_BYTES = 2 ** 20;
const LOGGED_SQL_CHARS = 2_000;
/**
 * Requests that may wait on one connection behind an answer still being computed (a running query, a reconcile). Node
 * stops reading a connection once more than 16 KiB of answers wait queued on it, and a connection not read cannot be
 * seen to close: about a hundred small answers (health checks, refusals) queued behind a slow query kept a client's
 * leaving unseen until that query ended, its share of the answer budget held meanwhile. 32 such answers stay well
 * under that; no client of this port pipelines that many behind a query (`cdrflow sql` and `status` send one at a time).
 */
export const MAX_PIPELINED_REQUESTS = 32;

export async function startOpsServer(
  port: number,
  handlers: OpsHandlers,
  options: { setting?: string } = {},
): Promise<OpsServer> {
  const origin: { port: number } = { port };
  const state: ServerState = { stopping: false, sqlAnswerBytes: 0 };
  const door: DoorLog = { windowStart: -Infinity, logged: 0, unlogged: 0 };
  const connections = new WeakMap<Socket, Connection>();
  // Node checks the header and request deadlines only every connectionsCheckingInterval (30 s by default), so a
  // connection sending its headers slowly outlived headersTimeout by up to that much.
  //
  // Node answers a request with no Host (HTTP/1.1) or an Expect it does not take by itself, before any listener, so
  // those answers escaped MAX_PIPELINED_REQUESTS: they come here (the Expect through 'checkExpectation') and are
  // answered as Node would.
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const conn = connectionOf(connections, req.socket);
    conn.before = conn.last;
    conn.last = { req, res };
    // A request behind the refused one is never answered (the refusal closes the connection): its body is dropped, and
    // with no answer queued Node reads on, so the client leaving is still seen.
    if (conn.full) return void req.resume();
    const open = conn.open;
    open.add(res);
    onAnswerClosed(res, () => open.delete(res));
    // Past the bound, refused in its turn (Node sends answers in order) and the connection closed, as the receiver does
    // with maxPipelinedRequests; unlike it, the connection is not paused, for the same reason as in refuseAfterAnswers.
    if (open.size > MAX_PIPELINED_REQUESTS + 1 && [...open].some((r) => r !== res && !r.writableEnded)) {
      conn.full = true;
      req.resume();
      return pipelineFull(req, res, handlers, door);
    }
    // Says whose port this is: `cdrflow sql` and `status` talk to a running job only when it answers so.
    res.setHeader(OPS_SERVER_HEADER, 'cdrflow');
    handle(req, res, handlers, origin.port, door, state).catch((err: unknown) => send(res, 500, 'text/plain', `${(err as Error).message}\n`));
  };
  const server = createServer({ connectionsCheckingInterval: 1_000, requireHostHeader: false }, onRequest);
  server.on('checkExpectation', onRequest);
  server.requestTimeout = 60_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => refuseAfterAnswers(err.code === 'ECONNRESET' ? undefined : clientErrorStatus(err.code), socket, connections));
  // CONNECT (a proxy's tunnel) is no method of this port. Node hands such a request to a 'connect' listener and, with
  // none, closed the connection without a word; it is refused 405 like any method a path does not take, and as
  // bytes Node cannot read are: after the answers owed to the requests pipelined before it, then the connection ends.
  // (A request asking for an Upgrade needs nothing of the kind: with no 'upgrade' listener Node serves it as usual.)
  // Node hands the socket over without its own error listener: a client that resets after its CONNECT raised an
  // uncaught ECONNRESET in the process. The connection is simply gone then.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.on('error', () => socket.destroy());
    refuseAfterAnswers(405, socket, connections, { allow: 'GET, HEAD, POST', body: 'this port takes GET, HEAD and POST, not CONNECT\n' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(err, `127.0.0.1:${port}`, options.setting ?? 'ops port')));
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  origin.port = actual;
  return {
    server,
    port: actual,
    stopping: () => void (state.stopping = true),
    sqlAnswerBytes: () => state.sqlAnswerBytes,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // A /sql request still running is cut: its query is cancelled by the aborted signal.
        server.closeAllConnections();
      }),
  };
}

export interface OpsServer {
  server: Server;
  port: number;
  /**
   * The job's stop began. The port stays up while the pipeline drains (status, metrics and SQL keep answering), but
   * /readyz answers not ready from now on and POST /reconcile is refused 503: a run started now would be aborted at
   * its first step by the stop, yet answered and recorded as started.
   */
  stopping: () => void;
  /** Bytes the /sql answers hold now: a full answer for each query running, and the answers not yet written out. */
  sqlAnswerBytes: () => number;
  close: () => Promise<void>;
}

interface ServerState {
  stopping: boolean;
  sqlAnswerBytes: number;
}

/** One client connection: the latest two requests Node handed over (only the latest can be incomplete). */
interface Connection {
  refused: boolean;
  /** Its answers not yet closed (written out, or the connection gone). */
  open: Set<ServerResponse>;
  /** A request came past MAX_PIPELINED_REQUESTS: it is refused, and those behind it are not answered. */
  full?: boolean;
  last?: Exchange;
  before?: Exchange | undefined;
}
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * Bytes Node cannot read as a request (garbage, the rest of a body past its Content-Length, a header block over
 * 16 KiB, the end of the connection in the middle of a request): Node's own refusal went out at once and closed the
 * connection, ahead of the answers still owed to the requests pipelined before those bytes, so the client read the
 * refusal as the answer to its earlier query and that answer was lost. The refusal now waits for the last answer
 * owed (a whole request's, or one already begun for the request cut short), then goes out, then the connection ends.
 * The socket is not paused meanwhile, unlike the push receiver's: it reads on (Node's parser drops what comes), so a
 * client leaving is still seen at once, and its queries are cancelled and their share of the answer budget let go;
 * paused, a client that left went unseen, its slow query ran on and held its share until it ended. Node itself stops
 * reading a connection once more than 16 KiB of answers wait queued on it, so the answers that can be big do not
 * queue there: /sql, /status and /metrics answers wait for their turn (itsTurn), /reconcile leaves its progress out
 * until then, and at most MAX_PIPELINED_REQUESTS of the small answers wait behind a running one. A request cut short is answered by the refusal; its handler waits for a body that never comes
 * until the connection closes. No turn-taking or watchdog as in the receiver: Node sends pipelined answers in order,
 * and a client here that does not read is bounded by the answer budget as on any other connection of this port. A
 * CONNECT request is refused the same way, 405 with Allow (`answer`); `status` undefined: the client reset the
 * connection, nothing is written.
 */
function refuseAfterAnswers(status: number | undefined, socket: Socket, connections: WeakMap<Socket, Connection>, answer?: { allow: string; body: string }): void {
  const conn = connectionOf(connections, socket);
  // Node reports each chunk that arrives after the first error, and the end of the connection, again.
  if (conn.refused) return;
  conn.refused = true;
  if (status === undefined) return void socket.destroy();
  const head = answer ? `Allow: ${answer.allow}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(answer.body)}\r\n` : '';
  const refuse = () => {
    const owed = [conn.last, conn.before].find((e) => e !== undefined && (e.req.complete || e.res.headersSent));
    if (owed && !owed.res.writableFinished && !owed.res.destroyed) {
      // A client that ended its side can no longer be seen leaving while nothing is written to it: as Node does with
      // any half-closed connection, the answers not yet written are given up and the connection ends.
      if (socket.readableEnded) return void socket.end();
      // Looked at again once it is written (the request cut short may have been answered meanwhile), or the client
      // ended its side.
      const next = () => {
        owed.res.off('finish', next).off('close', next);
        socket.off('end', next);
        refuse();
      };
      owed.res.once('finish', next).once('close', next);
      socket.once('end', next);
      return;
    }
    // Not after an answer that closed the connection (Connection: close, a 413), nor when the request cut short was
    // answered already (a 415 goes out before the body is in): each request gets one answer.
    const cutAnswered = conn.last !== undefined && !conn.last.req.complete && conn.last.res.headersSent;
    if (socket.writable && !cutAnswered) socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}Connection: close\r\n\r\n${answer?.body ?? ''}`);
    // Ended, not destroyed: the answers just written still reach the client. What the cut request's handler writes
    // later is kept back by Node (the socket no longer writable).
    socket.destroySoon();
  };
  refuse();
}

/**
 * The request past MAX_PIPELINED_REQUESTS: 429, as the port's other "this client, retry later" (the answer budget); the
 * port is not unavailable (503), only this client asked too much at once. A refused /sql is counted and logged as at
 * the door (throttled: such a client sends many).
 */
function pipelineFull(req: IncomingMessage, res: ServerResponse, h: OpsHandlers, door: DoorLog): void {
  const message = `${MAX_PIPELINED_REQUESTS} requests on this connection already wait behind one not yet answered; read their answers before sending more`;
  sqlRefusedAtTheDoor(req, requestUrl(req), h, door, 429, 'too many requests pipelined');
  res.setHeader(OPS_SERVER_HEADER, 'cdrflow');
  send(res, 429, 'text/plain', `${message}\n`, { 'retry-after': '1', connection: 'close' });
}

/** The connection's state, made on its first request or refusal. */
function connectionOf(connections: WeakMap<Socket, Connection>, socket: Socket): Connection {
  let conn = connections.get(socket);
  if (!conn) connections.set(socket, (conn = { refused: false, open: new Set() }));
  return conn;
}

/**
 * The request's target, for the router and for the door's count of refused /sql requests
 * (`http://host/sql` in absolute form, `/x/../sql`, `/sql#f` are /sql to both). Undefined for a target the URL parser
 * refuses.
 */
function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://127.0.0.1');
  } catch {
    return undefined;
  }
}

/** What POST /reconcile is answered (503, JSON) once the job's stop began. */
export const JOB_STOPPING = 'the job is stopping; run the command again once it has stopped (it then runs without the job)';

/** What POST /reconcile is answered (503, JSON) while the job still starts (its connectors and ClickHouse are not up). */
export const JOB_STARTING = 'the job is still starting; run the command again once `cdrflow status` shows it running';

/** Host headers this server answers to: its own port on loopback, by address or by the name localhost. */
export function allowedHost(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  return [`127.0.0.1:${port}`, `localhost:${port}`].includes(host.toLowerCase());
}

/** No Origin (a program, not a browser page) or this server's own origin. */
export function allowedOrigin(origin: string | undefined, port: number): boolean {
  if (origin === undefined) return true;
  return [`http://127.0.0.1:${port}`, `http://localhost:${port}`].includes(origin.toLowerCase());
}

async function handle(req: IncomingMessage, res: ServerResponse, h: OpsHandlers, port: number, door: DoorLog, state: ServerState): Promise<void> {
  const url = requestUrl(req);
  // As Node answers them (see startOpsServer), on HTTP/1.1 only.
  const http11 = req.httpVersion === '1.1';
  if (http11 && req.headers.host === undefined) return send(res, 400, 'text/plain', 'a request of HTTP/1.1 needs a Host header\n', { connection: 'close' });
  if (http11 && req.headers.expect !== undefined && !/(?:^|\W)100-continue(?:$|\W)/i.test(req.headers.expect)) return send(res, 417, 'text/plain', 'only Expect: 100-continue is taken\n');
  if (!allowedHost(req.headers.host, port)) {
    sqlRefusedAtTheDoor(req, url, h, door, 421, `host ${req.headers.host ?? 'none'}`);
    return send(res, 421, 'text/plain', `this port answers to Host 127.0.0.1:${port} or localhost:${port} only\n`);
  }
  if (!allowedOrigin(req.headers.origin, port)) {
    sqlRefusedAtTheDoor(req, url, h, door, 403, `origin ${req.headers.origin}`);
    return send(res, 403, 'text/plain', 'cross-origin requests are refused\n');
  }
  // A request target the URL parser refuses (`//`, `http://[`) is the client's mistake: 400, not the handler's 500.
  if (url === undefined) return send(res, 400, 'text/plain', 'invalid request target\n');
  const methods = routeMethods(url.pathname, h);
  if (methods === undefined) return send(res, 404, 'text/plain', 'not found\n');
  // HEAD is GET without the body (Node leaves it out): probes that only look at the status use it.
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  if (!methods.includes(method ?? '')) {
    const hint = url.pathname === '/sql' ? ` (the query is the body: Content-Type: ${SQL_CONTENT_TYPE})` : '';
    sqlRefusedAtTheDoor(req, url, h, door, 405, `method ${String(req.method).slice(0, 20)}`);
    return send(res, 405, 'text/plain', `${url.pathname} takes ${methods.join(' or ')}${hint}\n`, { allow: methods.includes('GET') ? [...methods, 'HEAD'].join(', ') : methods.join(', ') });
  }
  switch (url.pathname) {
    case '/healthz':
      return send(res, 200, 'text/plain', 'ok\n');
    case '/readyz': {
      // Every component still reads running while the stop waits for a reconcile run to end, before intake stops.
      const r = state.stopping ? { ...h.readiness(), ready: false, stopping: true } : h.readiness();
      return send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r) + '\n');
    }
    // These answers can pass Node's 16 KiB on their own (many series, many components): computed in their turn, as
    // /sql answers wait for it (itsTurn), so they never queue behind a slow query and make Node stop reading.
    case '/metrics':
      await itsTurn(res);
      return send(res, 200, h.metrics.contentType, await h.metrics.metrics());
    case '/status':
      await itsTurn(res);
      return send(res, 200, 'application/json', JSON.stringify(await h.status()) + '\n');
    case '/sql':
      return handleSql(req, res, h, url, door, state);
    case '/reconcile': {
      // JSON only: a browser cannot send that cross-origin without a preflight this server never answers.
      if (mediaType(req) !== 'application/json') return send(res, 415, 'text/plain', 'send the request as application/json\n');
      const body = await bodyOr413(req, res, 'request body');
      if (body === undefined) return;
      // Looked at once the body is in: a stop that began while it arrived refuses it too.
      const refusal = state.stopping ? JOB_STOPPING : h.reconcileRefusal?.();
      if (refusal !== undefined) return send(res, 503, 'application/json', `${JSON.stringify({ error: refusal })}\n`);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      // As for /sql: the client going away aborts its run, which otherwise held the job's one reconcile for minutes.
      const abort = new AbortController();
      onAnswerClosed(res, () => {
        if (!res.writableFinished) abort.abort(new Error('the client went away'));
      });
      let skipped = 0;
      const write = (line: string, informative = false) => {
        if (res.destroyed) return;
        // Left out while no one reads them: the client does not read (past the bound), or the answer still waits
        // behind another on its connection, where queued lines would make Node stop reading it (itsTurn).
        if (informative && (!res.socket || res.writableLength > RECONCILE_UNSENT_BOUND_BYTES)) return void skipped++;
        res.write(`${line}\n`);
      };
      await h.reconcile!(body, write, abort.signal);
      if (skipped > 0) h.log?.('warn', 'reconcile.lines_skipped', { caller: callerOf(req), lines: skipped, unsentBoundBytes: RECONCILE_UNSENT_BOUND_BYTES });
      res.end();
      return;
    }
  }
}

/**
 * The methods a path of this server takes, or undefined for a path it does not serve (404). A served path asked with
 * another method is answered 405 with an Allow header, so `curl localhost:PORT/sql` says to POST the query.
 */
function routeMethods(path: string, h: OpsHandlers): readonly string[] | undefined {
  switch (path) {
    case '/healthz':
    case '/readyz':
    case '/metrics':
    case '/status':
      return ['GET'];
    case '/sql':
      return ['POST'];
    case '/reconcile':
      return h.reconcile ? ['POST'] : undefined;
    default:
      return undefined;
  }
}

const callerOf = (req: IncomingMessage) => `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'} ${req.headers['user-agent'] ?? '-'}`;

/** A /sql request answered before the query runs: counted (cdrflow_sql_queries_total) and logged like its answers. */
function sqlRefused(req: IncomingMessage, h: OpsHandlers, status: number, reason: string, extra: Record<string, number> = {}): void {
  h.sqlAnswered?.(status);
  h.log?.('warn', 'sql.refused', { caller: callerOf(req), status, reason, ...extra });
}

/** Log lines per minute, at most, for the refusals of /sql that carry the client's own text (every one is counted). */
export const DOOR_REFUSALS_LOGGED_PER_MINUTE = 10;

/**
 * A request to /sql refused for its Host or Origin (a web page's, a DNS-rebinding page's) is a refused query too: an
 * operator sees in the metric and the log that a browser page tried the SQL endpoint. The other paths are read-only.
 * A page can send such requests in a loop, so their log lines are throttled: at most DOOR_REFUSALS_LOGGED_PER_MINUTE
 * a minute, the next line logged saying how many were left out (`unlogged`); the metric counts every one. The same
 * holds for a wrong method, Content-Type or format: their lines quoted the header or parameter whole (up to Node's 16 KiB of
 * headers), one per request, for any client in a loop. A reason is cut at 200 characters.
 */
function sqlRefusedAtTheDoor(req: IncomingMessage, url: URL | undefined, h: OpsHandlers, door: DoorLog, status: number, reason: string): void {
  if (url?.pathname !== '/sql') return;
  // The minute is a duration, on the monotonic clock: a wall clock stepped back must not silence the lines that long.
  const now = performance.now();
  if (now - door.windowStart >= 60_000) {
    door.windowStart = now;
    door.logged = 0;
  }
  if (door.logged >= DOOR_REFUSALS_LOGGED_PER_MINUTE) {
    h.sqlAnswered?.(status);
    door.unlogged++;
    return;
  }
  door.logged++;
  sqlRefused(req, h, status, reason.slice(0, 200), door.unlogged > 0 ? { unlogged: door.unlogged } : {});
  door.unlogged = 0;
}
interface DoorLog {
  /** When the current minute of refusal lines began (performance.now, ms). */
  windowStart: number;
  logged: number;
  unlogged: number;
}

async function handleSql(req: IncomingMessage, res: ServerResponse, h: OpsHandlers, url: URL, door: DoorLog, state: ServerState): Promise<void> {
  const started = Date.now();
  const caller = callerOf(req);
  // Answered before the query runs: counted and logged like the others.
  const refused = (status: number, reason: string) => sqlRefused(req, h, status, reason);
  const type = mediaType(req);
  if (type !== SQL_CONTENT_TYPE) {
    sqlRefusedAtTheDoor(req, url, h, door, 415, `content-type ${type || 'none'}`);
    return send(res, 415, 'text/plain', `POST /sql needs Content-Type: ${SQL_CONTENT_TYPE}\n`);
  }
  const body = await bodyOr413(req, res, 'query', refused);
  if (body === undefined) return;
  const format = url.searchParams.get('format') ?? 'PrettyCompactMonoBlock';
  if (!/^[A-Za-z]+$/.test(format)) {
    sqlRefusedAtTheDoor(req, url, h, door, 400, `invalid format ${format}`);
    return send(res, 400, 'text/plain', 'invalid format: a format name is ASCII letters only\n');
  }
  // The query's slot is given back once its answer is computed, and the answer is then written as fast as the client
  // reads it, with no deadline (`cdrflow sql | less` stops reading while the pager waits). So a client that does not
  // read held its answer, up to maxResultBytes, for as long as it liked, and such clients one after another held the
  // job's memory without bound. An answer counts against the budget from its query's start (a full answer, as its
  // size is unknown until then) until it is written out or its client is gone; a query that would pass the budget is
  // refused 429, and the clients reading their answers are never cut.
  const budget = h.sqlAnswerBudget;
  if (budget && state.sqlAnswerBytes + budget.perAnswer > budget.bytes) {
    const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
    const message = `busy: answers not yet read by their clients hold ${mib(state.sqlAnswerBytes)} of the ${mib(budget.bytes)} the SQL answers may hold; retry once they are read or their clients have gone`;
    refused(429, message);
    return send(res, 429, 'text/plain', `${message}\n`, { 'retry-after': '1' });
  }
  let held = 0;
  let released = false;
  const hold = (bytes: number) => {
    if (!budget || released) return;
    state.sqlAnswerBytes += bytes - held;
    held = bytes;
  };
  hold(budget?.perAnswer ?? 0);
  // The client going away cancels the query (the response closes before it was written).
  const abort = new AbortController();
  onAnswerClosed(res, () => {
    hold(0);
    released = true;
    if (!res.writableFinished) abort.abort(new Error('client went away'));
  });
  const done = (status: number, error?: string, bytes?: number) => {
    h.sqlAnswered?.(status);
    h.log?.(status === 200 ? 'info' : 'warn', 'sql.query', {
      caller,
      status,
      durationMs: Date.now() - started,
      ...(bytes !== undefined ? { bytes } : {}),
      ...(error ? { error: error.slice(0, 500) } : {}),
      sql: body.length > LOGGED_SQL_CHARS ? `${body.slice(0, LOGGED_SQL_CHARS)}…` : body,
    });
  };
  try {
    const out = await h.query(body, format, { signal: abort.signal, color: url.searchParams.get('color') === '1' });
    hold(Buffer.byteLength(out));
    done(200, undefined, Buffer.byteLength(out));
    await itsTurn(res);
    return send(res, 200, 'text/plain; charset=utf-8', out);
  } catch (err) {
    const status = err instanceof SqlQueryError ? err.status : 422;
    done(status, (err as Error).message);
    const headers = status === 429 ? { 'retry-after': '1' } : {};
    hold(Buffer.byteLength((err as Error).message));
    await itsTurn(res);
    return send(res, status, 'text/plain', `${(err as Error).message}\n`, headers);
  }
}

/**
 * The header every answer of the ops port carries. Another program holding the port that answered "ok" to /healthz
 * was taken for the job: `cdrflow sql` printed that program's answer as the query's result, exit 0 (an operator walk).
 */
export const OPS_SERVER_HEADER = 'x-cdrflow-ops';

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return void res.end();
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/**
 * Resolves once `res` is the answer its connection writes (Node hands it the socket when the answers before it are
 * written), or its connection closed. A /sql answer waits for its turn here, counted against the answer budget, rather
 * than in Node's queue: Node stops reading a connection once more than its high-water mark (16 KiB) of answers waits
 * queued, and a connection not read cannot be seen to close. A big answer queued behind a slow query then kept the
 * client's end or reset unseen: the slow query ran on, and both held their share of the budget until it ended.
 */
function itsTurn(res: ServerResponse): Promise<void> {
  if (res.socket) return Promise.resolve();
  return new Promise((resolve) => {
    const turn = onAnswerClosed(res, resolve);
    res.once('socket', turn);
  });
}

/** The request's media type without parameters, lower case ("application/sql; charset=utf-8" → "application/sql"). */
function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * The body as text, or undefined once it passed MAX_SQL_BYTES and was answered 413 (`what` names it there), or the
 * client went away before sending all of it (nothing to answer: `refused` is told 499, as for a query cut short).
 */
async function bodyOr413(req: IncomingMessage, res: ServerResponse, what: string, refused?: (status: 413 | 499, reason: string) => void): Promise<string | undefined> {
  try {
    return await readBody(req, MAX_SQL_BYTES, what);
  } catch (err) {
    if (!(err instanceof BodyTooLarge)) {
      refused?.(499, `the client went away while sending the ${what}: ${(err as Error).message}`);
      return void res.destroy();
    }
    refused?.(413, err.message);
    send(res, 413, 'text/plain', `${err.message}\n`, { connection: 'close' });
    return undefined;
  }
}

class BodyTooLarge extends Error {}

/** The body as text; rejected once it passes `limit` bytes (`what` names it in the message). */
function readBody(req: IncomingMessage, limit: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Drop the body but leave the connection to the 413 (sent with `connection: close`, which ends it once the
        // answer is written; what arrives until then is read and dropped). Destroying the request here closed the
        // socket before the 413 went out: the client saw a reset instead of the reason.
        chunks.length = 0;
        reject(new BodyTooLarge(`${what} larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
