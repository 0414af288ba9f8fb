import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { envelopesFromLine, importFile, countLines, resumeAdvice, resumePoint, fileStartProblem, utf16Problem, MAX_SKIPPED_LINE_BYTES } from './import.ts';
import { ImportOptionsSchema } from './config.ts';
import { MemorySink } from '../receiver/fixtures/memory-sink.ts';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { MAX_LINE_BYTES, MAX_RECORD_BYTES } from '../../core/input-limits.ts';
import { checkLvmsDto } from '../../core/records/lvms-key.ts';
import { Progress } from '../../core/progress.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

// Temporary directories and the FIFO writers of the tests below, removed and stopped after each test.
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const clean of cleanups.splice(0)) clean();
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-import-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
/**
 * A FIFO whose writer is `sh -c script` (its stdout redirected into the FIFO): a bounded stream, never a file on disk.
 * The script's last command is `exec`ed, so the kill after the test reaches the process that holds the FIFO open.
 */
function fifoFedBy(script: string): { path: string; writer: ChildProcess } {
  const path = join(tempDir(), 'input.jsonl');
  execFileSync('mkfifo', [path]);
  const writer = spawn('sh', ['-c', `exec > "$0"; ${script}`, path], { stdio: 'ignore' });
  cleanups.push(() => void writer.kill('SIGKILL'));
  return { path, writer };
}
const feeLine = (id: string) => JSON.stringify({ appKey: 'hwApp', sessionId: id });

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
    // --batch 2: line 1's record goes first, as line 3's push body of two would not fit with it.
    expect(sink.published.map((p) => p.envelopes.length)).toEqual([1, 2]);
  });

  it('Huawei: --batch N holds at most N records, or one whole push body of more (a push is one unit, as at the receiver; a batch of N+49 was published)', async () => {
    const file = join(tempDir(), 'batches.jsonl');
    const push = (n: number, from: number) => JSON.stringify({ eventType: 'fee', feeLst: Array.from({ length: n }, (_, i) => JSON.parse(feeLine(`p-${from + i}`))) });
    writeFileSync(file, [feeLine('s-1'), push(50, 0), feeLine('s-2'), feeLine('s-3'), push(2, 100), feeLine('s-4')].join('\n'));
    for (const [batchSize, sizes] of [[1, [1, 50, 1, 1, 2, 1]], [2, [1, 50, 2, 2, 1]], [3, [1, 50, 2, 3]], [50, [1, 50, 5]]] as const) {
      const sink = new MemorySink();
      const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't', batchSize }), { sink });
      expect(summary, `--batch ${batchSize}`).toMatchObject({ lines: 6, records: 56, badLines: 0 });
      expect(sink.published.map((p) => p.envelopes.length), `--batch ${batchSize}`).toEqual(sizes);
    }
  });

  it('Huawei: a push body that holds no fee records is a bad line, not a record normalize would dead-letter', async () => {
    const file = join(tempDir(), 'pushes.jsonl');
    const lines = [
      { eventType: 'disconnect', statusInfo: { sessionId: 's1' } },
      { eventType: 'fee', feeLst: { sessionId: 's2' } },
      { eventType: 'fee' },
      { feeLst: [{ sessionId: 's3' }] },
      { eventType: 7, feeLst: [{ sessionId: 's4' }] },
      { sessionId: 's5' },
    ];
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const sink = new MemorySink();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, tenant: 'hwApp', topic: 't' }), { sink });
    expect(summary).toMatchObject({ lines: 6, records: 1, badLines: 5 });
    expect(summary.firstBadLines.map((b) => b.reason)).toEqual([
      'a call event push (eventType "disconnect"), not fee records: import takes FeeInfo objects and {"eventType":"fee","feeLst":[...]} push bodies',
      'feeLst must hold one or more objects',
      'feeLst must hold one or more objects',
      'a push body (it has feeLst) needs "eventType":"fee"',
      'a push body (it has feeLst) needs "eventType":"fee"',
    ]);
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s5']);
  });

  it('Huawei: --tenant covers records without appKey', async () => {
    const sink = new MemorySink();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: fixture('huawei-fee.jsonl'), tenant: 'fallbackApp' }), { sink });
    expect(summary).toMatchObject({ records: 4, badLines: 2, topic: 'cdr.raw.huawei-privatenumber' });
    expect(sink.envelopes().at(-1)).toMatchObject({ tenant_id: 'fallbackApp', natural_key: '1200_a_5@x' });
  });

  it('Huawei: the tenant is the appKey without blanks around it, a blank one none (--tenant then), as normalize reads a record\'s tenant', () => {
    const ctx = { vendor: 'huawei-privatenumber' as const, tenant: 'hwApp', file: 'f.jsonl', requestId: 'r', receivedAt: new Date(0) };
    // The receiver stores these calls under its app's appKey, `hwApp`: another spelling was another cdr_id, each call twice.
    const tenants = ['" hwApp "', '"hwApp\\t"', '"  "'].map((appKey) => {
      const result = envelopesFromLine(`{"appKey":${appKey},"sessionId":"s-1"}`, 1, ctx);
      return result.ok ? result.envelopes.map((e) => e.tenant_id) : result.reason;
    });
    expect(tenants).toEqual([['hwApp'], ['hwApp'], ['hwApp']]);
  });

  it('Huawei: a record whose appKey holds a ":" is a bad line (tenant "a:b" key "c" and tenant "a" key "b:c" were one cdr_id)', () => {
    const ctx = { vendor: 'huawei-privatenumber' as const, file: 'f.jsonl', requestId: 'r', receivedAt: new Date(0) };
    expect(envelopesFromLine('{"appKey":"hw:App","sessionId":"s-1"}', 1, ctx)).toEqual({ ok: false, reason: expect.stringMatching(/^appKey must not contain ":"/) });
    const push = JSON.stringify({ eventType: 'fee', feeLst: [{ appKey: 'hwApp', sessionId: 's-1' }, { appKey: 'hw:App', sessionId: 's-2' }] });
    expect(envelopesFromLine(push, 1, ctx)).toEqual({ ok: false, reason: expect.stringMatching(/^feeLst\[1\]: appKey must not contain ":"/) });
  });

  it('LVMS: DTO objects or DTO strings, CRLF lines, long ids exact, bad-id lines skipped, keyless ones kept for normalize to dead-letter', async () => {
    const sink = new MemorySink();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'alibaba-lvms', file: fixture('lvms-records.jsonl'), tenant: '12345678' }), { sink });
    expect(summary).toMatchObject({ lines: 4, records: 3, badLines: 1 });
    expect(summary.firstBadLines.map((b) => b.line)).toEqual([4]);
    expect(sink.envelopes().map((e) => [e.natural_key, e.tenant_id])).toEqual([
      ['9007199254740993123', '12345678'],
      ['job:6|13900000000|2026-11-02 09:01:00', '12345678'],
      [expect.stringMatching(/^sha256:[0-9a-f]{64}$/), '12345678'],
    ]);
    expect(sink.envelopes()[1]!.payload).toBe('{"robot_call_job_id":6,"called_phone_number":"13900000000","start_time":"2026-11-02 09:01:00"}');
  });

  it('LVMS: a DTO with no id gets the key and payload its text gets at the receiver, blanks around its line or not (they made a second key)', () => {
    const ctx = { vendor: 'alibaba-lvms' as const, tenant: '12345678', file: 'f.jsonl', requestId: 'r', receivedAt: new Date(0) };
    const dto = '{"robot_call_job_id":6,"called_phone_number":"13900000000"}';
    const atReceiver = checkLvmsDto(dto);
    if (!atReceiver.ok) throw new Error(atReceiver.problem);
    expect(atReceiver.key.source).toBe('payload-sha256');
    for (const line of [dto, `  ${dto}\t `, `\t${JSON.stringify(dto)} `]) {
      const got = envelopesFromLine(line, 1, ctx);
      expect(got.ok && got.envelopes.map((e) => [e.natural_key, e.payload]), JSON.stringify(line)).toEqual([[atReceiver.key.key, dto]]);
    }
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

  it('Kafka refusing batch k past its retries ends the run with the stop\'s summary: records published, the batch not published and the line to import again from (it threw: the caller named the last line read, inside that batch)', async () => {
    const file = join(tempDir(), 'eight.jsonl');
    // Batches of 2: lines 1-2, 3 bad and 4 blank, 5-6, then 7-8 (batch 3), which Kafka refuses on every try.
    writeFileSync(file, `${feeLine('s-1')}\n${feeLine('s-2')}\nnot json\n\n${feeLine('s-5')}\n${feeLine('s-6')}\n${feeLine('s-7')}\n${feeLine('s-8')}\n${feeLine('s-9')}\n`);
    const sink = new MemorySink();
    sink.failFromPublish(3);
    const read: number[] = [];
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't', batchSize: 2 }), {
      sink,
      onLine: (n) => read.push(n),
      retry: { maxAttempts: 2, initialMs: 1 },
    });
    expect(summary).toMatchObject({
      lines: 8,
      records: 4,
      badLines: 1,
      blankLines: 1,
      stopped: { reason: 'publish-failed', unpublished: { fromLine: 7, records: 2, problem: 'broker not available (test)' } },
    });
    expect(summary.stopped?.reason === 'publish-failed' && summary.stopped.unpublished.error).toMatchObject({ kind: 'transient' });
    // Nothing read past the refused batch; what came before it is published, once.
    expect(read.at(-1)).toBe(7);
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-1', 's-2', 's-5', 's-6']);
  });

  it('the last, partial batch refused: the same summary (the run ends there)', async () => {
    const sink = new MemorySink();
    sink.failing = true;
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: fixture('huawei-fee.jsonl'), topic: 't' }), { sink, retry: { maxAttempts: 2, initialMs: 1 } });
    expect(summary).toMatchObject({ records: 0, stopped: { reason: 'publish-failed', unpublished: { fromLine: 1, records: 3 } } });
  });

  /** Standard input that yields `lines` (each cut across two reads, as a pipe delivers it), then fails as a dying disk does. */
  const failingAfter = (lines: string[]) =>
    Readable.from((async function* () {
      for (const line of lines) yield* [Buffer.from(line.slice(0, 5)), Buffer.from(`${line.slice(5)}\n`)];
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    })());

  it('a read error partway: the records read are published and the run ends with the summary, the first line not published named (it threw: the caller named the last line read, and the pending batch was neither published nor named)', async () => {
    const sink = new MemorySink();
    // Batches of 2: lines 1-2 published, 3 bad, 4 pending when the read fails before line 5.
    const stdin = failingAfter([feeLine('s-1'), feeLine('s-2'), 'not json', feeLine('s-4')]);
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: '-', topic: 't', batchSize: 2 }), { sink, stdin });
    expect(summary).toMatchObject({ lines: 4, records: 3, badLines: 1, stopped: { reason: 'read-failed', line: 5, problem: 'EIO: i/o error, read' } });
    expect(summary.stopped?.reason === 'read-failed' && summary.stopped.unpublished).toBeUndefined();
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-1', 's-2', 's-4']);
  });

  it('a read error partway, and Kafka refusing the pending batch: that batch\'s first line is where to import again from', async () => {
    const sink = new MemorySink();
    // Kafka refuses from the second batch on (the first goes through).
    sink.failFromPublish(2);
    const stdin = failingAfter([feeLine('s-1'), feeLine('s-2'), feeLine('s-3')]);
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: '-', topic: 't', batchSize: 2 }), {
      sink, stdin, retry: { maxAttempts: 2, initialMs: 1 },
    });
    expect(summary).toMatchObject({
      lines: 3,
      records: 2,
      stopped: { reason: 'read-failed', line: 4, problem: 'EIO: i/o error, read', unpublished: { fromLine: 3, records: 1, problem: 'broker not available (test)' } },
    });
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-1', 's-2']);
  });

  it('not JSON Lines, and Kafka refusing the pending batch: not JSON Lines stays the reason, that batch kept as unpublished (it became publish-failed, the JSON Lines problem dropped)', async () => {
    const sink = new MemorySink();
    // Kafka refuses from the second batch on (the first goes through).
    sink.failFromPublish(2);
    // Lines 1-2 published, 3 pending, then a line with no end past MAX_SKIPPED_LINE_BYTES (1 MiB chunks, one buffer).
    const zeros = Buffer.alloc(1024 * 1024);
    const stdin = Readable.from((async function* () {
      yield Buffer.from(`${feeLine('s-1')}\n${feeLine('s-2')}\n${feeLine('s-3')}\n`);
      for (let sent = 0; sent <= MAX_SKIPPED_LINE_BYTES; sent += zeros.length) yield zeros;
    })());
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: '-', topic: 't', batchSize: 2 }), {
      sink, stdin, retry: { maxAttempts: 2, initialMs: 1 },
    });
    expect(summary).toMatchObject({
      lines: 3,
      records: 2,
      stopped: { reason: 'not-json-lines', line: 4, problem: expect.stringMatching(/^line 4 is still going/), unpublished: { fromLine: 3, records: 1, problem: 'broker not available (test)' } },
    });
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-1', 's-2']);
  });

  it('resumePoint: the line to import again from, and why importing a line again is harmless', () => {
    expect(resumePoint(5, 3)).toBe(
      'the lines before line 5 were published (3 records) or reported: import the file again from line 5 on (a record imported twice is stored once: the same cdr_id is one row in ClickHouse)',
    );
  });

  it('resumeAdvice: the records left out, the line to import again from, and why importing a line again is harmless', () => {
    expect(resumeAdvice({ fromLine: 7, records: 2, problem: 'x', error: new Error('x') }, 4)).toBe(
      'its 2 records, from line 7, were not published; the lines before line 7 were published (4 records) or reported: import the file again from line 7 on (a record imported twice is stored once: the same cdr_id is one row in ClickHouse)',
    );
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

  it('Ctrl-C while a refused batch waits for its retry: the stop\'s summary, that batch not counted, the line to resume from (it was a Kafka failure: exit 1 or 69)', async () => {
    const file = join(tempDir(), 'three.jsonl');
    writeFileSync(file, `${feeLine('s-1')}\n${feeLine('s-2')}\n\n${feeLine('s-3')}\n${feeLine('s-4')}\n`);
    const sink = new MemorySink();
    const stop = new AbortController();
    // The first batch is acknowledged; Kafka refuses every later one, and the user presses Ctrl-C once it was refused.
    sink.failFromPublish(2, () => setImmediate(() => stop.abort(new Error('SIGINT'))));
    // Retries without end and long waits: only the stop can end this batch's tries.
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't', batchSize: 2 }), {
      sink,
      signal: stop.signal,
      retry: { maxAttempts: Infinity, initialMs: 60_000, maxMs: 60_000 },
    });
    expect(summary).toMatchObject({
      lines: 5,
      records: 2,
      stopped: { reason: 'signal', unpublished: { fromLine: 4, records: 2, problem: 'broker not available (test)' } },
    });
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-1', 's-2']);
  });

  it('control characters in a reason are escaped: JSON.parse quotes the text it choked on, NUL bytes and escape sequences included', async () => {
    const file = join(tempDir(), 'controls.jsonl');
    // Line 2: a NUL byte first; line 3: a terminal escape sequence; line 4: a C1 control (CSI, U+009B) in the excerpt.
    writeFileSync(file, `${feeLine('s-1')}\n\u0000{"appKey":"a"}\n\u001b[31m{"appKey":"a"}\n\u009b31m{}\n`);
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't' }), { sink: new MemorySink() });
    expect(summary).toMatchObject({ lines: 4, records: 1, badLines: 3 });
    const reasons = summary.firstBadLines.map((b) => b.reason);
    for (const reason of reasons) {
      expect(reason).toMatch(/^not valid JSON \(/);
      // eslint-disable-next-line no-control-regex
      expect(reason).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    }
    expect(reasons[0]).toContain('\\u0000');
    expect(reasons[1]).toContain('\\u001b');
    expect(reasons[2]).toContain('\\u009b');
  });

  it('UTF-16 (a byte order mark, or a first line with NUL bytes between the characters) ends the import at line 1, nothing published', async () => {
    const dir = tempDir();
    const text = `${feeLine('s-1')}\n${feeLine('s-2')}\n`;
    const le = Buffer.from(text, 'utf16le');
    const be = Buffer.from(le).swap16();
    const cases: [string, Buffer, RegExp][] = [
      ['bom-le', Buffer.concat([Buffer.from([0xff, 0xfe]), le]), /^looks like UTF-16 \(it starts with the UTF-16LE byte order mark FF FE\), not UTF-8: convert it to UTF-8 first \(iconv -f UTF-16LE -t UTF-8 <file> > <file>\.utf8\.jsonl\)$/],
      ['bom-be', Buffer.concat([Buffer.from([0xfe, 0xff]), be]), /UTF-16BE byte order mark FE FF.*iconv -f UTF-16BE/],
      ['le', le, /^looks like UTF-16 \(its first line has NUL bytes between the characters\).*iconv -f UTF-16LE/],
      ['be', be, /NUL bytes between the characters.*iconv -f UTF-16BE/],
    ];
    for (const [name, bytes, problem] of cases) {
      const file = join(dir, `${name}.jsonl`);
      writeFileSync(file, bytes);
      const sink = new MemorySink();
      const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't' }), { sink });
      expect(summary, name).toMatchObject({ lines: 0, records: 0, badLines: 0, stopped: { reason: 'not-json-lines', line: 1, problem: expect.stringMatching(problem) } });
      expect(sink.published).toEqual([]);
      // The same verdict from the first bytes alone (the command's check before Kafka), with the file's name.
      expect(fileStartProblem(file)).toMatch(new RegExp(`iconv -f UTF-16[LB]E -t UTF-8 ${file.replace(/[.]/g, '\\.')} > `));
    }
    // UTF-8 text is no UTF-16, Chinese included; nor are zeros on both sides (/dev/zero: the endless-line rule's).
    expect(utf16Problem(Buffer.from('{"a":"中文通话记录"}\n'))).toBeUndefined();
    expect(utf16Problem(Buffer.alloc(4096))).toBeUndefined();
    expect(utf16Problem(Buffer.from('{}\n'))).toBeUndefined();
  });

  it('a compressed file (gzip, xz, zstd) ends the import at line 1, saying how to decompress it (it was one "invalid UTF-8" bad line per 0x0A byte, exit 2)', async () => {
    const dir = tempDir();
    const text = Buffer.from(`${feeLine('s-1')}\n${feeLine('s-2')}\n`);
    const cases: [string, Buffer, RegExp][] = [
      ['gz', gzipSync(text), /^looks like gzip data \(it starts with 1F 8B\), not JSON Lines: decompress it first \(zcat <file> \| cdrflow import … --file -\)$/],
      ['xz', Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), text]), /^looks like xz data \(it starts with FD 37 7A 58 5A 00\).*\(xzcat <file> \|/],
      ['zst', Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), text]), /^looks like zstd data \(it starts with 28 B5 2F FD\).*\(zstdcat <file> \|/],
    ];
    for (const [name, bytes, problem] of cases) {
      const file = join(dir, `calls.jsonl.${name}`);
      writeFileSync(file, bytes);
      const sink = new MemorySink();
      const bad: number[] = [];
      const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't' }), { sink, onBadLine: (b) => bad.push(b.line) });
      expect(summary, name).toMatchObject({ lines: 0, records: 0, badLines: 0, stopped: { reason: 'not-json-lines', line: 1, problem: expect.stringMatching(problem) } });
      expect(bad, name).toEqual([]);
      expect(sink.published).toEqual([]);
      // The same verdict from the first bytes alone (the command's check before Kafka), with the file's name.
      expect(fileStartProblem(file)).toContain(`cat ${file} | cdrflow import`);
    }
  });

  it(`a line still going after ${MAX_SKIPPED_LINE_BYTES} bytes ends the import, naming it (it was skipped for ever: /dev/zero ran without end)`, async () => {
    // Two good lines, then 72 MiB of zeros without a line end, from a FIFO: bounded, nothing written to disk.
    const { path } = fifoFedBy(`printf '%s\\n%s\\n' '${feeLine('s-1')}' '${feeLine('s-2')}'; exec head -c ${72 * 1024 * 1024} /dev/zero`);
    const sink = new MemorySink();
    const started = Date.now();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: path, topic: 't' }), { sink });
    expect(summary).toMatchObject({
      lines: 2,
      records: 2,
      badLines: 0,
      stopped: { reason: 'not-json-lines', line: 3, problem: 'line 3 is still going after 64 MiB without a line end: the file does not look like JSON Lines (one JSON value per line); the import stopped there' },
    });
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-1', 's-2']);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a signal stops the import where it is, even while the input waits: the lines read are published, the summary says so', { timeout: 15_000 }, async () => {
    // Five lines, then a writer that keeps the FIFO open without writing (an endless pipe, a slow producer).
    const { path } = fifoFedBy(`for i in 1 2 3 4 5; do printf '{"appKey":"hwApp","sessionId":"s-%s"}\\n' $i; done; exec sleep 60`);
    const sink = new MemorySink();
    const stop = new AbortController();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: path, topic: 't', batchSize: 2 }), {
      sink,
      signal: stop.signal,
      // After the fifth line the read waits for more: abort it there (a moment later, as a person's Ctrl-C would).
      onLine: (n) => void (n === 5 && setTimeout(() => stop.abort(new Error('SIGINT')), 200)),
    });
    expect(summary).toMatchObject({ lines: 5, records: 5, badLines: 0, stopped: { reason: 'signal' } });
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-1', 's-2', 's-3', 's-4', 's-5']);

    // Aborted before it starts: nothing read.
    const before = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: fixture('huawei-fee.jsonl'), topic: 't' }), { sink: new MemorySink(), signal: AbortSignal.abort() });
    expect(before).toMatchObject({ lines: 0, records: 0, stopped: { reason: 'signal' } });
  });

  it('file "-" reads standard input, as Unix tools do (it was opened as a file named "-": ENOENT)', async () => {
    const sink = new MemorySink();
    const text = `${feeLine('s-1')}\n${feeLine('s-2')}\n`;
    // A line cut across two reads, as a pipe delivers it.
    const stdin = Readable.from([Buffer.from(text.slice(0, 50)), Buffer.from(text.slice(50))]);
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: '-', topic: 't' }), { sink, stdin });
    expect(summary).toMatchObject({ file: 'stdin', lines: 2, records: 2, badLines: 0 });
    expect(sink.envelopes('t').map((e) => [e.natural_key, e.attributes['file']])).toEqual([['s-1', 'stdin'], ['s-2', 'stdin']]);
  });

  it('a file appended to while read: its lines are all imported, and the progress never shows a total below the lines read', async () => {
    const file = join(tempDir(), 'growing.jsonl');
    // Far more than the stream reads ahead (64 KiB), so the append lands before the read reaches the end.
    const start = 5_000;
    writeFileSync(file, Array.from({ length: start }, (_, i) => `${feeLine(`s-${i + 1}`)}\n`).join(''));
    const total = await countLines(file);
    const out: string[] = [];
    const stream = new Writable({ write: (chunk, _enc, cb) => void (out.push(String(chunk)), cb()) }) as unknown as NodeJS.WriteStream;
    const bar = new Progress({ label: 'import', total, unit: 'lines', stream, intervalMs: 0 });
    const sink = new MemorySink();
    let publishes = 0;
    // Another process appends 100 lines while the first batch is out (a slow publisher).
    const appending = {
      publish: async (e: Parameters<MemorySink['publish']>[0], t: string) => {
        if (++publishes === 1) appendFileSync(file, Array.from({ length: 100 }, (_, i) => `${feeLine(`s-${start + i + 1}`)}\n`).join(''));
        return sink.publish(e, t);
      },
    };
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't' }), { sink: appending, onLine: () => bar.tick() });
    expect(summary).toMatchObject({ lines: start + 100, records: start + 100 });
    const last = out.at(-1)!;
    expect(last).toMatch(/^import 5,100 lines \(5,000 at the start: it grew\) /);
    for (const line of out) {
      const shown = /^import ([\d,]+)\/([\d,]+) lines/.exec(line);
      if (shown) expect(Number(shown[1]!.replaceAll(',', '')), line).toBeLessThanOrEqual(Number(shown[2]!.replaceAll(',', '')));
    }
  });

  it('countLines counts a last line without newline', async () => {
    expect(await countLines(fixture('huawei-fee.jsonl'))).toBe(6);
  });
});

// Found by the file-import campaign (import-hostile.test.ts); the seed and case that found each are named.
describe('importFile: what the campaign found', () => {
  it('Huawei: a push body of more than 50 fee records is a bad line, as the receiver refuses it whole (seed 4242, case 1)', async () => {
    const file = join(tempDir(), 'many.jsonl');
    const push = (n: number, from: number) => JSON.stringify({ eventType: 'fee', feeLst: Array.from({ length: n }, (_, i) => ({ appKey: 'hwApp', sessionId: `s-${from + i}` })) });
    writeFileSync(file, `${push(50, 0)}\n${push(51, 100)}\n${push(112, 200)}\n`);
    const sink = new MemorySink();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't' }), { sink });
    expect(summary).toMatchObject({ lines: 3, records: 50, badLines: 2 });
    expect(summary.firstBadLines).toEqual([
      { line: 2, reason: 'feeLst holds 51 records, more than a push holds (1 to 50): the receiver refuses it whole' },
      { line: 3, reason: 'feeLst holds 112 records, more than a push holds (1 to 50): the receiver refuses it whole' },
    ]);
  });

  it('a byte order mark, a zero-width space or a bidi mark quoted in a reason is escaped, not printed raw (seed 4242, case 2)', async () => {
    const file = join(tempDir(), 'invisible.jsonl');
    writeFileSync(file, `${feeLine('s-1')}\n\uFEFF${feeLine('s-2')}\n\u200b{}\n\u061c{}\n`);
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't' }), { sink: new MemorySink() });
    expect(summary).toMatchObject({ lines: 4, records: 1, badLines: 3 });
    const reasons = summary.firstBadLines.map((b) => b.reason);
    for (const reason of reasons) expect(reason).not.toMatch(/[\p{Cf}\p{Zl}\p{Zp}]/u);
    expect(reasons.map((r) => /\\u(feff|200b|061c)/.exec(r)?.[0])).toEqual(['\\ufeff', '\\u200b', '\\u061c']);
  });

  it('the byte order mark before the first line does not count toward its length (seed 77, case 53)', async () => {
    const file = join(tempDir(), 'bom-long.jsonl');
    const body = JSON.stringify({ eventType: 'fee', feeLst: [JSON.parse(feeLine('s-a'))] });
    const line = `${body.slice(0, -1)},"pad":"${'x'.repeat(MAX_LINE_BYTES - body.length - ',"pad":""'.length)}"}`;
    expect(Buffer.byteLength(line)).toBe(MAX_LINE_BYTES);
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${line}\n\uFEFF${feeLine('s-b')}\n`)]));
    const sink = new MemorySink();
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, topic: 't' }), { sink });
    // Line 1 is exactly the limit once its BOM is dropped; a BOM on line 2 is text, as before.
    expect(summary).toMatchObject({ lines: 2, records: 1, badLines: 1 });
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-a']);
    expect(summary.firstBadLines[0]).toMatchObject({ line: 2, reason: expect.stringMatching(/^not valid JSON/) });
  });
});
