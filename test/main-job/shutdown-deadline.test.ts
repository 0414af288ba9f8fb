// Shutdown always ends (README): whatever still hangs after a stop request, `cdrflow start` exits with code 1
// shutdown.hardDeadlineSec after it and logs `shutdown.deadline`; a signal delivered twice at once is one request; a
// second Ctrl-C more than a second after the first exits at once. What hangs here is a broker that never answers
// (accepts connections, reads, never replies): the sink, starting, waits on it for kafkajs's 30 s request timeout and
// its retries, and a stop request during start-up lets the component now starting finish. No Kafka, registry or
// ClickHouse server is needed: the engine is the embedded one, the broker and the registry the silent server.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSilentServer } from '../silent-server.ts';
import { uniqueName, waitFor } from '../helpers.ts';
import { freePort, startCli } from './cli.ts';

let silent: Awaited<ReturnType<typeof startSilentServer>>;
beforeAll(async () => {
  silent = await startSilentServer();
});
afterAll(async () => {
  await silent?.close();
});

/** `cdrflow start` against the wedged broker, with this shutdown section, once its sink is starting (hanging on it). */
async function startHanging(shutdown: string) {
  const dir = mkdtempSync(join(tmpdir(), 'cdrflow-deadline-'));
  const config = join(dir, 'pipeline.yaml');
  writeFileSync(config, `shutdown: ${shutdown}\nops: { statusIntervalSec: 0 }\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: `127.0.0.1:${silent.port}`,
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${silent.port}`,
    CDRFLOW_NAMESPACE: uniqueName('deadline'),
    CDRFLOW_OPS_PORT: String(await freePort()),
    CLICKHOUSE_DATA_DIR: join(dir, 'clickhouse'),
    TZ: 'UTC',
  };
  delete env['CLICKHOUSE_URL'];
  const job = startCli(['start', '--config', config], env);
  let exitCode: number | null | undefined;
  void job.exited.then((c) => (exitCode = c));
  const diagnostics = () => `exit ${String(exitCode)}\n--- stderr ---\n${job.output().stderr}\n--- log ---\n${job.output().stdout.slice(-4000)}`;
  // The sink is the first stage to start; its migrations come before it asks the broker anything, and the stop request
  // is meant for that wait: once the last migration step is logged (the code tables refreshed), the sink is on the
  // broker. (Asked during the migrations, the deadline's exit met an engine statement still running: under a loaded CI
  // machine it once ended by a signal instead of code 1, which a run of exits timed into migration 0009 could not
  // reproduce; the stop request during migrations is not what this test is about.)
  await waitFor(() => exitCode === undefined && job.output().stdout.includes('end-status code rows'), { timeoutMs: 60_000, message: 'the sink to start', details: diagnostics });
  return { job, diagnostics };
}

describe('cdrflow start: shutdown always ends', () => {
  it('exits 1 hardDeadlineSec after a stop request that cannot finish, and logs the deadline; a doubled signal is one request', async () => {
    const { job, diagnostics } = await startHanging('{ hardDeadlineSec: 1 }');
    try {
      const asked = Date.now();
      // Sent twice at once, as `timeout` signals a process and its group: one request, not a forced exit (143).
      job.child.kill('SIGTERM');
      job.child.kill('SIGTERM');
      const code = await job.exited;
      const afterMs = Date.now() - asked;
      expect(code, diagnostics()).toBe(1);
      const { stderr, stdout } = job.output();
      expect(stderr, diagnostics()).toContain('SIGTERM: stopping start-up');
      expect(stderr, diagnostics()).toContain('shutdown did not end within 1s (shutdown.hardDeadlineSec): exiting with code 1');
      expect(stderr, diagnostics()).not.toContain('again: exiting without a clean shutdown');
      const deadline = stdout.split('\n').filter((l) => l.includes('"event":"shutdown.deadline"'));
      expect(deadline, diagnostics()).toHaveLength(1);
      expect(JSON.parse(deadline[0]!)).toMatchObject({ level: 'error', hardDeadlineSec: 1, signalledPids: [] });
      // At the deadline, not when the broker's request timeout (30 s) would have failed the start (also exit 1).
      expect(afterMs, diagnostics()).toBeGreaterThanOrEqual(950);
      expect(afterMs, diagnostics()).toBeLessThan(15_000);
    } finally {
      job.child.kill('SIGKILL');
    }
  }, 90_000);

  it('exits at once on a second Ctrl-C more than a second after the first', async () => {
    const { job, diagnostics } = await startHanging('{ hardDeadlineSec: 60 }');
    try {
      const first = Date.now();
      job.child.kill('SIGINT');
      await waitFor(() => job.output().stderr.includes('SIGINT: stopping start-up'), { timeoutMs: 10_000, message: 'the first stop request taken', details: diagnostics });
      // The gap is what is tested: a second signal within a second of the first would count as the same request.
      await new Promise((r) => setTimeout(r, Math.max(0, first + 1_200 - Date.now())));
      const forced = Date.now();
      job.child.kill('SIGINT');
      const code = await job.exited;
      expect(code, diagnostics()).toBe(130);
      expect(job.output().stderr, diagnostics()).toContain('SIGINT again: exiting without a clean shutdown');
      expect(Date.now() - forced, diagnostics()).toBeLessThan(10_000);
    } finally {
      job.child.kill('SIGKILL');
    }
  }, 90_000);
});
