// Availability of the main job under the operator's review: `cdrflow start --demo` on a Kafka + registry stack of
// its own (a dedicated port base, so killing that broker never touches the shared test stack), then
//   1. every /sql attack of the review is refused through the real ops port, harmless queries pass;
//   2. an endless query is cut by the engine's time limit while the sink keeps committing;
//   3. the broker is SIGKILLed and restarted twice during demo traffic: the job never exits, /readyz goes 503 and
//      back to 200, the receiver answers 503 meanwhile (the vendors re-send);
//   4. shutdown while an endless query runs ends within the hard deadline;
//   5. the full accounting holds: distinct raw keys = CDRs in ClickHouse + distinct dead-lettered keys, and the
//      daily view equals `cdr FINAL`.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka, type Kafka } from '../../core/kafka.ts';
import { SQL_CONTENT_TYPE } from '../../core/ops-server.ts';
import { awaitKafkaReady, startKafka } from '../../infra/local/kafka.ts';
import { down, stackEndpoints, stackPorts } from '../../infra/local/stack.ts';
import { stackPaths } from '../../infra/local/paths.ts';
import { readPid, StopPolling } from '../../infra/local/processes.ts';
import { readTopic } from '../../sinks/clickhouse/fixtures/pipeline.ts';
import { testInfra, uniqueName, waitFor } from '../helpers.ts';
import { cdrflow, freePort, startCli } from './cli.ts';
import { testPortBase } from '../port-base.ts';

// Own broker: on the test stack's base + 500 (CI picks a base whose whole block of 1000 ports is free). The schema
// registry is the shared test one (subjects are namespaced; it does not need this broker).
const BASE = testPortBase() + 500;
const endpoints = stackEndpoints(BASE);
const paths = stackPaths(BASE);
const ports = stackPorts(BASE);
const dir = mkdtempSync(join(tmpdir(), 'cdrflow-outage-'));
const log = (msg: string) => process.stderr.write(`outage test: ${msg}\n`);
let kafka: Kafka;

async function startBroker(): Promise<void> {
  mkdirSync(paths.root, { recursive: true });
  const { pid } = await startKafka(paths, ports, log);
  await awaitKafkaReady(paths, pid, ports.kafkaPort);
}

beforeAll(async () => {
  await startBroker();
  kafka = createKafka({ brokers: endpoints.kafkaBrokers, clientId: uniqueName('outage-test') });
}, 300_000);

afterAll(async () => {
  await down(BASE, { force: true }).catch((err: unknown) => log(`stack down failed: ${String(err)}`));
});

const raw = ['tencent-ccc', 'tencent-trtc', 'huawei-privatenumber', 'alibaba-lvms'];

describe('cdrflow start through broker outages, SQL attacks and a shutdown during an endless query', () => {
  it('rides out two broker kills, refuses every attack, and keeps the accounting exact', async () => {
    const namespace = uniqueName('outage');
    const opsPort = await freePort();
    const ops = `http://127.0.0.1:${opsPort}`;
    const config = join(dir, 'pipeline.yaml');
    writeFileSync(
      config,
      [
        `namespace: ${namespace}`,
        `sink: { database: ${namespace}, flushMs: 250 }`,
        'ops: { statusIntervalSec: 2, sql: { maxExecutionTimeSec: 4 } }',
        'shutdown: { drainTimeoutSec: 60, hardDeadlineSec: 90 }',
        'demo: { historyMinutes: 2, malformedRate: 0.05, flakyPushRate: 0, pollIntervalSec: 2, settleSec: 1 }',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: testInfra().schemaRegistryUrl,
      CDRFLOW_PORT_BASE: String(BASE),
      CDRFLOW_OPS_PORT: String(opsPort),
      CLICKHOUSE_DATA_DIR: join(dir, 'clickhouse'),
      TZ: 'UTC',
    };
    const job = startCli(['start', '--demo', '--rate', '6', '--config', config], env);
    let exitCode: number | null | undefined;
    void job.exited.then((c) => (exitCode = c));
    const diagnostics = () => `exit ${String(exitCode)}\n--- stderr ---\n${job.output().stderr.slice(-5000)}\n--- log ---\n${job.output().stdout.slice(-5000)}`;
    const alive = () => {
      if (exitCode !== undefined) throw new StopPolling(`the job exited\n${diagnostics()}`);
    };
    const readyz = async () => (await fetch(`${ops}/readyz`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined))?.status;
    const metric = async (pattern: RegExp) => {
      const text = await (await fetch(`${ops}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
      return text
        .split('\n')
        .filter((l) => pattern.test(l))
        .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    };
    const sinkOut = () => metric(/^cdrflow_stage_records_out_total\{stage="sink"\}/);
    const sql = (body: string, headers: Record<string, string> = { 'content-type': SQL_CONTENT_TYPE }) =>
      fetch(`${ops}/sql?format=TSV`, { method: 'POST', body, headers, signal: AbortSignal.timeout(60_000) });

    try {
      await waitFor(async () => (alive(), (await readyz()) === 200), { timeoutMs: 120_000, intervalMs: 500, message: 'the job to be ready', details: diagnostics });
      await waitFor(async () => (alive(), (await sinkOut()) > 0), { timeoutMs: 60_000, intervalMs: 1_000, message: 'the first CDRs in ClickHouse' });

      // 1. The review's attacks through the real ops port: the engine refuses them (403), the port refuses requests a
      //    web page could make (415/403/421 are covered by core/ops-server.test.ts; content type and Origin here too).
      const attacks: [string, string, number][] = [
        ['settings read shows read-only', "SELECT getSetting('readonly')", 200],
        ['settings change', 'SELECT 1 SETTINGS readonly = 0', 403],
        ['lift the time limit', 'SELECT 1 SETTINGS max_execution_time = 0', 403],
        ['file read', "SELECT * FROM file('/etc/passwd', 'LineAsString')", 403],
        ['project file read', `SELECT * FROM file('${join(process.cwd(), 'app/demo.ts')}', 'LineAsString')`, 403],
        ['file write', `SELECT 1 INTO OUTFILE '${join(dir, 'written.txt')}'`, 403],
        ['network url()', `SELECT * FROM url('${ops}/healthz', 'LineAsString')`, 403],
        ['network s3()', `SELECT * FROM s3('http://127.0.0.1:${opsPort}/bucket/key', 'LineAsString')`, 403],
        ['network remote()', `SELECT * FROM remote('127.0.0.1:${opsPort}', system.one)`, 403],
        ['write', `INSERT INTO ${namespace}.cdr (cdr_id) VALUES ('x')`, 403],
        ['drop', 'DROP TABLE cdr', 403],
        ['kill the sink', 'KILL QUERY WHERE 1', 403],
        ['multi-statement', 'SELECT 1; DROP TABLE cdr', 400],
        ['harmless semicolon', "SELECT ';'", 200],
        ['harmless comment first', '-- how many?\nSELECT count() > 0 FROM cdr FINAL', 200],
      ];
      const answers: string[] = [];
      for (const [name, body, status] of attacks) {
        const res = await sql(body);
        const text = (await res.text()).trim();
        answers.push(`${name}: ${res.status} ${text.slice(0, 100)}`);
        expect(res.status, `${name}: ${text}`).toBe(status);
      }
      log(`/sql answers:\n  ${answers.join('\n  ')}`);
      expect((await sql("SELECT getSetting('readonly')").then((r) => r.text())).trim()).toBe('1');
      expect((await sql('SELECT 1', { 'content-type': 'text/plain' })).status).toBe(415);
      expect((await sql('SELECT 1', { 'content-type': SQL_CONTENT_TYPE, origin: 'http://evil.example' })).status).toBe(403);

      // 2. An endless query is cut by the engine's limit (4 s here) while the sink keeps committing.
      const before = await sinkOut();
      const endless = await sql('SELECT count() FROM numbers(1e13)');
      expect(endless.status).toBe(422);
      expect(await endless.text()).toMatch(/TIMEOUT_EXCEEDED|Timeout exceeded/);
      await waitFor(async () => (await sinkOut()) > before, { timeoutMs: 30_000, intervalMs: 500, message: 'the sink to commit during/after the endless query' });

      // 3. Two broker outages during traffic.
      const unavailable = () => metric(/^cdrflow_receiver_requests_total\{.*outcome="unavailable"/);
      for (const round of [1, 2]) {
        const pid = readPid(paths.kafkaPid);
        expect(pid, 'the stack runs a broker').toBeDefined();
        const refusedBefore = await unavailable();
        process.kill(pid!, 'SIGKILL');
        log(`round ${round}: broker PID ${pid} killed`);
        await waitFor(async () => (alive(), (await readyz()) === 503), { timeoutMs: 90_000, intervalMs: 500, message: `round ${round}: /readyz 503` });
        // The receiver keeps answering, in the vendors' retryable shape.
        await waitFor(async () => (alive(), (await unavailable()) > refusedBefore), { timeoutMs: 60_000, intervalMs: 1_000, message: `round ${round}: pushes answered 503` });
        const waiting = await (await fetch(`${ops}/readyz`)).json() as { components: Record<string, string> };
        log(`round ${round}: while down: ${JSON.stringify(waiting.components)}`);
        await startBroker();
        await waitFor(async () => (alive(), (await readyz()) === 200), { timeoutMs: 120_000, intervalMs: 500, message: `round ${round}: /readyz 200 again`, details: diagnostics });
        const out = await sinkOut();
        await waitFor(async () => (alive(), (await sinkOut()) > out), { timeoutMs: 60_000, intervalMs: 1_000, message: `round ${round}: the sink to commit again` });
        log(`round ${round}: recovered; pushes answered 503 so far: ${await unavailable()}`);
      }
      expect(job.output().stderr).toMatch(/waiting: /);
      const status = await (await fetch(`${ops}/status`)).json() as { demoTraffic?: { huawei: { retries: number }; lvms: { retries: number } } };
      log(`vendor side: 503 answers ${await unavailable()}, huawei re-pushes ${status.demoTraffic?.huawei.retries}, lvms retries ${status.demoTraffic?.lvms.retries}`);
      expect((status.demoTraffic?.huawei.retries ?? 0) + (status.demoTraffic?.lvms.retries ?? 0)).toBeGreaterThan(0);

      // 4. Shutdown while an endless query runs: it ends (the query is killed with its client), within the deadline.
      const hanging = sql('SELECT count() FROM numbers(1e13)').catch(() => undefined);
      const sqlRunning = async () => Number(/^cdrflow_sql_queries_running (\d+)$/m.exec(await (await fetch(`${ops}/metrics`)).text())?.[1]);
      await waitFor(async () => (alive(), (await sqlRunning()) === 1), { timeoutMs: 30_000, intervalMs: 100, message: 'the endless query running in the engine' });
      job.child.kill('SIGINT');
      const code = await Promise.race([job.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 150_000))]);
      await hanging;
      expect(code, diagnostics()).toBe(0);
      expect(job.output().stderr).not.toContain('stopping local infra');
    } finally {
      if (exitCode === undefined) job.child.kill('SIGKILL');
    }

    // 5. The accounting, with the job gone (the embedded engine is free again).
    let rawKeys = 0;
    for (const vendor of raw) rawKeys += (await readTopic(kafka, `${namespace}.cdr.raw.${vendor}`, 1)).keys.size;
    const dlq = await readTopic(kafka, `${namespace}.cdr.dlq`, 0);
    const q = async (query: string) => {
      const r = await cdrflow(['sql', query, '--format', 'TSV', '--config', config], env);
      expect(r.code, r.stderr).toBe(0);
      return Number(r.stdout.trim());
    };
    const cdrs = await q('SELECT count() FROM cdr FINAL');
    const daily = await q('SELECT sum(calls) FROM cdr_daily');
    log(`accounting: ${rawKeys} distinct raw keys = ${cdrs} CDRs + ${dlq.keys.size} dead-lettered keys; view ${daily}`);
    expect(cdrs + dlq.keys.size).toBe(rawKeys);
    expect(daily).toBe(cdrs);
  }, 600_000);
});
