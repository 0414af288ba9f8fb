// Worker entry of test/ends-within.ts: loads `module`, says the call starts, calls its export `fn` with `args` and
// posts what it returned or threw.
import { parentPort, workerData } from 'node:worker_threads';
import type { EndsWithinMessage } from './ends-within.ts';

const { module, fn, args } = workerData as { module: string; fn: string; args: unknown[] };
const post = (message: EndsWithinMessage) => parentPort!.postMessage(message);
const exports = (await import(module)) as Record<string, (...args: unknown[]) => unknown>;
post({ started: true });
try {
  post({ value: await exports[fn]!(...args) });
} catch (error) {
  post({ error });
}
