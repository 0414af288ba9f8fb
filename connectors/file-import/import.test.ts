import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { importFile, countLines } from './import.ts';
import { ImportOptionsSchema } from './config.ts';
import { MemorySink } from '../receiver/fixtures/memory-sink.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_LINE_BYTES, MAX_RECORD_BYTES } from '../../core/input-limits.ts';

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

  it('a hostile file: each bad line reported by number with its reason, every good line published (byte-lines.test.ts: an overlong line is never held)', async () => {
    const fee = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ appKey: 'hwApp', sessionId: id, ...extra });
    const invalidUtf8 = Buffer.from(fee('s-X'));
    invalidUtf8[invalidUtf8.indexOf('X')] = 0xff;
    const lines: Buffer[] = [
      Buffer.from(`\uFEFF${fee('s-1')}`), // 1: a BOM on the first line is dropped
      Buffer.alloc(3 * 1024 * 1024, 0x20), // 2: 3 MiB of spaces: over the line limit, never held
      invalidUtf8, // 3
      Buffer.from('{"appKey":"hwApp","sessionId":"s-dup","sessionId":"s-other"}'), // 4: a member given twice
      Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`), // 5
      Buffer.from(fee('s-big', { remark: 'x'.repeat(MAX_RECORD_BYTES) })), // 6
      Buffer.from(fee('k'.repeat(300))), // 7
      Buffer.from(JSON.stringify({ eventType: 'fee', feeLst: [JSON.parse(fee('s-8a')), { appKey: 'a'.repeat(300), sessionId: 's-8b' }] })), // 8
      Buffer.from(`\uFEFF${fee('s-9')}`), // 9: a BOM elsewhere is text: not JSON
      Buffer.from(`${fee('s-10')}\r`), // 10: CRLF
    ];
    const file = join(mkdtempSync(join(tmpdir(), 'cdrflow-import-')), 'hostile.jsonl');
    writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
    const sink = new MemorySink();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't' }), { sink });
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-1', 's-10']);
    expect(summary).toMatchObject({ lines: 10, records: 2, badLines: 8 });
    expect(summary.firstBadLines.map((b) => `${b.line}: ${b.reason}`)).toEqual([
      `2: line is ${3 * 1024 * 1024} bytes long (limit ${MAX_LINE_BYTES}); skipped unread`,
      '3: invalid UTF-8 in the line',
      '4: duplicate JSON member "sessionId" in one object',
      '5: JSON nested deeper than 16 levels',
      expect.stringMatching(/^6: record is \d+ bytes \(limit 65536 per record\)$/),
      expect.stringMatching(/^7: sessionId is 300 bytes long \(limit 256\)/),
      expect.stringMatching(/^8: feeLst\[1\]: appKey is 300 bytes long \(limit 256\)/),
      expect.stringMatching(/^9: not valid JSON/),
    ]);
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
