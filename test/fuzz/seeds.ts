// The seeds a seeded campaign runs, from its environment variables, so that a failure printed with its seed replays
// alone: CDRFLOW_FUZZ_<NAME>_ONLY=<seed>[,<seed>] runs just those; otherwise CDRFLOW_FUZZ_<NAME>_COUNT seeds (the
// campaign's default) from CDRFLOW_FUZZ_<NAME>_SEED (1).

export interface CampaignSeeds {
  seeds: number[];
  /** Only the seeds named in CDRFLOW_FUZZ_<NAME>_ONLY: a replay, not the campaign's range. */
  replaying: boolean;
  /** The range's length (the default or CDRFLOW_FUZZ_<NAME>_COUNT), whether or not a replay runs instead. */
  count: number;
}

/** `countVar`: another variable for the range's length, for a second campaign of the same name and seeds. */
export function campaignSeeds(name: string, defaultCount: number, countVar = `CDRFLOW_FUZZ_${name}_COUNT`): CampaignSeeds {
  const first = Number(process.env[`CDRFLOW_FUZZ_${name}_SEED`] ?? 1);
  const count = Number(process.env[countVar] ?? defaultCount);
  const only = (process.env[`CDRFLOW_FUZZ_${name}_ONLY`] ?? '').split(',').filter(Boolean).map(Number);
  return { seeds: only.length > 0 ? only : Array.from({ length: count }, (_, i) => first + i), replaying: only.length > 0, count };
}
