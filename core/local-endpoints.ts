// Where the project's own local servers listen. One port base per "stack" so the demo (base 19000) and the
// test suite (base 29000, set by test/global-setup.ts) can run side by side without colliding.
// Override with CDRFLOW_PORT_BASE; explicit KAFKA_BROKERS / SCHEMA_REGISTRY_URL always win.

export const DEFAULT_PORT_BASE = 19000;

export function portBase(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['CDRFLOW_PORT_BASE'];
  if (raw === undefined || raw === '') return DEFAULT_PORT_BASE;
  const base = Number(raw);
  if (!Number.isInteger(base) || base < 1024 || base > 65000) {
    throw new Error(`CDRFLOW_PORT_BASE must be an integer between 1024 and 65000, got "${raw}"`);
  }
  return base;
}

/** The one table of port offsets from a base (`.ci/run` probes the same offsets before it picks a base). */
export const PORT_OFFSETS = { ops: 70, registry: 81, registryManagement: 82, kafka: 92, kafkaController: 93 } as const;

export interface LocalPorts {
  kafkaPort: number;
  kafkaControllerPort: number;
  registryPort: number;
  registryManagementPort: number;
  /** cdrflow's own ops port (metrics, health, sql while `start` runs). */
  opsPort: number;
}

export function localPorts(base: number): LocalPorts {
  return {
    kafkaPort: base + PORT_OFFSETS.kafka,
    kafkaControllerPort: base + PORT_OFFSETS.kafkaController,
    registryPort: base + PORT_OFFSETS.registry,
    registryManagementPort: base + PORT_OFFSETS.registryManagement,
    opsPort: base + PORT_OFFSETS.ops,
  };
}

export function kafkaBrokers(env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env['KAFKA_BROKERS'];
  if (configured) return configured.split(',').map((b) => b.trim()).filter(Boolean);
  return [`127.0.0.1:${localPorts(portBase(env)).kafkaPort}`];
}

export function schemaRegistryUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['SCHEMA_REGISTRY_URL'] || `http://127.0.0.1:${localPorts(portBase(env)).registryPort}/apis/ccompat/v7`;
}
