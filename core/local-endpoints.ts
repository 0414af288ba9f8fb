// Where the project's own local servers listen. One port base per "stack" so the demo (base 19000) and the
// test suite (base 29000, set by test/global-setup.ts) can run side by side without colliding.
// The base comes from the config (localInfra.portBase, env CDRFLOW_PORT_BASE); app/config.ts endpoints() turns it into
// addresses, where explicit KAFKA_BROKERS / SCHEMA_REGISTRY_URL always win.

export const DEFAULT_PORT_BASE = 19000;

/**
 * Ports a stack may use from its base: its servers (PORT_OFFSETS) and the brokers fault tests start of their own at
 * base + 400 and base + 500. `.ci/run` picks a base whose whole block is free.
 */
export const STACK_PORT_BLOCK = 1000;

/** The one table of port offsets from a base. */
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
