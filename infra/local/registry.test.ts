// The local registry's health page is read at most MAX_REGISTRY_ANSWER_BYTES far: the management port can be held by
// another process (a stranger's server streaming a large answer), which `infra up` and `infra status` read whole.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { MAX_REGISTRY_ANSWER_BYTES } from '../../core/input-limits.ts';
import { streamUntilClosed } from '../../test/endless-answer.ts';
import { registryHealthy } from './registry.ts';

let server: Server | undefined;
afterEach(() => server?.close());

it('refuses a health answer streamed past MAX_REGISTRY_ANSWER_BYTES, cut near the limit', async () => {
  let outcome!: Promise<{ sent: number; whole: boolean }>;
  server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"status":"UP","pad":"');
    outcome = streamUntilClosed(res, Buffer.alloc(64 * 1024, ' '), 16 * MAX_REGISTRY_ANSWER_BYTES);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  await expect(registryHealthy({ registryPort: port, registryManagementPort: port })).rejects.toThrow(`over ${MAX_REGISTRY_ANSWER_BYTES} bytes`);
  const { sent, whole } = await outcome;
  expect(whole).toBe(false);
  // What the socket buffers take beyond the limit before the hang-up is seen: a few MB at most, never the whole.
  expect(sent).toBeLessThan(3 * MAX_REGISTRY_ANSWER_BYTES);
});
