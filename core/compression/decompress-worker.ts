// Entry of the record-batch decompression thread (off-thread.ts, started through bin/ts-worker.mjs): decodes each
// batch it is sent and hands the bytes back without a copy where it can.
import { parentPort } from 'node:worker_threads';
import { DECODERS } from './decoders.ts';
import { BatchRefused } from './limits.ts';
import type { DecompressReply, DecompressRequest } from './off-thread.ts';

const port = parentPort!;
port.on('message', ({ id, codec, batch }: DecompressRequest) => {
  let reply: DecompressReply;
  try {
    const out = DECODERS[codec](Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength));
    // A large output owns its memory and moves; a small one may sit in Node's shared pool, so it is copied.
    const owns = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength;
    port.postMessage({ id, out } satisfies DecompressReply, owns ? [out.buffer as ArrayBuffer] : []);
    return;
  } catch (err) {
    reply = err instanceof BatchRefused ? { id, refused: err.message } : { id, failed: (err as Error)?.message ?? String(err) };
  }
  port.postMessage(reply);
});
