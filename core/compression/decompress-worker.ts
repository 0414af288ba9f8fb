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
    const decoded = DECODERS[codec](Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength));
    // An output that owns its memory moves. One that is part of a larger buffer (Node's shared pool, or an LZ4 output
    // cut from the block maxima it reserved: 4 MiB for 100 KB) is copied to its own bytes first: sent as it is, the
    // whole buffer was cloned, and the reading thread kept all of it alive under every record of the batch.
    const owns = decoded.byteOffset === 0 && decoded.byteLength === decoded.buffer.byteLength;
    const out = owns ? decoded : new Uint8Array(decoded);
    port.postMessage({ id, out } satisfies DecompressReply, [out.buffer as ArrayBuffer]);
    return;
  } catch (err) {
    reply = err instanceof BatchRefused ? { id, refused: err.message } : { id, failed: (err as Error)?.message ?? String(err) };
  }
  port.postMessage(reply);
});
