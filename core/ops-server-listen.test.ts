// The ops port's listen errors: a port in use is the user's setting (kind config, one line naming it), not a bug.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CdrflowError } from './errors.ts';
import { startOpsServer } from './ops-server.ts';

const handlers = {
  metrics: { contentType: 'text/plain', metrics: async () => '' } as never,
  readiness: () => ({ ready: true, components: {} }),
  status: async () => ({}),
  query: async () => '',
};

describe('startOpsServer listen', () => {
  it('refuses a port in use with a config error naming the setting', async () => {
    const other = createServer();
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const port = (other.address() as { port: number }).port;
    try {
      const err = (await startOpsServer(port, handlers, { setting: 'ops.port (env CDRFLOW_OPS_PORT)' }).catch((e: unknown) => e)) as CdrflowError;
      expect(err).toBeInstanceOf(CdrflowError);
      expect(err.kind).toBe('config');
      expect(err.code).toBe('EADDRINUSE');
      expect(err.message).toBe(`ops.port (env CDRFLOW_OPS_PORT): cannot listen on 127.0.0.1:${port}: the port is in use by another process (a server, or a connection that took it as its local port: ports in the kernel's ephemeral range, net.ipv4.ip_local_port_range, are handed out for those); stop that process or choose another port`);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });
});
