// Exits of a process that may have the embedded ClickHouse engine (chdb) running a statement.
//
// An exit that lands while the engine runs a statement (a migration's ALTER, a sink insert) can crash (SIGSEGV) or
// hang in libchdb's exit-time cleanup, which waits on the engine's own threads; the engine has no interrupt
// (chdb: "no interrupt in the C ABI"). The client's calls into the engine (the embedded connection and the staged
// insert) go through engineCall; an exit stops new calls from starting and waits for those in flight, up to a bound, so
// that a statement that hangs does not hold the exit. The read-only SQL sessions (core/read-only-sql.ts) track their own
// queries with trackIn for their close(), not here.

/** How long an exit waits for the engine's statements in flight to end. */
export const ENGINE_SETTLE_MS = 2_000;

/** `work` itself; counted in `inFlight` (as its settling, either way) until it settles. */
export function trackIn<T>(inFlight: Set<Promise<unknown>>, work: Promise<T>): Promise<T> {
  const settled = work.then(
    () => undefined,
    () => undefined,
  );
  inFlight.add(settled);
  void settled.then(() => inFlight.delete(settled));
  return work;
}

const inFlight = new Set<Promise<unknown>>();
let exiting = false;

/** Runs one call into the engine, tracked; once an exit has begun, a new call never starts (nor settles). */
export function engineCall<T>(start: () => Promise<T>): Promise<T> {
  if (exiting) return new Promise<T>(() => {});
  return trackIn(inFlight, start());
}

/** Resolves once no engine call is in flight, or after `boundMs`, whichever is first; no call starts afterwards. */
export function engineSettled(boundMs: number = ENGINE_SETTLE_MS): Promise<void> {
  exiting = true;
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)));
  return Promise.race([Promise.allSettled([...inFlight]).then(() => undefined), bound]).finally(() => clearTimeout(timer));
}

/**
 * process.exit(code) for the exits that can land mid-statement (a hard deadline, a second stop request): after the
 * engine's calls in flight have ended, or ENGINE_SETTLE_MS at most. Without an engine call in flight, at once.
 */
export function exitProcess(code: number, boundMs: number = ENGINE_SETTLE_MS): void {
  if (inFlight.size === 0) {
    exiting = true;
    process.exit(code);
    return;
  }
  void engineSettled(boundMs).then(() => process.exit(code));
}
