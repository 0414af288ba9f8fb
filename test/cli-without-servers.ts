// `cdrflow` run as a child process with Kafka and the registry on a closed loopback port and CCC credentials set: a
// flag or setting the command refuses shows as exit 64 or 78 before anything is asked, while one it accepts fails
// differently (69: Kafka not reachable). Shared by the CLI tests that check such refusals.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export const CLOSED_PORT_ENV: NodeJS.ProcessEnv = {
  PATH: process.env['PATH'] ?? '',
  HOME: process.env['HOME'] ?? '',
  KAFKA_BROKERS: '127.0.0.1:1',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1',
  TENCENT_CCC_SECRET_ID: 'AKIDtest',
  TENCENT_CCC_SECRET_KEY: 'key',
  TENCENT_CCC_SDKAPPIDS: '1400000001',
  NO_COLOR: '1',
};

/** Runs `cdrflow <args>` against no servers; resolves with its exit status and output. */
export function cdrflowWithoutServers(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [join(ROOT, 'bin/cdrflow.mjs'), ...args], { encoding: 'utf8', cwd: ROOT, env: CLOSED_PORT_ENV, timeout: 60_000 });
}
