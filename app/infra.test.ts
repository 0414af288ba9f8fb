// `cdrflow start` stops on exit the servers it started, by the PIDs it read at start. A server that died during the
// job may have had its PID reused meanwhile: stand-in processes carry the arguments the real servers are started with;
// `up` is replaced (no server is started) and says it started both.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { kafkaArgs, registryArgs, standIns } from '../infra/local/fixtures/stand-in-servers.ts';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { stackPaths } from '../infra/local/paths.ts';
import { pollUntil } from '../infra/local/processes.ts';
import { processAlive } from '../core/process-identity.ts';
import { loadAppConfig } from './config.ts';
import { ensureLocalInfra, signalStartedServers } from './infra.ts';

vi.mock('../infra/local/stack.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../infra/local/stack.ts')>()),
  up: async () => ({ endpoints: {}, startedKafka: true, startedRegistry: true, downloaded: false }),
  leaseStack: async () => () => {},
  otherLeaseHolders: () => [],
}));

// Stacks of their own (state under .data/infra-<base>/): never the one a person or the integration tests use.
const MINE = 47_400;
const OTHER = 47_500;

const servers = standIns();
const cleanups: (() => void)[] = [];
afterEach(() => {
  servers.killAll();
  for (const c of cleanups.splice(0)) c();
});


/** The job's start on its own stack: its Kafka still running, its registry's PID now another stack's registry's. */
async function startedWithReusedPid() {
  const paths = stackPaths(MINE);
  cleanups.push(() => rmSync(paths.root, { recursive: true, force: true }));
  mkdirSync(paths.root, { recursive: true });
  const kafka = await servers.start(kafkaArgs(MINE));
  const stranger = await servers.start(registryArgs(OTHER));
  writeFileSync(paths.kafkaPid, `${kafka}\n`);
  writeFileSync(paths.registryPid, `${stranger}\n`);
  const local = await ensureLocalInfra(loadAppConfig({ env: { CDRFLOW_PORT_BASE: String(MINE) } }), () => {});
  return { local, kafka, stranger };
}

describe('the local servers cdrflow start started', () => {
  it('are stopped on exit only while their PIDs are still this stack\'s servers', async () => {
    const { local, kafka, stranger } = await startedWithReusedPid();
    expect(local.started).toEqual([
      { name: 'kafka', pid: kafka },
      { name: 'registry', pid: stranger },
    ]);
    const lines: string[] = [];
    await local.stop((msg) => lines.push(msg));
    expect(lines).toEqual([
      `the local registry this process started is gone (PID ${stranger} is no longer it): nothing stopped`,
      `stopped the local kafka this process started (PID ${kafka}: terminated)`,
    ]);
    expect([processAlive(kafka), processAlive(stranger)]).toEqual([false, true]);
  });

  it('are signalled on a forced exit only while their PIDs are still this stack\'s servers', async () => {
    const { kafka, stranger } = await startedWithReusedPid();
    expect(signalStartedServers()).toEqual([kafka]);
    await pollUntil(() => !processAlive(kafka), { timeoutMs: 10_000, intervalMs: 20, message: 'the stand-in Kafka to exit' });
    expect(processAlive(stranger)).toBe(true);
  });
});
