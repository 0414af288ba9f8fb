// The local stack for one port base: Kafka + Apicurio Registry as JVM processes tracked by PID files under
// .data/infra-<base>/. `up` is idempotent (running servers are reused), `down` stops only PIDs from those files.
// Test runs take a lease instead of owning the stack outright, so concurrent test runs on one machine share one
// stack and the last one out stops it — but never a stack a person started with `cdrflow infra up`.
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localPorts, type LocalPorts } from '../../core/local-endpoints.ts';
import { ensureApicurio, ensureKafkaJars } from './downloads.ts';
import { awaitKafkaReady, kafkaMetadata, kafkaRunning, startKafka } from './kafka.ts';
import { assertCacheDirUsable, stackPaths } from './paths.ts';
import type { StackPaths } from './paths.ts';
import { holderStamp, liveLeases, portOpen, processRssKib, readPid, stopPid, withFileLock } from './processes.ts';
import {
  awaitRegistryReady,
  ccompatCompatibility,
  ensureGlobalCompatibility,
  registryHealthy,
  registryRunning,
  startRegistry,
} from './registry.ts';

export type Log = (msg: string) => void;

export function stackPorts(base: number): LocalPorts {
  return localPorts(base);
}
export type StackPorts = LocalPorts;

export interface StackEndpoints {
  portBase: number;
  kafkaBrokers: string[];
  schemaRegistryUrl: string;
  /** Apicurio readiness endpoint (not part of the Confluent API). */
  registryHealthUrl: string;
}

export function stackEndpoints(base: number): StackEndpoints {
  const ports = stackPorts(base);
  return {
    portBase: base,
    kafkaBrokers: [`127.0.0.1:${ports.kafkaPort}`],
    schemaRegistryUrl: `http://127.0.0.1:${ports.registryPort}/apis/ccompat/v7`,
    registryHealthUrl: `http://127.0.0.1:${ports.registryManagementPort}/health/ready`,
  };
}

export interface UpResult {
  endpoints: StackEndpoints;
  startedKafka: boolean;
  startedRegistry: boolean;
  downloaded: boolean;
}

async function upUnlocked(base: number, log: Log): Promise<UpResult> {
  assertCacheDirUsable();
  const paths = stackPaths(base);
  const ports = stackPorts(base);
  mkdirSync(paths.root, { recursive: true });
  const downloadedKafka = await ensureKafkaJars(log);
  const downloadedRegistry = await ensureApicurio(log);
  const kafka = await startKafka(paths, ports, log);
  let registry: { pid: number; started: boolean } | undefined;
  try {
    registry = await startRegistry(paths, ports, log);
    // Both JVMs boot in parallel; each readiness check fails fast if its process dies.
    const t0 = Date.now();
    const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    const started = registry.started;
    await Promise.all([
      awaitKafkaReady(paths, kafka.pid, ports.kafkaPort).then(() => kafka.started && log(`Kafka ready after ${since()}`)),
      awaitRegistryReady(paths, registry.pid, ports).then(() => started && log(`registry ready after ${since()}`)),
    ]);
    await ensureGlobalCompatibility(ports.registryPort, 'BACKWARD');
  } catch (err) {
    // Leave nothing half-started behind: stop exactly what this call started.
    if (registry?.started) await stopServer(paths.registryPid, registry.pid);
    if (kafka.started) await stopServer(paths.kafkaPid, kafka.pid);
    throw err;
  }
  return {
    endpoints: stackEndpoints(base),
    startedKafka: kafka.started,
    startedRegistry: registry.started,
    downloaded: downloadedKafka || downloadedRegistry,
  };
}

async function stopServer(pidFile: string, pid: number): Promise<string> {
  const outcome = await stopPid(pid);
  rmSync(pidFile, { force: true });
  return outcome;
}

/** `cdrflow infra up`: the person now owns the stack, so test runs will no longer stop it. */
export async function up(base: number, log: Log): Promise<UpResult> {
  const paths = stackPaths(base);
  return withFileLock(paths.lock, async () => {
    const result = await upUnlocked(base, log);
    rmSync(paths.harnessOwned, { force: true });
    return result;
  });
}

export interface DownResult {
  stopped: { name: string; pid: number; outcome: string }[];
}

async function downUnlocked(paths: StackPaths): Promise<DownResult> {
  const stopped: DownResult['stopped'] = [];
  // Stop the registry first: it does not depend on Kafka, and Kafka's controlled shutdown is the slower one.
  const servers = [
    { name: 'registry', pidFile: paths.registryPid, pid: registryRunning(paths) },
    { name: 'kafka', pidFile: paths.kafkaPid, pid: kafkaRunning(paths) },
  ];
  for (const s of servers) {
    if (s.pid !== undefined) stopped.push({ name: s.name, pid: s.pid, outcome: await stopServer(s.pidFile, s.pid) });
    else if (statSync(s.pidFile, { throwIfNoEntry: false })?.isDirectory()) {
      // No server of ours is named by it, and failing here left the next server running: say so and go on.
      stopped.push({ name: s.name, pid: 0, outcome: `${s.pidFile} is a folder, not a PID file: left alone` });
    } else if (existsSync(s.pidFile)) {
      // A PID file whose process is gone (or was reused by another program) is stale: remove it, signal nothing.
      stopped.push({ name: s.name, pid: readPid(s.pidFile) ?? 0, outcome: 'stale pid file removed' });
      rmSync(s.pidFile, { force: true });
    }
  }
  rmSync(paths.harnessOwned, { force: true });
  return { stopped };
}

export async function down(base: number, opts: { force?: boolean } = {}): Promise<DownResult> {
  const paths = stackPaths(base);
  return withFileLock(paths.lock, async () => {
    const leases = liveLeases(paths.leasesDir);
    if (leases.length > 0 && !opts.force) {
      throw new Error(`process(es) ${leases.join(', ')} are using this stack (a test run, or a running \`cdrflow start\`); stop them first, or pass --force`);
    }
    return downUnlocked(paths);
  });
}

export interface ServerStatus {
  name: 'kafka' | 'registry';
  pid: number | undefined;
  port: number;
  healthy: boolean;
  rssMiB: number | undefined;
  detail: string;
}

export async function status(base: number): Promise<ServerStatus[]> {
  const paths = stackPaths(base);
  const ports = stackPorts(base);
  const rss = (pid: number | undefined) => {
    const kib = pid === undefined ? undefined : processRssKib(pid);
    return kib === undefined ? undefined : Math.round(kib / 1024);
  };
  const kafkaPid = kafkaRunning(paths);
  let kafkaHealthy = false;
  let kafkaDetail = kafkaPid === undefined ? 'not running' : '';
  if (kafkaPid !== undefined) {
    try {
      const meta = await kafkaMetadata(ports.kafkaPort);
      kafkaHealthy = meta.brokers >= 1;
      kafkaDetail = `cluster ${meta.clusterId}, ${meta.brokers} broker(s), controller ${meta.controller}`;
    } catch (err) {
      kafkaDetail = `metadata request failed: ${(err as Error).message}`;
    }
  } else if (await portOpen(ports.kafkaPort))
    kafkaDetail = `port ${ports.kafkaPort} is taken by a process this stack did not start`;

  const registryPid = registryRunning(paths);
  let registryOk = false;
  let registryDetail = registryPid === undefined ? 'not running' : '';
  if (registryPid !== undefined) {
    try {
      registryOk = await registryHealthy(ports);
      const compat = registryOk ? await ccompatCompatibility(ports.registryPort) : undefined;
      registryDetail = registryOk
        ? `ccompat at /apis/ccompat/v7, global compatibility ${compat}`
        : 'health check not UP';
    } catch (err) {
      registryDetail = `health check failed: ${(err as Error).message}`;
    }
  } else if (await portOpen(ports.registryPort))
    registryDetail = `port ${ports.registryPort} is taken by a process this stack did not start`;

  return [
    {
      name: 'kafka',
      pid: kafkaPid,
      port: ports.kafkaPort,
      healthy: kafkaHealthy,
      rssMiB: rss(kafkaPid),
      detail: kafkaDetail,
    },
    {
      name: 'registry',
      pid: registryPid,
      port: ports.registryPort,
      healthy: registryOk,
      rssMiB: rss(registryPid),
      detail: registryDetail,
    },
  ];
}

/**
 * For `cdrflow start` on the local stack: registers this process as a user of it, so `cdrflow infra down` refuses to
 * stop the servers under a running job (it did, without a word: the job then rode out an outage nobody meant).
 * Released when the process exits (or by the returned function before that); a lease of a process killed without an
 * exit is dropped by the next liveLeases.
 */
export async function leaseStack(base: number): Promise<() => void> {
  const paths = stackPaths(base);
  const leaseFile = join(paths.leasesDir, String(process.pid));
  await withFileLock(paths.lock, async () => {
    mkdirSync(paths.leasesDir, { recursive: true });
    writeFileSync(leaseFile, `${holderStamp()} ${new Date().toISOString()} cdrflow start\n`);
  });
  // A lease file is named by the process: several jobs of one process (tests) share it until the last one releases.
  heldLeases.set(leaseFile, (heldLeases.get(leaseFile) ?? 0) + 1);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const file of heldLeases.keys()) rmSync(file, { force: true });
    });
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (heldLeases.get(leaseFile) ?? 1) - 1;
    if (left > 0) return void heldLeases.set(leaseFile, left);
    heldLeases.delete(leaseFile);
    rmSync(leaseFile, { force: true });
  };
}

/** This process's lease files and how many of its jobs hold each. */
const heldLeases = new Map<string, number>();
let exitHookInstalled = false;

/** Processes other than this one that hold a lease on the stack at `base` (test runs, other jobs). */
export function otherLeaseHolders(base: number): number[] {
  return liveLeases(stackPaths(base).leasesDir).filter((pid) => pid !== process.pid);
}

export interface TestLease {
  endpoints: StackEndpoints;
  /** True when this run started at least one server (so the stack is marked harness-owned). */
  started: boolean;
  release(): Promise<void>;
}

/**
 * For the test harness: starts the stack if needed and registers this process as a user of it. `release` drops the
 * lease and stops the stack only if a test run started it and no other test run still holds a lease.
 */
export async function acquireForTests(base: number, log: Log): Promise<TestLease> {
  const paths = stackPaths(base);
  const leaseFile = join(paths.leasesDir, String(process.pid));
  const result = await withFileLock(paths.lock, async () => {
    const r = await upUnlocked(base, log);
    if (r.startedKafka || r.startedRegistry) writeFileSync(paths.harnessOwned, `${process.pid}\n`);
    mkdirSync(paths.leasesDir, { recursive: true });
    writeFileSync(leaseFile, `${holderStamp()} ${new Date().toISOString()}\n`);
    return r;
  });
  return {
    endpoints: result.endpoints,
    started: result.startedKafka || result.startedRegistry,
    release: () =>
      withFileLock(paths.lock, async () => {
        rmSync(leaseFile, { force: true });
        if (!existsSync(paths.harnessOwned)) return;
        const others = liveLeases(paths.leasesDir);
        if (others.length > 0) {
          log(`leaving the test stack running for test run(s) ${others.join(', ')}`);
          return;
        }
        const res = await downUnlocked(paths);
        for (const s of res.stopped) log(`stopped ${s.name} PID ${s.pid}: ${s.outcome}`);
        // A test stack holds only uniquely named leftovers of finished runs: drop them so it does not grow forever
        // (the next run formats fresh storage in about a second). Logs stay for post-mortems.
        rmSync(paths.kafkaData, { recursive: true, force: true });
        rmSync(join(paths.registryDir, 'h2'), { recursive: true, force: true });
      }),
  };
}
