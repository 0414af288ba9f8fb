// `cdrflow schemas` against a registry that is down, or that takes the connection and never answers: one line naming
// it, exit 69. It was exit 1 with "status 400: connect ECONNREFUSED", and a hang for good against a silent one (an
// operator walk).
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CdrflowError } from '../../core/errors.ts';
import { classifyRegistryError } from '../../core/dead-letter.ts';
import { registryNotFound } from '../../core/avro.ts';
import { startSilentServer } from '../../test/silent-server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let silent: Awaited<ReturnType<typeof startSilentServer>>;
let silentPort = 0;
// A server that is no registry: 404 for every path, with a body of its own (a registry's root, a web server).
let web: Server;
let webPort = 0;
// A registry that holds no subject and answers only requests carrying user:s3cret-pw (HTTP Basic).
let guarded: Server;
let guardedPort = 0;

beforeAll(async () => {
  silent = await startSilentServer();
  silentPort = silent.port;
  web = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ title: 'Could not find resource for full path', status: 404 }));
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webPort = (web.address() as { port: number }).port;
  guarded = createServer((req, res) => {
    const allowed = req.headers.authorization === `Basic ${Buffer.from('user:s3cret-pw').toString('base64')}`;
    res.writeHead(allowed ? 404 : 401, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
    res.end(JSON.stringify(allowed ? { error_code: 40401, message: 'Subject not found' } : { error_code: 40101, message: 'Unauthorized' }));
  });
  await new Promise<void>((resolve) => guarded.listen(0, '127.0.0.1', resolve));
  guardedPort = (guarded.address() as { port: number }).port;
});

afterAll(async () => {
  await silent.close();
  await new Promise((resolve) => web.close(resolve));
  await new Promise((resolve) => guarded.close(resolve));
});

/** Like run(), without blocking this process: the server answering it lives here. */
const runAsync = (...args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'schemas', ...args], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });

const run = (...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), 'schemas', ...args], { encoding: 'utf8', cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', NO_COLOR: '1' }, timeout: 60_000 });

describe('cdrflow schemas without a registry', () => {
  it.each([['register'], ['check']])('%s: a registry that refuses connections is one line naming it, exit 69', (action) => {
    const r = run(action, '--registry', 'http://127.0.0.1:1');
    expect(r.status, r.stderr).toBe(69);
    expect(r.stderr).toMatch(/^cdrflow schemas: the schema registry at http:\/\/127\.0\.0\.1:1 is not reachable: .*(ECONNREFUSED|fetch failed)/);
  });

  it.each([['register'], ['check']])('%s: a registry that never answers ends after the request timeout, exit 69', (action) => {
    const r = run(action, '--registry', `http://127.0.0.1:${silentPort}`);
    expect(r.status, r.stderr).toBe(69);
    expect(r.stderr).toMatch(new RegExp(`^cdrflow schemas: the schema registry at http://127\\.0\\.0\\.1:${silentPort} is not reachable: .*(Timeout \\(10000ms\\)|aborted due to timeout)`));
  });

  // A URL without the registry's API path (Apicurio's root instead of /apis/ccompat/v7): check passed every subject
  // as "new" with exit 0, and register said "status 404: [object Object]".
  it.each([['check'], ['register']])('%s: a URL that answers 404 without a registry\'s "not found" code is no registry API, exit 78', async (action) => {
    const r = await runAsync(action, '--registry', `http://127.0.0.1:${webPort}`);
    expect(r.status, r.stderr).toBe(78);
    expect(r.stdout).not.toContain('new ');
    expect(r.stderr).toMatch(new RegExp(`^cdrflow schemas: the schema registry at http://127\\.0\\.0\\.1:${webPort}: .*404.*Apicurio serves one under /apis/ccompat/v7\\n$`));
  });

  // A registry reached with its credentials in the URL: the messages name it by scheme, host and path only.
  it('register: a URL with a user and password in it is shown without them (refused, not a registry API)', async () => {
    const refused = run('register', '--registry', 'http://user:s3cret-pw@127.0.0.1:1');
    expect(refused.status, refused.stderr).toBe(69);
    expect(refused.stderr).toMatch(/^cdrflow schemas: the schema registry at http:\/\/\*\*\*@127\.0\.0\.1:1 is not reachable: /);
    const web404 = await runAsync('register', '--registry', `http://user:s3cret-pw@127.0.0.1:${webPort}`);
    expect(web404.status, web404.stderr).toBe(78);
    expect(web404.stderr).toContain(`the schema registry at http://***@127.0.0.1:${webPort}: `);
    expect(refused.stderr + web404.stderr).not.toContain('s3cret-pw');
  });

  // fetch refuses a URL with credentials in it: check stopped at once, exit 1, quoting the URL with its password.
  it('check: the credentials of a URL reach the registry (HTTP Basic, as register sends them), and no message', async () => {
    const r = await runAsync('check', '--registry', `http://user:s3cret-pw@127.0.0.1:${guardedPort}`);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^new +cdr\.normalized-value +cdr-normalized\.avsc$/m);
    const refused = run('check', '--registry', 'http://user:s3cret-pw@127.0.0.1:1');
    expect(refused.status, refused.stderr).toBe(69);
    expect(refused.stderr).toMatch(/^cdrflow schemas: the schema registry at http:\/\/\*\*\*@127\.0\.0\.1:1 is not reachable: /);
    expect(r.stdout + r.stderr + refused.stderr).not.toContain('s3cret-pw');
  });

  // A registry refusing the credentials (or their absence) is a configuration to mend: exit 78, as Kafka's SASL
  // refusal elsewhere, never 1 (which `check` gives a breaking change) nor 69 (which says wait).
  it.each([
    ['check', 401],
    ['register', 401],
    ['check', 403],
    ['register', 403],
  ])('%s: a registry answering %i is a configuration to mend (exit 78, one line naming the registry), not a breaking change', async (action, status) => {
    const refusing = createServer((req, res) => {
      req.resume();
      res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify({ error_code: status * 100 + 1, message: 'Unauthorized' }));
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    try {
      const port = (refusing.address() as { port: number }).port;
      const r = await runAsync(action, '--registry', `http://user:wrong-pw@127.0.0.1:${port}`);
      expect(r.status, r.stdout + r.stderr).toBe(78);
      expect(r.stderr).toMatch(new RegExp(`^cdrflow schemas: the schema registry at http://\\*\\*\\*@127\\.0\\.0\\.1:${port} refused the credentials \\(HTTP ${status}\\): .*\\n$`));
      expect(r.stderr).not.toContain('wrong-pw');
      // Said once: register's error (TopicCodec's) names the refusal itself, and its line repeated it.
      expect(r.stderr.match(/refused the credentials/g)).toHaveLength(1);
    } finally {
      await new Promise((resolve) => refusing.close(resolve));
    }
  });

  it("check: a registry's reasons are shown printably (they reached stdout with their bidi overrides and escape sequences)", async () => {
    const hostile = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
      res.end(JSON.stringify(req.url!.includes('/compatibility/') ? { is_compatible: false, messages: ['field \u202eterces\u202c\r\x1b[2J\u0085 changed'] } : [1]));
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    try {
      const r = await runAsync('check', '--registry', `http://127.0.0.1:${(hostile.address() as { port: number }).port}`);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toContain('\n  field \\u202eterces\\u202c\\r\\u001b[2J\\u0085 changed\n');
      expect(r.stdout).not.toMatch(/[^\P{C}\n]/u);
    } finally {
      await new Promise((resolve) => hostile.close(resolve));
    }
  });

  it.each([
    ['a maintenance page served with 200', 200, 'text/html', '<html>back soon</html>'],
    ['a JSON object without is_compatible', 200, 'application/json', '{}'],
    ['JSON null', 200, 'application/json', 'null'],
    ['a 503 with a long page', 503, 'text/html', `<html>${'x'.repeat(5_000)}</html>`],
  ])('check: %s for the compatibility question is the registry not answering (exit 69, one short line), not a breaking change (exit 1)', async (_what, status, contentType, body) => {
    const away = createServer((req, res) => {
      req.resume();
      if (!req.url!.includes('/compatibility/')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('[1]');
      res.writeHead(status, { 'content-type': contentType }).end(body);
    });
    await new Promise<void>((resolve) => away.listen(0, '127.0.0.1', resolve));
    try {
      const r = await runAsync('check', '--registry', `http://127.0.0.1:${(away.address() as { port: number }).port}`);
      expect(r.status, r.stdout + r.stderr).toBe(69);
      expect(r.stdout).not.toContain('INCOMPATIBLE');
      expect(r.stderr).toMatch(/^cdrflow schemas: the schema registry at http:\/\/127\.0\.0\.1:\d+ is not reachable: (registry answer not understood: HTTP 200|registry answered 503) /);
      expect(r.stderr.length).toBeLessThan(600);
    } finally {
      await new Promise((resolve) => away.close(resolve));
    }
  });

  it("takes a 404 for an unknown subject only with the registry's own code", () => {
    expect(registryNotFound('{"message":"Subject \'x\' not found.","error_code":40401}')).toBe(true);
    expect(registryNotFound('{"error_code":40402}')).toBe(true);
    expect(registryNotFound('{"status":404,"title":"not found"}')).toBe(false);
    expect(registryNotFound('<html>404</html>')).toBe(false);
    expect(registryNotFound('null')).toBe(false);
  });

  it('refuses a --registry that is no URL (it was sent to 127.0.0.1:80)', () => {
    const r = run('check', '--registry', 'notaurl');
    expect(r.status, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/^cdrflow schemas: --registry needs the registry's base URL \(http:\/\/host:port\/…\), got "notaurl"/);
  });

  it("reads the client's status 400 for a refused connection or a timeout as the registry away (stages wait), not a schema error (they stopped)", () => {
    for (const message of ['Confluent_Schema_Registry - Error, status 400: connect ECONNREFUSED 127.0.0.1:1', 'Confluent_Schema_Registry - Error, status 400: Timeout (10000ms)']) {
      expect(classifyRegistryError(Object.assign(new Error(message), { status: 400 }), 'registering').kind).toBe('transient');
    }
    expect(classifyRegistryError(Object.assign(new Error('Schema being registered is incompatible'), { status: 409 }), 'registering').kind).toBe('schema');
    expect(classifyRegistryError(new CdrflowError('bug', 'x'), 'y').kind).toBe('bug');
  });
});
