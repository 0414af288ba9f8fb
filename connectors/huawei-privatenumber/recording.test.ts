// resolveRecordingUrl against a stand-in for Huawei's recording API that checks X-AKSK like the platform does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAuthHeaders, verifyDigest } from './aksk.ts';
import { resolveRecordingUrl } from './recording.ts';

const APP = { appKey: 'recApp', appSecret: 'recSecret' };
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = parseAuthHeaders(req.headers, false);
    if (!auth.ok || auth.token.username !== APP.appKey || !verifyDigest('aksk', auth.token, APP.appSecret)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"resultcode":"1010003","resultdesc":"Invalid app_key"}');
      return;
    }
    if (url.pathname !== '/rest/provision/voice/record/v1.0') return void res.writeHead(404).end();
    const file = url.searchParams.get('fileName');
    if (file === 'gone.wav') {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"resultcode":"1012100","resultdesc":"The record does not exist."}');
      return;
    }
    res.writeHead(301, { location: `https://${url.searchParams.get('recordDomain')}/download/${file}?sig=abc` }).end('audio bytes would follow a redirect');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const recorded = { recordFlag: 1, recordObjectName: 'a.wav', recordDomain: 'ostor.huawei.com', recordFileDownloadUrl: 'https://fallback/a.wav' };

describe('resolveRecordingUrl', () => {
  it('reads the 301 Location without following it', async () => {
    expect(await resolveRecordingUrl(recorded, { baseUrl, ...APP })).toEqual({ kind: 'url', url: 'https://ostor.huawei.com/download/a.wav?sig=abc', source: 'api' });
  });

  it('skips unrecorded calls and uses recordFileDownloadUrl when recordDomain is empty', async () => {
    expect(await resolveRecordingUrl({ recordFlag: 0 }, { baseUrl, ...APP })).toMatchObject({ kind: 'none' });
    expect(await resolveRecordingUrl({ ...recorded, recordDomain: '' }, { baseUrl, ...APP })).toEqual({ kind: 'url', url: 'https://fallback/a.wav', source: 'recordFileDownloadUrl' });
  });

  it('falls back when the API refuses, and reports an expired recording', async () => {
    expect(await resolveRecordingUrl({ ...recorded, recordObjectName: 'gone.wav' }, { baseUrl, ...APP })).toMatchObject({ kind: 'url', source: 'recordFileDownloadUrl', note: expect.stringContaining('does not exist') });
    expect(await resolveRecordingUrl({ ...recorded, recordObjectName: 'gone.wav', recordFileDownloadUrl: '' }, { baseUrl, ...APP })).toMatchObject({ kind: 'none', reason: expect.stringContaining('7 days') });
  });

  it('classifies refused credentials as auth (stop), not as bad data', async () => {
    await expect(resolveRecordingUrl({ ...recorded, recordFileDownloadUrl: '' }, { baseUrl, appKey: APP.appKey, appSecret: 'wrong' })).rejects.toMatchObject({ kind: 'auth' });
  });
});
