// The checks `cdrflow start` makes before it starts anything (app/preflight.ts, called by app/job.ts): a data
// directory it cannot use and a receiver port in use are one config-kind line naming the setting, its environment
// variable and what to do.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CdrflowError } from '../core/errors.ts';
import { checkDataDir, checkReceiverPort } from './preflight.ts';
import { REPO_ROOT } from '../core/repo-root.ts';

function refusal(run: () => unknown): CdrflowError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(CdrflowError);
    return err as CdrflowError;
  }
  throw new Error('expected a refusal');
}

describe('checkDataDir', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-datadir-'));
  chmodSync(dir, 0o755);
  const file = join(dir, 'afile');
  writeFileSync(file, 'x');

  it('accepts an existing directory and a missing one below a writable directory, and creates nothing', () => {
    expect(() => checkDataDir(dir)).not.toThrow();
    expect(() => checkDataDir(join(dir, 'new', 'clickhouse'))).not.toThrow();
    expect(existsSync(join(dir, 'new'))).toBe(false);
  });

  it('refuses a file', () => {
    const err = refusal(() => checkDataDir(file));
    expect(err.kind).toBe('config');
    expect(err.message).toBe(
      `clickhouse.dataDir (env CLICKHOUSE_DATA_DIR): ${file} is a file, not a directory; set it to a directory this user may write (it is created when missing), or set CLICKHOUSE_URL to use a ClickHouse server`,
    );
  });

  it('refuses a path below a file, naming the file in the way', () => {
    const below = join(file, 'a', 'b');
    const err = refusal(() => checkDataDir(below));
    expect(err.kind).toBe('config');
    expect(err.message).toContain(`clickhouse.dataDir (env CLICKHOUSE_DATA_DIR): ${below} cannot be created: ${file} is a file, not a directory;`);
  });

  // Permissions do not bind root: as root the check runs as `nobody` (setpriv, util-linux) in a child process.
  const ro = join(dir, 'ro');
  mkdirSync(ro);
  chmodSync(ro, 0o555);
  const asRoot = process.getuid?.() === 0;
  const setpriv = spawnSync('setpriv', ['--version']).status === 0;
  const check = (path: string): { kind?: string; code?: string; message?: string } => {
    if (!asRoot) {
      try {
        checkDataDir(path);
        return {};
      } catch (err) {
        const e = err as CdrflowError;
        return { kind: e.kind, code: e.code ?? '', message: e.message };
      }
    }
    const script = `const m = await import(${JSON.stringify(join(REPO_ROOT, 'app/preflight.ts'))});
      try { m.checkDataDir(process.argv[1]); console.log('{}'); } catch (e) { console.log(JSON.stringify({ kind: e.kind, code: e.code, message: e.message })); }`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script, path], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, HOME: dir },
    });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { kind?: string; code?: string; message?: string };
  };

  it.skipIf(asRoot && !setpriv)('refuses a directory this user may not write, and one it may not create', () => {
    const inside = check(join(ro, 'clickhouse'));
    expect(inside.kind).toBe('config');
    expect(inside.code).toBe('EACCES');
    expect(inside.message).toContain(`clickhouse.dataDir (env CLICKHOUSE_DATA_DIR): ${join(ro, 'clickhouse')} cannot be created: ${ro} is not writable by this user;`);
    const itself = check(ro);
    expect(itself.message).toContain(`clickhouse.dataDir (env CLICKHOUSE_DATA_DIR): ${ro} is not writable by this user;`);
  });
});

describe('checkReceiverPort', () => {
  const held: Server[] = [];
  afterAll(async () => {
    for (const s of held) await new Promise((r) => s.close(r));
  });

  it('passes a free port (and leaves it free) and port 0', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    await checkReceiverPort({ host: '127.0.0.1', port });
    await checkReceiverPort({ host: '127.0.0.1', port: 0 });
    const again = createServer();
    await new Promise<void>((r) => again.listen(port, '127.0.0.1', r));
    await new Promise((r) => again.close(r));
  });

  it('refuses a port in use, naming receiver.port and its environment variable', async () => {
    const server = createServer();
    held.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const err = (await checkReceiverPort({ host: '127.0.0.1', port }).catch((e: unknown) => e)) as CdrflowError;
    expect(err).toBeInstanceOf(CdrflowError);
    expect(err.kind).toBe('config');
    expect(err.code).toBe('EADDRINUSE');
    expect(err.message).toBe(
      `receiver.port (env CDRFLOW_RECEIVER_PORT, \`cdrflow receive --port\`): cannot listen on 127.0.0.1:${port}: the port is in use by another process (a server, or a connection that took it as its local port: ports in the kernel's ephemeral range, net.ipv4.ip_local_port_range, are handed out for those); stop that process or choose another port`,
    );
  });

  it('refuses an address of no interface of this machine, naming receiver.host', async () => {
    // TEST-NET-1 (RFC 5737): never a local address.
    const err = (await checkReceiverPort({ host: '192.0.2.1', port: 18088 }).catch((e: unknown) => e)) as CdrflowError;
    expect(err.kind).toBe('config');
    expect(err.code).toBe('EADDRNOTAVAIL');
    expect(err.message).toContain('receiver.host (env CDRFLOW_RECEIVER_HOST');
  });
});
