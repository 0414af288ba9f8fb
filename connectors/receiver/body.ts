// Reads a request body with a size cap and a deadline. An oversized body is drained (not stored) up to a bound so
// the sender can read our 413 instead of seeing a reset; beyond that bound the connection is closed.
import type { IncomingMessage } from 'node:http';

export type BodyResult =
  | { kind: 'ok'; body: Buffer }
  | { kind: 'too_large'; closeConnection: boolean }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

export function readBody(req: IncomingMessage, limitBytes: number, timeoutMs: number): Promise<BodyResult> {
  const drainCap = limitBytes * 8;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > drainCap) {
    req.resume();
    return Promise.resolve({ kind: 'too_large', closeConnection: true });
  }
  return new Promise<BodyResult>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > limitBytes;
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
      if (!tooLarge) chunks.push(chunk);
    };
    const onEnd = () => finish(tooLarge ? { kind: 'too_large', closeConnection: false } : { kind: 'ok', body: Buffer.concat(chunks, size) });
    const onClose = () => finish({ kind: 'aborted' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}
