// A window over maxWindowRecords is read in parts by time (reader.ts); each part is checkpointed once read, by the live
// poller and by backfill alike, so a run stopped or failed in a window of a million calls resumes at the last part read
// instead of reading the whole window again.
import { describe, expect, it } from 'vitest';
import { readWindow } from './reader.ts';
import { LivePoller } from './live.ts';
import { runBackfill } from './backfill.ts';
import { MemoryCheckpoints, MemorySink, memoryPollContext, timedSource } from './fixtures/memory.ts';
import { checkpointIds } from '../../core/checkpoints.ts';
import { secOf, type TimeWindow } from './windows.ts';

const T = 1_800_000_000;
const HOUR = { start: T - 10 * 3600, end: T - 9 * 3600 };
/** `n` calls spread over `window`, in time order. */
const spread = (window: TimeWindow, n: number) => Array.from({ length: n }, (_, i) => window.start + Math.floor((i * (window.end - window.start)) / n));
const devnull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

describe('readWindow: the parts of a window read in halves', () => {
  it('are told in time order, each once read, contiguous from the window start; the last, ending at the window end, is not', async () => {
    const source = timedSource(spread(HOUR, 1000));
    const parts: { part: TimeWindow; records: number }[] = [];
    const sink = new MemorySink();
    const result = await readWindow(memoryPollContext(source, sink, { maxWindowRecords: 100 }), 't1', HOUR, async (part, read) => {
      // Told once its records are in Kafka: every call of the part is in the sink by now.
      const keys = sink.keys();
      const inPart = spread(HOUR, 1000).flatMap((t, i) => (t >= part.start && t <= part.end ? [`call-${i}`] : []));
      expect(inPart.filter((k) => !keys.has(k))).toEqual([]);
      parts.push({ part, records: read.records });
    });
    expect(parts.length).toBeGreaterThan(5);
    expect(parts[0]!.part.start).toBe(HOUR.start);
    for (let i = 1; i < parts.length; i++) expect(parts[i]!.part.start).toBe(parts[i - 1]!.part.end);
    expect(parts.at(-1)!.part.end).toBeLessThan(HOUR.end);
    expect(parts.every((p) => p.records <= 100)).toBe(true);
    const told = parts.reduce((n, p) => n + p.records, 0);
    expect(told).toBeLessThan(result.records);
    expect(sink.keys().size).toBe(1000);
  });

  it('a window under the limit is one read: nothing is told', async () => {
    const parts: TimeWindow[] = [];
    await readWindow(memoryPollContext(timedSource(spread(HOUR, 100)), new MemorySink(), { maxWindowRecords: 100 }), 't1', HOUR, async (part) => {
      parts.push(part);
    });
    expect(parts).toEqual([]);
  });
});

describe('a window read in parts is checkpointed after each part', () => {
  it('live: Kafka refusing the later calls of a catch-up window leaves the checkpoint at the last part read; the next cycle reads on from there', async () => {
    // A tenant new to the poller starts 10 h back; its first window (maxWindowSec 1 h of new time, plus the re-read
    // before it) holds 1,000 calls, read in parts of at most 100.
    const calls = spread(HOUR, 1000);
    const source = timedSource(calls);
    const sink = new MemorySink();
    const store = new MemoryCheckpoints();
    const late = new Set(calls.flatMap((t, i) => (t >= HOUR.start + 2700 ? [`call-${i}`] : [])));
    sink.failWhen = (envelopes) => envelopes.some((e) => late.has(e.natural_key));
    const ctx = memoryPollContext(source, sink, { maxWindowRecords: 100, now: () => T * 1000, retry: { initialMs: 1, maxMs: 1, maxAttempts: 1 } });
    const settings = { lookbackSec: 600, maxCallSec: 600, settleSec: 120, maxWindowSec: 3600, initialLookbackSec: 10 * 3600, pollIntervalSec: 1 };
    const poller = new LivePoller(ctx, store, settings);
    await expect(poller.runOnce()).rejects.toThrow(/Kafka did not acknowledge/);
    const id = checkpointIds.live('tencent-ccc', 't1');
    const cp = store.get(id);
    expect(cp).toBeDefined();
    const watermark = secOf(cp!.watermark);
    expect(watermark).toBeGreaterThan(HOUR.start + 1800);
    expect(watermark).toBeLessThanOrEqual(HOUR.start + 2700);
    // What a restart trusts: read since the first part's read, every call of the parts in Kafka.
    expect(cp!['polledAt']).toBe(new Date(T * 1000).toISOString());
    const before = calls.flatMap((t, i) => (t <= watermark ? [`call-${i}`] : []));
    expect(before.filter((k) => !sink.keys().has(k))).toEqual([]);

    sink.failWhen = undefined;
    const readsBefore = source.reads.length;
    await poller.runOnce();
    const again = source.reads.slice(readsBefore);
    expect(Math.min(...again.map((r) => r.window.start))).toBe(watermark);
    expect(sink.keys().size).toBe(1000);
    // Each call published once: the boundary seconds read twice were known to the poller's recent keys.
    expect(sink.envelopes).toHaveLength(1000);
  });

  it('backfill: stopped in the second half of a window, the run says it resumes at the last part read; the next run reads on from there and counts each part once', async () => {
    const calls = spread(HOUR, 1000);
    const source = timedSource(calls);
    const sink = new MemorySink();
    const store = new MemoryCheckpoints();
    const controller = new AbortController();
    // The stop request comes as the read reaches the last quarter of the hour.
    const fetchPage = source.fetchPage.bind(source);
    source.fetchPage = async (tenant, window, page, size, signal) => {
      if (window.start >= HOUR.start + 2700) controller.abort();
      return fetchPage(tenant, window, page, size, signal);
    };
    const ctx = memoryPollContext(source, sink, { maxWindowRecords: 100, now: () => T * 1000, signal: controller.signal });
    const req = { tenant: 't1', from: new Date(HOUR.start * 1000), to: new Date(HOUR.end * 1000), windowSec: 3600, settleSec: 120, progressStream: devnull };
    const stopped = (await runBackfill(ctx, store, req).catch((e: unknown) => e)) as { name: string; partial: { stoppedAt: string; records: number; checkpointId: string } };
    expect(stopped.name).toBe('PollStopped');
    const cp = store.get(stopped.partial.checkpointId)!;
    const watermark = secOf(cp.watermark);
    expect(watermark).toBeGreaterThan(HOUR.start);
    expect(watermark).toBeLessThanOrEqual(HOUR.start + 2700);
    expect(stopped.partial.stoppedAt).toBe(cp.watermark);
    expect(cp['done']).toBe(false);
    expect(cp['records']).toBe(stopped.partial.records);

    const readsBefore = source.reads.length;
    const done = await runBackfill({ ...ctx, signal: new AbortController().signal }, store, req);
    expect(Math.min(...source.reads.slice(readsBefore).map((r) => r.window.start))).toBe(watermark);
    expect(sink.keys().size).toBe(1000);
    const last = store.get(done.checkpointId)!;
    expect(last['done']).toBe(true);
    expect(last['records']).toBe(stopped.partial.records + done.records);
  });
});
