// vitest globalSetup for the `integration` project: picks the servers the tests run against and makes them known to
// test files (inject('infra')) and to every process (env vars set here are inherited by the workers vitest forks
// afterwards, and by anything those workers spawn).
//   TEST_INFRA=external|containers|local forces a mode; otherwise
//   external    when KAFKA_BROKERS, SCHEMA_REGISTRY_URL and CLICKHOUSE_URL are all set,
//   containers  when a container runtime really answers (testcontainers' own runtime detection),
//   local       the project's own Kafka + Apicurio JVMs on port base CDRFLOW_TEST_PORT_BASE (default 29000),
//               ClickHouse embedded (chdb) in each test process.
// Teardown stops only what this run started (and, for the shared local stack, only when no other run uses it).
import type { TestProject } from 'vitest/node';
import { chooseTestInfraMode, infraEnv } from '../infra/test-infra.ts';
import type { TestInfra } from '../infra/test-infra.ts';
import { testPortBase } from './port-base.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    infra: TestInfra;
  }
}


function log(msg: string): void {
  console.log(`[test infra] ${msg}`);
}

async function containerRuntimeAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    // testcontainers pings the engine while resolving a client (a `docker` binary or a dead socket fails here).
    const client = await getContainerRuntimeClient();
    return client.info.containerRuntime.serverVersion !== undefined;
  } catch {
    return false;
  }
}

function external(): TestInfra {
  const missing = ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'CLICKHOUSE_URL'].filter((k) => !process.env[k]);
  if (missing.length > 0) throw new Error(`TEST_INFRA=external needs ${missing.join(', ')}`);
  const registry = process.env['SCHEMA_REGISTRY_URL'] ?? '';
  return {
    mode: 'external',
    kafkaBrokers: (process.env['KAFKA_BROKERS'] ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    schemaRegistryUrl: registry,
    registryHealthUrl: process.env['CDRFLOW_REGISTRY_HEALTH_URL'] || `${registry.replace(/\/$/, '')}/subjects`,
    clickhouseUrl: process.env['CLICKHOUSE_URL'] ?? null,
    portBase: null,
    kafkaPid: null,
    registryPid: null,
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const mode = await chooseTestInfraMode(process.env, containerRuntimeAnswers);
  let infra: TestInfra;
  let teardown: () => Promise<void> = async () => {};
  const t0 = Date.now();
  if (mode === 'external') {
    infra = external();
  } else if (mode === 'containers') {
    const { startContainers } = await import('../infra/containers.ts');
    const started = await startContainers(log);
    infra = started.infra;
    teardown = started.stop;
  } else {
    const { acquireForTests } = await import('../infra/local/stack.ts');
    const { readPid } = await import('../infra/local/processes.ts');
    const { stackPaths } = await import('../infra/local/paths.ts');
    const base = testPortBase();
    const { ephemeralPortLow } = await import('../infra/local/processes.ts');
    const { STACK_PORT_BLOCK } = await import('../core/local-endpoints.ts');
    const ephemeralLow = ephemeralPortLow();
    if (base + STACK_PORT_BLOCK > ephemeralLow)
      log(
        `warning: port base ${base} reaches the ephemeral port range (from ${ephemeralLow}): the tests that ` +
          'restart a broker may find its port taken by an outgoing connection; pick a base below it',
      );
    const lease = await acquireForTests(base, log);
    const paths = stackPaths(base);
    infra = {
      mode: 'local',
      kafkaBrokers: lease.endpoints.kafkaBrokers,
      schemaRegistryUrl: lease.endpoints.schemaRegistryUrl,
      registryHealthUrl: lease.endpoints.registryHealthUrl,
      clickhouseUrl: null,
      portBase: base,
      kafkaPid: readPid(paths.kafkaPid) ?? null,
      registryPid: readPid(paths.registryPid) ?? null,
    };
    teardown = lease.release;
  }
  for (const [k, v] of Object.entries(infraEnv(infra))) process.env[k] = v;
  if (infra.clickhouseUrl === null) {
    // Embedded ClickHouse allows one data directory per process; each test process gets its own under this root.
    delete process.env['CLICKHOUSE_URL'];
  }
  project.provide('infra', infra);
  log(
    `${mode}: Kafka ${infra.kafkaBrokers.join(',')}, registry ${infra.schemaRegistryUrl}, ClickHouse ${infra.clickhouseUrl ?? 'embedded (chdb)'} (ready in ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return teardown;
}
