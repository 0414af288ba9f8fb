// Foreground commands run until the user stops them.

/** Resolves with the name of the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
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
