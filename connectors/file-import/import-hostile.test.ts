// Fuzz campaign on the file-import surface (`cdrflow import <vendor> --file F`), in-process with an in-memory sink: seeded
// files that mix valid records (the normalize fixtures' good records, with fresh ids) with hostile lines — invalid
// UTF-8, NUL and control characters, CR / CRLF / lone CR line ends, a byte order mark, blank and whitespace-only lines,
// deep nesting, huge numbers, a member given twice, JSON that is no object, Huawei push bodies with many fee records,
// LVMS records without a key, lines just under and over MAX_LINE_BYTES, no final newline. Each case must:
//  - end as the command would exit 0 or 2 (never a throw, which the command turns into exit 1, nor a stop);
//  - publish every valid line's records exactly once, each payload the line's (or its feeLst element's) bytes as they
//    were (without the blanks around the line), under the line's number;
//  - report every bad line once, by its number, with a reason that says what is wrong, the summary's counts matching;
//  - print nothing (a reason, a bad-line note) that carries a raw control or invisible character, and show the first
//    LINES_LOGGED_PER_SECOND bad lines of each second, the rest summed up.
// CDRFLOW_FUZZ_IMPORT_SEED replays another seed; CDRFLOW_FUZZ_IMPORT_CASES runs more files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importFile, startProblem } from './import.ts';
import { BadLineNotes } from './bad-line-notes.ts';
import { ImportOptionsSchema, IMPORT_VENDORS } from './config.ts';
import { MemorySink } from '../receiver/fixtures/memory-sink.ts';
import { MAX_FEE_RECORDS } from '../huawei-privatenumber/receiver-route.ts';
import { MAX_JSON_DEPTH, MAX_LINE_BYTES, MAX_RECORD_BYTES } from '../../core/input-limits.ts';
import { LINES_LOGGED_PER_SECOND } from '../../core/log-limit.ts';
import { EXIT_SOME_LINES_BAD } from '../../core/exit-codes.ts';
import { seedRecords } from '../../test/fuzz/generator.ts';
import { Rng, seededRandom } from '../../simulators/kit.ts';

const SEED = Number(process.env['CDRFLOW_FUZZ_IMPORT_SEED'] ?? 4242);
const CASES = Number(process.env['CDRFLOW_FUZZ_IMPORT_CASES'] ?? 24);
const TENANT = '12345678';
const REPORTED = 100;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}]/u;

const dir = mkdtempSync(join(tmpdir(), 'cdrflow-import-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Vendor = (typeof IMPORT_VENDORS)[number];
type Json = Record<string, unknown>;

/** What a line must come to: its records published (these payloads, in order), a report matching `reason`, or nothing. */
type Expect =
  | { kind: 'ok'; payloads: string[]; keys?: string[] }
  | { kind: 'bad'; reason: RegExp; what: string }
  | { kind: 'blank' }
  /** Whitespace JSON does not know (a form feed, U+3000): counted blank or reported, never published. */
  | { kind: 'blank-or-bad' };

interface Line {
  body: Buffer;
  expect: Expect;
}

const huaweiSeeds = seedRecords('huawei-privatenumber');
const lvmsSeeds = seedRecords('alibaba-lvms');

class CaseGen {
  private n = 0;
  constructor(
    readonly r: Rng,
    readonly vendor: Vendor,
    readonly id: string,
  ) {}

  /** Remarks a vendor may send: Chinese, emoji, quotes, backslashes, escaped controls, DEL and C1 (legal in JSON strings). */
  private remark(): string {
    const parts = ['张三', '😀', '"q"', '\\', '\u0000', '\u001b[31m', '\u007f', '\u0085', 'a:b', '\t', '', 'é'];
    return Array.from({ length: this.r.int(0, 4) }, () => this.r.pick(parts)).join('');
  }

  /** A valid record of the vendor, its text as JSON.stringify writes it, and its natural key. */
  record(): { text: string; key: string } {
    const id = `${this.id}-${this.n++}`;
    if (this.vendor === 'huawei-privatenumber') {
      const rec: Json = { ...this.r.pick(huaweiSeeds), appKey: 'hwFuzzApp', sessionId: `fz-${id}@x` };
      if (this.r.chance(0.3)) rec['remark'] = this.remark();
      return { text: JSON.stringify(rec), key: `fz-${id}@x` };
    }
    const callRecordId = 9_000_000_000 + Number(id.replace(/\D/g, '').slice(-9));
    const rec: Json = { ...this.r.pick(lvmsSeeds), call_record_id: callRecordId };
    if (this.r.chance(0.3)) rec['name'] = this.remark();
    return { text: JSON.stringify(rec), key: String(callRecordId) };
  }

  /** A record text without a member given twice: the insertion point for hostile members. */
  private withMember(text: string, member: string): string {
    return `${text.slice(0, -1)},${member}}`;
  }

  valid(): Line {
    const { text, key } = this.record();
    const r = this.r;
    if (this.vendor === 'huawei-privatenumber' && r.chance(0.3)) return this.push(r.int(1, 8));
    if (this.vendor === 'alibaba-lvms' && r.chance(0.25)) {
      // As TOP logs it: the DTO as a JSON string; the payload is the DTO's own text.
      return { body: Buffer.from(JSON.stringify(text)), expect: { kind: 'ok', payloads: [text], keys: [key] } };
    }
    // Spaces around a record are the file's, not the record's: the payload is the record's text, as a receiver stores
    // it (a record with no id is keyed by that text).
    const around = r.chance(0.1) ? r.pick([' ', '\t', '  ']) : '';
    const line = `${around}${text}${around}`;
    return { body: Buffer.from(line), expect: { kind: 'ok', payloads: [text], keys: [key] } };
  }

  /** A Huawei push body of `count` records; over MAX_FEE_RECORDS the receiver refuses it whole, as must the import. */
  push(count: number): Line {
    return this.pushOf(Array.from({ length: count }, () => this.record()), this.r.pick([',', ', ', ' , ']));
  }

  private pushOf(records: { text: string; key: string }[], sep: string): Line {
    const body = `{"eventType":"fee","feeLst":[${records.map((x) => x.text).join(sep)}]}`;
    if (records.length > MAX_FEE_RECORDS) return { body: Buffer.from(body), expect: { kind: 'bad', reason: /feeLst/, what: `push of ${records.length}` } };
    return { body: Buffer.from(body), expect: { kind: 'ok', payloads: records.map((x) => x.text), keys: records.map((x) => x.key) } };
  }

  /** A line of `target` bytes (a push body for Huawei, one padded DTO for LVMS): valid up to MAX_LINE_BYTES. */
  sized(target: number): Line {
    const padded = (text: string, pad: number) => this.withMember(text, `"pad":"${'x'.repeat(pad)}"`);
    const member = ',"pad":""'.length;
    if (this.vendor === 'huawei-privatenumber') {
      const records = Array.from({ length: 20 }, () => this.record());
      const extra = target - this.pushOf(records, ',').body.length - records.length * member;
      const pads = records.map((x, i) => ({ ...x, text: padded(x.text, Math.floor(extra / records.length) + (i < extra % records.length ? 1 : 0)) }));
      const line = this.pushOf(pads, ',');
      expect(line.body.length, 'sized push').toBe(target);
      if (target > MAX_LINE_BYTES) return { body: line.body, expect: { kind: 'bad', reason: /^line is \d+ bytes long \(limit \d+\); skipped unread$/, what: 'overlong' } };
      return line;
    }
    const { text } = this.record();
    const body = Buffer.from(padded(text, target - Buffer.byteLength(text) - member));
    expect(body.length, 'sized record').toBe(target);
    const reason = target > MAX_LINE_BYTES ? /^line is \d+ bytes long/ : /record is \d+ bytes \(limit/;
    return { body, expect: { kind: 'bad', reason, what: 'sized record' } };
  }

  hostile(): Line {
    const r = this.r;
    const huawei = this.vendor === 'huawei-privatenumber';
    const bad = (body: string | Buffer, reason: RegExp, what: string): Line => ({ body: Buffer.isBuffer(body) ? body : Buffer.from(body), expect: { kind: 'bad', reason, what } });
    const kind = r.int(0, 15);
    switch (kind) {
      case 0: {
        // Invalid UTF-8 inside a string value: a stray byte, a cut sequence, an overlong form, an encoded surrogate.
        const text = Buffer.from(this.record().text);
        const at = text.indexOf(huawei ? '"sessionId":"' : '"called_phone_number":"') + 14;
        const junk = Buffer.from(r.pick([[0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80]]));
        return bad(Buffer.concat([text.subarray(0, at), junk, text.subarray(at)]), /^invalid UTF-8 in the line$/, 'invalid UTF-8');
      }
      case 1: {
        // A raw control character (NUL, ESC, BEL…) inside a string or between members: no JSON.
        const text = this.record().text;
        const ch = String.fromCharCode(r.pick([0, 1, 7, 8, 0x1b, 0x1f, 0x0b, 0x0c]));
        const at = r.chance(0.5) ? text.indexOf('":"') + 3 : text.indexOf(',') + 1;
        return bad(`${text.slice(0, at)}${ch}${text.slice(at)}`, /^not valid JSON \(/, 'control character');
      }
      case 2: {
        // Two records joined by a lone CR (an old Mac line end): one line, no JSON.
        return bad(`${this.record().text}\r${this.record().text}`, /^not valid JSON \(/, 'lone CR');
      }
      case 3: {
        // A byte order mark anywhere but the file's start is text (the start is handled by the case itself).
        return bad(`\uFEFF${this.record().text}`, /^not valid JSON \(/, 'BOM inside');
      }
      case 4:
        return { body: Buffer.from(r.pick(['', ' ', '\t', '  \t ', '\r'])), expect: { kind: 'blank' } };
      case 5:
        return { body: Buffer.from(r.pick(['\u000b', '\f', '\u00a0', '\u3000', '\u2028', ' \u00a0 '])), expect: { kind: 'blank-or-bad' } };
      case 6: {
        // Nesting: up to MAX_JSON_DEPTH levels a record, beyond a bad line (5,000 levels included).
        const depth = r.chance(0.2) ? 5000 : r.int(1, 24);
        const { text, key } = this.record();
        const line = this.withMember(text, `"deep":${'['.repeat(depth)}${']'.repeat(depth)}`);
        if (depth + 1 <= MAX_JSON_DEPTH) return { body: Buffer.from(line), expect: { kind: 'ok', payloads: [line], keys: [key] } };
        return bad(line, new RegExp(`^JSON nested deeper than ${MAX_JSON_DEPTH} levels$`), 'deep');
      }
      case 7: {
        // Huge numbers: a record for Huawei (its fee fields are kept raw); an LVMS call_record_id past the key limit.
        const { text, key } = this.record();
        const huge = r.pick(['1e400', '-1e-400', '9'.repeat(400), '123456789012345678901234567890.5e+99']);
        if (huawei) {
          const line = this.withMember(text, `"ulFailReason2":${huge}`);
          return { body: Buffer.from(line), expect: { kind: 'ok', payloads: [line], keys: [key] } };
        }
        const line = text.replace(/"call_record_id":\d+/, `"call_record_id":${huge}`);
        return bad(line, /call_record_id (must be an integer|is \d+ bytes long)/, 'huge id');
      }
      case 8: {
        const text = this.record().text;
        const member = huawei ? `"sessionId":"other"` : `"call_record_id":1`;
        return bad(this.withMember(text, member), /^duplicate JSON member "(sessionId|call_record_id)" in one object$/, 'duplicate');
      }
      case 9: {
        const value = r.pick(['[1,2]', '42', 'null', 'true', '"text"', '[]', '{]']);
        if (value === '{]') return bad(value, /^not valid JSON \(/, 'broken');
        return bad(value, huawei ? /^expected a FeeInfo object/ : /^ivr_call_record_d_t_o (must be a JSON object|is not valid JSON)$/, 'not an object');
      }
      case 10:
        // Many fee records: within the documented 1..50 a record each, beyond refused whole (as at the receiver).
        if (huawei) return this.push(r.pick([MAX_FEE_RECORDS, MAX_FEE_RECORDS + 1, r.int(1, 120)]));
        return this.keyless();
      case 11:
        return huawei ? this.keyless() : this.valid();
      case 12:
        // Just under, at and just over the line limit.
        return this.sized(MAX_LINE_BYTES + r.pick([-1, 0, 1, 2]));
      case 13: {
        // One record just past the record limit.
        const { text } = this.record();
        const line = this.withMember(text, `"pad":"${'x'.repeat(MAX_RECORD_BYTES + r.int(0, 3) - Buffer.byteLength(text))}"`);
        return bad(line, /record is \d+ bytes \(limit 65536 per record\)$/, 'record over 64 KiB');
      }
      case 14: {
        // A truncated record (a file cut while written).
        const text = this.record().text;
        return bad(text.slice(0, r.int(1, text.length - 1)), /^not valid JSON \(|^ivr_call_record_d_t_o is not valid JSON$/, 'truncated');
      }
      default: {
        // A line of NULs and controls only.
        const body = Buffer.from(Array.from({ length: r.int(1, 8) }, () => r.pick([0, 1, 0x1b, 0x7f])));
        return bad(body, /^not valid JSON \(/, 'controls only');
      }
    }
  }

  /** A record without its key: kept (under a key made from its text) for normalize to dead-letter. */
  private keyless(): Line {
    const { text } = this.record();
    const keys = new Set(['sessionId', 'icid', 'call_record_id', 'robot_call_job_id']);
    const line = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(text) as Json).filter(([k]) => !keys.has(k))));
    return { body: Buffer.from(line), expect: { kind: 'ok', payloads: [line] } };
  }
}

interface Case {
  vendor: Vendor;
  file: string;
  bytes: Buffer;
  lines: Line[];
}

function makeCase(r: Rng, index: number): Case {
  const vendor = r.pick(IMPORT_VENDORS);
  const gen = new CaseGen(r, vendor, `${SEED}-${index}`);
  const hostileShare = r.pick([0.1, 0.3, 0.6, 0.95]);
  const count = r.int(5, r.chance(0.2) ? 260 : 60);
  const lines = Array.from({ length: count }, () => (r.chance(hostileShare) ? gen.hostile() : gen.valid()));
  // A UTF-8 byte order mark before the first line is dropped, whatever that line is (and only one: a line that starts
  // with one of its own keeps it, as text).
  const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
  const bom = r.chance(0.2) || lines[0]!.body.subarray(0, 3).equals(BOM) ? BOM : Buffer.alloc(0);
  const parts: Buffer[] = [bom];
  lines.forEach((line, i) => {
    parts.push(line.body);
    const last = i === lines.length - 1;
    // No final newline now and then; a last line that is empty without one is no line at all.
    if (last && line.body.length > 0 && r.chance(0.4)) return;
    parts.push(Buffer.from(r.chance(0.3) ? '\r\n' : '\n'));
  });
  const file = join(dir, `case-${index}.jsonl`);
  const bytes = Buffer.concat(parts);
  writeFileSync(file, bytes);
  return { vendor, file, bytes, lines };
}

const show = (line: Line) => {
  const text = line.body.length > 120 ? `${line.body.subarray(0, 120).toString('latin1')}… (${line.body.length} bytes)` : line.body.toString('latin1');
  return JSON.stringify(text);
};

describe(`fuzz: file import (seed ${SEED}, ${CASES} files)`, () => {
  it('every valid line published once with its bytes, every bad line reported by number, nothing unprintable shown', { timeout: 120_000 }, async () => {
    const rng = new Rng(seededRandom(SEED));
    let published = 0;
    let reported = 0;
    for (let c = 0; c < CASES; c++) {
      const { vendor, file, bytes, lines } = makeCase(rng, c);
      const where = `seed ${SEED} case ${c} (${vendor})`;
      const sink = new MemorySink();
      const bad: { line: number; reason: string }[] = [];
      // A clock that moves 10 ms per bad line: a second holds 100 of them, more than LINES_LOGGED_PER_SECOND.
      let clock = 0;
      const notesShown: string[] = [];
      const notes = new BadLineNotes('f.jsonl', (line) => notesShown.push(line), () => clock);
      let summary;
      try {
        summary = await importFile(ImportOptionsSchema.parse({ vendor, file, tenant: vendor === 'alibaba-lvms' ? TENANT : undefined, topic: 't', batchSize: 7, maxReportedBadLines: REPORTED }), {
          sink,
          onBadLine: (b) => {
            bad.push(b);
            notes.report(b);
            clock += 10;
          },
        });
      } finally {
        notes.close();
      }
      // A first line of NULs between other bytes reads as UTF-16, random bytes may start like gzip data: the documented
      // exit 65, before anything is published.
      if (startProblem(bytes.subarray(0, 4096)) !== undefined) {
        expect(summary, where).toMatchObject({ lines: 0, records: 0, stopped: { reason: 'not-json-lines', line: 1 } });
        expect(sink.published, where).toEqual([]);
        continue;
      }
      expect(summary.stopped, where).toBeUndefined();
      expect(summary.lines, where).toBe(lines.length);

      const envelopes = sink.envelopes('t');
      const byLine = new Map<number, typeof envelopes>();
      for (const e of envelopes) byLine.set(Number(e.attributes['line']), [...(byLine.get(Number(e.attributes['line'])) ?? []), e]);
      const badByLine = new Map(bad.map((b) => [b.line, b.reason]));
      expect(badByLine.size, `${where}: a line reported twice`).toBe(bad.length);

      let expectBad = 0;
      let blanks = 0;
      lines.forEach((line, i) => {
        const n = i + 1;
        const at = `${where} line ${n} ${show(line)}`;
        const got = byLine.get(n) ?? [];
        const reason = badByLine.get(n);
        const { expect: want } = line;
        if (want.kind === 'ok') {
          expect(reason, at).toBeUndefined();
          expect(got.map((e) => e.payload), at).toEqual(want.payloads);
          if (want.keys) expect(got.map((e) => e.natural_key), at).toEqual(want.keys);
          for (const e of got) expect(e.tenant_id, at).toBe(vendor === 'alibaba-lvms' ? TENANT : 'hwFuzzApp');
        } else if (want.kind === 'bad') {
          expectBad++;
          expect(got.length, at).toBe(0);
          expect(reason, at).toMatch(want.reason);
        } else if (want.kind === 'blank') {
          blanks++;
          expect(got.length, at).toBe(0);
          expect(reason, at).toBeUndefined();
        } else {
          expect(got.length, at).toBe(0);
          if (reason === undefined) blanks++;
          else expectBad++;
        }
      });
      expect(summary, where).toMatchObject({ records: envelopes.length, badLines: expectBad, blankLines: blanks });
      expect(bad.length, where).toBe(expectBad);
      expect(summary.firstBadLines, where).toEqual(bad.slice(0, REPORTED));
      expect(summary.badLines > 0 ? EXIT_SOME_LINES_BAD : 0, where).toBe(expectBad > 0 ? EXIT_SOME_LINES_BAD : 0);

      // What is shown: printable, the first LINES_LOGGED_PER_SECOND bad lines of each second, the rest summed up.
      for (const b of bad) {
        expect(b.reason, `${where} line ${b.line}`).not.toMatch(CONTROL);
        expect(b.reason, `${where} line ${b.line}`).not.toMatch(INVISIBLE);
        expect(b.reason.length).toBeLessThanOrEqual(600);
      }
      for (const note of notesShown) {
        expect(note, where).not.toMatch(CONTROL);
        expect(note, where).not.toMatch(INVISIBLE);
      }
      const perSecond = new Map<number, typeof bad>();
      bad.forEach((b, k) => perSecond.set(Math.floor((k * 10) / 1000), [...(perSecond.get(Math.floor((k * 10) / 1000)) ?? []), b]));
      const wanted: string[] = [];
      for (const inSecond of perSecond.values()) {
        wanted.push(...inSecond.slice(0, LINES_LOGGED_PER_SECOND).map((b) => `f.jsonl:${b.line}: skipped: ${b.reason}`));
        const more = inSecond.length - LINES_LOGGED_PER_SECOND;
        if (more > 0) wanted.push(`f.jsonl: ${more} more bad lines this second, not shown (the summary counts them all)`);
      }
      expect(notesShown, where).toEqual(wanted);
      // --batch 7: a batch holds at most 7 records, or one line's (a push body) of more; a line's records are never split.
      const lineOf = (e: (typeof envelopes)[number]) => e.attributes['line'];
      for (const [k, { envelopes: batch }] of sink.published.entries()) {
        const lines = new Set(batch.map(lineOf));
        expect(batch.length <= 7 || lines.size === 1, `${where}: batch ${k} of ${batch.length} records from lines ${[...lines].join(',')}`).toBe(true);
        if (k > 0) expect(sink.published[k - 1]!.envelopes.map(lineOf), `${where}: batch ${k}`).not.toContain(lineOf(batch[0]!));
      }
      published += envelopes.length;
      reported += bad.length;
    }
    // The campaign exercised both outcomes.
    expect(published).toBeGreaterThan(0);
    expect(reported).toBeGreaterThan(0);
  });
});
