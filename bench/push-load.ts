// Open-loop push load for the benchmarks: signed Huawei PrivateNumber fee pushes (the documented contract: X-AKSK
// with a fresh nonce per request, {"eventType":"fee","feeLst":[…]}) sent on a schedule set by the clock, over a
// few keep-alive connections on loopback. Push i is due at t0 + i / rate whatever earlier answers did, and its
// latency is taken from that due time, so a server that falls behind shows it (no coordinated omission).
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { buildAuthHeaders } from '../connectors/huawei-privatenumber/aksk.ts';

export const HUAWEI_FEE_PATH = '/huawei/privatenumber/fee';

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** p50 / p90 / p99 / max of latencies in ms (sorts a copy), rounded to 0.1 ms. */
export function latencySummary(ms: readonly number[]): {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
} {
  const s = [...ms].sort((a, b) => a - b);
  const r = (n: number) => Math.round(n * 10) / 10;
  return {
    count: s.length,
    p50: r(percentile(s, 50)),
    p90: r(percentile(s, 90)),
    p99: r(percentile(s, 99)),
    max: r(s.at(-1) ?? NaN),
  };
}

/** What a Prometheus histogram observed between two scrapes of one process (all its label sets together). */
export interface HistogramWindow {
  count: number;
  mean_ms: number;
  /** The bucket bounds (ms) that p50 and p99 fell under: a histogram holds no finer figure. */
  p50_at_most_ms: number;
  p99_at_most_ms: number;
}

/** `metric`'s observations between the scrapes `before` and `after` (Prometheus text); undefined if none. */
export function histogramWindow(before: string, after: string, metric: string): HistogramWindow | undefined {
  const read = (text: string) => {
    const buckets = new Map<number, number>();
    let sum = 0;
    let count = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(metric)) continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      const rest = line.slice(metric.length);
      if (rest.startsWith('_bucket{')) {
        const le = /le="([^"]+)"/.exec(rest)?.[1];
        if (le === undefined) continue;
        const bound = le === '+Inf' ? Infinity : Number(le);
        buckets.set(bound, (buckets.get(bound) ?? 0) + value);
      } else if (rest.startsWith('_sum')) sum += value;
      else if (rest.startsWith('_count')) count += value;
    }
    return { buckets, sum, count };
  };
  const a = read(before);
  const b = read(after);
  const count = b.count - a.count;
  if (!(count > 0)) return undefined;
  const cumulative = [...b.buckets].map(([bound, n]) => [bound, n - (a.buckets.get(bound) ?? 0)] as const).sort((x, y) => x[0] - y[0]);
  const atMost = (p: number) => {
    const rank = Math.ceil((p / 100) * count);
    const hit = cumulative.find(([, n]) => n >= rank);
    return hit ? hit[0] * 1000 : Infinity;
  };
  return { count, mean_ms: Math.round(((b.sum - a.sum) / count) * 10_000) / 10, p50_at_most_ms: atMost(50), p99_at_most_ms: atMost(99) };
}

/** The clock of an open loop: when item `i` is due, `ratePerSecond` items per second from `t0` (ms). */
export function dueAt(t0: number, i: number, ratePerSecond: number): number {
  return t0 + (i * 1000) / ratePerSecond;
}

/** `--latency-rates 500,2000`: positive numbers, in the order given. */
export function parseRates(text: string): number[] {
  const rates = text.split(',').map((s) => Number(s.trim()));
  if (rates.length === 0 || rates.some((r) => !Number.isFinite(r) || r <= 0))
    throw new Error(`not a list of positive rates: "${text}"`);
  return rates;
}

export interface PushTarget {
  port: number;
  appKey: string;
  appSecret: string;
}

export interface PushOutcome {
  status: number;
  /** Set when the request failed before an answer (ECONNRESET, EPIPE, …). */
  error?: string;
}

/** One signed push; resolves with the status once the answer's body is read, or with the socket error. */
export function signedPush(agent: Agent, target: PushTarget, body: string): Promise<PushOutcome> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: target.port,
        path: HUAWEI_FEE_PATH,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json;charset=UTF-8',
          'content-length': Buffer.byteLength(body),
          ...buildAuthHeaders(target.appKey, target.appSecret),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, error: err.code ?? err.message }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, error: err.code ?? err.message }));
    req.end(body);
  });
}

export interface OpenLoopResult {
  /** Per push, in order: answer latency from its due time (ms), and its outcome. */
  latencyMs: number[];
  /**
   * Per push: how late this process started sending it (ms after its due time, never before it). The load generator
   * shares the machine's cores with the server it loads: this part of each latency was the generator's own wait.
   */
  sentLateMs: number[];
  /** The generator's own event-loop delay over the run (ms): an answer that arrived meanwhile was read that late. */
  generatorLoopDelayMs: { p99: number; max: number };
  outcomes: PushOutcome[];
  /** From the first due time to the last answer. */
  seconds: number;
  /** Wall-clock time (epoch ms) push i was due: firstDueEpochMs + i * 1000 / rate. */
  firstDueEpochMs: number;
}

/**
 * Sends `bodies[i]` at dueAt(t0, i, pushesPerSecond) over at most `connections` keep-alive sockets (a push waiting
 * for a free socket is late, and its latency says so), then waits for every answer.
 */
export async function openLoop(
  target: PushTarget,
  bodies: readonly string[],
  pushesPerSecond: number,
  connections: number,
): Promise<OpenLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencyMs = new Array<number>(bodies.length).fill(NaN);
  const sentLateMs = new Array<number>(bodies.length).fill(NaN);
  const outcomes = new Array<PushOutcome>(bodies.length);
  const t0 = performance.now() + 50;
  const pending: Promise<void>[] = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  try {
    for (let i = 0; i < bodies.length; i++) {
      const due = dueAt(t0, i, pushesPerSecond);
      // Never before it is due, so no latency reads below the answer's own time: a timer can fire early by the event
      // loop's cached clock, so it waits again (a timer rounds up to whole ms; lateness counts in the latency).
      for (let wait = due - performance.now(); wait > 0; wait = due - performance.now()) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
      sentLateMs[i] = performance.now() - due;
      pending.push(
        signedPush(agent, target, bodies[i]!).then((outcome) => {
          latencyMs[i] = performance.now() - due;
          outcomes[i] = outcome;
        }),
      );
    }
    await Promise.all(pending);
    // The histogram is in ns and includes the sampling resolution itself.
    const delayMs = (ns: number) => Math.round(Math.max(0, ns / 1e6 - 5) * 10) / 10;
    return {
      latencyMs,
      sentLateMs,
      generatorLoopDelayMs: { p99: delayMs(loopDelay.percentile(99)), max: delayMs(loopDelay.max) },
      outcomes,
      seconds: (performance.now() - t0) / 1000,
      firstDueEpochMs: performance.timeOrigin + t0,
    };
  } finally {
    loopDelay.disable();
    agent.destroy();
  }
}

/** Counts of an open loop's outcomes: answers by status, connection resets, other socket errors. */
export function outcomeCounts(outcomes: readonly PushOutcome[]): {
  statuses: Record<string, number>;
  resets: number;
  errors: number;
} {
  const statuses: Record<string, number> = {};
  let resets = 0;
  let errors = 0;
  for (const o of outcomes) {
    if (o.error === undefined) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
    else if (o.error === 'ECONNRESET' || o.error === 'EPIPE') resets++;
    else errors++;
  }
  return { statuses, resets, errors };
}
