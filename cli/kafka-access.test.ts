// A Kafka that takes connections but never answers (a stopped or wedged broker): the one-shot commands end with one
// line and exit 69, as for one that refuses connections. `status` took 41 s and exited 0 against it, `dlq` and `tail`
// 41 s and exit 1 with "Broker not connected" (an operator walk).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSilentServer } from '../test/silent-server.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
let silent: Awaited<ReturnType<typeof startSilentServer>>;
let port = 0;

beforeAll(async () => {
  silent = await startSilentServer();
  port = silent.port;
});

afterAll(() => silent.close());

describe('one-shot commands against a broker that never answers', () => {
  it.each([['status'], ['dlq'], ['tail', 'cdr.dlq', '--last', '1']])('%s: one line naming it, exit 69', (...args) => {
    const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', KAFKA_BROKERS: `127.0.0.1:${port}`, NO_COLOR: '1', CDRFLOW_CACHE_DIR: process.env['CDRFLOW_CACHE_DIR'] ?? '' };
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), ...args], { encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(69);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(new RegExp(`^cdrflow ${args[0]}: Kafka at 127\\.0\\.0\\.1:${port} is not reachable \\(no answer within 3 s\\): `));
  });
});
