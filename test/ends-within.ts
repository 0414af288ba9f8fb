// Runs a synchronous part of a test in a worker thread, so that a loop that never ends fails the test instead of
// hanging it: vitest's timeouts are timers of the thread that runs the test, and no timer fires while that thread is
// in a loop. worker.terminate() stops a thread even in the middle of one.
import { startTsWorker } from '../core/worker-thread.ts';

/** worker -> main: `started` once the module is loaded and the call begins, then the call's result. */
export type EndsWithinMessage = { started: true } | { value: unknown } | { error: unknown };

type Fn = (...args: never[]) => unknown;
type Args<F> = F extends Fn ? Parameters<F> : never;
type Result<F> = F extends Fn ? Awaited<ReturnType<F>> : never;

/**
 * A caller of the exported functions of the module at `module` (of type `M`: `typeof import('./x.cases.ts')`), each
 * call in a thread of its own. A call resolves with the function's return value (structured-cloneable) or rejects
 * with what it threw; when the function has not returned `ms` after it was called, the thread is stopped and the call
 * rejects saying `lost`: what must have been lost for the function to run on. The deadline starts once the module is
 * loaded: loading leaves this thread free, so the test's own timeout covers it.
 */
export function endsWithin<M>(module: URL, ms: number, lost: string) {
  return <K extends keyof M & string>(fn: K, ...args: Args<M[K]>): Promise<Result<M[K]>> => {
    const entry = new URL('./ends-within-worker.ts', import.meta.url);
    const worker = startTsWorker(entry, { module: module.href, fn, args }, `ends within: ${fn}`);
    return new Promise((resolve, reject) => {
      let deadline: NodeJS.Timeout | undefined;
      let settled = false;
      // The thread is gone before the test goes on: a stopped loop no longer takes a core from the tests after it.
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        void worker.terminate().then(outcome, outcome);
      };
      const late = () => reject(new Error(`${fn}() did not end within ${ms} ms and was stopped: ${lost}`));
      worker.on('message', (message: EndsWithinMessage) => {
        if ('started' in message) deadline = setTimeout(() => settle(late), ms);
        else if ('value' in message) settle(() => resolve(message.value as Result<M[K]>));
        else settle(() => reject(message.error));
      });
      worker.on('error', (err) => settle(() => reject(err)));
      worker.on('exit', (code) =>
        settle(() => reject(new Error(`the thread of ${fn}() exited (code ${code}) before it returned`))),
      );
    });
  };
}
