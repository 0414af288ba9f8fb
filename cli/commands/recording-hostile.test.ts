// Fuzz campaign on `cdrflow recording <cdr_id> --record F`, in-process: the command's own run() against a local
// stand-in of Huawei's recording API. Seeded fee-record files — a directory, empty, binary, not UTF-8, over the size
// limit, JSON that is no object, deep, broken next to bidi overrides and escape sequences, a byte order mark, CRLF, a
// member given twice, fee records whose fields are of the wrong type or carry control characters — must each:
//  - end as the help says: a usage error naming the file (exit 64), a link (0), no recording (3), or an error (1);
//  - print only printable lines (no raw control or invisible character), each within a few hundred characters, the
//    bare link a plain http(s) URL;
//  - never print the app secret.
// CDRFLOW_FUZZ_RECORDING_SEED replays another seed; CDRFLOW_FUZZ_RECORDING_CASES runs more files.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { command } from './recording.ts';
import { EXIT_NO_RECORDING } from '../../core/exit-codes.ts';
import { MAX_SMALL_FILE_BYTES } from '../../core/user-file.ts';
import { Rng, seededRandom } from '../../simulators/kit.ts';

const SEED = Number(process.env['CDRFLOW_FUZZ_RECORDING_SEED'] ?? 6363);
const CASES = Number(process.env['CDRFLOW_FUZZ_RECORDING_CASES'] ?? 60);
const APP = { appKey: 'fuzzRecApp', appSecret: 'fuzzRecSecret0123' };
const CDR_ID = `huawei-privatenumber:${APP.appKey}:s1`;
const MAX_LINE_CHARS = 700;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}]/u;

const dir = mkdtempSync(join(tmpdir(), 'cdrflow-recording-hostile-'));
let files = 0;
const file = (content: string | Buffer) => {
  const path = join(dir, `fee${files++}.json`);
  writeFileSync(path, content);
  return path;
};

let server: Server;
let baseUrl: string;
beforeAll(async () => {
  // The API's answer: a 301 to the file asked for (escaped: the stand-in must not fail on what a record sends).
  server = createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://x').searchParams.get('fileName') ?? '';
    res.writeHead(301, { location: `https://dl.example/${encodeURIComponent(name)}` }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const ODD = ['\u202e', '\u001b[2J', '\u0085', '\u200b', '\u0000', '\r\nforged: line', '张三', '😀', '\u2028'];

/** A --record file, and whether it holds one JSON object (so the command goes on to resolve it). */
function hostileRecord(r: Rng): { what: string; content: string | Buffer | null; object: boolean } {
  const odd = () => r.pick(ODD);
  const fee = () => ({ sessionId: 's1', recordFlag: 1, recordObjectName: `r${r.hex(4)}.wav`, recordDomain: 'ostor.example' });
  return r.pick<() => { what: string; content: string | Buffer | null; object: boolean }>([
    () => ({ what: 'a directory', content: null, object: false }),
    () => ({ what: 'an empty file', content: r.pick(['', '\n', '\ufeff', '   ']), object: false }),
    () => ({ what: 'binary', content: Buffer.from(Array.from({ length: r.int(1, 4096) }, () => r.int(0, 255))), object: false }),
    () => ({ what: 'over the size limit', content: `{"sessionId":"s1"${' '.repeat(MAX_SMALL_FILE_BYTES)}}`, object: false }),
    () => ({ what: 'JSON that is no object', content: r.pick(['[]', '[{"recordFlag":1}]', '1', 'null', '"fee"', 'true']), object: false }),
    () => ({ what: 'deep nesting', content: `{"sessionId": ${'['.repeat(r.int(100, 300_000))}`, object: false }),
    () => ({ what: 'broken JSON next to odd text', content: `{"sessionId": "s1${odd()}" ${r.pick(['x', '}}', ',', "'"])}${odd()}`, object: false }),
    () => ({ what: 'an odd character where a token goes', content: `{"sessionId": ${odd()}s1}`, object: false }),
    () => ({ what: 'raw control characters in a string', content: `{"sessionId": "s1${r.pick(['\u0000', '\u001b[2J', '\r\nforged: line'])}", "recordFlag": 1}`, object: false }),
    // Refused: read leniently, the bytes became U+FFFD, another session id than the file's.
    () => ({ what: 'not UTF-8', content: Buffer.concat([Buffer.from('{"sessionId": "s'), Buffer.from([0xff, 0xc3]), Buffer.from('", "recordFlag": 0}')]), object: false }),
    () => ({ what: 'a byte order mark and CRLF', content: `\ufeff${JSON.stringify(fee(), null, 2).replace(/\n/g, '\r\n')}\r\n`, object: true }),
    // Refused, as a config file's would be: which of the two is meant cannot be told.
    () => ({ what: 'a member given twice', content: `{"recordFlag": 0, ${JSON.stringify(fee()).slice(1)}`, object: false }),
    () => ({ what: 'fields of the wrong type', content: JSON.stringify({ ...fee(), [r.pick(['recordFlag', 'recordObjectName', 'recordDomain', 'recordFileDownloadUrl', 'fwdAnswerTime'])]: r.pick([null, [], {}, 1e308, -1, true, '1']) }), object: true }),
    () => ({ what: 'odd text in the file reference', content: JSON.stringify({ ...fee(), [r.pick(['recordObjectName', 'recordDomain'])]: `r${odd()}${r.chance(0.3) ? 'x'.repeat(200) : ''}` }), object: true }),
    () => ({ what: 'an odd download link', content: JSON.stringify({ sessionId: 's1', recordFlag: 1, recordFileDownloadUrl: `https://dl.example/${odd()}.wav` }), object: true }),
    () => ({ what: 'odd times', content: JSON.stringify({ ...fee(), fwdAnswerTime: `2025-01-01 00:00:0${odd()}`, callEndTime: r.pick(['2025-01-01 00:00:01', odd(), '9999-99-99 99:99:99']) }), object: true }),
  ])();
}

describe(`cdrflow recording --record, hostile files (seed ${SEED}, ${CASES} files)`, () => {
  it('ends as the help says, printing only printable lines and never the app secret', async () => {
    const r = new Rng(seededRandom(SEED));
    vi.stubEnv('CDRFLOW_HUAWEI_APPS', JSON.stringify([APP]));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const seen = { usage: 0, link: 0, none: 0 };
    try {
      for (let c = 0; c < CASES; c++) {
        const { what, content, object } = hostileRecord(r);
        const path = content === null ? dir : file(content);
        const json = r.chance(0.3);
        const label = `seed ${SEED} case ${c}: ${what}`;
        log.mockClear();
        error.mockClear();
        const outcome = await command.run([CDR_ID, '--record', path, '--base-url', baseUrl, ...(json ? ['--json'] : [])]).then(
          (code) => ({ code, message: null as string | null, name: null as string | null }),
          (err: Error) => ({ code: null, message: err.message, name: err.name }),
        );
        const printed = [...log.mock.calls, ...error.mock.calls].map((args) => args.map(String).join(' '));
        if (outcome.message !== null) printed.push(outcome.message);
        if (outcome.name === 'UsageError') {
          expect(object, `${label}: a usage error for a fee record: ${outcome.message}`).toBe(false);
          expect(outcome.message!.startsWith(`--record ${path}: `), `${label}: ${outcome.message}`).toBe(true);
          seen.usage++;
        } else if (outcome.code === null) {
          // The resolver's refusal of a record it cannot ask about: an error (exit 1), not a usage error.
          expect(outcome.name, `${label}: ${outcome.message}`).toBe('CdrflowError');
          expect(object, label).toBe(true);
        } else {
          expect([0, EXIT_NO_RECORDING], label).toContain(outcome.code);
          expect(object, `${label}: a file that is no fee record was taken as one`).toBe(true);
          seen[outcome.code === 0 ? 'link' : 'none']++;
          if (outcome.code === 0 && !json) expect(log.mock.calls[0]?.[0], label).toMatch(/^https?:\/\/[\x21-\x7e]+$/);
        }
        for (const line of printed) {
          expect(line, `${label}: ${line.slice(0, 200)}`).not.toMatch(CONTROL);
          expect(line, `${label}: ${line.slice(0, 200)}`).not.toMatch(INVISIBLE);
          expect(line.length, `${label}: ${line.slice(0, 200)}`).toBeLessThan(MAX_LINE_CHARS);
          expect(line, label).not.toContain(APP.appSecret);
        }
      }
      // The campaign reached each way out, or it proves less than it says.
      expect(Object.values(seen).every((n) => n > 0), JSON.stringify(seen)).toBe(true);
    } finally {
      log.mockRestore();
      error.mockRestore();
      vi.unstubAllEnvs();
    }
  });
});

describe('cdrflow recording --record', () => {
  it('refuses a broken file without quoting its text (it may hold anything), and a file that is not UTF-8', async () => {
    vi.stubEnv('CDRFLOW_HUAWEI_APPS', JSON.stringify([APP]));
    try {
      for (const [content, reason] of [
        ['{"sessionId": \u202e\u200bs1}', /not valid JSON: an unexpected character \(not shown/],
        [Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /invalid UTF-8/],
      ] as const) {
        const path = file(content);
        const err = (await command.run([CDR_ID, '--record', path, '--base-url', baseUrl]).catch((e: unknown) => e)) as Error;
        expect(err.name).toBe('UsageError');
        expect(err.message).toMatch(reason);
        expect(err.message).not.toMatch(INVISIBLE);
      }
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
