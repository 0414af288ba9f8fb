// The HTTP receiver: one node:http server hosting every configured push route. It owns the transport rules — body
// cap, the budget of bodies held at once, timeouts, Kafka-ack deadline, metrics, graceful shutdown — and leaves auth
// (before the body where a route can), parsing and answer shapes to the vendor routes. A push is answered with
// success only after Kafka acknowledged every record in it.
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { CdrflowError, listenError } from '../../core/errors.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import type { ReceiverServerConfig } from './config.ts';
import { BodyBudget, readBody } from './body.ts';
import { GroupCommitSink } from './group-commit.ts';
import { createReceiverMetrics, type KafkaSendOutcome, type ReceiverMetrics } from './metrics.ts';
import { logger, type LogFn } from '../../core/log.ts';
import { boundReason, quote } from '../../core/input-limits.ts';
import { clientErrorStatus, onAnswerClosed } from '../../core/http-answers.ts';
import type { EnvelopeSink, IncomingPush, Outcome, PushReply, Route, RouteContext } from './types.ts';
import { kafkaEnvelopeSink } from './kafka-sink.ts';
import { RefusalLog } from './refusal-log.ts';
import type { Kafka } from '../../core/kafka.ts';
import type { SchemaRegistry } from '../../core/avro.ts';

export interface ReceiverDeps {
  /** Where envelopes go; without it, an acked producer of the receiver's own on `kafka`. */
  sink?: EnvelopeSink;
  /** The host's Kafka client and schema registry for the receiver's own producer (closed when it stops). */
  kafka?: { client: Kafka; schemaRegistry: SchemaRegistry };
  /** prom-client registry to register the receiver's metrics on. */
  registry?: Registry;
  now?: () => number;
  log?: LogFn;
}

export interface RunningReceiver {
  url: string;
  host: string;
  port: number;
  config: ReceiverServerConfig;
  metrics: ReceiverMetrics;
  /** Request body bytes held now, of config.bodyBudgetBytes. */
  bodyBytesHeld(): number;
  /** Client connections open now. */
  connections(): Promise<number>;
  /** Stops intake, lets in-flight requests finish (up to shutdownGraceMs), then closes the Kafka producer it owns. */
  stop(): Promise<void>;
}

/** How often Node checks the connections' header and request deadlines: they hold to within this. */
const CONNECTIONS_CHECK_MS = 1_000;

/** Our outcome label for each status Node answers a request it could not read with (clientErrorStatus); others bad_request. */
const CLIENT_ERROR_OUTCOMES = new Map<number, Outcome>([
  [431, 'too_large'],
  [413, 'too_large'],
  [408, 'timeout'],
]);

/**
 * The HTTP server for the routes it is given (the push vendors are plugged in by connectors/push-vendors.ts): each
 * push is answered only after Kafka acknowledged its records.
 */
export async function startReceiverServer(config: ReceiverServerConfig, routes: Route[], deps: ReceiverDeps = {}): Promise<RunningReceiver> {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? logger('receiver');
  const metrics = createReceiverMetrics(deps.registry);
  const refusals = new RefusalLog(log, now);

  // Every topic a vendor publishes to starts at 0, so rate() over it is defined before the first push.
  for (const route of routes) for (const topic of route.topics) metrics.recordsPublished.inc({ vendor: route.name, topic }, 0);
  const byPath = new Map<string, Route>();
  for (const route of routes) {
    for (const path of route.paths) {
      const clash = byPath.get(path);
      if (clash && clash !== route) {
        throw new CdrflowError('config', `receiver path ${path} is configured for both ${clash.name} and ${route.name}`);
      }
      byPath.set(path, route);
    }
  }

  let ownedSink: { sink: EnvelopeSink; close(): Promise<void> } | undefined;
  if (!deps.sink) {
    const topics = routes.flatMap((r) => r.topics);
    if (!deps.kafka) throw new CdrflowError('bug', 'startReceiver needs either a sink or a Kafka client and schema registry');
    ownedSink = await kafkaEnvelopeSink(deps.kafka.client, deps.kafka.schemaRegistry, topics);
  }
  const sink = new GroupCommitSink(deps.sink ?? ownedSink!.sink, config.maxBatchRecords, config.maxBatchBytes, ({ topic, ms, ok }) =>
    metrics.kafkaSend.observe({ topic, outcome: (ok ? 'acknowledged' : 'failed') satisfies KafkaSendOutcome }, ms / 1000),
  );

  const bodies = new BodyBudget(config.bodyBudgetBytes);
  /** Why a request does not fit the budget: what it holds is bodies, and the request lines and headers of those waiting their turn. */
  const overBudget = () => `the receiver already holds ${bodies.held} bytes of request bodies and of waiting requests' headers (bodyBudgetBytes ${config.bodyBudgetBytes})`;
  let draining = false;
  let inFlight = 0;
  let onIdle: (() => void) | undefined;

  const contextFor = (route: Route): RouteContext => ({
    now,
    publish: async (envelopes: RawEnvelope[], topic: string) => {
      // A push answered "retry later" is withdrawn if it is still queued: while Kafka hangs, every re-push would
      // otherwise stay in memory until Kafka is back, and then be sent once more than the vendor re-pushes it.
      const givenUp = new AbortController();
      await withDeadline(sink.publish(envelopes, topic, givenUp.signal), config.ackTimeoutMs, () => {
        const err = new CdrflowError('transient', `Kafka did not acknowledge ${envelopes.length} record(s) on ${topic} within ${config.ackTimeoutMs} ms`);
        givenUp.abort(err);
        return err;
      });
      metrics.recordsPublished.inc({ vendor: route.name, topic }, envelopes.length);
    },
  });
  const contexts = new Map(routes.map((r) => [r, contextFor(r)]));

  /** `conn`: the request's connection; `full`: why it is to be answered "retry later" unread (it came past a bound). */
  const handle = async (req: IncomingMessage, res: ServerResponse, conn: Connection, full: string | undefined): Promise<void> => {
    const started = performance.now();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://receiver');
    } catch {
      // A request target the URL parser refuses (`POST http://[`) is the client's mistake: it was an empty 500.
      req.resume();
      send(res, { status: 400, contentType: 'application/json', body: JSON.stringify({ error: 'malformed request target' }) }, true);
      metrics.requests.inc({ vendor: 'none', outcome: 'bad_request', code: '400' });
      return;
    }
    if (full && !byPath.has(url.pathname)) {
      send(res, { status: 503, contentType: 'application/json', body: JSON.stringify({ error: full }) }, true);
      metrics.requests.inc({ vendor: 'none', outcome: 'busy', code: '503' });
      return;
    }
    if (url.pathname === config.healthPath) {
      send(res, { status: draining ? 503 : 200, contentType: 'application/json', body: JSON.stringify({ status: draining ? 'draining' : 'ok' }) }, draining);
      return;
    }
    const route = byPath.get(url.pathname);
    const requestId = randomUUID();
    const finish = (reply: PushReply, closeConnection = false) => {
      send(res, reply, closeConnection || draining);
      const routeName = route?.name ?? 'none';
      metrics.requests.inc({ vendor: routeName, outcome: reply.outcome, code: reply.code });
      metrics.duration.observe({ vendor: routeName, outcome: reply.outcome }, (performance.now() - started) / 1000);
      if (reply.outcome !== 'accepted') {
        refusals.refused(reply.outcome === 'error' ? 'error' : 'warn', {
          route: routeName, request_id: requestId, status: reply.status, outcome: reply.outcome, code: reply.code,
          // Whatever of the request a route quotes back, one refused push is one short line (an unknown app_key of
          // 900 KB was logged whole: 200 such requests added 171 MiB to the log in 2.3 s).
          detail: reply.detail === undefined ? undefined : boundReason(reply.detail, 300), remote: req.socket.remoteAddress,
        });
      }
    };
    if (!route) {
      req.resume();
      finish({ status: 404, contentType: 'application/json', body: JSON.stringify({ error: 'not found' }), outcome: 'not_found', code: '404' });
      return;
    }
    const meta = { query: url.searchParams, headers: req.headers, requestId };
    if (full) {
      // The vendor's "retry later", as for the body budget; the body is left unread and the connection closed.
      finish({ ...route.failure('unavailable', meta, full), outcome: 'busy' }, true);
      return;
    }
    if (!route.methods.includes(req.method ?? '')) {
      req.resume();
      finish(route.failure('method_not_allowed', meta, `method ${req.method} not allowed`));
      return;
    }
    // Node undoes only the chunking: a body in any other transfer or content coding would reach the route as it came
    // (gzip bytes refused as not JSON, or a plain body stored though its sender said otherwise). Neither vendor sends
    // one, so it is refused unread, and the connection closed, its framing being one we do not read (RFC 9112 6.1).
    const transferCoding = req.headers['transfer-encoding'];
    if (transferCoding !== undefined && transferCoding.trim().toLowerCase() !== 'chunked') {
      finish(route.failure('transfer_coding', meta, `Transfer-Encoding ${quote(transferCoding, 40)} is not supported (only chunked)`), true);
      return;
    }
    const contentCoding = req.headers['content-encoding'];
    if (contentCoding !== undefined && !['', 'identity'].includes(contentCoding.trim().toLowerCase())) {
      finish(route.failure('content_coding', meta, `Content-Encoding ${quote(contentCoding, 40)} is not supported (a push is sent uncompressed)`), true);
      return;
    }
    const authorization = route.authorize?.(meta);
    if (authorization && 'refusal' in authorization) {
      // The body stays unread: the connection cannot carry another request.
      finish(authorization.refusal, true);
      return;
    }
    // The body's bytes count against the budget until the push is answered, whichever way it ends.
    const lease = bodies.lease();
    conn.pushing = true;
    try {
      const body = await readBody(req, config.bodyLimitBytes, config.bodyTimeoutMs, lease);
      if (body.kind === 'aborted') return;
      if (body.kind === 'too_large') {
        finish(route.failure('too_large', meta, `body exceeds ${config.bodyLimitBytes} bytes`), body.closeConnection);
        return;
      }
      if (body.kind === 'over_budget') {
        // The vendor's "retry later", counted apart from Kafka's (outcome busy); the body is left unread.
        const detail = overBudget();
        finish({ ...route.failure('unavailable', meta, detail), outcome: 'busy' }, true);
        return;
      }
      if (body.kind === 'timeout') {
        finish(route.failure('timeout', meta, `body not received within ${config.bodyTimeoutMs} ms`), true);
        return;
      }
      const push: IncomingPush = {
        method: req.method ?? 'POST', path: url.pathname, query: url.searchParams, rawQuery: url.search.slice(1), headers: req.headers,
        body: body.body, requestId, receivedAt: new Date(now()),
      };
      let reply: PushReply;
      try {
        reply = await route.handle(push, contexts.get(route)!, authorization?.grant);
      } catch (err) {
        // A route bug must not take the process down or leave the vendor hanging: answer retryable, log loudly.
        reply = route.failure('error', meta, err instanceof Error ? err.message : String(err));
      }
      finish(reply);
    } finally {
      conn.pushing = false;
      lease.release();
    }
  };

  // Requests pipelined on one connection are handled one after the other, each once the one before it is answered:
  // answers go out in order anyway, and a request behind an answer that closes the connection (an auth refusal, a
  // body over the budget) is then never read, where it used to be stored with its answer lost on the closed socket.
  const connections = new WeakMap<Socket, Connection>();
  const connectionOf = (socket: Socket): Connection => {
    let conn = connections.get(socket);
    if (!conn) {
      const created: Connection = { turn: Promise.resolve(), pending: 0, closing: false, pushing: false };
      socket.once('close', () => clearTimeout(created.unreadTimer));
      connections.set(socket, (conn = created));
    }
    return conn;
  };
  // A client that does not read its answers: once the socket's buffers are full, Node keeps the answers after them
  // and stops reading the connection, which then held its socket, its slot of maxConnections and those answers for
  // ever (and a refusal's destroySoon never ended). While bytes wait to be written, the kernel must take some of them
  // within each unreadAnswerTimeoutMs, or the connection is closed. Node learns that the kernel took bytes only when
  // about half of the socket's send buffer is free (Linux wakes a writer no sooner), so a client is safe as long as
  // it reads a send buffer's worth (at most 4 MiB with Linux's default net.ipv4.tcp_wmem) per period: a vendor reading
  // its answers at all reads far more, each answer being a few hundred bytes. Node's own socket timeout is not used:
  // it also runs while a push waits for Kafka.
  const watchUnread = (socket: Socket, conn: Connection) => {
    if (conn.unreadTimer || socket.destroyed || socket.writableLength === 0) return;
    // Bytes the kernel took: writableLength still holds the write in progress until it completes.
    const taken = () => socket.bytesWritten - socket.writableLength;
    let before = taken();
    const check = () => {
      conn.unreadTimer = undefined;
      if (socket.destroyed || socket.writableLength === 0) return;
      if (taken() > before) {
        before = taken();
        conn.unreadTimer = setTimeout(check, config.unreadAnswerTimeoutMs).unref();
        return;
      }
      metrics.requests.inc({ vendor: 'none', outcome: 'timeout', code: 'unread_answers' });
      refusals.refused('warn', {
        route: 'none', outcome: 'timeout', remote: socket.remoteAddress,
        detail: `connection closed: the client read none of its answers for ${config.unreadAnswerTimeoutMs} ms (unreadAnswerTimeoutMs)`,
      });
      socket.destroy();
    };
    conn.unreadTimer = setTimeout(check, config.unreadAnswerTimeoutMs).unref();
  };
  // Node checks headersTimeout and requestTimeout only every connectionsCheckingInterval (30 s by default): a
  // connection sending its headers slowly lived up to 40 s against a headersTimeoutMs of 10 s.
  const server = createServer({ keepAliveTimeout: config.keepAliveTimeoutMs, headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: CONNECTIONS_CHECK_MS }, (req, res) => {
    inFlight++;
    metrics.inFlight.inc();
    const conn = connectionOf(req.socket);
    // Counted out when its answer closes, or else when its connection does (a client that reset with pipelined
    // answers unread: Node never closes those answers).
    const answered = onAnswerClosed(res, () => {
      inFlight--;
      metrics.inFlight.dec();
      if (inFlight === 0) onIdle?.();
    });
    conn.pending++;
    conn.last = req;
    // Node parses requests pipelined behind one still unanswered and buffers their bodies for as long as the pushes
    // ahead wait for Kafka: up to its stream's highWaterMark each, and the rest of the socket read that crossed it
    // (8 such requests held 124 KiB on one connection, 24 MiB on 200, with the budget showing only their pushes), and
    // keeps their headers, up to 16 KiB each. So a request waiting behind a push holds, in the body budget, its headers
    // and as much as Node may buffer of its body, until its turn (heldWhileWaiting). Past maxPipelinedRequests or the
    // budget, the connection is read no further: this request is answered "retry later" in its turn and the connection
    // closed. A flood of requests answered at once (health checks) is
    // left to Node, which stops reading by itself once their answers back up.
    const waiting = conn.pushing ? bodies.lease() : undefined;
    const over = !waiting ? undefined
      : conn.pending > config.maxPipelinedRequests ? `${config.maxPipelinedRequests} requests on this connection already wait for their answers (maxPipelinedRequests)`
        : !waiting.take(heldWhileWaiting(req)) ? overBudget()
          : undefined;
    const full = conn.full ? undefined : over;
    if (full) {
      conn.full = true;
      stopReading(req.socket);
    }
    conn.turn = conn.turn
      .then(async () => {
        // In its turn the request's body is read by its route (readBody, within the budget) or never.
        waiting?.release();
        // Node queued its answer behind one it will never send: it never closes, so it is counted out here.
        if (conn.closing || req === conn.unread || req.socket.destroyed) {
          answered();
          return;
        }
        await handle(req, res, conn, full);
        watchUnread(req.socket, conn);
        conn.lastAnswer = res;
        if (closingAnswers.has(res) || !res.shouldKeepAlive || res.destroyed) conn.closing = true;
      })
      .catch((err: unknown) => {
        log('error', 'receiver.answer_failed', { error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      })
      .finally(() => {
        if (--conn.pending === 0) conn.afterLast?.();
      });
  });
  // Backstop only: our own body deadline answers first, in the vendor's shape. It runs from when Node began reading a
  // request until it took the request in whole, not until the answer: a request pipelined behind slow answers whose
  // body Node has not taken in (over its stream's buffer, or still coming) is refused by it with a bare 408, never
  // stored (test/fuzz/receiver-wire.test.ts). The vendor pushes it again.
  server.requestTimeout = config.headersTimeoutMs + config.bodyTimeoutMs + 1_000;
  // Node closes a connection over the bound as it is accepted, before anything is read or can be answered; the vendor
  // sees a failed push and pushes it again, as after a "retry later".
  server.maxConnections = config.maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    metrics.requests.inc({ vendor: 'none', outcome: 'busy', code: 'dropped' });
    refusals.refused('warn', {
      route: 'none', outcome: 'busy', detail: `connection closed unread: ${config.maxConnections} connections open (maxConnections)`, remote: data?.remoteAddress,
    });
  });
  // What Node refuses before a request exists (headers too slow or too large, broken framing) is answered as Node
  // would, and counted: it never reached the metrics or the log, so slow-header floods went unseen.
  // Bytes past a request's body (a Content-Length shorter than the body, garbage pipelined behind a push) fail here
  // while that push may still wait for Kafka: the answers of the requests before the failure go out first, then this
  // refusal, then the close. Answered at once, the refusal read as the push's answer and the close lost the push's
  // own, though the push was stored.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const conn = connections.get(socket);
    if (conn?.refused) return;
    const status = clientErrorStatus(err.code);
    const refusal = { status, outcome: CLIENT_ERROR_OUTCOMES.get(status) ?? 'bad_request' };
    if (err.code !== 'ECONNRESET') metrics.requests.inc({ vendor: 'none', outcome: refusal.outcome, code: String(refusal.status) });
    // After an answer that closes the connection, nothing more is said on it.
    const answer = err.code === 'ECONNRESET' || conn?.closing ? undefined : refusal;
    const say = () => {
      if (answer && socket.writable) socket.write(`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nConnection: close\r\n\r\n`);
      // Soon, not at once: answers written just before must reach the client.
      socket.destroySoon();
      if (conn) watchUnread(socket, conn);
    };
    // Nothing more is read: the refused request never reaches its route. Node holds a pipelined answer back until
    // the one before it has gone into the socket (a client slow to read its answers): the refusal waits for the last,
    // where written at once it went past them and the close dropped them, a stored push's 200 among them.
    const refuse = () => {
      socket.pause();
      const last = conn?.lastAnswer;
      if (last && !last.writableFinished && !last.destroyed) last.once('close', say);
      else say();
    };
    // A request whose body failed (cut, broken chunks, too slow) is answered by this refusal, not by its route; the
    // complete requests before it keep their turns.
    const cut = conn?.last && !conn.last.complete ? conn.last : undefined;
    const ahead = (conn?.pending ?? 0) - (cut ? 1 : 0);
    if (!conn || ahead <= 0 || err.code === 'ECONNRESET') {
      refuse();
      return;
    }
    conn.refused = true;
    conn.unread = cut;
    socket.pause();
    conn.afterLast = refuse;
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // Not listening means not running: release the Kafka producer too, or the process would live on deaf.
    refusals.close();
    if (ownedSink) await ownedSink.close().catch(() => undefined);
    throw receiverListenError(err, config.host, config.port);
  }
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${hostForUrl}:${port}`;
  log('info', 'receiver.listening', { url, routes: [...byPath.keys()] });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, config.shutdownGraceMs);
          onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      server.closeAllConnections();
      await closed;
      if (ownedSink) await ownedSink.close();
      refusals.close();
      log('info', 'receiver.stopped', { url });
    })();
    return stopping;
  };

  const openConnections = () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  return { url, host: config.host, port, config, metrics, bodyBytesHeld: () => bodies.held, connections: openConnections, stop };
}

/**
 * The receiver could not bind host:port: the user's setting, not a bug. One line naming the setting (`receiver.port`,
 * env CDRFLOW_RECEIVER_PORT, `--port` of `cdrflow receive`; the same for the host), what is wrong and what to do.
 * Other errors come back unchanged.
 */
export function receiverListenError(err: unknown, host: string, port: number): unknown {
  const code = (err as { code?: unknown } | undefined)?.code;
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const portSetting = 'receiver.port (env CDRFLOW_RECEIVER_PORT, `cdrflow receive --port`)';
  const hostSetting = 'receiver.host (env CDRFLOW_RECEIVER_HOST, `cdrflow receive --host`)';
  switch (code) {
    case 'EADDRINUSE':
      return listenError(err, address, portSetting);
    case 'EACCES':
      return new CdrflowError('config', `${portSetting}: cannot listen on ${address}: this user may not bind that port (below 1024 needs privileges); choose a port from 1024 up and put a proxy in front`, { code, cause: err });
    case 'EADDRNOTAVAIL':
      return new CdrflowError('config', `${hostSetting}: cannot listen on ${address}: no network interface of this machine has that address; use 0.0.0.0 (all), 127.0.0.1 or one of this machine's addresses`, { code, cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new CdrflowError('config', `${hostSetting}: cannot listen on ${address}: the host name does not resolve (${code}); use an IP address of this machine or 0.0.0.0`, { code, cause: err });
    default:
      return err;
  }
}

/** One client connection: its requests, handled in turn, and whether it is to close once they are answered. */
interface Connection {
  /** Settles when the connection's latest request has been answered. */
  turn: Promise<void>;
  /** Requests received and not yet answered. */
  pending: number;
  /** A push on it is reading its body or waiting for Kafka: the requests behind it wait. */
  pushing: boolean;
  /** A request came past maxPipelinedRequests: the connection is read no further. */
  full?: boolean;
  /** An answer closed the connection: the requests behind it are not read. */
  closing: boolean;
  /** The latest request received. */
  last?: IncomingMessage;
  /** Node refused the connection's bytes; `afterLast` answers it once the pending requests are. */
  refused?: boolean;
  /** The request whose body Node refused: the refusal is its answer. */
  unread?: IncomingMessage | undefined;
  afterLast?: () => void;
  /** The answer of the latest request handled: Node sends answers in order, so the others have gone before it. */
  lastAnswer?: ServerResponse;
  /** Closes the connection if the client reads none of the bytes waiting for it (watchUnread). */
  unreadTimer?: NodeJS.Timeout | undefined;
}

/**
 * Reads no more of the connection, for good: Node resumes a paused socket whenever a request's body is read or an
 * answer is written, so it is paused again each time (Node's own 'resume' listener, which starts the reading, runs
 * first, and nothing is read between the two).
 */
function stopReading(socket: Socket): void {
  socket.pause();
  socket.on('resume', () => socket.pause());
}

/** Bytes of one socket read: libuv reads up to 64 KiB at a time, and Node parses each read whole. */
const SOCKET_READ_BYTES = 64 * 1024;

/**
 * What a request waiting behind a push holds of the process until its turn: its request line and headers, which Node
 * keeps (up to its maxHeaderSize, 16 KiB, each: up to 576 MiB over maxConnections of 9 requests, outside the budget
 * when only bodies counted), counted at their size received (the process holds about twice that: 300 connections of 8
 * such added 86 MiB of heap), and the most of its body Node buffers while nothing reads it: it stops reading the
 * connection once the body's stream holds its highWaterMark, after the read that crossed it (at most the declared
 * length; none without a body).
 */
function heldWhileWaiting(req: IncomingMessage): number {
  // Node decodes the request line and headers as latin1, one character per byte received; each header name was
  // followed by ": " and each value by CRLF.
  const head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n\r\n`.length + req.rawHeaders.reduce((sum, s) => sum + s.length + 2, 0);
  const bound = req.readableHighWaterMark + SOCKET_READ_BYTES;
  const declared = Number(req.headers['content-length']);
  const body = Number.isFinite(declared) ? Math.min(declared, bound) : req.headers['transfer-encoding'] === undefined ? 0 : bound;
  return head + body;
}

/** Answers sent with `Connection: close` (Node keeps the header's effect to itself). */
const closingAnswers = new WeakSet<ServerResponse>();

function send(res: ServerResponse, reply: Pick<PushReply, 'status' | 'contentType' | 'body'>, closeConnection: boolean): void {
  if (res.headersSent || res.destroyed) return;
  if (closeConnection) closingAnswers.add(res);
  const body = Buffer.from(reply.body, 'utf8');
  const headers: Record<string, string | number> = { 'content-type': reply.contentType, 'content-length': body.length };
  if (closeConnection) headers['connection'] = 'close';
  res.writeHead(reply.status, headers);
  res.end(body);
}

function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
