// Entry of every worker thread that runs project TypeScript: tsx's loader registered in the main thread does not
// apply to worker threads (Node 20), so each worker registers it itself, then imports its real entry
// (`workerData.entry`, a file URL).
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';
register();
await import(workerData.entry);
