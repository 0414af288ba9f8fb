// Prints a port base for CI's own test stack: the first, in steps of 1000 from 20000, whose block of 1000 ports is
// wholly free on 127.0.0.1 and wholly below the kernel's ephemeral range; exits 1 when none is.
//
// Why below the ephemeral range: the test stack and the fault tests' own brokers (base + 400, base + 500) stop and
// start a Kafka on a fixed port. Inside that range, any outgoing connection may be given that port as its local
// port meanwhile (a client retrying the stopped broker can even connect to itself there), and the restarted broker
// then fails to bind it and exits. 29000 (the developer default of test/port-base.ts) is left to developers.
import { createServer } from 'node:net';
import { STACK_PORT_BLOCK } from '../core/local-endpoints.ts';
import { ephemeralPortLow } from './local/processes.ts';

const free = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

async function blockFree(base: number): Promise<boolean> {
  // In slices, so a block is probed quickly without opening 1000 sockets at once.
  for (let port = base; port < base + STACK_PORT_BLOCK; port += 100) {
    const slice = Array.from({ length: 100 }, (_, i) => free(port + i));
    if (!(await Promise.all(slice)).every(Boolean)) return false;
  }
  return true;
}

const limit = ephemeralPortLow();
for (let base = 20000; base + STACK_PORT_BLOCK <= limit; base += STACK_PORT_BLOCK) {
  if (base === 29000) continue;
  if (await blockFree(base)) {
    console.log(base);
    process.exit(0);
  }
}
process.exit(1);
