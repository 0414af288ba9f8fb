import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { importFile, countLines } from './import.ts';
import { ImportOptionsSchema } from './config.ts';
import { MemorySink } from '../receiver/fixtures/memory-sink.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('importFile', () => {
  it('Huawei: FeeInfo lines and whole push bodies, exact payloads, bad lines reported by number and skipped', async () => {
    const sink = new MemorySink();
    const bad: number[] = [];
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: fixture('huawei-fee.jsonl'), topic: 't', batchSize: 2 }), {
      sink, onBadLine: (b) => bad.push(b.line), now: () => Date.UTC(2026, 10, 3),
    });
    expect(summary).toMatchObject({ lines: 6, blankLines: 1, records: 3, badLines: 3 });
    expect(bad).toEqual([4, 5, 6]);
    expect(summary.firstBadLines.map((b) => b.reason)).toEqual([
      expect.stringContaining('not valid JSON'), expect.stringContaining('FeeInfo object'), expect.stringContaining('no appKey'),
    ]);
    const envelopes = sink.envelopes('t');
    expect(envelopes.map((e) => e.natural_key)).toEqual(['1200_a_1@callenabler246.huaweicaas.com', '1200_a_2@callenabler246.huaweicaas.com', '1200_a_3@callenabler246.huaweicaas.com']);
    expect(envelopes.map((e) => e.attributes['line'])).toEqual(['1', '3', '3']);
    expect(envelopes[1]!.payload).toMatch(/^\{"direction": 0, "spId": "sp1"/);
    expect(envelopes[0]).toMatchObject({ mode: 'import', connector: 'import', tenant_id: 'hwImportApp', request_id: summary.requestId, received_at: new Date(Date.UTC(2026, 10, 3)) });
    expect(sink.published.map((p) => p.envelopes.length)).toEqual([3]);
  });

  it('Huawei: --tenant covers records without appKey', async () => {
    const sink = new MemorySink();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: fixture('huawei-fee.jsonl'), tenant: 'fallbackApp' }), { sink });
    expect(summary).toMatchObject({ records: 4, badLines: 2, topic: 'cdr.raw.huawei-privatenumber' });
    expect(sink.envelopes().at(-1)).toMatchObject({ tenant_id: 'fallbackApp', natural_key: '1200_a_5@x' });
  });

  it('LVMS: DTO objects or DTO strings, CRLF lines, long ids exact, keyless or bad-id lines skipped', async () => {
    const sink = new MemorySink();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'alibaba-lvms', file: fixture('lvms-records.jsonl'), tenant: '12345678' }), { sink });
    expect(summary).toMatchObject({ lines: 4, records: 2, badLines: 2 });
    expect(summary.firstBadLines.map((b) => b.line)).toEqual([3, 4]);
    expect(sink.envelopes().map((e) => [e.natural_key, e.tenant_id])).toEqual([
      ['9007199254740993123', '12345678'],
      ['job:6|13900000000|2026-11-02 09:01:00', '12345678'],
    ]);
    expect(sink.envelopes()[1]!.payload).toBe('{"robot_call_job_id":6,"called_phone_number":"13900000000","start_time":"2026-11-02 09:01:00"}');
  });

  it('LVMS without --tenant: every line is reported, nothing published', async () => {
    const sink = new MemorySink();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'alibaba-lvms', file: fixture('lvms-records.jsonl') }), { sink });
    expect(summary.records).toBe(0);
    expect(summary.badLines).toBe(4);
  });

  it('a failing sink fails the run (the caller reports how far it got)', async () => {
    const sink = new MemorySink();
    sink.failing = true;
    await expect(importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: fixture('huawei-fee.jsonl') }), { sink, retry: { maxAttempts: 2, initialMs: 1 } })).rejects.toMatchObject({ kind: 'transient' });
  });

  it('retries a batch Kafka did not acknowledge', async () => {
    const sink = new MemorySink();
    sink.failing = true;
    let attempts = 0;
    const flaky = { publish: async (e: Parameters<MemorySink['publish']>[0], t: string) => { if (++attempts === 2) sink.failing = false; return sink.publish(e, t); } };
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: fixture('huawei-fee.jsonl') }), { sink: flaky, retry: { maxAttempts: 3, initialMs: 1 } });
    expect(summary.records).toBe(3);
    expect(sink.envelopes()).toHaveLength(3);
  });

  it('countLines counts a last line without newline', async () => {
    expect(await countLines(fixture('huawei-fee.jsonl'))).toBe(6);
  });
});
