// The reader's door: what a page may hold besides well-formed records (a vendor answer is input like any other), and
// that one strange record never holds up the rest of its page or window.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_WINDOW_RECORDS, readWindow } from './reader.ts';
import type { PullSource, SourcePage } from './source.ts';
import { MemorySink, memoryPollContext } from './fixtures/memory.ts';
import { RecentKeys } from './recent-keys.ts';
import { Registry } from 'prom-client';
import { PollerMetrics } from './metrics.ts';
import { CdrflowError } from '../../core/errors.ts';
import { MAX_JSON_DEPTH, MAX_NATURAL_KEY_BYTES, MAX_RECORD_BYTES } from '../../core/input-limits.ts';
import { ANSWER_TOO_LARGE, answerTooLarge } from './vendor-answer.ts';

/** A source serving fixed pages of parsed records (what the vendor's JSON.parse hands over), keyed by `id`. */
function pagedSource(records: unknown[], pageSize = 4): PullSource {
  return {
    vendor: 'tencent-ccc',
    connector: 'test-poller',
    tenants: ['t1'],
    firstPage: 0,
    pageSize,
    async fetchPage(_tenant, _window, page, size): Promise<SourcePage> {
      return { total: records.length, records: records.slice(page * size, (page + 1) * size), requestId: null };
    },
    naturalKey(record) {
      const id = (record as { id?: unknown } | null)?.id;
      return typeof id === 'string' && id !== '' ? id : undefined;
    },
  };
}

/** Reads the window: complete, or given up loudly; never a call of `calls` missing without an error. */
async function expectNoCallMissingInSilence(source: PullSource, calls: { id: string }[]): Promise<void> {
  const { metrics, sink } = await readObserved(source);
  const missing = calls.filter((c) => !sink.keys().has(c.id)).map((c) => c.id);
  expect(missing.length === 0 || metrics.counts.incompleteWindows === 1, `missing in silence: ${missing.join(', ')}`).toBe(true);
}

/**
 * The pages of a plan that changes past an offset: every page asked at `from` or past it is served, whatever its size,
 * from one order where the record at slot `at` moved to slot `to`; the pages before it in the stored order.
 */
function tieOrderFrom(records: unknown[], from: number, at: number, to: number): PullSource['fetchPage'] {
  const moved = records.slice();
  const [record] = moved.splice(at, 1);
  moved.splice(to, 0, record);
  return async (_tenant, _window, page, size) => ({ total: records.length, records: (page * size >= from ? moved : records).slice(page * size, (page + 1) * size), requestId: null });
}

/** An object nested `depth` levels deep (the record itself is level 1), built without recursion. */
function nested(depth: number, id: string): Record<string, unknown> {
  const root: Record<string, unknown> = { id };
  let at = root;
  for (let level = 2; level <= depth; level++) {
    const next: Record<string, unknown> = {};
    at['below'] = next;
    at = next;
  }
  return root;
}

const WINDOW = { start: 1_700_000_000, end: 1_700_003_600 };

describe('readWindow: the door for polled records', () => {
  const good = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `good-${i}`, n: i }));
  /** Too deep for JSON.stringify's stack (and toEqual's), so the text it is expected to keep is built apart. */
  const abyss = `{"id":"abyss","below":${'{"below":'.repeat(199_998)}{}${'}'.repeat(199_999)}`;
  const strange: [string, unknown, RegExp, string?][] = [
    ['null', null, /not a JSON object \(null\)/],
    ['a number', 42, /not a JSON object \(number\)/],
    ['a string', 'call', /not a JSON object \(string\)/],
    ['an array', [{ id: 'x' }], /not a JSON object \(an array\)/],
    ['an object without its key', { n: 1 }, /without a natural key/],
    ['a key over the limit', { id: 'k'.repeat(MAX_NATURAL_KEY_BYTES + 1) }, new RegExp(`natural key is ${MAX_NATURAL_KEY_BYTES + 1} bytes long`)],
    ['a record over the size limit', { id: 'big', remark: 'x'.repeat(MAX_RECORD_BYTES) }, /record is \d+ bytes \(limit 65536 per record\)/],
    ['a record 2 MB long', { id: 'huge', remark: 'x'.repeat(2_000_000) }, /record is 20000\d\d bytes/],
    [`a record nested ${MAX_JSON_DEPTH + 1} levels`, nested(MAX_JSON_DEPTH + 1, 'deep'), /JSON nested deeper than 16 levels/],
    // Too deep for JSON.stringify's stack: its text is written without recursion (the dead-letter writer cuts it).
    ['a record nested 200,000 levels', JSON.parse(abyss), /JSON nested deeper than 16 levels/, abyss],
  ];

  it.each(strange)('%s: dead-lettered with its reason and its text, every other record of the window published', async (_what, record, reason, text) => {
    const records = [...good(5), record, ...good(11).slice(5)];
    const sink = new MemorySink();
    const result = await readWindow(memoryPollContext(pagedSource(records), sink), 't1', WINDOW);
    expect([...sink.keys()].sort()).toEqual(good(11).map((r) => r.id).sort());
    expect(sink.deadLetters).toHaveLength(1);
    const letter = sink.deadLetters[0]!;
    expect(letter.error_kind).toBe('bad_record');
    expect(letter.error_message).toMatch(reason);
    expect(letter.error_message).toContain('page 1');
    if (text === undefined) expect(JSON.parse(letter.original_value!.toString('utf8'))).toEqual(record);
    else expect(letter.original_value!.toString('utf8')).toBe(text);
    expect(result.records).toBe(11);
  });

  it(`a record exactly at the limits is published: ${MAX_JSON_DEPTH} levels, a ${MAX_NATURAL_KEY_BYTES}-byte key, ${MAX_RECORD_BYTES} bytes`, async () => {
    const key = 'é'.repeat(MAX_NATURAL_KEY_BYTES / 2);
    const atSize = { id: 'sized', remark: '' };
    atSize.remark = 'x'.repeat(MAX_RECORD_BYTES - JSON.stringify(atSize).length);
    expect(Buffer.byteLength(JSON.stringify(atSize))).toBe(MAX_RECORD_BYTES);
    const sink = new MemorySink();
    await readWindow(memoryPollContext(pagedSource([nested(MAX_JSON_DEPTH, 'deepest'), { id: key }, atSize]), sink), 't1', WINDOW);
    expect(sink.deadLetters).toEqual([]);
    expect(sink.keys()).toEqual(new Set(['deepest', key, 'sized']));
  });

  it('a window read again in one go (the total moved) dead-letters each refused record once, also without the live cache', async () => {
    const records: unknown[] = [...good(6), null, { id: 'huge', remark: 'x'.repeat(100_000) }, null];
    const source = pagedSource(records);
    let calls = 0;
    const fetchPage = source.fetchPage.bind(source);
    // Each pass sees another total: the reader reads the window again, up to its pass limit.
    source.fetchPage = async (...args) => ({ ...(await fetchPage(...args)), total: records.length + (calls++ % 2) });
    const sink = new MemorySink();
    await readWindow(memoryPollContext(source, sink, { mode: 'backfill' }), 't1', WINDOW);
    expect(calls).toBeGreaterThan(2);
    // Two identical keyless records: one dead letter with their one content, whatever the number of passes.
    expect(sink.deadLetters.map((l) => l.error_message.replace(/.*: /, ''))).toEqual([
      'not a JSON object (null)',
      `record is ${JSON.stringify(records[7]).length} bytes (limit 65536 per record)`,
    ]);
    expect(sink.envelopes.map((e) => e.natural_key)).toEqual(good(6).map((r) => r.id));
  });

  it('live re-reads dead-letter a refused record once, and publish it once the vendor corrects it', async () => {
    const records: unknown[] = [...good(3), { id: 'huge', remark: 'x'.repeat(100_000) }, nested(40, 'deep'), null];
    const recentKeys = new RecentKeys({ ttlMs: 3_600_000, maxEntries: 100 });
    const sink = new MemorySink();
    const ctx = memoryPollContext(pagedSource(records), sink, { recentKeys });
    await readWindow(ctx, 't1', WINDOW);
    await readWindow(ctx, 't1', WINDOW);
    expect(sink.deadLetters.map((l) => l.error_message.replace(/.*: /, ''))).toEqual([
      `record is ${JSON.stringify(records[3]).length} bytes (limit 65536 per record)`,
      'JSON nested deeper than 16 levels',
      'not a JSON object (null)',
    ]);
    records[3] = { id: 'huge', remark: 'corrected' };
    await readWindow(ctx, 't1', WINDOW);
    expect(sink.deadLetters).toHaveLength(3);
    expect(sink.envelopes.filter((e) => e.natural_key === 'huge').map((e) => e.payload)).toEqual(['{"id":"huge","remark":"corrected"}']);
  });
});

/** readWindow of tenant t1's WINDOW with its log lines, metrics (and their registry) and sink kept for the test. */
async function readObserved(source: Parameters<typeof memoryPollContext>[0]) {
  const logs: { level: string; msg: string; fields: Record<string, unknown> | undefined }[] = [];
  const registry = new Registry();
  const metrics = new PollerMetrics('tencent-ccc', registry, ['t1']);
  const sink = new MemorySink();
  const result = await readWindow(memoryPollContext(source, sink, { metrics, log: (level, msg, fields) => logs.push({ level, msg, fields }) }), 't1', WINDOW);
  return { result, logs, registry, metrics, sink };
}

describe('readWindow: a vendor total that never matches what the pages hold', () => {
  const records = Array.from({ length: 25 }, (_, i) => ({ id: `r-${i}`, n: i }));

  it('after the bounded re-reads the window is given up loudly: an error naming tenant, window, total and records read, and a counter', async () => {
    const source = pagedSource(records, 10);
    const fetchPage = source.fetchPage.bind(source);
    let requests = 0;
    // Full pages, then a short one and an empty one, while the total always claims 10 more than there are.
    source.fetchPage = async (...args) => {
      requests++;
      return { ...(await fetchPage(...args)), total: records.length + 10 };
    };
    const { result, logs, registry, metrics, sink } = await readObserved(source);
    // Bounded: the window resolves (the checkpoint moves on), every record there is was published once.
    expect(result.records).toBe(25);
    expect(sink.envelopes).toHaveLength(25);
    expect(requests).toBeLessThanOrEqual(3 * 4);
    const errors = logs.filter((l) => l.level === 'error');
    expect(errors).toEqual([
      {
        level: 'error',
        msg: 'poller.window_incomplete',
        fields: expect.objectContaining({
          reason: 'total never matched',
          tenant: 't1',
          window_start: new Date(WINDOW.start * 1000).toISOString(),
          window_end: new Date(WINDOW.end * 1000).toISOString(),
          total: 35,
          records: 25,
        }),
      },
    ]);
    expect(metrics.counts.incompleteWindows).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain('cdrflow_poller_windows_incomplete_total{vendor="tencent-ccc",tenant="t1",reason="total_mismatch"} 1');
  });
});

describe('readWindow: a vendor serving more records a page than asked', () => {
  it('is read whole without an error: a page of records already read that leaves none of the total unread is no repeat to report', async () => {
    const records = Array.from({ length: 12 }, (_, i) => ({ id: `r-${i}`, n: i }));
    const source = pagedSource(records, 4);
    // Asked for 4 a page from offset page * 4, it serves 8 from there: page 2 (offset 8) holds only records page 1 served.
    source.fetchPage = async (_tenant, _window, page, size) => ({ total: records.length, records: records.slice(page * size, page * size + 2 * size), requestId: null });
    const { result, logs, metrics, sink } = await readObserved(source);
    expect([...sink.keys()].sort()).toEqual(records.map((r) => r.id).sort());
    expect(result.records).toBe(12);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(metrics.counts.incompleteWindows).toBe(0);
  });
});

describe('readWindow: an empty page before the total is reached', () => {
  const records = Array.from({ length: 20 }, (_, i) => ({ id: `r-${i}`, n: i }));

  it('the pages after it are read and published all the same, and the window is given up loudly if it stays empty', async () => {
    const source = pagedSource(records, 5);
    const fetchPage = source.fetchPage.bind(source);
    // Page 1 of 4 comes back empty on every read under a total of 20.
    source.fetchPage = async (tenant, window, page, size, signal) => (page === 1 ? { total: records.length, records: [], requestId: null } : fetchPage(tenant, window, page, size, signal));
    const { result, logs, metrics, sink } = await readObserved(source);
    const around = records.filter((_, i) => i < 5 || i >= 10).map((r) => r.id);
    expect([...sink.keys()].sort()).toEqual(around.sort());
    expect(result.records).toBe(15);
    expect(logs.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', msg: 'poller.window_incomplete', fields: expect.objectContaining({ reason: 'total never matched', total: 20, records: 15 }) },
    ]);
    expect(metrics.counts.incompleteWindows).toBe(1);
  });
});

describe('readWindow: a total that grows on every request (calls still arriving)', () => {
  it('is no incomplete window once the reads together served as many records as its last total', async () => {
    const source = pagedSource([], 5);
    let requests = 0;
    // Each request finds one call more than the one before, at the end of the window's order.
    source.fetchPage = async (_tenant, _window, page, size) => {
      const records = Array.from({ length: 10 + requests++ }, (_, i) => ({ id: `r-${i}`, n: i }));
      return { total: records.length, records: records.slice(page * size, (page + 1) * size), requestId: null };
    };
    const { result, logs, metrics, sink } = await readObserved(source);
    const last = 10 + requests - 1;
    expect(result.records).toBe(last);
    expect(sink.keys()).toEqual(new Set(Array.from({ length: last }, (_, i) => `r-${i}`)));
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(metrics.counts.incompleteWindows).toBe(0);
  });

  it('a record the pages never served is no complete window when an earlier page of the last read counted it', async () => {
    // 18 calls, 5 a page. On every read page 1 is answered last (a retry), when a 19th call has arrived at slot 12:
    // page 1 counts 19, pages 2 and 3, answered before it, count 18 and hold the old order, so call 19 is on no page.
    // The last page's total (18) matches the records read; the total page 1 gave does not.
    const old = Array.from({ length: 18 }, (_, i) => ({ id: `r-${i}`, n: i }));
    const source = pagedSource(old, 5);
    source.fetchPage = async (_tenant, _window, page, size) => ({
      total: page === 1 ? old.length + 1 : old.length,
      records: old.slice(page * size, (page + 1) * size),
      requestId: null,
    });
    const { result, logs, metrics } = await readObserved(source);
    expect(result.records).toBe(18);
    expect(logs.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', msg: 'poller.window_incomplete', fields: expect.objectContaining({ reason: 'total never matched', totals: [18, 19], records: 18 }) },
    ]);
    expect(metrics.counts.incompleteWindows).toBe(1);
  });
});

describe('readWindow: a page holding more records than its total leaves room for', () => {
  const records = Array.from({ length: 8 }, (_, i) => ({ id: `r-${i}`, n: i }));

  /** Serves `records` 5 a page; the first `stale` answers count only 3 (a count taken before the list, late calls in between). */
  function understating(stale: number) {
    const source = pagedSource(records, 5);
    const fetchPage = source.fetchPage.bind(source);
    let requests = 0;
    source.fetchPage = async (...args) => ({ ...(await fetchPage(...args)), total: requests++ < stale ? 3 : records.length });
    return source;
  }

  it('is read again, and the records past the total it claimed are published', async () => {
    const { result, logs, sink } = await readObserved(understating(1));
    expect([...sink.keys()].sort()).toEqual(records.map((r) => r.id));
    expect(result.records).toBe(8);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('a total that stays below what its pages serve gives the window up loudly, never as complete', async () => {
    const { result, logs, metrics } = await readObserved(understating(Infinity));
    expect(result.records).toBe(5);
    expect(logs.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', msg: 'poller.window_incomplete', fields: expect.objectContaining({ reason: 'total never matched', total: 3, records: 5 }) },
    ]);
    expect(metrics.counts.incompleteWindows).toBe(1);
  });
});

describe('readWindow: a vendor whose pages repeat', () => {
  const page = Array.from({ length: 10 }, (_, i) => ({ id: `same-${i}`, n: i }));

  /** Serves the same full page whatever page is asked for, with `total`; refuses (config) after 200 requests. */
  function repeatingSource(total: number) {
    const source = pagedSource(page, 10);
    const asked = { requests: 0 };
    source.fetchPage = async () => {
      // Without an end of its own the read would go on for ever: the test's own bound, as an error the read reports.
      if (++asked.requests > 200) throw new CdrflowError('config', 'test bound: 200 requests for one window');
      return { total, records: page.map((r) => ({ ...r })), requestId: null };
    };
    return { source, asked };
  }

  it.each([
    ['a total that lies (9e15, a safe integer)', 9e15],
    ['a total of 300', 300],
  ])('%s: a full page of records already read in this window ends its paging, loudly and counted', async (_what, total) => {
    const { source, asked } = repeatingSource(total);
    const { result, logs, registry, metrics, sink } = await readObserved(source);
    expect(result.records).toBe(10);
    expect(sink.envelopes.map((e) => e.natural_key)).toEqual(page.map((r) => r.id));
    // Two reads (the second serves what the first did: no shifted order), each of the first page, the repeat, and
    // what was already asked for ahead of it; under 9e15 (over maxWindowRecords), first the three first pages that
    // show halving the window does not lower its total (the window's, and each half's).
    expect(asked.requests).toBeLessThanOrEqual(2 * 6 + (total > DEFAULT_MAX_WINDOW_RECORDS ? 3 : 0));
    expect(logs.filter((l) => l.level === 'error')).toEqual([
      {
        level: 'error',
        msg: 'poller.window_incomplete',
        fields: expect.objectContaining({
          reason: 'pages repeat',
          tenant: 't1',
          window_start: new Date(WINDOW.start * 1000).toISOString(),
          window_end: new Date(WINDOW.end * 1000).toISOString(),
          total,
          records: 10,
        }),
      },
    ]);
    expect(metrics.counts.incompleteWindows).toBe(1);
    expect(await registry.metrics()).toContain('cdrflow_poller_windows_incomplete_total{vendor="tencent-ccc",tenant="t1",reason="pages_repeat"} 1');
  });
});

describe('readWindow: a vendor clamping page numbers to its last page, which is short', () => {
  // 25 records at 10 a page: pages 0 and 1 full, page 2 holds 5. Any page number past 2 is served page 2 again.
  const records = Array.from({ length: 25 }, (_, i) => ({ id: `c-${i}`, n: i }));

  function clampingSource(total: number) {
    const source = pagedSource(records, 10);
    const asked = { requests: 0 };
    source.fetchPage = async (_tenant, _window, page, size) => {
      // Without an end of its own the read would go on for ever: the test's own bound, as an error the read reports.
      if (++asked.requests > 200) throw new CdrflowError('config', 'test bound: 200 requests for one window');
      const last = Math.ceil(records.length / size) - 1;
      const at = Math.min(page, last);
      return { total, records: records.slice(at * size, (at + 1) * size), requestId: null };
    };
    return { source, asked };
  }

  it('under a total of 9e15, a short page of records already read ends the paging: 3 reads, then given up loudly as pages repeat', async () => {
    const { source, asked } = clampingSource(9e15);
    const { result, logs, metrics, sink } = await readObserved(source);
    expect([...sink.keys()].sort()).toEqual(records.map((r) => r.id).sort());
    expect(result.records).toBe(25);
    // Each read: pages 0..2, the repeat, and what was already asked for ahead of it.
    expect(asked.requests).toBeLessThanOrEqual(3 * 8);
    expect(logs.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', msg: 'poller.window_incomplete', fields: expect.objectContaining({ reason: 'pages repeat', total: 9e15, records: 25 }) },
    ]);
    expect(metrics.counts.incompleteWindows).toBe(1);
  });

  // As the vendor's client hands it over: JSON.parse reads any depth, JSON.stringify overflows on this one.
  const deepKeyless = `${'{"below":'.repeat(199_999)}{}${'}'.repeat(199_999)}`;
  it.each([
    ['a keyless record', '{"n":22}'],
    ['a keyless record nested 200,000 levels deep', deepKeyless],
  ])('under a total of 9e15, a last page holding %s (dead-lettered once, with its text) ends the paging all the same', async (_what, text) => {
    // Found by the campaign (reader-campaign.test.ts, seed 97): a page of records already read counted as a repeat only
    // when every record had a key, so a clamped last page with a keyless one was served again for every page number.
    // One too deep for JSON.stringify was known only by its slot, never as read before, and had no text to keep.
    const rows: unknown[] = [...records.slice(0, 22), JSON.parse(text), ...records.slice(23)];
    const { source, asked } = clampingSource(9e15);
    const fetchPage = source.fetchPage.bind(source);
    source.fetchPage = async (...args) => {
      const page = await fetchPage(...args);
      return { ...page, records: page.records.map((r) => rows[records.indexOf(r as (typeof records)[number])]) };
    };
    const { result, logs, metrics, sink } = await readObserved(source);
    expect(result.records).toBe(24);
    expect(sink.deadLetters.map((l) => l.original_value?.toString('utf8'))).toEqual([text]);
    expect(asked.requests).toBeLessThanOrEqual(3 * 8);
    expect(logs.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', msg: 'poller.window_incomplete', fields: expect.objectContaining({ reason: 'pages repeat', total: 9e15, records: 24 }) },
    ]);
    expect(metrics.counts.incompleteWindows).toBe(1);
  });

  it('under its true total, the short last page ends the window as complete, read once', async () => {
    const { source, asked } = clampingSource(records.length);
    const { result, logs, metrics } = await readObserved(source);
    expect(result.records).toBe(25);
    expect(asked.requests).toBe(3);
    expect(logs.filter((l) => l.level === 'error' || l.msg === 'poller.count_changed_rereading')).toEqual([]);
    expect(metrics.counts.incompleteWindows).toBe(0);
  });
});

describe('readWindow: records of equal start time that the vendor orders differently on each request', () => {
  // Offset pages over a sort with ties: the vendor's order among records of the same second is not fixed, so one
  // request may serve a record at the end of page 0 and the next one serve it again at the start of page 1 while
  // another record of that second is on neither. The total is the same on every page.
  const tied = Array.from({ length: 6 }, (_, i) => ({ id: `tie-${i}`, StartTimestamp: WINDOW.start + 60 }));

  function shufflingSource(orders: number[][]) {
    const source = pagedSource(tied, 3);
    const asked = { requests: 0 };
    source.fetchPage = async (_tenant, _window, page, size) => {
      const order = orders[Math.min(asked.requests++, orders.length - 1)]!;
      return { total: tied.length, records: order.map((i) => tied[i]).slice(page * size, (page + 1) * size), requestId: null };
    };
    return { source, asked };
  }

  it('a record no page served while the total stayed the same is read by reading the window again', async () => {
    // Request 1 (page 0) orders 0..5; request 2 (page 1) puts tie-2 after tie-5, so tie-2 is served twice, tie-5 never.
    const { source } = shufflingSource([
      [0, 1, 2, 3, 4, 5],
      [0, 1, 5, 2, 3, 4],
      [0, 1, 2, 3, 4, 5],
    ]);
    const { result, logs, sink } = await readObserved(source);
    expect([...sink.keys()].sort()).toEqual(tied.map((r) => r.id));
    expect(result.records).toBe(6);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('a shortfall that re-reading never fills gives the window up loudly, as a total that never matched', async () => {
    // Each request orders the records otherwise, and none of the orders serves tie-5 at all: the passes (3, 2, then 1
    // a page, each re-read's boundaries elsewhere) serve different sequences (0,1,2,3,4,1 then 0,1,2,1,4,4 then
    // 0,1,2,3,4 and an empty page), so this is no pair of records sharing a key.
    const { source, asked } = shufflingSource([
      [0, 1, 2, 3, 4, 0],
      [1, 0, 2, 3, 4, 1],
      [0, 1, 2, 3, 4, 2],
      [4, 3, 2, 1, 0, 3],
      [0, 1, 2, 3, 4, 4],
      [0, 1, 2, 3, 4],
    ]);
    const { result, logs, metrics } = await readObserved(source);
    expect(result.records).toBe(5);
    expect(asked.requests).toBeLessThanOrEqual(2 + 3 + 6);
    expect(logs.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', msg: 'poller.window_incomplete', fields: expect.objectContaining({ reason: 'total never matched', total: 6, records: 5 }) },
    ]);
    expect(metrics.counts.incompleteWindows).toBe(1);
  });

  it('a full page of records this read already served, when the order shifted, is read again and not taken for a vendor repeating its pages', async () => {
    // Request 2 (page 1) orders tie-3..5 first, so page 1 serves tie-0..2 again: the whole page is records already read,
    // as a vendor that repeats its pages would serve, yet the next read in the stable order serves tie-3..5.
    const { source } = shufflingSource([
      [0, 1, 2, 3, 4, 5],
      [3, 4, 5, 0, 1, 2],
      [0, 1, 2, 3, 4, 5],
    ]);
    const { result, logs, metrics, sink } = await readObserved(source);
    expect([...sink.keys()].sort()).toEqual(tied.map((r) => r.id));
    expect(result.records).toBe(6);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(metrics.counts.incompleteWindows).toBe(0);
  });

  it('a tie order that depends on the offset asked for, the same on every read, is no pair of rows sharing a key', async () => {
    // A database orders the rows of one second by its plan for each LIMIT/OFFSET: the same on every request for the same
    // offset, another for another. Pages from offset 0 serve tie-0..5 in order, pages from any other offset serve
    // tie-5 third: at 3 a page, page 1 serves tie-2 again and tie-5 never, on every read alike.
    const source = pagedSource(tied, 3);
    source.fetchPage = async (_tenant, _window, page, size) => {
      const order = page === 0 ? [0, 1, 2, 3, 4, 5] : [0, 1, 5, 2, 3, 4];
      return { total: tied.length, records: order.map((i) => tied[i]).slice(page * size, (page + 1) * size), requestId: null };
    };
    const { result, logs, sink } = await readObserved(source);
    expect([...sink.keys()].sort()).toEqual(tied.map((r) => r.id));
    expect(result.records).toBe(6);
    expect(logs.filter((l) => l.msg === 'poller.duplicate_keys')).toEqual([]);
  });

  it('a tie order that depends only on the offset, hiding a record at a page boundary the re-read shares, is given up loudly, not taken for rows sharing a key', async () => {
    // Eight calls; the page that starts at offset 6 is served from an order with tie-6 and tie-5 swapped, so it serves
    // tie-5 again and tie-6 never. At 3 a page and at 2 (the re-read), and at 1, a page starts at 6: every read serves
    // the very same sequence, which would pass for two rows of tie-5 while tie-6 was never read.
    const calls = Array.from({ length: 8 }, (_, i) => ({ id: `tie-${i}` }));
    const source = pagedSource(calls, 3);
    source.fetchPage = async (_tenant, _window, page, size) => {
      const order = page * size === 6 ? [0, 1, 2, 3, 4, 6, 5, 7] : [0, 1, 2, 3, 4, 5, 6, 7];
      return { total: calls.length, records: order.map((i) => calls[i]).slice(page * size, (page + 1) * size), requestId: null };
    };
    const { result, logs, metrics, sink } = await readObserved(source);
    expect(sink.keys().has('tie-6')).toBe(false);
    expect(result.records).toBe(7);
    expect(logs.filter((l) => l.msg === 'poller.duplicate_keys')).toEqual([]);
    expect(metrics.counts.incompleteWindows).toBe(1);
    expect(logs).toContainEqual({ level: 'error', msg: 'poller.window_incomplete', fields: expect.objectContaining({ total: 8, records: 7 }) });
  });

  it.each([
    [1, 12, 5],
    [2, 12, 6],
    [5, 60, 20],
    [10, 200, 90],
    [100, 10_200, 9_900],
  ])('at %i a page, %i calls, a tie order from offset %i on that moves a call of the page before back two or more slots is never finished as complete with a call missing', async (size, count, from) => {
    // A plan that changes past an offset: every page asked from `from` on is served from one order, where the call at
    // slot from - 1 moved back past the page's end, to the first slot of the next page at this size and two slots on at
    // the least. The page before serves it, the page at `from` serves it again and the call at `from` never. A re-read
    // one record smaller has a page start at `from` too (a common multiple of the sizes): the same sequence again, where
    // the later copy comes from a page asked at another offset (from + size, not from + size - 1) yet of the same order.
    const calls = Array.from({ length: count }, (_, i) => ({ id: `tie-${i}` }));
    const source = pagedSource(calls, size);
    source.fetchPage = tieOrderFrom(calls, from, from - 1, from + Math.max(size, 1));
    const { result, metrics, sink } = await readObserved(source);
    const published = sink.keys();
    const missing = calls.filter((c) => !published.has(c.id)).map((c) => c.id);
    // Complete, or given up loudly: never a call missing in silence.
    expect({ missing, incomplete: metrics.counts.incompleteWindows }).toEqual(missing.length === 0 ? { missing, incomplete: 0 } : { missing, incomplete: 1 });
    expect(result.records).toBe(count - missing.length);
  });

  it.each([
    ['a keyless record', { caller: 'keyless' }, 0],
    ['a call the vendor also holds twice, one row far before', { id: 'tie-19' }, 3],
  ])('a tie order from offset 20 on that moves %s back past it is never finished as complete with a call missing', async (_what, movedRecord, heldTwiceAt) => {
    // At 5 a page, then 4 (the re-read): both have a page start at 20. Every page from 20 on is served from one order
    // where the record at slot 19 moved to slot 22: the page before serves it, the page at 20 serves it again and tie-20
    // never, on both reads alike. A keyless copy is the same record by its content; a call held twice has its
    // nearest earlier copy beside the page start, whatever row of it came first.
    const calls: unknown[] = Array.from({ length: 40 }, (_, i) => ({ id: `tie-${i}` }));
    calls[19] = movedRecord;
    if (heldTwiceAt > 0) calls[heldTwiceAt] = movedRecord;
    const source = pagedSource(calls, 5);
    source.fetchPage = tieOrderFrom(calls, 20, 19, 22);
    const { metrics, sink, logs } = await readObserved(source);
    const published = sink.keys();
    const missing = calls.map((c) => (c as { id?: string }).id).filter((id) => id !== undefined && !published.has(id));
    // Complete, or given up loudly (the vendor's own row held twice still counts short): never a call missing in silence.
    expect(missing.length === 0 || metrics.counts.incompleteWindows === 1, `missing in silence: ${missing.join(', ')}`).toBe(true);
    expect(logs.filter((l) => l.msg === 'poller.duplicate_keys')).toEqual([]);
  });

  it('a tie order from offset 270 on that moves a call of the page before more than a page past it is never finished as complete with a call missing', async () => {
    // At 10 a page, then 9: both have a page start at 270. The call at 269 moved 15 slots past it, onto the second page
    // from there: the page before serves it, a page from 270 on serves it again and tie-270 never, on both reads alike.
    const calls = Array.from({ length: 300 }, (_, i) => ({ id: `tie-${i}` }));
    const source = pagedSource(calls, 10);
    source.fetchPage = tieOrderFrom(calls, 270, 269, 285);
    await expectNoCallMissingInSilence(source, calls);
  });

  it('a tie order from an offset between page starts, moving a call from within a page before that offset, is never finished as complete with a call missing', async () => {
    // At 7 a page, then 6: neither has a page start at 80, where the order changes, but both have one at 84, the first
    // from 80 on, and none between 80 and 84. The call at 73, 7 slots before 80 but 11 before 84, moved to 86: the
    // pages before 84 serve it, the page at 84 serves it again and tie-84 never, on both reads alike (campaign seed 604161).
    const calls = Array.from({ length: 120 }, (_, i) => ({ id: `tie-${i}` }));
    const source = pagedSource(calls, 7);
    source.fetchPage = tieOrderFrom(calls, 80, 73, 86);
    await expectNoCallMissingInSilence(source, calls);
  });

  it('a tie order that moves a call of the page before onto the next page start the reads share is never finished as complete with a call missing', async () => {
    // At 4 a page, then 2 (3 is refused as too large): every page start of the first read is one of the re-read's too.
    // From 20 on the call at 18 moved to 24, the first slot of the page after 20: the page before serves it, the page at
    // 24 serves it again and tie-20 never, on both reads alike (campaign seed 620208).
    const calls = Array.from({ length: 40 }, (_, i) => ({ id: `tie-${i}` }));
    const source = pagedSource(calls, 4);
    const tieOrder = tieOrderFrom(calls, 20, 18, 24);
    source.pageTooLarge = (err) => err.code === 'too-large';
    source.fetchPage = async (tenant, window, page, asked, signal) => {
      if (asked === 3) throw new CdrflowError('config', 'page of 3 too large', { code: 'too-large' });
      return tieOrder(tenant, window, page, asked, signal);
    };
    await expectNoCallMissingInSilence(source, calls);
  });

  it('two rows of one key far apart, with a page boundary both reads have between them, cost one re-read and no error', async () => {
    // 200 calls and r-25 held twice, the second row at slot 151, in a stable order. Pages of 10, then 9, both start at
    // 90, between the copies; but neither copy was served by answers asked at the same offset (20 and 18, 150 and 144),
    // so no order that depends on the offset could have moved it alike in both reads: these are rows sharing a key.
    const rows = Array.from({ length: 200 }, (_, i) => ({ id: `r-${i}` }));
    rows.splice(151, 0, { id: 'r-25' });
    const { result, logs, metrics } = await readObserved(pagedSource(rows, 10));
    expect(result.records).toBe(200);
    expect(metrics.counts.incompleteWindows).toBe(0);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(logs).toContainEqual({ level: 'info', msg: 'poller.duplicate_keys', fields: expect.objectContaining({ total: 201, duplicates: 1, passes: 2 }) });
  });

  it('two rows of one key, served in the same order on every request, cost one re-read and no error', async () => {
    // The vendor's data holds tie-2 twice (vendors.md: deduplicate on SessionId / callId): the total counts both
    // rows, the keys are one fewer. Every request serves the same sequence, so re-reading cannot find anything more.
    const { source, asked } = shufflingSource([[0, 1, 2, 2, 3, 4]]);
    const { result, logs, metrics, sink } = await readObserved(source);
    expect([...sink.keys()].sort()).toEqual(['tie-0', 'tie-1', 'tie-2', 'tie-3', 'tie-4']);
    expect(result.records).toBe(5);
    // The read at 3 a page, and the re-read at 2 a page.
    expect(asked.requests).toBe(2 + 3);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(metrics.counts.incompleteWindows).toBe(0);
    expect(logs).toContainEqual({
      level: 'info',
      msg: 'poller.duplicate_keys',
      fields: expect.objectContaining({ tenant: 't1', window_start: new Date(WINDOW.start * 1000).toISOString(), total: 6, duplicates: 1 }),
    });
  });

  it('a keyless record served twice as the order shifted does not stand in for a record no page served', async () => {
    // Request 2 (page 1) puts the keyless record after key c instead of before it: it is served at the end of page 0
    // and again at the start of page 1, and c on neither, under the same total.
    const rows: unknown[] = [{ id: 'a' }, { id: 'b' }, { n: 1 }, { id: 'c' }, { id: 'd' }, { id: 'e' }];
    const shifted = [rows[0], rows[1], rows[3], rows[2], rows[4], rows[5]];
    const source = pagedSource(rows, 3);
    let requests = 0;
    source.fetchPage = async (_tenant, _window, page, size) => ({
      total: rows.length,
      records: (++requests === 2 ? shifted : rows).slice(page * size, (page + 1) * size),
      requestId: null,
    });
    const { result, sink } = await readObserved(source);
    expect([...sink.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(result.records).toBe(5);
    // One record, served twice in one read: one dead letter.
    expect(sink.deadLetters.map((l) => l.original_value?.toString('utf8'))).toEqual(['{"n":1}']);
  });

  it('two reads serving different keyless records at one offset are no same sequence: a call they both hid is never finished as complete', async () => {
    // An order that depends on the offset asked for (a plan per LIMIT/OFFSET). At 3 a page: a, k1, k2, then k1 again
    // at offset 3, x never. The re-read at 2 a page: a, k1, then k1, k2 at offset 2, x never. By key both reads are
    // a, keyless, keyless, keyless, one record short; no page start of theirs is shared between the two copies of k1,
    // so it would pass for rows held twice, while the reads differ at offset 2 (k2, then k1): the order shifted.
    const a = { id: 'a' };
    const x = { id: 'x' };
    const k1 = { caller: 'k1' };
    const k2 = { caller: 'k2' };
    const orders = new Map<number, unknown[]>([
      [2, [a, x, k1, k2]],
      [3, [a, k2, x, k1]],
    ]);
    const source = pagedSource([a, k1, k2, x], 3);
    source.fetchPage = async (_tenant, _window, page, size) => ({
      total: 4,
      records: (orders.get(page * size) ?? [a, k1, k2, x]).slice(page * size, (page + 1) * size),
      requestId: null,
    });
    await expectNoCallMissingInSilence(source, [a, x]);
  });

  it('a keyless record counts as a slot of its own: the same sequence with one keyless row is no shortfall to explain twice', async () => {
    // Six slots: four keys, one of them twice, and a keyless record (dead-lettered once) at the same offset each time.
    const rows: unknown[] = [{ id: 'a' }, { id: 'b' }, { n: 1 }, { id: 'b' }, { id: 'c' }, { id: 'd' }];
    const source = pagedSource(rows, 3);
    let requests = 0;
    const fetchPage = source.fetchPage.bind(source);
    source.fetchPage = async (...args) => {
      requests++;
      return fetchPage(...args);
    };
    const { result, logs, sink } = await readObserved(source);
    expect(result.records).toBe(4);
    expect(sink.deadLetters).toHaveLength(1);
    expect(requests).toBe(2 + 3);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('readWindow: "too large" in the middle of a read, at a page size with no divisor but 1', () => {
  // A vendor under load that starts refusing pages of a size it served a moment ago (CCC's ResponseSizeLimitExceeded),
  // while the pages after the first are already asked for. Page numbers address offsets of the size asked, so a size
  // that does not divide the old one starts its page before the next unread record: that overlap is dropped, not a
  // reason to read the rest of the window one record a request (a rate-limited vendor then takes hours for one window).
  function refusingFrom(count: number, pageSize: number, refuseAbove: number) {
    const records = Array.from({ length: count }, (_, i) => ({ id: `r-${i}`, n: i }));
    const source = pagedSource(records, pageSize);
    const fetchPage = source.fetchPage.bind(source);
    const asked: number[] = [];
    source.pageTooLarge = (err) => err.code === 'ResponseSizeLimitExceeded';
    source.fetchPage = async (...args) => {
      const size = args[3];
      asked.push(size);
      if (asked.length > 1 && size > refuseAbove) throw new CdrflowError('config', 'The response is too large; reduce PageSize.', { code: 'ResponseSizeLimitExceeded' });
      return fetchPage(...args);
    };
    return { records, source, asked };
  }

  it.each([
    [1000, 97, 60, 49],
    [200, 7, 5, 4],
  ])('%i records at %i a page, refused above %i from the second request on: read on at half the size (%i), each record once', async (count, pageSize, refuseAbove, half) => {
    const { records, source, asked } = refusingFrom(count, pageSize, refuseAbove);
    const { result, logs, metrics, sink } = await readObserved(source);
    expect(sink.envelopes.map((e) => e.natural_key).sort()).toEqual(records.map((r) => r.id).sort());
    expect(result.records).toBe(count);
    expect(metrics.counts.incompleteWindows).toBe(0);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(Math.min(...asked)).toBe(half);
    // The pages at half the size, plus the requests refused and those asked for again from their overlap.
    expect(asked.length).toBeLessThanOrEqual(Math.ceil(count / half) + 2 * 5);
  });
});

describe('readWindow: "too large" in the middle of a read, near the end of the window', () => {
  it('asks for no rest of a page past the total, so the window is not read again', async () => {
    // 50 records at 7 a page; from the 6th request on pages above 4 are refused. The page asked for ahead at offset 49
    // (49..55) is read at 4 as page 12 (48..51): its rest from 52 on lies past the total and holds nothing.
    const records = Array.from({ length: 50 }, (_, i) => ({ id: `r-${i}`, n: i }));
    const source = pagedSource(records, 7);
    const fetchPage = source.fetchPage.bind(source);
    const asked: { page: number; size: number }[] = [];
    source.pageTooLarge = (err) => err.code === 'ResponseSizeLimitExceeded';
    source.fetchPage = async (...args) => {
      const [, , page, size] = args;
      asked.push({ page, size });
      if (asked.length >= 6 && size > 4) throw new CdrflowError('config', 'The response is too large; reduce PageSize.', { code: 'ResponseSizeLimitExceeded' });
      return fetchPage(...args);
    };
    const { result, logs, metrics, sink } = await readObserved(source);
    expect(sink.envelopes.map((e) => e.natural_key).sort()).toEqual(records.map((r) => r.id).sort());
    expect(result.records).toBe(50);
    expect(metrics.counts.incompleteWindows).toBe(0);
    expect(logs.filter((l) => l.msg === 'poller.count_changed_rereading')).toEqual([]);
    expect(asked.filter(({ page, size }) => page * size >= records.length)).toEqual([]);
  });
});

describe('readWindow: "too large" in the middle of a read, from a vendor serving more records than asked', () => {
  it('a page whose own slots the page before served as its extras is no repeated page: the window is read once', async () => {
    // 50 records at 7 a page, each page one record longer than asked; from the 3rd request on pages above 2 are
    // refused. A rest of one slot (record 20) is asked for at 2 as page 10 (20..22): the page before served record 20
    // as its extra, so the slot holds only a record read already, while records 21 and 22 after it are new.
    const records = Array.from({ length: 50 }, (_, i) => ({ id: `r-${i}`, n: i }));
    const source = pagedSource(records, 7);
    const asked: { page: number; size: number }[] = [];
    source.pageTooLarge = (err) => err.code === 'ResponseSizeLimitExceeded';
    source.fetchPage = async (_tenant, _window, page, size) => {
      asked.push({ page, size });
      if (asked.length >= 3 && size > 2) throw new CdrflowError('config', 'The response is too large; reduce PageSize.', { code: 'ResponseSizeLimitExceeded' });
      return { total: records.length, records: records.slice(page * size, (page + 1) * size + 1), requestId: null };
    };
    const { result, logs, metrics, sink } = await readObserved(source);
    expect(sink.envelopes.map((e) => e.natural_key).sort()).toEqual(records.map((r) => r.id).sort());
    expect(result.records).toBe(50);
    expect(metrics.counts.incompleteWindows).toBe(0);
    expect(logs.filter((l) => l.msg === 'poller.count_changed_rereading' || l.msg === 'poller.window_incomplete')).toEqual([]);
    // The pages at 2 a page, plus the requests refused and those asked for again from their overlap.
    expect(asked.length).toBeLessThanOrEqual(Math.ceil(records.length / 2) + 2 * 5);
  });
});

describe('readWindow: a record too large to read even alone', () => {
  // A record whose answer is over the limit (answer-too-large) even at a page of one: it can never be read. Failing the window on it stalled the tenant there for good, every cycle, every later call
  // unread (TRTC: until they aged out). It is dead-lettered by what is known of it, and the rest of the window is read.
  it.each([0, 13, 29])('the record at offset %i of 30: the other 29 are published, one dead letter names it, the window ends', async (at) => {
    const records = Array.from({ length: 30 }, (_, i) => ({ id: `r-${i}`, n: i }));
    const source = pagedSource(records, 10);
    const fetchPage = source.fetchPage.bind(source);
    source.pageTooLarge = (err) => err.code === ANSWER_TOO_LARGE;
    source.fetchPage = async (tenant, window, page, size, signal) => {
      if (page * size <= at && at < (page + 1) * size) throw answerTooLarge('a page', 'cut off');
      return fetchPage(tenant, window, page, size, signal);
    };
    const sink = new MemorySink();
    // Attempts enough to halve 10 down to 1 and to ask that one record again (the default budget is 12).
    const result = await readWindow(memoryPollContext(source, sink, { retry: { initialMs: 1, maxMs: 5, maxAttempts: 8 } }), 't1', WINDOW);
    expect(sink.envelopes.map((e) => e.natural_key).sort()).toEqual(records.filter((_r, i) => i !== at).map((r) => r.id).sort());
    expect(sink.deadLetters).toHaveLength(1);
    expect(sink.deadLetters[0]!.error_message).toMatch(/too large to read/);
    expect(result.records).toBe(29);
  });
});

describe('readWindow: received_at, the version ClickHouse keeps the latest of', () => {
  // received_at is the ReplacingMergeTree version of the call's row: it must say when the vendor served that version of
  // the record. Pages are asked for ahead of the one processed, so an answer may wait behind an earlier page's retries;
  // stamped when processed, a version served before a vendor's update outranked the updated one another reader (the
  // live poller beside a backfill) had read in between, and ClickHouse billed the old one.
  it('is the time the page was answered, not the time its answer was processed', async () => {
    const records = Array.from({ length: 12 }, (_, i) => ({ id: `r-${i}` }));
    const source = pagedSource(records);
    const fetchPage = source.fetchPage.bind(source);
    let clock = 1_800_000_000_000;
    const answeredAt = new Map<number, number>();
    let page2Answered!: () => void;
    const page2 = new Promise<void>((resolve) => (page2Answered = resolve));
    let page1Attempts = 0;
    source.fetchPage = async (tenant, window, page, size, signal) => {
      if (page === 1 && page1Attempts++ === 0) throw new CdrflowError('transient', 'vendor busy (simulated)');
      // Page 1's retry answers a minute after page 2 did; page 2's answer waits for it, unprocessed.
      if (page === 1) {
        await page2;
        clock += 60_000;
      }
      const answer = await fetchPage(tenant, window, page, size, signal);
      answeredAt.set(page, clock);
      if (page === 2) page2Answered();
      return answer;
    };
    const sink = new MemorySink();
    await readWindow(memoryPollContext(source, sink, { now: () => clock }), 't1', WINDOW);
    expect(page1Attempts).toBe(2);
    expect(answeredAt.get(2)).toBeLessThan(answeredAt.get(1)!);
    const stamped = new Map(sink.envelopes.map((e) => [e.natural_key, e.received_at.getTime()]));
    expect(stamped.size).toBe(12);
    for (const [key, at] of stamped) expect(at, key).toBe(answeredAt.get(Math.floor(Number(key.slice(2)) / 4)));
  });
});

describe('a window whose start passes the vendor\'s horizon while it is read', () => {
  it('fails as a passing fault, not retried, naming the horizon: the vendor\'s refusal of it (CCC InvalidParameterValue) is no setting to fix', async () => {
    const RETENTION = 180 * 86_400;
    const records = Array.from({ length: 12 }, (_, i) => ({ id: `r-${i}` }));
    const source: PullSource = { ...pagedSource(records), retentionSec: RETENTION, retentionLimit: 'queryable' };
    // The read starts 10 s inside the horizon and each answer takes a minute: from the 6th request on, the start is
    // further back than the vendor serves, and it refuses it as the simulator does.
    let clock = (WINDOW.start + RETENTION - 10) * 1000;
    let asked = 0;
    const fetchPage = source.fetchPage.bind(source);
    source.fetchPage = async (tenant, window, page, size, signal) => {
      asked++;
      clock += 60_000;
      if (window.start < clock / 1000 - RETENTION) throw new CdrflowError('config', 'InvalidParameterValue: StartTimeStamp must be within the last 180 days', { code: 'InvalidParameterValue' });
      return fetchPage(tenant, window, page, size, signal);
    };
    const ctx = memoryPollContext(source, new MemorySink(), { now: () => clock, retry: { initialMs: 1, maxMs: 1, maxAttempts: 8 } });
    const err = await readWindow(ctx, 't1', WINDOW).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CdrflowError);
    expect((err as CdrflowError).kind).toBe('transient');
    expect((err as CdrflowError).message).toMatch(/passed the horizon while it was read: tencent-ccc can be queried only 180 days back/);
    // Not asked again page after page: the same request can only be refused again.
    expect(asked).toBeLessThan(8);
  });
});

describe('readWindow: a rest the vendor asked for (Retry-After) holds every page of the window', () => {
  // The vendor asks the client to rest, not one request: the pages asked for ahead (prefetch) and their retries wait
  // for it too, or they keep asking during the rest, and may be refused again and again.
  it('no request is sent, first or again, before the rest asked on one page ends; every record is read', async () => {
    const REST_MS = 300;
    const records = Array.from({ length: 24 }, (_, i) => ({ id: `r-${i}` }));
    const source = pagedSource(records);
    const fetchPage = source.fetchPage.bind(source);
    const sent: { page: number; at: number }[] = [];
    let restAskedAt: number | undefined;
    const refused = new Set<number>();
    source.fetchPage = async (tenant, window, page, size, signal) => {
      const at = Date.now();
      sent.push({ page, at });
      // Page 1 asks for a rest once; pages 2-4 (asked for ahead with it) are refused once without one.
      if (page >= 1 && page <= 4 && !refused.has(page)) {
        refused.add(page);
        if (page === 1) {
          restAskedAt = at;
          throw new CdrflowError('rate_limited', 'HTTP 429', { code: 'http-429', retryAfterMs: REST_MS });
        }
        throw new CdrflowError('transient', 'HTTP 503', { code: 'http-503' });
      }
      return fetchPage(tenant, window, page, size, signal);
    };
    const sink = new MemorySink();
    // The ctx clock (Date.now) is the one the rest is measured by.
    const result = await readWindow(memoryPollContext(source, sink, { now: Date.now }), 't1', WINDOW);
    expect(result.records).toBe(24);
    expect(restAskedAt).toBeDefined();
    const afterAsked = sent.filter((s) => s.at > restAskedAt!);
    // Pages 1-4 are each asked again, and the rest of the window after them.
    expect(afterAsked.filter((s) => s.page >= 1 && s.page <= 4).length).toBeGreaterThanOrEqual(4);
    for (const s of afterAsked) expect(s.at - restAskedAt!, `page ${s.page}`).toBeGreaterThanOrEqual(REST_MS);
  });
});

describe('readWindow: a stop during a rest the vendor asked for', () => {
  it('ends the read at once, also for the pages held by the rest', async () => {
    const records = Array.from({ length: 24 }, (_, i) => ({ id: `r-${i}` }));
    const source = pagedSource(records);
    const fetchPage = source.fetchPage.bind(source);
    const stop = new AbortController();
    source.fetchPage = async (tenant, window, page, size, signal) => {
      if (page === 1) {
        // Stopped once the rest began (the retry is told of it first).
        setImmediate(() => stop.abort());
        throw new CdrflowError('rate_limited', 'HTTP 429', { code: 'http-429', retryAfterMs: 60_000 });
      }
      return fetchPage(tenant, window, page, size, signal);
    };
    const started = performance.now();
    await expect(readWindow(memoryPollContext(source, new MemorySink(), { signal: stop.signal }), 't1', WINDOW)).rejects.toBeDefined();
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('readWindow: a rest asked for after the clock was set right', () => {
  it('holds the window, though a rest taken while the clock ran ahead is still on record', async () => {
    const REST_MS = 300;
    const records = Array.from({ length: 24 }, (_, i) => ({ id: `r-${i}` }));
    const source = pagedSource(records);
    const fetchPage = source.fetchPage.bind(source);
    // The reader's clock runs an hour ahead until page 1's rest is taken, then is set right.
    let offset = 3_600_000;
    let setRight!: () => void;
    const clockRight = new Promise<void>((resolve) => (setRight = resolve));
    const sent: { page: number; at: number }[] = [];
    let restAskedAt: number | undefined;
    let sentBefore = 0; // the requests sent before page 2 asked for its rest
    const refused = new Set<number>();
    source.fetchPage = async (tenant, window, page, size, signal) => {
      sent.push({ page, at: Date.now() });
      if (page >= 1 && page <= 4 && !refused.has(page)) {
        refused.add(page);
        if (page === 1) {
          setImmediate(() => {
            offset = 0;
            setRight();
          });
          throw new CdrflowError('rate_limited', 'HTTP 429', { code: 'http-429', retryAfterMs: REST_MS });
        }
        // Pages 2-4 answer once the clock is right: page 2 asks for a rest, 3 and 4 are refused without one, and no page
        // is asked for then before that rest ends.
        await clockRight;
        if (page === 2) {
          restAskedAt = Date.now();
          sentBefore = sent.length;
          throw new CdrflowError('rate_limited', 'HTTP 429', { code: 'http-429', retryAfterMs: REST_MS });
        }
        throw new CdrflowError('transient', 'HTTP 503', { code: 'http-503' });
      }
      return fetchPage(tenant, window, page, size, signal);
    };
    const result = await readWindow(memoryPollContext(source, new MemorySink(), { now: () => Date.now() + offset }), 't1', WINDOW);
    expect(result.records).toBe(24);
    expect(restAskedAt).toBeDefined();
    const afterAsked = sent.slice(sentBefore);
    expect(afterAsked.length).toBeGreaterThan(0);
    for (const s of afterAsked) expect(s.at - restAskedAt!, `page ${s.page}`).toBeGreaterThanOrEqual(REST_MS);
  });
});
