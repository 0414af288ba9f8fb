// The local Kafka + schema registry for `cdrflow start` when nothing external is configured: reused when running,
// started through infra/local otherwise, and on exit only the servers this process started are stopped. While the job
// runs, it holds a lease on the stack: `cdrflow infra down` refuses to stop the servers under it.
import { rmSync } from 'node:fs';
import { leaseStack, otherLeaseHolders, up } from '../infra/local/stack.ts';
import { stackPaths } from '../infra/local/paths.ts';
import { portOpen, readPid, stopPid } from '../infra/local/processes.ts';
import { kafkaRunning } from '../infra/local/kafka.ts';
import { registryRunning } from '../infra/local/registry.ts';
import { CdrflowError } from '../core/errors.ts';
import type { AppConfig } from './config.ts';
import { endpoints } from './config.ts';

export interface LocalInfra {
  /** Servers started by this process (stopped by `stop`), with their PIDs. */
  started: { name: 'kafka' | 'registry'; pid: number }[];
  stop(log: (msg: string) => void): Promise<void>;
}

/**
 * PIDs of servers this process started and has not stopped yet (what even a forced exit must still stop), each with
 * the check that it still is that server: one that died during the job may have had its PID reused by anything.
 */
const unstoppedPids = new Map<number, () => boolean>();

/**
 * For a forced exit (no time for a clean stop): sends SIGTERM to the servers this process started, without waiting,
 * so they shut down on their own instead of outliving the job. Returns the PIDs signalled.
 */
export function signalStartedServers(): number[] {
  const pids = [...unstoppedPids].filter(([, stillOurs]) => stillOurs()).map(([pid]) => pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  unstoppedPids.clear();
  return pids;
}

export async function ensureLocalInfra(config: AppConfig, log: (msg: string) => void): Promise<LocalInfra> {
  const local = endpoints(config).local;
  const none: LocalInfra = { started: [], stop: async () => {} };
  if (!local.kafka && !local.registry) return none;
  const base = config.localInfra.portBase;
  if (!config.localInfra.autoStart) {
    const kafkaUp = !local.kafka || (await portOpen(local.kafkaPort));
    const registryUp = !local.registry || (await portOpen(local.registryPort));
    if (kafkaUp && registryUp) {
      const release = await leaseStack(base);
      return { started: [], stop: async () => release() };
    }
    throw new CdrflowError(
      'config',
      `the local ${!kafkaUp ? `Kafka (127.0.0.1:${local.kafkaPort})` : `schema registry (127.0.0.1:${local.registryPort})`} is not running and localInfra.autoStart is false: run \`npx cdrflow infra up\` or set KAFKA_BROKERS / SCHEMA_REGISTRY_URL`,
    );
  }
  const result = await up(base, (msg) => log(`infra: ${msg}`));
  const release = await leaseStack(base);
  const paths = stackPaths(base);
  const started: LocalInfra['started'] = [];
  if (result.startedKafka) started.push({ name: 'kafka', pid: readPid(paths.kafkaPid) ?? -1 });
  if (result.startedRegistry) started.push({ name: 'registry', pid: readPid(paths.registryPid) ?? -1 });
  const running = (name: 'kafka' | 'registry') => (name === 'kafka' ? kafkaRunning(paths) : registryRunning(paths));
  for (const s of started) if (s.pid > 0) unstoppedPids.set(s.pid, () => running(s.name) === s.pid);
  return {
    started,
    async stop(stopLog) {
      release();
      // Another job or a test run took the stack up meanwhile: it keeps its servers (it holds a lease), and whoever
      // is last can stop them with `cdrflow infra down`.
      const others = otherLeaseHolders(base);
      if (others.length > 0 && started.length > 0) {
        for (const s of started) unstoppedPids.delete(s.pid);
        stopLog(`left the local ${started.map((s) => s.name).join(' and ')} this process started running: process(es) ${others.join(', ')} use them (\`cdrflow infra down --port-base ${base}\` stops them)`);
        return;
      }
      // The registry first: it does not need Kafka, and Kafka's controlled shutdown is the slower one.
      for (const s of [...started].reverse()) {
        if (s.pid <= 0) continue;
        unstoppedPids.delete(s.pid);
        const pidFile = s.name === 'kafka' ? paths.kafkaPid : paths.registryPid;
        if (running(s.name) !== s.pid) {
          // It died during the job: its PID may now be another program's (even another stack's server), and a PID
          // file naming another PID is a server someone started since, not ours to forget.
          if (readPid(pidFile) === s.pid) rmSync(pidFile, { force: true });
          stopLog(`the local ${s.name} this process started is gone (PID ${s.pid} is no longer it): nothing stopped`);
          continue;
        }
        const outcome = await stopPid(s.pid);
        rmSync(pidFile, { force: true });
        stopLog(`stopped the local ${s.name} this process started (PID ${s.pid}: ${outcome})`);
      }
    },
  };
}
