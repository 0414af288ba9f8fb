// Worker entry for bench/thread-cpu.test.ts: burns a bounded amount of CPU in its own thread, says so, and waits to be
// terminated (so the test reads its CPU while it still runs).
import { parentPort, workerData } from 'node:worker_threads';

const { iterations } = workerData as { iterations: number };
let x = 0;
for (let i = 0; i < iterations; i++) x = (x * 31 + i) % 1_000_003;
parentPort!.postMessage({ burnt: x });
