// `cdrflow schemas` against a registry that is down, or that takes the connection and never answers: one line naming
// it, exit 69. It was exit 1 with "status 400: connect ECONNREFUSED", and a hang for good against a silent one (an
// operator walk).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CdrflowError } from '../../core/errors.ts';
import { classifyRegistryError } from '../../core/dead-letter.ts';
import { startSilentServer } from '../../test/silent-server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let silent: Awaited<ReturnType<typeof startSilentServer>>;
let silentPort = 0;

beforeAll(async () => {
  silent = await startSilentServer();
  silentPort = silent.port;
});

afterAll(() => silent.close());

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
