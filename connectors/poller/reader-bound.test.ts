// What one window's read holds per record, and the bounds on the records of one window: over maxWindowRecords it is
// read in halves by time; a span too short to halve is read whole up to HARD_BOUND_FACTOR times that, so a vendor
// serving fresh records under a total such as 9e15, or one whose total keeps growing past what it announced, does not
// make one window grow without end.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_WINDOW_RECORDS, HARD_BOUND_FACTOR, readWindow } from './reader.ts';
import type { PullSource, SourcePage } from './source.ts';
import { MemorySink, memoryPollContext, timedSource } from './fixtures/memory.ts';
import type { RecordSink } from './publisher.ts';
import { CdrflowError } from '../../core/errors.ts';

const WINDOW = { start: 1_700_000_000, end: 1_700_003_600 };

/** A CCC-like record: its SessionId (36 characters after an 8-digit counter) is the natural key. */
const call = (i: number) => ({ SessionId: `${String(i).padStart(8, '0')}-1c2d-4e5f-8a9b-0c1d2e3f4a5b`, Duration: 60, Caller: '+8613800000000' });

/**
 * A source of distinct records at every offset, under `totalAt(offset)`; asked for a record at or past `refuseFrom`
 * it fails for good (so a read that does not stop fails the test instead of running without end).
 */
function freshSource(totalAt: (offset: number) => number, refuseFrom: number, onPage?: (offset: number) => void): PullSource & { asked: number[] } {
  const asked: number[] = [];
  return {
    asked,
    vendor: 'tencent-ccc',
    connector: 'test-poller',
    tenants: ['t1'],
    firstPage: 0,
    pageSize: 100,
    async fetchPage(_tenant, _window, page, size): Promise<SourcePage> {
      const from = page * size;
      asked.push(from);
      if (from >= refuseFrom) throw new CdrflowError('config', `asked for record ${from}: the read did not stop at its bound`);
      onPage?.(from);
      const total = totalAt(from);
      const records = [];
      // Parsed afresh, as the vendor's JSON.parse hands each page over.
      for (let i = from; i < Math.min(total, from + size); i++) records.push(JSON.parse(JSON.stringify(call(i))) as unknown);
      return { total, records, requestId: null };
    },
    naturalKey: (r) => (r as { SessionId?: string }).SessionId,
  };
}

/** Counts what is published, keeps nothing (what the reader itself holds is measured, not the sink's copies). */
const countingSink = (): RecordSink & { records: number } => {
  const sink = {
    records: 0,
    async publish(envelopes: unknown[]) {
      sink.records += envelopes.length;
    },
    async deadLetter() {},
  };
  return sink;
};

describe('readWindow: what one window holds', () => {
  it('holds under 400 bytes per record read (keys, slots of the pass): the default limit keeps a window under 40 MiB', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heap = () => {
      gc();
      gc();
      return v8.getHeapStatistics().used_heap_size;
    };
    const n = 100_000;
    let before = 0;
    let after = 0;
    // Taken while the reader waits for its first page and for its last: what it holds of the records in between.
    const source = freshSource(
      () => n,
      n,
      (offset) => {
        if (offset === 0) before = heap();
        if (offset === n - 100) after = heap();
      },
    );
    const sink = countingSink();
    const result = await readWindow(memoryPollContext(source, sink, { mode: 'backfill', maxWindowRecords: n }), 't1', WINDOW);
    expect(result.records).toBe(n);
    const perRecord = (after - before) / n;
    // Measured: about 170 bytes (the 44-character key, and its entries in the sets of keys published, read and read
    // in this pass, and the pass's slot arrays). Under 400 with room for V8's growth of its tables.
    expect(perRecord).toBeGreaterThan(50);
    expect(perRecord).toBeLessThan(400);
    expect((perRecord * DEFAULT_MAX_WINDOW_RECORDS) / 2 ** 20).toBeLessThan(40);
  });
});

describe('readWindow: a window too short to halve, bounded (HARD_BOUND_FACTOR × maxWindowRecords)', () => {
  const limit = 50;
  const bound = HARD_BOUND_FACTOR * limit;
  /** Under 2 × MIN_SPLIT_SEC: read whole whatever its total. */
  const SHORT = { start: WINDOW.start, end: WINDOW.start + 100 };

  it('a vendor serving fresh records under a total of 9e15 is stopped at the bound: given up loudly, reason too many records', async () => {
    const source = freshSource(() => 9e15, 20 * bound);
    const sink = new MemorySink();
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const ctx = memoryPollContext(source, sink, { maxWindowRecords: limit, log: (level, msg, fields) => lines.push({ level, msg, ...(fields ? { fields } : {}) }) });
    const result = await readWindow(ctx, 't1', SHORT);
    expect(result.records).toBe(bound);
    expect(sink.keys().size).toBe(bound);
    expect(Math.max(...source.asked)).toBeLessThan(bound);
    expect(ctx.metrics.counts.incompleteWindows).toBe(1);
    expect(lines.filter((l) => l.level !== 'debug' && l.level !== 'info')).toEqual([
      { level: 'warn', msg: 'poller.window_dense', fields: expect.objectContaining({ tenant: 't1', window_start: '2023-11-14T22:13:20.000Z', window_end: '2023-11-14T22:15:00.000Z', total: 9e15, limit }) },
      { level: 'error', msg: 'poller.window_incomplete', fields: expect.objectContaining({ reason: 'too many records', tenant: 't1', total: 9e15, limit: bound, records: bound }) },
    ]);
  });

  it('a vendor whose total grows past what it announced with every page is stopped at the bound', async () => {
    // Each page announces one page more than it reaches: paging on at the last total would never end.
    const source = freshSource((offset) => offset + 200, 20 * bound);
    const ctx = memoryPollContext(source, new MemorySink(), { maxWindowRecords: limit });
    const result = await readWindow(ctx, 't1', SHORT);
    expect(result.records).toBe(bound);
    expect(ctx.metrics.counts.incompleteWindows).toBe(1);
  });

  it('a window of exactly the bound is read whole, complete', async () => {
    const source = freshSource(() => bound, bound);
    const ctx = memoryPollContext(source, new MemorySink(), { maxWindowRecords: limit });
    const result = await readWindow(ctx, 't1', SHORT);
    expect(result.records).toBe(bound);
    expect(ctx.metrics.counts.incompleteWindows).toBe(0);
  });

  it('one record over the bound: the bound is read, the window given up loudly (not read again)', async () => {
    const source = freshSource(() => bound + 1, bound + 1);
    const ctx = memoryPollContext(source, new MemorySink(), { maxWindowRecords: limit });
    const result = await readWindow(ctx, 't1', SHORT);
    expect(result.records).toBe(bound);
    expect(result.pages).toBe(bound / 100);
    expect(ctx.metrics.counts.incompleteWindows).toBe(1);
  });
});

describe('readWindow: a window over maxWindowRecords is read in halves by time', () => {
  it('1000 calls over an hour, at most 100 a window: every call is read, no span over 100 paged past its first page', async () => {
    const starts = Array.from({ length: 1000 }, (_, i) => WINDOW.start + Math.floor(i * 3.6));
    const source = timedSource(starts);
    const sink = new MemorySink();
    const ctx = memoryPollContext(source, sink, { maxWindowRecords: 100 });
    const result = await readWindow(ctx, 't1', WINDOW);
    expect(sink.keys().size).toBe(1000);
    expect(ctx.metrics.counts.incompleteWindows).toBe(0);
    expect(source.reads.filter((r) => r.total > 100 && r.page > 0)).toEqual([]);
    // Halves share their middle second: a call there is read by both (published once, live), counted by both.
    expect(result.records).toBeGreaterThanOrEqual(1000);
    expect(result.records).toBeLessThan(1100);
    expect(result.polledAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it('all 400 calls in the first quarter of the hour: the empty half is read once, the busy one halved on', async () => {
    const starts = Array.from({ length: 400 }, (_, i) => WINDOW.start + Math.floor(i * 2.25));
    const source = timedSource(starts);
    const sink = new MemorySink();
    const lines: string[] = [];
    const ctx = memoryPollContext(source, sink, { maxWindowRecords: 100, log: (_level, msg) => lines.push(msg) });
    await readWindow(ctx, 't1', WINDOW);
    expect(sink.keys().size).toBe(400);
    expect(source.reads.filter((r) => r.total > 100 && r.page > 0)).toEqual([]);
    expect(lines).not.toContain('poller.window_dense');
  });

  it('a total that does not shrink with the span (every window says 500): read whole after one halving, with one warning', async () => {
    const calls = Array.from({ length: 500 }, (_, i) => ({ id: `call-${i}` }));
    const reads: { window: { start: number; end: number }; page: number }[] = [];
    const source: PullSource = {
      vendor: 'tencent-ccc',
      connector: 'test-poller',
      tenants: ['t1'],
      firstPage: 0,
      pageSize: 10,
      async fetchPage(_tenant, window, page, size) {
        reads.push({ window: { ...window }, page });
        return { total: calls.length, records: calls.slice(page * size, (page + 1) * size), requestId: null };
      },
      naturalKey: (r) => (r as { id: string }).id,
    };
    const sink = new MemorySink();
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const ctx = memoryPollContext(source, sink, { maxWindowRecords: 100, log: (level, msg, fields) => lines.push({ level, msg, ...(fields ? { fields } : {}) }) });
    const result = await readWindow(ctx, 't1', WINDOW);
    expect(result.records).toBe(500);
    expect(ctx.metrics.counts.incompleteWindows).toBe(0);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([
      { level: 'warn', msg: 'poller.window_dense', fields: expect.objectContaining({ tenant: 't1', window_start: '2023-11-14T22:13:20.000Z', window_end: '2023-11-14T23:13:20.000Z', total: 500 }) },
    ]);
    // The window's first page, each half's, then the window's 50 pages.
    expect(reads).toHaveLength(3 + 50);
  });

  it('300 calls in one second: halved down to the shortest span, then read whole with one warning naming the tenant and span', async () => {
    const starts = [...Array.from({ length: 300 }, () => WINDOW.start + 10), ...Array.from({ length: 50 }, (_, i) => WINDOW.start + 60 * i)];
    const source = timedSource(starts);
    const sink = new MemorySink();
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const ctx = memoryPollContext(source, sink, { maxWindowRecords: 100, log: (level, msg, fields) => lines.push({ level, msg, ...(fields ? { fields } : {}) }) });
    await readWindow(ctx, 't1', WINDOW);
    expect(sink.keys().size).toBe(350);
    expect(ctx.metrics.counts.incompleteWindows).toBe(0);
    const dense = lines.filter((l) => l.msg === 'poller.window_dense');
    expect(dense).toHaveLength(1);
    expect(dense[0]!.fields).toMatchObject({ tenant: 't1', window_start: '2023-11-14T22:13:20.000Z' });
    const span = dense[0]!.fields as { window_start: string; window_end: string };
    expect((Date.parse(span.window_end) - Date.parse(span.window_start)) / 1000).toBeLessThan(120);
  });
});
