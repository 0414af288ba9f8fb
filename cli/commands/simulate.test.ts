// `cdrflow simulate` refuses values that would take the machine before it starts: --history 10000000 took 4 GB in 40 s
// and never listened, --rate 1e9 a whole core with no output (an operator walk).
import { spawn, spawnSync } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('cdrflow simulate bounds', () => {
  it.each([
    [['--history', '10000000'], /^cdrflow simulate: --history needs a number 0\.\.1440, got "10000000"/],
    [['--rate', '1e9'], /^cdrflow simulate: --rate needs a number 0\.001\.\.5000, got "1e9"/],
    [['--history', '1440', '--rate', '100'], /^cdrflow simulate: --history 1440 at --rate 100 is 8,640,000 calls at start; at most 2,000,000/],
    // A flag of the other kind of simulator did nothing, silently.
    [['--to', 'http://127.0.0.1:1'], /^cdrflow simulate: --to applies to the push vendors \(huawei-privatenumber, alibaba-lvms\) only/],
  ])('%j: usage error, exit 64, nothing started', (flags, message) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'simulate', 'tencent-trtc', ...flags], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).not.toMatch(/listening/);
  });

  it('a push vendor refuses --port and a --to that is no URL', () => {
    for (const [flags, message] of [
      [['--port', '5'], /^cdrflow simulate: --port applies to the pull vendors \(tencent-ccc, tencent-trtc\) only/],
      [['--to', 'notaurl'], /^cdrflow simulate: --to needs the receiver's base URL \(http:\/\/host:port\), got "notaurl"/],
      // --total counts records: a fraction was taken (the URL after it keeps the old code from starting).
      [['--total', '2.5', '--to', 'notaurl'], /^cdrflow simulate: --total needs a positive integer, got "2\.5"/],
      // A seed is a whole number the generators take as 32 bits: 1.5 was taken, and 2^32 drew the random sequence of seed 0.
      [['--seed', '1.5', '--to', 'notaurl'], /^cdrflow simulate: --seed needs an integer 0\.\.4294967295, got "1\.5"/],
      [['--seed', '4294967296', '--to', 'notaurl'], /^cdrflow simulate: --seed needs an integer 0\.\.4294967295, got "4294967296"/],
    ] as const) {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'simulate', 'huawei-privatenumber', ...flags], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
      expect(r.status, r.stderr).toBe(64);
      expect(r.stderr).toMatch(message);
    }
  });

  it('a taken --port is one line and exit 78 (it was the raw EADDRINUSE, exit 1)', async () => {
    const held = createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    try {
      const port = (held.address() as { port: number }).port;
      const child = spawn(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'simulate', 'tencent-ccc', '--port', String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, stderr).toBe(78);
      expect(stderr).toBe(`cdrflow simulate: --port: cannot listen on 127.0.0.1:${port}: the port is in use by another process (a server, or a connection that took it as its local port: ports in the kernel's ephemeral range, net.ipv4.ip_local_port_range, are handed out for those); stop that process or choose another port\n`);
    } finally {
      await new Promise((resolve) => held.close(resolve));
    }
  });
  // `simulate alibaba-lvms --total 1` against a receiver that is not there exited 0 after giving up (an operator walk).
  // Whatever the receiver did, the run ends by itself once the total was sent, without a stop request.
  // The bound that makes it give up quickly is the submitter's own (RETRY.vendorResend: 8 attempts, waits under 5 s).
  it.each([
    ['answers every submit with success', 0, 'accepts'],
    ['refuses every submit with a server error', 69, 'answers 503'],
    // Nothing listens there: every attempt is a refused connection, retried like a 5xx, then given up.
    ['is not running (connection refused)', 69, 'is closed'],
  ] as const)('a push client whose receiver %s: exit %s', async (_what, expectedCode, receiverDoes) => {
    const receiver = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (receiverDoes === 'answers 503') res.writeHead(503).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ alibaba_lvms_lvr_receivecallrecord_response: { lvms_result_d_t_o: { success: true } } }));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const to = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    // Closed again before the client starts: its port is one nothing listens on.
    if (receiverDoes === 'is closed') await new Promise((resolve) => receiver.close(resolve));
    try {
      const child = spawn(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'simulate', 'alibaba-lvms', '--total', '1', '--malformed', '0', '--to', to], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, stderr).toBe(expectedCode);
      // --total N ends the run itself: it sent itself SIGTERM and said "SIGTERM: stopping", as if someone had stopped it.
      expect(stderr).not.toMatch(/SIG(TERM|INT)/);
      if (expectedCode === 69) expect(stderr).toContain(`1 record(s) were never accepted by ${to} (given up after the vendor's retries, or refused and still being retried when stopped): is the receiver running there?`);
      else expect(stderr).toContain('"accepted":1,');
    } finally {
      if (receiver.listening) await new Promise((resolve) => receiver.close(resolve));
    }
  }, 60_000);
});
