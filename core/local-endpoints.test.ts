// The local stack's ports from a base, as README's "Local infrastructure" table and CDRFLOW_PORT_BASE's row give them.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PORT_BASE, localPorts } from './local-endpoints.ts';

describe('localPorts', () => {
  it('puts Kafka at +92 (controller +93), the registry at +81 (health +82) and the ops port at +70 of a base of 19000 by default', () => {
    expect(localPorts(DEFAULT_PORT_BASE)).toEqual({ kafkaPort: 19092, kafkaControllerPort: 19093, registryPort: 19081, registryManagementPort: 19082, opsPort: 19070 });
    expect(localPorts(29000).kafkaControllerPort).toBe(29093);
  });
});
