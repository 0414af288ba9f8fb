// What the polled vendor APIs answer is input like any other: read at most MAX_VENDOR_ANSWER_BYTES of it, and keep
// the vendor's own words (messages, request ids) short and on one line before they reach an error or an envelope.
import http from 'node:http';
import https from 'node:https';
import type { NetConnectOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import { CdrflowError } from '../../core/errors.ts';
import { MAX_VENDOR_ANSWER_BYTES, quote } from '../../core/input-limits.ts';

/** The error code of an answer longer than the limit. Sources shrink the page on it, as on the vendor's "too large". */
export const ANSWER_TOO_LARGE = 'answer-too-large';
/** The error code of a redirect to another host, which is never followed. */
export const ANSWER_ELSEWHERE = 'redirect-elsewhere';

export function answerTooLarge(context: string, bytes: number | string): CdrflowError {
  return new CdrflowError('transient', `${context}: answer longer than ${MAX_VENDOR_ANSWER_BYTES} bytes (${bytes}), refused unread`, { code: ANSWER_TOO_LARGE });
}

type AddRequest = (this: http.Agent, req: http.ClientRequest, options: object) => void;
type CreateConnection = (this: http.Agent, options: NetConnectOpts & { host?: string }, callback: (err: Error | null, socket?: Duplex) => void) => Duplex | undefined;

/**
 * For clients that read the answer themselves (the CCC SDK, through node-fetch), an agent that
 * - connects to `host` only: node-fetch follows redirects and cannot be told not to through the SDK, so a redirect
 *   elsewhere fails here (ANSWER_ELSEWHERE) instead of sending the signed request to another server;
 * - fails a request whose answer passes the limit (ANSWER_TOO_LARGE), as the bytes arrive: node-fetch turns the
 *   request's error into the body's, so the client's read fails with that code and nothing more is read;
 * - fails an answer that is an event stream at once: the SDK would hand it over unread, the connection held for as
 *   long as the server keeps it open.
 * Answers are watched through `addRequest`, which Node's docs leave out but agent-base (under the SDK's own proxy
 * agent) is built on; counting on the socket instead would leave a 'data' listener there, which node-fetch takes for
 * a chunked answer that ended early ("Premature close").
 */
export function answerLimitedAgent(protocol: 'http' | 'https', host: string, options: http.AgentOptions): http.Agent {
  const Base = protocol === 'https' ? https.Agent : http.Agent;
  const agent = new Base(options);
  const hooks = agent as unknown as { createConnection: CreateConnection; addRequest: AddRequest };
  const createConnection = hooks.createConnection;
  hooks.createConnection = function (connectOptions, callback) {
    if (connectOptions.host === host) return createConnection.call(this, connectOptions, callback);
    callback(codedError(ANSWER_ELSEWHERE, `redirected to ${quote(connectOptions.host, 100)}, not ${host}: not followed`));
    return undefined;
  };
  const addRequest = hooks.addRequest;
  hooks.addRequest = function (req, requestOptions) {
    req.once('response', (res: http.IncomingMessage) => {
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        req.destroy(codedError('malformed-response', 'an event stream, not a page'));
        return;
      }
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_VENDOR_ANSWER_BYTES) req.destroy(codedError(ANSWER_TOO_LARGE, `answer longer than ${MAX_VENDOR_ANSWER_BYTES} bytes, refused unread`));
      });
    });
    addRequest.call(this, req, requestOptions);
  };
  return agent;
}

function codedError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** A fetch answer's body as text, at most MAX_VENDOR_ANSWER_BYTES (announced or streamed); the rest is never read. */
export async function answerText(response: Response, context: string): Promise<string> {
  const announced = Number(response.headers.get('content-length'));
  if (announced > MAX_VENDOR_ANSWER_BYTES) {
    await response.body?.cancel();
    throw answerTooLarge(context, `announced ${announced}`);
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > MAX_VENDOR_ANSWER_BYTES) {
      await reader.cancel();
      throw answerTooLarge(context, `over ${length} so far`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, length).toString('utf8');
}

/** Request ids go into every envelope of their page: only a short printable string is kept, anything else is null. */
export function requestIdOf(value: unknown): string | null {
  // eslint-disable-next-line no-control-regex
  return typeof value === 'string' && value.length > 0 && value.length <= 128 && !/[\u0000-\u001f\u007f]/.test(value) ? value : null;
}
