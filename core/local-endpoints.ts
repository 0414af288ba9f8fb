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

export function localPorts(env: NodeJS.ProcessEnv = process.env) {
  const base = portBase(env);
  return {
    kafka: base + 92,
    kafkaController: base + 93,
    registry: base + 81,
    /** cdrflow's own ops port (metrics, health, sql while `start` runs). */
    ops: base + 70,
  };
}

export function kafkaBrokers(env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env['KAFKA_BROKERS'];
  if (configured) return configured.split(',').map((b) => b.trim()).filter(Boolean);
  return [`127.0.0.1:${localPorts(env).kafka}`];
}

export function schemaRegistryUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['SCHEMA_REGISTRY_URL'] || `http://127.0.0.1:${localPorts(env).registry}/apis/ccompat/v7`;
}
