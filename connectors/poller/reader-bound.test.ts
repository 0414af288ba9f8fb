// What one window's read holds per record, and the bound on the records of one window (maxWindowRecords): a vendor
// serving fresh records under a total such as 9e15, or one whose total keeps growing past what it announced, must not
// make one window grow without end.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_WINDOW_RECORDS, readWindow } from './reader.ts';
import type { PullSource, SourcePage } from './source.ts';
import { MemorySink, memoryPollContext } from './fixtures/memory.ts';
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
  it('holds under 400 bytes per record read (keys, slots of the pass): the default bound keeps a window under 800 MiB', async () => {
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
    const result = await readWindow(memoryPollContext(source, sink, { mode: 'backfill' }), 't1', WINDOW);
    expect(result.records).toBe(n);
    const perRecord = (after - before) / n;
    // Measured: about 170 bytes (the 44-character key, and its entries in the sets of keys published, read and read
    // in this pass, and the pass's slot arrays). Under 400 with room for V8's growth of its tables.
    expect(perRecord).toBeGreaterThan(50);
    expect(perRecord).toBeLessThan(400);
    expect((perRecord * DEFAULT_MAX_WINDOW_RECORDS) / 2 ** 20).toBeLessThan(800);
  });
});

describe('readWindow: the bound on one window (maxWindowRecords)', () => {
  const bound = 1_000;

  it('a vendor serving fresh records under a total of 9e15 is stopped at the bound: given up loudly, reason too many records', async () => {
    const source = freshSource(() => 9e15, 20 * bound);
    const sink = new MemorySink();
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const ctx = memoryPollContext(source, sink, { maxWindowRecords: bound, log: (level, msg, fields) => lines.push({ level, msg, ...(fields ? { fields } : {}) }) });
    const result = await readWindow(ctx, 't1', WINDOW);
    expect(result.records).toBe(bound);
    expect(sink.keys().size).toBe(bound);
    expect(Math.max(...source.asked)).toBeLessThan(bound);
    expect(ctx.metrics.counts.incompleteWindows).toBe(1);
    expect(lines.filter((l) => l.msg === 'poller.window_incomplete')).toEqual([
      { level: 'error', msg: 'poller.window_incomplete', fields: expect.objectContaining({ reason: 'too many records', tenant: 't1', total: 9e15, limit: bound, records: bound }) },
    ]);
  });

  it('a vendor whose total grows past what it announced with every page is stopped at the bound', async () => {
    // Each page announces one page more than it reaches: paging on at the last total would never end.
    const source = freshSource((offset) => offset + 200, 20 * bound);
    const ctx = memoryPollContext(source, new MemorySink(), { maxWindowRecords: bound });
    const result = await readWindow(ctx, 't1', WINDOW);
    expect(result.records).toBe(bound);
    expect(ctx.metrics.counts.incompleteWindows).toBe(1);
  });

  it('a window of exactly the bound is read whole, without a word', async () => {
    const source = freshSource(() => bound, bound);
    const sink = new MemorySink();
    const ctx = memoryPollContext(source, sink, { maxWindowRecords: bound });
    const result = await readWindow(ctx, 't1', WINDOW);
    expect(result.records).toBe(bound);
    expect(ctx.metrics.counts.incompleteWindows).toBe(0);
  });

  it('one record over the bound: the bound is read, the window given up loudly (not read again)', async () => {
    const source = freshSource(() => bound + 1, bound + 1);
    const ctx = memoryPollContext(source, new MemorySink(), { maxWindowRecords: bound });
    const result = await readWindow(ctx, 't1', WINDOW);
    expect(result.records).toBe(bound);
    expect(result.pages).toBe(bound / 100);
    expect(ctx.metrics.counts.incompleteWindows).toBe(1);
  });
});
