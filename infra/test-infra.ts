// What the integration tests run against, as chosen by test/global-setup.ts and handed to every test file through
// vitest's provide/inject and to every process (workers and anything they spawn) through environment variables.

export type TestInfraMode = 'external' | 'containers' | 'local';

export interface TestInfra {
  mode: TestInfraMode;
  kafkaBrokers: string[];
  schemaRegistryUrl: string;
  /** A URL that answers 2xx when the registry is up (Apicurio health locally, the Confluent API root otherwise). */
  registryHealthUrl: string;
  /** HTTP ClickHouse server, or null for the embedded engine (chdb) in each test process. */
  clickhouseUrl: string | null;
  /** Local mode only: the port base of the stack and the PIDs of its JVMs. */
  portBase: number | null;
  kafkaPid: number | null;
  registryPid: number | null;
}

/**
 * The servers the integration tests run against (README, "Tests"): TEST_INFRA forces a mode; otherwise external when
 * KAFKA_BROKERS, SCHEMA_REGISTRY_URL and CLICKHOUSE_URL are all set; otherwise containers when a container runtime
 * answers; otherwise the local JVMs. The runtime is only asked when it decides.
 */
export async function chooseTestInfraMode(env: NodeJS.ProcessEnv, containerRuntimeAnswers: () => Promise<boolean>): Promise<TestInfraMode> {
  const forced = env['TEST_INFRA'];
  if (forced) {
    if (forced !== 'external' && forced !== 'containers' && forced !== 'local') {
      throw new Error(`TEST_INFRA must be external, containers or local; got "${forced}"`);
    }
    return forced;
  }
  if (env['KAFKA_BROKERS'] && env['SCHEMA_REGISTRY_URL'] && env['CLICKHOUSE_URL']) return 'external';
  if (await containerRuntimeAnswers()) return 'containers';
  return 'local';
}

/** The environment a process needs to reach the same servers (core/local-endpoints.ts and core/clickhouse.ts read it). */
export function infraEnv(infra: TestInfra): Record<string, string> {
  const env: Record<string, string> = {
    CDRFLOW_TEST_INFRA: infra.mode,
    KAFKA_BROKERS: infra.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: infra.schemaRegistryUrl,
    CDRFLOW_REGISTRY_HEALTH_URL: infra.registryHealthUrl,
  };
  if (infra.portBase !== null) env['CDRFLOW_PORT_BASE'] = String(infra.portBase);
  if (infra.clickhouseUrl !== null) env['CLICKHOUSE_URL'] = infra.clickhouseUrl;
  return env;
}
