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

  it('refuses a receiver port another process holds: one line naming the setting, exit 78', async () => {
    const { createServer } = await import('node:net');
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const taken = (holder.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-recv-'));
    const file = join(dir, 'receiver.json');
    writeFileSync(file, JSON.stringify({ receiver: { port: taken, huawei: { topics: { fee: uniqueName('raw_cli'), events: uniqueName('raw_cli_ev') } } } }));
    try {
      const child = spawn(process.execPath, [CLI, 'receive', '--config', file], { env: { ...process.env, CDRFLOW_HUAWEI_APPS: JSON.stringify([APP]) }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d.toString()));
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      expect(code).toBe(78);
      expect(stderr.trim()).toBe(`cdrflow receive: receiver.port (env CDRFLOW_RECEIVER_PORT, \`cdrflow receive --port\`): cannot listen on 127.0.0.1:${taken}: the port is in use by another process (a server, or a connection that took it as its local port: ports in the kernel's ephemeral range, net.ipv4.ip_local_port_range, are handed out for those); stop that process or choose another port`);
    } finally {
      await new Promise((r) => holder.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
