import { describe, expect, it } from 'vitest';
import { GroupCommitSink } from './group-commit.ts';
import { MemorySink } from './fixtures/memory-sink.ts';
import type { RawEnvelope } from '../../core/envelope.ts';

const env = (key: string): RawEnvelope => ({
  vendor: 'huawei-privatenumber', tenant_id: 't', natural_key: key, received_at: new Date(0), connector: 'c', mode: 'live',
  request_id: null, payload: '{}', payload_format: 'json', attributes: {},
});

describe('GroupCommitSink', () => {
  it('sends what queued during an in-flight send as one batch, and settles each caller with its own batch', async () => {
    const inner = new MemorySink();
    const sink = new GroupCommitSink(inner, 100);
    inner.hold();
    const first = sink.publish([env('a')], 't');
    await inner.heldCount(1);
    const queued = ['b', 'c', 'd'].map((k) => sink.publish([env(k), env(`${k}2`)], 't'));
    inner.release();
    await Promise.all([first, ...queued]);
    expect(inner.published.map((p) => p.envelopes.map((e) => e.natural_key))).toEqual([['a'], ['b', 'b2', 'c', 'c2', 'd', 'd2']]);
  });

  it('never splits one request across sends, and respects maxBatchRecords between requests', async () => {
    const inner = new MemorySink();
    const sink = new GroupCommitSink(inner, 3);
    inner.hold();
    const first = sink.publish([env('a')], 't');
    await inner.heldCount(1);
    const rest = [sink.publish([env('b'), env('b2')], 't'), sink.publish([env('c'), env('c2')], 't'), sink.publish([env('d'), env('d2'), env('d3'), env('d4')], 't')];
    inner.release();
    await Promise.all([first, ...rest]);
    expect(inner.published.map((p) => p.envelopes.length)).toEqual([1, 2, 2, 4]);
  });

  it('reports every send once it settled: topic, records, how long Kafka took, and whether it was acknowledged', async () => {
    const inner = new MemorySink();
    const sends: { topic: string; records: number; ms: number; ok: boolean }[] = [];
    const sink = new GroupCommitSink(inner, 100, undefined, (s) => sends.push(s));
    inner.hold();
    const first = sink.publish([env('a')], 't');
    await inner.heldCount(1);
    const queued = sink.publish([env('b'), env('c')], 't');
    // The first send stays unacknowledged for at least 25 ms (the loop is held; nothing can settle it meanwhile).
    const until = performance.now() + 25;
    while (performance.now() < until);
    inner.release();
    await Promise.all([first, queued]);
    inner.failing = true;
    await expect(sink.publish([env('d')], 'u')).rejects.toThrow(/broker not available/);
    expect(sends.map(({ topic, records, ok }) => ({ topic, records, ok }))).toEqual([
      { topic: 't', records: 1, ok: true },
      { topic: 't', records: 2, ok: true },
      { topic: 'u', records: 1, ok: false },
    ]);
    expect(sends[0]!.ms).toBeGreaterThanOrEqual(25);
    expect(sends.every((s) => Number.isFinite(s.ms) && s.ms >= 0)).toBe(true);
  });

  it('rejects every caller of a failed send, and recovers for the next', async () => {
    const inner = new MemorySink();
    const sink = new GroupCommitSink(inner, 100);
    inner.failing = true;
    await expect(sink.publish([env('a')], 't')).rejects.toThrow(/broker not available/);
    inner.failing = false;
    await sink.publish([env('b')], 't');
    expect(inner.envelopes().map((e) => e.natural_key)).toEqual(['b']);
  });
});

describe('GroupCommitSink byte bound', () => {
  it('starts a new send before the payload bytes would exceed maxBatchBytes', async () => {
    const inner = new MemorySink();
    const sink = new GroupCommitSink(inner, 1000, 10_000);
    const big = (k: string): RawEnvelope => ({ ...env(k), payload: 'x'.repeat(3000) });
    inner.hold();
    const first = sink.publish([env('a')], 't');
    await inner.heldCount(1);
    const rest = ['b', 'c', 'd'].map((k) => sink.publish([big(k)], 't'));
    inner.release();
    await Promise.all([first, ...rest]);
    // each big envelope counts ~6.3 KB: one per send under a 10 KB bound
    expect(inner.published.map((p) => p.envelopes.length)).toEqual([1, 1, 1, 1]);
  });
});
