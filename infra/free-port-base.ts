// Prints the first port base from 39000 (in steps of 1000) whose every port (core/local-endpoints.ts PORT_OFFSETS)
// is free on 127.0.0.1, so CI's stack never collides with a developer's; exits 1 when none is.
import { createServer } from 'node:net';
import { PORT_OFFSETS } from '../core/local-endpoints.ts';

const free = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

for (let base = 39000; base <= 59000; base += 1000) {
  const ok = await Promise.all(Object.values(PORT_OFFSETS).map((offset) => free(base + offset)));
  if (ok.every(Boolean)) {
    console.log(base);
    process.exit(0);
  }
}
process.exit(1);
