import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startFlakyProxy } from './demo.ts';

describe('the demo flaky network', () => {
  const seen: string[] = [];
  const upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${req.headers['x-aksk'] ?? ''} ${body}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"resultcode":"0"}');
    });
  });
  afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

  it('forwards requests unchanged and refuses the chosen share with 503 without reaching the receiver', async () => {
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const verdicts = [0.9, 0.1, 0.9];
    const proxy = await startFlakyProxy(target, 0.5, () => verdicts.shift() ?? 0.9);
    try {
      const send = (i: number) => fetch(`${proxy.url}/huawei/privatenumber/fee?x=${i}`, { method: 'POST', headers: { 'x-aksk': `sig${i}` }, body: `batch-${i}` });
      const answers = [await send(1), await send(2), await send(3)];
      expect(answers.map((a) => a.status)).toEqual([200, 503, 200]);
      expect(await answers[0]!.text()).toBe('{"resultcode":"0"}');
      expect(seen).toEqual(['POST /huawei/privatenumber/fee?x=1 sig1 batch-1', 'POST /huawei/privatenumber/fee?x=3 sig3 batch-3']);
      expect(proxy.refused()).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});

describe('demoTryLines', () => {
  const endpoints = { ccc: { endpoint: 'ccc.tencentcloudapi.com:4100', protocol: 'http', connectAddress: '127.0.0.1' }, trtcUrl: 'http://127.0.0.1:4200', recordingApiUrl: 'http://127.0.0.1:4300' };

  it('tells where the simulators listen and which demo credentials they take, as commands to paste', async () => {
    const { demoTryLines, DEMO_CREDENTIALS } = await import('./demo.ts');
    const history = { fromSec: Date.UTC(2026, 11, 1, 12, 15, 30) / 1000, toSec: Date.UTC(2026, 11, 1, 12, 29, 30) / 1000 };
    const text = demoTryLines({ ...endpoints, history }).join('\n');
    expect(text).toContain(`TENCENT_CCC_SECRET_ID=${DEMO_CREDENTIALS.ccc.secretId}`);
    expect(text).toContain('--endpoint ccc.tencentcloudapi.com:4100 --protocol http --connect-address 127.0.0.1');
    // Whole minutes inside the history, twice (CCC and TRTC).
    expect(text.split('--from 2026-12-01T12:16Z --to 2026-12-01T12:29Z --window-sec 300')).toHaveLength(3);
    expect(text).toContain('--base-url http://127.0.0.1:4200');
    expect(text).toContain('HUAWEI_BASE_URL=http://127.0.0.1:4300');
    expect(text).toContain('replay needs `cdrflow start` stopped');
  });

  it('names no backfill range when the demo has no history', async () => {
    const { demoTryLines } = await import('./demo.ts');
    const text = demoTryLines({ ...endpoints, history: undefined }).join('\n');
    expect(text).not.toContain('npx cdrflow backfill');
    expect(text).toContain('no demo history to backfill');
  });

  it('the printed CCC backfill reads records from a simulator filled as the demo fills it', async () => {
    const { demoTryLines, DEMO_CREDENTIALS } = await import('./demo.ts');
    const { startCccSimulator } = await import('../simulators/tencent-ccc/index.ts');
    const { cccConfigSchema, createCccSource } = await import('../connectors/tencent-ccc/index.ts');
    const { readWindow } = await import('../connectors/poller/reader.ts');
    const { MemorySink, memoryPollContext } = await import('../connectors/poller/fixtures/memory.ts');
    const c = DEMO_CREDENTIALS.ccc;
    const sim = await startCccSimulator({ credentials: { [c.secretId]: c.secretKey }, sdkAppIds: c.sdkAppIds, seed: 7 });
    try {
      const nowSec = Math.floor(Date.now() / 1000);
      const history = { fromSec: nowSec - 15 * 60, toSec: nowSec - 60 };
      sim.dataset.generateRange(history.fromSec, history.toSec, 200);
      const line = demoTryLines({ ccc: sim.connection, trtcUrl: 'http://127.0.0.1:1', recordingApiUrl: 'http://127.0.0.1:1', history }).find((l) => l.includes('backfill tencent-ccc'))!;
      const [, from, to] = /--from (\S+) --to (\S+)/.exec(line)!;
      const source = createCccSource(cccConfigSchema.parse({ secretId: c.secretId, secretKey: c.secretKey, sdkAppIds: c.sdkAppIds, ...sim.connection }));
      const sink = new MemorySink();
      const window = { start: Date.parse(from!) / 1000, end: Date.parse(to!) / 1000 };
      const result = await readWindow(memoryPollContext(source, sink, { mode: 'backfill' }), String(c.sdkAppIds[0]), window);
      expect(result.records).toBeGreaterThan(50);
      expect(sink.envelopes.length).toBe(result.records);
    } finally {
      await sim.stop();
    }
  });
});
