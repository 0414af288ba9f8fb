// A loopback server that takes connections, reads what it is sent and never answers: a broker or a registry that is
// wedged (stopped with SIGSTOP, overloaded). For tests of what a command does against one. A test that runs the
// command with spawnSync still gets this behaviour: the kernel accepts while the test's event loop is blocked.
import { createServer, type Socket } from 'node:net';

export async function startSilentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
