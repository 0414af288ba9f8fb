// The CCC client's side of the vendor contract (docs/vendors.md §1, "What an ETL must handle"): the page list under
// either of its names, which vendor errors are retried, and the documented rate as the default.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CccApiClient, cccErrorKind } from './client.ts';
import { cccConfigSchema } from './config.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A loopback CCC that answers every request with `response` as the API's `Response`. */
async function cccAnswering(response: unknown): Promise<CccApiClient> {
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ Response: response })));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => srv.close(() => resolve())));
  const { port } = srv.address() as AddressInfo;
  return new CccApiClient({ secretId: 'AKIDtest', secretKey: 'key', endpoint: `127.0.0.1:${port}`, protocol: 'http', timeoutMs: 5000 });
}

const page = (client: CccApiClient) => client.describeProtectedTelCdr({ sdkAppId: 1400000001, startTimeStamp: 1, endTimeStamp: 2, pageSize: 100, pageNumber: 0 });

describe('CccApiClient', () => {
  it('reads the records of an answer that lists them under the deprecated TelCdrs, as under TelCdrList', async () => {
    const records = [{ SessionId: 'a' }, { SessionId: 'b' }];
    for (const name of ['TelCdrList', 'TelCdrs']) {
      const client = await cccAnswering({ TotalCount: 2, [name]: records, RequestId: 'r' });
      expect(await page(client)).toEqual({ totalCount: 2, records, requestId: 'r' });
    }
  });
});

describe('CccApiClient errors', () => {
  // Only the agent's own decoding refusal, as node-fetch passes it on, loses node-fetch's words (vendor-answer.ts):
  // a vendor's Response.Error with the same code and words is the vendor's, and stays quoted on one line.
  it('a vendor error with the code and words of a decoding refusal is still quoted as the vendor\'s', async () => {
    const message = 'Invalid response body while trying to fetch http://x/: an answer\nforged';
    const client = await cccAnswering({ Error: { Code: 'malformed-response', Message: message }, RequestId: 'r' });
    const err = (await page(client).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(JSON.stringify(message));
    expect(err.message).not.toContain('\n');
  });
});

describe('cccErrorKind', () => {
  it('retries every RequestLimitExceeded* as rate limited and every InternalError* as transient', () => {
    for (const code of ['RequestLimitExceeded', 'RequestLimitExceeded.UinLimitExceeded', 'RequestLimitExceeded.GlobalRegionUinLimitExceeded']) {
      expect(cccErrorKind(code)).toBe('rate_limited');
    }
    for (const code of ['InternalError', 'InternalError.DBError']) expect(cccErrorKind(code)).toBe('transient');
  });
});

describe('cccConfigSchema', () => {
  it('throttles to the documented 20 requests a second unless told otherwise', () => {
    expect(cccConfigSchema.parse({ secretId: 'AKID', secretKey: 'k', sdkAppIds: [1] }).requestsPerSecond).toBe(20);
  });
});
