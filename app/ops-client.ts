// How `cdrflow sql` and `cdrflow status` reach a running `cdrflow start`: its ops port on 127.0.0.1. The embedded
// engine allows one process per data directory, so while the job runs other commands must ask it.
import { once } from 'node:events';
import { z } from 'zod';
import { statusSnapshotSchema, type StatusSnapshot } from './status.ts';
import { answerText } from '../connectors/poller/vendor-answer.ts';
import { quote, terminalLines, terminalText } from '../core/input-limits.ts';
import { OPS_SERVER_HEADER, SQL_CONTENT_TYPE } from '../core/ops-server.ts';

export class OpsRequestError extends Error {
  override readonly name = 'OpsRequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The running job's base URL when one answers on `port`, else undefined (nothing listening, or not cdrflow). */
export async function findRunningJob(port: number, timeoutMs = 2_000, signal?: AbortSignal): Promise<string | undefined> {
  const base = `http://127.0.0.1:${port}`;
  // A timer of our own, not AbortSignal.timeout: that one is unref'd, and a port whose holder accepts and then drops
  // or ignores the connection leaves nothing else keeping the process alive, which then ended silently (exit 13).
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer on ${base} within ${timeoutMs} ms`)), timeoutMs);
  // The caller's stop request ends the look at once (its timer would keep the process alive until then).
  const stop = () => abort.abort(signal?.reason);
  signal?.addEventListener('abort', stop, { once: true });
  try {
    const res = await fetch(`${base}/healthz`, { signal: abort.signal });
    if (res.status !== 200 || res.headers.get(OPS_SERVER_HEADER) !== 'cdrflow' || (await res.text()).trim() !== 'ok') return undefined;
    return base;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', stop);
  }
}

/**
 * The most of a /status answer read: the job's is a few kilobytes (a row per component, vendor and checkpoint). A port
 * answering gigabytes there (not the job, or a job gone wrong) took `cdrflow status` to twice that in memory.
 */
export const MAX_STATUS_BYTES = 16 * 1024 * 1024;
/** The most of an error answer read, and of its text shown: the job's are a line or an engine message. */
export const MAX_ERROR_BYTES = 64 * 1024;
const MAX_ERROR_CHARS = 2_000;

/**
 * Runs `sql` in the job and writes its result to `out` as it arrives. It was read whole first: a program on the port
 * answering without end took `cdrflow sql` to gigabytes, and the job's own result can be larger than any fixed bound
 * (ops.sql.maxResultBytes counts the engine's blocks, not the text of the format). `color`: the caller's own terminal
 * decides (the job's stdout may be a terminal when the caller's is not).
 */
export async function opsQuery(base: string, sql: string, format: string, out: NodeJS.WritableStream, color = false, timeoutMs = 120_000): Promise<void> {
  // application/sql: the ops port refuses the content types a web page could send cross-site without a preflight.
  const res = await opsFetch(base, '/sql', timeoutMs, {
    query: `?format=${encodeURIComponent(format)}&color=${color ? 1 : 0}`,
    method: 'POST',
    body: sql,
    headers: { 'content-type': SQL_CONTENT_TYPE },
  });
  if (res.response.status !== 200) throw await errorAnswer(res, '/sql');
  await res.pipe(out);
}

export async function opsStatus(base: string, timeoutMs = 60_000): Promise<StatusSnapshot> {
  const res = await opsFetch(base, '/status', timeoutMs);
  if (res.response.status !== 200) throw await errorAnswer(res, '/status');
  const text = await res.read(MAX_STATUS_BYTES);
  // Another version of cdrflow, or a program answering in its place: its shape was read as a snapshot anyway and
  // ended in "Cannot use 'in' operator to search for 'starting' in null" or "Cannot convert undefined or null to object".
  let snapshot: unknown;
  try {
    snapshot = JSON.parse(text);
  } catch {
    snapshot = undefined;
  }
  if (!SNAPSHOT.safeParse(snapshot).success) {
    throw new OpsRequestError(200, `the ops port at ${base} answered /status with what is not a status of \`cdrflow start\` (${terminalText(quote(text, 100))}); is another program, or another version of cdrflow, on that port?`);
  }
  // The answer as sent (`--json` prints the document GET /status gave), not the schema's copy of it.
  return snapshot as StatusSnapshot;
}

/**
 * What `cdrflow status` reads: a job still starting (its components), or the full snapshot, checked all the way down;
 * a wrong type deeper in (an intake's `errors`, a checkpoint without `id`) ended in a TypeError inside formatStatus.
 */
const SNAPSHOT = z.union([z.looseObject({ starting: z.literal(true), components: z.record(z.string(), z.string()) }), statusSnapshotSchema]);

interface OpsAnswer {
  response: Response;
  /** The body as text, at most `max` bytes (refused past that), read within the request's time. */
  read: (max: number) => Promise<string>;
  /** The first `max` bytes of the body as text (an error's: the rest is not read), within the request's time. */
  head: (max: number) => Promise<Head>;
  /**
   * The body written to `out` chunk by chunk, within the request's time counted while waiting on the port only: a
   * reader of `out` that pauses (`cdrflow sql … | less`) is not the port's delay.
   */
  pipe: (out: NodeJS.WritableStream) => Promise<void>;
}

/**
 * One request to the ops port within `timeoutMs`, the body included. A timer of our own, as in findRunningJob; a
 * failure names the address and the path (it said "The operation was aborted due to timeout").
 */
async function opsFetch(base: string, path: string, timeoutMs: number, init: RequestInit & { query?: string } = {}): Promise<OpsAnswer> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(new Error(`the ops port at ${base} did not answer ${path} within ${timeoutMs / 1000} s`)), Math.max(ms, 0));
  };
  // The time allowed is a duration, on the monotonic clock: a wall clock stepped forward must not use it up at once.
  const deadline = performance.now() + timeoutMs;
  arm(timeoutMs);
  const failed = (err: unknown): never => {
    throw abort.signal.aborted ? (abort.signal.reason as Error) : err;
  };
  const { query = '', ...request } = init;
  try {
    const response = await fetch(`${base}${path}${query}`, { ...request, signal: abort.signal }).catch(failed);
    return {
      response,
      read: (max) => answerText(response, `${base}${path}`, abort.signal, max).catch(failed).finally(() => clearTimeout(timer)),
      head: (max) => headOf(response, max, abort.signal).catch(failed).finally(() => clearTimeout(timer)),
      pipe: (out) => pipeBody(response, out, abort.signal, arm, () => clearTimeout(timer), deadline - performance.now()).catch(failed).finally(() => clearTimeout(timer)),
    };
  } catch (err) {
    clearTimeout(timer);
    throw err;
  }
}

/** An answer other than 200: its start as text, one line per line, control characters shown as escapes. */
async function errorAnswer(answer: OpsAnswer, path: string): Promise<OpsRequestError> {
  const { status } = answer.response;
  const text = (await answer.head(MAX_ERROR_BYTES).then((head) => head.text).catch((err: unknown) => `(its text could not be read: ${(err as Error).message})`)).trim();
  const shown = text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}… (cut)` : text;
  return new OpsRequestError(status, terminalLines(shown) || `${path} answered ${status} with no text`);
}

/**
 * `response`'s body written to `out`; `arm(ms)` starts the time left before the port counts as silent, `disarm` stops
 * it while `out` is written. Every read races `signal`, as in answerText (undici can leave a read pending for good).
 */
async function pipeBody(response: Response, out: NodeJS.WritableStream, signal: AbortSignal, arm: (ms: number) => void, disarm: () => void, leftMs: number): Promise<void> {
  if (!response.body) return;
  const reader = response.body.getReader();
  const aborted = new Promise<never>((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => undefined); // raced below; this only keeps an abort after the last read from going unhandled
  let left = leftMs;
  try {
    for (;;) {
      const waited = performance.now();
      arm(left);
      const { done, value } = await Promise.race([reader.read(), aborted]);
      disarm();
      left -= performance.now() - waited;
      if (done) return;
      if (!out.write(value)) await once(out, 'drain');
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

/** The start of a body as text, and whether the body went on past it (`cut`: the rest was not read). */
export interface Head {
  text: string;
  cut: boolean;
}

/**
 * The most time the start of an answer other than 200 takes to come once its status did, as for the whole /status
 * answer: a job that sent a 500 and then nothing kept `cdrflow reconcile` waiting for good.
 */
export const ERROR_HEAD_TIMEOUT_MS = 60_000;

/**
 * The first MAX_ERROR_BYTES of an answer other than 200 (`cdrflow reconcile`'s from the job, which it reads with its
 * own fetch): an error answer of any length, or one that never ends, is read only up to there, within `timeoutMs`
 * (the rest of it is not waited for) or until `signal` aborts.
 */
export async function errorHead(response: Response, { timeoutMs = ERROR_HEAD_TIMEOUT_MS, signal }: { timeoutMs?: number | undefined; signal?: AbortSignal } = {}): Promise<Head> {
  const abort = new AbortController();
  // A timer of our own, as in findRunningJob: the port's silence alone must not let the process end unnoticed.
  const timer = setTimeout(() => abort.abort(new Error(`its text did not come within ${timeoutMs / 1000} s`)), timeoutMs);
  const stop = () => abort.abort(signal?.reason);
  if (signal?.aborted) stop();
  else signal?.addEventListener('abort', stop, { once: true });
  try {
    return await headOf(response, MAX_ERROR_BYTES, abort.signal);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', stop);
  }
}

/** Every read races `signal`, as in pipeBody (undici can leave a read pending for good). */
async function headOf(response: Response, max: number, signal: AbortSignal): Promise<Head> {
  if (!response.body) return { text: '', cut: false };
  const reader = response.body.getReader();
  const aborted = new Promise<never>((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => undefined); // raced below; this only keeps an abort after the last read from going unhandled
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    // One read past `max` tells a body of exactly `max` bytes from a longer one.
    while (length <= max) {
      const { done, value } = await Promise.race([reader.read(), aborted]);
      if (done) break;
      chunks.push(value);
      length += value.length;
    }
  } finally {
    // Not awaited: a stalled body is given up, not waited on once more.
    void reader.cancel().catch(() => undefined);
  }
  // A character cut in two at the end shows as U+FFFD, which the text then ends with.
  return { text: Buffer.concat(chunks).subarray(0, max).toString('utf8'), cut: length > max };
}
