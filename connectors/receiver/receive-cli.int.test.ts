// `cdrflow receive` as a process: serves pushes into Kafka, and on SIGTERM finishes what is in flight and exits 0.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { uniqueName, waitFor } from '../../test/helpers.ts';
import { startHuaweiPusher } from '../../simulators/huawei-privatenumber/pusher.ts';

const CLI = fileURLToPath(new URL('../../bin/cdrflow.mjs', import.meta.url));
const APP = { appKey: 'cliApp', appSecret: 'cliSecret' };

describe('cdrflow receive', () => {
  it('accepts pushes and shuts down cleanly on SIGTERM', async () => {
    const topic = uniqueName('raw_cli');
    const config = JSON.stringify({ receiver: { port: 0, huawei: { topics: { fee: topic, events: `${topic}_ev` } } } });
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'cdrflow-recv-')), 'receiver.json');
    writeFileSync(file, config);
    const child = spawn(process.execPath, [CLI, 'receive', '--config', file], {
      env: { ...process.env, CDRFLOW_HUAWEI_APPS: JSON.stringify([APP]) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const url = await waitFor(() => /listening on (http:\/\/\S+?),?\s/.exec(stderr)?.[1], { timeoutMs: 60_000, message: 'the receiver to listen' });
      const pusher = startHuaweiPusher({ url: `${url}/huawei/privatenumber/fee`, ...APP, seed: 77, totalRecords: 500, recordsPerSecond: 1000, timeScale: 1 / 6000 });
      const stats = await pusher.done;
      expect(stats).toMatchObject({ acceptedRecords: 500, gaveUpBatches: 0 });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM, finishing in-flight pushes/);
  });
});
