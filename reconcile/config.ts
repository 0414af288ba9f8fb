// Configuration of reconcile runs (the `reconcile:` section of the main job's file; zod, strict).
import { z } from 'zod';
import { parseTzOffset } from './days.ts';
import { timerSec } from '../core/zod-issues.ts';

/** The longest settle time (`reconcile.settleSec`, `--settle`, `settleSec` of POST /reconcile): a week. */
export const MAX_SETTLE_SEC = 7 * 86_400;
/** `reconcile.settleSec` when the configuration does not say (`--settle`'s default). */
export const DEFAULT_RECONCILE_SETTLE_SEC = 3_600;

const isTz = (value: string) => {
  try {
    parseTzOffset(value);
    return true;
  } catch {
    return false;
  }
};

export const reconcileConfigSchema = z.strictObject({
  /** Calls that started less than this long ago are left out (still running, late records, in flight); to the second (the hourly view is compared up to the last whole hour before it). */
  settleSec: z.int().min(0).max(MAX_SETTLE_SEC).default(DEFAULT_RECONCILE_SETTLE_SEC),
  /** Attempts per vendor API request before the source counts as unreachable (exit 2); the connector's backoff between them. */
  sourceMaxAttempts: z.int().min(1).max(50).default(4),
  /** After a repair re-fed records: wait at most this long for normalize and the sink to carry them into ClickHouse. */
  repairWaitSec: z.int().min(0).max(3_600).default(180),
  /**
   * A day still in progress that shows records missing between layers is looked at again this much later; only what
   * is missing both times is drift (the rest was in flight). Longer than the pollers' interval + settle.
   */
  confirmSec: z.int().min(0).max(3_600).default(90),
  /** Longest a scan of one Kafka topic may take. */
  scanTimeoutSec: z.int().min(10).max(86_400).default(3_600),
  schedule: z
    .strictObject({
      /** `cdrflow start` reconciles on its own, every `intervalSec` (off by default; on in the demo). */
      enabled: z.boolean().default(false),
      intervalSec: timerSec().min(10).default(86_400),
      /** The first run, this long after start-up. */
      initialDelaySec: timerSec().min(0).default(900),
      /** Days back from today that each run covers: 1 = yesterday. */
      daysBack: z.int().min(0).max(31).default(1),
      /** Also today, up to the settle cut-off. */
      includeToday: z.boolean().default(false),
      /** Repair what the run finds. */
      repair: z.boolean().default(false),
      /** Day convention: UTC or a whole-hour offset such as +08:00. */
      // What --tz takes: a pattern of its own let +05:45 through, and the job then failed at start naming --tz.
      tz: z.string().refine(isTz, 'UTC or a whole-hour offset within ±14:00 such as +08:00').default('UTC'),
    })
    .prefault({}),
});

export type ReconcileConfig = z.output<typeof reconcileConfigSchema>;
