// The sink's delivery logic, free of Kafka and ClickHouse so it can be tested with fakes: per-partition buffers of
// one contiguous offset range, flushed at N rows or T ms as one insert whose dedup token names the range (buffers
// due at the same time go together, one insert naming every range); rejected rows found by bisecting each range
// (each half is again a contiguous range with its own token) and dead-lettered one by one; offsets committed only
// after ClickHouse acknowledged, a range's dead letters published with its offsets in one Kafka transaction.
// Generic over the row a message renders to (R): the cdr sink (NormalizedCdr -> a `cdr` line) and the dead-letter
// loader (DeadLetter -> a `cdr_dead_letters` line) share this one batcher, insert order and commit order.
import { retry, type BackoffOptions } from '../../core/backoff.ts';
import { deadLetterFor, type DeadLetter } from '../../core/dead-letter.ts';
import { CdrflowError, asCdrflowError, clientRejoinError, disposition, type ErrorKind } from '../../core/errors.ts';
import type { GroupMembership } from '../../core/kafka-fenced-offsets.ts';
import type { CommittedCounts, ConsumedMessage, MarkersOnly, PartitionBatch } from '../../core/kafka-streams.ts';
import type { LogFn } from '../../core/log.ts';
import { TimeSlice } from '../../core/time-slice.ts';

export const COMPONENT = 'sink.clickhouse';

/** What every rendered row carries: its line of the insert format, and what a dead letter of it names. */
export interface RowLine {
  line: Buffer;
  vendor: string | null;
  cdr_id: string | null;
}

/**
 * A record decoded and rendered as its row's line at once: only the line and what the dead letters and metrics need
 * are kept, so the decoded object dies young (cheap to collect) instead of waiting in a buffer of 50,000.
 */
export interface RenderedRow extends RowLine {
  /** The row as bytes of the insert format, newline included (a view into its batch's buffer: render.ts renderBatch). */
  line: Buffer;
  vendor: string;
  cdr_id: string;
  received_at: Date;
}

/** Per message: its row, or why the record itself is bad (to be dead-lettered). */
export type RenderResult<R extends RowLine = RenderedRow> = R | { error: { kind: ErrorKind; message: string } };

/** A rendered row in a partition's buffer, with the message it came from (its position, and its dead letter's source). */
export type BufferedRow<R extends RowLine = RenderedRow> = R & {
  message: ConsumedMessage;
};

/** A range's commit: the offset after it, and the group generation its first batch was fetched in (if known). */
export interface RangeCommit {
  topic: string;
  partition: number;
  nextOffset: number;
  membership: GroupMembership | undefined;
}

export interface BatcherPorts<R extends RowLine = RenderedRow> {
  /**
   * Decodes and renders values (render.ts), results in order: a row, or why the record is bad (dead-letter it).
   * Each row a fresh object, the batcher's from then on (it tags it with its message). Throws only for systemic
   * trouble.
   */
  render(messages: readonly ConsumedMessage[]): Promise<RenderResult<R>[]>;
  insert(rows: BufferedRow<R>[], dedupToken: string): Promise<void>;
  /**
   * The records that cannot be stored (bad, or rejected by ClickHouse), before the range's offsets are committed:
   * the dead-letter loader logs and counts them (a dead letter of a dead letter could loop).
   */
  publishDeadLetters?(records: DeadLetter[]): Promise<void>;
  /**
   * Instead of publishDeadLetters and commit, for a range with dead letters: publishes them and commits the range's
   * offset as one (the cdr sink: one Kafka transaction onto cdr.dlq, fenced by the range's group generation), so a
   * sink that stops between the two cannot leave letters that its range's next reader publishes again. Nothing is
   * visible unless it resolves. A refusal (the group moved on: the client's rejoin error among the causes) is a
   * failed commit like the consumer's; anything else it throws stops the stage, as a failed publish did.
   */
  commitWithDeadLetters?(range: RangeCommit, records: DeadLetter[]): Promise<void>;
  /**
   * Which offsets of a partition the table already holds (the dead-letter loader: inserted before a crash, never
   * committed). Offsets it holds are committed with the next range but not rendered or inserted again, which makes a
   * re-read after a crash between insert and commit exact even when the new ranges differ from the inserted one
   * (which the dedup token alone cannot catch). Asked by offset, not as one position: a range's records the table
   * refused, or that could not be rendered, lie below the highest stored one and are not in it (they are dead-lettered
   * again, and counted, not taken as stored).
   */
  stored?: StoredOffsets;
  /** The `component` of the dead letters this batcher makes (default sink.clickhouse). */
  component?: string;
  /** Prefix of its log events (default `sink`: `sink.inserted`, ...). */
  events?: string;
  /**
   * Commits a partition's offset; given the group generation the range was fetched in, refuses once the group moved
   * on from it (the range's next reader commits it).
   */
  commit(topic: string, partition: number, nextOffset: number, fetchedAs?: GroupMembership): Promise<void>;
  /** The group's committed offset of a partition as the broker has it (skipMarkers, after a (re)assignment). */
  committedOffset?(topic: string, partition: number): Promise<number | undefined>;
  /** A background flush failed (backgroundFlush): the stage must stop; later calls throw the same error (inline too). */
  onFailure?: (err: CdrflowError) => void;
  now?: () => number;
  log?: LogFn;
  /** After each flush committed its offsets: the records it took (rows + dead letters) and how many were dead-lettered. */
  onCommitted?: (counts: CommittedCounts) => void;
}

export interface StoredOffsets {
  /** The offset after the highest one the table holds (undefined: none): asked once per partition after every (re)assignment. */
  upTo(topic: string, partition: number): Promise<number | undefined>;
  /** Which of the offsets `first`..`last` (all below upTo) the table holds: asked for a fetched batch that reaches below upTo. */
  among(topic: string, partition: number, first: number, last: number): Promise<ReadonlySet<number>>;
}

export interface BatcherOptions {
  flushRows: number;
  /** ...or at this many bytes (consumed values + rendered rows), whichever comes first: memory stays bounded whatever a row weighs. */
  flushBytes?: number;
  flushMs: number;
  /** ...or when no batch came in for this long (DEFAULT_FLUSH_IDLE_MS); 0 = never for that reason. */
  flushIdleMs?: number;
  /**
   * Insert and commit in the background, at most one flush at a time, while the next rows are decoded: the
   * engine's own threads insert while the main thread decodes. Off = every flush is awaited where it starts.
   */
  backgroundFlush?: boolean;
  maxInsertAttempts: number;
  systemicRejectThreshold: number;
  backoff?: Partial<BackoffOptions>;
}

export interface SinkStats {
  rowsInserted: number;
  inserts: number;
  flushes: number;
  deadLettered: number;
  retries: number;
  committed: Map<string, number>;
}

interface PartitionBuffer<R extends RowLine> {
  topic: string;
  partition: number;
  first: number;
  last: number;
  /**
   * The offset committed once the buffer is stored: last + 1, or past the transaction markers (and aborted records)
   * that followed its last record in the same fetch, or in a fetch of nothing else (skipMarkers).
   */
  end: number;
  rows: BufferedRow<R>[];
  dead: DeadLetter[];
  /**
   * The offsets of the range's records the table already holds (ports.stored: inserted before a crash, never
   * committed), committed with it but not inserted again.
   */
  stored: number[];
  bytes: number;
  openedAt: number;
  /** Records already in Kafka after the last buffered one, as of the last fetch (high watermark - last - 1). */
  waiting: number;
  /** Its partition was catching up when the buffer's first rows came in (set at the end of that add). */
  openedBehind?: boolean;
  /** The group generation of the batch that opened it (commitWithDeadLetters fences its commit with it). */
  membership: GroupMembership | undefined;
  /**
   * Its inserts are made and its dead letters and commit were under way (finishBuffer): a rebalance after that leaves
   * it to that outcome (a refused commit is made again, or read again), it is not abandoned.
   */
  finished?: boolean;
}

/**
 * While a partition is catching up (at least a tenth of a full insert already waits in Kafka behind its buffer), its
 * oldest row may wait this many times flushMs: those rows are late already, and an insert of 1,000–3,000 rows costs
 * the embedded engine 1.3–2× the CPU per row of one of 10,000+ (measured: 50,000 rows inserted in blocks of 1,000, 3,000, 10,000 and 50,000). In a
 * steady stream the lag stays far below that and the age flush keeps its latency. The bound stays, because the high
 * watermark counts transaction markers too and can overstate what is left.
 */
export const CATCH_UP_FLUSH_FACTOR = 5;

/**
 * Whenever the engine has nothing in flight and the buffers hold flushRows / EAGER_FLUSH_DIVISOR rows between them
 * (10,000 by default: past the size where the engine's CPU per row stops falling), they all go as one insert,
 * whatever their age. The engine then inserts while the next rows are fetched and rendered. Waiting for the age or
 * size limits left it idle: on a backlog every partition filled at once (32 MiB each, ~3 s) before the first insert
 * began; behind a normalize stage that keeps the sink fed but never far behind (end to end, a replay), the sink
 * inserted nothing for the first 2 s of a 6.6 s run while normalize used one core and the other sat idle. In a steady
 * stream slower than that (10,000 rows within flushMs), the age flush comes first and nothing changes.
 */
export const EAGER_FLUSH_DIVISOR = 5;

/**
 * When no batch came in for flushIdleMs, what is buffered goes at once: the input has paused (a backfill or replay
 * ended) and rows that are not coming are not worth waiting flushMs for. The last rows of the benchmark's end-to-end
 * run waited 0.92 s of 6.6 s that way with the engine idle. Only from IDLE_FLUSH_MIN_ROWS rows on: a slow stream
 * (a few calls a second, a pause between each) would otherwise make an insert of a few rows per pause, where
 * ClickHouse wants inserts of 1,000 rows or at most one a second; its rows wait for flushMs as before.
 */
export const DEFAULT_FLUSH_IDLE_MS = 200;
export const IDLE_FLUSH_MIN_ROWS = 1_000;

/** Rows (dead letters included) in these buffers. */
function rowsIn(buffers: Iterable<{ rows: unknown[]; dead: unknown[] }>): number {
  let n = 0;
  for (const b of buffers) n += b.rows.length + b.dead.length;
  return n;
}

export const dedupToken = (topic: string, partition: number, first: number, last: number) => `${topic}:${partition}:${first}-${last}`;

/** A range's records as the stage's figures count them (onCommitted): by offset, so that a part of it can be counted. */
interface RangeRecords {
  first: number;
  /** The offset its commit goes to. */
  end: number;
  /** Its records' offsets but the already stored ones (rows, rejected ones included, and bad records). */
  offsets: number[];
  /** Of those, the dead-lettered ones. */
  dead: number[];
  /** The already stored records' offsets (PartitionBuffer.stored). */
  stored: number[];
}

/**
 * The counts of a range's records in [from, to): from the group's offset before the commit that goes past them (the
 * records below it were counted by whichever commit went past them) to where that commit goes.
 */
function countsIn(range: RangeRecords, from: number, to: number): CommittedCounts {
  const whole = from <= range.first && range.end <= to;
  const within = (o: number) => o >= from && o < to;
  const records = whole ? range.offsets.length : range.offsets.filter(within).length;
  const dead = whole ? range.dead.length : range.dead.filter(within).length;
  const stored = whole ? range.stored.length : range.stored.filter(within).length;
  return { records: records + stored, deadLettered: dead, ...(stored > 0 ? { alreadyStored: stored } : {}) };
}

/** A stored range's records, `dead` its dead letters (the bad records and the rows ClickHouse rejected). */
function recordsOf<R extends RowLine>(buffer: PartitionBuffer<R>, dead: DeadLetter[]): RangeRecords {
  return {
    first: buffer.first,
    end: buffer.end,
    offsets: [...buffer.rows.map((r) => r.message.offset), ...buffer.dead.map((d) => d.origin_offset)],
    dead: dead.map((d) => d.origin_offset),
    stored: buffer.stored,
  };
}

/**
 * A flush's partitions went through a rebalance before its inserts were all made (flushOrAbandon). Of a kind that is
 * not retried, so it ends the flush at once; flushOrAbandon catches it, it never stops the stage.
 */
class Rebalanced extends CdrflowError {
  constructor() {
    super('bug', 'a rebalance came before the flush made its inserts');
  }
}

export class Batcher<R extends RowLine = RenderedRow> {
  readonly stats: SinkStats = { rowsInserted: 0, inserts: 0, flushes: 0, deadLettered: 0, retries: 0, committed: new Map() };
  private readonly buffers = new Map<string, PartitionBuffer<R>>();
  /** One flush or append at a time: the timer and the consumer both touch the buffers. */
  private lock: Promise<unknown> = Promise.resolve();
  /** The flush running in the background; one at a time, so each partition's ranges commit in order. */
  private flight: Promise<void> = Promise.resolve();
  private flightRows = 0;
  /** Rows handed to flushes that wait for the one in flight: out of the buffers, not in flight yet. */
  private waitingRows = 0;
  /** The partitions of the flush running in the background (its insert, dead letters or commit); empty when none is. */
  private flightKeys = new Set<string>();
  private failure: CdrflowError | undefined;
  /** Per partition, the offset after the last one handed to a flush: re-delivered offsets below it are skipped. */
  private readonly handedOff = new Map<string, number>();
  /** Per partition, the offset after the last one the table holds (ports.stored.upTo), read after each (re)assignment. */
  private readonly storedUpTo = new Map<string, number>();
  /**
   * Partitions that were catching up and have not yet flushed a buffer opened after their backlog drained. Once such
   * a partition is no longer catching up, the rest of its backlog goes at once (as soon as no other flush is in
   * flight) instead of waiting flushMs for rows that are not coming: those rows are late already. The first buffer
   * opened after the backlog ends the rule, and a steady stream batches by age again. The last rows of the
   * benchmark's 100,000-row backlog had waited up to flushMs with the engine idle (0.86 s of a 7.4 s run).
   */
  private readonly backlog = new Set<string>();
  /** Per partition, a markers-only range right after the range in flight: committed once that range is (skipMarkers). */
  private readonly markersAfterFlight = new Map<string, MarkersOnly>();
  /**
   * Per partition, the first offset of a range whose dead letters and commit were refused (commitWithDeadLetters):
   * its letters were never published, so it must be read again. Until a range that starts at or before it commits,
   * no later range of the partition commits (that would skip it), and a new buffer of the partition starts there,
   * not after what was handed off. The group moved on from the generation that refused it, so the consumer rejoins
   * and fetches the partition again from its committed offset (or another member does).
   */
  private readonly rereadFrom = new Map<string, number>();
  /**
   * Per partition, the commit of a stored range that failed (a plain commit: a timeout, or refused because the group
   * moved on). Its records count as handed off and are not read again, so unless a later range of the partition
   * commits past it, it is committed again: on each flushDue while it is `live`, under the generation its range was
   * fetched in. A rejoin (dropAll) leaves it dormant: another member may own the partition now. Given the partition
   * back below it (the group's offset is short of what this member stored), it is live again under the new generation;
   * given it back at or past it, it is forgotten (committing it would move the group's offset back). `attempts`: its
   * commits so far; `warned`: a failure of it was logged at warn under its generation, the repeats at the flush rate
   * go at debug.
   */
  private readonly uncommitted = new Map<string, { range: RangeCommit; live: boolean; attempts: number; warned: boolean }>();
  /**
   * Per partition, the stored ranges whose commit failed, in order: counted (onCommitted) by the first commit of the
   * partition that succeeds, theirs made again or a later range's, each record once, if the group's offset was still
   * below it (countedFrom).
   */
  private readonly uncounted = new Map<string, RangeRecords[]>();
  /**
   * Per partition, the group's offset as this member last knew it: where its last commit went, or where the partition
   * came back after a rejoin. Records below it were counted by the commit that went past them, this member's or
   * another's.
   */
  private readonly countedFrom = new Map<string, number>();
  /** How many rebalances (dropAll) this batcher has seen, and how many when the current flush started (flushOrAbandon). */
  private joins = 0;
  private flushJoins = 0;
  /** Partitions that had a batch since the last (re)join (dropAll). */
  private readonly seenSinceJoin = new Set<string>();
  /** When the last batch with messages came in (the idle flush). */
  private lastAddAt = Number.NEGATIVE_INFINITY;
  private readonly component: string;
  private readonly events: string;
  private readonly now: () => number;
  private readonly log: NonNullable<BatcherPorts<R>['log']>;

  constructor(
    private readonly ports: BatcherPorts<R>,
    private readonly options: BatcherOptions,
  ) {
    this.component = ports.component ?? COMPONENT;
    this.events = ports.events ?? 'sink';
    this.now = ports.now ?? Date.now;
    this.log = ports.log ?? (() => {});
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends one consumed batch; flushes the partition when it reached flushRows. Returns the batch's last offset; undefined
   * for an empty batch, or when a rebalance came before it was all taken (the rest is the partition's next reader's).
   */
  add(batch: PartitionBatch, heartbeat?: () => Promise<void>): Promise<number | undefined> {
    // A rebalance while this batch waits (for the batcher, the table, rendering, a flush behind the one in flight)
    // leaves the rest of it to the partition's next reader, from the group's offset: buffered here it would be
    // committed past the ranges the rebalance dropped.
    const joins = this.joins;
    return this.exclusive(async () => {
      this.throwIfFailed();
      if (batch.messages.length === 0 || this.joins !== joins) return undefined;
      this.lastAddAt = this.now();
      const key = `${batch.topic}:${batch.partition}`;
      if (!this.seenSinceJoin.has(key)) await this.firstSinceJoin(batch, key);
      let buffer = this.buffers.get(key);
      // Re-delivered offsets (a fetch that raced a flush or a rebalance) are already buffered or already committed.
      // Offsets rise within a batch, so one threshold taken now holds for the whole batch.
      const fresh = buffer
        ? batch.messages.filter((m) => m.offset > buffer!.last)
        : batch.messages.filter((m) => m.offset >= (this.rereadFrom.get(key) ?? Math.max(this.stats.committed.get(key) ?? -1, this.handedOff.get(key) ?? -1)));
      // Already in the table (inserted before a crash, never committed): part of the range, so its offset is
      // committed with it, but not rendered or inserted again.
      const held = await this.heldByTable(batch, fresh);
      // A record standing for a batch that could not be read (kafkajs-unreadable-batch.ts) is a dead letter as it is.
      const results = await this.ports.render(fresh.filter((m) => !held?.has(m.offset) && m.unreadable === undefined));
      const slice = new TimeSlice();
      const lastMessage = fresh[fresh.length - 1];
      let i = 0;
      for (const message of fresh) {
        if (slice.due()) await slice.yield();
        if (this.joins !== joins) return undefined;
        if (!buffer) {
          buffer = { topic: batch.topic, partition: batch.partition, first: message.offset, last: message.offset, end: message.offset + 1, rows: [], dead: [], stored: [], bytes: 0, openedAt: this.now(), waiting: 0, membership: batch.membership };
          this.buffers.set(key, buffer);
        }
        buffer.last = message.offset;
        // The fetch's last record may be a transaction marker after the last message: the commit goes past it.
        buffer.end = message === lastMessage ? Math.max(message.offset + 1, batch.end ?? 0) : message.offset + 1;
        if (held?.has(message.offset)) {
          buffer.stored.push(message.offset);
          continue;
        }
        buffer.bytes += message.value?.length ?? 0;
        const result = message.unreadable === undefined ? results[i++]! : { error: { kind: 'bad_record' as const, message: message.unreadable } };
        if ('error' in result) {
          buffer.dead.push(deadLetterFor(message, result.error, this.component));
        } else {
          buffer.bytes += result.line.length;
          // The render result is this batcher's own object: tagged in place, not copied (one row less to collect).
          const row = result as BufferedRow<R>;
          row.message = message;
          buffer.rows.push(row);
        }
        if (buffer.rows.length + buffer.dead.length >= this.options.flushRows || buffer.bytes >= (this.options.flushBytes ?? Infinity)) {
          await this.flush([buffer], heartbeat);
          buffer = undefined;
        }
      }
      // What waits in Kafka behind the buffer, as of this fetch (the age flush reads it).
      if (buffer) {
        buffer.waiting = batch.highWatermark === undefined || !Number.isFinite(batch.highWatermark) ? 0 : Math.max(0, batch.highWatermark - buffer.last - 1);
        buffer.openedBehind ??= this.catchingUp(buffer);
        if (this.catchingUp(buffer)) this.backlog.add(key);
      }
      // Every partition goes along (eagerDue), not only the one this batch filled. One insert's worth only: a second
      // would wait here for the first, and the next fetch with it; the rest goes once the engine is free.
      const [eager] = this.insertGroups(this.eagerDue());
      if (eager) await this.flush(eager, heartbeat);
      return batch.messages[batch.messages.length - 1]!.offset;
    });
  }

  /**
   * The offsets of `fresh` the table already holds (ports.stored), undefined when it can hold none of them: its
   * highest stored offset is asked once per partition after each (re)assignment, which offsets it holds only for a
   * batch that reaches below that.
   */
  private async heldByTable(batch: PartitionBatch, fresh: ConsumedMessage[]): Promise<ReadonlySet<number> | undefined> {
    const stored = this.ports.stored;
    if (!stored || fresh.length === 0) return undefined;
    const key = `${batch.topic}:${batch.partition}`;
    let upTo = this.storedUpTo.get(key);
    if (upTo === undefined) {
      upTo = (await stored.upTo(batch.topic, batch.partition)) ?? -1;
      this.storedUpTo.set(key, upTo);
    }
    const first = fresh[0]!.offset;
    if (first >= upTo) return undefined;
    return stored.among(batch.topic, batch.partition, first, Math.min(upTo - 1, fresh[fresh.length - 1]!.offset));
  }

  /**
   * A partition's first batch since the last (re)join, which the consumer fetched from the group's committed offset.
   * A range of it still in flight may yet have its commit, or its dead letters, refused (fenced by the old
   * generation): its outcome decides which re-delivered offsets are fresh and which failed commit is made again, so
   * it is awaited (rare: a rebalance during a flush). A failed commit (uncommitted) is made again under the new
   * generation if the group's offset is below it, else forgotten. And a range
   * refused earlier that the group has committed past since (another member read it) no longer holds the partition;
   * the later ranges it held uncommitted are read again from the group's offset.
   */
  private async firstSinceJoin(batch: PartitionBatch, key: string): Promise<void> {
    this.seenSinceJoin.add(key);
    if (this.flightKeys.has(key)) await this.flight;
    this.countedFrom.set(key, batch.messages[0]!.offset);
    const failed = this.uncommitted.get(key);
    if (failed !== undefined) {
      if (batch.messages[0]!.offset < failed.range.nextOffset) {
        failed.range.membership = batch.membership;
        failed.live = true;
        failed.warned = false;
      } else {
        this.uncommitted.delete(key);
        // The group's offset went past them: whoever committed them counted them.
        this.uncounted.delete(key);
      }
    }
    const from = this.rereadFrom.get(key);
    if (from !== undefined && batch.messages[0]!.offset > from) {
      this.rereadFrom.delete(key);
      // Every range handed off after the refused one had its commit skipped (its letters unpublished): read from the
      // group's offset again, not from after what was handed off, or the next commit goes past those letters.
      this.handedOff.delete(key);
    }
  }

  /**
   * Flushes buffers whose oldest row waited flushMs, or CATCH_UP_FLUSH_FACTOR × flushMs while the partition catches
   * up; every buffer once the input went idle (flushIdleMs, IDLE_FLUSH_MIN_ROWS) or with `all` (which then waits for
   * the last flush).
   */
  flushDue(all = false): Promise<void> {
    return this.exclusive(async () => {
      this.throwIfFailed();
      const now = this.now();
      const maxAge = (buffer: PartitionBuffer<R>) => (this.catchingUp(buffer) ? this.options.flushMs * CATCH_UP_FLUSH_FACTOR : this.options.flushMs);
      const buffers = [...this.buffers.values()];
      const idleMs = this.options.flushIdleMs ?? DEFAULT_FLUSH_IDLE_MS;
      const idle = idleMs > 0 && now - this.lastAddAt >= idleMs && rowsIn(buffers) >= IDLE_FLUSH_MIN_ROWS;
      const eager = this.eagerDue();
      const due = all || idle ? buffers : buffers.filter((buffer) => now - buffer.openedAt >= maxAge(buffer) || eager.includes(buffer));
      // Buffers past half their age go along (early, never late): partitions' buffers open a fetch apart, and
      // without this each would make its own small insert a timer tick after the other.
      if (due.length > 0) due.push(...buffers.filter((buffer) => !due.includes(buffer) && now - buffer.openedAt >= maxAge(buffer) / 2));
      const joins = this.joins;
      // After a rebalance, the groups not handed off yet are their partitions' next readers' (dropAll dropped them).
      for (const group of this.insertGroups(due)) if (this.joins === joins) await this.flush(group);
      if (all) {
        await this.flight;
        this.throwIfFailed();
      }
      await this.commitAgain();
    });
  }

  /** The live failed commits (uncommitted) of partitions with no range in flight, whose own commit would go past them. */
  private async commitAgain(): Promise<void> {
    for (const [key, failed] of this.uncommitted) {
      // A flush in flight may have failed while an earlier commit here was awaited (a transaction that landed with its
      // answer lost stops the stage): its range's offset may be committed, and this one would move the group's back.
      this.throwIfFailed();
      // A flush starts only under the lock this runs under: none of the partition's commits can overtake this one.
      if (!failed.live || this.flightKeys.has(key)) continue;
      const { topic, partition, nextOffset, membership } = failed.range;
      failed.attempts++;
      try {
        await this.ports.commit(topic, partition, nextOffset, membership);
      } catch (err) {
        const e = asCdrflowError(err);
        if (disposition(e) === 'stop') throw e;
        this.log(failed.warned ? 'debug' : 'warn', `${this.events}.commit_failed`, { partition: key, error: e.message, again: nextOffset, attempts: failed.attempts });
        failed.warned = true;
        continue;
      }
      this.uncommitted.delete(key);
      this.stats.committed.set(key, nextOffset);
      this.log('info', `${this.events}.committed_again`, { partition: key, nextOffset, attempts: failed.attempts });
      this.countCommitted(key, nextOffset);
    }
  }

  /**
   * A fetch of a partition that held only transaction markers or aborted records ([first, end)): nothing to store, but
   * the group's offset goes past it once everything before `first` is committed. Otherwise a group behind two
   * transactions' markers (or an aborted transaction) at the end of a partition never reaches lag 0, and a drain that
   * waits for it never ends. With a buffer open, its commit goes there; with a range in flight, after it; else now,
   * if the group's offset (ours, or the broker's after an assignment) is `first`. A commit that fails loses nothing:
   * the markers are fetched again.
   */
  skipMarkers(range: MarkersOnly): Promise<void> {
    return this.exclusive(async () => {
      if (this.failure) return;
      const key = `${range.topic}:${range.partition}`;
      const buffer = this.buffers.get(key);
      if (buffer) {
        if (buffer.end === range.first) buffer.end = range.end;
        return;
      }
      if (this.flightKeys.has(key)) {
        if (this.handedOff.get(key) === range.first) this.markersAfterFlight.set(key, range);
        return;
      }
      const failed = this.uncommitted.get(key);
      if (failed?.live && failed.range.nextOffset === range.first) {
        failed.range.nextOffset = range.end;
        return;
      }
      const committed = this.stats.committed.get(key);
      await this.commitMarkers(range, committed ?? (await this.ports.committedOffset?.(range.topic, range.partition).catch(() => undefined)));
    });
  }

  private async commitMarkers(range: MarkersOnly, committed: number | undefined): Promise<void> {
    if (committed !== range.first) return;
    const key = `${range.topic}:${range.partition}`;
    try {
      await this.ports.commit(range.topic, range.partition, range.end);
      this.stats.committed.set(key, range.end);
      this.countCommitted(key, range.end);
    } catch (err) {
      this.log('warn', `${this.events}.commit_failed`, { partition: key, error: asCdrflowError(err).message, markers: `${range.first}-${range.end - 1}` });
    }
  }

  /** At least a tenth of a full insert waits in Kafka behind the buffer. */
  private catchingUp(buffer: PartitionBuffer<R>): boolean {
    return buffer.waiting >= this.options.flushRows / 10;
  }

  /**
   * What goes now because the engine has nothing in flight: every buffer, once they hold an insert's worth of rows
   * between them (EAGER_FLUSH_DIVISOR); else the rest of the partitions whose backlog just drained.
   */
  private eagerDue(): PartitionBuffer<R>[] {
    if (this.options.backgroundFlush !== true || this.flightKeys.size > 0) return [];
    const buffers = [...this.buffers.values()];
    if (rowsIn(buffers) >= this.options.flushRows / EAGER_FLUSH_DIVISOR) return buffers;
    return buffers.filter((b) => !this.catchingUp(b) && this.backlog.has(`${b.topic}:${b.partition}`));
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /**
   * Buffers due together, in groups that each fit one insert (flushRows rows, flushBytes bytes): several partitions
   * due at once become one insert. An insert of 5,000 rows costs the embedded engine 1.5–2× the CPU per row of one
   * of 15,000 (merges included), and a steady stream spread over N partitions otherwise makes N small inserts per
   * flushMs.
   */
  private insertGroups(due: PartitionBuffer<R>[]): PartitionBuffer<R>[][] {
    const groups: PartitionBuffer<R>[][] = [];
    let group: PartitionBuffer<R>[] = [];
    let rows = 0;
    let bytes = 0;
    for (const buffer of due) {
      const n = buffer.rows.length + buffer.dead.length;
      if (group.length > 0 && (rows + n > this.options.flushRows || bytes + buffer.bytes > (this.options.flushBytes ?? Infinity))) {
        groups.push(group);
        group = [];
        rows = 0;
        bytes = 0;
      }
      group.push(buffer);
      rows += n;
      bytes += buffer.bytes;
    }
    if (group.length > 0) groups.push(group);
    return groups;
  }

  /**
   * Flushes buffers (one, or a group from insertGroups) as one insert: inline, or (backgroundFlush) after the previous
   * flush finished, without waiting for it.
   */
  private async flush(buffers: PartitionBuffer<R>[], heartbeat?: () => Promise<void>): Promise<void> {
    if (!this.options.backgroundFlush) {
      try {
        return await this.flushOrAbandon(buffers, heartbeat);
      } catch (err) {
        // As in the background: the stage stops, and later calls (its final flush, the timer's) throw this too. The
        // range is still the partition's buffer; flushed again, a transaction that landed with its answer lost
        // would publish its dead letters twice.
        this.failure = asCdrflowError(err);
        throw err;
      }
    }
    for (const buffer of buffers) {
      const key = `${buffer.topic}:${buffer.partition}`;
      // From here on, new rows of this partition start the next range.
      this.buffers.delete(key);
      this.handedOff.set(key, buffer.end);
      // A buffer opened after the backlog drained: the partition is back to batching by age.
      if (buffer.openedBehind === false && !this.catchingUp(buffer)) this.backlog.delete(key);
    }
    const rows = rowsIn(buffers);
    this.waitingRows += rows;
    const joins = this.joins;
    // Never rejects: a failed flush is recorded as `failure`.
    await this.flight;
    this.waitingRows -= rows;
    this.throwIfFailed();
    if (this.joins !== joins) return this.abandon(buffers);
    this.flightRows = rows;
    this.flightKeys = new Set(buffers.map((b) => `${b.topic}:${b.partition}`));
    this.flight = this.flushOrAbandon(buffers, heartbeat).then(
      () => {
        this.flightRows = 0;
        this.flightKeys = new Set();
      },
      (err: unknown) => {
        this.flightRows = 0;
        this.flightKeys = new Set();
        this.failure = asCdrflowError(err);
        this.ports.onFailure?.(this.failure);
      },
    );
  }

  /**
   * A flush whose inserts are not all made when a rebalance comes (dropAll) makes no more of them: the partitions'
   * next owner reads the rows again from the group's offset, and the dead-letter loader asks the table which offsets
   * it holds when it does; an insert made after that ask stores them twice. What it inserted before stays (found by
   * that ask, or collapsed by FINAL in the cdr table), its commit is not made (it would be refused anyway). An insert
   * already sent when the rebalance comes can still land after the next owner's ask: one insert's time, not a flush's
   * retries and halvings.
   */
  private async flushOrAbandon(buffers: PartitionBuffer<R>[], heartbeat?: () => Promise<void>): Promise<void> {
    this.flushJoins = this.joins;
    try {
      await this.flushBuffers(buffers, heartbeat);
    } catch (err) {
      if (!(err instanceof Rebalanced)) throw err;
      // A group rejected as a whole flushes its ranges one by one: those finished before the rebalance keep their
      // outcome (a failed commit to make again would otherwise be overtaken by the range read again).
      this.abandon(buffers.filter((buffer) => !buffer.finished));
    }
  }

  /**
   * Buffers handed to a flush that a rebalance overtook: read again, here too if the partition comes back. A later
   * range of the partition handed off behind it is dropped as well (after it, queued): from this one's first offset.
   */
  private abandon(buffers: PartitionBuffer<R>[]): void {
    for (const buffer of buffers) {
      const key = `${buffer.topic}:${buffer.partition}`;
      if ((this.handedOff.get(key) ?? -1) >= buffer.end) this.handedOff.set(key, buffer.first);
    }
    this.log('info', `${this.events}.buffers_dropped`, { partitions: buffers.map((b) => `${b.topic}:${b.partition}`), handedOff: true });
  }

  /**
   * After a rebalance: unflushed, uncommitted rows will be delivered again to whoever owns the partition now, each
   * partition from the group's committed offset.
   */
  dropAll(): void {
    this.joins++;
    this.seenSinceJoin.clear();
    for (const failed of this.uncommitted.values()) failed.live = false;
    if (this.buffers.size > 0) this.log('info', `${this.events}.buffers_dropped`, { partitions: [...this.buffers.keys()] });
    this.buffers.clear();
    this.stats.committed.clear();
    this.markersAfterFlight.clear();
    // Another member may have stored more of a partition meanwhile: ask the table again.
    this.storedUpTo.clear();
    this.backlog.clear();
  }

  get bufferedRows(): number {
    return rowsIn(this.buffers.values()) + this.waitingRows + this.flightRows;
  }

  /**
   * Several partitions' ranges as ONE insert, then each range's dead letters and commit in turn. Its dedup token names
   * every range, so a retry of the same group is deduplicated. After a crash before the commits the re-read ranges
   * differ, as they can for a single range: with ports.stored (the dead-letter loader) the offsets the table holds
   * keep their rows from being inserted again; without it (the cdr table) they are stored again under other
   * tokens and collapsed by FINAL. When ClickHouse rejects the insert, nothing of it was stored: each range is then
   * inserted on its own, where bisecting finds the rejected rows.
   */
  private async flushBuffers(buffers: PartitionBuffer<R>[], heartbeat?: () => Promise<void>): Promise<void> {
    if (buffers.length === 1) return this.flushBuffer(buffers[0]!, heartbeat);
    const rows = buffers.flatMap((b) => b.rows);
    try {
      await this.insertRows(rows, buffers.map((b) => dedupToken(b.topic, b.partition, b.first, b.last)).join(','), heartbeat);
    } catch (err) {
      const e = asCdrflowError(err);
      if (e.kind !== 'rejected_by_sink') throw e;
      this.log('info', `${this.events}.group_rejected`, { partitions: buffers.map((b) => `${b.topic}:${b.partition}`), rows: rows.length, error: e.message });
      for (const buffer of buffers) await this.flushBuffer(buffer, heartbeat);
      return;
    }
    for (const buffer of buffers) await this.finishBuffer(buffer, []);
  }

  private async flushBuffer(buffer: PartitionBuffer<R>, heartbeat?: () => Promise<void>): Promise<void> {
    const key = `${buffer.topic}:${buffer.partition}`;
    const rejected = await this.insertRange(buffer.rows, dedupToken(buffer.topic, buffer.partition, buffer.first, buffer.last), heartbeat);
    if (rejected.length > 0 && rejected.length === buffer.rows.length && buffer.rows.length >= this.options.systemicRejectThreshold) {
      throw new CdrflowError(
        'config',
        `ClickHouse rejected all ${buffer.rows.length} rows of ${key} offsets ${buffer.first}-${buffer.last}; that is the table or the contract, not the data (first error: ${rejected[0]!.error_message})`,
      );
    }
    await this.finishBuffer(buffer, rejected);
  }

  /** After a range's rows are stored (but `rejected`): its dead letters, then its offsets committed (or both as one). */
  private async finishBuffer(buffer: PartitionBuffer<R>, rejected: DeadLetter[]): Promise<void> {
    buffer.finished = true;
    const key = `${buffer.topic}:${buffer.partition}`;
    // Inline, the range is still the partition's buffer (in the background it left at the hand-off): whatever its
    // commit's outcome, new rows of the partition start the next range. Left there, they would join it past flushRows
    // and insert it again. The other partitions' buffers stay: a failed commit comes with no rebalance to deliver
    // their rows again.
    if (this.buffers.get(key) === buffer) this.buffers.delete(key);
    const dead = [...buffer.dead, ...rejected];
    this.log('debug', `${this.events}.inserted`, { partition: key, first: buffer.first, last: buffer.last, rows: buffer.rows.length - rejected.length });
    const reread = this.rereadFrom.get(key);
    if (reread !== undefined && buffer.first > reread) {
      // Its commit would go past a refused range whose letters were never published; both are read again.
      this.log('warn', `${this.events}.commit_skipped`, { partition: key, first: buffer.first, last: buffer.last, rereadFrom: reread });
      return;
    }
    const transactional = dead.length > 0 && this.ports.commitWithDeadLetters !== undefined;
    if (dead.length > 0 && !transactional) {
      await this.ports.publishDeadLetters?.(dead);
      this.stats.deadLettered += dead.length;
    }
    try {
      if (transactional) {
        await this.ports.commitWithDeadLetters!({ topic: buffer.topic, partition: buffer.partition, nextOffset: buffer.end, membership: buffer.membership }, dead);
        this.stats.deadLettered += dead.length;
      } else {
        await this.ports.commit(buffer.topic, buffer.partition, buffer.end, buffer.membership);
      }
      this.stats.committed.set(key, buffer.end);
    } catch (err) {
      const e = asCdrflowError(err);
      if (transactional) {
        // Not a refusal (the broker gone past every retry, a broken producer): the stage restarts from the committed
        // offsets, as it did when a publish failed. Going on would let the next range commit past these letters.
        if (clientRejoinError(e) === undefined) throw e;
        this.handedOff.delete(key);
        this.rereadFrom.set(key, Math.min(buffer.first, this.rereadFrom.get(key) ?? Infinity));
      } else {
        if (disposition(e) === 'stop') throw e;
        // Its commit, and the markers after it, go again unless a later range of the partition commits first.
        const markers = this.markersAfterFlight.get(key);
        const end = markers !== undefined && this.handedOff.get(key) === buffer.end ? markers.end : buffer.end;
        this.markersAfterFlight.delete(key);
        // Refused because a rebalance came meanwhile: dormant, as dropAll leaves the others, until the partition is
        // seen again (made again now, under the old generation, it would only be refused on every flush tick).
        const live = this.joins === this.flushJoins;
        this.uncommitted.set(key, { range: { topic: buffer.topic, partition: buffer.partition, nextOffset: end, membership: buffer.membership }, live, attempts: 1, warned: true });
        this.uncounted.set(key, [...(this.uncounted.get(key) ?? []), recordsOf(buffer, dead)]);
        // Inline too (in the background it is already): given the partition back below it after a rejoin, its records
        // are not read again, or the range read again commits after it and moves the group's offset back.
        this.handedOff.set(key, Math.max(this.handedOff.get(key) ?? -1, end));
        // This range went as far as the refused one's re-read needs (no range handed off before it had its commit
        // skipped), and all of it but the commit is done: read from rereadFrom again, it is stored and committed a
        // second time, that commit after this one's made again, moving the group's offset back (campaign seed 13568008).
        this.rereadFrom.delete(key);
      }
      // Lost the partition in a rebalance: the rows are in ClickHouse, and whoever re-inserts them is deduplicated;
      // refused dead letters were aborted with the offsets, and whoever reads the range again publishes them.
      this.log('warn', `${this.events}.commit_failed`, { partition: key, error: e.message, ...(transactional ? { deadLetters: dead.length } : {}) });
      return;
    }
    this.rereadFrom.delete(key);
    this.uncommitted.delete(key);
    const markers = this.markersAfterFlight.get(key);
    if (markers !== undefined) {
      this.markersAfterFlight.delete(key);
      // Only if no later range of the partition was handed off meanwhile (its own commit goes past the markers).
      if (this.handedOff.get(key) === buffer.end) await this.commitMarkers(markers, buffer.end);
    }
    this.stats.flushes++;
    this.log('debug', `${this.events}.flushed`, { partition: key, first: buffer.first, last: buffer.last, rows: buffer.rows.length - rejected.length, deadLettered: dead.length });
    if (buffer.stored.length > 0) {
      // Taken from the topic like the rest, so an operator's in = out + dead-lettered + already stored adds up.
      this.log('info', `${this.events}.already_stored`, { partition: key, first: buffer.stored[0], last: buffer.stored.at(-1), records: buffer.stored.length });
    }
    this.countCommitted(key, buffer.end, recordsOf(buffer, dead));
  }

  /**
   * A commit of the partition up to `nextOffset` succeeded: counts the records it went past that the group's offset
   * had not (countedFrom), those of earlier ranges whose commit failed (uncounted) first, then `range`'s own. Should
   * ranges overlap (read again after a rejoin), each record is still counted once; what lies past `nextOffset` waits
   * for the commit that goes past it.
   */
  private countCommitted(key: string, nextOffset: number, range?: RangeRecords): void {
    let from = this.countedFrom.get(key) ?? Number.NEGATIVE_INFINITY;
    const ranges = [...(this.uncounted.get(key) ?? []), ...(range ? [range] : [])];
    const rest = ranges.filter((r) => r.end > nextOffset);
    if (rest.length > 0) this.uncounted.set(key, rest);
    else this.uncounted.delete(key);
    this.countedFrom.set(key, Math.max(from, nextOffset));
    for (const r of ranges) {
      if (from >= nextOffset) break;
      const counts = countsIn(r, from, nextOffset);
      if (counts.records > 0) this.ports.onCommitted?.(counts);
      from = Math.max(from, Math.min(r.end, nextOffset));
    }
  }

  /** One insert, retried while the failure is transient; throws anything else (rejected_by_sink included). */
  private async insertRows(rows: BufferedRow<R>[], token: string, heartbeat?: () => Promise<void>): Promise<void> {
    if (rows.length === 0) return;
    await retry(
      () => {
        if (this.joins !== this.flushJoins) throw new Rebalanced();
        return this.ports.insert(rows, token);
      },
      { ...this.options.backoff, maxAttempts: this.options.maxInsertAttempts },
      {
        onRetry: (err, attempt, delayMs) => {
          this.stats.retries++;
          this.log('warn', `${this.events}.insert_retry`, { token, attempt, delayMs, error: err.message });
          void heartbeat?.().catch(() => undefined);
        },
      },
    );
    this.stats.inserts++;
    this.stats.rowsInserted += rows.length;
  }

  /** Inserts rows (one contiguous range); returns dead letters for the rows ClickHouse rejected. */
  private async insertRange(rows: BufferedRow<R>[], token: string, heartbeat?: () => Promise<void>): Promise<DeadLetter[]> {
    if (rows.length === 0) return [];
    try {
      await this.insertRows(rows, token, heartbeat);
      return [];
    } catch (err) {
      const e = asCdrflowError(err);
      if (e.kind !== 'rejected_by_sink') throw e;
      if (rows.length === 1) {
        const row = rows[0]!;
        return [deadLetterFor(row.message, { kind: 'rejected_by_sink', message: e.message }, this.component, { vendor: row.vendor, cdr_id: row.cdr_id })];
      }
      const mid = rows.length >>> 1;
      const left = rows.slice(0, mid);
      const right = rows.slice(mid);
      const t = rows[0]!.message.topic;
      const p = rows[0]!.message.partition;
      return [
        ...(await this.insertRange(left, dedupToken(t, p, left[0]!.message.offset, left[left.length - 1]!.message.offset), heartbeat)),
        ...(await this.insertRange(right, dedupToken(t, p, right[0]!.message.offset, right[right.length - 1]!.message.offset), heartbeat)),
      ];
    }
  }
}
