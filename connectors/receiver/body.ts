// Reads a request body with a size cap and a deadline, within the budget of body bytes all requests hold at once.
// An oversized body is drained (not stored) up to a bound so the sender can read our 413 instead of seeing a reset;
// beyond that bound the connection is closed.
import type { IncomingMessage } from 'node:http';

export type BodyResult =
  | { kind: 'ok'; body: Buffer }
  | { kind: 'too_large'; closeConnection: boolean }
  | { kind: 'over_budget' }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

/** One request's share of a BodyBudget: what it took, all given back by `release` (once its body is done with). */
export interface BodyLease {
  take(bytes: number): boolean;
  release(): void;
}

/**
 * The body bytes held at once over all requests. Bodies are read before a route can tell who sent them, so without a
 * bound enough connections could make the process hold bodyLimitBytes each for as long as they like.
 */
export class BodyBudget {
  private heldBytes = 0;

  constructor(readonly limitBytes: number) {}

  get held(): number {
    return this.heldBytes;
  }

  lease(): BodyLease {
    let taken = 0;
    return {
      take: (bytes) => {
        if (this.heldBytes + bytes > this.limitBytes) return false;
        this.heldBytes += bytes;
        taken += bytes;
        return true;
      },
      release: () => {
        this.heldBytes -= taken;
        taken = 0;
      },
    };
  }
}

/**
 * A body that does not fit `lease` is `over_budget`: at once, unread, when its Content-Length says so; when a chunked
 * body crosses the budget while streaming, the rest is left unread. The caller releases the lease in every case.
 */
export function readBody(req: IncomingMessage, limitBytes: number, timeoutMs: number, lease: BodyLease): Promise<BodyResult> {
  const drainCap = limitBytes * 8;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > drainCap) {
    req.resume();
    return Promise.resolve({ kind: 'too_large', closeConnection: true });
  }
  // A declared body is reserved whole, so a request admitted is never refused half-way; a drained one holds nothing.
  const reserved = Number.isFinite(declared);
  if (reserved && declared <= limitBytes && !lease.take(declared)) return Promise.resolve({ kind: 'over_budget' });
  let tooLarge = reserved && declared > limitBytes;
  // A declared body is read straight into one buffer of its size: joining chunks would hold it twice for a moment.
  // Node's parser delivers exactly Content-Length bytes (a shorter body ends as `aborted` or `timeout`, bytes past it
  // are read as the next request), and an end short of it is taken as `aborted` all the same; a chunked body is
  // collected and joined.
  const into = reserved && !tooLarge ? Buffer.alloc(declared) : undefined;
  return new Promise<BodyResult>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: BodyResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) tooLarge = true;
      if (size > drainCap) {
        finish({ kind: 'too_large', closeConnection: true });
        return;
      }
      if (tooLarge) return;
      if (into) {
        // Never truncated silently should a parser ever deliver more than it declared.
        if (size > into.length) finish({ kind: 'too_large', closeConnection: true });
        else chunk.copy(into, size - chunk.length);
        return;
      }
      if (!lease.take(chunk.length)) {
        finish({ kind: 'over_budget' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (tooLarge) finish({ kind: 'too_large', closeConnection: false });
      // A declared body that ends short is a cut one, never a push: the bytes so far are not what was sent.
      else if (into && size !== into.length) finish({ kind: 'aborted' });
      else finish({ kind: 'ok', body: into ?? Buffer.concat(chunks, size) });
    };
    const onClose = () => finish({ kind: 'aborted' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}
