// Foreground commands run until the user stops them.
import { exitProcess } from '../core/engine-exit.ts';
import { signalExit } from '../core/exit-codes.ts';

/**
 * Resolves with the first stop request's signal (`receive`, `run`, `simulate`: they then stop cleanly). The requests
 * are stopRequests', so a later, separate SIGINT or SIGTERM exits at once with the signal's status: one-time listeners
 * of each left the other signal swallowed (a SIGTERM after a Ctrl-C did nothing) and a listener behind.
 */
export function untilSignal(command: string): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    stopRequests({
      onStop: resolve,
      onForce: (signal) => {
        process.stderr.write(`cdrflow ${command}: ${signal} again: exiting without waiting for the clean stop\n`);
        exitProcess(signalExit(signal));
      },
    });
  });
}

/** A second, separate stop request within this long of the first is the same one (`timeout` signals twice). */
const DUPLICATE_SIGNAL_MS = 1_000;

/**
 * SIGINT and SIGTERM as stop requests (`start`, `import`): the first calls `onStop`; the same request delivered twice at
 * once (tools such as `timeout` signal the process and its process group) is one; a later, separate one calls
 * `onForce`, which is expected to exit.
 */
export function stopRequests(handlers: { onStop: (signal: NodeJS.Signals) => void; onForce: (signal: NodeJS.Signals) => void }) {
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (first === undefined) {
      first = { signal, at: Date.now() };
      handlers.onStop(signal);
    } else if (Date.now() - first.at >= DUPLICATE_SIGNAL_MS) handlers.onForce(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    /** The first stop request's signal, once there was one. */
    get received(): NodeJS.Signals | undefined {
      return first?.signal;
    },
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
