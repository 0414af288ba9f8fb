// Apicurio Registry 3.x (Quarkus app from Maven Central) on loopback, serving the Confluent-compatible API at
// /apis/ccompat/v7 with a global BACKWARD compatibility rule. Storage is Apicurio's default SQL storage on H2,
// kept in a file under the stack's data folder: Kafka keeps its topics across restarts, so the registry must keep
// the schema ids those messages reference (an in-memory registry would hand out the same ids to other schemas).
import type { LocalPorts } from '../../core/local-endpoints.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findJava } from './java.ts';
import { APICURIO_DIR } from './paths.ts';
import type { StackPaths } from './paths.ts';
import { StopPolling, assertPortsFree, logExcerpt, ownedPid, pollUntil, spawnDetached } from './processes.ts';
import { processAlive } from '../../core/process-identity.ts';
import { registryFetch } from '../../core/avro.ts';

// Apicurio 3.3 is compiled for Java 21 (class file 65.0); on Java 17 it dies with UnsupportedClassVersionError.
const MIN_JAVA = 21;

export type RegistryPorts = Pick<LocalPorts, 'registryPort' | 'registryManagementPort'>;

/** The argument naming the stack's H2 file: it tells this stack's registry from another stack's under a reused PID. */
function datasourceArg(paths: StackPaths): string {
  return `-Dapicurio.datasource.url=jdbc:h2:file:${join(paths.registryDir, 'h2', 'registry')};DB_CLOSE_ON_EXIT=FALSE`;
}

export function registryRunning(paths: StackPaths): number | undefined {
  return ownedPid(paths.registryPid, datasourceArg(paths));
}

export async function startRegistry(
  paths: StackPaths,
  ports: RegistryPorts,
  log: (msg: string) => void,
): Promise<{ pid: number; started: boolean }> {
  const existing = registryRunning(paths);
  if (existing !== undefined) return { pid: existing, started: false };
  await assertPortsFree([ports.registryPort, ports.registryManagementPort]);
  const java = await findJava(MIN_JAVA, 'CDRFLOW_REGISTRY_JAVA', 'Apicurio Registry 3.3');
  mkdirSync(paths.registryDir, { recursive: true });
  const pid = spawnDetached({
    command: java.path,
    args: [
      '-Xms64m',
      '-Xmx384m',
      // C1 only: starts in ~3.5 s instead of ~5.2 s and idles ~50 MB smaller (measured); the registry serves a
      // handful of lookups that clients cache, so C2's peak throughput buys nothing here.
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      '-Dquarkus.http.host=127.0.0.1',
      `-Dquarkus.http.port=${ports.registryPort}`,
      '-Dquarkus.management.host=127.0.0.1',
      `-Dquarkus.management.port=${ports.registryManagementPort}`,
      datasourceArg(paths),
      // Every request is otherwise logged twice (access log + audit log) at INFO.
      '-Dquarkus.http.access-log.enabled=false',
      '-Dquarkus.log.category."io.apicurio.registry.logging.audit".level=WARN',
      '-jar',
      join(APICURIO_DIR, 'quarkus-run.jar'),
    ],
    cwd: paths.registryDir,
    logFile: paths.registryLog,
    pidFile: paths.registryPid,
  });
  log(`started Apicurio Registry (Java ${java.version}) PID ${pid}, log ${paths.registryLog}`);
  return { pid, started: true };
}

/** Read as any registry answer, at most MAX_REGISTRY_ANSWER_BYTES far: the port may be held by another process. */
export async function registryHealthy(ports: RegistryPorts): Promise<boolean> {
  const res = await registryFetch(`http://127.0.0.1:${ports.registryManagementPort}/health/ready`, {
    signal: AbortSignal.timeout(3000),
  });
  if (!res.ok) return false;
  const body = JSON.parse(res.text) as { status?: string } | null;
  return body?.status === 'UP';
}

export async function awaitRegistryReady(
  paths: StackPaths,
  pid: number,
  ports: RegistryPorts,
  timeoutMs = 120_000,
): Promise<void> {
  await pollUntil(
    async () => {
      if (!processAlive(pid))
        throw new StopPolling(`Apicurio Registry (PID ${pid}) exited during startup:\n${logExcerpt(paths.registryLog)}`);
      return registryHealthy(ports);
    },
    {
      timeoutMs,
      intervalMs: 300,
      message: `Apicurio Registry health on 127.0.0.1:${ports.registryManagementPort} (log: ${paths.registryLog})`,
    },
  );
}

async function call(method: string, url: string, body?: unknown): Promise<Response> {
  const init: RequestInit = {
    method,
    signal: AbortSignal.timeout(10_000),
    headers: { 'content-type': 'application/json' },
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(url, init);
}

/**
 * Sets the global COMPATIBILITY rule through Apicurio's own v3 admin API, then checks that the Confluent-compatible
 * layer reports it (Apicurio's ccompat /config is backed by the same global rule; without a rule it says NONE).
 */
export async function ensureGlobalCompatibility(port: number, level = 'BACKWARD'): Promise<void> {
  const base = `http://127.0.0.1:${port}/apis/registry/v3/admin/rules`;
  const current = await call('GET', `${base}/COMPATIBILITY`);
  if (current.status === 404) {
    const res = await call('POST', base, { ruleType: 'COMPATIBILITY', config: level });
    if (!res.ok)
      throw new Error(`could not create the global COMPATIBILITY rule: HTTP ${res.status} ${await res.text()}`);
  } else if (current.ok) {
    const rule = (await current.json()) as { config?: string };
    if (rule.config !== level) {
      const res = await call('PUT', `${base}/COMPATIBILITY`, { ruleType: 'COMPATIBILITY', config: level });
      if (!res.ok)
        throw new Error(`could not update the global COMPATIBILITY rule: HTTP ${res.status} ${await res.text()}`);
    }
  } else {
    throw new Error(`could not read the global COMPATIBILITY rule: HTTP ${current.status} ${await current.text()}`);
  }
  const reported = await ccompatCompatibility(port);
  if (reported !== level)
    throw new Error(`Apicurio's ccompat API reports compatibilityLevel ${reported}, expected ${level}`);
}

export async function ccompatCompatibility(port: number): Promise<string | undefined> {
  const res = await call('GET', `http://127.0.0.1:${port}/apis/ccompat/v7/config`);
  if (!res.ok) throw new Error(`GET /apis/ccompat/v7/config: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { compatibilityLevel?: string }).compatibilityLevel;
}
