// `cdrflow start` with a setting it cannot use — the embedded data directory is a file (or below one), the ops port
// (another job's too) or the receiver's port is held by another process — refuses in one line naming the setting and its environment
// variable, exits 78 (EX_CONFIG) within seconds, and has started and created nothing: no topic of its namespace.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testKafka, uniqueName } from '../helpers.ts';
import { cdrflow, freePort, type CliResult } from './cli.ts';
import { testPortBase } from '../port-base.ts';
import { OPS_SERVER_HEADER } from '../../core/ops-server.ts';

/** Seconds a refusal may take: the ops-port probe of a running job waits up to 2 s on a port that never answers. */
const REFUSAL_MS = 15_000;

/** Another program on `port`: one that drops every connection at once, or (`silent`) one that never answers. */
function hold(port: number, behaviour: 'drop' | 'silent' = 'drop'): Promise<Server> {
  return new Promise((resolve, reject) => {
    // `silent` reads and drops what comes (never answering), so a connection the client closes ends here too.
    const server = createServer((socket) => (behaviour === 'drop' ? socket.destroy() : socket.on('error', () => undefined).resume()));
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function topicsOf(namespace: string): Promise<string[]> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(`${namespace}.`));
  } finally {
    await admin.disconnect();
  }
}

/** stderr without the progress lines (`cdrflow: …`): what the user is told went wrong. */
function problems(r: CliResult): string[] {
  return r.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('cdrflow: '));
}

describe('cdrflow start refuses a setting it cannot use, in one line, before starting anything', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-start-settings-'));
  const held: Server[] = [];
  const file = join(dir, 'afile');
  beforeAll(() => writeFileSync(file, 'not a directory\n'));
  afterAll(async () => {
    for (const s of held) await new Promise((r) => s.close(r));
  });

  /** A job with a receiver (so no "no vendor" note), its own namespace, ops port and data directory. */
  async function start(overrides: NodeJS.ProcessEnv, servers: 'test' | 'local' = 'test'): Promise<{ result: CliResult; namespace: string }> {
    const namespace = uniqueName('startsettings');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CDRFLOW_NAMESPACE: namespace,
      CDRFLOW_OPS_PORT: String(await freePort()),
      CLICKHOUSE_DATA_DIR: join(dir, namespace),
      CDRFLOW_LVMS_APPS: JSON.stringify([{ appKey: 'k', appSecret: 's' }]),
      CDRFLOW_RECEIVER_HOST: '127.0.0.1',
      CDRFLOW_RECEIVER_PORT: '0',
      TZ: 'UTC',
      ...overrides,
    };
    delete env['CLICKHOUSE_URL'];
    if (servers === 'local') {
      // No servers named: the job would start its own local stack on this port base (nothing of the test's is there).
      delete env['KAFKA_BROKERS'];
      delete env['SCHEMA_REGISTRY_URL'];
      // Inside the test run's own block of ports (outage.int.test.ts takes +500, receiver.int.test.ts +400).
      env['CDRFLOW_PORT_BASE'] = String(testPortBase() + 700);
    } else expect(env['KAFKA_BROKERS'], 'the test harness names the test Kafka').toBeTruthy();
    return { result: await cdrflow(['start'], env, 90_000), namespace };
  }

  function expectRefusal(r: CliResult, ...parts: string[]): void {
    const diagnostics = `exit ${String(r.code)} after ${r.ms} ms\n--- stderr ---\n${r.stderr}`;
    expect(r.code, diagnostics).toBe(78);
    const lines = problems(r);
    expect(lines, diagnostics).toHaveLength(1);
    const line = lines[0]!;
    expect(line.startsWith('cdrflow start: '), diagnostics).toBe(true);
    for (const part of parts) expect(line, diagnostics).toContain(part);
    expect(line).not.toContain('bug');
    // Nothing had started, so nothing is stopped.
    expect(r.stderr).not.toContain('stopping');
    expect(r.ms, diagnostics).toBeLessThan(REFUSAL_MS);
  }

  it('a data directory that is a file', async () => {
    const { result, namespace } = await start({ CLICKHOUSE_DATA_DIR: file });
    expectRefusal(result, 'clickhouse.dataDir (env CLICKHOUSE_DATA_DIR)', `${file} is a file, not a directory`, 'set it to a directory');
    expect(await topicsOf(namespace)).toEqual([]);
  });

  it('a data directory below a file', async () => {
    const below = join(file, 'clickhouse');
    const { result, namespace } = await start({ CLICKHOUSE_DATA_DIR: below });
    expectRefusal(result, 'clickhouse.dataDir (env CLICKHOUSE_DATA_DIR)', `${below} cannot be created: ${file} is a file, not a directory`);
    expect(await topicsOf(namespace)).toEqual([]);
  });

  it('a data directory another live process holds: found before the local Kafka and registry start (they were started, ~11 s, and stopped again)', async () => {
    const held = join(dir, uniqueName('held'));
    mkdirSync(held);
    // What the engine writes while a process holds the directory; this test's own process is the live holder.
    writeFileSync(join(held, 'status'), `PID: ${process.pid}\nStarted at: 2026-12-05 10:00:00\nRevision: 1\n`);
    const { result } = await start({ CLICKHOUSE_DATA_DIR: held }, 'local');
    expectRefusal(result, `the embedded ClickHouse in ${held} is in use by another process (PID ${process.pid}`);
    expect(result.stderr).not.toContain('infra:');
  });

  // The check for a cdrflow job already on the port asks it over HTTP first: a holder that drops the connection once
  // made the process end silently (exit 13); one that never answers, after that check's 2 s.
  it.each([
    ['drops every connection', 'drop'],
    ['never answers', 'silent'],
  ] as const)('an ops port another process listens on (it %s)', async (_what, behaviour) => {
    const port = await freePort();
    held.push(await hold(port, behaviour));
    const { result, namespace } = await start({ CDRFLOW_OPS_PORT: String(port) });
    expectRefusal(result, 'ops.port (env CDRFLOW_OPS_PORT)', `cannot listen on 127.0.0.1:${port}`, 'in use by another process', 'choose another port');
    expect(await topicsOf(namespace)).toEqual([]);
  });

  it('an ops port where another cdrflow job answers: 78 like any other holder of the port (it was 1)', async () => {
    const { createServer: createHttpServer } = await import('node:http');
    const port = await freePort();
    const job = createHttpServer((req, res) => {
      res.setHeader(OPS_SERVER_HEADER, 'cdrflow');
      res.end(req.url === '/healthz' ? 'ok\n' : '');
    });
    await new Promise<void>((r) => job.listen(port, '127.0.0.1', () => r()));
    try {
      const { result, namespace } = await start({ CDRFLOW_OPS_PORT: String(port) });
      expectRefusal(result, `a cdrflow job already answers on http://127.0.0.1:${port}`, 'stop it first or set ops.port / CDRFLOW_OPS_PORT');
      expect(await topicsOf(namespace)).toEqual([]);
    } finally {
      await new Promise((r) => job.close(r));
    }
  });

  it("a receiver port another process listens on, found before the stages start and create their topics", async () => {
    const port = await freePort();
    held.push(await hold(port));
    const { result, namespace } = await start({ CDRFLOW_RECEIVER_PORT: String(port) });
    expectRefusal(result, 'receiver.port (env CDRFLOW_RECEIVER_PORT', `cannot listen on 127.0.0.1:${port}`, 'in use by another process', 'choose another port');
    expect(await topicsOf(namespace)).toEqual([]);
  });
});
