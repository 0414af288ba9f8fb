// Exits of a process that may have the embedded ClickHouse engine (chdb) running a statement.
//
// An exit that lands while the engine runs a statement (a migration's ALTER, a sink insert) can crash (SIGSEGV) or
// hang in libchdb's exit-time cleanup, which waits on the engine's own threads; the engine has no interrupt
// (chdb: "no interrupt in the C ABI"). The client's calls into the engine (the embedded connection and the staged
// insert) go through engineCall; an exit stops new calls from starting and waits for those in flight, up to a bound, so
// that a statement that hangs does not hold the exit. The read-only SQL sessions' queries (core/read-only-sql.ts) go
// through engineCall too, and are killed when an exit begins (cancelOnExit): they may run for their whole execution time
// limit, and an exit waited for them in libchdb's cleanup that long.

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
/** What to ask to stop when an exit begins (cancelOnExit). */
const cancellers = new Set<() => Promise<unknown>>();

/**
 * Has `cancel` called when an exit begins (before it waits for the calls in flight), for engine work that may run long
 * and can be stopped: the read-only SQL's queries (up to their execution time limit, 30 s by default). A forced exit
 * (a second Ctrl-C, the hard deadline) during an endless query waited 28 s in libchdb's exit-time cleanup for that
 * limit. What `cancel` returns (a KILL statement) is waited for as a call in flight. Returns its removal.
 */
export function cancelOnExit(cancel: () => Promise<unknown>): () => void {
  cancellers.add(cancel);
  return () => cancellers.delete(cancel);
}

/** The exit begins: no call starts from now on; what can be stopped is asked to stop. */
function beginExit(): void {
  if (exiting) return;
  exiting = true;
  // A cancel that throws must not keep the exit from happening: taken as a rejection, and waited for as settled.
  for (const cancel of cancellers) trackIn(inFlight, new Promise((resolve) => resolve(cancel())));
}

/** Runs one call into the engine, tracked; once an exit has begun, a new call never starts (nor settles). */
export function engineCall<T>(start: () => Promise<T>): Promise<T> {
  if (exiting) return new Promise<T>(() => {});
  return trackIn(inFlight, start());
}

/** Resolves once no engine call is in flight, or after `boundMs`, whichever is first; no call starts afterwards. */
export function engineSettled(boundMs: number = ENGINE_SETTLE_MS): Promise<void> {
  beginExit();
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
    beginExit();
    process.exit(code);
    return;
  }
  void engineSettled(boundMs).then(() => process.exit(code));
}
