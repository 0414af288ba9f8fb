// What a server of the project holds for an answer (a request counted in flight, a share of an answer budget, a query
// or a reconcile run) is let go of when the answer closes. Node (seen on 20.20.2) emits no close for an answer still
// queued behind another on its connection (pipelined requests) when the socket goes, so a client that pipelined
// requests and reset made those holdings permanent: the receiver's in-flight figure stuck and its stop() waited its
// whole grace; /sql answered 429 until the job restarted. Both servers (receivers, ops port) ask for their hook here,
// where it also runs when the answer's socket closes.
// Both also answer a request Node could not read with the status Node itself would (clientErrorStatus).
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Per connection, the hooks of its answers not yet closed, run when it closes. */
const closingHooks = new WeakMap<Socket, Set<() => void>>();

/**
 * Runs `closed` once, when the answer closes (written out, or its client gone) or else when its connection closes;
 * at once when the connection is already closed. Returns the same run-once hook, for a caller that lets go of the
 * answer's holdings itself before either (it then runs no more).
 */
export function onAnswerClosed(res: ServerResponse, closed: () => void): () => void {
  const socket = res.req.socket;
  let hooks = closingHooks.get(socket);
  if (!hooks) {
    const created = new Set<() => void>();
    closingHooks.set(socket, (hooks = created));
    socket.once('close', () => {
      for (const hook of created) hook();
    });
  }
  const pending = hooks;
  let ran = false;
  const once = () => {
    if (ran) return;
    ran = true;
    pending.delete(once);
    closed();
  };
  pending.add(once);
  res.once('close', once);
  // Already gone: its close was emitted before this answer asked for it.
  if (socket.closed) once();
  return once;
}

/**
 * The status Node itself answers a request it could not read with (its default clientError handling), by the error's
 * code: both servers handle clientError themselves, to answer only after the answers owed before it, and answer it
 * as Node would.
 */
const NODE_CLIENT_ERROR_STATUS = new Map([
  ['HPE_HEADER_OVERFLOW', 431],
  ['HPE_CHUNK_EXTENSIONS_OVERFLOW', 413],
  ['ERR_HTTP_REQUEST_TIMEOUT', 408],
]);

export function clientErrorStatus(code: string | undefined): number {
  return NODE_CLIENT_ERROR_STATUS.get(code ?? '') ?? 400;
}
