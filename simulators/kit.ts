// Pieces both pull-vendor simulators share: a seeded PRNG (datasets are reproducible from a seed), a fault
// switchboard driven by tests and the demo, request statistics, small HTTP helpers, a dataset base (sorted records,
// late visibility, live generation) and the server scaffold (loopback http server, demo history and live traffic).
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The largest seed: seededRandom keeps 32 bits of it (2^32 would draw what 0 draws). */
export const MAX_SEED = 2 ** 32 - 1;

/** mulberry32: tiny, fast, good enough for test data; the same seed always yields the same dataset. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  constructor(readonly next: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** Weighted pick: entries are [value, weight]. */
  weighted<T>(entries: readonly (readonly [T, number])[]): T {
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [v, w] of entries) {
      r -= w;
      if (r < 0) return v;
    }
    return entries[entries.length - 1]![0];
  }
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(this.next() * 16).toString(16);
    return s;
  }
  uuid(): string {
    return `${this.hex(8)}-${this.hex(4)}-4${this.hex(3)}-${'89ab'[this.int(0, 3)]}${this.hex(3)}-${this.hex(12)}`;
  }
  digits(n: number): string {
    let s = String(this.int(1, 9));
    for (let i = 1; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
}

/** A fault queued for the next N requests. */
export type QueuedFault =
  | { type: 'http'; status: number }
  | { type: 'vendor-error'; code: string | number; message: string }
  /** Accepts the connection and never answers (the client's timeout must fire). */
  | { type: 'hang' };

/** Faults on demand. Tests flip these; the simulator consults them on every request. */
export class FaultSwitchboard {
  private queue: QueuedFault[] = [];
  /** Extra latency added to every answered request (slow vendor). */
  delayMs = 0;

  /** The next `count` requests fail with `fault`, after any faults already queued. */
  failNext(count: number, fault: QueuedFault): void {
    for (let i = 0; i < count; i++) this.queue.push(fault);
  }

  /** The fault for this request, if any (consumed). */
  take(): QueuedFault | undefined {
    return this.queue.shift();
  }

  get pending(): number {
    return this.queue.length;
  }

  clear(): void {
    this.queue = [];
    this.delayMs = 0;
  }
}

export class SimulatorStats {
  requests = 0;
  /** Requests answered with data (including empty pages). */
  pagesServed = 0;
  recordsServed = 0;
  /** Every natural key ever returned in a page: "distinct keys = records served". */
  readonly servedKeys = new Set<string>();
  /** Failures by vendor error code or `http-<status>`. */
  readonly errors = new Map<string, number>();
  /** Highest number of requests seen within any one-second window (admission, not answers). */
  peakRequestsPerSecond = 0;
  private recent: number[] = [];

  noteRequest(nowMs: number): void {
    this.requests++;
    this.recent.push(nowMs);
    while (this.recent.length > 0 && this.recent[0]! <= nowMs - 1000) this.recent.shift();
    this.peakRequestsPerSecond = Math.max(this.peakRequestsPerSecond, this.recent.length);
  }

  noteError(code: string | number): void {
    const k = String(code);
    this.errors.set(k, (this.errors.get(k) ?? 0) + 1);
  }

  notePage(keys: string[]): void {
    this.pagesServed++;
    this.recordsServed += keys.length;
    for (const k of keys) this.servedKeys.add(k);
  }

  errorCount(code: string | number): number {
    return this.errors.get(String(code)) ?? 0;
  }
}

/** A bucket like the vendor's API gateway: `rate` per second with a burst of `rate`. */
export class ServerRateLimiter {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly now: () => number,
  ) {
    this.tokens = rate;
    this.last = now();
  }
  admit(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}

export const MAX_BODY_BYTES = 1024 * 1024;

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive sockets (and hung requests) would otherwise hold close() open.
    server.closeAllConnections();
  });
}

/**
 * Generates records continuously ("calls ending now") at `ratePerSecond`, for the demo. The sequence of records
 * is still determined by the dataset's seed; only their times come from the clock.
 */
export class ContinuousGenerator {
  private timer: NodeJS.Timeout | undefined;
  private carry = 0;
  private last: number;
  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number,
    private readonly emit: (endedAtSec: number) => void,
    private readonly tickMs = 200,
  ) {
    this.last = now();
  }
  start(): void {
    if (this.timer) return;
    this.last = this.now();
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }
  tick(): void {
    const t = this.now();
    this.carry += ((t - this.last) / 1000) * this.ratePerSecond;
    this.last = t;
    while (this.carry >= 1) {
      this.carry -= 1;
      this.emit(Math.floor(t / 1000));
    }
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** What every simulated vendor record carries besides its vendor-specific key and start time. */
export interface SimulatedRecord {
  sdkAppId: number;
  /** Unix seconds at which the API starts returning the record. */
  visibleAt: number;
  record: Record<string, unknown>;
}

export interface SimulatorDatasetOptions {
  seed: number;
  sdkAppIds: number[];
  /** Fraction of records that become visible late (minutes after the call ended); default 0.03. */
  lateFraction?: number;
}

/**
 * A seeded, reproducible record set kept sorted by (start, key) — the order pages are served in — with late
 * records and demo live generation. The vendor supplies how one record is made, its key, start and end, and how a
 * whole call moves in time.
 */
export abstract class SimulatorDataset<T extends SimulatedRecord> {
  protected readonly rng: Rng;
  /** Sorted by (start, key): the order pages are served in. */
  protected readonly records: T[] = [];
  protected readonly lateFraction: number;
  private generator: ContinuousGenerator | undefined;

  constructor(protected readonly options: SimulatorDatasetOptions) {
    this.rng = new Rng(seededRandom(options.seed));
    this.lateFraction = options.lateFraction ?? 0.03;
  }

  /** One new record of `sdkAppId` starting at `startSec`, drawn from the dataset's seeded generator. */
  protected abstract makeRecord(sdkAppId: number, startSec: number): T;
  protected abstract keyOf(r: T): string;
  protected abstract startOf(r: T): number;
  protected abstract endOf(r: T): number;
  /** The same call `deltaSec` earlier or later. */
  protected abstract shift(r: T, deltaSec: number): T;

  get size(): number {
    return this.records.length;
  }

  all(): readonly T[] {
    return this.records;
  }

  /** `count` calls per tenant with start times spread evenly over [fromSec, toSec). */
  generateRange(fromSec: number, toSec: number, countPerTenant: number): T[] {
    const added: T[] = [];
    for (const app of this.options.sdkAppIds) {
      for (let i = 0; i < countPerTenant; i++) {
        const start = fromSec + Math.floor(((toSec - fromSec) * i) / countPerTenant);
        added.push(this.add(this.makeRecord(app, start)));
      }
    }
    return added;
  }

  /** A call that started inside an old window but only becomes visible at `visibleAtSec` (a late record). */
  addLate(sdkAppId: number, startSec: number, visibleAtSec: number): T {
    const stored = this.makeRecord(sdkAppId, startSec);
    stored.visibleAt = visibleAtSec;
    return this.add(stored);
  }

  /** Demo mode: new calls ending "now" at `ratePerSecond` across the tenants, until stopLive(). */
  startLive(ratePerSecond: number, now: () => number): void {
    this.stopLive();
    let n = 0;
    this.generator = new ContinuousGenerator(ratePerSecond, now, (nowSec) => {
      const app = this.options.sdkAppIds[n++ % this.options.sdkAppIds.length]!;
      const draft = this.makeRecord(app, nowSec);
      // Move the whole call back in time so it ends now; it becomes visible seconds later, like the vendor's.
      this.add(this.shift(draft, nowSec - this.endOf(draft)));
    });
    this.generator.start();
  }

  stopLive(): void {
    this.generator?.stop();
    this.generator = undefined;
  }

  /** Records of one tenant starting in [start, end] (both inclusive) visible at `nowSec`, in page order. */
  protected visibleIn(sdkAppId: number, start: number, end: number, nowSec: number): T[] {
    const out: T[] = [];
    for (let i = this.lowerBound(start); i < this.records.length; i++) {
      const r = this.records[i]!;
      if (this.startOf(r) > end) break;
      if (r.sdkAppId === sdkAppId && r.visibleAt <= nowSec) out.push(r);
    }
    return out;
  }

  protected add(stored: T): T {
    // Insert in order; late and live records land in the middle, which is exactly what shifts offset pages.
    const start = this.startOf(stored);
    const key = this.keyOf(stored);
    let lo = this.lowerBound(start);
    while (lo < this.records.length && this.startOf(this.records[lo]!) === start && this.keyOf(this.records[lo]!) < key) lo++;
    this.records.splice(lo, 0, stored);
    return stored;
  }

  private lowerBound(start: number): number {
    let lo = 0;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.startOf(this.records[mid]!) < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Options every simulator server shares: where to listen, its clock, and demo history / live traffic. */
export interface SimulatorServerOptions {
  port?: number;
  /** Simulator clock in ms. */
  now?: () => number;
  /** Demo: calls per tenant per hour generated over the last `historyHours` (ending an hour ago), at start. */
  historyHours?: number;
  historyCallsPerHour?: number;
  /** Demo: keep generating new calls ("ending now") at this rate across all tenants until stop(). */
  liveCallsPerSecond?: number;
}

export interface RunningSimulatorServer {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Stops live generation and closes the server (and every open connection). */
  stop(): Promise<void>;
}

/**
 * Serves `handle` on loopback (an unexpected throw answers 500), then seeds the demo history and starts live
 * generation when the options ask for them.
 */
export async function startSimulatorServer(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  options: SimulatorServerOptions,
  dataset: Pick<SimulatorDataset<SimulatedRecord>, 'generateRange' | 'startLive' | 'stopLive'>,
): Promise<RunningSimulatorServer> {
  const now = options.now ?? Date.now;
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(err) });
    });
  });
  server.keepAliveTimeout = 30_000;
  const port = await listen(server, options.port ?? 0);
  if (options.historyHours && options.historyHours > 0) {
    const nowSec = Math.floor(now() / 1000);
    const hours = options.historyHours;
    dataset.generateRange(nowSec - 3600 - hours * 3600, nowSec - 3600, Math.round(hours * (options.historyCallsPerHour ?? 600)));
  }
  if (options.liveCallsPerSecond && options.liveCallsPerSecond > 0) dataset.startLive(options.liveCallsPerSecond, now);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      dataset.stopLive();
      await closeServer(server);
    },
  };
}
