// `cdrflow recording` with --record (no Kafka): prints the link read from the recording API's 301 Location.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { command, parseCdrId } from './recording.ts';
import { EXIT_CONFIG } from '../../core/exit-codes.ts';
import { parseAuthHeaders, verifyDigest } from '../../connectors/huawei-privatenumber/aksk.ts';

const APP = { appKey: 'cliRecApp', appSecret: 'cliRecSecret' };
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const auth = parseAuthHeaders(req.headers, false);
    const ok = auth.ok && verifyDigest('aksk', auth.token, APP.appSecret);
    if (!ok) return void res.writeHead(401).end('{"resultcode":"1010003","resultdesc":"Invalid app_key"}');
    const file = new URL(req.url ?? '/', 'http://x').searchParams.get('fileName');
    res.writeHead(301, { location: `https://dl.example/${file}` }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('cdrflow recording', () => {
  it('parses cdr_id as huawei-privatenumber:<appKey>:<sessionId>', () => {
    expect(parseCdrId('huawei-privatenumber:app:1200_1@host:5060')).toEqual({ tenant: 'app', sessionId: '1200_1@host:5060' });
    expect(() => parseCdrId('alibaba-lvms:a:b')).toThrow(/not a Huawei PrivateNumber CDR .*recording_url column/);
    expect(() => parseCdrId('huawei-privatenumber:app')).toThrow();
  });

  it('refuses an empty cdr_id as missing, and a --record that is no JSON object, is a directory or an endless device, in one line each', async () => {
    await expect(command.run([''])).rejects.toThrow(/^missing cdr_id$/);
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-rec-'));
    const notJson = join(dir, 'fee.txt');
    writeFileSync(notJson, '{"sessionId": "s1",');
    const list = join(dir, 'list.json');
    writeFileSync(list, '[1,2]');
    vi.stubEnv('CDRFLOW_HUAWEI_APPS', JSON.stringify([APP]));
    try {
      const id = `huawei-privatenumber:${APP.appKey}:s1`;
      for (const [file, reason] of [
        // Cut short: the parser's own words and where the text ended (any message with "JSON" in it matched before, a
        // list's or an object's refusal among them).
        [notJson, /^--record \S+\/fee\.txt: not valid JSON: .*\bposition 19\b/],
        [list, /^--record .*list\.json: holds a list, not a JSON object$/],
        [dir, /^--record .*: is a directory/],
        ['/dev/zero', /^--record \/dev\/zero: is more than 1048576 bytes/],
      ] as const) {
        const err = await command.run([id, '--record', file, '--base-url', baseUrl]).then(() => undefined, (e: Error) => e);
        expect(err?.name).toBe('UsageError');
        expect(err?.message).toMatch(reason);
        expect(err?.message).not.toContain('\n');
      }
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('refuses a --base-url that is no URL and an empty --topic as usage errors (they were exit 78 and a Kafka error)', async () => {
    vi.stubEnv('CDRFLOW_HUAWEI_APPS', JSON.stringify([APP]));
    try {
      const id = `huawei-privatenumber:${APP.appKey}:s1`;
      for (const [flags, reason] of [
        [['--base-url', 'notaurl'], /^--base-url needs the recording API's base URL \(https:\/\/host\), got "notaurl"$/],
        [['--topic='], /^--topic needs a topic name$/],
      ] as const) {
        const err = await command.run([id, ...flags]).then(() => undefined, (e: Error) => e);
        expect(err?.name, err?.message).toBe('UsageError');
        expect(err?.message).toMatch(reason);
      }
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('prints the Location URL for a recorded call and exits 0; exits 3 for an unrecorded one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-rec-'));
    const recorded = join(dir, 'fee.json');
    writeFileSync(recorded, JSON.stringify({ sessionId: 's1', recordFlag: 1, recordObjectName: 'r1.wav', recordDomain: 'ostor' }));
    const unrecorded = join(dir, 'fee0.json');
    writeFileSync(unrecorded, JSON.stringify({ sessionId: 's2', recordFlag: 0 }));
    vi.stubEnv('CDRFLOW_HUAWEI_APPS', JSON.stringify([APP]));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await command.run([`huawei-privatenumber:${APP.appKey}:s1`, '--record', recorded, '--base-url', baseUrl])).toBe(0);
      expect(log).toHaveBeenCalledWith('https://dl.example/r1.wav');
      expect(await command.run([`huawei-privatenumber:${APP.appKey}:s2`, '--record', unrecorded, '--base-url', baseUrl])).toBe(3);
      expect(err).toHaveBeenCalledWith(expect.stringContaining('recordFlag is 0'));
      // What the configuration lacks is an invalid configuration (78), as the help says.
      await expect(command.run(['huawei-privatenumber:otherApp:s1', '--record', recorded])).rejects.toMatchObject({ code: EXIT_CONFIG, message: expect.stringMatching(/^no credentials for appKey "otherApp"/) });
      vi.stubEnv('CDRFLOW_HUAWEI_APPS', '');
      await expect(command.run([`huawei-privatenumber:${APP.appKey}:s1`, '--record', recorded])).rejects.toMatchObject({ code: EXIT_CONFIG, message: expect.stringMatching(/^no Huawei apps/) });
    } finally {
      log.mockRestore();
      err.mockRestore();
      vi.unstubAllEnvs();
    }
  });

  it('--json prints no link taken from the CDR with DEL, C1 or bidi characters: the reason quotes it with \\u escapes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-rec-'));
    const hostile = 'https://dl.example/\u202evaw.exe\u0085\u007f\u200b';
    const fee = join(dir, 'fee.json');
    writeFileSync(fee, JSON.stringify({ sessionId: 's3', recordFlag: 1, recordFileDownloadUrl: hostile }));
    vi.stubEnv('CDRFLOW_HUAWEI_APPS', JSON.stringify([APP]));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await command.run([`huawei-privatenumber:${APP.appKey}:s3`, '--record', fee, '--base-url', baseUrl, '--json'])).toBe(3);
      const [[printed]] = log.mock.calls as [[string]];
      expect(printed).not.toMatch(/[\u007f-\u009f\u200b\u202e]/u);
      const said = JSON.parse(printed) as { kind: string; reason: string };
      expect(said.kind).toBe('none');
      expect(said.reason).toContain('recordFileDownloadUrl is not an absolute http(s) URL');
      expect(said.reason).toContain('\\u202evaw.exe\\u0085\\u007f\\u200b');
    } finally {
      log.mockRestore();
      vi.unstubAllEnvs();
    }
  });

  it('prints no bare link from the CDR that is not a plain http(s) URL: it would drive the terminal or a script', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-rec-'));
    vi.stubEnv('CDRFLOW_HUAWEI_APPS', JSON.stringify([APP]));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      for (const hostile of ['https://dl.example/\u001b]8;;https://evil.example\u0007r.wav', 'https://dl.example/\u202evaw.exe\u0085', 'javascript:alert(1)', `https://dl.example/${'a'.repeat(9000)}`]) {
        const fee = join(dir, 'fee.json');
        writeFileSync(fee, JSON.stringify({ sessionId: 's4', recordFlag: 1, recordFileDownloadUrl: hostile }));
        log.mockClear();
        err.mockClear();
        expect(await command.run([`huawei-privatenumber:${APP.appKey}:s4`, '--record', fee, '--base-url', baseUrl])).toBe(3);
        expect(log).not.toHaveBeenCalled();
        const [[said]] = err.mock.calls as [[string]];
        expect(said).toMatch(/^no recording: the CDR's recordFileDownloadUrl is not an absolute http\(s\) URL of printable ASCII within 8192 characters: "/);
        // eslint-disable-next-line no-control-regex
        expect(said).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/u);
        expect(said.length).toBeLessThan(300);
      }
    } finally {
      log.mockRestore();
      err.mockRestore();
      vi.unstubAllEnvs();
    }
  });
});
