// Entry of every worker thread that runs project TypeScript: tsx's loader registered in the main thread does not
// apply to worker threads (Node 20), so each worker registers it itself, then imports its real entry
// (`workerData.entry`, a file URL). A thread started from the compiled copy (`workerData.typescript` false) imports
// compiled JavaScript and registers nothing.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { workerData } from 'node:worker_threads';

// Tell the parent (core/worker-thread.ts, on the port it gave for this) this thread's OS thread id, which Node does
// not expose, so a CPU breakdown by thread can name it. /proc/thread-self reads "<pid>/task/<tid>"; Linux only.
const { tidPort } = workerData;
try {
  tidPort?.postMessage({ tid: Number(readlinkSync('/proc/thread-self').split('/').pop()) });
} catch {
  // not Linux: the breakdown is not available there
}
tidPort?.close();

// The thread's own priority (core/worker-thread.ts TsWorkerOptions.nice): on Linux setpriority(0) names the calling
// thread only. Raising one's own nice needs no privilege; should it fail anyway, the thread runs at normal priority.
if (workerData.nice > 0 && process.platform === 'linux') {
  try {
    setPriority(workerData.nice);
  } catch {
    // left at the process's priority
  }
}

if (workerData.typescript !== false) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
