import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseAuthHeaders, verifyDigest } from '../connectors/huawei-privatenumber/aksk.ts';
import {
  HUAWEI_FEE_PATH,
  dueAt,
  histogramWindow,
  latencySummary,
  openLoop,
  outcomeCounts,
  parseRates,
  percentile,
} from './push-load.ts';

describe('push load helpers', () => {
  it('percentile is nearest-rank over an ascending array', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(percentile([1, 2, 3], 0)).toBe(1);
  });

  it('latencySummary sorts a copy and reports p50/p90/p99/max', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(latencySummary(xs)).toEqual({ count: 5, p50: 3, p90: 5, p99: 5, max: 5 });
    expect(xs).toEqual([5, 1, 4, 2, 3]);
  });

  it('dueAt spaces items by the rate from t0, whatever happened before', () => {
    expect(dueAt(1000, 0, 500)).toBe(1000);
    expect(dueAt(1000, 1, 500)).toBe(1002);
    expect(dueAt(1000, 500, 500)).toBe(2000);
    expect(dueAt(0, 3, 0.5)).toBe(6000);
  });

  it('parseRates reads a comma list of positive numbers', () => {
    expect(parseRates('500,2000')).toEqual([500, 2000]);
    expect(parseRates(' 250 ')).toEqual([250]);
    expect(() => parseRates('500,')).toThrow(/positive rates/);
    expect(() => parseRates('0')).toThrow(/positive rates/);
    expect(() => parseRates('fast')).toThrow(/positive rates/);
  });

  it('outcomeCounts tells answers, connection resets and other errors apart', () => {
    expect(
      outcomeCounts([
        { status: 200 },
        { status: 200 },
        { status: 503 },
        { status: 0, error: 'ECONNRESET' },
        { status: 0, error: 'EPIPE' },
        { status: 0, error: 'ETIMEDOUT' },
      ]),
    ).toEqual({
      statuses: { 200: 2, 503: 1 },
      resets: 2,
      errors: 1,
    });
  });

  it('openLoop sends every body once, signed with a fresh nonce the receiver accepts, and records each outcome', async () => {
    const seen: { body: string; valid: boolean; nonce: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const auth = parseAuthHeaders(req.headers, false);
        const valid =
          auth.ok &&
          req.url === HUAWEI_FEE_PATH &&
          auth.token.username === 'app' &&
          verifyDigest(auth.scheme, auth.token, 'secret');
        seen.push({ body: Buffer.concat(chunks).toString(), valid, nonce: auth.ok ? auth.token.nonce : '' });
        const body = Buffer.concat(chunks).toString();
        res.writeHead(body === 'refuse' ? 503 : 200).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const bodies = ['a', 'b', 'refuse', 'c', 'd', 'e'];
      const run = await openLoop({ port, appKey: 'app', appSecret: 'secret' }, bodies, 200, 2);
      expect(seen.map((s) => s.body).sort()).toEqual([...bodies].sort());
      expect(seen.every((s) => s.valid)).toBe(true);
      expect(new Set(seen.map((s) => s.nonce)).size).toBe(bodies.length);
      expect(run.outcomes.map((o) => o.status)).toEqual([200, 200, 503, 200, 200, 200]);
      expect(run.latencyMs.every((l) => Number.isFinite(l))).toBe(true);
      // The generator's own lateness is part of each push's latency, never more than it.
      expect(run.sentLateMs.every((late, i) => late >= 0 && late <= run.latencyMs[i]!)).toBe(true);
      expect(run.firstDueEpochMs).toBeGreaterThan(Date.now() - 60_000);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("openLoop counts the generator's own lateness: pushes due while its event loop is blocked are sent late, and their latency includes it", async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('{}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const bodies = Array.from({ length: 20 }, (_, i) => `b${i}`);
      // The first push is due 50 ms after the call and one every 5 ms after it; the loop is held from 30 ms to 180 ms
      // (not at once: the loop-delay monitor only measures from its first tick on).
      const hold = setTimeout(() => {
        const until = performance.now() + 150;
        while (performance.now() < until);
      }, 30);
      const run = await openLoop({ port, appKey: 'app', appSecret: 'secret' }, bodies, 200, 4);
      clearTimeout(hold);
      expect(run.sentLateMs[0]).toBeGreaterThanOrEqual(90);
      expect(run.latencyMs[0]).toBeGreaterThanOrEqual(run.sentLateMs[0]!);
      expect(run.generatorLoopDelayMs.max).toBeGreaterThanOrEqual(100);
      expect(run.sentLateMs.every((late, i) => late >= 0 && late <= run.latencyMs[i]!)).toBe(true);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('histogramWindow reads what a histogram observed between two scrapes, over all its label sets, as bucket bounds', async () => {
    const scrape = (a: number[], b: number[], sums: [number, number]) =>
      [
        '# HELP m_seconds x',
        '# TYPE m_seconds histogram',
        ...['0.01', '0.05', '0.1', '+Inf'].map((le, i) => `m_seconds_bucket{le="${le}",topic="a",outcome="acknowledged"} ${a[i]}`),
        `m_seconds_sum{topic="a",outcome="acknowledged"} ${sums[0]}`,
        `m_seconds_count{topic="a",outcome="acknowledged"} ${a[3]}`,
        ...['0.01', '0.05', '0.1', '+Inf'].map((le, i) => `m_seconds_bucket{le="${le}",topic="b",outcome="failed"} ${b[i]}`),
        `m_seconds_sum{topic="b",outcome="failed"} ${sums[1]}`,
        `m_seconds_count{topic="b",outcome="failed"} ${b[3]}`,
        'm_seconds_other 99',
        'other_bucket{le="0.01"} 1000',
      ].join('\n');
    const before = scrape([10, 10, 10, 10], [0, 0, 0, 0], [0.05, 0]);
    // 100 new observations: 90 under 10 ms, 8 more under 50 ms, 1 under 100 ms, 1 above (a second).
    const after = scrape([100, 105, 106, 107], [0, 3, 3, 3], [0.05 + 2.5, 0.06]);
    expect(histogramWindow(before, after, 'm_seconds')).toEqual({ count: 100, mean_ms: 25.6, p50_at_most_ms: 10, p99_at_most_ms: 100 });
    expect(histogramWindow(after, after, 'm_seconds')).toBeUndefined();
    expect(histogramWindow('', 'garbage\nm_seconds_count nonsense', 'm_seconds')).toBeUndefined();
    // Observations above the last finite bound: their p99 is not bounded.
    const slow = scrape([100, 105, 106, 200], [0, 3, 3, 3], [0.05 + 90, 0.06]);
    expect(histogramWindow(before, slow, 'm_seconds')!.p99_at_most_ms).toBe(Infinity);
  });
});
