// Worker threads that run project TypeScript. Each starts from bin/ts-worker.mjs, which registers the TypeScript
// loader inside the thread (Node 20 does not carry the main thread's loader into workers) and then imports `entry`;
// the thread finds its own data in `workerData` beside `entry`.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const TS_WORKER = fileURLToPath(new URL('../bin/ts-worker.mjs', import.meta.url));

export function startTsWorker(entry: URL, data: object, name: string): Worker {
  return new Worker(TS_WORKER, { workerData: { ...data, entry: entry.href }, name });
}
