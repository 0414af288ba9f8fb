import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadLineNotes } from './bad-line-notes.ts';
import { importFile } from './import.ts';
import { ImportOptionsSchema } from './config.ts';
import { MemorySink } from '../receiver/fixtures/memory-sink.ts';
import { LINES_LOGGED_PER_SECOND } from '../../core/log-limit.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function fileOf(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-bad-lines-'));
  dirs.push(dir);
  const file = join(dir, 'calls.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('BadLineNotes', () => {
  it('a file of 10,000 bad lines read within one second prints the first lines of that second and one sum, the summary stays whole', async () => {
    const bad = 10_000;
    const file = fileOf(Array.from({ length: bad }, (_, i) => `{"broken": ${i}`));
    const clock = { ms: Date.UTC(2026, 10, 3, 12, 0, 0, 100) };
    const notes: string[] = [];
    const reporter = new BadLineNotes('calls.jsonl', (line) => notes.push(line), () => clock.ms);
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file, tenant: 'hwApp', topic: 't' }), {
      sink: new MemorySink(),
      onBadLine: (b) => reporter.report(b),
    });
    reporter.close();

    expect(summary).toMatchObject({ lines: bad, records: 0, badLines: bad });
    expect(summary.firstBadLines).toHaveLength(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file }).maxReportedBadLines);
    expect(summary.firstBadLines[0]).toEqual({ line: 1, reason: expect.stringContaining('not valid JSON') });
    expect(notes).toHaveLength(LINES_LOGGED_PER_SECOND + 1);
    expect(notes.slice(0, LINES_LOGGED_PER_SECOND)).toEqual(
      Array.from({ length: LINES_LOGGED_PER_SECOND }, (_, i) => expect.stringMatching(new RegExp(`^calls\\.jsonl:${i + 1}: skipped: not valid JSON`))),
    );
    expect(notes.at(-1)).toBe(`calls.jsonl: ${bad - LINES_LOGGED_PER_SECOND} more bad lines this second, not shown (the summary counts them all)`);
  });

  it('each second shows its own first lines again, after the sum of the second before', () => {
    const clock = { ms: 5_000 };
    const notes: string[] = [];
    const reporter = new BadLineNotes('(standard input)', (line) => notes.push(line), () => clock.ms);
    for (let line = 1; line <= LINES_LOGGED_PER_SECOND + 5; line++) reporter.report({ line, reason: 'invalid UTF-8 in the line' });
    clock.ms = 6_000;
    reporter.report({ line: 100, reason: 'invalid UTF-8 in the line' });
    reporter.close();
    expect(notes.slice(LINES_LOGGED_PER_SECOND)).toEqual([
      '(standard input): 5 more bad lines this second, not shown (the summary counts them all)',
      '(standard input):100: skipped: invalid UTF-8 in the line',
    ]);
  });
});
