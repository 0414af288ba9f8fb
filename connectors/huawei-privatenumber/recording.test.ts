// resolveRecordingUrl against the stand-in for Huawei's recording API (simulators/huawei-privatenumber/recording-api.ts), which checks X-AKSK.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRecordingUrl } from './recording.ts';
import { startRecordingApi, type RecordingApiStandIn } from '../../simulators/huawei-privatenumber/recording-api.ts';

const APP = { appKey: 'recApp', appSecret: 'recSecret' };
let api: RecordingApiStandIn;
let baseUrl: string;

beforeAll(async () => {
  api = await startRecordingApi([APP]);
  baseUrl = api.url;
});
afterAll(() => api.close());

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
