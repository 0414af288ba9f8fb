// What the polled vendor APIs answer is input like any other: read at most MAX_VENDOR_ANSWER_BYTES of it, and keep
// the vendor's own words (messages, request ids) short and on one line before they reach an error or an envelope.
import http from 'node:http';
import https from 'node:https';
import type { NetConnectOpts } from 'node:net';
import { Transform, type Duplex } from 'node:stream';
import { TextDecoder } from 'node:util';
import { CdrflowError } from '../../core/errors.ts';
import { hasControlCharacter, MAX_VENDOR_ANSWER_BYTES, quote } from '../../core/input-limits.ts';

/** The error code of an answer longer than the limit. Sources shrink the page on it, as on the vendor's "too large". */
export const ANSWER_TOO_LARGE = 'answer-too-large';
/** The error code of an answer that is no page (the clients' `malformed-response`). */
const ANSWER_MALFORMED = 'malformed-response';
/** The error code of a redirect to another host or port, which is never followed. */
export const ANSWER_ELSEWHERE = 'redirect-elsewhere';

/** Whether `err` is the agent's refusal of a redirect: by its code (node-fetch keeps it), or by the words of
 * redirectRefused below (the SDK passes network errors on with their message only). */
export function isRedirectRefusal(err: { code?: unknown; message?: unknown } | null | undefined): boolean {
  return err?.code === ANSWER_ELSEWHERE || /redirected to .* not followed/.test(String(err?.message));
}

function redirectRefused(target: string, limits: AnswerLimits): Error & { code: string } {
  return codedError(ANSWER_ELSEWHERE, `redirected to ${target}, not ${limits.host} port ${limits.port}: not followed`);
}

/**
 * The records and total of a success answer, or undefined when it is no page: the total a non-negative safe integer,
 * the list an array that only an empty window may leave out (a page that claims records and carries none would
 * otherwise read as the end of the window).
 */
export function pageOf(total: unknown, list: unknown): { total: number; records: unknown[] } | undefined {
  const records = list ?? (total === 0 ? [] : undefined);
  return Array.isArray(records) && typeof total === 'number' && Number.isSafeInteger(total) && total >= 0 ? { total, records } : undefined;
}

/**
 * How a polled vendor's HTTP status (not 200) is taken: 429 is the vendor's rate limit; 408 (a proxy or the vendor
 * timed the request out), 425 and 5xx are passing faults and retried; so are another 2xx (204 No Content, …) and 304
 * Not Modified (no request is sent conditional): no page, but the server's (or a cache's) own state, which no setting
 * mends. Any other 3xx or 4xx is a setting to fix (a wrong URL or credentials), and the poller stops. Neither vendor
 * documents a non-200 answer beyond "a network error".
 */
export function httpStatusKind(status: number): 'rate_limited' | 'transient' | 'config' {
  if (status === 429) return 'rate_limited';
  return status < 300 || status === 304 || status === 408 || status === 425 || status >= 500 ? 'transient' : 'config';
}

/**
 * The longest rest a vendor's Retry-After buys it: 5 minutes. Past that the header is a broken proxy's or an outage
 * the vendor cannot date; at this cap a page's retries (12 by default) still end, and the cycle with them, within the
 * hour, rather than a tenant's poller idling for as long as any answer says. A stop request never waits it out.
 */
export const RETRY_AFTER_CAP_MS = 5 * 60_000;

/** The rest a failure asked for (a vendor's Retry-After), in ms, at most RETRY_AFTER_CAP_MS; 0 when none. */
export const restAskedMs = (err: CdrflowError): number => Math.min(err.retryAfterMs ?? 0, RETRY_AFTER_CAP_MS);

/**
 * How long a rest ending at `until` still lasts at `now` (ms, one clock), 0 if it is over. A rest that ends further off
 * than any may (the cap) was taken while the clock ran ahead, and it was set right since: it is over, or the tenant
 * sat out as long as the clock was ahead.
 */
export const restLeftMs = (until: number, now: number): number => {
  const left = until - now;
  return left > 0 && left <= RETRY_AFTER_CAP_MS ? left : 0;
};

/**
 * How long a 429 or 503 answer asks us to wait before asking again (its Retry-After: delta-seconds or an HTTP date),
 * in ms, at most RETRY_AFTER_CAP_MS; undefined for any other status, and for a value that is no such wait (absent,
 * garbage, negative, zero, a date not in the future), which leaves the wait to our backoff.
 */
export function retryAfterMs(status: number, header: string | null | undefined, now: number): number | undefined {
  if ((status !== 429 && status !== 503) || !header) return undefined;
  const value = header.trim();
  // Date.parse takes nearly anything ("1 2" is a date in 2001): only a date that ends in GMT, as HTTP dates do.
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : /\bGMT$/.test(value) ? Date.parse(value) - now : Number.NaN;
  return ms > 0 ? Math.min(ms, RETRY_AFTER_CAP_MS) : undefined;
}

/** Whether a status is a redirect (which is never followed): any 3xx but 304, which redirects nowhere. */
export function isRedirectStatus(status: number): boolean {
  return status >= 300 && status < 400 && status !== 304;
}

export function answerTooLarge(context: string, bytes: number | string, max: number = MAX_VENDOR_ANSWER_BYTES): CdrflowError {
  return new CdrflowError('transient', `${context}: answer longer than ${max} bytes (${bytes}), refused unread`, { code: ANSWER_TOO_LARGE });
}

type AddRequest = (this: http.Agent, req: http.ClientRequest, options: object) => void;
type CreateConnection = (this: http.Agent, options: NetConnectOpts & { host?: string; port?: number | string }, callback: (err: Error | null, socket?: Duplex) => void) => Duplex | undefined;

/** Where the client may connect, and how long one exchange (request to the answer's last byte) may take. */
export interface AnswerLimits {
  host: string;
  port: number;
  timeoutMs: number;
}

/**
 * For the CCC SDK, which reads answers through node-fetch and lets us set little but an agent and headers: an agent
 * that holds each exchange to what the TRTC client does with fetch (answerText).
 * - It connects to the endpoint's host and port only. node-fetch follows redirects and cannot be told not to through
 *   the SDK, so a redirect elsewhere fails here (ANSWER_ELSEWHERE) instead of sending the signed request on.
 * - A 200 answer is cut once it passes the limit (ANSWER_TOO_LARGE) or the exchange passes timeoutMs (node-fetch's
 *   own body timeout rejects the read but keeps the connection reading). It is never inflated: the client asks for
 *   no compression, and node-fetch would inflate a 40 MiB bomb from a few kilobytes, past any count of wire bytes.
 * - Any other answer is closed at once, quietly. The SDK reads nothing of it but its status (a large error body
 *   would hold its connection for good), or, for an event stream, would hand the body over unread.
 * Why so careful about errors: node-fetch passes a request's error to the answer's body, and a body nobody reads
 * (the SDK's non-200 path, its event-stream model) would throw it as an uncaught exception. So an error is only
 * raised once the SDK reads the body (after the current turn, by setImmediate); everything else is closed without one.
 * Answers are watched through `addRequest`, which Node's docs leave out but agent-base (under the SDK's own proxy
 * agent) is built on; counting on the socket instead would leave a 'data' listener there, which node-fetch takes for
 * a chunked answer that ended early ("Premature close").
 */
export function answerLimitedAgent(protocol: 'http' | 'https', limits: AnswerLimits, options: http.AgentOptions): http.Agent {
  const Base = protocol === 'https' ? https.Agent : http.Agent;
  const agent = new Base(options);
  const hooks = agent as unknown as { createConnection: CreateConnection; addRequest: AddRequest };
  const createConnection = hooks.createConnection;
  hooks.createConnection = function (connectOptions, callback) {
    if (connectOptions.host === limits.host && Number(connectOptions.port) === limits.port) return createConnection.call(this, connectOptions, callback);
    const target = `${quote(connectOptions.host, 100)} port ${quote(connectOptions.port, 10)}`;
    callback(redirectRefused(target, limits));
    return undefined;
  };
  const addRequest = hooks.addRequest;
  hooks.addRequest = function (req, requestOptions) {
    const fail = (code: string, message: string) => setImmediate(() => req.destroy(codedError(code, message)));
    const deadline = setTimeout(() => fail('ETIMEDOUT', `no complete answer within ${limits.timeoutMs} ms`), limits.timeoutMs);
    req.once('close', () => clearTimeout(deadline));
    req.once('response', (res: http.IncomingMessage) => {
      const type = String(res.headers['content-type'] ?? '');
      if (res.statusCode !== 200 || type.startsWith('text/event-stream')) {
        res.destroy();
        return;
      }
      // Read as the bytes it is: node-fetch (whose listener runs after this one) decides from this header whether
      // to inflate, and the client asked for no encoding. A compressed page then fails to parse, within the limit.
      delete res.headers['content-encoding'];
      const step = charsetStep(type);
      if (step) pipeThrough(res, step);
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_VENDOR_ANSWER_BYTES) fail(ANSWER_TOO_LARGE, `answer longer than ${MAX_VENDOR_ANSWER_BYTES} bytes, refused unread`);
      });
    });
    addRequest.call(this, req, requestOptions);
  };
  return agent;
}

/** The error of an answer its decoding refused as no page (charsetDecoder): the same words for both clients. */
export function undecodableAnswer(context: string, why: string, cause?: unknown): CdrflowError {
  return new CdrflowError('transient', `${context}: malformed response (${why})`, { code: ANSWER_MALFORMED, cause });
}

/**
 * The words of the CCC agent's decoding refusal (charsetStep) as node-fetch passes it on: a FetchError with its code,
 * and its message behind node-fetch's "Invalid response body while trying to fetch <url>: " (the original error is not
 * kept), which is dropped. Undefined for any other error (the SDK's `code` is the vendor's, its words not ours).
 */
export function decodingRefusalOf(err: { name?: unknown; code?: unknown; message?: unknown } | null | undefined): string | undefined {
  if (err?.name !== 'FetchError' || err.code !== ANSWER_MALFORMED) return undefined;
  return /^Invalid response body while trying to fetch \S+: (.+)$/s.exec(String(err.message))?.[1];
}

function codedError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/**
 * The decoder for the charset an answer's Content-Type declares, or undefined for UTF-8, declared or not (read as
 * always). Both Tencent APIs answer UTF-8, but a gateway may re-encode (GBK, GB18030): read as UTF-8, Chinese names
 * would be stored garbled without a word. A label TextDecoder does not know (the WHATWG set, case-insensitive) is no
 * page: an ANSWER_MALFORMED error, retried, never a guess. A BOM is kept, as Buffer's UTF-8 keeps it (JSON refuses it).
 */
function charsetDecoder(contentType: string | null | undefined): TextDecoder | undefined {
  const label = /;\s*charset\s*=\s*"?([^";]*)/i.exec(contentType ?? '')?.[1]?.trim();
  if (!label) return undefined;
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label, { ignoreBOM: true });
  } catch {
    throw codedError(ANSWER_MALFORMED, `an answer in charset ${quote(label, 40)}, which no decoder knows`);
  }
  return decoder.encoding === 'utf-8' ? undefined : decoder;
}

/**
 * Has node-fetch (which the SDK reads answers through, as UTF-8 whatever they declare) read `res` through `step`:
 * node-fetch takes the body by piping `res`, so the pipe goes through `step` first. An error of either side fails
 * the body node-fetch reads (a pipe passes none on), and closes the answer's connection. The agent's byte count
 * stays on `res`, on the bytes as they came.
 */
function pipeThrough(res: http.IncomingMessage, step: Transform): void {
  const pipe = res.pipe.bind(res);
  res.pipe = <T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T => {
    res.once('error', (err) => step.destroy(err));
    step.once('error', (err) => {
      res.destroy();
      (destination as unknown as Duplex).destroy(err);
    });
    return pipe(step).pipe(destination, options);
  };
}

/** For the CCC agent: the answer's body as node-fetch should read it, by its declared charset (charsetDecoder). */
function charsetStep(contentType: string): Transform | undefined {
  let decoder: TextDecoder | undefined;
  try {
    decoder = charsetDecoder(contentType);
  } catch (err) {
    // Nothing of the body passes: read as UTF-8 it would parse, garbled.
    const refuse = (done: (err: Error) => void) => done(err as Error);
    return new Transform({ transform: (_chunk, _encoding, done) => refuse(done), flush: refuse });
  }
  if (!decoder) return undefined;
  return new Transform({
    transform: (chunk: Buffer, _encoding, done) => done(null, Buffer.from(decoder.decode(chunk, { stream: true }))),
    flush: (done) => done(null, Buffer.from(decoder.decode())),
  });
}

/**
 * A fetch answer's body as text (by its declared charset: charsetDecoder), at most `max` bytes (announced or
 * streamed, counted after decoding); the rest is never read. Every read races `signal`: undici (Node 20's fetch) can leave a read pending for good after a body that
 * failed to decode, timeout or not.
 */
export async function answerText(response: Response, context: string, signal: AbortSignal, max: number = MAX_VENDOR_ANSWER_BYTES): Promise<string> {
  const announced = Number(response.headers.get('content-length'));
  if (announced > max) {
    await response.body?.cancel();
    throw answerTooLarge(context, `announced ${announced}`, max);
  }
  let decoder: TextDecoder | undefined;
  try {
    decoder = charsetDecoder(response.headers.get('content-type'));
  } catch (err) {
    await response.body?.cancel();
    throw undecodableAnswer(context, (err as Error).message);
  }
  const { chunks, length, over } = await readAtMost(response, signal, max);
  if (over !== undefined) throw answerTooLarge(context, `over ${over} so far`, max);
  // Decoded only once the bound has held: by the declared charset, else as UTF-8.
  const bytes = Buffer.concat(chunks, length);
  return decoder ? decoder.decode(bytes) : bytes.toString('utf8');
}

/** How much of an answer that is only quoted in an error (an error status) is read: a vendor's error page fits. */
export const ANSWER_EXCERPT_BYTES = 4096;

/**
 * The first `max` bytes of an answer the client will not use but to quote (an error status), the rest cancelled
 * unread: a long or never-ending error body would otherwise hold its connection until the request's time limit.
 * Decoded by its declared charset (charsetDecoder), as a page is. A charset no decoder knows is read as UTF-8, not
 * refused as a page is: the status is the error here, and an excerpt garbled in part still keeps what an operator
 * needs of it (ASCII codes, request ids), where refusing it would keep nothing.
 */
export async function answerExcerpt(response: Response, signal: AbortSignal, max: number = ANSWER_EXCERPT_BYTES): Promise<string> {
  let decoder: TextDecoder | undefined;
  try {
    decoder = charsetDecoder(response.headers.get('content-type'));
  } catch {
    decoder = undefined;
  }
  const { chunks, length } = await readAtMost(response, signal, max);
  const bytes = Buffer.concat(chunks, length);
  return decoder ? decoder.decode(bytes) : bytes.toString('utf8');
}

/** Reads up to `max` bytes; past that, the body is cancelled (its connection closed) and `over` says how far it got. */
async function readAtMost(response: Response, signal: AbortSignal, max: number): Promise<{ chunks: Uint8Array[]; length: number; over?: number }> {
  if (!response.body) return { chunks: [], length: 0 };
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = response.body.getReader();
  const aborted = new Promise<never>((_resolve, reject) => {
    const stop = () => {
      reader.cancel().catch(() => undefined);
      reject(signal.reason);
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
  aborted.catch(() => undefined); // raced below; this only keeps an abort after the last read from going unhandled
  for (;;) {
    const { done, value } = await Promise.race([reader.read(), aborted]);
    if (done) break;
    if (length + value.length > max) {
      await reader.cancel();
      chunks.push(value.subarray(0, max - length));
      return { chunks, length: max, over: length + value.length };
    }
    length += value.length;
    // A chunk that is a view into a larger buffer would keep all of it alive: keep a copy of the chunk instead.
    chunks.push(value.byteLength < value.buffer.byteLength ? value.slice() : value);
  }
  return { chunks, length };
}

/** Request ids go into every envelope of their page: only a short printable string is kept, anything else is null. */
export function requestIdOf(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 && value.length <= 128 && !hasControlCharacter(value) ? value : null;
}
