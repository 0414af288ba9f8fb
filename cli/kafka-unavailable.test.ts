// The one-shot commands that use Kafka as a person meets them when Kafka is not running (child processes pointed at a closed
// loopback port): an answer within seconds, one line naming the address and what to do, exit 69 (EX_UNAVAILABLE;
// reconcile's documented 3, no verdict), no kafkajs JSON on the terminal; `status` still prints what ClickHouse holds
// and never calls unread checkpoints "none".
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PORT_OFFSETS } from '../core/local-endpoints.ts';
import { cdrflow as runCli, freePort } from '../test/main-job/cli.ts';

/** A command with a minute's bound: each answers within seconds (asserted on its own). */
const cdrflow = (args: string[], env: Record<string, string>) => runCli(args, env, 60_000);

const dataDir = mkdtempSync(join(tmpdir(), 'cdrflow-kafka-down-'));

/** The environment without any Kafka, registry or stack the caller's shell may point at. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(KAFKA_|SCHEMA_REGISTRY_|CDRFLOW_PORT_BASE$|CDRFLOW_NAMESPACE$|CLICKHOUSE_|CDRFLOW_CONFIG$|LOG_LEVEL$|LOG_FORMAT$)/.test(k)) env[k] = v;
  }
  // No running job may answer on the ops port (port 1 refuses): the commands read Kafka and ClickHouse themselves.
  return { ...env, CLICKHOUSE_DATA_DIR: dataDir, CDRFLOW_OPS_PORT: '1', NO_COLOR: '1' };
}

const LOCAL_HINT = 'start the job with `npx cdrflow start`, or only the local servers with `npx cdrflow infra up`';
let kafkaPort: number;
/** The local stack's port base whose Kafka port is that closed port. */
let localEnv: Record<string, string>;

beforeAll(async () => {
  kafkaPort = await freePort();
  localEnv = { ...baseEnv(), CDRFLOW_PORT_BASE: String(kafkaPort - PORT_OFFSETS.kafka) };
  // The tables, so that status has ClickHouse figures to print (0 CDRs) while Kafka is away.
  const migrated = await cdrflow(['migrate'], localEnv);
  expect(migrated.code, migrated.stderr).toBe(0);
}, 120_000);

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** stderr is exactly the command's one line: no kafkajs JSON, no stack. */
function expectOneLine(stderr: string, command: string, hint = LOCAL_HINT) {
  expect(stderr).toBe(`cdrflow ${command}: Kafka at 127.0.0.1:${kafkaPort} is not reachable (ECONNREFUSED): ${hint}\n`);
}

describe('one-shot commands with Kafka down', { timeout: 90_000 }, () => {
  it('status prints ClickHouse\'s figures, Kafka\'s as unknown, then one line; exit 69 within seconds', async () => {
    const r = await cdrflow(['status'], localEnv);
    expect(r.code, r.stderr).toBe(69);
    expectOneLine(r.stderr, 'status');
    expect(r.stdout).toContain('ClickHouse: 0 CDRs, 0 billable minutes');
    expect(r.stdout).toMatch(/^normalize +– +– +– +–$/m);
    expect(r.stdout).toContain(`checkpoints: could not be read: Kafka at 127.0.0.1:${kafkaPort} is not reachable (ECONNREFUSED)`);
    expect(r.stdout).not.toContain('checkpoints: none');
    // It took 14-16 s (every read's own retries); the check gives up after about a second (plus starting Node).
    expect(r.ms).toBeLessThan(8_000);

    const json = await cdrflow(['status', '--json'], localEnv);
    expect(json.code).toBe(69);
    expectOneLine(json.stderr, 'status');
    const snapshot = JSON.parse(json.stdout) as { checkpoints: unknown[]; checkpointsError?: string; normalize: { lag: number | null } };
    expect(snapshot).toMatchObject({ checkpoints: [], checkpointsError: `Kafka at 127.0.0.1:${kafkaPort} is not reachable (ECONNREFUSED)`, normalize: { lag: null } });
  });

  it('tail, dlq and replay end with the same line and exit code, before any kafkajs retry chatter', async () => {
    for (const [command, ...args] of [['tail', 'cdr.normalized', '--last', '1'], ['dlq'], ['replay'], ['replay', '--dry-run']] as const) {
      const r = await cdrflow([command, ...args], localEnv);
      expect(r.code, `${command}: ${r.stderr}`).toBe(69);
      expectOneLine(r.stderr, command);
      expect(r.stdout).toBe('');
      expect(r.ms).toBeLessThan(8_000);
    }
  });

  it('reconcile (no job running) says the same in its own no-verdict line, exit 3 as its help documents, within seconds', async () => {
    const r = await cdrflow(['reconcile', '--from', 'yesterday', '--to', 'yesterday'], localEnv);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toBe(`cdrflow reconcile: no verdict (exit 3), the run could not be made: Kafka at 127.0.0.1:${kafkaPort} is not reachable (ECONNREFUSED): ${LOCAL_HINT}\n`);
    expect(r.stdout).toBe('');
    // It took ~55 s: the client's own retries, with 72 warnings and their stacks on stderr.
    expect(r.ms).toBeLessThan(8_000);
  });

  it('names the configured cluster, not the local stack, when KAFKA_BROKERS points elsewhere', async () => {
    const r = await cdrflow(['dlq'], { ...baseEnv(), KAFKA_BROKERS: `127.0.0.1:${kafkaPort}` });
    expect(r.code).toBe(69);
    expectOneLine(r.stderr, 'dlq', 'check that the cluster named by KAFKA_BROKERS (kafka.brokers in the config) is running and reachable from here');
  });

  it('backfill, poll --once, import and recording end the same way (they waited out the client\'s retries: 8-14 s, JSON on stderr, exit 1)', async () => {
    const lines = join(dataDir, 'one.jsonl');
    writeFileSync(lines, '{"appKey":"app-1","sessionId":"s-1","callDuration":10}\n');
    // Credentials for a vendor endpoint that is never reached: Kafka is checked first.
    const ccc = { TENCENT_CCC_SECRET_ID: 'id', TENCENT_CCC_SECRET_KEY: 'key', TENCENT_CCC_SDKAPPIDS: '1400000001', TENCENT_CCC_ENDPOINT: '127.0.0.1:1' };
    const range = ['--tenant', '1400000001', '--from', '2026-12-01T00:00:00Z', '--to', '2026-12-01T01:00:00Z'];
    const runs = [
      { command: 'backfill', args: ['tencent-ccc', ...range], env: ccc },
      { command: 'poll', args: ['tencent-ccc', '--once'], env: ccc },
      { command: 'import', args: ['huawei-privatenumber', '--file', lines], env: {} },
      { command: 'recording', args: ['huawei-privatenumber:app-1:s-1'], env: { CDRFLOW_HUAWEI_APPS: '[{"appKey":"app-1","appSecret":"secret"}]' } },
    ];
    for (const { command, args, env } of runs) {
      const r = await cdrflow([command, ...args], { ...localEnv, ...env });
      expect(r.code, `${command}: ${r.stderr}`).toBe(69);
      expectOneLine(r.stderr, command);
      expect(r.stdout).toBe('');
      expect(r.ms).toBeLessThan(8_000);
    }
  });
});
