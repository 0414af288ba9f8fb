// `cdrflow normalize` as a user runs it: a child process fed the vendor-doc samples (kept verbatim as fixtures).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { avroType } from '../../core/avro.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = `${ROOT}transforms/normalize/fixtures/`;
const compact = (file: string) => JSON.stringify(JSON.parse(readFileSync(FIXTURES + file, 'utf8')));
const cdrType = avroType('cdr-normalized.avsc');

function cdrflow(args: string[], stdin: string) {
  const r = spawnSync(process.execPath, [`${ROOT}bin/cdrflow.mjs`, 'normalize', ...args], { input: stdin, encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, records: r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** JSON output back to what avsc validates: ISO strings in timestamp fields become Dates. */
function revive(value: unknown): unknown {
  if (typeof value === 'string' && ISO_UTC.test(value)) return new Date(value);
  if (Array.isArray(value)) return value.map(revive);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  return value;
}

describe('cdrflow normalize', { timeout: 60_000 }, () => {
  it('normalizes the TRTC doc samples in input order, reports the bad line by number and exits 2', () => {
    const input = [compact('tencent-trtc/doc-sample-1.in.json'), '{"callId": "broken", ', compact('tencent-trtc/doc-sample-2.in.json'), '', compact('tencent-trtc/doc-sample-3.in.json')].join('\n');
    const r = cdrflow(['--vendor', 'tencent-trtc'], `${input}\n`);
    expect(r.status).toBe(2);
    expect(r.records.map((c) => c.natural_key)).toEqual([
      '2ae7d549-c441-4a9b-87c0-61810fe19581',
      '2ae7d549-c441-4a9b-87c0-61810fe19582',
      '2ae7d549-c441-4a9b-87c0-61810fe19583',
    ]);
    expect(r.stderr).toMatch(/^line 2: malformed JSON/m);
    expect(r.stderr).not.toMatch(/^line [1345]:/m);
    for (const c of r.records) {
      expect(c).toMatchObject({ vendor: 'tencent-trtc', tenant_id: '88888888', end_status: 'UNREACHABLE', vendor_status_code: 'offline', billable_minutes: 0 });
      expect(c.started_at).toMatch(ISO_UTC);
      expect(c.received_at).toMatch(ISO_UTC);
      expect(cdrType.isValid(revive(c))).toBe(true);
    }
  });

  it('prints a vendor value with DEL, C1 or bidi characters as \\u escapes: JSON that parses back to the same value', () => {
    // Output on a terminal is read there: a right-to-left override in a room id turned the rest of the line around.
    const hostile = 'r\u202e1\u0085\u007f\u200b';
    const record = JSON.stringify({ ...(JSON.parse(compact('tencent-trtc/doc-sample-1.in.json')) as object), roomId: hostile });
    const r = cdrflow(['--vendor', 'tencent-trtc'], `${record}\n`);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/[\u007f-\u009f\u200b\u202e]/u);
    expect(r.stdout).toContain('r\\u202e1\\u0085\\u007f\\u200b');
    expect(r.records[0]?.['room_id']).toBe(hostile);
  });

  it('takes bare CCC records and raw envelopes on the same stream, exit 0 when all are good', () => {
    const record = compact('tencent-ccc/protected-numbers-ivr-give-up.in.json');
    const envelope = JSON.stringify({
      vendor: 'tencent-ccc',
      tenant_id: '1400000000',
      natural_key: 's-61',
      received_at: '2025-12-01T00:05:00Z',
      connector: 'tencent-ccc-poller',
      mode: 'backfill',
      request_id: 'req-9',
      payload: compact('tencent-ccc/answered-61s.in.json'),
    });
    const r = cdrflow(['--vendor', 'tencent-ccc', '--tenant', '1400000000'], `${record}\n${envelope}\n`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.records).toHaveLength(2);
    expect(r.records[0]).toMatchObject({ cdr_id: 'tencent-ccc:1400000000:s-ivr-giveup', ingest_mode: 'import', talk_seconds: 0, billable_minutes: 0 });
    expect(r.records[1]).toMatchObject({ cdr_id: 'tencent-ccc:1400000000:s-61', ingest_mode: 'backfill', received_at: '2025-12-01T00:05:00.000Z', talk_seconds: 61, billable_minutes: 2 });
    expect((r.records[0]!.caller as { type: string }).type).toBe('PROTECTED');
  });

  it('reports the CCC doc samples, whose placeholder timestamps are impossible, by the rule they break', () => {
    const r = cdrflow(['--vendor', 'tencent-ccc', '--tenant', '1400000000'], `${compact('tencent-ccc/doc-sample-1.in.json')}\n${compact('tencent-ccc/doc-sample-2.in.json')}\n`);
    expect(r.status).toBe(2);
    expect(r.records).toEqual([]);
    expect(r.stderr).toMatch(/^line 1: consistency rule time-order: ended_at \(EndedTimestamp\) .* before queued_at \(QueuedTimestamp\)/m);
    expect(r.stderr).toMatch(/^line 2: consistency rule time-order: ringing_at \(RingTimestamp\) .* is 24 s before started_at \(StartTimestamp\)/m);
  });

  it('hostile lines are reported one line each and every later line is still normalized (exit 2, never 1)', () => {
    const good = compact('tencent-ccc/answered-61s.in.json');
    const deep = good.replace('{', `{"x":${'['.repeat(5000)}1${']'.repeat(5000)},`);
    const beyond = JSON.stringify({ vendor: 'tencent-ccc', tenant_id: '1400000000', natural_key: 's-61', received_at: 8.64e15 + 1, payload: good });
    const constructor = good.replace('"Direction": 0', '"Direction": "constructor"').replace('"Direction":0', '"Direction":"constructor"').replace('"CallType":2,', '');
    const forged = good.replace('"s-61"', '"s\\nline 7: forged"').replace('"StartTimestamp":1764547200', '"StartTimestamp":"x\\nline 9: forged"');
    const utf8 = Buffer.from(good.replace('"s-61"', '"s-6X"'));
    utf8[utf8.indexOf('X')] = 0xff;
    // 2 MiB: over the line limit, reported by its length and never assembled.
    const overlong = ` ${good}`.padEnd(2 * 1024 * 1024, ' ');
    const input = Buffer.concat([deep, beyond, constructor, forged].map((l) => Buffer.from(`${l}\n`)).concat([utf8, Buffer.from(`\n${overlong}\r\n${good}\n`)]));
    const r = spawnSync(process.execPath, [`${ROOT}bin/cdrflow.mjs`, 'normalize', '--vendor', 'tencent-ccc', '--tenant', '1400000000'], { input, cwd: ROOT, timeout: 60_000 });
    const stderr = r.stderr.toString('utf8');
    const outputs = r.stdout.toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(r.status).toBe(2);
    expect(stderr.split('\n').filter((l) => l.startsWith('line '))).toEqual([
      'line 1: JSON nested deeper than 16 levels',
      'line 2: invalid envelope: received_at 8640000000000001 is beyond the largest date',
      'line 4: StartTimestamp: not a Unix timestamp in seconds: "x\\nline 9: forged"',
      'line 5: invalid UTF-8 in the line',
      `line 6: line is ${Buffer.byteLength(overlong)} bytes long (limit 1048576); skipped unread`,
    ]);
    expect(outputs.map((c) => [c.natural_key, c.direction])).toEqual([
      ['s-61', 'UNKNOWN'],
      ['s-61', 'INBOUND'],
    ]);
  });

  it('needs a tenant for CCC query-API records, and refuses an envelope of another vendor', () => {
    const envelope = JSON.stringify({ vendor: 'tencent-trtc', tenant_id: '1', natural_key: 'x', payload: '{}' });
    const r = cdrflow(['--vendor', 'tencent-ccc'], `${compact('tencent-ccc/doc-sample-1.in.json')}\n${envelope}\n`);
    expect(r.status).toBe(2);
    expect(r.records).toEqual([]);
    expect(r.stderr).toMatch(/^line 1: record has no SdkAppId: give the tenant explicitly \(--tenant\)$/m);
    expect(r.stderr).toMatch(/^line 2: envelope is for vendor tencent-trtc, not tencent-ccc$/m);
  });

  it('refuses a --tenant with a ":" as a usage error, as the import does (it could make two calls\' cdr_ids one)', () => {
    const r = cdrflow(['--vendor', 'alibaba-lvms', '--tenant', '1234:5678'], '{"call_record_id":1}\n');
    expect(r.status).toBe(64);
    expect(r.records).toEqual([]);
    expect(r.stderr).toMatch(/--tenant must not contain ":"/);
  });

  it('rejects a missing or unknown vendor as a usage error', () => {
    expect(cdrflow([], '').status).toBe(64);
    const r = cdrflow(['--vendor', 'acme'], '');
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/unknown vendor "acme"/);
  });

  it('a reader closing stderr while stdout goes on is a failure (exit 74), not a success with the output cut short', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-normalize-'));
    try {
      const good = compact('tencent-trtc/doc-sample-1.in.json');
      const input = join(dir, 'in.jsonl');
      writeFileSync(input, `${'{bad\n'.repeat(5_000)}${`${good}\n`.repeat(5_000)}`);
      const out = join(dir, 'out.jsonl');
      // `cdrflow normalize < in 2> >(head -1) > out`: the reader of the reports wants only the first one.
      const [inFd, outFd] = [openSync(input, 'r'), openSync(out, 'w')];
      const child = spawn(process.execPath, [`${ROOT}bin/cdrflow.mjs`, 'normalize', '--vendor', 'tencent-trtc'], { cwd: ROOT, stdio: [inFd, outFd, 'pipe'] });
      closeSync(inFd);
      closeSync(outFd);
      const reports = child.stderr!;
      reports.once('data', () => reports.destroy());
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(statSync(out).size).toBe(0);
      expect(code).toBe(74);
      // The same pipe on both (`2>&1 | head -1`): the reader is done with all of it, which is no failure.
      const status = join(dir, 'status');
      spawnSync('sh', ['-c', `("${process.execPath}" "${ROOT}bin/cdrflow.mjs" normalize --vendor tencent-trtc < "${input}"; echo $? > "${status}") 2>&1 | head -1 > /dev/null`], { cwd: ROOT, timeout: 60_000 });
      expect(readFileSync(status, 'utf8').trim()).toBe('0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('standard input that cannot be read is no input (exit 66), one line, for normalize and sql - (it was a raw EBADF, exit 1)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-normalize-'));
    // `cdrflow normalize 0> file`: stdin is open, but for writing only.
    const writeOnly = openSync(join(dir, 'stdin'), 'w');
    try {
      for (const [name, args] of [['normalize', ['--vendor', 'tencent-trtc']], ['sql', ['-']]] as const) {
        const r = spawnSync(process.execPath, [`${ROOT}bin/cdrflow.mjs`, name, ...args], { cwd: ROOT, encoding: 'utf8', stdio: [writeOnly, 'pipe', 'pipe'], timeout: 60_000 });
        expect(r.stderr).toBe(`cdrflow ${name}: standard input cannot be read (EBADF)\n`);
        expect(r.status).toBe(66);
      }
    } finally {
      closeSync(writeOnly);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
