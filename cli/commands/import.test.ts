// `cdrflow import` refusals as a user meets them, run as a child process. Kafka is on a closed loopback port: each of
// these is refused before Kafka is asked (otherwise the exit would be 69), with one line and no progress summary.
// Then how an import that failed partway is told (failedEnding: exit, failed_at_line, message), without Kafka: a faked
// publisher (MemorySink) where importFile runs.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { failedEnding } from './import.ts';
import { CdrflowError } from '../../core/errors.ts';
import { KafkaUnreachableError } from '../../core/kafka.ts';
import { Readable } from 'node:stream';
import { importFile, MAX_SKIPPED_LINE_BYTES } from '../../connectors/file-import/import.ts';
import { ImportOptionsSchema } from '../../connectors/file-import/config.ts';
import { MemorySink } from '../../connectors/receiver/fixtures/memory-sink.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cdrflow-import-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env['PATH'] ?? '', HOME: dir, KAFKA_BROKERS: '127.0.0.1:1', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1', NO_COLOR: '1' };

function cdrflowImport(args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'import', ...args], { encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The whole of stderr is `cdrflow import: <line>` (no "done:" summary, no stack, no raw error code first). */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^cdrflow import: /);
  return lines[0]!.slice('cdrflow import: '.length);
}

describe('cdrflow import refusals', () => {
  it('--file missing or a directory: one line, exit 66 (it was "done: failed_at_line=0" and a raw ENOENT / EISDIR, exit 1)', () => {
    const missing = cdrflowImport(['huawei-privatenumber', '--file', join(dir, 'nope.jsonl')]);
    expect(missing.status).toBe(66);
    expect(oneLine(missing.stderr)).toBe(`--file ${join(dir, 'nope.jsonl')}: no such file`);
    const directory = cdrflowImport(['huawei-privatenumber', '--file', dir]);
    expect(directory.status).toBe(66);
    expect(oneLine(directory.stderr)).toBe(`--file ${dir}: is a directory, not a file`);
    expect(missing.stdout + directory.stdout).toBe('');
  });

  // A path a read fails on (EIO) that passes the first checks: stat says a regular file, and it is readable. A directory
  // (EISDIR) never gets that far: refused above, exit 66. This fails at the look at the file's start, before Kafka.
  it.skipIf(process.platform !== 'linux')('--file that fails on its first read (/proc/self/mem: EIO): one line naming it, exit 66 (it was a bare "EIO: i/o error, read", exit 1)', () => {
    const r = cdrflowImport(['huawei-privatenumber', '--file', '/proc/self/mem']);
    expect(r.status, r.stderr).toBe(66);
    expect(oneLine(r.stderr)).toMatch(/^--file \/proc\/self\/mem: cannot be read \(EIO\b/);
  });

  it('a missing or unknown vendor, a missing --file and alibaba-lvms without --tenant: one line each, exit 64, before anything is read (they were zod issues, or every LVMS line skipped, exit 2)', () => {
    const file = join(dir, 'lvms.jsonl');
    writeFileSync(file, '{"call_record_id":1,"robot_call_job_id":2,"called_phone_number":"17700000000","start_time":"2026-12-01 10:00:00"}\n');
    const cases: [string[], string][] = [
      [['--file', file], 'name a vendor: huawei-privatenumber or alibaba-lvms'],
      [['foo', '--file', file], 'vendor "foo" cannot be imported; use huawei-privatenumber or alibaba-lvms'],
      [['huawei-privatenumber'], '--file is required'],
      [['alibaba-lvms', '--file', file], '--tenant is required for alibaba-lvms (its records carry no app_key)'],
    ];
    for (const [args, message] of cases) {
      const r = cdrflowImport(args);
      expect(r.status, args.join(' ')).toBe(64);
      expect(r.stderr.split('\n')[0], args.join(' ')).toBe(`cdrflow import: ${message}`);
      expect(r.stdout).toBe('');
    }
  });

  it('--batch over its maximum names the flag and the range (it named the internal field batchSize)', () => {
    const r = cdrflowImport(['huawei-privatenumber', '--file', join(dir, 'nope.jsonl'), '--batch', '100000000']);
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/^cdrflow import: --batch needs an integer 1\.\.10000, got "100000000"\n/);
  });

  it('an empty value (--config=, --file "", an unset variable) names its flag, exit 64 (--config= read no config file, without a word; --file= named the field "file")', () => {
    const file = join(dir, 'one.jsonl');
    writeFileSync(file, '{"appKey":"a","sessionId":"s-1"}\n');
    const cases: [string[], string][] = [
      [['--file', file, '--config='], '--config needs a value'],
      [['--file='], '--file needs a value'],
      [['--file', file, '--tenant', ''], '--tenant needs a value'],
      [['--file', file, '--topic='], '--topic needs a value'],
    ];
    for (const [args, message] of cases) {
      const r = cdrflowImport(['huawei-privatenumber', ...args]);
      expect(r.status, args.join(' ')).toBe(64);
      expect(r.stderr.split('\n')[0], args.join(' ')).toBe(`cdrflow import: ${message}`);
    }
  });

  it('a blank --tenant is refused before anything is read, exit 64 (an LVMS file went in under tenant " ")', () => {
    const file = join(dir, 'lvms.jsonl');
    writeFileSync(file, '{"call_record_id":"r-1"}\n');
    const r = cdrflowImport(['alibaba-lvms', '--file', file, '--tenant', '  ']);
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/tenant: must not be blank/);
  });

  it('a --tenant with blanks around it is refused, exit 64 (the receiver stored the same calls under the tenant without them: two rows a call)', () => {
    const file = join(dir, 'lvms.jsonl');
    writeFileSync(file, '{"call_record_id":"r-1"}\n');
    for (const tenant of ['12345 ', ' 12345', '12345\t']) {
      const r = cdrflowImport(['alibaba-lvms', '--file', file, '--tenant', tenant]);
      expect(r.status, JSON.stringify(tenant)).toBe(64);
      expect(r.stderr).toMatch(/tenant: must not begin or end with blanks/);
    }
  });

  it('a --tenant with a ":" is refused, exit 64 (tenant "a:b" key "c" and tenant "a" key "b:c" were one cdr_id: two calls, one row)', () => {
    const file = join(dir, 'lvms.jsonl');
    writeFileSync(file, '{"call_record_id":1}\n');
    const r = cdrflowImport(['alibaba-lvms', '--file', file, '--tenant', '1234:5678']);
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/tenant: must not contain ":"/);
  });

  it('a UTF-16 file: one line saying so and how to convert it, exit 65, no NUL bytes on the terminal', () => {
    const file = join(dir, 'wt.jsonl');
    writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"appKey":"a","sessionId":"s-1"}\n', 'utf16le')]));
    const r = cdrflowImport(['huawei-privatenumber', '--file', file]);
    expect(r.status).toBe(65);
    expect(oneLine(r.stderr)).toBe(
      `--file ${file}: looks like UTF-16 (it starts with the UTF-16LE byte order mark FF FE), not UTF-8: convert it to UTF-8 first (iconv -f UTF-16LE -t UTF-8 ${file} > ${file}.utf8.jsonl)`,
    );
    expect(r.stderr).not.toContain('\u0000');
  });

  it("another vendor's raw topic: refused (exit 64) before Kafka is asked", () => {
    const file = join(dir, 'one.jsonl');
    writeFileSync(file, '{"appKey":"a","sessionId":"s-1"}\n');
    const r = cdrflowImport(['huawei-privatenumber', '--file', file, '--topic', 'cdr.raw.alibaba-lvms']);
    expect(r.status).toBe(64);
    expect(oneLine(r.stderr)).toBe(
      '--topic "cdr.raw.alibaba-lvms" is the raw topic of alibaba-lvms: huawei-privatenumber records there would be normalized, but reconcile would not find them under huawei-privatenumber; the pipeline reads cdr.raw.huawei-privatenumber for huawei-privatenumber (leave --topic out to publish there)',
    );
  });

  it('--file - reads standard input (it was "--file -: no such file", exit 66); a directory there is refused, exit 66', () => {
    const piped = spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'import', 'huawei-privatenumber', '--file', '-'], { encoding: 'utf8', cwd: ROOT, env, timeout: 60_000, input: '{"appKey":"a","sessionId":"s-1"}\n' });
    // Accepted: it goes on to Kafka, which is not there.
    expect(piped.status, piped.stderr).toBe(69);
    const directory = openSync(dir, 'r');
    try {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'import', 'huawei-privatenumber', '--file', '-'], { encoding: 'utf8', cwd: ROOT, env, timeout: 60_000, stdio: [directory, 'pipe', 'pipe'] });
      expect(r.status).toBe(66);
      expect(oneLine(r.stderr)).toBe('standard input is a directory; give a file of JSON lines or a pipe');
    } finally {
      closeSync(directory);
    }
  });

  it('documents the exit codes', () => {
    const help = spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'import', '--help'], { encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 }).stdout.replace(/\s+/g, ' ');
    expect(help).toContain('65 the file is not JSON Lines');
    expect(help).toContain('66 --file missing, a directory or not readable');
    expect(help).toContain('130 / 143 stopped by SIGINT / SIGTERM');
  });
});

describe('failedEnding: two endings at once (the read ended, then Kafka refused the last batch)', () => {
  const brokers = ['127.0.0.1:9092'];
  const hint = 'start the stack';
  const refused = { fromLine: 3, records: 1, problem: 'broker not available (test)', error: new CdrflowError('transient', 'broker not available (test)') };
  const gone = new KafkaUnreachableError('127.0.0.1:9092', 'ECONNREFUSED', undefined);
  const goneBatch = { ...refused, problem: gone.message, error: gone };
  const longLine = 'line 4 is still going after 64 MiB without a line end: the file does not look like JSON Lines (one JSON value per line); the import stopped there';
  const resume = 'its 1 records, from line 3, were not published; the lines before line 3 were published (2 records) or reported: import the file again from line 3 on (a record imported twice is stored once: the same cdr_id is one row in ClickHouse)';

  it('not JSON Lines, then the last batch refused: exit 65, both named, failed_at_line the batch\'s first line (it was exit 1 and the JSON Lines problem dropped)', () => {
    expect(failedEnding({ reason: 'not-json-lines', line: 4, problem: longLine, unpublished: refused }, 2, 'f.jsonl', brokers, hint)).toEqual({
      exit: 65,
      failedAtLine: 3,
      message: `--file f.jsonl: ${longLine}; a batch could not be published either (broker not available (test)): ${resume}`,
    });
  });

  it('not JSON Lines, then Kafka gone: exit 69, as nothing can be imported until it is back; both named', () => {
    expect(failedEnding({ reason: 'not-json-lines', line: 4, problem: longLine, unpublished: goneBatch }, 2, 'f.jsonl', brokers, hint)).toEqual({
      exit: 69,
      failedAtLine: 3,
      message: `--file f.jsonl: ${longLine}; ${gone.message}: ${resume}; ${hint}`,
    });
  });

  it('a read error, then Kafka gone: exit 69, as for Kafka gone alone (it was 1); both named', () => {
    expect(failedEnding({ reason: 'read-failed', line: 4, problem: 'EIO: i/o error, read', error: new Error('EIO'), unpublished: goneBatch }, 2, 'f.jsonl', brokers, hint)).toEqual({
      exit: 69,
      failedAtLine: 3,
      message: `--file f.jsonl: reading failed before line 4 (EIO: i/o error, read): ${gone.message}: ${resume}; ${hint}`,
    });
  });

  it('a read error, then the last batch refused (Kafka there): exit 1, both named', () => {
    expect(failedEnding({ reason: 'read-failed', line: 4, problem: 'EIO: i/o error, read', error: new Error('EIO'), unpublished: refused }, 2, 'f.jsonl', brokers, hint)).toEqual({
      exit: 1,
      failedAtLine: 3,
      message: `--file f.jsonl: reading failed before line 4 (EIO: i/o error, read): a batch could not be published either (broker not available (test)): ${resume}`,
    });
  });

  it('one ending alone: as before (Kafka gone 69, refused 1, a read error 1, not JSON Lines 65)', () => {
    expect(failedEnding({ reason: 'publish-failed', unpublished: goneBatch }, 2, 'f.jsonl', brokers, hint)).toMatchObject({ exit: 69, failedAtLine: 3, message: `${gone.message}: ${resume}; ${hint}` });
    expect(failedEnding({ reason: 'publish-failed', unpublished: refused }, 2, 'f.jsonl', brokers, hint)).toMatchObject({ exit: 1, failedAtLine: 3 });
    expect(failedEnding({ reason: 'read-failed', line: 4, problem: 'EIO', error: new Error('EIO') }, 2, 'f.jsonl', brokers, hint)).toMatchObject({ exit: 1, failedAtLine: 4 });
    expect(failedEnding({ reason: 'not-json-lines', line: 4, problem: longLine }, 2, 'f.jsonl', brokers, hint)).toEqual({ exit: 65, failedAtLine: 4, message: `--file f.jsonl: ${longLine}` });
  });
});

describe('failedEnding: Ctrl-C / SIGTERM while the last batch is retried after the read ended', () => {
  const brokers = ['127.0.0.1:9092'];
  const feeLine = (id: string) => JSON.stringify({ appKey: 'hwApp', sessionId: id });

  /**
   * importFile over `stdin` in batches of 2, Kafka refusing from the second batch on (the last, pending one): retries
   * without end and long waits, so only the stop, sent once that batch was refused, ends its tries.
   */
  async function stoppedDuringLastFlush(stdin: Readable) {
    const sink = new MemorySink();
    const stop = new AbortController();
    sink.failFromPublish(2, () => setImmediate(() => stop.abort(new Error('stop'))));
    const summary = await importFile(ImportOptionsSchema.parse({ vendor: 'huawei-privatenumber', file: '-', topic: 't', batchSize: 2 }), {
      sink,
      stdin,
      signal: stop.signal,
      retry: { maxAttempts: Infinity, initialMs: 60_000, maxMs: 60_000 },
    });
    expect(sink.envelopes('t').map((e) => e.natural_key)).toEqual(['s-1', 's-2']);
    const { stopped } = summary;
    if (stopped === undefined || stopped.reason === 'signal') throw new Error(`the read's ending was lost: ${JSON.stringify(stopped)}`);
    expect(stopped.unpublished).toMatchObject({ fromLine: 3, records: 1 });
    return { stopped, records: summary.records };
  }
  const resume = 'its 1 records, from line 3, were not published; the lines before line 3 were published (2 records) or reported: import the file again from line 3 on';

  it('after a file not JSON Lines: the stop\'s exit (130), the message still names the JSON Lines problem, the refused batch and the line to import again from (it exited 65)', async () => {
    // Lines 1-2 published, 3 pending, then a line with no end past MAX_SKIPPED_LINE_BYTES (1 MiB chunks).
    const zeros = Buffer.alloc(1024 * 1024);
    const stdin = Readable.from((async function* () {
      yield Buffer.from(`${feeLine('s-1')}\n${feeLine('s-2')}\n${feeLine('s-3')}\n`);
      for (let sent = 0; sent <= MAX_SKIPPED_LINE_BYTES; sent += zeros.length) yield zeros;
    })());
    const { stopped, records } = await stoppedDuringLastFlush(stdin);
    const ending = failedEnding(stopped, records, 'f.jsonl', brokers, 'start the stack', 'SIGINT');
    expect(ending).toMatchObject({ exit: 130, failedAtLine: 3 });
    expect(ending.message).toMatch(/^stopped by SIGINT: --file f\.jsonl: line 4 is still going after 64 MiB without a line end: .*; a batch could not be published either \(broker not available \(test\)\): /);
    expect(ending.message).toContain(resume);
  });

  it('after a read error: the stop\'s exit (143 for SIGTERM), the message still names the read error, the refused batch and the line to import again from (it exited 1)', async () => {
    // Lines 1-2 published, 3 pending, then the read fails as a dying disk does.
    const stdin = Readable.from((async function* () {
      yield Buffer.from(`${feeLine('s-1')}\n${feeLine('s-2')}\n${feeLine('s-3')}\n`);
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    })());
    const { stopped, records } = await stoppedDuringLastFlush(stdin);
    const ending = failedEnding(stopped, records, 'f.jsonl', brokers, 'start the stack', 'SIGTERM');
    expect(ending).toMatchObject({ exit: 143, failedAtLine: 3 });
    expect(ending.message).toMatch(/^stopped by SIGTERM: --file f\.jsonl: reading failed before line 4 \(EIO: i\/o error, read\): a batch could not be published either \(broker not available \(test\)\): /);
    expect(ending.message).toContain(resume);
  });
});
