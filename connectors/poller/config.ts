// Settings every pull connector shares (windows, pacing, retries, topics), as zod v4 strict schemas.
import { z } from 'zod';
import { TOPICS } from '../../core/topology.ts';
import { kafkaTopic, timerMs, timerSec } from '../../core/zod-issues.ts';
import { DEFAULT_RECENT_KEYS_MAX } from './recent-keys.ts';
import { DEFAULT_MAX_WINDOW_RECORDS } from './reader.ts';

const seconds = z.number().int().nonnegative();

export function pollingShape(defaults: { lookbackSec: number; maxCallSec: number; maxWindowSec: number; requestsPerSecond: number; pageSize: number }) {
  return {
    /** How long after a call ends its record may still appear (re-read). */
    lookbackSec: seconds.default(defaults.lookbackSec),
    /** Longest call expected; widens the re-read because windows filter on call start. */
    maxCallSec: seconds.default(defaults.maxCallSec),
    /** Do not read the last few minutes: the vendor is still producing them. */
    settleSec: seconds.default(120),
    /** Most new time per window. */
    maxWindowSec: z.number().int().positive().default(defaults.maxWindowSec),
    /** A tenant without a checkpoint starts this far back (use `backfill` for older history). */
    initialLookbackSec: seconds.default(3600),
    pollIntervalSec: timerSec().positive().default(60),
    /** The whole connector (all tenants) stays at or under this many requests per second. */
    requestsPerSecond: z.number().positive().default(defaults.requestsPerSecond),
    pageSize: z.number().int().min(1).max(100).default(defaults.pageSize),
    /**
     * Live mode remembers (key, content hash) of acknowledged records so the re-read publishes only new or changed
     * ones; this caps its entries (about 250 bytes each; least recently read dropped first). 0 = off: publish every re-read.
     */
    recentKeysMaxEntries: z.number().int().nonnegative().default(DEFAULT_RECENT_KEYS_MAX),
    /**
     * A window whose total is over this many records is read in halves by time, each on its own (its memory grows with
     * its records, about 170 bytes each), down to 60 s spans; such a span is read whole with a warning, up to 20 times
     * this (past it, finished incomplete: reason too_many_records). At least a page.
     */
    maxWindowRecords: z.number().int().min(100).default(DEFAULT_MAX_WINDOW_RECORDS),
    timeoutMs: timerMs().positive().default(15_000),
    retry: z
      .strictObject({
        initialMs: timerMs().positive().default(250),
        maxMs: timerMs().positive().default(20_000),
        maxAttempts: z.number().int().min(1).default(12),
      })
      .prefault({}),
  };
}

export function topicsSchema(rawTopic: string) {
  return z
    .strictObject({
      raw: kafkaTopic.default(rawTopic),
      checkpoints: kafkaTopic.default(TOPICS.checkpoints),
      deadLetter: kafkaTopic.default(TOPICS.deadLetter),
    })
    .prefault({});
}

