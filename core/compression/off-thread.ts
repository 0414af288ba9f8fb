// Snappy, LZ4 and ZSTD batches are decoded in a thread of their own. They are decoded in JavaScript, and a batch may
// expand to 256 MiB (MAX_DECOMPRESSED_BATCH_BYTES) from a few KB: read on the thread whose consumer fetched it, such a
// batch held that thread 0.3-1.7 s (ZSTD 0.3-0.8, LZ4 0.45-0.8, Snappy 0.6-1.7 s here), and on the job's main thread
// that is the receiver, the ops port and the heartbeats of every consumer in it. gzip needs no thread: node:zlib
// inflates in libuv's pool. One thread per thread that reads (the main thread, each normalize worker), started with the
// first compressed batch it meets (cdrflow itself writes uncompressed, so most processes never start one).
import { createHash } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { logger, type LogFn } from '../log.ts';
import { ThreadTimedOut, answerWithin, startTsWorker } from '../worker-thread.ts';
import { BatchRefused, refusedBatch, type Codec } from './limits.ts';

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
  codec: ThreadCodec;
  batch: Buffer;
}

/**
 * How long the thread may take over one batch before it counts as hung: more than twice the slowest seen (a batch
 * expanding to MAX_DECOMPRESSED_BATCH_BYTES, 1.7 s), and under the shortest consumer session (6 s): the fetch waits
 * for the batch with no heartbeat, so a longer wait had the member dropped, and the batch fetched, and hung on, again.
 * The decoders are plain JavaScript on bounded output, so a batch that hangs one once hangs it every time: it is
 * refused (dead-lettered) at the first hang.
 */
export const DECOMPRESS_DEADLINE_MS = 4_000;

/**
 * The most the decompression thread's heap may hold, in MB (Worker's resourceLimits): past it the thread ends, and
 * not the process. Unbounded, the thread could grow its heap as far as the main thread may (4 GiB here), beside it,
 * and a decoder bug meeting a hostile batch took the memory of the whole job. A batch's bytes and what it expands to
 * are buffers outside this heap (bounded by MAX_DECOMPRESSED_BATCH_BYTES); the heap holds the modules and the
 * decoders' state: compression.test.ts, batches of 64 MiB and bombs past the limit, passed with 8 MB.
 */
export const DECOMPRESS_THREAD_HEAP_MB = 64;

/** How many batches that failed once in the thread are remembered (by content hash; the oldest forgotten first). */
const FAILED_BATCHES_REMEMBERED = 64;
/**
 * Hashes of the batches that failed once in the thread without a refusal: out when the thread ended (a crash, an
 * exit), or answered `failed` (its decoder threw something else than a refusal: an allocation that failed, a decoder
 * bug). Either fails the fetch, which is read again: once, that may be a passing fault (memory, a bug of the thread's
 * own), and the batch is read again. A batch that fails every time (a decoder bug meeting a hostile batch: a stack
 * overflow, an allocation past the thread's limits, a native abort) failed its fetch for ever and the stage never
 * moved past it; so its second failure refuses it. By content: the fetch read again hands the same bytes, and the
 * codec sees no offsets. A batch that decodes is forgotten: its failure was a passing one, and a later passing one
 * under it (read again after a rebalance, a replay) must not refuse a good batch.
 */
const failedOnce = new Set<string>();

const contentHash = (batch: Buffer) => createHash('sha256').update(batch).digest('base64');

/** How the second failure of a batch is said, by how it failed: its log event and its refusal's words. */
const TWICE = {
  ended: { event: 'thread_ended_twice', why: 'ended the batch decompression thread twice' },
  failed: { event: 'thread_failed_twice', why: 'failed in the batch decompression thread twice' },
} as const;

/**
 * `err` (the batch failed in the thread, `how`) for a first failure; a refusal, said in one line, if this batch failed
 * there before.
 */
function afterFailure(err: Error, how: keyof typeof TWICE, codec: ThreadCodec, batch: Buffer): Error {
  const hash = contentHash(batch);
  if (!failedOnce.has(hash)) {
    failedOnce.add(hash);
    if (failedOnce.size > settings.failedRemembered) failedOnce.delete(failedOnce.values().next().value!);
    return err;
  }
  say('error', TWICE[how].event, { ...batchWork(codec, batch), error: err.message });
  return refusedBatch(codec, batch.length, `${TWICE[how].why} (${err.message})`);
}

/** A batch that decoded: a failure of it before was a passing one (hashed only while any is remembered). */
function decoded(batch: Buffer): void {
  if (failedOnce.size > 0) failedOnce.delete(contentHash(batch));
}

/**
 * The thread's entry, its deadline for a batch, where a hang or a refused failure is said (default: the `compression`
 * logger), and how many batches that failed in the thread are remembered.
 */
const DEFAULTS = {
  entry: new URL('./decompress-worker.ts', import.meta.url),
  deadlineMs: DECOMPRESS_DEADLINE_MS,
  log: undefined as LogFn | undefined,
  failedRemembered: FAILED_BATCHES_REMEMBERED,
};
let settings = DEFAULTS;

/** Where the thread's hangs and refused failures are said: the test's log, else the `compression` logger. */
const say: LogFn = (level, event, fields) => (settings.log ?? logger('compression'))(level, event, fields);

/** The thread and what it was doing, as a hang or a refused failure names them. */
const batchWork = (codec: ThreadCodec, batch: Buffer) => ({ thread: 'batch decompression', doing: `decompressing a ${codec} batch of ${batch.length} bytes` });

/** For tests: the thread's entry, deadline, log and memory of failures from the next thread on; no argument: the defaults again. */
export function useDecompressThreadForTests(options: Partial<typeof DEFAULTS> = {}): void {
  settings = { ...DEFAULTS, ...options };
}

class DecompressThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Set once the thread is gone: the next batch starts a new one. */
  dead = false;

  constructor() {
    this.worker = startTsWorker(settings.entry, {}, 'batch decompression', { resourceLimits: { maxOldGenerationSizeMb: DECOMPRESS_THREAD_HEAP_MB } });
    this.worker.on('message', (reply: DecompressReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.settled(reply.id);
      if ('out' in reply) {
        decoded(p.batch);
        p.resolve(Buffer.from(reply.out.buffer, reply.out.byteOffset, reply.out.byteLength));
      }
      // Refused batches are dead-lettered by the stage (core/kafkajs-unreadable-batch.ts knows them by their class).
      else if ('refused' in reply) p.reject(new BatchRefused(reply.refused));
      // Any other error fails the fetch, which hands the same bytes again: the second time, refused (afterFailure).
      else p.reject(afterFailure(new Error(reply.failed), 'failed', p.codec, p.batch));
    });
    // At a first end not a refusal: the fetch fails as it would had the memory run out on the calling thread, and is
    // read again (afterFailure).
    const fail = (err: Error) => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(afterFailure(err, 'ended', p.codec, p.batch));
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
    const answer = new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, codec, batch });
      this.worker.postMessage({ id, codec, batch } satisfies DecompressRequest);
    });
    const what = batchWork(codec, batch);
    return answerWithin(answer, this.worker, settings.deadlineMs, what, (err) => {
      say('error', 'thread_timeout', { thread: err.thread, waitedMs: err.waitedMs, doing: err.doing });
      // Only this batch was out (decompressOffThread sends one at a time): the next one starts a fresh thread.
      this.dead = true;
      this.pending.clear();
    }).catch((err: unknown) => {
      throw err instanceof ThreadTimedOut ? refusedBatch(codec, batch.length, `hung the ${err.thread} thread past ${err.waitedMs} ms`) : err;
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
/** Settles when the batch last handed to the thread has its answer. */
let turn: Promise<unknown> = Promise.resolve();

/** `batch` decoded by `codec` in this thread's decompression thread; rejects with a BatchRefused for a refused batch. */
export function decompressOffThread(codec: ThreadCodec, batch: Buffer): Promise<Buffer> {
  // One batch at a time (the thread decodes them in turn anyway): a batch's deadline counts its own decoding, not the
  // batches queued ahead of it, and a batch behind one that hung goes to the thread that replaced it.
  const run = turn.then(() => {
    if (!thread || thread.dead) thread = new DecompressThread();
    return thread.decompress(codec, batch);
  });
  turn = run.catch(() => undefined);
  return run;
}

/** For tests: ends this thread's decompression thread as a crash would (the next batch starts another). */
export async function crashDecompressThreadForTests(): Promise<void> {
  await thread?.terminate();
}
