// Types of bench/loop-stall-probe.mjs (plain JavaScript, so that it can be preloaded into the job child).
import type { LoopStall } from './job-process.ts';

export function watchLoopStalls(onStall: (stall: LoopStall) => void, tickMs?: number, stallMs?: number): () => void;
