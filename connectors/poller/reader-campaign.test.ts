// A seeded campaign against the window reader (readWindow): each case scripts a vendor from its own seed, combining
// what vendors do to an offset-paged window — records arriving while it is read (from the k-th request on, raising
// the total, anywhere in the order), a page size of 1-100 and a served maximum below it, an order among ties that
// shifts between requests or depends on the offset asked for, rows duplicated under one key, keyless records (some
// nested far deeper than JSON.stringify can write, as a vendor's JSON.parse hands them over), records refused at the
// door (dead letters), an order changed from some offset on at every page size, empty pages in the middle, a total that lies (too high, too low, 9e15), page numbers clamped
// to the last page, pages holding a few records more than asked, "too large" at some sizes (from the start, or from the k-th request on at a prime page size, so
// pages in flight are refused in the middle of a read), transient errors — and checks every read against the
// reader's promises (README: "Both pollers (live and backfill) read a window page by page…"):
//  - the read ends, within MAX_PASSES reads of the pages the window needs (a bound derived below), and a hard cap on
//    requests turns a runaway into a failure, never a hang; "too large" at a size halves it, never lower;
//  - every record present from the first request to the last is published (or dead-lettered, if the door refuses it),
//    or the window is given up loudly: poller.window_incomplete logged and counted, the one with the other;
//  - no record is published twice within the read unless the vendor served it changed, and no refused record is
//    dead-lettered twice; nothing is published or dead-lettered that the vendor never served;
//  - a vendor that behaves (stable order, true total, no errors, nothing late, no duplicate rows) costs no error, no
//    re-read, and exactly the pages the window needs; one that behaves but for sizes it refuses as too large costs
//    no re-read either.
// Found: a clamped last page holding a keyless record, under a total of 9e15, never counted as a repeat, so the read
// asked for pages without end (seeds 16, 97, 265, 798, 823; reader.test.ts has it as a plain test). A keyless record
// too deep for JSON.stringify was dead-lettered without its text, and again on each page that served it (seeds 11,
// 102, 110, 112, 277, 383, 479, 959, 991, 995); reader.test.ts has the paging without end it caused as a plain test.
// A page cut short by a shrink in the middle of a read, its slots holding only records the page before served past the
// size asked, was taken for a repeated page and the window read again (seeds 354, 2155, 4539; a plain test too).
// A vendor serving every page from some offset on in one order, whatever the page size, a row of the page before moved
// back past that offset, lost a call in silence where the rule took the copy for rows sharing a key (on the reader
// before the rule on page starts every read shares: seeds 81, 95, 167, 764, 936); where the moved row was keyless, or
// a key the vendor also holds twice further back (seeds 502984, 516136, 519213).
// Where the order changed between page starts, its moved row near a page before the page start the reads shared, or
// moved onto the next one they shared (seeds 604161, 637126; 620208).
// Known and written in README, not a reader defect: an order shuffled per offset asked for can, by chance, serve two
// reads of different page sizes the same sequence, one row twice and its neighbour never, with no page start the reads
// share between them (seed 605440: 8 records, 8 and 7 a page; seed 699610: 6 records, 3 and 2 a page; seed 910419: 10
// records, 9 a page first, one row the vendor holds twice as well; seed 14233287: 48 records, 54 asked and 47 served a
// page, then 46: both reads served r-0…r-43, r-46, r-47, r-46, and r-45 never); paging cannot tell it from a row held twice.
// The campaign's own: a row moved past an offset was drawn within a page of the size asked for, not of the size the
// reads settled on after "too large" from the start, so it came from more than a page before (seeds 659058, 666244);
// likewise after "too large" from the k-th request on, where the copy also landed past the next page start the reads
// shared (seed 734527: 29 a page for the first, then 4 and 3; row 84 moved to 122 from offset 107).
// The same seed scripts the same vendor, so a failure replays: it prints its seed and case, and
// CDRFLOW_FUZZ_READER_ONLY=<seed>[,<seed>] runs just those (CDRFLOW_FUZZ_READER_SEED / _COUNT move the range).
import { describe, expect, it } from 'vitest';
import { HARD_BOUND_FACTOR, readWindow } from './reader.ts';
import { smallerPageSize, type PullSource, type SourcePage } from './source.ts';
import { MemorySink, memoryPollContext } from './fixtures/memory.ts';
import { PollerMetrics } from './metrics.ts';
import { RecentKeys } from './recent-keys.ts';
import { CdrflowError } from '../../core/errors.ts';
import { TokenBucket } from '../../core/token-bucket.ts';
import { MAX_NATURAL_KEY_BYTES, MAX_RECORD_BYTES } from '../../core/input-limits.ts';
import { Rng, seededRandom } from '../../simulators/kit.ts';
import { campaignSeeds } from '../../test/fuzz/seeds.ts';

const { seeds: SEEDS, replaying: REPLAYING, timeoutMs } = campaignSeeds('READER', 1000);

/** The reader's own limits (reader.ts), which the bound on requests is derived from. */
const MAX_PASSES = 3;
const PREFETCH_PAGES = 4;
/** Attempts the read makes per page: "too large" halves a size of 100 seven times, and up to 2 transient failures in a row at each size. */
const MAX_ATTEMPTS = 40;
/** Requests after which the vendor refuses for good (a non-retryable error): a read that gets there ran away. */
const HARD_CAP = 20_000;
/** The reader's (reader.ts): a window over maxWindowRecords asks for its own first page and each half's before it reads whole. */
const HALVING_PROBES = 3;
/** A read not settled by then hangs (the vendor answers at once, retries wait 0 ms). */
const HANG_MS = 10_000;
const WINDOW = { start: 1_700_000_000, end: 1_700_003_600 };
const TOO_LARGE = 'ResponseSizeLimitExceeded';

type Order = 'stable' | 'per-request' | 'per-offset' | 'from-offset';
type TotalLie = 'true' | 'high' | 'low' | 'huge' | 'flaky';

interface Row {
  record: unknown;
  /** The first request (1-based) that sees it: 1 is there from the start. */
  from: number;
  /** Refused at the door: dead-lettered, not published. */
  refused: boolean;
}

interface Case {
  seed: number;
  n: number;
  rows: Row[];
  pageSize: number;
  firstPage: number;
  servedMax: number;
  /** Records served past the size asked for, on every page (0: none), when no served maximum is drawn. */
  extra: number;
  order: Order;
  /** Chance an adjacent pair of ties swaps places, per request (per-request) or per offset (per-offset). */
  swap: number;
  /**
   * from-offset: every page asked for at offset `at` or past it is served from one order, whatever its size (a plan
   * that changes past an offset), where the row at `slot` (on the page before) moved to `to`, at `at` or past it.
   */
  tieFrom: { at: number; slot: number; to: number } | undefined;
  total: TotalLie;
  lie: number;
  clamp: boolean;
  /** Chance a page other than the first and the last comes back empty. */
  empty: number;
  /** Sizes answered "too large", from request `tooLargeFrom` on (1: from the start). */
  tooLarge: Set<number>;
  tooLargeFrom: number;
  /** Chance an attempt fails transiently (never more than 2 in a row for one page and size). */
  transient: number;
  duplicates: number;
  late: number;
  mode: 'backfill' | 'live';
  /** The reader's maxWindowRecords, when drawn (undefined: the default, above every case's records). */
  maxWindowRecords: number | undefined;
}

/**
 * The text of each record too deep for JSON.stringify, built apart from the code under test: what its dead letter keeps
 * and what the vendor served. Any other record's text is JSON.stringify's.
 */
const deepTexts = new WeakMap<object, string>();
const textOf = (record: unknown): string => (typeof record === 'object' && record !== null ? deepTexts.get(record) : undefined) ?? JSON.stringify(record);

/** A keyless record nested `depth` levels deep, parsed from its text as a vendor's client does. */
function deepKeyless(i: number, depth: number): unknown {
  const text = `{"n":${i},"below":${'{"below":'.repeat(depth - 2)}{}${'}'.repeat(depth - 1)}`;
  const record = JSON.parse(text) as object;
  deepTexts.set(record, text);
  return record;
}

function describeCase(c: Case): string {
  const keyless = c.rows.filter((r) => (r.record as { id?: unknown } | null)?.id === undefined).length;
  const deep = new Set(c.rows.filter((r) => typeof r.record === 'object' && r.record !== null && deepTexts.has(r.record)).map((r) => r.record)).size;
  const refused = c.rows.filter((r) => r.refused).length;
  return [
    `seed ${c.seed}: ${c.n} records (${c.late} late, ${c.duplicates} duplicate rows, ${refused} refused at the door, ${keyless} of them keyless, ${deep} of those too deep for JSON.stringify)`,
    `page ${c.pageSize} from page ${c.firstPage}, served at most ${c.servedMax}${c.extra > 0 ? `, ${c.extra} more a page than asked` : ''}`,
    `order ${c.order}${c.tieFrom !== undefined ? ` (from ${c.tieFrom.at}, row ${c.tieFrom.slot} moved to ${c.tieFrom.to})` : c.order === 'stable' ? '' : ` (swap ${c.swap.toFixed(2)})`}`,
    `total ${c.total}${c.total === 'high' || c.total === 'low' ? ` by ${c.lie}` : ''}`,
    c.clamp ? 'pages clamped' : 'pages not clamped',
    `empty ${c.empty.toFixed(2)}`,
    `maxWindowRecords ${c.maxWindowRecords ?? 'default'}`,
    `too large at [${[...c.tooLarge].sort((a, b) => a - b).join(',')}] from request ${c.tooLargeFrom}`,
    `transient ${c.transient.toFixed(2)}`,
    c.mode,
  ].join('; ');
}

function planCase(seed: number): Case {
  const r = new Rng(seededRandom(seed));
  const n = r.weighted<[number, number]>([
    [[0, 0], 1],
    [[1, 12], 4],
    [[13, 60], 5],
    [[61, 300], 4],
  ]);
  const count = r.int(n[0], n[1]);
  const keylessChance = r.pick([0, 0, 0.03, 0.1]);
  const refusedChance = r.pick([0, 0, 0.03, 0.08]);
  const sameKeyless = r.chance(0.2);
  let big = 0;
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    if (r.chance(keylessChance)) {
      // Keyless: dead-lettered. Some of them identical (two rows of one content are one record to the reader).
      const record = sameKeyless && r.chance(0.5) ? r.pick([null, { caller: 'same' }]) : { n: i, caller: `k-${i}` };
      rows.push({ record, from: 1, refused: true });
    } else if (r.chance(refusedChance)) {
      const kind = big < 2 ? r.int(0, 1) : 0;
      if (kind === 1) big++;
      const record = kind === 0 ? { id: `${'k'.repeat(MAX_NATURAL_KEY_BYTES)}-${i}`, n: i } : { id: `big-${i}`, remark: 'x'.repeat(MAX_RECORD_BYTES) };
      rows.push({ record, from: 1, refused: true });
    } else rows.push({ record: { id: `r-${i}`, n: i }, from: 1, refused: false });
  }
  // Now and then a keyless record becomes one nested 20,000 or 200,000 levels deep: drawn from a generator of its own,
  // so every other choice of the seed stays what it was (the seeds named above still script the same vendors).
  const d = new Rng(seededRandom(seed ^ 0xdee9));
  if (d.chance(0.06)) {
    const keyless = rows.filter((row) => keyOf(row.record) === undefined);
    if (keyless.length > 0) {
      const row = d.pick(keyless);
      row.record = deepKeyless(rows.indexOf(row), d.pick([20_000, 200_000]));
    }
  }
  // Rows the vendor holds twice under one key, the copy beside or away from the first, same content or changed.
  let duplicates = 0;
  if (count > 0 && r.chance(0.2)) {
    duplicates = r.int(1, Math.max(1, Math.floor(count / 10)));
    for (let d = 0; d < duplicates; d++) {
      const of = rows[r.int(0, rows.length - 1)]!;
      const copy = of.refused ? of.record : r.chance(0.5) ? of.record : { ...(of.record as object), changed: d };
      rows.splice(r.int(0, rows.length), 0, { record: copy, from: 1, refused: of.refused });
    }
  }
  // Calls arriving while the window is read: visible from the k-th request on, anywhere in the order.
  let late = 0;
  if (r.chance(0.25)) {
    late = r.int(1, 10);
    for (let l = 0; l < late; l++) rows.splice(r.int(0, rows.length), 0, { record: { id: `late-${l}`, n: 1000 + l }, from: r.int(2, 30), refused: false });
  }
  const pageSize = r.int(1, 100);
  const servedMax = r.chance(0.2) ? r.int(1, pageSize) : pageSize;
  const order = r.weighted<Order>([
    ['stable', 5],
    ['per-request', 2],
    ['per-offset', 2],
  ]);
  const total = r.weighted<TotalLie>([
    ['true', 6],
    ['high', 1],
    ['low', 1],
    ['huge', 1],
    ['flaky', 1],
  ]);
  const tooLarge = new Set<number>();
  if (r.chance(0.2)) {
    const above = r.int(1, 100);
    for (let s = above + 1; s <= 100; s++) tooLarge.add(s);
  } else if (r.chance(0.15)) for (let s = 2; s <= 100; s++) if (r.chance(0.3)) tooLarge.add(s);
  // Now and then a vendor under load refuses, from the k-th request on, sizes it served before, at a prime page size
  // (no divisor but 1): pages asked for ahead are refused in the middle of the read. Drawn from a generator of its own,
  // so every other case stays the vendor it was.
  const m = new Rng(seededRandom(seed ^ 0x7a11));
  let tooLargeFrom = 1;
  let size = pageSize;
  if (m.chance(0.1)) {
    size = m.pick([3, 5, 7, 11, 13, 29, 31, 53, 61, 89, 97]);
    tooLargeFrom = m.int(2, 6);
    tooLarge.clear();
    const above = m.int(1, size - 1);
    for (let s = above + 1; s <= 100; s++) tooLarge.add(s);
  }
  // Now and then a vendor orders every page asked for from some offset on alike, whatever the page size, with a row of
  // the page before moved back past that offset: the page before serves it, a page from that offset on serves it again
  // and the row it displaced never, at every size whose page boundary falls there. The offset is a multiple of s·(s−1)
  // (the re-read one record smaller has a boundary there too), of s, or any; the page size is sometimes drawn small so
  // that such a multiple fits. From a generator of its own, so every other case stays the vendor it was.
  const f = new Rng(seededRandom(seed ^ 0xf0ff));
  let tieFrom: Case['tieFrom'];
  if (f.chance(0.1) && rows.length >= 2) {
    if (f.chance(0.7)) size = f.int(1, 12);
    // The moved row is drawn within a page of the size the reads serve: one refused as too large is halved first, from
    // the start or from the k-th request on (the pages after the first few and every re-read are then at the halved
    // size), and a row from further back is an order README says paging cannot tell (seeds 659058, 666244; 734527).
    let settled = size;
    while (tooLarge.has(settled)) settled = smallerPageSize(settled) ?? 1;
    const s = Math.min(settled, servedMax);
    const step = f.weighted<number>([
      [Math.max(1, s * (s - 1)), 3],
      [s, 1],
      [1, 1],
    ]);
    const multiples = Math.floor((rows.length - 1) / step);
    const at = multiples > 0 ? step * f.int(1, multiples) : f.int(1, rows.length - 1);
    const slot = f.int(Math.max(0, at - s), at - 1);
    // At s − 1 or s slots past the offset the copy sits on the next page of the re-read one record smaller.
    const distance = f.chance(0.5) ? f.int(0, s) : f.pick([s - 1, s]);
    tieFrom = { at, slot, to: Math.min(rows.length - 1, at + distance) };
  }
  // Now and then a vendor serves a few records more a page than asked (the page holds records of the next), more often
  // together with those refusals: the rest of a page cut short by them may hold only records the page before served
  // past its size. From a generator of its own, so every other case stays the vendor it was.
  const x = new Rng(seededRandom(seed ^ 0xe8a7));
  const extra = servedMax >= size && x.chance(tooLargeFrom > 1 ? 0.5 : 0.1) ? x.pick([1, 1, 2, 3]) : 0;
  // A limit on one window's records: over it the reader asks for each half's first page, and this vendor, which serves
  // every span alike, says the same total there: the window is read whole with a warning, up to 20 times the limit
  // (at least 100, a whole page, as the setting's minimum). Its own generator too. Not under a flaky total: halving
  // assumes a vendor that filters on time, and this one does not, so a half answered a lower total at random is
  // halved, and each part serves the whole window again (published once per part).
  const w = new Rng(seededRandom(seed ^ 0x3c5d));
  const maxWindowRecords = total !== 'flaky' && w.chance(0.3) ? w.int(5, Math.max(5, count)) : undefined;
  return {
    seed,
    n: count,
    rows,
    pageSize: size,
    firstPage: r.int(0, 1),
    servedMax,
    extra,
    order: tieFrom === undefined ? order : 'from-offset',
    swap: r.pick([0.02, 0.1, 0.3]),
    tieFrom,
    total,
    lie: r.int(1, 20),
    clamp: r.chance(0.3),
    empty: r.chance(0.15) ? r.pick([0.05, 0.2, 0.5]) : 0,
    tooLarge,
    tooLargeFrom,
    transient: r.chance(0.2) ? r.pick([0.05, 0.15, 0.3]) : 0,
    duplicates,
    late,
    mode: r.chance(0.3) ? 'live' : 'backfill',
    maxWindowRecords,
  };
}

/**
 * Whether the case's vendor is honest but for the page sizes it refuses as too large: a read that halves the size, at
 * the start or in the middle, reads on at the smaller one and never reads the window again.
 */
function honest(c: Case): boolean {
  const contents = c.rows.map((row) => textOf(row.record));
  const keys = c.rows.map((row) => (row.record as { id?: unknown } | null)?.id).filter((k) => k !== undefined);
  return (
    c.late === 0 &&
    c.order === 'stable' &&
    c.total === 'true' &&
    c.empty === 0 &&
    c.transient === 0 &&
    new Set(contents).size === contents.length &&
    new Set(keys).size === keys.length
  );
}

/** Whether the case's vendor behaves: what the README promises a read with no error, no re-read, the pages needed. */
function behaves(c: Case): boolean {
  return honest(c) && !c.tooLarge.has(c.pageSize) && !c.tooLarge.has(Math.min(c.pageSize, c.servedMax));
}

const keyOf = (record: unknown): string | undefined => {
  const id = (record as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
};

/** Swaps adjacent rows with chance `p`, from a generator of its own seed: the vendor's order among ties. */
function shuffleTies(rows: Row[], p: number, seed: number): Row[] {
  const r = new Rng(seededRandom(seed));
  const out = rows.slice();
  for (let i = 0; i + 1 < out.length; i++) if (r.chance(p)) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
  return out;
}

/** The rows with the one at `from` moved to index `to`. */
function moveRow(rows: Row[], from: number, to: number): Row[] {
  const out = rows.slice();
  const [row] = out.splice(from, 1);
  if (row !== undefined) out.splice(to, 0, row);
  return out;
}

interface Vendor {
  source: PullSource;
  /** Successful answers and every attempt. */
  answers: number;
  attempts: number;
  smallestSize: number;
  /** Sizes answered "too large", and the fewest records a first page served short of the size asked. */
  refused: Set<number>;
  shortestFirst: number;
  mostRows: number;
  /** Contents served under each key, and every content served. */
  servedByKey: Map<string, Set<string>>;
  served: Set<string>;
  /** Rows that some answer placed at or past the total it announced: that count said they were not there. */
  uncounted: Set<Row>;
  /** Some answer's total was below the rows the vendor held. */
  undercounted: boolean;
  capped: boolean;
}

function scriptedVendor(c: Case): Vendor {
  const r = new Rng(seededRandom(c.seed ^ 0x5eed));
  const failuresInARow = new Map<string, number>();
  const v: Vendor = {
    answers: 0,
    attempts: 0,
    smallestSize: Infinity,
    refused: new Set(),
    shortestFirst: Infinity,
    mostRows: 0,
    servedByKey: new Map(),
    served: new Set(),
    uncounted: new Set(),
    undercounted: false,
    capped: false,
    source: {
      vendor: 'tencent-ccc',
      connector: 'campaign-poller',
      tenants: ['t1'],
      firstPage: c.firstPage,
      pageSize: c.pageSize,
      async fetchPage(_tenant, _window, page, size): Promise<SourcePage> {
        const attempt = ++v.attempts;
        if (attempt > HARD_CAP) {
          v.capped = true;
          throw new CdrflowError('bug', `campaign hard cap: ${HARD_CAP} requests for one window`);
        }
        const at = `${page}/${size}`;
        if (attempt >= c.tooLargeFrom && c.tooLarge.has(size)) {
          v.refused.add(size);
          throw new CdrflowError('config', `page of ${size} too large`, { code: TOO_LARGE });
        }
        if (r.chance(c.transient) && (failuresInARow.get(at) ?? 0) < 2) {
          failuresInARow.set(at, (failuresInARow.get(at) ?? 0) + 1);
          throw new CdrflowError('transient', 'simulated 503', { code: '503' });
        }
        failuresInARow.delete(at);
        const request = ++v.answers;
        v.smallestSize = Math.min(v.smallestSize, size);
        const index = page - c.firstPage;
        let rows = c.rows.filter((row) => row.from <= request);
        v.mostRows = Math.max(v.mostRows, rows.length);
        if (c.order === 'per-request') rows = shuffleTies(rows, c.swap, c.seed * 7919 + request);
        else if (c.order === 'per-offset') rows = shuffleTies(rows, c.swap, c.seed * 7919 + index * size);
        else if (c.tieFrom !== undefined && index * size >= c.tieFrom.at) rows = moveRow(rows, c.tieFrom.slot, c.tieFrom.to);
        const last = Math.max(0, Math.ceil(rows.length / size) - 1);
        const p = c.clamp ? Math.min(index, last) : index;
        let records = rows.slice(p * size, p * size + Math.min(size, c.servedMax) + c.extra).map((row) => row.record);
        if (p > 0 && p < last && r.chance(c.empty)) records = [];
        if (index === 0 && records.length > 0 && records.length < size) v.shortestFirst = Math.min(v.shortestFirst, records.length);
        const truth = rows.length;
        const total =
          c.total === 'true'
            ? truth
            : c.total === 'high'
              ? truth + c.lie
              : c.total === 'low'
                ? Math.max(0, truth - c.lie)
                : c.total === 'huge'
                  ? 9e15
                  : truth + r.int(-1, 1);
        if (total < rows.length) v.undercounted = true;
        for (let i = Math.max(0, total); i < rows.length; i++) v.uncounted.add(rows[i]!);
        for (const record of records) {
          const text = textOf(record);
          v.served.add(text);
          const key = keyOf(record);
          if (key !== undefined) v.servedByKey.set(key, (v.servedByKey.get(key) ?? new Set()).add(text));
        }
        return { total: Math.max(0, total), records, requestId: null };
      },
      naturalKey: keyOf,
      pageTooLarge: (err) => err.code === TOO_LARGE,
    },
  };
  return v;
}

type Logged = { level: string; msg: string; fields: Record<string, unknown> | undefined };

async function runCase(c: Case): Promise<{ problems: string[]; givenUp: boolean; verifiable: boolean }> {
  const vendor = scriptedVendor(c);
  const sink = new MemorySink();
  const metrics = new PollerMetrics('campaign-poller');
  const logs: Logged[] = [];
  const ctx = memoryPollContext(vendor.source, sink, {
    metrics,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
    // Never waits: the campaign runs at the speed of the reader, and the same seed makes the same requests.
    bucket: new TokenBucket({ ratePerSecond: 1, capacity: Infinity, now: () => 0 }),
    retry: { initialMs: 0, maxMs: 0, maxAttempts: MAX_ATTEMPTS },
    mode: c.mode,
    recentKeys: c.mode === 'live' ? new RecentKeys({ ttlMs: 3_600_000, maxEntries: 10_000 }) : undefined,
    maxWindowRecords: c.maxWindowRecords,
  });
  const problems: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    readWindow(ctx, 't1', WINDOW).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    ),
    new Promise<{ hang: true }>((resolve) => {
      timer = setTimeout(() => resolve({ hang: true }), HANG_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  const failed = (problem: string) => ({ problems: [problem], givenUp: false, verifiable: false });
  if ('hang' in outcome) return failed(`the read did not end within ${HANG_MS} ms (${vendor.attempts} requests)`);
  if (vendor.capped) return failed(`the read ran away: ${HARD_CAP} requests`);
  if ('error' in outcome) return failed(`the read failed: ${String(outcome.error)}`);
  const { result } = outcome;

  // Bounded: each read covers each record slot of the window once, at the smallest size asked for at worst, plus what
  // it asks for ahead of the page that ends it (an empty page, a repeat, the last one) and that page itself; and each
  // shrink costs each page then asked for (those ahead, and the rest of one cut short) a page from before its first
  // unread record and one for the rest of it.
  // Under a limit drawn, the first pages of the window and of its two halves, which tell that halving lowers nothing.
  const bound = MAX_PASSES * (Math.ceil(vendor.mostRows / vendor.smallestSize) + PREFETCH_PAGES + 2) + vendor.refused.size * 2 * (PREFETCH_PAGES + 1) + (c.maxWindowRecords === undefined ? 0 : HALVING_PROBES);
  if (vendor.answers > bound) problems.push(`${vendor.answers} pages answered, above the bound ${bound}`);
  // And the smallest size is no smaller than it must be: the configured one, half of one refused, or one a first page
  // served short of the size asked (the vendor's real maximum), less the two re-reads one record smaller.
  const floor = Math.max(1, Math.min(c.pageSize, Math.ceil(Math.min(...vendor.refused) / 2), vendor.shortestFirst) - 2);
  if (vendor.smallestSize < floor) problems.push(`pages of ${vendor.smallestSize} asked for, below ${floor} (refused at [${[...vendor.refused].sort((a, b) => a - b).join(',')}])`);

  const incompleteLogs = logs.filter((l) => l.msg === 'poller.window_incomplete');
  const givenUp = metrics.counts.incompleteWindows > 0;
  if (incompleteLogs.length !== metrics.counts.incompleteWindows || incompleteLogs.some((l) => l.level !== 'error') || metrics.counts.incompleteWindows > 1)
    problems.push(`poller.window_incomplete logged ${incompleteLogs.length} time(s), counted ${metrics.counts.incompleteWindows}`);

  const published = new Map<string, string[]>();
  for (const e of sink.envelopes) published.set(e.natural_key, [...(published.get(e.natural_key) ?? []), e.payload]);
  for (const [key, payloads] of published) {
    const served = vendor.servedByKey.get(key);
    if (served === undefined || payloads.some((p) => !served.has(p))) problems.push(`${key} published with a content the vendor never served`);
    else if (payloads.length > served.size) problems.push(`${key} published ${payloads.length} times, served in ${served.size} content(s)`);
  }
  const lettered = new Map<string, number>();
  for (const l of sink.deadLetters) {
    const text = l.original_value?.toString('utf8') ?? '(no text)';
    lettered.set(text, (lettered.get(text) ?? 0) + 1);
  }
  for (const [text, times] of lettered) {
    if (!vendor.served.has(text)) problems.push(`dead letter for a record the vendor never served: ${text.slice(0, 80)}`);
    if (times > 1) problems.push(`${text.slice(0, 80)} dead-lettered ${times} times`);
  }

  // A total below what the vendor holds, with pages that agree with it, is a window of that many records to any
  // reader: the rows some answer's count left out are not required, the rest are. Under an order that shifts too, not
  // even those: a row served past the count at one request stands for one within it at another, and the answers are
  // those of an honest vendor without the row missed (seed 2826: 14 distinct keys a read, a 15th from the read before).
  const verifiable = !(vendor.undercounted && c.order !== 'stable');
  if (!givenUp && verifiable) {
    const present = c.rows.filter((row) => row.from === 1 && !vendor.uncounted.has(row));
    const missing = present.filter((row) => !row.refused && !published.has(keyOf(row.record)!)).map((row) => keyOf(row.record)!);
    const unlettered = present.filter((row) => row.refused && !lettered.has(textOf(row.record))).map((row) => textOf(row.record).slice(0, 60));
    if (missing.length > 0) problems.push(`finished without poller.window_incomplete, never published: ${[...new Set(missing)].join(', ')}`);
    if (unlettered.length > 0) problems.push(`finished without poller.window_incomplete, never dead-lettered: ${[...new Set(unlettered)].join(', ')}`);
  }
  if (result.records !== published.size) problems.push(`result.records ${result.records}, published keys ${published.size}`);

  // Over 20 times the limit (HARD_BOUND_FACTOR) the read stops, loudly: no longer the vendor's doing. The bound is on
  // the rows the vendor's total counts, a key's second row too: no slot past it is read, so a row there held twice
  // cannot be told from a fresh record (seed 14203356: 99 records and 7 duplicate rows, a true total of 106 over 100).
  const hardBound = c.maxWindowRecords === undefined ? Infinity : HARD_BOUND_FACTOR * c.maxWindowRecords;
  const stopped = logs.filter((l) => l.msg === 'poller.window_incomplete' && l.fields?.['reason'] === 'too many records');
  if (stopped.length > 0 && c.rows.length <= hardBound && c.total !== 'huge' && c.total !== 'high') problems.push(`stopped as too many records with ${c.rows.length} rows, under the bound ${hardBound}`);
  if (honest(c) && c.n <= hardBound) {
    const rereads = logs.filter((l) => l.msg === 'poller.count_changed_rereading' || l.msg === 'poller.window_incomplete' || l.msg === 'poller.duplicate_keys');
    if (rereads.length > 0) problems.push(`a vendor honest but for sizes too large, yet: ${rereads.map((l) => l.msg).join(', ')}`);
  }
  if (behaves(c) && c.n <= hardBound) {
    /** Over the limit: the window's first page and its halves' (the vendor serves every span alike), then one warning. */
    const over = c.maxWindowRecords !== undefined && c.n > c.maxWindowRecords;
    const needed = (c.n === 0 ? 1 : Math.ceil(c.n / Math.min(c.pageSize, c.servedMax))) + (over ? HALVING_PROBES : 0);
    const dense = logs.filter((l) => l.msg === 'poller.window_dense');
    if (dense.length !== (over ? 1 : 0)) problems.push(`poller.window_dense logged ${dense.length} time(s), ${over ? 'once' : 'never'} expected`);
    const noisy = logs.filter((l) => l.level === 'error' || (l.level === 'warn' && l.msg !== 'poller.window_dense') || l.msg === 'poller.count_changed_rereading' || l.msg === 'poller.duplicate_keys');
    if (noisy.length > 0) problems.push(`a vendor that behaves, yet: ${noisy.map((l) => l.msg).join(', ')}`);
    // A vendor serving more than asked (extras) can end the window a page or more early: the reader counts what it
    // served. Then no more than the pages asked for, and no fewer than its whole answers cover.
    const fewest = c.n === 0 ? 1 : Math.ceil(c.n / (Math.min(c.pageSize, c.servedMax) + c.extra));
    const off = (count: number, probes: number) => (c.extra === 0 ? count !== needed - probes : count > needed - probes || count < fewest);
    if (off(vendor.answers, 0) || off(result.pages, over ? HALVING_PROBES : 0)) problems.push(`a vendor that behaves: ${vendor.answers} requests and ${result.pages} pages, ${needed} needed${c.extra === 0 ? '' : ` (at least ${fewest}: ${c.extra} extra a page)`}`);
  }
  return { problems, givenUp, verifiable };
}

describe('readWindow: a seeded campaign of scripted vendors', () => {
  it(`${SEEDS.length} cases (seeds ${SEEDS[0]}..${SEEDS.at(-1)}): ends bounded, complete or given up loudly, nothing twice, the pages needed when the vendor behaves`, async () => {
    const failures: string[] = [];
    let behaving = 0;
    let givenUp = 0;
    let complete = 0;
    for (const seed of SEEDS) {
      const c = planCase(seed);
      if (behaves(c)) behaving++;
      const outcome = await runCase(c);
      if (outcome.givenUp) givenUp++;
      else if (outcome.verifiable) complete++;
      if (outcome.problems.length > 0) failures.push(`${describeCase(c)}\n    ${outcome.problems.join('\n    ')}`);
    }
    // Failing cases before the coverage minimums: a minimum missed by chance in a sweep must not hide them.
    expect(failures.length, `${failures.length} failing case(s); replay with CDRFLOW_FUZZ_READER_ONLY=<seed>\n  ${failures.slice(0, 15).join('\n  ')}`).toBe(0);
    // Each side of the oracle is exercised: vendors that behave, windows checked complete, windows given up loudly.
    if (!REPLAYING) {
      // About a tenth of the planned vendors behave in all (9.9% of seeds 330000-344999): a twentieth is a floor that
      // says the side is exercised, not one a sweep misses by chance.
      expect(behaving).toBeGreaterThan(SEEDS.length / 20);
      expect(complete).toBeGreaterThan(SEEDS.length / 2);
      expect(givenUp).toBeGreaterThan(SEEDS.length / 20);
    }
    // 120 s for the default count: about 6 s on a quiet machine, up to 47 s seen beside other test runs on 2 cores.
  }, timeoutMs(120_000));
});
