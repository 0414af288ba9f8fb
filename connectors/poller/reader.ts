// Reads one time window of one tenant, page by page, through the shared token bucket and retry policy, and
// publishes every record as a raw envelope, except (live) re-reads whose content Kafka already has. Resolves only
// when every record of the window is acknowledged by Kafka, now or before, which lets the caller move the checkpoint.
import { setTimeout as delay } from 'node:timers/promises';
import { retry, type BackoffOptions } from '../../core/backoff.ts';
import { asCdrflowError, CdrflowError, disposition } from '../../core/errors.ts';
import type { IngestMode, RawEnvelope } from '../../core/envelope.ts';
import type { TokenBucket } from '../../core/token-bucket.ts';
import { horizonOf, horizonWords, smallerPageSize, type PullSource, type SourcePage } from './source.ts';
import type { RecordSink } from './publisher.ts';
import { deadLetterForPayload, type DeadLetter } from '../../core/dead-letter.ts';
import { INCOMPLETE_REASON_TEXT, type IncompleteReason, type PollerMetrics } from './metrics.ts';
import type { LogFn } from '../../core/log.ts';
import { payloadHash, type RecentKeys } from './recent-keys.ts';
import { isoOf, type TimeWindow } from './windows.ts';
import { jsonText, MAX_VENDOR_ANSWER_BYTES, naturalKeyProblem, nestingProblem, recordSizeProblem } from '../../core/input-limits.ts';
import { ANSWER_TOO_LARGE, restAskedMs, restLeftMs } from './vendor-answer.ts';

/** The code of a request refused because its window's start passed the vendor's horizon while the window was read. */
export const PAST_HORIZON = 'past-horizon';

export interface PollContext {
  source: PullSource;
  sink: RecordSink;
  bucket: TokenBucket;
  metrics: PollerMetrics;
  log: LogFn;
  topics: { raw: string; deadLetter: string };
  retry: Partial<BackoffOptions>;
  /** ms clock. */
  now: () => number;
  signal: AbortSignal;
  mode: IngestMode;
  /**
   * Live only: records whose (key, content) Kafka already acknowledged are skipped, and records are added here
   * once their page is acknowledged. Absent (backfill), everything read is published.
   */
  recentKeys?: RecentKeys | undefined;
  /** A window whose total is over this many records is read in halves (default DEFAULT_MAX_WINDOW_RECORDS); at least 100. */
  maxWindowRecords?: number | undefined;
}

/**
 * What a window's read holds grows with its records (about 170 bytes each, measured with 44-character keys: the key and
 * its entries in the sets of keys published, read and read in this pass, and the pass's slot arrays): 100,000 is about
 * 17 MiB. A busy tenant's live window (100 calls/s over the 3.5 hours of a TRTC window: 1.26 million) is read in halves
 * by time, each on its own, so one window holds at most about this many records at a time.
 */
export const DEFAULT_MAX_WINDOW_RECORDS = 100_000;
/** Halves are not made shorter than this: a span this short over the limit is read whole, with a warning. */
export const MIN_SPLIT_SEC = 60;
/**
 * Past this many times maxWindowRecords, even a window too short to halve stops (finished incomplete): a vendor serving
 * fresh records under a total such as 9e15, or a total that grows with every page, would otherwise grow it without end.
 */
export const HARD_BOUND_FACTOR = 20;

export interface WindowResult {
  /** Distinct records of the window (published now or already in Kafka unchanged). */
  records: number;
  /** Of those, published by this read. */
  published: number;
  /** Of those, skipped because Kafka already has the same content. */
  unchanged: number;
  pages: number;
  /** When reading started (Unix s): records visible by then are in this window's output. */
  polledAt: number;
}

/**
 * A run (backfill, one live pass) ended by its signal at a safe point: the windows before it are checkpointed, the one
 * being read is not, or up to its last part read (PartRead; the next run reads the rest again). `partial` is what was
 * read up to there.
 */
export class PollStopped<T> extends Error {
  override readonly name = 'PollStopped';
  constructor(
    readonly partial: T,
    cause: unknown,
  ) {
    super('stopped by a shutdown request', { cause });
  }
}

/**
 * Kafka (or the registry behind it) did not take a window's records or its checkpoint within the retries; the kind is
 * the failure's own. Unlike a vendor's failure, which may be one tenant's, this path is every tenant's: the live cycle
 * ends at once (live.ts) instead of making each tenant after this one wait out the same retries before the cycle
 * reports its failure.
 */
export class KafkaFailure extends CdrflowError {
  constructor(err: unknown) {
    const e = asCdrflowError(err);
    super(e.kind, e.message, { ...(e.code === undefined ? {} : { code: e.code }), cause: err });
  }
}

/** Pages published concurrently while the next page is fetched. */
const MAX_INFLIGHT_PUBLISHES = 3;
/** Page requests in flight ahead of the one being processed (the token bucket still caps the rate). */
const PREFETCH_PAGES = 4;
/** If the vendor's total moves while paging (late records shift offset pages), read the window again, this often at most. */
const MAX_PASSES = 3;

/**
 * What takes the slot of a record too large to read even alone (fetchAt): a keyless record, refused at the door like
 * one over the record limit, so it is dead-lettered once per window and counted once against the total.
 */
const UNREADABLE_REASON = `too large to read: the answer holding it alone was over ${MAX_VENDOR_ANSWER_BYTES} bytes`;
const UNREADABLE = Object.freeze({ unreadable: `a record ${UNREADABLE_REASON}` });

type Admitted = { ok: true; key: string; payload: string } | { ok: false; problem: string; key: string | undefined; payload: string };

/**
 * The door's limits (core/input-limits.ts, the receivers' rules) for one record of a page, which the vendor's own
 * JSON.parse already read: what the raw topic can hold and every later stage can handle. A record too deep would
 * overflow JSON.stringify's stack, one over 1 MiB would be refused by the broker (with the rest of its send, and again
 * on every retry: the window could never finish), and an oversized key would reach the partitioner. Rules that only
 * concern the content (its fields, UTF-8) stay with normalize, which dead-letters such records from the raw topic.
 * `key` is the record's natural key as the source reads it (the page's keys, read once).
 */
function admit(record: unknown, key: string | undefined): Admitted {
  const depth = nestingProblem(record);
  // The text is what the dead letter keeps, and what a keyless record is known by. Too deep for JSON.stringify's stack
  // (V8's JSON.parse reads 200,000 levels), it is written without recursion.
  const payload = depth === null ? JSON.stringify(record) : jsonText(record);
  const keyProblem = key === undefined ? 'without a natural key' : naturalKeyProblem(key);
  const problem =
    (record === UNREADABLE ? `${UNREADABLE_REASON}, on every attempt` : null) ??
    depth ??
    (typeof record !== 'object' || record === null || Array.isArray(record) ? `not a JSON object (${record === null ? 'null' : Array.isArray(record) ? 'an array' : typeof record})` : null) ??
    recordSizeProblem(payload) ??
    keyProblem;
  if (problem !== null) return { ok: false, problem, key: keyProblem === null ? key : undefined, payload };
  return { ok: true, key: key!, payload };
}

/** Of one read: the page size it started at, and the answer, by number, that served each record slot. */
interface Served {
  size: number;
  answer: number[];
}

/**
 * Whether two neighbouring copies of a record (a key, or a keyless record by its `content`) may be a move, not two rows
 * the vendor holds. An order that depends on the offset asked for may serve every page asked at some offset or past it
 * alike, whatever the page size (a plan that changes past an offset): a record of the page before moved into that
 * order is served twice and the call it displaced, at the first page start past that offset, never. Only reads whose
 * first page start from that offset on is one same slot serve the same sequence, so a copy is doubted where every read
 * had a page start between the two copies (the boundary), the later copy at the next such boundary at the latest (a
 * move onto it leaves the same sequence), and the earlier one within a page of the first read's size (the largest)
 * before the first offset the order may have changed at: the slot after the last page start of any read before the
 * boundary. Farther back, copies are rows the vendor holds (doubting them gave up most windows holding a key's rows
 * apart, at 5 and 10 a page). A copy is weighed against the nearest copy before it, whichever row came first.
 */
function copyServedAlike(sequence: (string | null)[], content: readonly (string | undefined)[], reads: readonly Served[]): boolean {
  /** The last slot so far of each record: `k` and its key, or `c` and a keyless record's content. */
  const last = new Map<string, number>();
  /** Each read's last page start so far (the slot where its answer changed). */
  const starts = reads.map(() => 0);
  /** The last slot so far where every read's answer changed, and the first slot an earlier copy is doubted from. */
  let boundary = 0;
  let reach = 0;
  /** The boundary before that one, and its reach: a copy moved onto the next boundary is weighed against it. */
  let before = 0;
  let beforeReach = 0;
  for (let slot = 0; slot < sequence.length; slot++) {
    if (slot > 0) {
      const changed = reads.map((read) => read.answer[slot - 1] !== read.answer[slot]);
      if (changed.every(Boolean)) {
        [before, beforeReach] = [boundary, reach];
        boundary = slot;
        reach = Math.max(...starts) + 1 - reads[0]!.size;
      }
      changed.forEach((c, i) => {
        if (c) starts[i] = slot;
      });
    }
    const key = sequence[slot];
    if (key === undefined) continue;
    const id = key === null ? `c${content[slot]}` : `k${key}`;
    const at = last.get(id);
    last.set(id, slot);
    // The call a copy displaced is at the boundary, which a read without a page start there serves: doubting a pair
    // costs an honest vendor a read more, and a loud give-up where no read tells them apart (5–7 of 60 windows at 5 a
    // page with a key held 3–4 times; none at 100 a page, the Tencent connectors' default).
    if (at === undefined) continue;
    if ((boundary > at && at >= reach) || (boundary === slot && before > at && at >= beforeReach)) return true;
  }
  return false;
}

/** What one pass served at each record slot: the key (null: keyless), and a keyless record's content (its hash). */
interface PassSequence {
  sequence: (string | null)[];
  keylessContent: (string | undefined)[];
}

/**
 * The same record at every slot: the same key, or a keyless record of the same content (as copyServedAlike tells them
 * apart), or nothing served. Two different keyless records at a slot are an order that shifted: taken alike, two reads
 * of different page sizes could pass for rows held twice while both hid a call. A hole reads as undefined, so holes
 * match only holes.
 */
function sameSequence(a: PassSequence, b: PassSequence): boolean {
  if (a.sequence.length !== b.sequence.length) return false;
  for (let i = 0; i < a.sequence.length; i++) if (a.sequence[i] !== b.sequence[i] || a.keylessContent[i] !== b.keylessContent[i]) return false;
  return true;
}

/**
 * Told of each part of a window read in halves once it is read and published, in time order, all but the last (which
 * ends where the window does: the caller's own checkpoint covers it). The caller may move its checkpoint to the part's
 * end, so a run stopped in a window of a million calls does not read its first parts again. Parts share their
 * boundary second (see readHalving): a call there is in both, as in two consecutive windows.
 */
export type PartRead = (part: TimeWindow, result: WindowResult) => Promise<void>;

export async function readWindow(ctx: PollContext, tenant: string, window: TimeWindow, onPart?: PartRead): Promise<WindowResult> {
  const whole = await readSpan(ctx, tenant, window, { mayHalve: mayHalve(window) });
  return readHalving(ctx, tenant, window, whole, onPart && { onPart, end: window.end });
}

const mayHalve = (window: TimeWindow) => window.end - window.start >= 2 * MIN_SPLIT_SEC;

/**
 * Finishes the read of `window` begun by `read`: its result, or, if its total was over maxWindowRecords, its halves by
 * time, each on its own (and halved again while over), so only one part's records are held at a time. Both halves'
 * first pages are asked for first: when each still says the whole's total or more, the vendor's total does not shrink
 * with the span (a total that lies): halving would only end in many short spans each given up, so the window is read
 * whole, as it is (one warning). A half holding the whole's records while the other is empty is halved on.
 * `parts`: whom to tell of each part read (PartRead) ending before `end`, the whole window's end.
 */
async function readHalving(
  ctx: PollContext,
  tenant: string,
  window: TimeWindow,
  read: WindowResult | { split: number },
  parts: { onPart: PartRead; end: number } | undefined,
): Promise<WindowResult> {
  if (!('split' in read)) {
    if (parts && window.end < parts.end) await parts.onPart(window, read);
    return read;
  }
  // The halves share the middle second, as consecutive windows share their boundary (windows.ts): a call in it is read
  // twice, published once live (recent keys), at most a duplicate downstream otherwise, and counted in both halves.
  const mid = Math.floor((window.start + window.end) / 2);
  const halves = [
    { start: window.start, end: mid },
    { start: mid, end: window.end },
  ];
  const begun = [];
  for (const half of halves) begun.push(await readSpan(ctx, tenant, half, { mayHalve: mayHalve(half) }));
  if (begun.every((b) => 'split' in b && b.split >= read.split)) return readHalving(ctx, tenant, window, await readSpan(ctx, tenant, window, { mayHalve: false, noGain: true }), parts);
  const first = await readHalving(ctx, tenant, halves[0]!, begun[0]!, parts);
  const second = await readHalving(ctx, tenant, halves[1]!, begun[1]!, parts);
  return {
    records: first.records + second.records,
    published: first.published + second.published,
    unchanged: first.unchanged + second.unchanged,
    pages: first.pages + second.pages,
    // The earlier read time: what a checkpoint vouches for holds for a part read later.
    polledAt: Math.min(first.polledAt, second.polledAt),
  };
}

/**
 * Reads one window; when its first page's total is over maxWindowRecords and it `mayHalve`, instead `{ split: total }`
 * (nothing published). `noGain`: halving it did not lower the total (the warning says so).
 */
async function readSpan(ctx: PollContext, tenant: string, window: TimeWindow, halving: { mayHalve: false; noGain?: boolean }): Promise<WindowResult>;
async function readSpan(ctx: PollContext, tenant: string, window: TimeWindow, halving: { mayHalve: boolean }): Promise<WindowResult | { split: number }>;
async function readSpan(ctx: PollContext, tenant: string, window: TimeWindow, halving: { mayHalve: boolean; noGain?: boolean }): Promise<WindowResult | { split: number }> {
  const { source, metrics, log, signal } = ctx;
  const polledAt = Math.floor(ctx.now() / 1000);
  const { recentKeys } = ctx;
  const splitAt = ctx.maxWindowRecords ?? DEFAULT_MAX_WINDOW_RECORDS;
  const maxRecords = HARD_BOUND_FACTOR * splitAt;
  let split: { split: number } | undefined;
  /** Keys settled in this window: published by it, or found unchanged in `recentKeys`. Later passes skip them. */
  const published = new Set<string>();
  /**
   * Records refused at the door in this window (by key, else content hash), each dead-lettered once: a keyless record
   * served again at a page boundary as the order shifted, or by a later pass, is the same record (as it counts once
   * in keylessThisPass), and two identical keyless rows are one dead letter with their one content.
   */
  const refused = new Set<string>();
  let publishedCount = 0;
  let unchangedCount = 0;
  let pageSize = source.pageSize;
  let pages = 0;
  let publishError: unknown;
  const inflight = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    const tracked: Promise<void> = p
      .catch((err: unknown) => {
        publishError ??= err;
      })
      .finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };

  /**
   * Until when (ctx.now()) the vendor asked this read to rest: the latest end of the rests (Retry-After) its answers
   * asked for. The vendor asks the client to rest, not one request: no page of the window is asked for, first or
   * again, before then (requests already sent are not cut off). Set only when the request that heard it retries, and
   * so waits as long itself: the rest never holds the read longer than that request's retry would, nor past the read.
   */
  let restUntil = 0;

  /**
   * Fetches the page holding record `offset` with the current page size (which may shrink between attempts); `start`
   * is the page's first record, at or before `offset`.
   */
  const fetchAt = (offset: number): Promise<{ page: number; size: number; start: number; result: SourcePage; answeredAt: number }> =>
    retry(
      async (_attempt, last) => {
        // Waited out on the reader's clock (a timer may end a moment early); a rest that began while this request
        // waited for its token holds it too, and it takes a fresh token after, so the requests a rest held leave at the
        // bucket's pace, not all at once. A stop ends the wait at once.
        for (;;) {
          for (let ms = restLeftMs(restUntil, ctx.now()); ms > 0; ms = restLeftMs(restUntil, ctx.now())) await delay(ms, undefined, { signal });
          await ctx.bucket.take(signal);
          if (restLeftMs(restUntil, ctx.now()) === 0) break;
        }
        const size = pageSize;
        // Pages are numbered, not addressed by offset: after a shrink to a size that does not divide the one before,
        // the page holding `offset` starts before it, and the records ahead of `offset` are dropped (read already).
        // That costs each page in flight at the shrink one request more, where reading the window again at the new
        // size would cost every page read so far, and a divisor would cost up to the old size times the requests.
        const page = source.firstPage + Math.floor(offset / size);
        try {
          const result = await source.fetchPage(tenant, window, page, size, signal);
          return { page, size, start: (page - source.firstPage) * size, result, answeredAt: ctx.now() };
        } catch (thrown) {
          if (signal.aborted) throw thrown;
          const err = asCdrflowError(thrown);
          metrics.apiError(err.code ?? err.kind);
          // Half the size, also in the middle of a read with pages in flight (smallerPageSize: why not a divisor). It
          // stays so for the rest of the window (a vendor refusing under load would refuse again); the next window
          // starts at the configured size, and costs one refused request per halving if the vendor still refuses.
          const smaller = source.pageTooLarge?.(err) ? smallerPageSize(size) : undefined;
          if (smaller !== undefined) {
            // Concurrent requests may all hear "too large"; shrink once per size, not once per answer.
            if (size === pageSize) {
              log('warn', 'poller.page_shrunk', { tenant, from: size, to: smaller });
              pageSize = smaller;
            }
            throw new CdrflowError('transient', err.message, { code: err.code ?? 'page-too-large', cause: err });
          }
          // One record whose answer alone is over our limit, on the last attempt: it can never be read, and failing the
          // window on it stalled the tenant there for good (every cycle, every later call unread). It takes its slot as
          // UNREADABLE, dead-lettered, and the rest of the window is read. Only on our own count of the bytes: the
          // vendor's "too large" at one record may be load it recovers from, and the next cycle reads the window again.
          // The answer gave no total: the last one read stands, or before any, one record more than this slot, so the
          // page after it is asked for and a total the vendor gave is what the window is judged by (on a re-read).
          if (size === 1 && err.code === ANSWER_TOO_LARGE && last) {
            return { page, size, start: offset, result: { total: knownTotal ?? offset + 2, records: [UNREADABLE], requestId: null }, answeredAt: ctx.now() };
          }
          // The span's start passed the vendor's horizon while it was read (a read longer than HORIZON_SAFETY_SEC at
          // the edge): the vendor refuses it as a bad parameter (CCC InvalidParameterValue), which stopped the poller
          // on no setting of the operator's. Not retried (the same request is refused again): the window fails as a
          // passing fault, and the next read starts at the new horizon, reporting what lies before it as lost.
          const edge = horizonOf(source, Math.floor(ctx.now() / 1000));
          if (disposition(err) === 'stop' && edge !== undefined && window.start < edge) {
            throw new CdrflowError('transient', `${err.message} (the window's start ${isoOf(window.start)} passed the horizon while it was read: ${horizonWords(source).reason}; read again from the horizon)`, {
              code: PAST_HORIZON,
              cause: err,
            });
          }
          throw err;
        }
      },
      ctx.retry,
      {
        signal,
        retryIf: (err) => err.code !== PAST_HORIZON,
        onRetry: (err, attempt, delayMs) => {
          // The later end wins, but a rest on record that restLeftMs counts as over (taken while the clock ran ahead,
          // and set right since) is no end: a max with it would hide every rest asked for until the clock reached it.
          const now = ctx.now();
          if (restAskedMs(err) > restLeftMs(restUntil, now)) restUntil = now + restAskedMs(err);
          metrics.retry(err.code ?? err.kind);
          log(attempt >= 3 ? 'warn' : 'debug', 'poller.vendor_retry', {
            tenant,
            code: err.code,
            kind: err.kind,
            attempt,
            delayMs,
            error: err.message,
          });
        },
      },
    );

  /**
   * The window's records could not be made to match the vendor's total within the bounded re-reads: the window is
   * finished anyway (a vendor whose total lies must not stall the poller for good), and the checkpoint moves past
   * whatever the total claimed beyond what was read. Loud (error) and counted, so an operator can alert on it.
   */
  const giveUp = (reason: IncompleteReason, fields: Record<string, unknown>) => {
    metrics.incompleteWindow(tenant, reason);
    log('error', 'poller.window_incomplete', {
      reason: INCOMPLETE_REASON_TEXT[reason],
      tenant,
      window_start: isoOf(window.start),
      window_end: isoOf(window.end),
      ...fields,
      records: published.size,
      pages,
    });
  };

  /** The vendor's total on the last page read. */
  let knownTotal: number | undefined;
  /** Distinct records served in this window, over all passes: keys, and the most distinct keyless records one pass served. */
  const keysRead = new Set<string>();
  let keylessRead = 0;
  /** The previous pass under a steady total: that total, what it served at each record slot, and its reads. */
  let previousPass: (PassSequence & { total: number; reads: Served[] }) | undefined;
  /** Answers taken so far, numbering each. */
  let answers = 0;
  for (let pass = 1; pass <= MAX_PASSES; pass++) {
    const totals = new Set<number>();
    /** Keys of the records of this pass's pages so far: a full page of nothing else is a page the vendor repeats. */
    const keysThisPass = new Set<string>();
    /**
     * Keyless records of this pass by content: one served twice as the order shifted (a page boundary) is one record,
     * and counted twice it would stand in for a keyed record no page served. Two identical keyless rows count once:
     * a shortfall that costs a re-read, not a record missed in silence.
     */
    const keylessThisPass = new Set<string>();
    /** The key served at each record slot of the window in this pass (null: keyless; a hole: not served). */
    const sequence: (string | null)[] = [];
    /** The content of the keyless record at each record slot of this pass (its hash). */
    const keylessContent: (string | undefined)[] = [];
    /** Which answer served each record slot of this pass. */
    const servedBy: Served = { size: pageSize, answer: [] };
    let repeated = false;
    // Requests run ahead of processing (the token bucket paces them) so the connector is bound by the vendor's
    // rate, not by round-trip latency. Each item covers record slots [offset, offset + span) of the window.
    type Pending = { offset: number; span: number; fetch: ReturnType<typeof fetchAt> };
    const queue: Pending[] = [];
    const enqueue = (offset: number, span: number, front = false) => {
      const fetch = fetchAt(offset);
      fetch.catch(() => undefined); // awaited in order below; this only keeps an early rejection from going unhandled
      if (front) queue.unshift({ offset, span, fetch });
      else queue.push({ offset, span, fetch });
    };
    enqueue(0, pageSize);
    let nextOffset = pageSize;
    try {
      while (queue.length > 0) {
        if (publishError !== undefined) break;
        const item = queue.shift()!;
        const { page, size, start, result, answeredAt } = await item.fetch;
        knownTotal = result.total;
        if (pass === 1 && item.offset === 0 && result.total > splitAt) {
          if (halving.mayHalve) {
            split = { split: result.total };
            break;
          }
          const why = halving.noGain ? 'halving it did not lower the total' : 'too short to halve';
          log('warn', 'poller.window_dense', { tenant, window_start: isoOf(window.start), window_end: isoOf(window.end), total: result.total, limit: splitAt, hint: `${why}: read whole, up to ${maxRecords} records` });
        }
        // After a shrink to a size that does not divide the one before, a page may reach beyond this item's slots on
        // either side: it starts before the next unread record, and the rest of a page cut short by that shrink ends
        // inside the next item's. Those records are the neighbours' slots: dropped here, each slot taken from one
        // answer, as the counts against the total and the comparison of passes below assume. A record that moved
        // across such a boundary between the two requests is a shortfall as at any page boundary: read again. (Records
        // past the page asked for, a vendor serving more than asked, are kept as ever.)
        const itemEnd = item.offset + item.span;
        const cut = itemEnd < start + size ? itemEnd - start : undefined;
        const records = result.records.slice(item.offset - start, cut);
        const served = records.length;
        /** The vendor served the whole page asked for. */
        const full = result.records.length >= size;
        const keys = records.map((r) => source.naturalKey(r));
        // The key is one top-level field: safe to read whatever lies below it.
        const admitted = records.map((r, i) => admit(r, keys[i]));
        /** Keyless records by content: the hash of their text. */
        const keyless = keys.map((k, i) => (k === undefined ? payloadHash(admitted[i]!.payload) : undefined));
        // A page made entirely of records already read in this pass, keyless ones by their content: the vendor repeats
        // pages (it ignores the page number, or clamps it to its last page, full or short, or its total claims more
        // than it has). Paging on would never end under a total such as 9e15, and reads nothing new under any total:
        // this pass's paging ends here, long before maxRecords (the bound for a vendor serving fresh records without
        // end). A short page that ends the window is its last page, not a repeat.
        const endsWindow = item.offset + served >= result.total;
        const readBefore = (k: string | undefined, i: number) => (k === undefined ? keylessThisPass.has(keyless[i]!) : keysThisPass.has(k));
        // An item cut short holds only its own slots, which a vendor serving more than asked may have served already as
        // the extras of the page before, while the records of the answer after the cut are new: no repeat. The slots'
        // records are skipped as published; the next item asks for the new ones. (Cuts come only from shrinks in the
        // middle of a read, so a vendor repeating pages is still caught on the items after them.)
        const newPastCut = () =>
          cut !== undefined &&
          result.records.slice(cut).some((r) => {
            const k = source.naturalKey(r);
            return k === undefined ? !keylessThisPass.has(payloadHash(admit(r, k).payload)) : !keysThisPass.has(k);
          });
        if (served > 0 && (full || !endsWindow) && keys.every(readBefore) && !newPastCut()) {
          pages++;
          totals.add(result.total);
          repeated = true;
          break;
        }
        const answer = answers++;
        keys.forEach((k, i) => {
          sequence[item.offset + i] = k ?? null;
          servedBy.answer[item.offset + i] = answer;
          keylessContent[item.offset + i] = keyless[i];
          if (k === undefined) keylessThisPass.add(keyless[i]!);
          else {
            keysThisPass.add(k);
            keysRead.add(k);
          }
        });
        // The window's first page is shorter than asked while the total says more follow: the vendor serves at most
        // this many a page (its real maximum, below what it let us ask for; TRTC v4 documents none). Page on at that
        // size: page 1 of `served` starts where this page ended, so the window is read as if asked so from the start.
        // Paging on at the size asked would skip the rest of every page (half the window, at 50 served of 100).
        // Nothing else of this pass is in flight yet (pages are enqueued below), so `pageSize` is this fetch's size.
        const servedMax = item.offset === 0 && served > 0 && served < size && served < result.total;
        if (servedMax) {
          log('info', 'poller.page_size_served', { tenant, asked: size, served });
          pageSize = served;
          nextOffset = served;
        } else if (item.offset === 0) {
          // The first page of the read shrank to a size that need not divide the one it started at: page on after it.
          nextOffset = size;
        } else if (start + size < Math.min(item.offset + item.span, result.total) && served > 0) {
          // The rest of an item asked for at a larger size, up to the total as any page asked for: one past it serves
          // nothing, and that empty page would read as records past the total (below), a re-read of the whole window.
          enqueue(start + size, item.offset + item.span - start - size, true);
        }
        // An empty page asks for no further page (under a total such as 9e15 paging would never end), but the pages
        // already asked for are read: one of them serving records shows a hole, not the end, and paging goes on.
        // No slot at or past maxRecords is asked for: the last item is cut there (as after a shrink), and the pass ends.
        while (served > 0 && knownTotal !== undefined && nextOffset < Math.min(knownTotal, maxRecords) && queue.length < PREFETCH_PAGES) {
          // After a shrink in the middle of the read `nextOffset` may fall inside a page of the new size: this item
          // reaches to that page's end, so the pages after it start aligned again.
          const end = Math.min((Math.floor(nextOffset / pageSize) + 1) * pageSize, maxRecords);
          enqueue(nextOffset, end - nextOffset);
          nextOffset = end;
        }
        pages++;
        totals.add(result.total);
        const fresh: RawEnvelope[] = [];
        const dead: DeadLetter[] = [];
        /** (key, hash) of `fresh`, remembered only once Kafka acknowledged the page. */
        const toRemember: [string, string][] = [];
        let unchanged = 0;
        // When the vendor served this version of its records, not when its turn came: pages are asked for ahead, and an
        // answer may wait behind an earlier page's retries while another reader takes in a newer version. received_at
        // is the version ClickHouse and reconcile keep the latest of.
        const receivedAt = new Date(answeredAt);
        for (const checked of admitted) {
          if (!checked.ok) {
            // Dead-letter it once, not on every copy or re-read: remembered by its key, else its content, within this
            // window (a copy served again, its later passes) and, live, after the ack like an admitted record.
            const hash = payloadHash(checked.payload);
            const id = checked.key ?? hash;
            if (refused.has(id)) continue;
            refused.add(id);
            if (recentKeys) {
              if (recentKeys.unchanged(tenant, `refused:${id}`, hash, receivedAt.getTime())) continue;
              toRemember.push([`refused:${id}`, hash]);
            }
            const reason = `${source.vendor} record in window ${isoOf(window.start)}..${isoOf(window.end)} page ${page}: ${checked.problem}`;
            dead.push(deadLetterForPayload(checked.payload, { kind: 'bad_record', message: reason }, source.connector, { topic: ctx.topics.raw, vendor: source.vendor, failed_at: receivedAt }));
            continue;
          }
          const { key, payload } = checked;
          if (published.has(key)) continue;
          published.add(key);
          if (recentKeys) {
            const hash = payloadHash(payload);
            if (recentKeys.unchanged(tenant, key, hash, receivedAt.getTime())) {
              unchanged++;
              continue;
            }
            toRemember.push([key, hash]);
          }
          fresh.push({
            vendor: source.vendor,
            tenant_id: tenant,
            natural_key: key,
            received_at: receivedAt,
            connector: source.connector,
            mode: ctx.mode,
            request_id: result.requestId,
            payload,
            payload_format: 'json',
            attributes: {
              ...source.envelopeAttributes?.(tenant),
              window_start: isoOf(window.start),
              window_end: isoOf(window.end),
              page: String(page),
              page_size: String(size),
              total_count: String(result.total),
            },
          });
        }
        metrics.page({ tenant, mode: ctx.mode }, fresh.length);
        metrics.unchanged(tenant, unchanged);
        publishedCount += fresh.length;
        unchangedCount += unchanged;
        for (let i = 0; i < dead.length; i++) metrics.deadLetter(tenant);
        while (inflight.size >= MAX_INFLIGHT_PUBLISHES) await Promise.race(inflight);
        track(
          retry(
            async () => {
              await ctx.sink.publish(fresh, ctx.topics.raw);
              await ctx.sink.deadLetter(dead, ctx.topics.deadLetter);
            },
            ctx.retry,
            { signal, onRetry: (err) => metrics.retry(err.code ?? 'kafka') },
          ).then(() => {
            // Only now: a page that never got acked stays out of the cache, so the next re-read publishes it.
            const ackedAt = ctx.now();
            for (const [key, hash] of toRemember) recentKeys?.remember(tenant, key, hash, ackedAt);
          }),
        );
        // A short page before the end means records moved between requests: same remedy as a changed total.
        if (!servedMax && !full && start + result.records.length < result.total) totals.add(-1);
        // A page holding more records than its own total leaves room for: the count was taken apart from the list (late
        // calls between the two), so records past that total may exist and no page past it is asked for. Read again
        // under a total that holds them; one that never does is given up loudly, not finished as complete. (Records
        // beyond the size asked for are not counted here: a vendor serving more a page than asked is no such sign.)
        if (start + Math.min(result.records.length, size) > result.total) totals.add(-1);
      }
    } finally {
      // Whatever is still in flight settles before the window is given up or finished.
      await Promise.allSettled(queue.map((q) => q.fetch));
      // Stopped: the pages handed to Kafka finish too, so none is cut off half-sent when the producer disconnects.
      if (signal.aborted) await Promise.allSettled(inflight);
    }
    if (split !== undefined) return split;
    if (publishError !== undefined) break;
    keylessRead = Math.max(keylessRead, keylessThisPass.size);
    const seen = { total: knownTotal, totals: [...totals].filter((t) => t >= 0), passes: pass };
    // Pages repeated under a steady total, and this pass served the very sequence the pass before did: reading again
    // would repeat them again. A first repeat is read again like a shortfall (below): an order that shifted between
    // requests serves a whole page of records already read as well (likely once a page has shrunk to a few records),
    // and the records it kept from this pass are served by the next. (Had the total moved, records may have shifted
    // by a page between requests: read again like any moved total, still at most MAX_PASSES times.)
    if (repeated && totals.size <= 1 && previousPass !== undefined && previousPass.total === knownTotal && sameSequence(previousPass, { sequence, keylessContent })) {
      giveUp('pages_repeat', seen);
      break;
    }
    // Paged up to the bound under a total beyond it: another pass would read the same first maxRecords slots again.
    if (!repeated && nextOffset >= maxRecords && Math.max(...totals) > maxRecords) {
      giveUp('too_many_records', { ...seen, limit: maxRecords });
      break;
    }
    // Fewer distinct records than the steady total: either the vendor's order is not stable between requests (records
    // of the same second change places, so a page boundary served one of them twice and another never), or its data
    // holds two rows of one key (vendors.md: deduplicate on SessionId / callId). One pass cannot tell them apart, so
    // read the window again. A re-read serving the very same key (or keyless content) at every slot as the pass before,
    // under the same total, with every slot served, tells: the order is stable and the shortfall is those duplicate
    // rows, which another pass would serve again. The window is complete (the first row of each key was published).
    const steady = totals.size === 1 && knownTotal !== undefined ? knownTotal : undefined;
    /** The reads before that served this very sequence under this total (a copy is doubted where all of them had it alike). */
    const agreeing = steady !== undefined && previousPass?.total === steady && sameSequence(previousPass, { sequence, keylessContent }) ? previousPass.reads : [];
    if (steady !== undefined && keysRead.size + keylessRead < steady) {
      const served = sequence.filter((k) => k !== undefined).length;
      if (agreeing.length > 0 && served === steady && !copyServedAlike(sequence, keylessContent, [...agreeing, servedBy])) {
        log('info', 'poller.duplicate_keys', {
          tenant,
          window_start: isoOf(window.start),
          window_end: isoOf(window.end),
          total: steady,
          duplicates: steady - keysRead.size - keylessRead,
          passes: pass,
        });
      } else {
        totals.add(-1);
        // The re-read asks for pages one record smaller, so its page boundaries fall elsewhere: a vendor whose order
        // among records of one second depends on the offset asked for (a database's plan per LIMIT/OFFSET) serves the
        // same shortfall on every read at the same boundaries, which would pass for rows sharing a key. Rows that do
        // share a key fill the same offsets at any page size. Nothing of this pass is in flight any more.
        if (pageSize > 1) pageSize--;
      }
    }
    previousPass = steady === undefined ? undefined : { total: steady, sequence, keylessContent, reads: [...agreeing, servedBy] };
    if (totals.size <= 1) break;
    // The total only moved (no short, overfull or repeated page, no shortfall under a steady total) and the reads
    // together served as many distinct records as it ever said in this read: calls kept arriving while a busy window
    // was read, and every one of them was read. Nothing was left behind to report. The highest total, not the last
    // page's: pages are answered out of order (prefetch, retries), so the last page may count fewer calls than one
    // answered after it, whose new call sits on a page answered before it arrived.
    if (pass === MAX_PASSES && !repeated && !totals.has(-1) && keysRead.size + keylessRead >= Math.max(...totals)) break;
    if (pass === MAX_PASSES) {
      giveUp(repeated ? 'pages_repeat' : 'total_mismatch', seen);
      break;
    }
    log('info', 'poller.count_changed_rereading', {
      tenant,
      window_start: isoOf(window.start),
      window_end: isoOf(window.end),
      totals: [...totals],
      pass,
    });
  }
  await Promise.all(inflight);
  if (publishError !== undefined) throw new KafkaFailure(publishError);
  return { records: published.size, published: publishedCount, unchanged: unchangedCount, pages, polledAt };
}
