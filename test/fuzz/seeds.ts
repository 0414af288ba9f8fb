// The seeds a seeded campaign runs, from its environment variables, so that a failure printed with its seed replays
// alone: CDRFLOW_FUZZ_<NAME>_ONLY=<seed>[,<seed>] runs just those; otherwise CDRFLOW_FUZZ_<NAME>_COUNT seeds (the
// campaign's default) from CDRFLOW_FUZZ_<NAME>_SEED (the campaign's first seed, 1 unless it names another).
//
// A campaign that runs all its seeds in one test sets that test's timeout in code, which beats vitest's
// --testTimeout; so `timeoutMs(base)` grows the base (the timeout of the default count) in proportion to the seeds
// run, and a sweep of 20,000 seeds needs no chunking. CDRFLOW_FUZZ_TIMEOUT_MS=<ms> sets it outright instead (any
// campaign, any count), for a slow machine or a debugger.

export interface CampaignSeeds {
  seeds: number[];
  /** Only the seeds named in CDRFLOW_FUZZ_<NAME>_ONLY: a replay, not the campaign's range. */
  replaying: boolean;
  /** The range's length (the default or CDRFLOW_FUZZ_<NAME>_COUNT), whether or not a replay runs instead. */
  count: number;
  /** The timeout of a test that runs all `seeds`, given `baseMs` for the default count: never less than `baseMs`. */
  timeoutMs(baseMs: number): number;
  /**
   * `run` on each seed in turn (`after` once each seed passed, e.g. to clean up as after a test); a failure is thrown
   * with its seed and the CDRFLOW_FUZZ_<NAME>_ONLY replay in front of its message.
   */
  eachSeed(run: (seed: number) => Promise<void>, after?: () => void): Promise<void>;
}

/**
 * `countVar`: another variable for the range's length, for a second campaign of the same name and seeds.
 * `defaultFirst`: the range's first seed when CDRFLOW_FUZZ_<NAME>_SEED is not set (a campaign whose default run
 * has always drawn from one seed keeps it).
 */
export function campaignSeeds(name: string, defaultCount: number, countVar = `CDRFLOW_FUZZ_${name}_COUNT`, defaultFirst = 1): CampaignSeeds {
  const first = Number(process.env[`CDRFLOW_FUZZ_${name}_SEED`] ?? defaultFirst);
  const count = Number(process.env[countVar] ?? defaultCount);
  const only = (process.env[`CDRFLOW_FUZZ_${name}_ONLY`] ?? '').split(',').filter(Boolean).map(Number);
  const seeds = only.length > 0 ? only : Array.from({ length: count }, (_, i) => first + i);
  const timeoutMs = (baseMs: number): number => scaledTimeoutMs(baseMs, seeds.length, defaultCount);
  const eachSeed = async (run: (seed: number) => Promise<void>, after?: () => void): Promise<void> => {
    for (const seed of seeds) {
      try {
        await run(seed);
      } catch (e) {
        if (e instanceof Error) e.message = `seed ${seed} (replay: CDRFLOW_FUZZ_${name}_ONLY=${seed}): ${e.message}`;
        throw e;
      }
      after?.();
    }
  };
  return { seeds, replaying: only.length > 0, count, timeoutMs, eachSeed };
}

/**
 * The timeout of a test that runs `run` units of work (seeds, or the cases of a campaign that counts cases of one
 * seed) when `baseMs` is its timeout for the default `defaultCount`: grown in proportion, never less than `baseMs`;
 * CDRFLOW_FUZZ_TIMEOUT_MS outright when set.
 */
export function scaledTimeoutMs(baseMs: number, run: number, defaultCount: number): number {
  const override = Number(process.env['CDRFLOW_FUZZ_TIMEOUT_MS'] ?? NaN);
  return override > 0 ? override : Math.ceil(baseMs * Math.max(1, run / Math.max(1, defaultCount)));
}
