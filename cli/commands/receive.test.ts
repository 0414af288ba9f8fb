// `cdrflow receive` refusing to start: an --ops-port another process holds (one line naming the flag, exit 78) and
// a Kafka that does not answer (one line with what to do, exit 69), both before the receiver listens, so no push is
// acknowledged by a command that is about to exit.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cdrflow, freePort } from '../../test/main-job/cli.ts';

describe('cdrflow receive --ops-port', () => {
  it("refuses the receiver's own port as the ops port (it said another process held it)", async () => {
    const same = String(await freePort());
    const r = await cdrflow(['receive', '--port', same, '--ops-port', same], {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      CDRFLOW_HUAWEI_APPS: JSON.stringify([{ appKey: 'k', appSecret: 's' }]),
      KAFKA_BROKERS: `127.0.0.1:${await freePort()}`,
    }, 60_000);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toMatch(new RegExp(`^cdrflow receive: --ops-port ${same} is the receiver's own port \\(--port / receiver\\.port\\): give each its own\n`));
  });

  it('refuses a taken port before the receiver listens, naming the flag', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const taken = (holder.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-receive-'));
    const config = join(dir, 'receiver.json');
    writeFileSync(config, JSON.stringify({ receiver: { port: await freePort(), huawei: { topics: { fee: 'raw_fee', events: 'raw_events' } } } }));
    try {
      const r = await cdrflow(['receive', '--config', config, '--ops-port', String(taken)], {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        CDRFLOW_HUAWEI_APPS: JSON.stringify([{ appKey: 'k', appSecret: 's' }]),
        // Nothing answers here: the command must not get as far as Kafka.
        KAFKA_BROKERS: `127.0.0.1:${await freePort()}`,
      }, 60_000);
      expect(r.code).toBe(78);
      expect(r.stderr.trim().split('\n')).toEqual([`cdrflow receive: --ops-port: cannot listen on 127.0.0.1:${taken}: the port is in use by another process (a server, or a connection that took it as its local port: ports in the kernel's ephemeral range, net.ipv4.ip_local_port_range, are handed out for those); stop that process or choose another port`]);
      expect(r.stderr).not.toMatch(/listening on/);
    } finally {
      await new Promise((r) => holder.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses at once, with exit 69, when Kafka does not answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-receive-'));
    const config = join(dir, 'receiver.json');
    const broker = `127.0.0.1:${await freePort()}`;
    writeFileSync(config, JSON.stringify({ receiver: { port: await freePort(), huawei: { topics: { fee: 'raw_fee', events: 'raw_events' } } } }));
    try {
      const started = Date.now();
      const r = await cdrflow(['receive', '--config', config], {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        CDRFLOW_HUAWEI_APPS: JSON.stringify([{ appKey: 'k', appSecret: 's' }]),
        KAFKA_BROKERS: broker,
      }, 60_000);
      expect(r.code).toBe(69);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(broker);
      expect(r.stderr).not.toMatch(/listening on/);
      // Node's start included; the client's own retries took ~12 s.
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
