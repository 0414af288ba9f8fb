// Snappy, LZ4 and ZSTD batches are decoded in a thread of their own. They are decoded in JavaScript, and a batch may
// expand to 256 MiB (MAX_DECOMPRESSED_BATCH_BYTES) from a few KB: read on the thread whose consumer fetched it, such a
// batch held that thread 0.3-1.7 s (ZSTD 0.3-0.8, LZ4 0.45-0.8, Snappy 0.6-1.7 s here), and on the job's main thread
// that is the receiver, the ops port and the heartbeats of every consumer in it. gzip needs no thread: node:zlib
// inflates in libuv's pool. One thread per thread that reads (the main thread, each normalize worker), started with the
// first compressed batch it meets (cdrflow itself writes uncompressed, so most processes never start one).
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '../worker-thread.ts';
import { BatchRefused, type Codec } from './limits.ts';

export type ThreadCodec = Exclude<Codec, 'GZIP'>;
export interface DecompressRequest {
  id: number;
  codec: ThreadCodec;
  batch: Uint8Array;
}
export type DecompressReply = { id: number; out: Uint8Array } | { id: number; refused: string } | { id: number; failed: string };

interface Pending {
  resolve: (out: Buffer) => void;
  reject: (err: Error) => void;
}

class DecompressThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Set once the thread is gone: the next batch starts a new one. */
  dead = false;

  constructor() {
    this.worker = startTsWorker(new URL('./decompress-worker.ts', import.meta.url), {}, 'batch decompression');
    this.worker.on('message', (reply: DecompressReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.settled(reply.id);
      if ('out' in reply) p.resolve(Buffer.from(reply.out.buffer, reply.out.byteOffset, reply.out.byteLength));
      // Refused batches are dead-lettered by the stage (core/kafkajs-unreadable-batch.ts knows them by their class).
      else if ('refused' in reply) p.reject(new BatchRefused(reply.refused));
      else p.reject(new Error(reply.failed));
    });
    // Not a refusal: the fetch fails as it would had the memory run out on the calling thread, and is read again.
    const fail = (err: Error) => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', (err) => fail(new Error(`the record-batch decompression thread failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => fail(new Error(`the record-batch decompression thread exited (code ${code})`)));
    this.worker.unref();
  }

  decompress(codec: ThreadCodec, batch: Buffer): Promise<Buffer> {
    const id = this.nextId++;
    // Held only while a batch is out: an idle thread must not keep a stopping process alive.
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, codec, batch } satisfies DecompressRequest);
    });
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  /** For tests: stops the thread as a crash would. */
  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

let thread: DecompressThread | undefined;

/** `batch` decoded by `codec` in this thread's decompression thread; rejects with a BatchRefused for a refused batch. */
export function decompressOffThread(codec: ThreadCodec, batch: Buffer): Promise<Buffer> {
  if (!thread || thread.dead) thread = new DecompressThread();
  return thread.decompress(codec, batch);
}

/** For tests: ends this thread's decompression thread as a crash would (the next batch starts another). */
export async function crashDecompressThreadForTests(): Promise<void> {
  await thread?.terminate();
}
